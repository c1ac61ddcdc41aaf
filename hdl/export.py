"""Verilog export: one module per top, with the parameters it was built from beside it.

``export(component, top, build_dir, system)`` writes ``<top>.v`` and ``<top>.params.json``;
tests and tools rebuild the parameters with :func:`load_params`. ``TOPS`` names every design
that ``fusion-emu export`` and ``make verilog`` write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from .chiplet.axi_passthrough import AxiPassthrough
from .chiplet.chiplet import Chiplet
from .link.deframer import Deframer
from .link.framer import Framer
from .link.framing_loopback import FramingLoopback
from .link.link_end import LinkEnd
from .link.link_pair import LinkPair
from .params import SystemParams
from .switch.harness import SwitchHarness
from .switch.switch import Switch
from .tray.tray import SwitchTray

#: Exportable tops, each built from the system parameters.
TOPS: dict[str, Callable[[SystemParams], wiring.Component]] = {
    "framer": lambda system: Framer(system.link),
    "deframer": lambda system: Deframer(system.link),
    "framing_loopback": lambda system: FramingLoopback(system.link),
    "link_end": lambda system: LinkEnd(system.link),
    "link_pair": lambda system: LinkPair(system.link),
    "axi_passthrough": lambda system: AxiPassthrough(system.chiplet),
    "chiplet": lambda system: Chiplet(_default_map(system), system.link),
    "switch": lambda system: Switch(system.switch),
    "switch_harness": lambda system: SwitchHarness(system.switch),
    "tray": SwitchTray,
}


def _default_map(system: SystemParams):
    from .chiplet.address_map import default_address_map

    return default_address_map(system.chiplet, system.endpoints, 0)


def export(component: wiring.Component, top: str, build_dir: Path,
           system: SystemParams) -> Path:
    """Write ``build_dir/<top>.v`` and ``<top>.params.json``; return the Verilog path.

    The files are rewritten only when their text changes, so simulator builds that depend on
    them are not redone needlessly.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    verilog_path = build_dir / f"{top}.v"
    _write_if_changed(verilog_path, verilog.convert(component, name=top, emit_src=False))
    _write_if_changed(build_dir / f"{top}.params.json",
                      json.dumps(system.to_dict(), indent=2, sort_keys=True) + "\n")
    return verilog_path


def export_top(top: str, build_dir: Path, system: SystemParams) -> Path:
    """Export one of :data:`TOPS` by name."""
    return export(TOPS[top](system), top, build_dir, system)


def load_params(build_dir: Path, top: str) -> SystemParams:
    """The parameters a top in ``build_dir`` was exported with."""
    config = json.loads((build_dir / f"{top}.params.json").read_text())
    return SystemParams.from_dict(config)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
