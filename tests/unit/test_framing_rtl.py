"""Framing RTL in Amaranth's simulator: bit-exact against the reference, commit FIFO rules."""

from __future__ import annotations

import random

import pytest
from amaranth import Value
from amaranth.sim import Simulator

from emulator.ref.framing import frame
from emulator.scenarios.framing import simulate_framing
from hdl.link.commit_fifo import CommitFifo
from hdl.link.framer import Framer
from hdl.params import LinkParams
from testbench.stimulus import random_packet

LINK = LinkParams()


@pytest.mark.parametrize("pause_probability", [0.0, 0.4])
def test_framer_output_is_bit_exact_when_packets_are_back_to_back(
        pause_probability: float) -> None:
    """With its inputs never empty the framer sends exactly the reference flits, whatever the
    back-pressure on its output: every CRC, one closing IDLE."""
    rng = random.Random(7)
    packets = [random_packet(rng, LINK) for _ in range(12)] + [random_packet(rng, LINK, 17)]
    expected = frame(LINK, packets)
    dut = Framer(LINK)
    observed: list[int] = []

    async def headers(ctx) -> None:
        for packet in packets:
            ctx.set(Value.cast(dut.packet.payload), packet.header)
            ctx.set(dut.packet.valid, 1)
            await ctx.tick().until(dut.packet.ready)
        ctx.set(dut.packet.valid, 0)

    async def payloads(ctx) -> None:
        for flit in (flit for packet in packets for flit in packet.payload):
            ctx.set(dut.payload.payload, flit)
            ctx.set(dut.payload.valid, 1)
            await ctx.tick().until(dut.payload.ready)
        ctx.set(dut.payload.valid, 0)

    async def sink(ctx) -> None:
        while len(observed) < len(expected):
            ready = rng.random() >= pause_probability
            ctx.set(dut.flit.ready, ready)
            *_, valid, flit = await ctx.tick().sample(dut.flit.valid, dut.flit.payload)
            if valid and ready:
                observed.append(flit)
        ctx.set(dut.flit.ready, 1)
        for _ in range(20):
            *_, valid = await ctx.tick().sample(dut.flit.valid)
            assert not valid, "flits beyond the reference"

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    for bench in (headers, payloads, sink):
        simulator.add_testbench(bench)
    simulator.run()
    assert observed == expected


def test_loopback_with_back_pressure_matches_reference() -> None:
    rng = random.Random(8)
    packets = [random_packet(rng, LINK) for _ in range(40)]
    result = simulate_framing(LINK, packets, seed=8, pause_probability=0.3)
    assert result.matches_reference
    assert result.packets_delivered == len(packets)
    assert result.crc_errors == 0


def test_commit_fifo_commits_and_rolls_back() -> None:
    dut = CommitFifo(8, 4)
    seen: list[int] = []

    async def bench(ctx) -> None:
        async def write(value: int, commit: int = 0, commit_write: int = 0,
                        rollback: int = 0) -> None:
            ctx.set(dut.write.valid, 1)
            ctx.set(dut.write.payload, value)
            ctx.set(dut.commit, commit)
            ctx.set(dut.commit_write, commit_write)
            ctx.set(dut.rollback, rollback)
            await ctx.tick()
            for signal in (dut.write.valid, dut.commit, dut.commit_write, dut.rollback):
                ctx.set(signal, 0)

        await write(1)
        await write(2)
        assert not ctx.get(dut.read.valid), "uncommitted entries must not be readable"
        assert ctx.get(dut.free) == 2
        await write(3, commit=1)  # commits 1 and 2, not 3
        assert ctx.get(dut.read.valid) and ctx.get(dut.read.payload) == 1
        await write(4, rollback=1)  # drops 3 and 4
        assert ctx.get(dut.free) == 2
        await write(5, commit=1, commit_write=1)  # commits 5 with itself
        ctx.set(dut.read.ready, 1)
        for _ in range(4):
            *_, valid, value = await ctx.tick().sample(dut.read.valid, dut.read.payload)
            if valid:
                seen.append(value)
        assert ctx.get(dut.free) == 4

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    assert seen == [1, 2, 5]
