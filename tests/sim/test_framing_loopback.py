"""Framer -> deframer on Icarus and Verilator: random packets, random back-pressure both sides."""

from __future__ import annotations

import os
import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles

from emulator.ref.framing import deframe, frame
from hdl.layouts import MAX_PAYLOAD_FLITS
from hdl.params import PRESETS
from hdl.toolchain import SIMULATORS
from testbench.harness import start, within
from testbench.packets import PacketSink, PacketSource
from testbench.runner import params_in_test, run_cocotb
from testbench.scoreboard import Scoreboard
from testbench.stimulus import random_packet
from testbench.stream import pauses

#: Packets per run; every payload length 0..MAX_PAYLOAD_FLITS occurs.
PACKETS = int(os.environ.get("PACKETS", 2000))


@cocotb.test()
async def random_packets_random_backpressure(dut) -> None:
    link = params_in_test().link
    rng = random.Random(cocotb.RANDOM_SEED)
    await start(dut)
    lengths = list(range(MAX_PAYLOAD_FLITS + 1))
    lengths += [rng.randint(0, MAX_PAYLOAD_FLITS) for _ in range(PACKETS - len(lengths))]
    rng.shuffle(lengths)
    packets = [random_packet(rng, link, length) for length in lengths]
    expected, errors = deframe(link, frame(link, packets))
    assert errors == 0

    source = PacketSource(dut, "packet_in", "payload_in", dut.clk,
                          pauses(rng, 0.3), pauses(rng, 0.3))
    sink = PacketSink(dut, "packet_out", "payload_out", dut.clk,
                      pauses(rng, 0.3), pauses(rng, 0.3))
    board = Scoreboard("framing loopback")
    board.expect(expected)
    for packet in packets:
        source.send_nowait(packet)

    flits = sum(packet.flits for packet in packets)
    await within(8 * flits + 1000, sink.check(board, len(expected)))
    await ClockCycles(dut.clk, 100)
    board.assert_drained()
    assert sink.headers.received == len(expected), "packets delivered beyond those sent"
    assert sink.pending == 0, "payload flits delivered beyond those sent"
    assert dut.crc_errors.value.to_unsigned() == 0
    dut._log.info("%d packets, %d flits through framer and deframer", len(packets), flits)


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_framing_loopback(simulator: str) -> None:
    run_cocotb("framing_loopback", simulator, "tests.sim.test_framing_loopback", PRESETS["small"])
