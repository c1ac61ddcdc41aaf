"""A switch tray: ``switch_chips_per_tray`` switch chips side by side, one per plane."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..params import SystemParams
from ..switch.switch import Switch, switch_signature


class SwitchTray(wiring.Component):
    """The switch chips of one tray. Each chip is a plane of its own: port ``n`` of every chip
    goes to endpoint ``n``'s link for that plane, and no flit passes between chips in a tray.

    ``plane[c]`` is chip ``c``'s interface (:func:`hdl.switch.switch.switch_signature`),
    including its own CSR bus, so that each plane is configured on its own.
    """

    def __init__(self, system: SystemParams) -> None:
        self.system = system
        self.chips = system.switch_chips_per_tray
        super().__init__({"plane": Out(switch_signature(system.switch)).array(self.chips)})

    def elaborate(self, platform) -> Module:
        m = Module()
        for c in range(self.chips):
            m.submodules[f"chip_{c}"] = chip = Switch(self.system.switch)
            wiring.connect(m, wiring.flipped(self.plane[c]), chip)
        return m
