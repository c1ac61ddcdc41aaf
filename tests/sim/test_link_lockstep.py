"""The reliable link RTL against its cycle model, cycle for cycle, on Icarus and Verilator.

Two link ends joined by two damaged wires (``link_pair``) and the cycle model take one
stimulus: packets offered both ways at random times, random consumer back-pressure, bit errors,
lost flits and a link outage drawn by ``emulator.cycle.channel``. Every flit sent, every packet
delivered and its cycle, and at the end every counter must be the model's
(``testbench.link_lockstep``), and the model checks every delivery against
``emulator.ref.link``. One run per scenario: no errors, flit error rates 1e-6, 1e-4 and 1e-3
(with bursts, dropped flits and an outage), lost acknowledgements (damage on the way back only)
and a heavy mix. ``PACKETS`` sets the packets per scenario (both ways together).
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

#: Scenarios damaged enough that any run of a few hundred packets must replay (at 1e-6 and
#: 1e-4 a run may well see no error at all).
REPLAYS_CERTAIN = ("flit_error_rate_1e-3_bursts_drops_outage", "lost_acknowledgements", "heavy")

#: Scenario name -> (damage a to b, damage b to a).
SCENARIOS = {
    "no_errors": (None, None),
    "flit_error_rate_1e-6": (ChannelErrors(1e-6), ChannelErrors(1e-6)),
    "flit_error_rate_1e-4": (ChannelErrors(1e-4), ChannelErrors(1e-4)),
    "flit_error_rate_1e-3_bursts_drops_outage": (
        ChannelErrors(1e-3, burst_bits=4, drop_rate=1e-4, down=[(2_000, 300)]),
        ChannelErrors(1e-3, burst_bits=4, drop_rate=1e-4, down=[(5_000, 300)])),
    "lost_acknowledgements": (None, ChannelErrors(2e-2, drop_rate=1e-2)),
    "heavy": (ChannelErrors(5e-3, burst_bits=2, drop_rate=2e-3, down=[(300, 150)]),
              ChannelErrors(5e-3, burst_bits=2, drop_rate=2e-3, down=[(300, 150)])),
}
#: Payload flits per packet: short packets make many headers, acks and credit returns.
MAX_LENGTH = 3


@cocotb.test()
@cocotb.parametrize(scenario=list(SCENARIOS))
async def lockstep_with_errors_and_back_pressure(dut, scenario: str) -> None:
    link = params_in_test().link
    rng = random.Random(f"{cocotb.RANDOM_SEED}-{scenario}")
    half = PACKETS // 2
    stimulus = [random_packet(rng, link, rng.randint(0, MAX_LENGTH)) for _ in range(2 * half)]
    forward, back = SCENARIOS[scenario]
    # Consumers slower than the link: receive buffers fill and credits run out.
    lockstep = LinkLockstep(link, rng, stimulus[:half], stimulus[half:], forward, pause=0.6,
                            errors_back=back)

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
    dut._log.info("%s: %d packets in %d cycles, %.0f cycles/s; counters a %s; b %s", scenario,
                  lockstep.total, lockstep.cycle, lockstep.cycle / seconds,
                  counters["a"], counters["b"])
    replays = sum(counters[end]["replays"] for end in counters)
    if scenario == "no_errors":
        assert replays == 0, "replays without errors"
    elif scenario in REPLAYS_CERTAIN:
        assert replays > 0, "errors never caused a replay"


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_link_lockstep(simulator: str) -> None:
    run_cocotb("link_pair", simulator, "tests.sim.test_link_lockstep", PRESETS["small"])
