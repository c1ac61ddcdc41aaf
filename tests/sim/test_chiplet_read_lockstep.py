"""The read path RTL against its cycle model, cycle for cycle, on Icarus and Verilator.

The exported ``ReadPath`` and ``emulator.cycle.chiplet_read.ReadPathModel`` take one random
stimulus (``testbench.chiplet_read_lockstep``): read bursts of every kind with random pauses,
back-pressure on the request stream and R, a far side answering some cycles later and out of
order with data or errors, payload flits to skip and stray tags. Every output port must have
the model's value in every cycle; packets and R beats are also scoreboarded against
``emulator.ref.chiplet``.

Inputs are written just after a rising edge and outputs read in the read-only phase of the
same time step, when they have settled. ``CYCLES`` sets the cycles during which bursts start
(default: 5,000 on Icarus, 20,000 on Verilator); the run then drains.
"""

from __future__ import annotations

import dataclasses
import os
import random

import cocotb
import pytest

from hdl.chiplet.read_path import ReadPath
from hdl.params import PRESETS, ChipletParams, SystemParams
from hdl.toolchain import SIMULATORS
from testbench.chiplet_read_lockstep import LockstepScenario, ReadLockstep
from testbench.chiplet_write import write_test_windows
from testbench.cocotb_lockstep import run_lockstep
from testbench.runner import params_in_test, run_cocotb

TOP = "chiplet_read_lockstep"
CYCLES_VARIABLE = "CYCLES"
#: Cycles with new bursts by default: Icarus runs a few hundred cycles a second on this top.
DEFAULT_CYCLES = {"icarus": 5000, "verilator": 20000}
#: As the write path's lockstep test: the presets' 512-bit bus with 64 tags, and a 128-bit
#: bus with 4 tags, so that headers wait for tags.
SYSTEMS = [PRESETS["small"],
           dataclasses.replace(PRESETS["small"], name="small-axi128",
                               chiplet=ChipletParams(axi_data_bits=128, outstanding_tags=4))]


@cocotb.test()
async def lockstep(dut) -> None:
    params = params_in_test().chiplet
    cycles = int(os.environ[CYCLES_VARIABLE])
    lockstep = ReadLockstep(write_test_windows(params), random.Random(cocotb.RANDOM_SEED),
                            LockstepScenario(cycles=cycles))
    seconds = await run_lockstep(dut, lockstep)
    summary = lockstep.finish()
    dut._log.info("%d cycles compared in %.1f s (%.0f cycles/s), every output every cycle; %s",
                  lockstep.cycle, seconds, lockstep.cycle / seconds, summary)
    assert len(summary["responses"]) == 3, summary
    assert summary["strays"] > 0, summary
    assert summary["overtakes"] > 0 and summary["interleaved"] > 0, summary  # order per ARID
    if params.outstanding_tags <= 4:
        assert summary["most tags in use"] == params.outstanding_tags, summary


@pytest.mark.sim
@pytest.mark.soak  # the whole chiplet's lockstep in test_chiplet_pair covers it by default
@pytest.mark.parametrize(("simulator", "system"),
                         # Each simulator with one parameter set, to keep the default run short.
                         list(zip(sorted(SIMULATORS), SYSTEMS[::-1], strict=True)),
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_chiplet_read_lockstep(simulator: str, system: SystemParams) -> None:
    cycles = os.environ.get(CYCLES_VARIABLE, str(DEFAULT_CYCLES[simulator]))
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_read_lockstep", system,
               extra_env={CYCLES_VARIABLE: cycles},
               component=ReadPath(write_test_windows(system.chiplet)))
