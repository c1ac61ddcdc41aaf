"""The chiplet's cycle model against the RTL, cycle for cycle, in Amaranth's simulator.

``ChipletPair`` and ``ChipletPairModel`` (two ``ChipletModel`` compositions joined by wire
models) take the same stimulus every cycle (``testbench.chiplet_pair_lockstep``): random legal
AXI4 bursts from a manager on each lane's subordinate port, an AXI4 memory on each lane's
manager port (one memory per side), random back-pressure everywhere, damage drawn on every wire
by the wires' LFSRs, and a plane whose wires die and which leaves ``planes_up`` mid-run. Every
output port of the pair is compared in every cycle (``testbench.part_lockstep``); every BRESP
and R beat is also checked against the reference fabric, and both memories at the end.
``CYCLES`` sets the cycles during which bursts start. """

from __future__ import annotations

import dataclasses
import os
import random

import pytest

from emulator.cycle.chiplet import ChipletModel, ChipletPairModel
from hdl.chiplet.chiplet import Chiplet
from hdl.chiplet.chiplet_pair import ENDS, ChipletPair
from hdl.link.wire_faults import RATE_BITS
from hdl.params import PRESETS, ChipletParams
from testbench.chiplet_pair_lockstep import PairLockstep, PairScenario, pair_address_maps
from testbench.part_lockstep import Mismatch, ports, run_lockstep

CYCLES = int(os.environ.get("CYCLES", 1500))
LINK = PRESETS["small"].link
#: A 128-bit bus and 8 tags keep the pair small; two planes, or one.
TWO_LINKS = ChipletParams(links=2, axi_data_bits=128, outstanding_tags=8)
ONE_LINK = ChipletParams(links=1, axi_data_bits=128, outstanding_tags=8)
#: Damage on every wire: one flit in 500 with a bit flipped, one in 4,000 lost.
FLIP_RATE = (1 << RATE_BITS) // 500
DROP_RATE = (1 << RATE_BITS) // 4000
#: Cycles the drain may take, at most, after the last burst starts.
DRAIN_LIMIT = 20_000


def run(params: ChipletParams, seed: int, scenario: PairScenario,
        model: ChipletPairModel | None = None,
        drain: int = DRAIN_LIMIT) -> tuple[PairLockstep, ChipletPairModel]:
    maps = pair_address_maps(params)
    model = model or ChipletPairModel(maps, LINK)
    lockstep = PairLockstep(params, random.Random(seed), model.input_widths, scenario)
    seconds = run_lockstep(ChipletPair(maps, LINK), model, lockstep,
                           scenario.cycles + drain, until=lambda: lockstep.done)
    print(f"{lockstep.cycle + 1} cycles in {seconds:.1f} s, {model.passes} passes: "
          f"{lockstep.summary()}")
    assert lockstep.done, f"not drained after {lockstep.cycle + 1} cycles"
    lockstep.check_memories()
    return lockstep, model


def _counters(model: ChipletPairModel) -> dict[str, int]:
    totals = {"moved": 0, "crc_errors": 0, "replays": 0, "retried": 0}
    for chiplet in model.chiplets.values():
        totals["moved"] += sum(lane.striper.moved for lane in chiplet.lanes)
        totals["retried"] += sum(translate.retried for translate in chiplet.translations)
        for end in chiplet.link_ends:
            totals["crc_errors"] += end.end.counters.crc_errors
            totals["replays"] += end.end.counters.replays
    return totals


@pytest.mark.parametrize("links", [1, 3])
def test_chiplet_model_has_the_rtl_ports(links: int) -> None:
    params = ChipletParams(links=links, axi_data_bits=64, outstanding_tags=4)
    address_map = pair_address_maps(params)["a"]
    inputs, outputs = ports(Chiplet(address_map, LINK))
    model = ChipletModel(address_map, LINK)
    assert {name: len(port) for name, port in inputs.items()} == model.input_widths
    assert {name: len(port) for name, port in outputs.items()} == model.output_widths


def test_two_links_with_damage_and_a_plane_down() -> None:
    """Plane 1's wires die a third of the way in; it leaves ``planes_up`` 100 cycles later;
    its wires come back after 600 cycles and its link delivers what it held."""
    scenario = PairScenario(cycles=CYCLES, flip_rate=FLIP_RATE, drop_rate=DROP_RATE,
                            dead_at=CYCLES // 3)
    lockstep, model = run(TWO_LINKS, 2, scenario)
    responses = lockstep.summary()["responses"]
    for code in ("B OKAY", "B SLVERR", "B DECERR", "R OKAY", "R SLVERR", "R DECERR"):
        assert responses.get(code), f"no {code} seen: raise CYCLES"
    counters = _counters(model)
    assert counters["moved"] and counters["crc_errors"] and counters["replays"], counters


def test_a_plane_dies_unannounced() -> None:
    """Plane 0's wires die for good a quarter of the way in and it stays in ``planes_up``:
    each chiplet notices by the completion time-out (a smaller far-memory allowance keeps it
    short), hands what plane 0 kept over to plane 1, and every burst is still answered as the
    reference says, each write carried out once."""
    params = dataclasses.replace(TWO_LINKS, far_memory_cycles=64)
    timeout = params.completion_timeout_cycles(LINK)
    scenario = PairScenario(cycles=CYCLES, plane=0, dead_at=CYCLES // 4,
                            dead_for=10 * (CYCLES + timeout), down_after=None)
    lockstep, model = run(params, 6, scenario, drain=2 * timeout)
    counters = _counters(model)
    assert counters["retried"] and counters["moved"], counters
    assert lockstep.summary()["responses"].get("B OKAY")


def test_one_link_with_damage() -> None:
    scenario = PairScenario(cycles=CYCLES, flip_rate=FLIP_RATE, drop_rate=DROP_RATE)
    lockstep, model = run(ONE_LINK, 3, scenario)
    assert lockstep.summary()["responses"].get("B OKAY")
    assert _counters(model)["crc_errors"]


class _Restless(ChipletPairModel):
    """Calls ``comb`` twice with random inputs before every real call."""

    rng = random.Random(11)

    def comb(self, inputs):
        for _ in range(2):
            super().comb({name: self.rng.getrandbits(width)
                          for name, width in self.input_widths.items()})
        return super().comb(inputs)


def test_comb_is_pure() -> None:
    """A model whose ``comb`` also sees random inputs, and so settles from other values each
    time, stays in lockstep."""
    run(ONE_LINK, 5, PairScenario(cycles=300, flip_rate=FLIP_RATE),
        _Restless(pair_address_maps(ONE_LINK), LINK))


class _LongWires(ChipletPairModel):
    """A planted fault: every wire one cycle longer than the RTL's."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        for wire in self.wires.values():
            wire.stages.appendleft((0, 0))


def test_planted_fault_is_caught() -> None:
    names = "|".join(f"{end}_(m|s)_axi" for end in ENDS)
    with pytest.raises(Mismatch, match=rf"cycle \d+: ({names})\.\d+\.\w+ is "):
        run(ONE_LINK, 1, PairScenario(cycles=300), _LongWires(pair_address_maps(ONE_LINK),
                                                              LINK))
