"""Stimulus and scoreboard for the chiplet's write path, shared by the unit and cocotb tests.

The scoreboard checks the RTL against :mod:`emulator.ref.chiplet`: each request packet must be
bit for bit the reference's packet for the next piece of the bursts in AW order (with the tag
the RTL chose, which must not be in use), and each BRESP must be the oldest unanswered burst
of its AWID, once all its packets are answered, with the reference's response code.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field

from emulator.ref.axi import PAGE_BYTES, Burst, beats
from emulator.ref.chiplet import (
    AddressMap,
    Piece,
    Request,
    Window,
    completion,
    decode_request,
    request_packet,
    split,
)
from emulator.ref.framing import Packet
from hdl.chiplet.axi import BurstType, Response
from hdl.layouts import BYTE_ENABLE_BITS, HEADER_BODY, MAX_DATA_BYTES, Command, unpack
from hdl.params import ChipletParams

#: Pages of the test address map: window A, a gap (DECERR), window B.
WINDOW_A_PAGES = range(0, 8)
GAP_PAGES = range(8, 11)
WINDOW_B_PAGES = range(11, 19)
PAGES = range(0, 19)
#: This chiplet's endpoint ID in the tests.
SOURCE = 5


def write_test_windows(params: ChipletParams) -> AddressMap:
    """Two windows with a gap between; B maps above the header's 40 address bits when the
    address space has room, so that packets carry an address extension flit."""
    high = 1 << 44 if params.axi_address_bits >= 46 else 0
    a = Window(WINDOW_A_PAGES.start * PAGE_BYTES, len(WINDOW_A_PAGES) * PAGE_BYTES, 1,
               0x40 * PAGE_BYTES)
    b = Window(WINDOW_B_PAGES.start * PAGE_BYTES, len(WINDOW_B_PAGES) * PAGE_BYTES, 1023,
               high + 3 * PAGE_BYTES)
    return AddressMap(params, [a, b])




@dataclass
class WriteBurst:
    """One write burst as the manager sends it."""

    burst: Burst
    awid: int
    words: list[int]
    strobes: list[int]


def random_write(rng: random.Random, bus_bytes: int, awid_count: int = 4) -> WriteBurst:
    """A legal write burst on a random page of :data:`PAGES`: any type, size and length, any
    start the type allows, strobes all active, random or none."""
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
    burst_beats = beats(burst, bus_bytes)
    style = rng.choice(["all", "all", "random", "none"])
    strobes = []
    for beat in burst_beats:
        chosen = {"all": beat.lanes, "none": 0,
                  "random": rng.getrandbits(bus_bytes) & beat.lanes}[style]
        if style == "random" and rng.random() < 0.3:
            chosen = beat.lanes
        strobes.append(chosen)
    return WriteBurst(burst, rng.randrange(awid_count),
                      [rng.getrandbits(8 * bus_bytes) for _ in burst_beats], strobes)


@dataclass
class _Sent:
    """A request packet the RTL sent, and what became of it."""

    flits: list[int]
    tag: int
    answered: bool = False
    failed: bool = False


@dataclass
class _Expected:
    write: WriteBurst
    pieces: deque[Piece]
    destination: int
    decerr: bool
    sent: list[_Sent] = field(default_factory=list)


@dataclass
class WriteScoreboard:
    """Checks request packets and write responses against the reference.

    Packets may be reported before their burst is (a monitor knows a burst whole only at
    WLAST, while its first packets may have left): they wait and are checked, in order, as
    the bursts arrive; every packet is checked before the response of its burst.
    """

    address_map: AddressMap
    source: int = SOURCE
    bursts: deque[_Expected] = field(default_factory=deque)  # in AW order, not yet responded
    to_send: deque[_Expected] = field(default_factory=deque)  # with pieces left to match
    unmatched: deque[_Sent] = field(default_factory=deque)  # packets with no burst yet
    in_use: dict[int, _Sent] = field(default_factory=dict)  # by tag
    packets_checked: int = 0
    responses_checked: int = 0
    response_counts: dict[Response, int] = field(default_factory=dict)
    most_tags_in_use: int = 0
    overtakes: int = 0  # responses that passed an older burst of another AWID
    features: Counter[str] = field(default_factory=Counter)  # what the bursts exercised

    @property
    def bus_bytes(self) -> int:
        return self.address_map.params.axi_data_bits // 8

    def expect(self, write: WriteBurst) -> None:
        """A burst the manager issued, with all its data (call in AW order)."""
        translation = self.address_map.lookup(write.burst.address)
        pieces: list[Piece] = []
        if translation is not None:
            pieces = split(write.burst, self.bus_bytes, translation.remote_address,
                           write.words, write.strobes)
        expected = _Expected(write, deque(pieces),
                             translation.destination if translation else 0, translation is None)
        self.bursts.append(expected)
        if pieces:
            self.to_send.append(expected)
        burst = write.burst
        self.features.update([burst.kind.name, "decerr" if translation is None else "window"])
        self.features.update(["narrow"] * (burst.number_bytes < self.bus_bytes)
                             + ["unaligned"] * (burst.address % burst.number_bytes != 0))
        for first, second in zip(pieces, pieces[1:], strict=False):
            if (first.remote_address + first.byte_count == second.remote_address
                    and second.remote_address % MAX_DATA_BYTES == BYTE_ENABLE_BITS):
                self.features["cut at 128"] += 1
        for piece in pieces:
            self.features.update(["byte enables"] * (piece.enables is not None)
                                 + ["256 bytes"] * (piece.byte_count == MAX_DATA_BYTES)
                                 + ["extension"] * (piece.remote_address >> 40 != 0))
        self._match()

    def packet(self, flits: list[int]) -> Request:
        """A request packet the RTL sent (header flit first); returns the request it makes,
        for the far side to answer."""
        header = flits[0]
        assert not header >> HEADER_BODY.size, f"header flit {header:#x} has bits above the body"
        fields = unpack(HEADER_BODY, header)
        assert fields.link.length == len(flits) - 1, (
            f"header says {fields.link.length} payload flits, {len(flits) - 1} came")
        tag = fields.message.transaction.tag
        assert tag not in self.in_use, f"tag {tag} handed out while still in use"
        sent = _Sent(flits, tag)
        self.in_use[tag] = sent
        self.most_tags_in_use = max(self.most_tags_in_use, len(self.in_use))
        self.unmatched.append(sent)
        self._match()
        return decode_request(Packet(header, tuple(flits[1:])))

    def _match(self) -> None:
        while self.unmatched and self.to_send:
            sent = self.unmatched.popleft()
            expected = self.to_send[0]
            piece = expected.pieces.popleft()
            if not expected.pieces:
                self.to_send.popleft()
            reference = request_packet(piece, expected.destination, self.source, sent.tag)
            assert Packet(sent.flits[0], tuple(sent.flits[1:])) == reference, (
                f"packet for {expected.write.burst} piece at {piece.remote_address:#x} "
                f"({piece.byte_count} bytes) differs from the reference:\n"
                f"  got       {[hex(flit) for flit in sent.flits]}\n"
                f"  reference {[hex(reference.header)] + [hex(f) for f in reference.payload]}")
            expected.sent.append(sent)
            self.packets_checked += 1

    @staticmethod
    def answer(request: Request, error: bool) -> int:
        """The header flit of the far side's completion of ``request``."""
        command = Command.ERROR_RESPONSE if error else Command.WRITE_RESPONSE
        return completion(request, command).header

    def completed(self, header: int) -> None:
        """The RTL took the completion whose header flit is ``header``."""
        transaction = unpack(HEADER_BODY, header).message.transaction
        sent = self.in_use.pop(transaction.tag)
        sent.answered = True
        sent.failed = transaction.command == Command.ERROR_RESPONSE

    def response(self, bid: int, bresp: int) -> None:
        """A B beat the RTL sent."""
        candidates = [item for item in self.bursts if item.write.awid == bid]
        assert candidates, f"BRESP for AWID {bid}, which has no burst outstanding"
        oldest = candidates[0]
        unanswered = sum(not sent.answered for sent in oldest.sent)
        assert not oldest.pieces and not unanswered, (
            f"BRESP for AWID {bid} before its oldest burst {oldest.write.burst} was answered "
            f"({len(oldest.pieces)} packets unsent, {unanswered} unanswered)")
        expected = (Response.DECERR if oldest.decerr else
                    Response.SLVERR if any(sent.failed for sent in oldest.sent) else
                    Response.OKAY)
        assert Response(bresp) == expected, (
            f"{oldest.write.burst} AWID {bid}: BRESP {Response(bresp).name}, "
            f"reference {expected.name}")
        self.overtakes += oldest is not self.bursts[0]
        self.bursts.remove(oldest)
        self.responses_checked += 1
        self.response_counts[expected] = self.response_counts.get(expected, 0) + 1

    def assert_drained(self) -> None:
        assert not self.bursts, f"{len(self.bursts)} bursts never answered"
        assert not self.in_use, f"tags {sorted(self.in_use)} never answered"
        assert not self.unmatched, f"{len(self.unmatched)} packets sent for no burst"


def master_burst(rng: random.Random, bus_bytes: int, base: int) -> tuple[int, int, int, int]:
    """(address, byte count, AxSIZE, AxBURST) of a burst cocotbext-axi's AxiMaster makes
    inside the page at ``base``: INCR of any size and start (split by AxiMaster past 256
    beats); FIXED full width and aligned; WRAP regions of at least a bus word (AxiMaster
    rotates lanes through the whole bus)."""
    widest = bus_bytes.bit_length() - 1
    kind = rng.choice([BurstType.INCR, BurstType.INCR, BurstType.FIXED, BurstType.WRAP]).value
    if kind == BurstType.FIXED.value:
        length = rng.randint(1, 16)
        address = base + rng.randrange(PAGE_BYTES // bus_bytes - length + 1) * bus_bytes
        return address, length * bus_bytes, widest, kind
    if kind == BurstType.WRAP.value:
        length = rng.choice([2, 4, 8, 16])
        size = rng.choice([size for size in range(widest + 1) if length << size >= bus_bytes])
        total = length << size
        address = base + (rng.randint(0, (PAGE_BYTES - total) >> size) << size)
        return address, total, size, kind
    size = rng.randint(0, widest)
    address = base + rng.choice([0, rng.randrange(PAGE_BYTES)])
    room = PAGE_BYTES - address % PAGE_BYTES
    count = min(room, rng.choice([1, rng.randint(1, 256 << size), 256 << size]))
    return address, count, size, kind
