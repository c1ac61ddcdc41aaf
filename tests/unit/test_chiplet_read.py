"""The chiplet's read path (packetizer, tag pool, read responses) in Amaranth's simulator.

Random read bursts of every type, size and length, in and out of the address windows; a far
side that answers each request after a random delay (out of order across tags), some with
ERROR_RESPONSE, its completions arriving a flit per cycle with random gaps; random
back-pressure on AR, R and the request stream. Every request packet is compared bit for bit
with ``emulator.ref.chiplet`` and every R beat with the reference's data and RRESP, in order
per ARID (``testbench.chiplet_read``).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from amaranth.sim import Simulator

from emulator.ref.axi import Burst
from emulator.ref.chiplet import Piece, decode_request, request_packet
from emulator.ref.framing import Packet
from hdl.chiplet.axi import BurstType, data_bytes
from hdl.chiplet.read_path import ReadPath
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.layouts import HEADER_BODY, unpack
from hdl.params import ChipletParams
from testbench.chiplet_read import (
    FarMemory,
    ReadBurst,
    ReadScoreboard,
    random_read,
    random_short_read,
)
from testbench.chiplet_write import SOURCE, write_test_windows

#: What the random bursts must exercise (``ReadScoreboard.features``).
FEATURES = ("FIXED", "INCR", "WRAP", "decerr", "window", "narrow", "unaligned", "cut at 256",
            "256 bytes", "extension")


#: A far side's delay for a piece: (burst, piece number) -> cycles from request to answer.
Delay = Callable[[ReadBurst, int], int]


@dataclass
class Timeline:
    """When each burst was taken on AR and when its RLAST beat left, by ARID, in order."""

    ar: dict[int, list[int]] = field(default_factory=dict)
    rlast: dict[int, list[int]] = field(default_factory=dict)

    def latencies(self, arid: int) -> list[int]:
        """Cycles from each burst's AR handshake to its RLAST handshake (per ARID, in order)."""
        return [end - start for start, end in
                zip(self.ar[arid], self.rlast[arid], strict=True)]


def run(params: ChipletParams, reads: list[ReadBurst], seed: int, pause: float = 0.3,
        error_rate: float = 0.15, max_delay: int = 30, gap: float = 0.2,
        delay: Delay | None = None, timeline: Timeline | None = None) -> ReadScoreboard:
    """Issue ``reads`` on AR and check everything against the reference. The far side answers
    a request ``delay(burst, piece)`` cycles after it, or a random 1 to ``max_delay``."""
    rng = random.Random(seed)
    address_map = write_test_windows(params)
    dut = ReadPath(address_map)
    scoreboard = ReadScoreboard(address_map, FarMemory(random.Random(seed + 1)))
    axi = dut.s_axi

    async def bench(ctx) -> None:
        ctx.set(dut.source, SOURCE)
        ar_queue = deque(reads)
        ar_valid = False
        flits: list[int] = []
        answers: list[tuple[int, Packet]] = []  # (due cycle, completion)
        delivering: deque[tuple[int, int]] = deque()  # (flit, last) of the completion under way
        header_next = True  # the next completion flit is a header
        cycle = 0
        limit = 30 * sum(read.burst.length + 20 for read in reads) + 5000
        while ar_queue or ar_valid or scoreboard.bursts:
            cycle += 1
            assert cycle < limit, "the read path stopped making progress"
            if not ar_valid and ar_queue and rng.random() >= pause:
                read = ar_queue.popleft()
                burst = read.burst
                ctx.set(axi.arid, read.arid)
                ctx.set(axi.araddr, burst.address)
                ctx.set(axi.arlen, burst.axlen)
                ctx.set(axi.arsize, burst.size)
                ctx.set(axi.arburst, burst.burst)
                ar_valid = True
                scoreboard.expect(read)
            ctx.set(axi.arvalid, ar_valid)
            request_ready = rng.random() >= pause
            ctx.set(dut.request.ready, request_ready)
            r_ready = rng.random() >= pause
            ctx.set(axi.rready, r_ready)
            # Completions, whole packets one after another, a flit per cycle with gaps.
            if not delivering:
                due = [answer for answer in answers if answer[0] <= cycle]
                if due:
                    answers.remove(due[0])
                    packet = due[0][1]
                    delivering.extend((flit, 0) for flit in (packet.header, *packet.payload))
                    delivering[-1] = (delivering[-1][0], 1)
            send_flit = bool(delivering) and rng.random() >= gap
            ctx.set(dut.completion.valid, send_flit)
            if send_flit:
                flit, last = delivering[0]
                ctx.set(dut.completion.payload, {"flit": flit, "last": last})
            # Handshakes of this cycle, from the settled outputs.
            ar_fire = ar_valid and ctx.get(axi.arready)
            if ar_fire and timeline is not None:
                timeline.ar.setdefault(ctx.get(axi.arid), []).append(cycle)
            request = None
            if request_ready and ctx.get(dut.request.valid):
                request = ctx.get(dut.request.payload)
            r_beat = None
            if ctx.get(axi.rvalid):
                rid = ctx.get(axi.rid)
                scoreboard.presented(rid)
                if r_ready:
                    rresp = ctx.get(axi.rresp)
                    r_beat = (rid, ctx.get(axi.rdata), getattr(rresp, "value", rresp),
                              ctx.get(axi.rlast))
            if send_flit:
                assert ctx.get(dut.completion.ready), "a completion flit was refused"
                flit, last = delivering.popleft()
                if header_next:
                    scoreboard.completed(flit)
                header_next = bool(last)
            await ctx.tick()
            ar_valid = ar_valid and not ar_fire
            if request is not None:
                flits.append(request.flit)
                if request.last:
                    wait = rng.randint(1, max_delay) if delay is None \
                        else delay(*scoreboard.next_piece())
                    answer = scoreboard.packet(flits, rng.random() < error_rate)
                    flits = []
                    answers.append((cycle + wait, answer))
            if r_beat is not None:
                scoreboard.beat(*r_beat)
                if r_beat[3] and timeline is not None:
                    timeline.rlast.setdefault(r_beat[0], []).append(cycle)
        assert ctx.get(dut.stray_completions) == 0
        scoreboard.cycles = cycle

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    scoreboard.assert_drained()
    return scoreboard


def check_all_seen(scoreboard: ReadScoreboard) -> None:
    assert len(scoreboard.response_counts) == 3, scoreboard.response_counts
    missing = set(FEATURES) - set(scoreboard.features)
    assert not missing, f"the bursts never exercised {sorted(missing)}"


@pytest.mark.parametrize("data_bits", [32, 128, 512, 1024])
def test_random_bursts_match_reference(data_bits: int) -> None:
    params = ChipletParams(axi_data_bits=data_bits, outstanding_tags=8)
    rng = random.Random(data_bits)
    reads = [random_read(rng, data_bytes(params)) for _ in range(50)]
    scoreboard = run(params, reads, seed=data_bits)
    assert scoreboard.bursts_checked == len(reads)
    assert scoreboard.packets_checked > len(reads)
    assert scoreboard.most_tags_in_use == params.outstanding_tags
    assert scoreboard.out_of_order > 0
    assert scoreboard.overtakes > 0  # bursts of one ARID pass those of another
    check_all_seen(scoreboard)


@pytest.mark.parametrize("data_bits", [32, 128])
def test_short_narrow_bursts(data_bits: int) -> None:
    """Narrow bursts of a few beats: pieces start and end inside a flit row, so completions
    leave bytes after their last flit, and packets follow each other at other offsets."""
    params = ChipletParams(axi_data_bits=data_bits, outstanding_tags=8)
    rng = random.Random(data_bits + 1)
    reads = [random_short_read(rng, data_bytes(params)) for _ in range(150)]
    scoreboard = run(params, reads, seed=data_bits + 1)
    assert scoreboard.bursts_checked == len(reads)
    assert scoreboard.features["spill"] >= 20, scoreboard.features


def test_tags_run_out_and_stall() -> None:
    """Two tags only, slow answers, long bursts: headers wait for tags, none is reused early."""
    params = ChipletParams(axi_data_bits=64, outstanding_tags=2)
    rng = random.Random(7)
    reads = [random_read(rng, data_bytes(params)) for _ in range(25)]
    scoreboard = run(params, reads, seed=7, max_delay=80)
    assert scoreboard.most_tags_in_use == 2
    assert scoreboard.bursts_checked == len(reads)


def test_one_id_keeps_order_behind_a_slow_burst() -> None:
    """Many short bursts of two ARIDs, answers slow and out of order: each ARID's beats stay in
    AR order, and the data of every packet reach the right beat."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=16)
    reads = [ReadBurst(Burst(page * 4096 + 16 * number, 1 + number % 3, 4, BurstType.INCR.value),
                       number % 2)
             for number, page in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14] * 2)]
    scoreboard = run(params, reads, seed=3, max_delay=60, error_rate=0.3, pause=0.0)
    assert scoreboard.bursts_checked == len(reads)
    assert scoreboard.most_tags_in_use > 8
    assert scoreboard.out_of_order > 0


#: The slow burst's second piece is answered this late; every other piece after FAST cycles.
HELD_BACK = 300
FAST = 5
#: On a 128-bit bus: 16 bytes, then a 256-byte block (its second piece is the one held back);
#: the other burst reads 1 KiB (four pieces) from another page.
SLOW_READ = Burst(0x1F0, 17, 4, BurstType.INCR.value)
OTHER_READ = Burst(0x2000, 64, 4, BurstType.INCR.value)


def slow_second_piece(read: ReadBurst, piece: int) -> int:
    return HELD_BACK if read.burst == SLOW_READ and piece == 1 else FAST


def latency_behind_slow_burst(slow_arid: int | None) -> tuple[int, ReadScoreboard]:
    """AR-to-RLAST cycles of ``OTHER_READ`` on ARID 1, issued alone (``slow_arid`` None) or
    right after ``SLOW_READ`` on ARID ``slow_arid``; no back-pressure, no gaps."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=8)
    other = ReadBurst(OTHER_READ, 1)
    reads = [other] if slow_arid is None else [ReadBurst(SLOW_READ, slow_arid), other]
    timeline = Timeline()
    scoreboard = run(params, reads, seed=5, pause=0, error_rate=0, gap=0,
                     delay=slow_second_piece, timeline=timeline)
    assert scoreboard.bursts_checked == len(reads)
    return timeline.latencies(1)[-1], scoreboard


def test_a_slow_burst_does_not_delay_another_arid() -> None:
    """A burst whose second piece is answered 300 cycles late holds back nothing of another
    ARID: that ARID's burst returns its data as fast as when it is alone, its beats coming
    between the slow burst's first piece and its second."""
    alone, _ = latency_behind_slow_burst(None)
    behind, scoreboard = latency_behind_slow_burst(slow_arid=0)
    print(f"ARID 1, 1 KiB, AR to RLAST: {alone} cycles alone, {behind} cycles with ARID 0's "
          f"burst held back {HELD_BACK} cycles before it")
    assert abs(behind - alone) <= 3, (alone, behind)
    assert behind < HELD_BACK
    assert scoreboard.overtakes == 1 and scoreboard.interleaved >= 1, scoreboard


def test_a_slow_burst_holds_back_its_own_arid() -> None:
    """The same, with both bursts on one ARID: the younger burst's data wait for the older
    burst's last piece, so the ARID's bursts finish in AR order."""
    alone, _ = latency_behind_slow_burst(None)
    behind, scoreboard = latency_behind_slow_burst(slow_arid=1)
    print(f"ARID 1, 1 KiB, AR to RLAST: {alone} cycles alone, {behind} cycles behind its own "
          f"ARID's burst held back {HELD_BACK} cycles")
    assert behind > HELD_BACK, (alone, behind)
    assert scoreboard.overtakes == 0 and scoreboard.interleaved == 0, scoreboard


@pytest.mark.parametrize("config", [
    {"outstanding_tags": 1, "axi_data_bits": 64},
    {"axi_address_bits": 32, "axi_id_bits": 1, "outstanding_tags": 3, "axi_data_bits": 256},
    {"axi_address_bits": 64, "outstanding_tags": 64, "axi_data_bits": 32},
], ids=["one-tag", "32-bit-addresses-one-id-bit", "64-bit-addresses-64-tags"])
def test_parameter_edges(config: dict) -> None:
    """One tag; no room for extension flits and a 1-bit ARID; the widest addresses and every
    tag a read may have."""
    params = ChipletParams(**config)
    rng = random.Random(11)
    reads = [random_read(rng, data_bytes(params), min(4, 1 << params.axi_id_bits))
             for _ in range(30)]
    scoreboard = run(params, reads, seed=11)
    assert scoreboard.bursts_checked == len(reads)
    assert len(scoreboard.response_counts) == 3, scoreboard.response_counts
    assert ("extension" in scoreboard.features) == (params.axi_address_bits > 40)


def test_stray_completions_are_counted_and_dropped() -> None:
    """While a read waits for tag 0, completions for tag 0 without the read flag, for a pool
    index that aliases tag 0 in the RTL's tag bits, for a tag with no request out, and one
    whose data flit looks like a header, are counted and dropped; then the real completion
    answers the read."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=3)
    address_map = write_test_windows(params)
    dut = ReadPath(address_map)
    memory = FarMemory(random.Random(1))
    burst = Burst(0x40, 1, 4, BurstType.INCR.value)
    scoreboard = ReadScoreboard(address_map, memory)
    scoreboard.expect(ReadBurst(burst, 1))

    def answer(tag: int, size: int = 16) -> Packet:
        request = decode_request(request_packet(Piece(0x40040, size, (0,)), 1, SOURCE, tag))
        return memory.answer(request, error=False)

    looks_like_header = answer(READ_TAG_FLAG | 1).header  # tag 1 has no request out either
    strays = [answer(0), answer(READ_TAG_FLAG | 4), answer(READ_TAG_FLAG | 2, 32),
              Packet(answer(READ_TAG_FLAG | 2).header, (looks_like_header,))]

    async def bench(ctx) -> None:
        ctx.set(dut.source, SOURCE)
        ctx.set(dut.s_axi.araddr, burst.address)
        ctx.set(dut.s_axi.arsize, burst.size)
        ctx.set(dut.s_axi.arburst, burst.burst)
        ctx.set(dut.s_axi.arid, 1)
        ctx.set(dut.s_axi.arvalid, 1)
        await ctx.tick().until(dut.s_axi.arready)
        ctx.set(dut.s_axi.arvalid, 0)
        ctx.set(dut.request.ready, 1)
        (request,) = await ctx.tick().sample(dut.request.payload).until(dut.request.valid)
        real = scoreboard.packet([request.flit], error=False)
        assert unpack(HEADER_BODY, real.header).message.transaction.tag == READ_TAG_FLAG
        for packet in [*strays, real]:
            flits = (packet.header, *packet.payload)
            for number, flit in enumerate(flits):
                ctx.set(dut.completion.payload, {"flit": flit, "last": number == len(flits) - 1})
                ctx.set(dut.completion.valid, 1)
                await ctx.tick()
                assert not ctx.get(dut.s_axi.rvalid)
        scoreboard.completed(real.header)
        ctx.set(dut.completion.valid, 0)
        ctx.set(dut.s_axi.rready, 1)
        rid, rdata, rresp, rlast = await ctx.tick().sample(
            dut.s_axi.rid, dut.s_axi.rdata, dut.s_axi.rresp, dut.s_axi.rlast).until(
            dut.s_axi.rvalid)
        scoreboard.presented(rid)
        scoreboard.beat(rid, rdata, rresp.value, rlast)
        assert ctx.get(dut.stray_completions) == len(strays)

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    scoreboard.assert_drained()
