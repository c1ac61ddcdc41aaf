"""The read path's cycle model against the RTL, cycle for cycle, in Amaranth's simulator.

``ReadPath`` and ``ReadPathModel`` take the same random stimulus every cycle
(``testbench.chiplet_read_lockstep``): bursts of every type, size and length in and out of
the windows, random back-pressure on AR, R and the request stream, completions some cycles
late and out of order with data or errors, payload flits to skip and stray tags. Every output
port must have the model's value in every cycle; packets and R beats are also checked against
the reference. ``CYCLES`` sets the cycles during which bursts start, per parameter set.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from emulator.cycle.chiplet_read import ReadPathModel
from hdl.chiplet.read_path import ReadPath
from hdl.params import ChipletParams
from testbench.chiplet_read_lockstep import LockstepScenario, Mismatch, ReadLockstep
from testbench.chiplet_write import write_test_windows
from testbench.part_lockstep import run_driver

CYCLES = int(os.environ.get("CYCLES", 4000))
#: What the random bursts must exercise (``ReadScoreboard.features``); extension flits too
#: where ``write_test_windows`` maps above the header's address bits.
FEATURES = ("FIXED", "INCR", "WRAP", "decerr", "window", "narrow", "unaligned", "cut at 256",
            "256 bytes", "spill")

#: Every data width the brief names, tag pools of 1, 4 and 64, 32- to 64-bit addresses.
PARAMETER_SETS = {
    "data32-tags4-address32": ChipletParams(axi_data_bits=32, outstanding_tags=4,
                                            axi_address_bits=32, axi_id_bits=2),
    "data128-tags1-address64": ChipletParams(axi_data_bits=128, outstanding_tags=1,
                                             axi_address_bits=64),
    "data512-tags64-address48": ChipletParams(axi_data_bits=512, outstanding_tags=64),
    "data1024-tags4-address64": ChipletParams(axi_data_bits=1024, outstanding_tags=4,
                                              axi_address_bits=64),
    "data128-tags64-address32-id1": ChipletParams(axi_data_bits=128, outstanding_tags=64,
                                                  axi_address_bits=32, axi_id_bits=1),
}


def run_lockstep(params: ChipletParams, seed: int, scenario: LockstepScenario,
                 model: ReadPathModel | None = None) -> dict[str, object]:
    address_map = write_test_windows(params)
    dut = ReadPath(address_map)
    lockstep = ReadLockstep(address_map, random.Random(seed), scenario,
                            model or ReadPathModel(address_map))
    seconds = run_driver(dut, lockstep)
    summary = lockstep.finish()
    summary["seconds"] = round(seconds, 1)
    print(summary)
    return summary


@pytest.mark.parametrize("name", list(PARAMETER_SETS))
def test_model_matches_rtl(name: str) -> None:
    params = PARAMETER_SETS[name]
    summary = run_lockstep(params, seed=list(PARAMETER_SETS).index(name),
                           scenario=LockstepScenario(cycles=CYCLES))
    assert len(summary["responses"]) == 3, summary
    wanted = set(FEATURES) | ({"extension"} if params.axi_address_bits >= 46 else set())
    missing = wanted - set(summary["features"])
    assert not missing, f"the bursts never exercised {sorted(missing)}"
    assert summary["completions with a payload flit"] > 0, summary
    strays = {"write tag", "idle pool tag"} | ({"aliasing"} if params.outstanding_tags < 128
                                               else set())
    assert strays <= set(summary["stray kinds"]), summary
    if params.outstanding_tags <= 4:
        assert summary["most tags in use"] == params.outstanding_tags, summary
    if params.outstanding_tags > 1:
        assert summary["out of order"] > 0, summary
    # Per-ARID order only: bursts of one ARID pass those of another, and R goes from a burst
    # waiting for a piece to another burst.
    assert summary["overtakes"] > 0 and summary["interleaved"] > 0, summary


@pytest.mark.parametrize("params", [
    ChipletParams(axi_data_bits=256, outstanding_tags=3, axi_address_bits=40, axi_id_bits=1),
    ChipletParams(axi_data_bits=64, outstanding_tags=64, axi_address_bits=64),
], ids=["tags3-address40-id1", "tags64-address64"])
def test_tag_pool_edges(params: ChipletParams) -> None:
    """A pool whose size is not a power of two (stray tags alias pool tags in the low bits);
    every tag a read may have, with answers up to 200 cycles late so that most are in use."""
    slow = params.outstanding_tags > 3
    summary = run_lockstep(params, seed=params.outstanding_tags,
                           scenario=LockstepScenario(cycles=CYCLES // 2, pause=0.1 if slow else 0.3,
                                                     max_delay=200 if slow else 30))
    assert len(summary["responses"]) == 3, summary
    assert summary["strays"] > 0, summary
    assert summary["most tags in use"] > params.outstanding_tags // 2, summary


def test_comb_is_pure() -> None:
    """Extra ``comb`` calls with random inputs change nothing: a model called so runs in
    lockstep with one called once per cycle."""
    params = ChipletParams(axi_data_bits=64, outstanding_tags=8)
    address_map = write_test_windows(params)
    rng = random.Random(5)
    lockstep = ReadLockstep(address_map, random.Random(4), LockstepScenario(cycles=CYCLES))
    twin = ReadPathModel(address_map)
    widths = twin.input_widths
    started = time.monotonic()
    while not lockstep.done:
        inputs = dict(lockstep.inputs())
        for _ in range(2):
            twin.comb({name: rng.getrandbits(width) for name, width in widths.items()})
        outputs = twin.comb(inputs)
        lockstep.check(outputs.__getitem__)
        twin.tick(inputs)
    summary = lockstep.finish()
    seconds = time.monotonic() - started
    print(f"{summary['cycles']} cycles, two models, in {seconds:.2f} s")


class _NoFlush(ReadPathModel):
    """A planted fault: the bytes a completion leaves after its last data flit are never
    written, so a beat that reads them returns stale data."""

    def tick(self, inputs) -> None:
        super().tick(inputs)
        self.flush = 0


class _NoHolding(ReadPathModel):
    """A planted fault: R always goes to the lowest burst that may return a beat, even while
    the burst of the last beat may go on."""

    def tick(self, inputs) -> None:
        super().tick(inputs)
        self.holding = 0
        self._settle()


def test_planted_fault_is_caught() -> None:
    params = ChipletParams(axi_data_bits=32, outstanding_tags=4)
    with pytest.raises(Mismatch, match=r"cycle \d+: s_axi.rdata is 0x[0-9a-f]+ in the RTL, "):
        # Only short narrow bursts: many pieces leave bytes after their last flit.
        run_lockstep(params, seed=1, scenario=LockstepScenario(cycles=2000, short_rate=1),
                     model=_NoFlush(write_test_windows(params)))


def test_planted_fault_in_the_burst_choice_is_caught() -> None:
    params = ChipletParams(axi_data_bits=32, outstanding_tags=4, axi_id_bits=2)
    with pytest.raises(Mismatch, match=r"cycle \d+: s_axi\.r[a-z]+ is 0x[0-9a-f]+ in the RTL, "):
        run_lockstep(params, seed=0, scenario=LockstepScenario(cycles=CYCLES),
                     model=_NoHolding(write_test_windows(params)))
