"""The reliable link RTL against its cycle model, cycle for cycle, on Icarus and Verilator.

Two link ends joined by two damaged wires (``link_pair``) and the cycle model take one
stimulus: packets offered both ways at random times, random consumer back-pressure, bit errors,
lost flits and a link outage drawn by ``emulator.cycle.channel``. Every flit sent, every packet
delivered and its cycle, and at the end every counter must be the model's
(``testbench.link_lockstep``). ``PACKETS`` sets the packets per run on Verilator (both ways
together); Icarus, slower on the CRC logic, runs a quarter of them.
"""

from __future__ import annotations

import os
import random
import time

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.types import Logic

from emulator.cycle.channel import ChannelErrors
from hdl.params import PRESETS
from hdl.toolchain import SIMULATORS
from testbench.harness import PERIOD_NS
from testbench.link_lockstep import LinkLockstep
from testbench.runner import params_in_test, run_cocotb
from testbench.stimulus import random_packet

PACKETS = int(os.environ.get("PACKETS", 5000))
#: Payload flits per packet: short packets make many headers, acks and credit returns.
MAX_LENGTH = 3


@cocotb.test()
async def lockstep_with_errors_and_back_pressure(dut) -> None:
    link = params_in_test().link
    rng = random.Random(cocotb.RANDOM_SEED)
    packets = PACKETS if cocotb.SIM_NAME.lower().startswith("verilator") else PACKETS // 4
    half = packets // 2
    stimulus = [random_packet(rng, link, rng.randint(0, MAX_LENGTH)) for _ in range(2 * half)]
    errors = ChannelErrors(flit_error_rate=5e-3, burst_bits=2, drop_rate=2e-3,
                           down=[(300, 150)])
    # Consumers slower than the link: receive buffers fill and credits run out.
    lockstep = LinkLockstep(link, rng, stimulus[:half], stimulus[half:], errors, pause=0.6)

    written: dict[str, int] = {}
    handles = {}

    def handle(name: str):
        if name not in handles:
            handles[name] = getattr(dut, name)
        return handles[name]

    def read(name: str) -> int:
        value = handle(name).value
        # A one-bit port reads as a Logic; int() raises on X or Z, as to_unsigned() does.
        return int(value) if isinstance(value, Logic) else value.to_unsigned()

    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    started = time.monotonic()
    while not lockstep.done:
        for name, value in lockstep.inputs().items():
            if written.get(name) != value:
                handle(name).value = value
                written[name] = value
        await ReadOnly()
        lockstep.check(read)
        await RisingEdge(dut.clk)
    await ReadOnly()  # the counters as the last edge left them
    counters = lockstep.check_counters(read)
    seconds = time.monotonic() - started
    dut._log.info("%d packets in %d cycles, %.0f cycles/s; counters a %s; b %s",
                  lockstep.total, lockstep.cycle, lockstep.cycle / seconds,
                  counters["a"], counters["b"])
    assert sum(counters[end]["replays"] for end in counters) > 0, "errors never caused a replay"


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_link_lockstep(simulator: str) -> None:
    run_cocotb("link_pair", simulator, "tests.sim.test_link_lockstep", PRESETS["small"])
