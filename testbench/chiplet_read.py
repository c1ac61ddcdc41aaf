"""Stimulus, far side and scoreboard for the chiplet's read path.

The scoreboard checks the RTL against :mod:`emulator.ref.chiplet`: each request packet must be
bit for bit the reference's packet for the next piece of the bursts in AR order (with the tag
the RTL chose, which must not be in use), and each R beat must be the next beat of the oldest
unfinished burst of its ARID, with the reference's RRESP and data: DECERR for a burst in no
window, SLVERR when its piece got ``ERROR_RESPONSE``, else OKAY with the far memory's bytes on
the active lanes; every other lane, and every lane of an error beat, zero. Order is checked
per ARID only, as AXI4 asks: bursts of different ARIDs may finish in any order and their beats
may interleave (counted in ``overtakes`` and ``interleaved``).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field

from emulator.ref.axi import PAGE_BYTES, Beat, Burst, beats
from emulator.ref.chiplet import (
    FLIT_BYTES,
    HEADER_ADDRESS_BITS,
    AddressMap,
    Piece,
    Request,
    completion,
    decode_request,
    request_packet,
    split,
)
from emulator.ref.framing import Packet
from hdl.chiplet.axi import BurstType, Response
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.layouts import HEADER_BODY, MAX_DATA_BYTES, Command, unpack

from .chiplet_write import PAGES, SOURCE


@dataclass(frozen=True)
class ReadBurst:
    """One read burst as the manager sends it."""

    burst: Burst
    arid: int


def random_read(rng: random.Random, bus_bytes: int, arid_count: int = 4) -> ReadBurst:
    """A legal read burst on a random page of :data:`PAGES` (two windows and a gap): any type
    and size, any start the type allows, INCR of up to 256 beats."""
    base = rng.choice(PAGES) * PAGE_BYTES
    kind = rng.choice([BurstType.FIXED, BurstType.INCR, BurstType.INCR, BurstType.WRAP]).value
    size = rng.choice([rng.randint(0, bus_bytes.bit_length() - 1), bus_bytes.bit_length() - 1])
    if kind == BurstType.FIXED.value:
        burst = Burst(base + rng.randrange(PAGE_BYTES), rng.randint(1, 16), size, kind)
    elif kind == BurstType.WRAP.value:
        burst = Burst(base + (rng.randrange(PAGE_BYTES >> size) << size),
                      rng.choice([2, 4, 8, 16]), size, kind)
    else:
        offset = rng.choice([0, rng.randrange(PAGE_BYTES)])
        room = (PAGE_BYTES - (offset >> size << size)) >> size
        length = rng.choice([1, rng.randint(1, min(room, 256)), min(room, 256)])
        burst = Burst(base + offset, min(length, room), size, kind)
    return ReadBurst(burst, rng.randrange(arid_count))


def random_short_read(rng: random.Random, bus_bytes: int, arid_count: int = 4) -> ReadBurst:
    """A narrow read burst of up to 8-byte beats and a few beats, any type and start: its
    pieces often start and end inside a 16-byte flit row."""
    base = rng.choice(PAGES) * PAGE_BYTES
    kind = rng.choice([BurstType.FIXED, BurstType.WRAP] + [BurstType.INCR] * 3).value
    size = rng.randint(0, min(3, bus_bytes.bit_length() - 1))
    if kind == BurstType.WRAP.value:
        burst = Burst(base + (rng.randrange(PAGE_BYTES >> size) << size),
                      rng.choice([2, 4, 8, 16]), size, kind)
    else:
        offset = rng.randrange(PAGE_BYTES - 64 * 8)
        burst = Burst(base + offset, rng.randint(1, 16 if kind == BurstType.FIXED.value else 40),
                      size, kind)
    return ReadBurst(burst, rng.randrange(arid_count))


class FarMemory:
    """The far side's memories: a random byte at every (endpoint, remote address), drawn the
    first time it is read and the same ever after."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.contents: dict[tuple[int, int], int] = {}

    def byte(self, destination: int, address: int) -> int:
        key = (destination, address)
        if key not in self.contents:
            self.contents[key] = self.rng.getrandbits(8)
        return self.contents[key]

    def answer(self, request: Request, error: bool) -> Packet:
        """The far side's completion of ``request``: its bytes, or ``ERROR_RESPONSE``."""
        if error:
            return completion(request, Command.ERROR_RESPONSE)
        data = bytes(self.byte(request.destination, request.remote_address + offset)
                     for offset in range(request.byte_count))
        return completion(request, Command.READ_RESPONSE, data)


@dataclass
class _Sent:
    """A request packet the RTL sent, and what became of it."""

    flits: list[int]
    tag: int
    serial: int  # packets sent before it
    request: Request | None = None
    failed: bool | None = None  # decided by the far side
    answered: bool = False  # its completion was delivered
    released: bool = False  # its last beat has been on R


@dataclass
class _Expected:
    read: ReadBurst
    beats: list[Beat]
    pieces: list[Piece]
    piece_of_beat: list[int]
    destination: int
    offset: int  # remote minus global address
    decerr: bool
    sent: list[_Sent] = field(default_factory=list)
    to_match: int = 0  # pieces matched with sent packets
    next_beat: int = 0


@dataclass
class ReadScoreboard:
    """Checks request packets and R beats against the reference."""

    address_map: AddressMap
    memory: FarMemory
    source: int = SOURCE
    bursts: deque[_Expected] = field(default_factory=deque)  # in AR order, beats left
    to_send: deque[_Expected] = field(default_factory=deque)  # with pieces left to match
    in_use: dict[int, _Sent] = field(default_factory=dict)  # by header tag
    packets_checked: int = 0
    beats_checked: int = 0
    bursts_checked: int = 0
    response_counts: Counter[Response] = field(default_factory=Counter)
    most_tags_in_use: int = 0
    overtakes: int = 0  # bursts finished before an older one of another ARID
    interleaved: int = 0  # times R went from a burst with beats left to another burst
    out_of_order: int = 0  # completions that came before that of an older packet
    features: Counter[str] = field(default_factory=Counter)  # what the bursts exercised
    _open: _Expected | None = None  # the burst of the last beat, if it has beats left

    @property
    def bus_bytes(self) -> int:
        return self.address_map.params.axi_data_bits // 8

    def expect(self, read: ReadBurst) -> None:
        """A burst the manager issued (call in AR order)."""
        burst = read.burst
        translation = self.address_map.lookup(burst.address)
        pieces: list[Piece] = []
        destination = offset = 0
        if translation is not None:
            pieces = split(burst, self.bus_bytes, translation.remote_address)
            destination = translation.destination
            offset = translation.remote_address - burst.address
        piece_of_beat = [0] * burst.length
        for index, piece in enumerate(pieces):
            for number in piece.beats:
                piece_of_beat[number] = index
        expected = _Expected(read, beats(burst, self.bus_bytes), pieces, piece_of_beat,
                             destination, offset, translation is None)
        self.bursts.append(expected)
        if pieces:
            self.to_send.append(expected)
        self.features.update([burst.kind.name, "decerr" if translation is None else "window"])
        self.features.update(["narrow"] * (burst.number_bytes < self.bus_bytes)
                             + ["unaligned"] * (burst.address % burst.number_bytes != 0))
        for first, second in zip(pieces, pieces[1:], strict=False):
            if (first.remote_address + first.byte_count == second.remote_address
                    and second.remote_address % MAX_DATA_BYTES == 0):
                self.features["cut at 256"] += 1
        for piece in pieces:
            # Its bytes reach one 16-byte row more than its data flits fill.
            rows = (piece.remote_address % FLIT_BYTES + piece.byte_count - 1) // FLIT_BYTES + 1
            self.features.update(["spill"] * (rows > -(-piece.byte_count // FLIT_BYTES)))
            self.features.update(["256 bytes"] * (piece.byte_count == MAX_DATA_BYTES)
                                 + ["extension"] * (piece.remote_address >> HEADER_ADDRESS_BITS
                                                    != 0))

    def next_piece(self) -> tuple[ReadBurst, int]:
        """The burst, and the number of its piece, that the next request packet must carry."""
        assert self.to_send, "no burst has a packet left to send"
        expected = self.to_send[0]
        return expected.read, expected.to_match

    def packet(self, flits: list[int], error: bool) -> Packet:
        """A request packet the RTL sent (header flit first); returns the far side's
        completion, ``ERROR_RESPONSE`` when ``error``."""
        header = flits[0]
        assert not header >> HEADER_BODY.size, f"header flit {header:#x} has bits above the body"
        fields = unpack(HEADER_BODY, header)
        assert fields.link.length == len(flits) - 1, (
            f"header says {fields.link.length} payload flits, {len(flits) - 1} came")
        tag = fields.message.transaction.tag
        assert tag & READ_TAG_FLAG, f"read request tag {tag:#x} lacks READ_TAG_FLAG"
        assert tag not in self.in_use, f"tag {tag:#x} handed out while still in use"
        assert self.to_send, f"packet {[hex(flit) for flit in flits]} sent for no burst"
        sent = _Sent(flits, tag, self.packets_checked)
        self.in_use[tag] = sent
        self.most_tags_in_use = max(self.most_tags_in_use, len(self.in_use))
        expected = self.to_send[0]
        piece = expected.pieces[expected.to_match]
        expected.to_match += 1
        if expected.to_match == len(expected.pieces):
            self.to_send.popleft()
        reference = request_packet(piece, expected.destination, self.source, tag)
        assert Packet(header, tuple(flits[1:])) == reference, (
            f"packet for {expected.read.burst} piece at {piece.remote_address:#x} "
            f"({piece.byte_count} bytes) differs from the reference:\n"
            f"  got       {[hex(flit) for flit in flits]}\n"
            f"  reference {[hex(reference.header)] + [hex(f) for f in reference.payload]}")
        expected.sent.append(sent)
        self.packets_checked += 1
        sent.request = decode_request(reference)
        sent.failed = error
        return self.memory.answer(sent.request, error)

    def completed(self, header: int) -> None:
        """The RTL took the completion whose header flit is ``header``."""
        tag = unpack(HEADER_BODY, header).message.transaction.tag
        sent = self.in_use[tag]
        sent.answered = True
        self.out_of_order += any(not other.answered for other in self.in_use.values()
                                 if other.serial < sent.serial)

    def _next(self, rid: int) -> _Expected:
        for item in self.bursts:
            if item.read.arid == rid:
                return item
        raise AssertionError(f"R beat for ARID {rid}, which has no burst outstanding")

    def presented(self, rid: int) -> None:
        """An R beat is valid (taken or not): a piece whose last beat it is has been read out,
        so its tag may be handed out again from now on."""
        expected = self._next(rid)
        if expected.decerr:
            return
        index = expected.piece_of_beat[expected.next_beat]
        if index < len(expected.sent) and expected.pieces[index].beats[-1] == expected.next_beat:
            sent = expected.sent[index]
            if not sent.released and sent.answered:
                sent.released = True
                del self.in_use[sent.tag]

    def beat(self, rid: int, rdata: int, rresp: int, rlast: int) -> None:
        """An R beat the RTL sent (valid and ready)."""
        expected = self._next(rid)
        number = expected.next_beat
        burst = expected.read.burst
        where = f"{burst} ARID {rid} beat {number}"
        if expected.decerr:
            response, word = Response.DECERR, 0
        else:
            index = expected.piece_of_beat[number]
            assert index < len(expected.sent), f"{where} returned before its packet was sent"
            sent = expected.sent[index]
            assert sent.answered, f"{where} returned before its packet was answered"
            if sent.failed:
                response, word = Response.SLVERR, 0
            else:
                response, word = Response.OKAY, 0
                beat = expected.beats[number]
                for address in beat.byte_addresses:
                    value = self.memory.byte(expected.destination, address + expected.offset)
                    word |= value << (8 * (address % self.bus_bytes))
        assert Response(rresp) == response, (
            f"{where}: RRESP {Response(rresp).name}, reference {response.name}")
        assert rdata == word, f"{where}: RDATA {rdata:#x}, reference {word:#x}"
        assert rlast == (number == burst.length - 1), f"{where}: RLAST {rlast}"
        self.beats_checked += 1
        self.response_counts[response] += 1
        self.interleaved += self._open is not None and self._open is not expected
        expected.next_beat += 1
        self._open = expected if expected.next_beat < burst.length else None
        if expected.next_beat == burst.length:
            self.overtakes += expected is not self.bursts[0]
            self.bursts.remove(expected)
            self.bursts_checked += 1

    def assert_drained(self) -> None:
        assert not self.bursts, f"{len(self.bursts)} bursts never finished"
        assert not self.to_send, f"{len(self.to_send)} bursts with packets never sent"
        assert not self.in_use, f"tags {sorted(self.in_use)} never released"
