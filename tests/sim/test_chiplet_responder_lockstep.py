"""The far side RTL against its cycle model, cycle for cycle, on Icarus and Verilator.

The exported far side with its duplicate filter (``testbench.chiplet_responder.FarSide``: a
``Responder`` and a ``DuplicateFilter``) and its model (``FarSideModel``:
``emulator.cycle.chiplet_responder.ResponderModel`` and ``emulator.cycle.duplicate_filter.
DuplicateFilterModel``) take one random stimulus (``testbench.chiplet_responder_lockstep``):
READ and WRITE requests of every size and place, malformed and unsupported packets, retries
(copies of earlier WRITEs, keys never seen, keys naming no entry, READs), an AXI4 memory
with random back-pressure, latency and SLVERR, back-pressure on the completions. Every output
port must have the model's value in every cycle; completions, bursts, the memory and the
counters are also checked against ``emulator.ref.chiplet`` and the filter's rule.

Inputs are written just after a rising edge and outputs read in the read-only phase of the
same time step, when they have settled. ``CYCLES`` sets the cycles during which requests
start (default: 5,000 on Icarus, 20,000 on Verilator); the run then drains.
"""

from __future__ import annotations

import dataclasses
import os
import random

import cocotb
import pytest

from hdl.params import PRESETS, ChipletParams, SystemParams
from hdl.toolchain import SIMULATORS
from testbench.chiplet_responder import FarSide
from testbench.chiplet_responder_lockstep import LockstepScenario, ResponderLockstep
from testbench.cocotb_lockstep import run_lockstep
from testbench.runner import params_in_test, run_cocotb

TOP = "chiplet_responder_lockstep"
CYCLES_VARIABLE = "CYCLES"
#: Cycles with new requests by default: Icarus runs about a thousand cycles a second on this top.
DEFAULT_CYCLES = {"icarus": 5000, "verilator": 20000}
#: The presets' 512-bit bus, 64 requests outstanding and 48-bit addresses; and a 128-bit bus
#: with 4 outstanding and 64-bit addresses.
SYSTEMS = [PRESETS["small"],
           dataclasses.replace(PRESETS["small"], name="small-axi128-address64",
                               chiplet=ChipletParams(axi_data_bits=128, outstanding_tags=4,
                                                     axi_address_bits=64))]


@cocotb.test()
async def lockstep(dut) -> None:
    params = params_in_test().chiplet
    cycles = int(os.environ[CYCLES_VARIABLE])
    lockstep = ResponderLockstep(params, random.Random(cocotb.RANDOM_SEED),
                                 LockstepScenario(cycles=cycles))
    seconds = await run_lockstep(dut, lockstep)
    summary = lockstep.finish()
    dut._log.info("%d cycles compared in %.1f s (%.0f cycles/s), every output every cycle; %s",
                  lockstep.cycle, seconds, lockstep.cycle / seconds, summary)
    assert set(summary["commands"]) == {"READ_RESPONSE", "WRITE_RESPONSE", "ERROR_RESPONSE"}
    assert summary["refused"] > 0 and summary["unsupported"] > 0, summary
    assert summary["duplicates"] > 0 and summary["waiting cycles"] > 0, summary


@pytest.mark.sim
@pytest.mark.soak  # the whole chiplet's lockstep in test_chiplet_pair covers it by default
@pytest.mark.parametrize(("simulator", "system"),
                         # Each simulator with one parameter set, to keep the default run short.
                         list(zip(sorted(SIMULATORS), SYSTEMS[::-1], strict=True)),
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_chiplet_responder_lockstep(simulator: str, system: SystemParams) -> None:
    cycles = os.environ.get(CYCLES_VARIABLE, str(DEFAULT_CYCLES[simulator]))
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_responder_lockstep", system,
               extra_env={CYCLES_VARIABLE: cycles}, component=FarSide(system.chiplet))
