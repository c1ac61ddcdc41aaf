"""The chiplet's write path (packetizer, tag pool, write responses) in Amaranth's simulator.

Random write bursts of every type, size and length, in and out of the address windows, with
all, some or no byte enabled; a far side that answers each request after a random delay,
some with ERROR_RESPONSE; random back-pressure on every channel. Every request packet is
compared bit for bit with ``emulator.ref.chiplet`` and every BRESP with its rules and the
per-ID order (``testbench.chiplet_write``).
"""

from __future__ import annotations

import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from emulator.ref.axi import Burst
from emulator.ref.chiplet import Piece, decode_request, request_packet
from hdl.chiplet.axi import BurstType, data_bytes
from hdl.chiplet.write_path import WritePath
from hdl.params import ChipletParams
from testbench.chiplet_write import (
    SOURCE,
    WriteBurst,
    WriteScoreboard,
    random_write,
    write_test_windows,
)

#: What the random bursts must exercise (``WriteScoreboard.features``).
FEATURES = ("FIXED", "INCR", "WRAP", "decerr", "window", "narrow", "unaligned", "cut at 128",
            "byte enables", "256 bytes", "extension")


def run(params: ChipletParams, writes: list[WriteBurst], seed: int, pause: float = 0.3,
        error_rate: float = 0.15, max_delay: int = 30) -> WriteScoreboard:
    rng = random.Random(seed)
    address_map = write_test_windows(params)
    dut = WritePath(address_map)
    scoreboard = WriteScoreboard(address_map)
    axi = dut.s_axi
    cycles = [0]

    async def bench(ctx) -> None:
        ctx.set(dut.source, SOURCE)
        aw_queue = deque(writes)
        w_queue: deque[tuple[int, int, int]] = deque()
        aw_valid = w_valid = False
        flits: list[int] = []
        answers: list[tuple[int, int]] = []  # (due cycle, header flit)
        cycle = 0
        limit = 20 * sum(len(write.words) + 20 for write in writes) + 5000
        while aw_queue or aw_valid or w_queue or w_valid or scoreboard.bursts:
            cycle += 1
            assert cycle < limit, "the write path stopped making progress"
            if not aw_valid and aw_queue and rng.random() >= pause:
                write = aw_queue.popleft()
                burst = write.burst
                ctx.set(axi.awid, write.awid)
                ctx.set(axi.awaddr, burst.address)
                ctx.set(axi.awlen, burst.axlen)
                ctx.set(axi.awsize, burst.size)
                ctx.set(axi.awburst, burst.burst)
                aw_valid = True
                scoreboard.expect(write)
                for number, (word, strobe) in enumerate(zip(write.words, write.strobes,
                                                             strict=True)):
                    w_queue.append((word, strobe, int(number == burst.axlen)))
            ctx.set(axi.awvalid, aw_valid)
            if not w_valid and w_queue and rng.random() >= pause:
                word, strobe, last = w_queue.popleft()
                ctx.set(axi.wdata, word)
                ctx.set(axi.wstrb, strobe)
                ctx.set(axi.wlast, last)
                w_valid = True
            ctx.set(axi.wvalid, w_valid)
            request_ready = rng.random() >= pause
            ctx.set(dut.request.ready, request_ready)
            b_ready = rng.random() >= pause
            ctx.set(axi.bready, b_ready)
            due = [answer for answer in answers if answer[0] <= cycle]
            completion = due[0] if due else None
            ctx.set(dut.completion.valid, completion is not None)
            if completion is not None:
                ctx.set(dut.completion.payload, {"flit": completion[1], "last": 1})
                answers.remove(completion)
                scoreboard.completed(completion[1])
            # Handshakes of this cycle, from the settled outputs.
            aw_fire = aw_valid and ctx.get(axi.awready)
            w_fire = w_valid and ctx.get(axi.wready)
            request = None
            if request_ready and ctx.get(dut.request.valid):
                request = ctx.get(dut.request.payload)
            b = None
            if b_ready and ctx.get(axi.bvalid):
                b = (ctx.get(axi.bid), ctx.get(axi.bresp))
            await ctx.tick()
            aw_valid = aw_valid and not aw_fire
            w_valid = w_valid and not w_fire
            if request is not None:
                flits.append(request.flit)
                if request.last:
                    decoded = scoreboard.packet(flits)
                    flits = []
                    header = scoreboard.answer(decoded, rng.random() < error_rate)
                    answers.append((cycle + rng.randint(1, max_delay), header))
            if b is not None:
                scoreboard.response(b[0], b[1].value if hasattr(b[1], "value") else b[1])
        assert ctx.get(dut.stray_completions) == 0
        cycles[0] = cycle

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    scoreboard.assert_drained()
    scoreboard.cycles = cycles[0]
    return scoreboard


@pytest.mark.parametrize("data_bits", [32, 64, 128, 256, 512, 1024])
def test_random_bursts_match_reference(data_bits: int) -> None:
    params = ChipletParams(axi_data_bits=data_bits, outstanding_tags=8)
    rng = random.Random(data_bits)
    writes = [random_write(rng, data_bytes(params)) for _ in range(60)]
    scoreboard = run(params, writes, seed=data_bits)
    assert scoreboard.responses_checked == len(writes)
    assert scoreboard.packets_checked > len(writes)
    assert len(scoreboard.response_counts) == 3, scoreboard.response_counts
    missing = set(FEATURES) - set(scoreboard.features)
    assert not missing, f"the bursts never exercised {sorted(missing)}"


def test_tags_run_out_and_stall() -> None:
    """Two tags only, slow answers: the packetizer must wait for tags, never reuse one."""
    params = ChipletParams(axi_data_bits=64, outstanding_tags=2)
    rng = random.Random(7)
    writes = [random_write(rng, data_bytes(params)) for _ in range(25)]
    scoreboard = run(params, writes, seed=7, max_delay=80)
    assert scoreboard.most_tags_in_use == 2
    assert scoreboard.responses_checked == len(writes)


def test_one_id_answers_in_order_while_others_pass() -> None:
    """Slow answers to one AWID's first burst: its later bursts wait, another AWID's pass."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=8)
    full = (1 << 16) - 1
    writes = [WriteBurst(Burst(page * 4096, 1, 4, BurstType.INCR.value), awid, [page], [full])
              for page, awid in [(0, 1), (1, 1), (2, 2), (3, 1), (4, 2), (9, 1), (5, 2)]]
    scoreboard = run(params, writes, seed=3, max_delay=60, error_rate=0.3)
    assert scoreboard.responses_checked == len(writes)
    assert scoreboard.overtakes > 0


@pytest.mark.parametrize("config", [
    {"outstanding_tags": 1, "axi_data_bits": 64},
    {"axi_address_bits": 32, "axi_id_bits": 1, "outstanding_tags": 3, "axi_data_bits": 256},
    {"axi_address_bits": 64, "outstanding_tags": 64, "axi_data_bits": 32},
], ids=["one-tag", "32-bit-addresses-one-id-bit", "64-bit-addresses-64-tags"])
def test_parameter_edges(config: dict) -> None:
    """One tag; no room for extension flits and a 1-bit AWID; the widest addresses and every
    tag a write may have."""
    params = ChipletParams(**config)
    rng = random.Random(11)
    writes = [random_write(rng, data_bytes(params), min(4, 1 << params.axi_id_bits))
              for _ in range(30)]
    scoreboard = run(params, writes, seed=11)
    assert scoreboard.responses_checked == len(writes)
    assert len(scoreboard.response_counts) == 3, scoreboard.response_counts


def test_stray_completion_is_counted_and_dropped() -> None:
    """A completion whose tag is not in use is counted and answers nothing (no BRESP)."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    dut = WritePath(write_test_windows(params))
    stray = WriteScoreboard.answer(
        decode_request(request_packet(Piece(0x40000, 16, (0,), bytes(16)), 1, SOURCE, 2)),
        False)

    async def bench(ctx) -> None:
        ctx.set(dut.completion.payload, {"flit": stray, "last": 1})
        ctx.set(dut.completion.valid, 1)
        await ctx.tick()
        ctx.set(dut.completion.valid, 0)
        for _ in range(5):
            await ctx.tick()
            assert not ctx.get(dut.s_axi.bvalid)
        assert ctx.get(dut.stray_completions) == 1

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
