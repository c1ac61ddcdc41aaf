"""The chiplet's far side (``Responder``, with the ``DuplicateFilter`` it uses: the test top
``testbench.chiplet_responder.FarSide``) in Amaranth's simulator.

Random READ and WRITE requests (1 to 256 bytes, unaligned, with and without byte enables,
with address-extension flits, some beyond ``memory_bytes``) against an AXI4 memory model with
random back-pressure, latency and SLVERR answers, and random back-pressure on the completions:
every completion must be bit for bit the reference's (``emulator.ref.chiplet``), every burst
the reference's ``manager_burst`` and legal, the memory the reference's after the writes
(``testbench.chiplet_responder``). Also malformed and unsupported packets, duplicates (retries
and originals of WRITEs seen, keys naming no entry), the throughput of back-to-back requests
on one far side and on two sharing a filter, the latencies docs/chiplet.md states, and a
Verilator lint.
"""

from __future__ import annotations

import random
import subprocess
from collections import deque
from dataclasses import dataclass, field

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from emulator.ref.axi import ReferenceMemory
from emulator.ref.chiplet import Piece, Request, completion, request_packet
from emulator.ref.framing import Packet
from hdl.chiplet.axi import data_bytes
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_FLIT,
    HEADER_BODY,
    REQUEST_VC,
    Command,
    pack,
)
from hdl.lint import WAIVERS
from hdl.params import ChipletParams
from hdl.toolchain import verilator_binary
from testbench.chiplet_responder import (
    AR_FIELDS,
    AW_FIELDS,
    COUNTERS,
    HIGH_BASE,
    REGION_BYTES,
    W_FIELDS,
    AxiMemoryModel,
    Case,
    CompletionScoreboard,
    FarSide,
    RequestMaker,
    ResponderReference,
    flits,
    header_request,
    memory_size,
    read_preload,
    retried,
)

AXI_INPUTS = ("awready", "wready", "arready", "bvalid", "bid", "bresp", "rvalid", "rid",
              "rdata", "rresp", "rlast")


@dataclass
class Run:
    """What a simulation saw."""

    scoreboard: CompletionScoreboard
    axi: AxiMemoryModel
    cycles: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    request_cycles: list[int] = field(default_factory=list)  # cycles a request flit was taken
    header_cycles: list[int] = field(default_factory=list)  # ... a request header was taken
    completion_cycles: list[int] = field(default_factory=list)  # ... a completion flit left
    completion_header_valid: list[int] = field(default_factory=list)  # first cycle valid


def run(params: ChipletParams, cases: list[Case], memory_bytes: int, preload: dict[int, int],
        seed: int, pause: float = 0.3, latency: tuple[int, int] = (1, 20)) -> Run:
    """Send every case's packet, answer the bursts from a memory model, check completions."""
    rng = random.Random(seed)
    dut = FarSide(params)
    memory = ReferenceMemory(data_bytes(params))
    memory.contents.update(preload)
    writes = deque((case.burst, case.fail) for case in cases
                   if case.burst is not None and not case.is_read)
    reads = deque((case.burst, case.fail) for case in cases if case.is_read)
    axi = AxiMemoryModel(params, memory, writes, reads, rng, pause, latency)
    result = Run(CompletionScoreboard(cases), axi)
    scoreboard = result.scoreboard
    stream = [(flit, index == len(case.flits) - 1, index == 0)
              for case in cases for index, flit in enumerate(case.flits)]
    port = dut.m_axi
    inputs = {name: getattr(port, name) for name in AXI_INPUTS}
    fields = {"aw": AW_FIELDS, "w": W_FIELDS, "ar": AR_FIELDS}

    async def bench(ctx) -> None:
        ctx.set(dut.memory_bytes, memory_bytes)
        driven: dict[str, int] = {}
        position = 0
        valid = False
        header_waiting = False  # a completion header is valid and not yet taken
        idle = 0
        cycle = 0
        limit = 60 * len(stream) + 2000
        while idle < 40:
            assert cycle < limit, "the responder stopped making progress"
            if not valid and position < len(stream) and rng.random() >= pause:
                valid = True
                flit, last, _ = stream[position]
                ctx.set(dut.request.payload, {"flit": flit, "last": last})
            ctx.set(dut.request.valid, valid)
            completion_ready = rng.random() >= pause
            ctx.set(dut.completion.ready, completion_ready)
            for name, value in axi.drive().items():
                if driven.get(name) != value:
                    ctx.set(inputs[name], value)
                    driven[name] = value
            # The design's outputs in this cycle.
            taken = valid and ctx.get(dut.request.ready)
            out = {name: ctx.get(getattr(port, name))
                   for name in ("awvalid", "wvalid", "arvalid", "bready", "rready")}
            for channel, names in fields.items():
                if out[f"{channel}valid"]:
                    out.update((name, ctx.get(getattr(port, name))) for name in names)
            completion = None
            if ctx.get(dut.completion.valid):
                if not scoreboard.flits and not header_waiting:
                    result.completion_header_valid.append(cycle)
                    header_waiting = True
                if completion_ready:
                    completion = ctx.get(dut.completion.payload)
            axi.observe(out)
            if taken:
                result.request_cycles.append(cycle)
                if stream[position][2]:
                    result.header_cycles.append(cycle)
                position += 1
                valid = False
            if completion is not None:
                result.completion_cycles.append(cycle)
                header_waiting = False
                scoreboard.flit(completion.flit, bool(completion.last))
            busy = position < len(stream) or valid or scoreboard.expected
            idle = 0 if busy else idle + 1
            cycle += 1
            await ctx.tick()
        result.cycles = cycle
        result.counters = {name: ctx.get(getattr(dut, name)) for name in COUNTERS}

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    scoreboard.assert_drained()
    axi.assert_drained()
    return result


def random_cases(params: ChipletParams, count: int, seed: int
                 ) -> tuple[list[Case], ResponderReference, dict[int, int]]:
    rng = random.Random(seed)
    preload = read_preload(rng, params)
    reference = ResponderReference(params, memory_size(params), preload)
    maker = RequestMaker(params, rng)
    cases = [reference.case(*maker.packet()) for _ in range(count)]
    return cases, reference, preload


def check_random(params: ChipletParams, count: int, seed: int) -> Run:
    cases, reference, preload = random_cases(params, count, seed)
    result = run(params, cases, memory_size(params), preload, seed)
    assert result.scoreboard.checked == count
    assert result.axi.memory.contents == reference.memory.contents, "memory differs"
    refused = sum(case.burst is None for case in cases)
    assert result.counters == {"refused_requests": refused, "unsupported": 0, "duplicates": 0}
    return result


def features(cases: list[Case]) -> set[str]:
    """What the carried-out requests exercised."""
    seen = set()
    for case in cases:
        header = Packet(case.flits[0], tuple(case.flits[1:])).fields
        transaction = header.message.transaction
        if case.burst is None:
            seen.add("refused")
            continue
        seen.add("fail" if case.fail else "ok")
        seen.add(case.channel)
        seen.update({"extension"} if transaction.has_address_extension else set())
        seen.update({"byte enables"} if transaction.has_byte_enable else set())
        seen.update({"unaligned"} if transaction.address % 16 else set())
        seen.update({"256 bytes"} if transaction.byte_count == 256 else set())
    return seen


@pytest.mark.parametrize("data_bits", [32, 128, 512, 1024])
def test_random_requests_match_reference(data_bits: int) -> None:
    params = ChipletParams(axi_data_bits=data_bits, outstanding_tags=4)
    count = 80
    cases, _, _ = random_cases(params, count, data_bits)
    missing = {"refused", "ok", "fail", "read", "write", "extension", "byte enables",
               "unaligned", "256 bytes"} - features(cases)
    assert not missing, f"the requests never exercised {sorted(missing)}"
    result = check_random(params, count, data_bits)
    commands = result.scoreboard.commands
    assert set(commands) == {Command.READ_RESPONSE, Command.WRITE_RESPONSE,
                             Command.ERROR_RESPONSE}, commands


@pytest.mark.parametrize("config", [
    {"axi_address_bits": 32, "outstanding_tags": 1, "axi_data_bits": 64},
    {"axi_address_bits": 64, "outstanding_tags": 2, "axi_data_bits": 256},
], ids=["32-bit-addresses-one-outstanding", "64-bit-addresses"])
def test_parameter_edges(config: dict) -> None:
    """One request outstanding per channel and no room above 40 address bits (extension
    requests are all beyond the address space); the widest addresses."""
    check_random(ChipletParams(**config), 40, 5)


def _packet(command: Command, payload: list[int], tag: int, length: int | None = None,
            **transaction: int) -> list[int]:
    """A request's flits, with a header built by hand (``length`` forces link.length)."""
    packet = Packet.build(payload, link={"vc": REQUEST_VC}, transaction={
        "command": command, "destination": 9, "source": 3, "tag": tag, **transaction})
    header = packet.header
    if length is not None:
        header = pack(HEADER_BODY, {"link": {"vc": REQUEST_VC, "length": length},
                                    "message": {"transaction": {
                                        "command": command, "destination": 9, "source": 3,
                                        "tag": tag, **transaction}}})
    return [header, *payload]


def _refusal(tag: int, address: int, byte_count: int) -> Packet:
    return completion(Request(Command.READ, 9, 3, tag, address, byte_count, None, None),
                      Command.ERROR_RESPONSE)


def test_malformed_and_unsupported_packets() -> None:
    """Refused (ERROR_RESPONSE, no burst): no bytes, too many, crossing a 256-byte block, a
    length that does not match, beyond the address space; ATOMIC_FETCH_ADD answered with
    ERROR_RESPONSE; posted writes and completions dropped. Good requests between them are
    carried out, so the decoder keeps its place."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    preload = {0x100 + n: n for n in range(32)}
    reference = ResponderReference(params, memory_size(params), preload)
    data = [0x0123456789ABCDEF0011223344556677, 0xFFEEDDCCBBAA99887766554433221100]
    good_write = request_packet(Piece(0x200, 20, (), bytes(range(20))), 9, 3, 0)
    good_read = request_packet(Piece(0x108, 24, ()), 9, 3, 101)
    extension = pack(ADDRESS_EXTENSION_FLIT, {"address_high": 1 << 10})
    cases = [
        Case(_packet(Command.WRITE, [], 1, address=0x40, byte_count=0), _refusal(1, 0x40, 0)),
        Case(_packet(Command.READ, [], 2, address=0x40, byte_count=300),
             _refusal(2, 0x40, 300)),
        reference.case(good_write),
        Case(_packet(Command.WRITE, data, 3, address=0xF0, byte_count=32),
             _refusal(3, 0xF0, 32)),  # crosses 0x100
        Case(_packet(Command.WRITE, data, 0x41, length=3, address=0x40, byte_count=32),
             _refusal(0x41, 0x40, 32)),  # says 3 payload flits, has 2
        Case(_packet(Command.READ, [extension], 5, address=0x40, byte_count=4,
                     has_address_extension=1), _refusal(5, 0x40, 4)),  # beyond 2^48
        Case(_packet(Command.ATOMIC_FETCH_ADD, data[:1], 6, address=0x40, byte_count=8),
             _refusal(6, 0x40, 8)),
        reference.case(good_read),
        Case(_packet(Command.POSTED_WRITE, data, 7, address=0x40, byte_count=32), None),
        Case(_packet(Command.READ_RESPONSE, data, 8, address=0x40, byte_count=32), None),
        Case(_packet(Command.REDUCE_WRITE, [], 10, address=0x40, byte_count=32), None),
        reference.case(request_packet(Piece(0x310, 16, (), bytes(16), 0x00FF), 9, 3, 0x42)),
        # A READ with a byte-enable flit: the enables are ignored, as the reference does.
        reference.case(Packet.build([pack(BYTE_ENABLE_FLIT, {"byte_enable": 5})],
                                    link={"vc": REQUEST_VC}, transaction={
                                        "command": Command.READ, "destination": 9,
                                        "source": 3, "tag": 103, "address": 0x104,
                                        "byte_count": 8, "has_byte_enable": 1})),
    ]
    result = run(params, cases, memory_size(params), preload, seed=1)
    assert result.scoreboard.checked == sum(case.answer is not None for case in cases)
    assert result.axi.memory.contents == reference.memory.contents
    assert result.counters == {"refused_requests": 5, "unsupported": 4, "duplicates": 0}


def test_duplicates_answered_with_the_recorded_outcome() -> None:
    """WRITEs known by their key (docs/chiplet.md, "Executing once"): retries of a WRITE that
    succeeded, failed (SLVERR) or was refused, each right behind it (so they wait while it is
    pending), are answered WRITE_RESPONSE, ERROR_RESPONSE, ERROR_RESPONSE without a burst;
    a retry naming another plane's key never seen is carried out, and its own retry is a
    duplicate; an original arriving after its retry is a duplicate; a retry's header tag is
    not its key; keys that name no entry (tag index beyond the tags, plane beyond the
    links) are refused; a READ retried is served again."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    reference = ResponderReference(params, memory_size(params))
    source = 3

    def write(address: int, tag: int) -> Packet:
        return request_packet(Piece(address, 40, (), bytes(range(tag, tag + 40))), 9, source,
                              tag)

    def refused(packet_flits: list[int]) -> Case:
        return reference.book.judge(packet_flits, lambda: Case(
            packet_flits, completion(header_request(packet_flits), Command.ERROR_RESPONSE)))

    succeeded, failed = write(0x200, 0), write(0x400, 1)
    no_bytes = _packet(Command.WRITE, [], 2, address=0x40, byte_count=0)
    later = write(0x600, 0x43)  # its retry comes first
    elsewhere = write(0x800, 0x10)  # never sent: only its retry, naming plane 1
    read = request_packet(Piece(0x140, 24, ()), 9, source, 0x80)
    cases = [
        reference.case(succeeded),
        reference.case(retried(succeeded, 0, 0, 0x20)),
        reference.case(failed, fail=True),
        reference.case(retried(failed, 0, 1, 0x21)),
        refused(no_bytes),
        refused(flits(retried(Packet(no_bytes[0]), 0, 2, 0x22))),
        reference.case(retried(later, 0, 0x43, 0x23)),
        reference.case(retried(elsewhere, 1, 0x01, 0x24)),
        reference.case(retried(elsewhere, 1, 0x01, 0x25)),
        reference.case(later),
        reference.case(write(0xA00, 0x07)),  # tag index 7: no entry
        reference.case(retried(write(0xC00, 0), 2, 0, 0x26)),  # plane 2: none
        reference.case(retried(write(0xC00, 0), 0, 0x09, 0x27)),  # index 9: none
        reference.case(read),
        reference.case(retried(read, 1, 0x85, 0x81)),
    ]
    duplicates = [case for case in cases if case.duplicate]
    assert [Packet(case.answer.header).fields.message.transaction.command
            for case in duplicates] == [Command.WRITE_RESPONSE, Command.ERROR_RESPONSE,
                                        Command.ERROR_RESPONSE, Command.WRITE_RESPONSE,
                                        Command.WRITE_RESPONSE]
    result = run(params, cases, memory_size(params), {}, seed=4, latency=(20, 40))
    assert result.scoreboard.checked == len(cases)
    assert result.axi.memory.contents == reference.memory.contents
    assert result.counters == {"refused_requests": 4, "unsupported": 0, "duplicates": 5}
    assert all(count == 1 for count in reference.book.carried_out.values())


def _stream_cases(params: ChipletParams, kind: str, count: int) -> list[Case]:
    reference = ResponderReference(params, memory_size(params))
    rng = random.Random(2)
    cases = []
    for number in range(count):
        address = (number % 32) * 2 * 256 + (256 if kind == "read" else 0)
        data = None if kind == "read" else rng.randbytes(256)
        # Each WRITE a key of its own: source and tag index.
        source, tag = divmod(number, params.outstanding_tags)
        packet = request_packet(Piece(address, 256, (), data), 1, 2 + source, tag)
        cases.append(reference.case(packet))
    return cases


def _busy(cycles: list[int]) -> float:
    """Fraction of the cycles from the first to the last event that had one."""
    return len(cycles) / (cycles[-1] - cycles[0] + 1)


THROUGHPUT_WIDTHS = [128, 512, 1024]
#: The memory's latency in the throughput tests: long enough that several bursts are out.
LATENCY = (40, 40)


@pytest.mark.parametrize("data_bits", THROUGHPUT_WIDTHS)
def test_back_to_back_writes_take_a_flit_per_cycle(data_bits: int) -> None:
    """256-byte WRITEs back to back, memory (B 41 cycles after the last W beat) and
    completions always ready: the request stream is taken in (nearly) every cycle, with
    several writes outstanding."""
    params = ChipletParams(axi_data_bits=data_bits, outstanding_tags=8)
    cases = _stream_cases(params, "write", 24)
    result = run(params, cases, memory_size(params), {}, seed=3, pause=0.0, latency=LATENCY)
    busy = _busy(result.request_cycles)
    print(f"{data_bits} bits: request stream busy {busy:.3f} of the cycles, "
          f"{result.axi.most_outstanding['aw']} writes outstanding at most")
    assert busy >= 0.99, busy
    assert result.axi.most_outstanding["aw"] >= 3


@pytest.mark.parametrize("data_bits", THROUGHPUT_WIDTHS)
def test_back_to_back_reads_send_a_flit_per_cycle(data_bits: int) -> None:
    """256-byte READs back to back, memory (R from 41 cycles after AR) and completions
    always ready: the completion stream sends a flit in (nearly) every cycle, with several
    reads outstanding."""
    params = ChipletParams(axi_data_bits=data_bits, outstanding_tags=8)
    cases = _stream_cases(params, "read", 24)
    result = run(params, cases, memory_size(params), {}, seed=3, pause=0.0, latency=LATENCY)
    busy = _busy(result.completion_cycles)
    print(f"{data_bits} bits: completion stream busy {busy:.3f} of the cycles, "
          f"{result.axi.most_outstanding['ar']} reads outstanding at most")
    assert busy >= 0.99, busy
    assert result.axi.most_outstanding["ar"] >= 3


def run_lanes_at_full_speed(params: ChipletParams, byte_count: int, count: int
                            ) -> list[list[int]]:
    """Two far sides sharing a filter, each sent ``count`` WRITEs of ``byte_count`` bytes of
    its own plane's keys back to back, memory (B 41 cycles late) and completions always
    ready; per far side, the cycles a request flit was taken."""
    dut = FarSide(params, 2)
    rng = random.Random(6)
    reference = ResponderReference(params, memory_size(params))
    streams, axis = [], []
    for lane in (0, 1):
        cases = []
        for number in range(count):
            source, tag = divmod(number, params.outstanding_tags)
            address = (2 * number + lane) * 256 % (REGION_BYTES - 256)
            piece = Piece(address, byte_count, (), rng.randbytes(byte_count))
            cases.append(reference.case(request_packet(piece, 1, 2 + source, tag), plane=lane))
        writes = deque((case.burst, case.fail) for case in cases)
        axis.append(AxiMemoryModel(params, ReferenceMemory(data_bytes(params)), writes,
                                   deque(), rng, 0.0, LATENCY))
        streams.append([(flit, index == len(case.flits) - 1)
                        for case in cases for index, flit in enumerate(case.flits)])
    taken: list[list[int]] = [[], []]

    async def bench(ctx) -> None:
        ctx.set(dut.memory_bytes, memory_size(params))
        positions = [0, 0]
        cycle = 0
        def busy() -> bool:
            return (any(axi.writes or axi.aw_waiting or axi.b_queue or axi.b_valid
                        for axi in axis)
                    or any(positions[lane] < len(streams[lane]) for lane in (0, 1)))

        while busy():
            assert cycle < 40 * count * 17, "the far sides stopped making progress"
            for lane in (0, 1):
                position, stream = positions[lane], streams[lane]
                valid = position < len(stream)
                if valid:
                    flit, last = stream[position]
                    ctx.set(dut.request[lane].payload, {"flit": flit, "last": last})
                ctx.set(dut.request[lane].valid, valid)
                ctx.set(dut.completion[lane].ready, 1)
                port = dut.m_axi[lane]
                for name, value in axis[lane].drive().items():
                    ctx.set(getattr(port, name), value)
            for lane in (0, 1):
                port = dut.m_axi[lane]
                out = {name: ctx.get(getattr(port, name))
                       for name in ("awvalid", "wvalid", "arvalid", "bready", "rready")}
                for channel, names in (("aw", AW_FIELDS), ("w", W_FIELDS)):
                    if out[f"{channel}valid"]:
                        out.update((name, ctx.get(getattr(port, name))) for name in names)
                if positions[lane] < len(streams[lane]) and ctx.get(dut.request[lane].ready):
                    taken[lane].append(cycle)
                    positions[lane] += 1
                axis[lane].observe(out)
            cycle += 1
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    return taken


@pytest.mark.parametrize("byte_count", [256, 16])
def test_two_far_sides_at_full_speed(byte_count: int) -> None:
    """Normal operation, each far side deciding its own plane's keys in its own bank of the
    shared filter: both take a request flit in every cycle, for 256-byte WRITEs (17 flits) as
    for 16-byte ones (2 flits: a decision every other cycle, a record as often; 64 writes
    outstanding, enough for B 41 cycles late)."""
    params = ChipletParams(axi_data_bits=512, outstanding_tags=64)
    taken = run_lanes_at_full_speed(params, byte_count, 24)
    busy = [_busy(cycles) for cycles in taken]
    print(f"{byte_count}-byte WRITEs: request streams busy {busy[0]:.3f}, {busy[1]:.3f}")
    assert min(busy) >= 0.99, busy


def test_latencies() -> None:
    """One request at a time, nothing back-pressured: the latencies docs/chiplet.md gives.
    AR is valid 1 cycle after the header is taken, AW 2 (the WRITE is decided in the cycle
    after, with its entry of the duplicate filter), one more for each option flit
    (extension, byte enables); the completion header is valid 1 cycle after B (the last R
    beat) is taken."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    reference = ResponderReference(params, memory_size(params))
    pieces = [Piece(0x40, 16, (), bytes(16)), Piece(0x140, 64, ()),
              Piece(HIGH_BASE, 16, (), bytes(16)), Piece(HIGH_BASE + 0x100, 64, ()),
              Piece(0x80, 16, (), bytes(16), 0xFF), Piece(HIGH_BASE, 16, (), bytes(16), 0xFF)]
    cases = [reference.case(request_packet(piece, 1, source, 0))
             for source, piece in enumerate(pieces)]
    timings = []
    for case in cases:
        result = run(params, [case], memory_size(params), {}, seed=1, pause=0.0,
                     latency=(3, 3))
        axi = result.axi
        address_valid = axi.first_valid["ar" if case.is_read else "aw"][0]
        response = axi.r_last_cycles[0] if case.is_read else axi.b_cycles[0]
        timings.append((address_valid - result.header_cycles[0],
                        result.completion_header_valid[0] - response))
    assert timings == [(2, 1), (1, 1), (3, 1), (2, 1), (3, 1), (4, 1)], timings


def test_verilog_lints_clean(tmp_path) -> None:
    """``verilator --lint-only -Wall`` with ``hdl/lint.vlt``: a far side with its filter, and
    two far sides sharing one with a bank that is neither's own (three links)."""
    tops = {"far_side": FarSide(ChipletParams(axi_data_bits=128, outstanding_tags=4)),
            "far_sides": FarSide(ChipletParams(axi_data_bits=32, outstanding_tags=1,
                                               axi_address_bits=32, links=3), 2)}
    for name, top in tops.items():
        path = tmp_path / f"{name}.v"
        path.write_text(verilog.convert(top, name=name))
        result = subprocess.run([str(verilator_binary()), "--lint-only", "-Wall", str(WAIVERS),
                                 str(path), "--top-module", name],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr


def test_checks_catch_flits_of_wrong_cases() -> None:
    """The scoreboard refuses a completion that differs from the reference's."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    reference = ResponderReference(params, memory_size(params))
    case = reference.case(request_packet(Piece(0x40, 16, (), bytes(16)), 1, 2, 0))
    scoreboard = CompletionScoreboard([case])
    wrong = flits(completion(Request(Command.WRITE, 1, 2, 0, 0x40, 16, None, None),
                             Command.ERROR_RESPONSE))
    with pytest.raises(AssertionError, match="differs from the reference"):
        scoreboard.flit(wrong[0], True)
