"""The test wire's cycle models against the RTL, cycle for cycle, in Amaranth's simulator.

``ChannelDelayModel`` against ``ChannelDelay`` and ``WireFaultsModel`` against ``WireFaults``:
random flits, damage and rates every cycle, every output compared in every cycle
(``testbench.part_lockstep``). ``CYCLES`` sets the length of each run.
"""

from __future__ import annotations

import os
import random

import pytest

from emulator.cycle.wire import ChannelDelayModel, WireFaultsModel
from hdl.layouts import FLIT_BITS
from hdl.link.channel_delay import ChannelDelay
from hdl.link.wire_faults import RATE_BITS, WireFaults
from testbench.part_lockstep import Mismatch, run_lockstep

CYCLES = int(os.environ.get("CYCLES", 10_000))


class RandomInputs:
    """Every input random in every cycle, by its width, except those ``choose`` draws
    (``choose[name](rng, cycle)``); records every output value seen."""

    def __init__(self, widths: dict[str, int], rng: random.Random,
                 choose: dict | None = None) -> None:
        self.widths, self.rng, self.choose = widths, rng, choose or {}
        self.seen: dict[str, set[int]] = {}

    def inputs(self, cycle: int) -> dict[str, int]:
        values = {name: self.rng.getrandbits(width) for name, width in self.widths.items()}
        values.update({name: choose(self.rng, cycle) for name, choose in self.choose.items()})
        return values

    def observe(self, cycle: int, outputs) -> None:
        for name, value in outputs.items():
            self.seen.setdefault(name, set()).add(value)


@pytest.mark.parametrize("latency", [1, 3, 16])
def test_channel_delay_matches_rtl(latency: int) -> None:
    model = ChannelDelayModel(latency)
    stimulus = RandomInputs(model.input_widths, random.Random(latency), {
        "drop": lambda rng, cycle: int(rng.random() < 0.2),
        "flip": lambda rng, cycle: 0 if rng.random() < 0.7 else rng.getrandbits(FLIT_BITS)})
    seconds = run_lockstep(ChannelDelay(latency), model, stimulus, CYCLES)
    print(f"latency {latency}: {CYCLES} cycles in {seconds:.1f} s")
    assert stimulus.seen["flit_out.valid"] == {0, 1}


def _rate(rng: random.Random, cycle: int) -> int:
    """Rates that hold for a while: none, low, half, all, random."""
    return [0, 1 << (RATE_BITS - 8), 1 << (RATE_BITS - 1), (1 << RATE_BITS) - 1,
            rng.getrandbits(RATE_BITS)][cycle // 200 % 5]


@pytest.mark.parametrize("seed", [1, 0x9E3779B1, 0xFFFFFFFF])
def test_wire_faults_match_rtl(seed: int) -> None:
    model = WireFaultsModel(seed)
    stimulus = RandomInputs(model.input_widths, random.Random(seed), {
        "flip_rate": _rate, "drop_rate": lambda rng, cycle: _rate(rng, cycle + 600),
        "dead": lambda rng, cycle: int(cycle % 700 < 50)})
    seconds = run_lockstep(WireFaults(seed), model, stimulus, CYCLES)
    print(f"seed {seed:#x}: {CYCLES} cycles in {seconds:.1f} s")
    assert stimulus.seen["drop"] == {0, 1}
    positions = {value.bit_length() - 1 for value in stimulus.seen["flip"] if value}
    assert len(positions) > 64, "flipped bits should fall all over the flit"


class _ShiftedPosition(WireFaultsModel):
    """A planted fault: the flipped bit one place higher than the RTL's."""

    def comb(self, inputs):
        outputs = super().comb(inputs)
        outputs["flip"] = (outputs["flip"] << 1) % (1 << FLIT_BITS)
        return outputs


def test_planted_fault_is_caught() -> None:
    model = _ShiftedPosition(1)
    stimulus = RandomInputs(model.input_widths, random.Random(7), {
        "flip_rate": lambda rng, cycle: (1 << RATE_BITS) - 1,
        "drop_rate": lambda rng, cycle: 0, "dead": lambda rng, cycle: 0})
    with pytest.raises(Mismatch, match=r"cycle \d+: flip is 0x[0-9a-f]+ in the RTL"):
        run_lockstep(WireFaults(1), model, stimulus, 200)
