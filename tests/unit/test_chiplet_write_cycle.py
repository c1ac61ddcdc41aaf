"""The write path's cycle model against the RTL, cycle for cycle, in Amaranth's simulator.

``WritePath`` and ``WritePathModel`` take the same random stimulus every cycle
(``testbench.chiplet_write_lockstep``): bursts of every type, size and length in and out of
the windows, random back-pressure on AW, W, the request stream and B, completions some
cycles late with errors, payload flits to skip and stray tags. Every output port must have
the model's value in every cycle; packets and BRESPs are also checked against the reference.
``CYCLES`` sets the cycles during which bursts start, per parameter set.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from emulator.cycle.chiplet_write import WritePathModel
from hdl.chiplet.write_path import WritePath
from hdl.params import ChipletParams
from testbench.chiplet_write import write_test_windows
from testbench.chiplet_write_lockstep import LockstepScenario, Mismatch, WriteLockstep
from testbench.part_lockstep import run_driver

CYCLES = int(os.environ.get("CYCLES", 4000))
#: What the random bursts must exercise (``WriteScoreboard.features``); extension flits too
#: where ``write_test_windows`` maps above the header's address bits.
FEATURES = ("FIXED", "INCR", "WRAP", "decerr", "window", "narrow", "unaligned", "cut at 128",
            "byte enables", "256 bytes")

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
                 model: WritePathModel | None = None) -> dict[str, object]:
    address_map = write_test_windows(params)
    dut = WritePath(address_map)
    lockstep = WriteLockstep(address_map, random.Random(seed), scenario,
                             model or WritePathModel(address_map))
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
    assert summary["strays"] > 0 and summary["completions with a payload flit"] > 0, summary
    if params.outstanding_tags <= 4:
        assert summary["most tags in use"] == params.outstanding_tags, summary


def test_slow_answers_fill_the_tag_pool() -> None:
    """Answers up to 200 cycles late and a busy request sink: 64 tags in use at once."""
    summary = run_lockstep(ChipletParams(axi_data_bits=64, outstanding_tags=64), seed=99,
                           scenario=LockstepScenario(cycles=CYCLES, max_delay=200, pause=0.1,
                                                     awid_count=8))
    assert summary["most tags in use"] > 32, summary


def test_comb_is_pure() -> None:
    """Extra ``comb`` calls with random inputs change nothing: a model called so runs in
    lockstep with one called once per cycle."""
    params = ChipletParams(axi_data_bits=256, outstanding_tags=8)
    address_map = write_test_windows(params)
    rng = random.Random(5)
    lockstep = WriteLockstep(address_map, random.Random(4), LockstepScenario(cycles=CYCLES))
    twin = WritePathModel(address_map)
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


class _LateBresp(WritePathModel):
    """A planted fault: the model holds BVALID one cycle longer after a BRESP is taken."""

    def tick(self, inputs) -> None:
        held = self.bvalid and inputs["s_axi.bready"] and not self.can_answer
        super().tick(inputs)
        if held and not self.bvalid:
            self.bvalid = 1
            self._settle()


def test_planted_fault_is_caught() -> None:
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    with pytest.raises(Mismatch, match=r"cycle \d+: s_axi.bvalid is 0x0 in the RTL, 0x1"):
        run_lockstep(params, seed=1, scenario=LockstepScenario(cycles=400),
                     model=_LateBresp(write_test_windows(params)))
