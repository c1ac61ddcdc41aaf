"""What a stuck design is waiting for: every stream handshake held valid without ready.

When a simulation stops making progress, the interfaces where a ``valid`` is high and its
``ready`` low are where packets wait; following them from the outputs inwards usually finds
the one that never moves. :func:`stalled_handshakes` walks the design's hierarchy (Verilator
builds expose it with ``--public-flat-rw``; Icarus always does) and lists them, with the
payload, so a failing test can log them next to its time-out.
"""

from __future__ import annotations

from collections.abc import Iterator

from cocotb.handle import HierarchyObject, LogicObject

VALID, READY = "valid", "ready"


def _signals(scope: HierarchyObject, path: str) -> Iterator[tuple[str, str, LogicObject]]:
    for key, child in scope._items():
        name = f"{path}.{key}" if path else str(key)
        if isinstance(child, HierarchyObject):
            yield from _signals(child, name)
        elif isinstance(child, LogicObject):
            yield name, str(key), child


def stalled_handshakes(scope: HierarchyObject, limit: int = 200) -> list[str]:
    """``path: valid high, ready low`` lines for every ``*valid``/``*ready`` pair of one
    module that is stalled now (at most ``limit``), innermost modules first."""
    found: dict[str, dict[str, LogicObject]] = {}
    for path, key, handle in _signals(scope, ""):
        for suffix in (VALID, READY):
            if key.endswith(suffix):
                found.setdefault(path[: -len(suffix)], {})[suffix] = handle
    lines = []
    for stem, pair in sorted(found.items(), key=lambda item: -item[0].count(".")):
        if set(pair) != {VALID, READY}:
            continue
        try:
            valid, ready = pair[VALID].value, pair[READY].value
        except ValueError:
            continue
        if valid.is_resolvable and ready.is_resolvable and int(valid) and not int(ready):
            lines.append(f"{stem}: valid high, ready low")
            if len(lines) >= limit:
                break
    return lines
