"""Framer on Icarus and Verilator: every header's CRC equals the software CRC, nothing lost,
IDLE headers only where payload would otherwise wait, one flit per cycle without back-pressure."""

from __future__ import annotations

import os
import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles

from emulator.ref.framing import IDLE_HEADER, crc_field, deframe, header_crc
from hdl.layouts import HEADER_BODY, MAX_PAYLOAD_FLITS, FlitKind, unpack
from hdl.params import PRESETS
from hdl.toolchain import SIMULATORS
from testbench.harness import start, within
from testbench.packets import PacketSource
from testbench.runner import params_in_test, run_cocotb
from testbench.stimulus import random_packet
from testbench.stream import StreamBus, StreamSink, pauses

PACKETS = int(os.environ.get("PACKETS", 2000))


def split_headers(flits: list[int]) -> list[tuple[int, list[int]]]:
    """(header flit, payload flits it announces) in link order."""
    framed, index = [], 0
    while index < len(flits):
        length = unpack(HEADER_BODY, flits[index] & ((1 << HEADER_BODY.size) - 1)).link.length
        framed.append((flits[index], flits[index + 1:index + 1 + length]))
        index += 1 + length
    return framed


async def run_framer(dut, packets, pause_probability: float, rng: random.Random) -> list:
    source = PacketSource(dut, "packet", "payload", dut.clk,
                          pauses(rng, pause_probability), pauses(rng, pause_probability))
    sink = StreamSink(StreamBus.from_prefix(dut, "flit"), dut.clk, pauses(rng, pause_probability))
    for packet in packets:
        source.send_nowait(packet)
    await within(10 * sum(packet.flits for packet in packets) + 1000, source.wait_idle())
    await ClockCycles(dut.clk, 100)
    return list(sink.queue)


@cocotb.test()
async def crc_matches_software(dut) -> None:
    link = params_in_test().link
    rng = random.Random(cocotb.RANDOM_SEED)
    await start(dut)
    packets = [random_packet(rng, link) for _ in range(PACKETS)]
    flits = [word for word, _ in await run_framer(dut, packets, 0.3, rng)]

    covered: list[int] = []
    for number, (header, payload) in enumerate(split_headers(flits)):
        want = header_crc(link, covered, header)
        assert crc_field(header) == want, (
            f"header #{number}: CRC {crc_field(header):#09x}, software computes {want:#09x}")
        kind = unpack(HEADER_BODY, header & ((1 << HEADER_BODY.size) - 1)).link.kind
        if kind == FlitKind.IDLE:
            assert covered, f"header #{number}: IDLE sent with no payload to cover"
            assert header & ((1 << HEADER_BODY.size) - 1) == IDLE_HEADER
        covered = payload
    assert not covered, "the last payload was left uncovered"
    delivered, errors = deframe(link, flits)
    assert errors == 0
    assert delivered == packets


@cocotb.test()
async def one_flit_per_cycle(dut) -> None:
    link = params_in_test().link
    rng = random.Random(cocotb.RANDOM_SEED)
    await start(dut)
    packets = [random_packet(rng, link, rng.randint(0, MAX_PAYLOAD_FLITS)) for _ in range(200)]
    words = await run_framer(dut, packets, 0.0, rng)
    sent = sum(packet.flits for packet in packets)
    first, last = words[0][1], words[sent - 1][1]
    throughput = sent / (last - first + 1)
    dut._log.info("framer throughput without back-pressure: %.4f flits/cycle (%d flits in %d "
                  "cycles)", throughput, sent, last - first + 1)
    assert throughput == 1.0


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_framer(simulator: str) -> None:
    run_cocotb("framer", simulator, "tests.sim.test_framer", PRESETS["small"])
