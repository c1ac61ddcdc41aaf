"""Cycle model of the chiplet's far side (``hdl.chiplet.responder.Responder``).

The model holds the RTL's registers one for one: the request decoder's state, saved header,
extension bits, key, byte enables and decision bits, its data register and three counters;
the write channel's pending queue, queue of keys in flight and queue of outcomes, two data
buffers with their bookkeeping, filling registers, AW register and completion register; the read
channel's pending queue, AR register, two data buffers, gathering and sending registers; and
the completion merge (:class:`emulator.cycle.packet_merge.PacketMergeModel`). The duplicate
filter is outside (:class:`emulator.cycle.duplicate_filter.DuplicateFilterModel`): its port
is the ``filter.*`` ports. Given the values of all input ports in a cycle it returns the
values of all output ports in that cycle, bit for bit the RTL's, whether or not a valid is
high (W, completion and filter payloads follow the RTL's multiplexers also while idle). The
AXI4 members the channels do not drive (AxID, AxLOCK, AxCACHE, AxPROT, AxQOS, AxREGION) are
zero, AxSIZE is the bus width and AxBURST INCR, as in the RTL.

The interface is that of :mod:`emulator.cycle.chiplet_write`, shared by the chiplet's cycle
models so that they compose: ports by their dotted RTL path (``"m_axi.awvalid"``,
``"request.payload"``; a ``DELIVERED_FLIT`` payload as one integer, the flit in its low
bits, ``last`` above); :meth:`ResponderModel.comb` maps the inputs of the current cycle to
every output without changing state; :meth:`ResponderModel.tick` commits the clock edge.
Outputs that depend on inputs of the same cycle: ``request.ready`` (from the request,
``memory_bytes``, AWREADY, ARREADY and ``filter.entry_valid`` and ``filter.entry``),
``filter.lookup.valid`` and ``filter.lookup.payload`` (from the request),
``filter.update_valid`` and ``filter.update`` (from the filter's entry and AWREADY),
``filter.record.valid`` and ``filter.record.payload`` (from BVALID and BRESP) and
``m_axi.bready`` (from BVALID, through ``filter.record.ready``); the other
outputs come from registers. None of them depends on ``filter.lookup.ready``, so a far side
and the filter settle in one pass each way.

The model starts as the RTL leaves reset. Every width and offset comes from
:mod:`hdl.layouts`, :mod:`hdl.params` and the constants the RTL derives from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hdl.chiplet.axi import LEN_BITS, AxiSignature, BurstType, Response, data_bytes
from hdl.chiplet.manager_reads import GATHERED
from hdl.chiplet.manager_writes import BUFFER
from hdl.chiplet.request_decoder import (
    EXTENSION_ADDRESS_BITS,
    HEADER_ADDRESS_BITS,
    REQUEST_ADDRESS_BITS,
)
from hdl.chiplet.responder_signals import (
    BLOCK_BITS,
    BLOCK_CHUNKS,
    FILTER_ENTRY,
    FLIT_BYTE_BITS,
    FLIT_BYTES,
    EntryState,
    entry_address_layout,
    filter_port_signature,
    lane_bits,
    record_layout,
    write_key_layout,
)
from hdl.chiplet.tag_translate import INDEX_FIELD_BITS
from hdl.chiplet.write_signals import tag_bits
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    COMPLETION_VC,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    NON_POSTED,
    Command,
    FlitKind,
    field_slice,
    field_width,
    pack,
)
from hdl.link.link_signals import COUNTER_BITS, DELIVERED_FLIT
from hdl.params import ChipletParams

from .packet_merge import PacketMergeModel

_TRANSACTION = ("message", "transaction")


def _field(*path: str) -> tuple[int, int]:
    """(offset, mask) of a header field."""
    offset, width = field_slice(HEADER_BODY, *path)
    return offset, (1 << width) - 1


_KIND = _field("link", "kind")
_LENGTH = _field("link", "length")
_COMMAND = _field(*_TRANSACTION, "command")
_DESTINATION = _field(*_TRANSACTION, "destination")
_SOURCE = _field(*_TRANSACTION, "source")
_TAG = _field(*_TRANSACTION, "tag")
_ADDRESS = _field(*_TRANSACTION, "address")
_BYTE_COUNT = _field(*_TRANSACTION, "byte_count")
_HAS_EXTENSION = _field(*_TRANSACTION, "has_address_extension")
_HAS_ENABLES = _field(*_TRANSACTION, "has_byte_enable")
_HIGH_OFFSET, _ = field_slice(ADDRESS_EXTENSION_FLIT, "address_high")
_RETRY_OFFSET, _ = field_slice(ADDRESS_EXTENSION_FLIT, "retry")
_RETRY_PLANE_OFFSET, _RETRY_PLANE_BITS = field_slice(ADDRESS_EXTENSION_FLIT, "retry_plane")
_RETRY_TAG_OFFSET, _RETRY_TAG_BITS = field_slice(ADDRESS_EXTENSION_FLIT, "retry_tag")
_RETRY_PLANE_MASK = (1 << _RETRY_PLANE_BITS) - 1
_RETRY_TAG_MASK = (1 << _RETRY_TAG_BITS) - 1
_INDEX_FIELD_MASK = (1 << INDEX_FIELD_BITS) - 1
#: A filter entry's fields (``FILTER_ENTRY``).
_ENTRY_GENERATION, _ = field_slice(FILTER_ENTRY, "generation")
_ENTRY_STATE, _ENTRY_STATE_BITS = field_slice(FILTER_ENTRY, "state")
_ENTRY_OK, _ = field_slice(FILTER_ENTRY, "ok")
_ENTRY_STATE_MASK = (1 << _ENTRY_STATE_BITS) - 1
_PENDING, _DONE = EntryState.PENDING.value, EntryState.DONE.value
_HIGH_MASK = (1 << EXTENSION_ADDRESS_BITS) - 1
_HEADER_MASK = (1 << HEADER_BODY.size) - 1
_FLIT_OFFSET, _ = field_slice(DELIVERED_FLIT, "flit")
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_MASK = (1 << FLIT_BITS) - 1
_ALL_ENABLED = (1 << BYTE_ENABLE_BITS) - 1
_COUNTER_MASK = (1 << COUNTER_BITS) - 1
_LEN_MASK = (1 << LEN_BITS) - 1

_PACKET = FlitKind.PACKET.value
_WRITE, _READ = Command.WRITE.value, Command.READ.value
_NON_POSTED = frozenset(command.value for command in NON_POSTED)
_ERROR_RESPONSE = Command.ERROR_RESPONSE.value
_WRITE_RESPONSE = Command.WRITE_RESPONSE.value
_READ_RESPONSE = Command.READ_RESPONSE.value
_OKAY = Response.OKAY.value

_BLOCK_MASK = MAX_DATA_BYTES - 1  # a position in a 256-byte buffer
_CHUNK_MASK = BLOCK_CHUNKS - 1
#: A write buffer's ``beat_start`` and its ``end`` and ``written_end`` (``BUFFER``).
_BEAT_START_MASK = (1 << field_width(BUFFER, "beat_start")) - 1
_END_MASK = (1 << field_width(BUFFER, "end")) - 1
assert field_width(BUFFER, "written_end") == field_width(BUFFER, "end")
#: The reads' ``packet_end``: ``Signal(BLOCK_BITS + 1)``.
_PACKET_END_MASK = (1 << (BLOCK_BITS + 1)) - 1
_FLIT_BYTE_MASK = FLIT_BYTES - 1
_FLIT_LANES = (1 << FLIT_BYTES) - 1
#: The decoder's ``data_flits`` and the reads' ``data_flits``: ``range(BLOCK_CHUNKS + 1)``.
_DATA_FLITS_MASK = (1 << BLOCK_CHUNKS.bit_length()) - 1
#: The reads' ``flit_index``: ``range(BLOCK_CHUNKS)``.
_FLIT_INDEX_MASK = (1 << (BLOCK_CHUNKS - 1).bit_length()) - 1
_COUNT_MASK = _BYTE_COUNT[1]
#: Every completion header has these: a PACKET on the completion VC.
_COMPLETION_CONSTANT = pack(HEADER_BODY, {"link": {"kind": FlitKind.PACKET,
                                                   "vc": COMPLETION_VC}})

#: The decoder's states (``request_decoder._Flit``): what the next request flit is, or
#: deciding a WRITE.
_HEADER, _EXTENSION, _ENABLES, _DATA, _SKIP, _DECIDE = range(6)

#: What a completion repeats of its request (``responder_signals.ANSWER``), as a tuple:
#: (destination, source, tag, address, byte_count).
_NO_ANSWER = (0, 0, 0, 0, 0)

# The buffers' bookkeeping below holds the fields of these layouts.
assert {name for name, _ in BUFFER} == {"busy", "offset", "end", "written_end", "beat_start"}
assert {name for name, _ in GATHERED} == {"full", "error", "answer"}


def _completion_header(answer: tuple[int, int, int, int, int], command: int,
                       length: int) -> int:
    """``responder_signals.completion_header``: source and destination swapped, tag and
    address kept, the byte count repeated except in an ``ERROR_RESPONSE``."""
    destination, source, tag, address, count = answer
    return (_COMPLETION_CONSTANT
            | length << _LENGTH[0]
            | command << _COMMAND[0]
            | source << _DESTINATION[0]
            | destination << _SOURCE[0]
            | tag << _TAG[0]
            | address << _ADDRESS[0]
            | (0 if command == _ERROR_RESPONSE else count) << _BYTE_COUNT[0])


def _rotated(contents: int, position: int, count: int) -> int:
    """``count`` bytes of a 256-byte buffer from ``position``, wrapping at its end."""
    low = contents >> 8 * position
    if position + count > MAX_DATA_BYTES:
        low |= contents << 8 * (MAX_DATA_BYTES - position)
    return low & ((1 << 8 * count) - 1)


def _write_wrapped(contents: int, position: int, value: int, count: int, bits: int) -> int:
    """``contents``, a ring of 256 elements of ``bits`` bits each (a buffer's bytes or their
    enable bits), with ``count`` elements of ``value`` written from ``position`` on."""
    wrapped = position + count - MAX_DATA_BYTES
    if wrapped <= 0:
        return contents & ~(((1 << bits * count) - 1) << bits * position) \
            | value << bits * position
    below = count - wrapped  # elements before the end of the ring
    mask = (1 << bits * below) - 1
    contents = contents & ~(mask << bits * position) | (value & mask) << bits * position
    return contents & ~((1 << bits * wrapped) - 1) | value >> bits * below


class _Queue:
    """``responder_signals.pending_queue``: Amaranth's ``SyncFIFO`` (``SyncFIFOBuffered`` for
    one entry, which behaves the same here): ``r_data`` is the entry at the read pointer,
    even when the queue is empty."""

    __slots__ = ("depth", "storage", "produce", "consume", "level")

    def __init__(self, depth: int, empty: object) -> None:
        self.depth = depth
        self.storage = [empty] * depth
        self.produce = self.consume = self.level = 0

    @property
    def w_rdy(self) -> bool:
        return self.level != self.depth

    @property
    def r_rdy(self) -> bool:
        return self.level != 0

    @property
    def r_data(self) -> object:
        return self.storage[self.consume]

    def step(self, write: bool, value: object, read: bool) -> None:
        """The edge: ``write`` and ``read`` are ``w_en`` and ``r_en``."""
        write = write and self.level != self.depth
        read = read and self.level != 0
        if write:
            self.storage[self.produce] = value
            self.produce = 0 if self.produce == self.depth - 1 else self.produce + 1
        if read:
            self.consume = 0 if self.consume == self.depth - 1 else self.consume + 1
        self.level += write - read


@dataclass(slots=True)
class _WriteBuffer:
    """One write data buffer (``manager_writes.BUFFER``) and its bytes."""

    busy: int = 0
    offset: int = 0
    end: int = 0
    written_end: int = 0
    beat_start: int = 0
    data: int = 0  # byte n of the 256-byte buffer in bits 8n to 8n + 7
    strobes: int = 0  # bit n: byte n enabled


@dataclass(slots=True)
class _ReadBuffer:
    """One read data buffer (``manager_reads.GATHERED``) and its bytes."""

    full: int = 0
    error: int = 0
    answer: tuple[int, int, int, int, int] = _NO_ANSWER
    data: int = 0


@dataclass(slots=True)
class _Decision:
    """What the request decoder makes of the flit on ``request`` in its header, extension or
    byte-enable state, and of the saved packet in the others (``RequestDecoder``'s
    combinational signals); the DECIDE state's signals come from :meth:`ResponderModel.
    _judge`."""

    decide: int
    to_decide: int  # a WRITE's deciding flit
    to_write: int  # a refusal of anything but a WRITE
    to_read: int
    carry_out: int
    is_read: int
    supported: int
    has_extension: int
    header: int
    high: int
    answer: tuple[int, int, int, int, int]
    address: int
    enables: int
    has_enables: int
    key: tuple[int, int]  # (plane, tag) as they arrived
    in_range: int
    lookup: int  # the key's entry address (``entry_address_layout``)
    generation: int


@dataclass(slots=True)
class _Judgement:
    """The DECIDE state's signals: the WRITE's entry, looked up in the last cycle."""

    waiting: int = 0
    duplicate: int = 0
    carry: int = 0
    decided: int = 0
    ok: int = 0  # a duplicate's recorded outcome


_NOT_DECIDING = _Judgement()


class ResponderModel:
    """``Responder(params, plane)``, cycle for cycle: see the module docstring for the
    contract.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``Responder`` by its dotted path, with its width in bits.
    merge : PacketMergeModel
        The completion merge: read answers on input 0, write answers on input 1.
    """

    def __init__(self, params: ChipletParams, plane: int = 0) -> None:
        if params.axi_address_bits > REQUEST_ADDRESS_BITS or params.axi_address_bits < BLOCK_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits}: the "
                             f"responder takes {BLOCK_BITS} to {REQUEST_ADDRESS_BITS}; see "
                             "hdl/chiplet/request_decoder.py")
        if not 0 <= plane < params.links:
            raise ValueError(f"far side plane={plane}: the chiplet's planes are 0 to "
                             f"{params.links - 1} (chiplet.links = {params.links})")
        self.params = params
        self.plane = plane
        self.lanes = data_bytes(params)
        self.lane_bits = lane_bits(params)
        self.data_bits = params.axi_data_bits
        self.data_mask = (1 << self.data_bits) - 1
        self.lane_mask = (1 << self.lanes) - 1
        self.address_bits = params.axi_address_bits
        self.address_mask = (1 << params.axi_address_bits) - 1
        self.end_mask = (1 << (params.axi_address_bits + 1)) - 1  # the decoder's ``end``
        slots = MAX_DATA_BYTES // self.lanes
        self.slot_mask = (1 << (BLOCK_BITS - self.lane_bits)) - 1
        self.gather_beat_mask = (1 << (slots - 1).bit_length()) - 1
        self.depth = params.outstanding_tags
        # A key's entry address (``entry_address_layout``) and its generation above it.
        layout = entry_address_layout(params)
        self.tag_mask = (1 << tag_bits(params)) - 1
        self.source_offset, _ = field_slice(layout, "source")
        self.plane_offset, plane_width = field_slice(layout, "plane")
        self.plane_mask = (1 << plane_width) - 1
        self.generation_offset, _ = field_slice(write_key_layout(params), "generation")
        self.record_entry_offset, _ = field_slice(record_layout(params), "entry")
        #: Cycles a WRITE waited for a pending entry of its key (a statistic, not a register).
        self.waiting_cycles = 0
        self._ports(params)
        self._reset()

    def _ports(self, params: ChipletParams) -> None:
        flit = DELIVERED_FLIT.size
        self.input_widths = {"request.valid": 1, "request.payload": flit,
                             "completion.ready": 1,
                             "memory_bytes": params.axi_address_bits + 1}
        self.output_widths = {"request.ready": 1, "completion.valid": 1,
                              "completion.payload": flit,
                              "refused_requests": COUNTER_BITS, "unsupported": COUNTER_BITS,
                              "duplicates": COUNTER_BITS}
        # The port is Out(AxiSignature): the manager's outputs are the responder's outputs.
        for name, member in AxiSignature(params).members.items():
            side = self.output_widths if member.flow == wiring.Out else self.input_widths
            side[f"m_axi.{name}"] = Shape.cast(member.shape).width
        signature = filter_port_signature(params)
        for path, member, _ in signature.flatten(signature.create()):
            side = self.output_widths if member.flow == wiring.Out else self.input_widths
            side[".".join(("filter", *map(str, path)))] = Shape.cast(member.shape).width
        constant = dict.fromkeys(self.output_widths, 0)
        for channel in ("aw", "ar"):
            constant[f"m_axi.{channel}size"] = self.lane_bits
            constant[f"m_axi.{channel}burst"] = BurstType.INCR.value
        self._constant_outputs = constant

    def _reset(self) -> None:
        # Request decoder.
        self.state = _HEADER
        self.saved = 0
        self.saved_high = 0
        self.saved_key = (0, 0)  # (plane, tag) as they arrived
        self.saved_enables = 0
        self.saved_carry = 0
        self.saved_ended = 0
        self.data_valid = 0
        self.data_payload = 0
        self.refused_requests = 0
        self.unsupported = 0
        self.duplicates = 0
        # Write channel: (answer, refused, ok) per request; the key (entry address,
        # generation) of each WRITE whose B is to come; the outcome (ok) of each whose B came
        # before it could be answered.
        self.writes_pending = _Queue(self.depth, (_NO_ANSWER, 0, 0))
        self.in_flight = _Queue(self.depth, (0, 0))
        self.outcomes = _Queue(self.depth, 0)
        self.write_buffers = [_WriteBuffer(), _WriteBuffer()]
        self.next_fill = 0
        self.fill = 0
        self.filling = 0
        self.fill_chunk = 0
        self.fill_shift = 0
        self.fill_enables = 0
        self.fill_pad = 0
        self.drain = 0
        self.awvalid = 0
        self.awaddr = 0
        self.awlen = 0
        self.write_completion_valid = 0
        self.write_completion_flit = 0
        # Read channel: the answer per request, in order.
        self.reads_pending = _Queue(self.depth, _NO_ANSWER)
        self.arvalid = 0
        self.araddr = 0
        self.arlen = 0
        self.read_buffers = [_ReadBuffer(), _ReadBuffer()]
        self.gather = 0
        self.gather_beat = 0
        self.gather_error = 0
        self.send = 0
        self.in_data = 0
        self.flit_index = 0
        # Completion merge: reads on input 0, writes on input 1.
        self.merge = PacketMergeModel(2)
        self._settle()

    # -- the request decoder -------------------------------------------------------------

    def _decode(self, flit: int, last: int, memory_bytes: int) -> _Decision:
        """The decoder's combinational signals in this cycle, ``flit`` on ``request``."""
        state = self.state
        in_header = state == _HEADER
        in_extension = state == _EXTENSION
        in_enables = state == _ENABLES
        header = flit & _HEADER_MASK if in_header else self.saved
        if in_extension:
            high = flit >> _HIGH_OFFSET & _HIGH_MASK
        else:
            high = 0 if in_header else self.saved_high
        if in_enables:
            enables = flit & _ALL_ENABLED
        else:
            enables = self.saved_enables if state == _DECIDE else _ALL_ENABLED
        command = header >> _COMMAND[0] & _COMMAND[1]
        is_packet = (header >> _KIND[0] & _KIND[1]) == _PACKET
        is_write = int(is_packet and command == _WRITE)
        is_read = int(is_packet and command == _READ)
        non_posted = int(is_packet and command in _NON_POSTED)
        supported = is_write | is_read
        has_extension = header >> _HAS_EXTENSION[0] & 1
        has_enables = header >> _HAS_ENABLES[0] & 1
        options_left = int((in_header and supported and (has_extension or has_enables))
                           or (in_extension and has_enables))
        decide = int((in_header or in_extension or in_enables) and (not options_left or last))
        count = header >> _BYTE_COUNT[0] & _COUNT_MASK
        address = header >> _ADDRESS[0] & _ADDRESS[1]
        data_flits = ((count + FLIT_BYTES - 1) >> FLIT_BYTE_BITS) & _DATA_FLITS_MASK \
            if is_write else 0
        well_formed = (count != 0 and count <= MAX_DATA_BYTES
                       and (address & _BLOCK_MASK) + count <= MAX_DATA_BYTES
                       and (header >> _LENGTH[0] & _LENGTH[1])
                       == has_extension + has_enables + data_flits
                       and not options_left and (is_read or not last))
        remote = address | high << HEADER_ADDRESS_BITS
        end = ((remote & self.address_mask) + count) & self.end_mask
        inside = not remote >> self.address_bits and end <= memory_bytes
        carry_out = int(bool(supported and well_formed and inside))
        to_decide = decide & is_write
        to_write = decide & (1 - is_write) & non_posted & (1 - carry_out)
        to_read = decide & carry_out & is_read
        tag = header >> _TAG[0] & _TAG[1]
        source = header >> _SOURCE[0] & _SOURCE[1]
        answer = (header >> _DESTINATION[0] & _DESTINATION[1], source, tag, address, count)
        if in_extension and flit >> _RETRY_OFFSET & 1:
            key = (flit >> _RETRY_PLANE_OFFSET & _RETRY_PLANE_MASK,
                   flit >> _RETRY_TAG_OFFSET & _RETRY_TAG_MASK)
        elif in_header or in_extension:
            key = (self.plane, tag)
        else:
            key = self.saved_key
        key_plane, key_tag = key
        in_range = int(key_plane < self.params.links
                       and key_tag & _INDEX_FIELD_MASK < self.params.outstanding_tags)
        lookup = (key_tag & self.tag_mask | source << self.source_offset
                  | (key_plane & self.plane_mask) << self.plane_offset)
        return _Decision(decide, to_decide, to_write, to_read, carry_out, is_read, supported,
                         has_extension, header, high, answer, remote & self.address_mask,
                         enables, has_enables, key, in_range, lookup,
                         key_tag >> INDEX_FIELD_BITS & 1)

    def _judge(self, decision: _Decision, entry_valid: int, entry: int) -> _Judgement:
        """DECIDE: the WRITE's entry, looked up in the last cycle (``filter.entry``)."""
        if self.state != _DECIDE:
            return _NOT_DECIDING
        in_range = decision.in_range
        same = in_range and entry_valid and (entry >> _ENTRY_GENERATION & 1) \
            == decision.generation
        state = entry >> _ENTRY_STATE & _ENTRY_STATE_MASK
        waiting = int(bool(same and state == _PENDING))
        duplicate = int(bool(same and state == _DONE))
        carry = int(bool(self.saved_carry and in_range and not duplicate))
        decided = int(bool((not in_range or entry_valid) and not waiting))
        return _Judgement(waiting, duplicate, carry, decided,
                          duplicate & (entry >> _ENTRY_OK & 1))

    def _request_ready(self, decision: _Decision, judgement: _Judgement, settled: int,
                       arready: int) -> int:
        state = self.state
        data_free = not self.data_valid or self.filling
        if state == _DATA:
            return int(data_free)
        if state == _DECIDE:
            return int(bool(not self.saved_ended and settled
                            and (not judgement.carry or data_free)))
        if decision.to_write:
            return self._write_ready(True, 0)
        if decision.to_read:
            return int(self.reads_pending.w_rdy and (not self.arvalid or arready))
        return 1

    def _write_ready(self, refused: bool, awready: int) -> int:
        """The write channel's ``command.ready``."""
        return int(self.writes_pending.w_rdy
                   and (refused or (self.fill_free and (not self.awvalid or awready))))

    def _cycle(self, inputs: Mapping[str, int]) -> tuple[_Decision, _Judgement, int, int]:
        """This cycle's decoder signals: the decision, the judgement, ``settled`` (a WRITE
        decided and its command taken) and ``request.ready``."""
        payload = inputs["request.payload"]
        decision = self._decode(payload >> _FLIT_OFFSET & _FLIT_MASK,
                                payload >> _LAST_OFFSET & 1, inputs["memory_bytes"])
        judgement = self._judge(decision, inputs["filter.entry_valid"], inputs["filter.entry"])
        settled = int(bool(judgement.decided
                           and self._write_ready(not judgement.carry, inputs["m_axi.awready"])))
        ready = self._request_ready(decision, judgement, settled, inputs["m_axi.arready"])
        return decision, judgement, settled, ready

    # -- outputs ---------------------------------------------------------------------------

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        outputs = dict(self._outputs)
        decision, judgement, settled, ready = self._cycle(inputs)
        outputs["request.ready"] = ready
        outputs["filter.lookup.valid"] = decision.in_range & int(
            self.state == _DECIDE or bool(inputs["request.valid"] and decision.to_decide))
        outputs["filter.lookup.payload"] = decision.lookup
        outputs["filter.update_valid"] = settled & decision.in_range & (1 - judgement.duplicate)
        outputs["filter.update"] = (decision.generation << _ENTRY_GENERATION
                                    | (_PENDING if judgement.carry else _DONE) << _ENTRY_STATE)
        # The WRITE whose B is next: its key recorded done as B is taken.
        outputs["filter.record.valid"] = self._record_valid(inputs)
        key_address, generation = self.in_flight.r_data
        ok = int(inputs["m_axi.bresp"] == _OKAY)
        outputs["filter.record.payload"] = key_address | (
            generation << _ENTRY_GENERATION | _DONE << _ENTRY_STATE
            | ok << _ENTRY_OK) << self.record_entry_offset
        outputs["m_axi.bready"] = self._b_ready(inputs)
        return outputs

    def _record_valid(self, inputs: Mapping[str, int]) -> int:
        """``filter.record.valid``: a WRITE's B is to come, and valid."""
        return int(bool(self.in_flight.r_rdy and inputs["m_axi.bvalid"]))

    def _b_ready(self, inputs: Mapping[str, int]) -> int:
        """BREADY: a WRITE's B is to come, and its key is being recorded."""
        return int(bool(self.in_flight.r_rdy and self.outcomes.w_rdy
                        and inputs["filter.record.ready"]))

    def _settle(self) -> None:
        """Everything the outputs and the next edge need that depends on state only."""
        outputs = dict(self._constant_outputs)
        lanes, lane_bits = self.lanes, self.lane_bits
        # Write channel: AW, W from the draining buffer.
        outputs["m_axi.awvalid"] = self.awvalid
        outputs["m_axi.awaddr"] = self.awaddr
        outputs["m_axi.awlen"] = self.awlen
        self.fill_free = not self.write_buffers[self.next_fill].busy
        drained = self.write_buffers[self.drain]
        beat_end = drained.beat_start + lanes
        needed_end = beat_end if beat_end < drained.end else drained.end
        self.wvalid = int(bool(drained.busy and needed_end <= drained.written_end))
        self.wlast = int(beat_end >= drained.end)
        slot = drained.beat_start >> lane_bits
        in_packet = self.lane_mask
        if slot == drained.offset >> lane_bits:  # the first beat
            in_packet &= ~((1 << (drained.offset & (lanes - 1))) - 1)
        if self.wlast:
            in_packet &= (1 << (((drained.end - 1) & (lanes - 1)) + 1)) - 1
        outputs["m_axi.wvalid"] = self.wvalid
        outputs["m_axi.wlast"] = self.wlast
        strobe = drained.strobes >> slot * lanes & in_packet
        # Lanes not written carry zeros, so WDATA holds still while a beat waits.
        byte_mask = int.from_bytes(bytes(0xFF * (strobe >> lane & 1) for lane in range(lanes)),
                                   "little")
        outputs["m_axi.wdata"] = drained.data >> slot * self.data_bits & byte_mask
        outputs["m_axi.wstrb"] = strobe

        # Write channel: the answer at the head of the queue.
        self.write_head_answer, self.head_refused, self.head_ok = self.writes_pending.r_data
        self.write_pending = self.writes_pending.r_rdy
        write_completion = (self.write_completion_flit | 1 << _LAST_OFFSET)

        # Read channel: AR, and R into the gathering buffer.
        outputs["m_axi.arvalid"] = self.arvalid
        outputs["m_axi.araddr"] = self.araddr
        outputs["m_axi.arlen"] = self.arlen
        read_head = self.reads_pending.r_data
        self.read_head = read_head
        self.rready = int(self.reads_pending.r_rdy and not self.read_buffers[self.gather].full)
        outputs["m_axi.rready"] = self.rready
        head_address, head_count = read_head[3], read_head[4]
        self.read_slot = ((head_address >> lane_bits & self.slot_mask) + self.gather_beat) \
            & self.slot_mask
        packet_end = ((head_address & _BLOCK_MASK) + head_count) & _PACKET_END_MASK
        self.last_beat = int((self.read_slot << lane_bits) + lanes >= packet_end)

        # Read channel: the completion of the sending buffer.
        sent = self.read_buffers[self.send]
        count = sent.answer[4]
        if self.in_data:
            shift = self.flit_index << FLIT_BYTE_BITS
            position = ((sent.answer[3] & _BLOCK_MASK) + shift) & _BLOCK_MASK
            remaining = (count - shift) & _COUNT_MASK
            self.last_data_flit = int(remaining <= FLIT_BYTES)
            flit = _rotated(sent.data, position, min(remaining, FLIT_BYTES))
            read_completion = flit | self.last_data_flit << _LAST_OFFSET
        else:
            data_flits = ((count + FLIT_BYTES - 1) >> FLIT_BYTE_BITS) & _DATA_FLITS_MASK
            if sent.error:
                header = _completion_header(sent.answer, _ERROR_RESPONSE, 0)
            else:
                header = _completion_header(sent.answer, _READ_RESPONSE, data_flits)
            read_completion = header | sent.error << _LAST_OFFSET

        # The merge: reads on input 0, writes on input 1.
        self.chosen = self.merge.chosen([sent.full, self.write_completion_valid])
        if self.chosen:
            outputs["completion.valid"] = self.write_completion_valid
            outputs["completion.payload"] = write_completion
        else:
            outputs["completion.valid"] = sent.full
            outputs["completion.payload"] = read_completion

        outputs["refused_requests"] = self.refused_requests
        outputs["unsupported"] = self.unsupported
        outputs["duplicates"] = self.duplicates
        self._outputs = outputs

    # -- the clock edge --------------------------------------------------------------------

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        payload = inputs["request.payload"]
        flit = payload >> _FLIT_OFFSET & _FLIT_MASK
        last = payload >> _LAST_OFFSET & 1
        awready = inputs["m_axi.awready"]
        arready = inputs["m_axi.arready"]
        decision, judgement, settled, ready = self._cycle(inputs)
        self.waiting_cycles += judgement.waiting
        request_valid = inputs["request.valid"]
        taken = bool(request_valid and ready)

        # Handshakes of this cycle, from the state before the edge.
        write_command = bool(settled) or bool(request_valid and decision.to_write
                                              and self._write_ready(True, awready))
        read_command = bool(request_valid and decision.to_read and ready)
        store = self.data_valid and self.filling
        w_taken = self.wvalid and inputs["m_axi.wready"]
        completion_ready = inputs["completion.ready"]
        chosen = self.chosen
        write_completion_ready = completion_ready if chosen == 1 else 0
        read_completion_ready = completion_ready if chosen == 0 else 0
        out_free = not self.write_completion_valid or write_completion_ready
        b_taken = bool(inputs["m_axi.bvalid"] and self._b_ready(inputs))
        answer_now = bool(self.write_pending and out_free
                          and (self.head_refused or self.outcomes.r_rdy or b_taken))
        r_taken = inputs["m_axi.rvalid"] and self.rready
        sent = self.read_buffers[self.send]
        read_sent = sent.full and read_completion_ready
        completion_valid = self.write_completion_valid if chosen else sent.full
        completion_last = 1 if chosen else (self.last_data_flit if self.in_data
                                            else sent.error)

        store_flit = self.data_payload
        self._tick_decoder(decision, judgement, settled, taken, flit, last)
        self._tick_writes(decision, judgement, write_command, store, store_flit, w_taken,
                          awready, write_completion_ready, answer_now, b_taken,
                          inputs["m_axi.bresp"])
        self._tick_reads(decision, read_command, arready, r_taken, inputs["m_axi.rdata"],
                         inputs["m_axi.rresp"], read_sent)
        self.merge.step(chosen, completion_valid and completion_ready, completion_last)
        self._settle()

    def _tick_decoder(self, decision: _Decision, judgement: _Judgement, settled: int,
                      taken: bool, flit: int, last: int) -> None:
        state = self.state
        # The data register: a WRITE's data flits on their way to the write channel.
        if taken and (state == _DATA or judgement.carry):
            self.data_valid = 1
            self.data_payload = flit
        elif self.filling:
            self.data_valid = 0
        if settled:
            if self.saved_ended or (taken and last):
                self.state = _HEADER
            elif judgement.carry:
                self.state = _DATA
            else:
                self.state = _SKIP
            if judgement.duplicate:
                self.duplicates = (self.duplicates + 1) & _COUNTER_MASK
            elif not judgement.carry:
                self.refused_requests = (self.refused_requests + 1) & _COUNTER_MASK
            return
        if not taken or state == _DECIDE:
            return
        if state >= _DATA:  # data or skip
            if last:
                self.state = _HEADER
            return
        if state == _HEADER:
            self.saved = decision.header
        if state in (_HEADER, _EXTENSION):
            self.saved_high = decision.high
            self.saved_key = decision.key
        if decision.decide:
            if decision.to_decide:
                self.state = _DECIDE
                self.saved_enables = decision.enables
                self.saved_carry = decision.carry_out
                self.saved_ended = last
            elif last:
                self.state = _HEADER
            else:
                self.state = _SKIP
            if decision.is_read and not decision.carry_out:
                self.refused_requests = (self.refused_requests + 1) & _COUNTER_MASK
            if not decision.supported:
                self.unsupported = (self.unsupported + 1) & _COUNTER_MASK
        elif state == _HEADER and decision.has_extension:
            self.state = _EXTENSION
        else:
            self.state = _ENABLES

    def _tick_writes(self, decision: _Decision, judgement: _Judgement, accept: bool,
                     store: bool, flit: int, w_taken: bool, awready: int,
                     completion_ready: int, answer_now: bool, b_taken: bool,
                     bresp: int) -> None:
        # The registers as they were before the edge: later statements of the RTL read them.
        buffers = self.write_buffers
        filled = buffers[self.fill]
        filled_written_end, filled_end = filled.written_end, filled.end
        fill_chunk, fill_shift, fill_enables = self.fill_chunk, self.fill_shift, self.fill_enables
        fill_pad = self.fill_pad
        drain, drained = self.drain, buffers[self.drain]
        drained_beat_start = drained.beat_start
        wlast = self.wlast
        if awready:
            self.awvalid = 0
        refused = accept and not judgement.carry
        if accept and not refused:
            address, count = decision.address, decision.answer[4]
            offset = address & _BLOCK_MASK
            self.awvalid = 1
            self.awaddr = address
            self.awlen = (((address & (self.lanes - 1)) + count - 1) >> self.lane_bits) \
                & _LEN_MASK
            target = buffers[self.next_fill]
            self.fill = self.next_fill
            self.next_fill ^= 1
            self.filling = 1
            self.fill_chunk = offset >> FLIT_BYTE_BITS
            self.fill_shift = offset & _FLIT_BYTE_MASK
            self.fill_enables = decision.enables
            self.fill_pad = 1 - decision.has_enables
            target.busy = 1
            target.offset = offset
            target.end = (offset + count) & _END_MASK
            target.written_end = offset
            target.beat_start = offset & ~(self.lanes - 1)
        if store:
            # The flit's 16 bytes go to the buffer from the next flit position on, wrapping
            # at its end; each with its enable bit.
            position = fill_chunk << FLIT_BYTE_BITS | fill_shift
            filled.data = _write_wrapped(filled.data, position, flit, FLIT_BYTES, 8)
            filled.strobes = _write_wrapped(filled.strobes, position,
                                            fill_enables & _FLIT_LANES, FLIT_BYTES, 1)
            filled.written_end = (filled_written_end + FLIT_BYTES) & _END_MASK
            self.fill_chunk = (fill_chunk + 1) & _CHUNK_MASK
            self.fill_enables = (fill_enables >> FLIT_BYTES
                                 | (_FLIT_LANES if fill_pad else 0)
                                 << (BYTE_ENABLE_BITS - FLIT_BYTES))
            if filled_written_end + FLIT_BYTES >= filled_end:
                self.filling = 0
        if w_taken:
            drained.beat_start = (drained_beat_start + self.lanes) & _BEAT_START_MASK
            if wlast:
                drained.busy = 0
                self.drain = drain ^ 1
        if completion_ready:
            self.write_completion_valid = 0
        b_ok = int(bresp == _OKAY)
        outcome_waits = self.outcomes.r_rdy
        if answer_now:
            if self.head_refused:
                error = not self.head_ok
            else:
                error = not (self.outcomes.r_data if outcome_waits else b_ok)
            self.write_completion_valid = 1
            self.write_completion_flit = _completion_header(
                self.write_head_answer, _ERROR_RESPONSE if error else _WRITE_RESPONSE, 0)
        answered_write = answer_now and not self.head_refused
        self.outcomes.step(b_taken and not (answered_write and not outcome_waits), b_ok,
                           answered_write)
        self.in_flight.step(accept and not refused, (decision.lookup, decision.generation),
                            b_taken)
        queued = (decision.answer, int(refused), judgement.ok) if accept else None
        self.writes_pending.step(accept, queued, answer_now)

    def _tick_reads(self, decision: _Decision | None, accept: bool, arready: int,
                    r_taken: bool, rdata: int, rresp: int, sent_taken: bool) -> None:
        if arready:
            self.arvalid = 0
        if accept:
            self.arvalid = 1
            self.araddr = decision.address
            self.arlen = (((decision.address & (self.lanes - 1)) + decision.answer[4] - 1)
                          >> self.lane_bits) & _LEN_MASK
        last_beat = r_taken and self.last_beat
        if r_taken:
            gathered = self.read_buffers[self.gather]
            shift = self.read_slot * self.data_bits
            gathered.data = gathered.data & ~(self.data_mask << shift) | rdata << shift
            error = self.gather_error | (rresp != _OKAY)
            self.gather_beat = (self.gather_beat + 1) & self.gather_beat_mask
            self.gather_error = error
            if last_beat:
                gathered.full = 1
                gathered.error = error
                gathered.answer = self.read_head
                self.gather ^= 1
                self.gather_beat = 0
                self.gather_error = 0
        if sent_taken:
            sent = self.read_buffers[self.send]
            done = False
            if self.in_data:
                self.flit_index = (self.flit_index + 1) & _FLIT_INDEX_MASK
                if self.last_data_flit:
                    done = True
                    self.in_data = 0
            elif sent.error:
                done = True
            else:
                self.in_data = 1
                self.flit_index = 0
            if done:
                sent.full = 0
                self.send ^= 1
        self.reads_pending.step(accept, decision.answer if accept else None, last_beat)
