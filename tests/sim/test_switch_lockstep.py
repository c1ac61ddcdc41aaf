"""The switch RTL against its cycle model, cycle for cycle, on Icarus and Verilator.

The harness top (``hdl.switch.harness``) puts a sink on every output that holds each packet's
credits for a random time (back-pressure). Each scenario draws random packets of mixed length,
VC and destination; the cycle model runs them first, then the RTL must take every header,
send every flit and every error completion in exactly the model's cycle, and every delivered
packet is scoreboarded against ``emulator.ref.switch`` (``testbench.switch_lockstep``).
``PACKETS`` scales the runs.
"""

from __future__ import annotations

import dataclasses
import os
import time

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.types import Logic

from emulator.cycle.switch import SwitchConfig
from emulator.cycle.switch_bench import (
    accepted_in_window,
    backlogged_traffic,
    bench_params,
    saturation_throughput,
)
from hdl.params import PRESETS
from hdl.switch import csr
from hdl.switch.signals import DROP_REASONS
from hdl.toolchain import SIMULATORS
from testbench.harness import PERIOD_NS
from testbench.runner import params_in_test, run_cocotb
from testbench.switch_lockstep import Scenario, SwitchLockstep, csr_writes, make_stimulus

PACKETS = int(os.environ.get("PACKETS", 2000))
#: The benchmark's k = 8 switch (256-flit buffers, 4 iterations), for the saturation figure.
BENCH_SYSTEM = dataclasses.replace(PRESETS["small"], name="small-switch-bench",
                                   switch=bench_params(8))

SCENARIOS = {
    # Mixed lengths at a load that keeps queues and credits busy.
    "mixed_lengths": Scenario(load=0.7),
    # Partitions, unrouted endpoints and spoofed sources: drops and error completions.
    "isolation": Scenario(load=0.5, partitions=2, unrouted_fraction=0.25, spoof_fraction=0.1),
}
#: Saturation: every source backlogged with one-flit packets to uniform random outputs, as
#: the benchmark measures it; throughput counted over this window of cycles.
SATURATION_WARMUP, SATURATION_WINDOW = 200, 1000


def _read(handle) -> int:
    value = handle.value
    return int(value) if isinstance(value, Logic) else value.to_unsigned()


def _read_bits(handle) -> str:
    """A vector as a string of bits, least significant first: flits of idle ports may be X."""
    return str(handle.value)[::-1]


async def _csr_write(dut, address: int, data: int) -> None:
    dut.csr__address.value = address
    dut.csr__write_data.value = data
    dut.csr__write.value = 1
    await RisingEdge(dut.clk)
    dut.csr__write.value = 0


async def _csr_read(dut, address: int) -> int:
    dut.csr__address.value = address
    dut.csr__read.value = 1
    await RisingEdge(dut.clk)
    dut.csr__read.value = 0
    await ReadOnly()
    value = _read(dut.csr__read_data)
    await RisingEdge(dut.clk)
    return value


@cocotb.test()
@cocotb.parametrize(name=list(SCENARIOS))
async def lockstep(dut, name: str) -> None:
    params = params_in_test().switch
    scenario = SCENARIOS[name]
    rng = np.random.default_rng([cocotb.RANDOM_SEED, list(SCENARIOS).index(name)])
    # Scale the creation window so that about PACKETS packets are offered.
    scenario.cycles = max(100, int(PACKETS / (params.ports * scenario.load / 5)))
    stimulus, config = make_stimulus(params, scenario, rng)
    await run(dut, name, SwitchLockstep(params, stimulus, config, seed=cocotb.RANDOM_SEED))


@cocotb.test()
async def saturation(dut) -> None:
    """The saturation throughput of the RTL, counted from its own deliveries."""
    params = params_in_test().switch
    stimulus = backlogged_traffic(params, "uniform", 1,
                                  SATURATION_WARMUP + SATURATION_WINDOW + 300,
                                  seed=cocotb.RANDOM_SEED % 2**32)
    lockstep = SwitchLockstep(params, stimulus, SwitchConfig.identity(params.ports))
    await run(dut, "saturation", lockstep)
    rtl, model = (accepted_in_window(stimulus, delivered, params.ports, SATURATION_WARMUP,
                                     SATURATION_WINDOW)
                  for delivered in (lockstep.rtl_delivered, lockstep.model.delivered))
    bench = saturation_throughput(params, "uniform", 1)
    dut._log.info("saturation throughput (sources backlogged, one-flit packets, uniform): RTL "
                  "%.4f, cycle model %.4f flits/cycle/port over cycles %d-%d; the benchmark's "
                  "longer run %.4f (k = %d, %d-flit buffers, %d iSLIP iterations)", rtl, model,
                  SATURATION_WARMUP, SATURATION_WARMUP + SATURATION_WINDOW, bench,
                  params.ports, params.input_buffer_flits, params.islip_iterations)
    assert rtl == model, "the RTL's throughput differs from the cycle model's"


async def run(dut, name: str, lockstep: SwitchLockstep) -> None:
    """Load the routing config, run the stimulus in lockstep, check the counters."""
    params = lockstep.params
    config = lockstep.config
    stimulus = lockstep.stimulus
    dut._log.info("%s: stimulus seed %d, %d packets", name, cocotb.RANDOM_SEED, len(stimulus))

    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.csr__write.value = 0
    dut.csr__read.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    for address, data in csr_writes(config, params.ports):
        await _csr_write(dut, address, data)
    for address, data in csr_writes(config, params.ports):
        read = await _csr_read(dut, address)
        assert read == data, f"CSR {address:#x} reads back {read:#x}, not {data:#x}"

    ready, out_valid = dut.in_ready, dut.out_valid
    handles = {name: getattr(dut, name) for name in
               ("out_flit", "out_first", "out_last")}
    started = time.monotonic()
    written = (None, None)
    for cycle in range(lockstep.cycles):
        valid, flits = lockstep.drive(cycle)
        if written[0] != valid:
            dut.in_valid.value = valid
        if written[1] != flits:
            dut.in_flit.value = flits
        written = (valid, flits)
        await ReadOnly()
        lockstep.check(cycle, _read(ready) & valid, _read(out_valid),
                       lambda name: _read_bits(handles[name]))
        await RisingEdge(dut.clk)
    dut.in_valid.value = 0
    await ReadOnly()
    drops = [_read(dut.drops) >> (32 * n) & 0xFFFFFFFF for n in range(len(DROP_REASONS))]
    assert _read(dut.underrun) == 0, "an input saw a gap inside a packet"
    await RisingEdge(dut.clk)
    counted = [await _csr_read(dut, csr.DROPS + n) for n in range(len(DROP_REASONS))]
    assert counted == drops, f"drop counters read {counted} over the CSR bus, {drops} on the port"
    summary = lockstep.finish(drops)
    seconds = time.monotonic() - started
    dut._log.info("%s: %s in %d cycles (%.0f cycles/s); drops %s", name, summary,
                  lockstep.cycles, lockstep.cycles / seconds, drops)
    if name == "isolation":
        assert all(drops), "every drop reason must occur in the isolation scenario"


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_switch_lockstep(simulator: str) -> None:
    run_cocotb("switch_harness", simulator, "tests.sim.test_switch_lockstep", PRESETS["small"])


@pytest.mark.sim
def test_switch_saturation_at_bench_parameters() -> None:
    # One simulator is enough for the figure: the k = 8 runs above hold both to the model.
    run_cocotb("switch_harness", "verilator", "tests.sim.test_switch_lockstep", BENCH_SYSTEM,
               testcase=["saturation"])
