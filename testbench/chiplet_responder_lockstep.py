"""One stimulus for the chiplet's far side RTL (``Responder``) and its cycle model.

:class:`ResponderLockstep` is simulator-neutral. Each cycle :meth:`~ResponderLockstep.inputs`
gives the value of every input port (named by its dotted RTL path, ``"m_axi.awready"``); once
the simulator has settled, :meth:`~ResponderLockstep.check` reads every output port and fails
on the first that differs from :class:`emulator.cycle.chiplet_responder.ResponderModel`,
naming the cycle, the port and both values; it then follows the handshakes and steps the
model over the edge.

The stimulus: random READ and WRITE requests from ``testbench.chiplet_responder`` (1 to 256
bytes, unaligned, with and without byte enables and extension flits, some beyond
``memory_bytes`` or the address space), mixed with malformed and unsupported packets (no
bytes, too many, crossing a block, a wrong ``link.length``, ending before their option flits
or a WRITE before its data flits, ``ATOMIC_FETCH_ADD``, posted writes, completions, reserved
commands, control flits, a READ with a byte-enable flit), some headers with noise in the
bits above the header body; and retries (docs/chiplet.md, "End-to-end retry"): copies of
WRITEs sent earlier (the same key: a retry naming it, or the original after its retry), often
while the first is still pending, retries naming keys never seen (of this plane or
another), retries naming no entry, READs retried. Each WRITE's key names an entry of the
duplicate filter as a requester's plane tags would: a few sources, an entry reused with the
other generation only once every packet of its last key is answered. Random gaps on the
request stream, random back-pressure on the completions; on ``m_axi`` the AXI4 memory model
of ``testbench.chiplet_responder`` (random AWREADY, WREADY, ARREADY, B and R after a random
latency with pauses, SLVERR on some bursts), with random values on B and R payloads while
their valid is low. Independently of the model, the completions are scoreboarded against
``emulator.ref.chiplet`` and the duplicate filter's rule (:class:`~testbench.
chiplet_responder.KeyBook`), the bursts against ``manager_burst`` (so each key's burst is
issued at most once), the memory at the end against the reference's, and the three counters
against the packets sent.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.ref.axi import ReferenceMemory
from emulator.ref.chiplet import Piece, Request, completion, request_packet
from emulator.ref.framing import Packet
from hdl.chiplet.axi import data_bytes
from hdl.chiplet.tag_translate import GENERATION_FLAG, INDEX_FIELD_BITS
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    BYTE_ENABLE_FLIT,
    FLIT_BITS,
    HEADER_BODY,
    LINK_HEADER,
    MAX_DATA_BYTES,
    MAX_PAYLOAD_FLITS,
    REQUEST_VC,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_slice,
    field_width,
    field_writer,
    pack,
    unpack,
)
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams
from testbench.chiplet_responder import (
    AR_FIELDS,
    AW_FIELDS,
    EDGE_BYTES,
    W_FIELDS,
    AxiMemoryModel,
    Case,
    CompletionScoreboard,
    FarSideModel,
    RequestMaker,
    ResponderReference,
    memory_size,
    read_preload,
    retried,
)

_FLIT_MASK = (1 << FLIT_BITS) - 1
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_BYTES = FLIT_BITS // 8
_HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
_COUNT_LIMIT = 1 << field_width(TRANSACTION_HEADER, "byte_count")
_COMMAND_VALUES = 1 << field_width(TRANSACTION_HEADER, "command")
_LENGTH_LIMIT = 1 << field_width(LINK_HEADER, "length")
#: Bits of a delivered header flit above the header body (the link's CRC field).
_NOISE_BITS = FLIT_BITS - HEADER_BODY.size
#: Sets a header's command field, reserved encodings too (``pack`` takes only members).
_with_command = field_writer(HEADER_BODY, "message", "transaction", "command")
#: Commands the far side drops without an answer, with reserved encodings.
_DROPPED = [command.value for command in Command
            if command not in (Command.READ, Command.WRITE, Command.ATOMIC_FETCH_ADD)] \
    + [value for value in range(_COMMAND_VALUES) if value not in {c.value for c in Command}]
_SOURCES = 1 << field_width(TRANSACTION_HEADER, "source")
_TAGS = 1 << field_width(TRANSACTION_HEADER, "tag")
#: Header tags of requests whose tag is not their WRITE key (READs, retries, other packets):
#: the top half, so that they never meet a WRITE original's (whose top bit is clear).
_OTHER_TAGS = range(_TAGS // 2, _TAGS)
_INDEX_FIELD = 1 << INDEX_FIELD_BITS
_RETRY_PLANES = 1 << field_width(ADDRESS_EXTENSION_FLIT, "retry_plane")
_MEMORY_INPUTS = ("awready", "wready", "arready", "bvalid", "bid", "bresp", "rvalid", "rid",
                  "rdata", "rresp", "rlast")
#: Cycles compared after the stimulus has drained.
TAIL_CYCLES = 4


class Mismatch(AssertionError):
    """The RTL and the cycle model disagree on an output."""


class StrobedWdata:
    """WDATA on the strobed lanes only, for the memory model, which checks that WDATA holds
    while a beat waits: the RTL may change lanes not strobed meanwhile (the last data flit of
    a packet that wraps round its 256-byte buffer writes below the packet's first byte, into
    its first beat's word). AXI4 gives those lanes no meaning, and ARM's protocol checker
    (AXI4_ERRM_WDATA_STABLE) compares WDATA masked by WSTRB."""

    def __init__(self) -> None:
        self.waiting: tuple[int, int] | None = None  # a W beat waiting: (WDATA, WSTRB)
        self.masks: dict[int, int] = {}

    def strobed(self, wdata: int, wstrb: int, wready: bool) -> tuple[int, bool]:
        """WDATA masked by WSTRB, and whether unstrobed lanes changed while the beat
        waited."""
        mask = self.masks.get(wstrb)
        if mask is None:
            mask = sum(0xFF << 8 * lane for lane in range(wstrb.bit_length())
                       if wstrb >> lane & 1)
            self.masks[wstrb] = mask
        waiting = self.waiting
        changed = waiting is not None and waiting[1] == wstrb and waiting[0] != wdata
        self.waiting = (wdata, wstrb) if not wready else None
        return wdata & mask, changed


@dataclass
class LockstepScenario:
    """What a lockstep run offers the far side."""

    cycles: int = 2000  # new requests start until this cycle; then the run drains
    pause: float = 0.3  # chance per cycle that no request flit is offered
    completion_pause: float = 0.3  # chance per cycle that the completion sink holds off
    memory_pause: float = 0.3  # chance per cycle that a memory channel holds off
    latency: tuple[int, int] = (1, 20)  # cycles from a burst's address or data to B or R
    fail_rate: float = 0.1  # bursts the memory answers with SLVERR
    malformed_rate: float = 0.15  # packets that are malformed or not READ or WRITE
    read_share: float = 0.5  # of the READ and WRITE requests
    noise_rate: float = 0.1  # headers with random bits above the header body
    retry_rate: float = 0.25  # packets that are retries (or an original after its retry)
    sources: int = 4  # requesters whose WRITEs use the filter's entries, so entries are reused


@dataclass
class _Entry:
    """One entry of the duplicate filter as the stimulus uses it: the last key's generation,
    the WRITE its copies repeat, how many more copies to send, and the packets of its key not
    yet answered. Reused with the other generation only when closed and all answered."""

    generation: int = 0
    used: bool = False
    open: bool = False  # copies of its key may still be sent
    copies: int = 0
    packet: Packet | None = None  # the WRITE as first sent on the key's plane
    fail: bool = False  # its burst fails, if carried out
    original_sent: bool = False
    outstanding: int = 0

    @property
    def free(self) -> bool:
        return not self.open and not self.outstanding


class RequestNames:
    """The names the stimulus gives requests: for a WRITE its key (an entry of the filter and
    a generation), and for every request a (source, tag) of its own while it is answered."""

    def __init__(self, params: ChipletParams, rng: random.Random, plane: int,
                 sources: int) -> None:
        self.params = params
        self.rng = rng
        self.plane = plane
        self.sources = sources
        self.entries: dict[tuple[int, int, int], _Entry] = {}
        self.open: list[tuple[int, int, int]] = []
        self.free_tags: dict[int, list[int]] = {}
        # Per far side and (source, tag) to be answered: the entry of its key, if any.
        self.answers: dict[tuple[int, int, int], tuple[int, int, int] | None] = {}

    def entry_for(self, plane: int) -> tuple[tuple[int, int, int], _Entry] | None:
        """A free entry of ``plane``, or None when the few tried are busy."""
        for _ in range(4):
            name = (plane, self.rng.randrange(self.sources),
                    self.rng.randrange(self.params.outstanding_tags))
            entry = self.entries.setdefault(name, _Entry())
            if entry.free:
                return name, entry
        return None

    def other_tag(self, source: int) -> int | None:
        """A header tag from the top half, not in use for ``source``."""
        tags = self.free_tags.setdefault(source, list(_OTHER_TAGS))
        if not tags:
            return None
        return tags.pop(self.rng.randrange(len(tags)))

    def use(self, name: tuple[int, int, int], entry: _Entry, packet: Packet | None,
            fail: bool, copies: int) -> int:
        """A new key for the free entry ``name`` (the other generation), whose WRITE is
        ``packet`` (its tag is set here); returns the key's tag."""
        entry.generation = 1 - entry.generation if entry.used else self.rng.getrandbits(1)
        entry.used, entry.open, entry.copies = True, copies > 0, copies
        entry.fail, entry.original_sent = fail, False
        tag = entry.generation * GENERATION_FLAG | name[2]
        entry.packet = None if packet is None else _with_tag(packet, tag)
        if entry.open:
            self.open.append(name)
        return tag

    def sent(self, source: int, tag: int, name: tuple[int, int, int] | None,
             lane: int = 0) -> None:
        """A packet to be answered by far side ``lane``, with ``(source, tag)``, of the key
        of entry ``name``."""
        self.answers[(lane, source, tag)] = name
        if name is not None:
            self.entries[name].outstanding += 1

    def copied(self, name: tuple[int, int, int]) -> None:
        entry = self.entries[name]
        entry.copies -= 1
        if not entry.copies:
            entry.open = False
            self.open.remove(name)

    def answered(self, source: int, tag: int, lane: int = 0) -> None:
        name = self.answers.pop((lane, source, tag))
        if name is not None:
            self.entries[name].outstanding -= 1
        if tag in _OTHER_TAGS:
            self.free_tags[source].append(tag)


#: A new packet's case, the counter it moves, its source and tag, the entry of its key.
_Made = tuple[Case, str | None, int, int, tuple[int, int, int] | None]


def _with_tag(packet: Packet, tag: int) -> Packet:
    transaction = unpack(HEADER_BODY, packet.header).message.transaction
    fields = {name: getattr(transaction, name) for name, _ in TRANSACTION_HEADER}
    fields["tag"] = tag
    return Packet.build(packet.payload, link={"vc": REQUEST_VC}, transaction=fields)


class _Requests(RequestMaker):
    """The random requests of ``testbench.chiplet_responder``, but writes into the block the
    memory ends in write zeros: reads of that block may pass the writes (the channels are
    not ordered), and the memory there stays zero whichever comes first."""

    def piece(self, kind: str) -> Piece:
        piece = super().piece(kind)
        edge = memory_size(self.params) - EDGE_BYTES
        if piece.data is not None and edge <= piece.remote_address < edge + MAX_DATA_BYTES:
            piece = dataclasses.replace(piece, data=bytes(piece.byte_count))
        return piece


class ResponderLockstep:
    """The RTL against the cycle model, cycle for cycle, and against the reference."""

    def __init__(self, params: ChipletParams, rng: random.Random,
                 scenario: LockstepScenario | None = None,
                 model: FarSideModel | None = None) -> None:
        self.params = params
        self.rng = rng
        self.scenario = scenario = scenario or LockstepScenario()
        self.model = model or FarSideModel(params)
        self.memory_bytes = memory_size(params)
        preload = read_preload(rng, params)
        self.reference = ResponderReference(params, self.memory_bytes, preload)
        self.requests = _Requests(params, rng, scenario.fail_rate)
        memory = ReferenceMemory(data_bytes(params))
        memory.contents.update(preload)
        self.axi = AxiMemoryModel(params, memory, deque(), deque(), rng, scenario.memory_pause,
                                  scenario.latency)
        self.scoreboard = CompletionScoreboard([])
        self.values = dict.fromkeys(self.model.input_widths, 0)
        self.values["memory_bytes"] = self.memory_bytes
        self.cycle = 0
        self.expected: dict[str, int] = {}
        self.flits: deque[int] = deque()  # DELIVERED_FLIT words of the packet being sent
        self.counts = Counter()  # packets by what they exercise
        self.plane = 0  # the far side's own plane
        self.keys = RequestNames(params, rng, self.plane, scenario.sources)
        self.refusals = 0  # READ and WRITE requests the far side must refuse
        self.unsupported = 0  # packets with any other command
        self.duplicates = 0  # WRITEs the far side must answer as duplicates
        self.idle = 0
        self.drained_at: int | None = None
        self._wdata = StrobedWdata()

    @property
    def done(self) -> bool:
        """Drained, and compared for a few idle cycles more."""
        return self.drained_at is not None and self.cycle >= self.drained_at + TAIL_CYCLES

    def _drained(self) -> bool:
        axi = self.axi
        return (self.cycle >= self.scenario.cycles and not self.flits
                and not self.values["request.valid"] and not self.scoreboard.expected
                and not axi.writes and not axi.reads and not axi.aw_waiting
                and not axi.w_groups and not axi.b_queue and not axi.b_valid
                and not axi.r_bursts and not axi.r_valid)

    # -- stimulus --------------------------------------------------------------------------

    def inputs(self) -> dict[str, int]:
        """The value of every input port in this cycle (the returned dict is reused: copy it
        to keep it)."""
        rng, scenario, values = self.rng, self.scenario, self.values
        if not values["request.valid"] and rng.random() >= scenario.pause:
            if not self.flits and self.cycle < scenario.cycles:
                self._new_packet()
            if self.flits:
                values["request.payload"] = self.flits.popleft()
                values["request.valid"] = 1
        if not values["request.valid"] and rng.random() < 0.5:
            # Whatever lies on the payload while valid is low changes no state.
            values["request.payload"] = rng.getrandbits(DELIVERED_FLIT.size)
        values["completion.ready"] = int(rng.random() >= scenario.completion_pause)
        for name, value in self.axi.drive().items():
            values[f"m_axi.{name}"] = value
        widths = self.model.input_widths
        for channel, names in (("b", ("bid", "bresp")), ("r", ("rid", "rdata", "rresp",
                                                                  "rlast"))):
            if not values[f"m_axi.{channel}valid"] and rng.random() < 0.5:
                for name in names:
                    values[f"m_axi.{name}"] = rng.getrandbits(widths[f"m_axi.{name}"])
        self.expected = self.model.comb(values)
        return values

    def _new_packet(self) -> None:
        rng, scenario = self.rng, self.scenario
        roll = rng.random()
        if roll < scenario.malformed_rate:
            made = self._malformed()
        elif roll < scenario.malformed_rate + scenario.retry_rate:
            made = self._retry()
        else:
            made = self._request("read" if rng.random() < scenario.read_share else "write")
        if made is None:  # no names free this time
            return
        case, counted, source, tag, name = made
        if case.duplicate:
            self.duplicates += 1
            command = unpack(HEADER_BODY, case.answer.header).message.transaction.command
            self.counts[f"duplicate {command.name}"] += 1
        elif counted == "refused":
            self.refusals += 1
        elif counted == "unsupported":
            self.unsupported += 1
        if case.burst is not None:
            (self.axi.reads if case.is_read else self.axi.writes).append((case.burst, case.fail))
        if case.answer is not None:
            self.keys.sent(source, tag, name)
        self.scoreboard.expect(case)
        flits = list(case.flits)
        if rng.random() < self.scenario.noise_rate:
            flits[0] |= rng.getrandbits(_NOISE_BITS) << HEADER_BODY.size
        for index, flit in enumerate(flits):
            self.flits.append(flit | int(index == len(flits) - 1) << _LAST_OFFSET)

    def _request(self, kind: str) -> _Made | None:
        """A READ or a WRITE's first copy (its original, on this plane)."""
        rng, keys = self.rng, self.keys
        piece = self.requests.piece(kind)
        fail = rng.random() < self.scenario.fail_rate
        destination = rng.randrange(_SOURCES)
        if kind == "read":
            source = rng.randrange(_SOURCES)
            tag = keys.other_tag(source)
            if tag is None:
                return None
            case = self.reference.case(request_packet(piece, destination, source, tag), fail)
            name = None
        else:
            found = keys.entry_for(self.plane)
            if found is None:
                return None
            name, entry = found
            source = name[1]
            self.counts["generation flipped"] += entry.used
            tag = keys.use(name, entry, request_packet(piece, destination, source, 0), fail,
                           rng.choice([0, 0, 1, 2, 3]))
            entry.original_sent = True
            case = self.reference.case(entry.packet, fail)
        self._features(case)
        return case, "refused" if case.burst is None else None, source, tag, name

    def _retry(self) -> _Made | None:
        """A retry: a copy of an open key's WRITE (or its original after its retry), a WRITE
        of a key never seen (this plane's or another's), one naming no entry, a READ."""
        rng, keys, links = self.rng, self.keys, self.params.links
        destination = rng.randrange(_SOURCES)
        roll = rng.random()
        if roll < 0.6 and keys.open:
            name = rng.choice(keys.open)
            entry = keys.entries[name]
            plane, source, index = name
            key_tag = entry.generation * GENERATION_FLAG | index
            if plane == self.plane and not entry.original_sent and rng.random() < 0.5:
                packet, tag = entry.packet, key_tag
                entry.original_sent = True
                self.counts["original after retry"] += 1
            else:
                tag = keys.other_tag(source)
                if tag is None:
                    return None
                packet = retried(entry.packet, plane, key_tag, tag)
                self.counts["retry"] += 1
            keys.copied(name)
            case = self.reference.case(packet, entry.fail)
        elif roll < 0.85:
            found = keys.entry_for(rng.randrange(links))
            if found is None:
                return None
            name, entry = found
            plane, source, _ = name
            tag = keys.other_tag(source)
            if tag is None:
                return None
            self.counts["generation flipped"] += entry.used
            fail = rng.random() < self.scenario.fail_rate
            base = request_packet(self.requests.piece("write"), destination, source, 0)
            key_tag = keys.use(name, entry, base, fail, rng.choice([0, 1, 1, 2]))
            case = self.reference.case(retried(entry.packet, plane, key_tag, tag), fail)
            self.counts["unseen key"] += 1
        else:
            name = None
            source = rng.randrange(_SOURCES)
            tag = keys.other_tag(source)
            if tag is None:
                return None
            kind = "write" if roll < 0.95 else "read"
            packet = request_packet(self.requests.piece(kind), destination, source, tag)
            plane, key_tag = rng.randrange(links), rng.randrange(_TAGS)
            if kind == "write":
                # Names no entry: a plane beyond the links, or an index beyond the tags.
                tags = self.params.outstanding_tags
                if tags == _INDEX_FIELD or rng.random() < 0.5:
                    plane = rng.randrange(links, _RETRY_PLANES)
                else:
                    key_tag = key_tag & ~(_INDEX_FIELD - 1) | rng.randrange(tags, _INDEX_FIELD)
                self.counts["no entry"] += 1
            else:
                self.counts["read retry"] += 1
            case = self.reference.case(retried(packet, plane, key_tag, tag),
                                       rng.random() < self.scenario.fail_rate)
        self._features(case)
        return case, "refused" if case.burst is None else None, source, tag, name

    def _features(self, case: Case) -> None:
        transaction = unpack(HEADER_BODY, case.flits[0]).message.transaction
        if case.burst is None:
            self.counts["duplicate" if case.duplicate else "refused"] += 1
            return
        self.counts[case.channel] += 1
        self.counts["SLVERR" if case.fail else "OKAY"] += 1
        self.counts["extension"] += transaction.has_address_extension
        self.counts["byte enables"] += transaction.has_byte_enable
        self.counts["unaligned"] += bool(transaction.address % _FLIT_BYTES)
        self.counts["256 bytes"] += transaction.byte_count == MAX_DATA_BYTES

    def _malformed(self) -> _Made | None:
        """A packet the far side must refuse or drop (or, a READ with a byte-enable flit,
        serve), and which counter it moves. A malformed WRITE names a free entry of this
        plane, or (when there are fewer tags than the tag field holds) no entry."""
        rng, keys = self.rng, self.keys
        destination = rng.randrange(1 << field_width(TRANSACTION_HEADER, "destination"))
        # Mostly inside the memory, so that only the rule under test is broken.
        address = rng.randrange(1 << _HEADER_ADDRESS_BITS)
        if rng.random() < 0.8:
            address %= self.memory_bytes
        kind = rng.choice(["no bytes", "too many", "crossing", "length", "short", "truncated",
                           "atomic", "dropped", "control", "read with enables"])
        if kind == "read with enables":
            source = rng.randrange(_SOURCES)
            tag = keys.other_tag(source)
            if tag is None:
                return None
            self.counts[kind] += 1
            piece = self.requests.piece("read")
            high = piece.remote_address >> _HEADER_ADDRESS_BITS
            payload = [pack(ADDRESS_EXTENSION_FLIT, {"address_high": high})] if high else []
            payload.append(pack(BYTE_ENABLE_FLIT,
                                {"byte_enable": rng.getrandbits(BYTE_ENABLE_BITS)}))
            packet = Packet.build(payload, link={"vc": REQUEST_VC}, transaction={
                "command": Command.READ, "destination": destination, "source": source,
                "tag": tag, "address": piece.remote_address % (1 << _HEADER_ADDRESS_BITS),
                "byte_count": piece.byte_count, "has_address_extension": int(bool(high)),
                "has_byte_enable": 1})
            case = self.reference.case(packet, rng.random() < self.scenario.fail_rate)
            return case, "refused" if case.burst is None else None, source, tag, None
        command = rng.choice([Command.READ.value, Command.WRITE.value])
        has_extension = has_enables = 0
        count = rng.randint(1, MAX_DATA_BYTES)
        flits = None  # payload flits: data flits of ``count`` bytes unless set
        length = None  # link.length: the payload's unless set
        if kind == "no bytes":
            count = 0
        elif kind == "too many":
            count = rng.randrange(MAX_DATA_BYTES + 1, _COUNT_LIMIT)
            flits = rng.randint(0, MAX_PAYLOAD_FLITS)
        elif kind == "crossing":
            count = rng.randint(2, MAX_DATA_BYTES)
            address = address - address % MAX_DATA_BYTES + rng.randint(
                MAX_DATA_BYTES - count + 1, MAX_DATA_BYTES - 1)
        elif kind == "length":
            flits = rng.randint(0, MAX_PAYLOAD_FLITS)
            data_flits = -(-count // _FLIT_BYTES) if command == Command.WRITE.value else 0
            length = rng.choice([value for value in range(_LENGTH_LIMIT) if value != data_flits])
        elif kind == "short":
            # Announces option flits, and ends before (some of) them.
            has_extension, has_enables = rng.choice([(1, 0), (0, 1), (1, 1)])
            flits = rng.randint(0, has_extension + has_enables - 1)
        elif kind == "truncated":
            # A WRITE whose link.length counts its data flits, but which ends with its
            # option flits.
            command = Command.WRITE.value
            has_extension, has_enables = rng.getrandbits(1), rng.getrandbits(1)
            flits = has_extension + has_enables
            length = flits + -(-count // _FLIT_BYTES)
        elif kind == "atomic":
            command = Command.ATOMIC_FETCH_ADD.value
            flits = rng.randint(0, 2)
            has_extension, has_enables = rng.getrandbits(1), rng.getrandbits(1)
        elif kind in ("dropped", "control"):
            command = rng.choice(_DROPPED) if kind == "dropped" else rng.randrange(
                _COMMAND_VALUES)
            flits = rng.randint(0, 3)
            has_extension, has_enables = rng.getrandbits(1), rng.getrandbits(1)
        name = None
        if kind in ("dropped", "control"):  # never answered: any names
            source, tag = rng.randrange(_SOURCES), rng.randrange(_TAGS)
        elif command == Command.WRITE.value:
            tags = self.params.outstanding_tags
            if tags < _INDEX_FIELD and rng.random() < 0.2:
                source = rng.randrange(self.scenario.sources)
                tag = rng.getrandbits(1) * GENERATION_FLAG | rng.randrange(tags, _INDEX_FIELD)
                if (self.plane, source, tag) in keys.answers:
                    return None
                self.counts["no entry"] += 1
            else:
                found = keys.entry_for(self.plane)
                if found is None:
                    return None
                name, entry = found
                source = name[1]
                self.counts["generation flipped"] += entry.used
                tag = keys.use(name, entry, None, False, 0)
        else:
            source = rng.randrange(_SOURCES)
            tag = keys.other_tag(source)
            if tag is None:
                return None
        self.counts[kind] += 1
        if flits is None:
            flits = -(-count // _FLIT_BYTES) if command == Command.WRITE.value else 0
        payload = [rng.getrandbits(FLIT_BITS) for _ in range(flits)]
        if has_extension and payload:
            # Inside the address space and no retry, so that only the rule under test is
            # broken.
            payload[0] = 0
        link = {"vc": REQUEST_VC, "length": len(payload) if length is None else length}
        if kind == "control":
            link["kind"] = rng.choice([kind for kind in FlitKind if kind != FlitKind.PACKET])
        header = _with_command(pack(HEADER_BODY, {"link": link, "message": {"transaction": {
            "destination": destination, "source": source, "tag": tag, "address": address,
            "byte_count": count, "has_address_extension": has_extension,
            "has_byte_enable": has_enables}}}), command)
        if kind in ("dropped", "control"):
            return Case([header, *payload], None), "unsupported", source, tag, None
        answer = completion(Request(Command(command), destination, source, tag, address, count,
                                    None, None), Command.ERROR_RESPONSE)
        refused = Case([header, *payload], answer)
        case = self.reference.book.judge(refused.flits, lambda: refused)
        return case, "unsupported" if kind == "atomic" else "refused", source, tag, name

    # -- checking --------------------------------------------------------------------------

    def check(self, read: Callable[[str], int]) -> None:
        """Compare every settled output with the model's; follow the handshakes; step the
        model over the clock edge. ``read(name)`` gives an output port's value."""
        cycle, expected, values = self.cycle, self.expected, self.values
        for name, value in expected.items():
            got = read(name)
            if got != value:
                raise Mismatch(f"cycle {cycle}: {name} is {got:#x} in the RTL, {value:#x} in "
                               "the model")
        self.model.tick(values)

        progress = False
        if values["request.valid"] and expected["request.ready"]:
            values["request.valid"] = 0
            progress = True
        out = {name: expected[f"m_axi.{name}"]
               for name in ("awvalid", "wvalid", "arvalid", "bready", "rready")}
        for channel, names in (("aw", AW_FIELDS), ("w", W_FIELDS), ("ar", AR_FIELDS)):
            if out[f"{channel}valid"]:
                out.update((name, expected[f"m_axi.{name}"]) for name in names)
        axi = self.axi
        if out["wvalid"]:
            out["wdata"] = self._strobed_wdata(out["wdata"], out["wstrb"])
        progress |= any(out[f"{channel}valid"] and axi.ready[channel]
                        for channel in ("aw", "w", "ar"))
        progress |= bool(axi.b_valid and out["bready"]) or bool(axi.r_valid and out["rready"])
        axi.observe(out)
        if values["completion.ready"] and expected["completion.valid"]:
            word = expected["completion.payload"]
            last = bool(word >> _LAST_OFFSET & 1)
            self.scoreboard.flit(word & _FLIT_MASK, last)
            if last:
                self.keys.answered(*self.scoreboard.last_key)
            progress = True
        self.idle = 0 if progress else self.idle + 1
        if self.idle > 10_000:
            raise Mismatch(f"cycle {cycle}: no flit, beat or response for {self.idle} cycles")
        self.cycle += 1
        if self.drained_at is None and self._drained():
            self.drained_at = self.cycle

    def _strobed_wdata(self, wdata: int, wstrb: int) -> int:
        wdata, changed = self._wdata.strobed(wdata, wstrb, self.axi.ready["w"])
        self.counts["unstrobed W lanes changed while waiting"] += changed
        return wdata

    def finish(self) -> dict[str, object]:
        """After the last cycle: everything answered, memory and counters as the reference
        says; a summary."""
        self.scoreboard.assert_drained()
        self.axi.assert_drained()
        assert self.axi.memory.contents == self.reference.memory.contents, "memory differs"
        for name, sent in (("refused_requests", self.refusals),
                           ("unsupported", self.unsupported),
                           ("duplicates", self.duplicates)):
            if self.expected[name] != sent:
                raise Mismatch(f"{name} is {self.expected[name]}, {sent} such packets sent")
        return {"cycles": self.cycle, "completions": self.scoreboard.checked,
                "commands": {command.name: count for command, count in
                             sorted(self.scoreboard.commands.items(),
                                    key=lambda item: item[0].value)},
                "refused": self.refusals, "unsupported": self.unsupported,
                "duplicates": self.duplicates,
                "waiting cycles": sum(far_side.waiting_cycles
                                      for far_side in self.model.responders),
                "most outstanding": dict(self.axi.most_outstanding),
                "features": dict(self.counts)}
