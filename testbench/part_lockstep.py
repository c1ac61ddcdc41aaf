"""Lockstep of one RTL component and its cycle model in Amaranth's simulator.

The models of :mod:`emulator.cycle` name ports by their dotted RTL path and give every output
from every input (``comb``), then commit the edge (``tick``). :func:`run_lockstep` drives the
RTL and the model with the same inputs every cycle and compares every output port in every
cycle, failing with the cycle, the port and both values. A stimulus decides the inputs of a
cycle and may follow the handshakes through the outputs it is shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.sim import Simulator


class Mismatch(AssertionError):
    """The RTL and the cycle model disagree on an output."""


class Stimulus(Protocol):
    def inputs(self, cycle: int) -> Mapping[str, int]:
        """The value of every input port in ``cycle``."""

    def observe(self, cycle: int, outputs: Mapping[str, int]) -> None:
        """The settled outputs of ``cycle`` (the model's, equal to the RTL's)."""


def ports(dut: wiring.Component) -> tuple[dict[str, Value], dict[str, Value]]:
    """The inputs and outputs of ``dut`` by dotted path."""
    inputs, outputs = {}, {}
    for path, member, value in dut.signature.flatten(dut):
        side = inputs if member.flow == wiring.In else outputs
        side[".".join(map(str, path))] = Value.cast(value)
    return inputs, outputs


def check_widths(dut: wiring.Component, model: Any) -> tuple[dict[str, Value], dict[str, Value]]:
    """The ports of ``dut``; fails unless the model lists exactly them with their widths."""
    inputs, outputs = ports(dut)
    assert {name: len(port) for name, port in inputs.items()} == model.input_widths
    assert {name: len(port) for name, port in outputs.items()} == model.output_widths
    return inputs, outputs


def compare(cycle: int, expected: Mapping[str, int], read: Callable[[str], int]) -> None:
    """Fail on the first output whose RTL value differs from the model's."""
    for name, value in expected.items():
        got = read(name)
        if got != value:
            raise Mismatch(f"cycle {cycle}: {name} is {got:#x} in the RTL, {value:#x} in the "
                           "model")


def run_lockstep(dut: wiring.Component, model: Any, stimulus: Stimulus, cycles: int,
                 until: Callable[[], bool] | None = None) -> float:
    """Run ``cycles`` cycles of ``dut`` and ``model`` on ``stimulus``, or fewer once
    ``until()`` holds after a cycle; the seconds taken."""
    inputs, outputs = check_widths(dut, model)

    async def bench(ctx) -> None:
        written: dict[str, int] = {}
        for cycle in range(cycles):
            values = dict(stimulus.inputs(cycle))
            for name, value in values.items():
                if written.get(name) != value:
                    ctx.set(inputs[name], value)
                    written[name] = value
            expected = model.comb(values)
            compare(cycle, expected, lambda name: ctx.get(outputs[name]))
            stimulus.observe(cycle, expected)
            model.tick(values)
            await ctx.tick()
            if until is not None and until():
                break

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    started = time.monotonic()
    simulator.run()
    return time.monotonic() - started


def run_driver(dut: wiring.Component, driver: Any) -> float:
    """Run ``dut`` with a part's lockstep driver, which owns the model and the stimulus
    (``driver.model``, ``inputs()``, ``check(read)``, ``done``), until it is done; the seconds
    taken. Fails unless the model lists exactly the ports of ``dut`` with their widths."""
    inputs, outputs = check_widths(dut, driver.model)

    async def bench(ctx) -> None:
        written: dict[str, int] = {}
        while not driver.done:
            for name, value in driver.inputs().items():
                if written.get(name) != value:
                    ctx.set(inputs[name], value)
                    written[name] = value
            driver.check(lambda name: ctx.get(outputs[name]))
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    started = time.monotonic()
    simulator.run()
    return time.monotonic() - started
