"""An exported top's memories put back to their initial contents, from a cocotb test.

A synchronous reset clears registers but not memories: a cocotb test that follows another in
the same simulation finds the words the other left (a FIFO's stale head, a free list in
another order). A cycle model starts from the memories' initial contents, so a lockstep test
that may run after another first writes every memory word back to the value Amaranth gave it.

The memories and their initial words are read from the exported Verilog: Amaranth names each
module by its hierarchical path (``module \\chiplet_pair.a.link_0.replay``), its instances by
their last part, declares a memory as ``reg [W:0] name [D:0];`` and initialises every word of
it in an ``initial`` block (``name[3] = 128'h0...;``).
"""

from __future__ import annotations

import re
from pathlib import Path

_MODULE = re.compile(r"^module \\?([^\s(]+)")
_MEMORY = re.compile(r"^\s+reg (?:\[\d+:0\] )?(\w+) \[(\d+):0\];$")
_WORD = re.compile(r"^\s+(\w+)\[(\d+)\] = \d+'([hdb])([0-9a-fA-F]+);$")
_BASES = {"h": 16, "d": 10, "b": 2}

#: (module path below the top, memory name) -> initial word of every address
MemoryInits = dict[tuple[tuple[str, ...], str], list[int]]


def memory_inits(verilog: Path, top: str) -> MemoryInits:
    """Every memory below ``top`` in ``verilog`` with its initial words; fails on a memory
    whose words are not all initialised, rather than restore part of it."""
    inits: MemoryInits = {}
    depths: dict[tuple[tuple[str, ...], str], int] = {}
    path: tuple[str, ...] = ()
    in_initial = False
    for line in verilog.read_text().splitlines():
        if match := _MODULE.match(line):
            name = match.group(1)
            if name != top and not name.startswith(f"{top}."):
                raise ValueError(f"{verilog}: module {name} is not below {top}: not an "
                                 "Amaranth export of it")
            path = tuple(name.split(".")[1:])
        elif match := _MEMORY.match(line):
            depths[path, match.group(1)] = int(match.group(2)) + 1
        elif line.strip() == "initial begin":
            in_initial = True
        elif in_initial and line.strip() == "end":
            in_initial = False
        elif in_initial and (match := _WORD.match(line)):
            name, address, base, digits = match.groups()
            words = inits.setdefault((path, name), [])
            if int(address) != len(words):
                raise ValueError(f"{verilog}: {'.'.join(path)}.{name}[{address}] initialised "
                                 "out of order")
            words.append(int(digits, _BASES[base]))
    for key, depth in depths.items():
        got = len(inits.get(key, []))
        if got != depth:
            raise ValueError(f"{verilog}: memory {'.'.join((*key[0], key[1]))} has {got} of "
                             f"{depth} words initialised; its power-on contents are unknown")
    return inits


def restore_memories(dut, verilog: Path, top: str) -> tuple[int, int]:
    """Write every memory word of ``dut`` back to its initial value (applied with the
    simulator's next writes, like any other write); the memories and words written."""
    inits = memory_inits(verilog, top)
    words = 0
    for (path, name), values in inits.items():
        scope = dut
        for part in path:
            scope = getattr(scope, part)
        memory = getattr(scope, name)
        for address, value in enumerate(values):
            memory[address].value = value
        words += len(values)
    return len(inits), words
