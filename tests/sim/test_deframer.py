"""Deframer on Icarus and Verilator against the reference, on streams with bit errors."""

from __future__ import annotations

import os
import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles

from emulator.ref.framing import deframe, frame
from hdl.params import PRESETS
from hdl.toolchain import SIMULATORS
from testbench.harness import start, within
from testbench.packets import PacketSink
from testbench.runner import params_in_test, run_cocotb
from testbench.scoreboard import Scoreboard
from testbench.stimulus import flip_bits, random_packet
from testbench.stream import StreamBus, StreamSource, pauses

PACKETS = int(os.environ.get("PACKETS", 2000))


async def check_against_reference(dut, flit_error_rate: float, burst: int) -> None:
    link = params_in_test().link
    rng = random.Random(cocotb.RANDOM_SEED)
    await start(dut)
    errors_before = dut.crc_errors.value.to_unsigned()
    # Some packets are followed by an IDLE header, as a framer sends when its source pauses.
    items = []
    for _ in range(PACKETS):
        items.append(random_packet(rng, link))
        if rng.random() < 0.2:
            items.append(None)
    clean = frame(link, items)
    flits, hits = flip_bits(rng, clean, flit_error_rate, burst)
    expected, errors = deframe(link, flits)
    assert (errors > 0) == bool(hits), "the reference missed a corrupted flit"

    source = StreamSource(StreamBus.from_prefix(dut, "flit"), dut.clk, pauses(rng, 0.3))
    sink = PacketSink(dut, "packet", "payload", dut.clk, pauses(rng, 0.3), pauses(rng, 0.3))
    board = Scoreboard(f"deframer, flit error rate {flit_error_rate}, burst {burst}")
    board.expect(expected)
    for flit in flits:
        source.send_nowait(flit)

    await within(8 * len(flits) + 1000, sink.check(board, len(expected)))
    await within(8 * len(flits) + 1000, source.wait_idle())
    await ClockCycles(dut.clk, 100)
    board.assert_drained()
    assert sink.headers.received == len(expected), "packets delivered beyond the reference"
    assert sink.pending == 0, "payload flits delivered beyond the reference"
    counted = dut.crc_errors.value.to_unsigned() - errors_before
    assert counted == errors, f"{counted} CRC errors counted, the reference counts {errors}"
    dut._log.info("%d flits, %d corrupted, %d CRC errors, %d of %d packets delivered",
                  len(flits), len(hits), errors, len(expected), PACKETS)


@cocotb.test()
@cocotb.parametrize(flit_error_rate=[0.0, 0.002, 0.02], burst=[1, 7])
async def against_reference(dut, flit_error_rate: float, burst: int) -> None:
    await check_against_reference(dut, flit_error_rate, burst)


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_deframer(simulator: str) -> None:
    run_cocotb("deframer", simulator, "tests.sim.test_deframer", PRESETS["small"],
               extra_env={"PACKETS": str(min(PACKETS, 500))})
