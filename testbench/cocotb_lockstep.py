"""Driving an exported top and its cycle model port by port under cocotb.

A model in the chiplet's comb/tick convention names its ports by their dotted RTL path; the
exported Verilog names them with ``__`` for ``.``. :class:`Ports` writes an input only when
its value changes and reads an output once the simulator has settled; :func:`run_lockstep`
runs a part's lockstep driver (``inputs()``, ``check(read)``, ``done``, ``cycle``) to its end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.types import Logic

from testbench.harness import PERIOD_NS


class Ports:
    """The top's ports named as the model names them."""

    def __init__(self, dut: Any, inputs: Iterable[str], outputs: Iterable[str]) -> None:
        inputs = list(inputs)
        self.handles = {name: getattr(dut, name.replace(".", "__"))
                        for name in (*inputs, *outputs)}
        self.written = dict.fromkeys(inputs, 0)
        for name in inputs:
            self.handles[name].value = 0

    def write(self, values: Mapping[str, int]) -> None:
        for name, value in values.items():
            if self.written[name] != value:
                self.handles[name].value = value
                self.written[name] = value

    def read(self, name: str) -> int:
        value = self.handles[name].value
        # A one-bit port reads as a Logic; int() raises on X or Z, as to_unsigned() does.
        return int(value) if isinstance(value, Logic) else value.to_unsigned()


async def reset(dut: Any, cycles: int = 2) -> None:
    """Start the clock and hold reset for ``cycles`` rising edges; the lockstep's cycle 0 is
    the one after the last of them."""
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def run_lockstep(dut: Any, lockstep: Any) -> float:
    """Reset, then each cycle write the driver's inputs, let the top settle, have the driver
    check every output, until it is done; returns the seconds the loop took."""
    ports = Ports(dut, lockstep.model.input_widths, lockstep.model.output_widths)
    await reset(dut)
    started = time.monotonic()
    while not lockstep.done:
        ports.write(lockstep.inputs())
        await ReadOnly()
        lockstep.check(ports.read)
        await RisingEdge(dut.clk)
    return time.monotonic() - started
