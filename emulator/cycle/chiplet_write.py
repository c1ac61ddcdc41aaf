"""Cycle model of the chiplet's write path (``hdl.chiplet.write_path.WritePath``).

The model holds the RTL's registers one for one: the write packetizer's burst registers, its
two piece buffers and their bookkeeping, its gathering and sending state machines; the tag
pool's free list, pointers and count (:mod:`emulator.cycle.chiplet_parts`); the write
responses' burst table, tag table, completion state and B register. Given the values of all
input ports in a cycle it returns the values of all output ports in that cycle, bit for bit
the RTL's, whether or not a valid is high (the request payload follows the RTL's multiplexers
also while idle). The AR and R outputs of the AXI4 port are zero, as ``WritePath`` leaves
them.

Interface, shared by the cycle models of the chiplet's blocks so that they compose:

* ports are named by their RTL path joined with ``"."`` (``"s_axi.awvalid"``, ``"source"``,
  ``"request.payload"``); a struct-shaped port is one integer (``"completion.payload"``: the
  ``DELIVERED_FLIT`` flit in its low bits, ``last`` above it); every value must fit its port;
* :meth:`WritePathModel.comb` maps the inputs of the current cycle to every output, without
  changing state, so a composition may call it many times in a cycle;
* :meth:`WritePathModel.tick` takes the same inputs and commits the clock edge that ends
  the cycle.

The model starts as the RTL leaves reset. Every width and offset comes from
:mod:`hdl.layouts`, :mod:`hdl.params` and the constants the RTL derives from them; the
signature is read once at construction, the cycle loop works on plain integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hdl.chiplet.axi import AxiSignature, BurstType, Response, data_bytes
from hdl.chiplet.windows import ENDPOINT_BITS, PAGE_BITS
from hdl.chiplet.write_packetizer import (
    BLOCK_BITS,
    BYTE_COUNT_BITS,
    FLIT_BYTE_BITS,
    FLIT_BYTES,
    HALF_BITS,
    HEADER_ADDRESS_BITS,
)
from hdl.chiplet.write_signals import tag_bits
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    FLIT_BITS,
    HEADER_BODY,
    LINK_HEADER,
    MAX_DATA_BYTES,
    REQUEST_VC,
    Command,
    FlitKind,
    field_slice,
    pack,
)
from hdl.link.link_signals import DELIVERED_FLIT

from ..ref.chiplet import AddressMap
from .chiplet_parts import TagPoolModel, WindowsModel

_TRANSACTION = ("message", "transaction")
_TAG_OFFSET, _TAG_WIDTH = field_slice(HEADER_BODY, *_TRANSACTION, "tag")
_COMMAND_OFFSET, _COMMAND_WIDTH = field_slice(HEADER_BODY, *_TRANSACTION, "command")
_FLIT_OFFSET, _ = field_slice(DELIVERED_FLIT, "flit")
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_MASK = (1 << FLIT_BITS) - 1
_EXTENSION_OFFSET, _ = field_slice(ADDRESS_EXTENSION_FLIT, "address_high")
_LENGTH_MASK = (1 << field_slice(LINK_HEADER, "length")[1]) - 1

#: Header fields the packetizer fills from its registers: (offset, mask) by name.
_HEADER_FIELDS = {name: (offset, (1 << width) - 1) for name, (offset, width) in (
    (name, field_slice(HEADER_BODY, *path)) for name, path in (
        ("length", ("link", "length")),
        ("destination", (*_TRANSACTION, "destination")),
        ("source", (*_TRANSACTION, "source")),
        ("tag", (*_TRANSACTION, "tag")),
        ("address", (*_TRANSACTION, "address")),
        ("byte_count", (*_TRANSACTION, "byte_count")),
        ("has_address_extension", (*_TRANSACTION, "has_address_extension")),
        ("has_byte_enable", (*_TRANSACTION, "has_byte_enable")))
)}
#: The fields every request header has: a WRITE packet on the request VC.
_HEADER_CONSTANT = pack(HEADER_BODY, {"link": {"kind": FlitKind.PACKET, "vc": REQUEST_VC},
                                      "message": {"transaction": {"command": Command.WRITE}}})

_PAGE_MASK = (1 << PAGE_BITS) - 1
_BLOCK_MASK = (1 << BLOCK_BITS) - 1  # an address within its 256-byte block
_HALF_MASK = (1 << HALF_BITS) - 1
_COUNT_MASK = (1 << BYTE_COUNT_BITS) - 1
#: ``flit_index`` counts data flits in a register of ``range(MAX_DATA_FLITS)``.
_FLIT_INDEX_MASK = (1 << (MAX_DATA_BYTES // FLIT_BYTES - 1).bit_length()) - 1
#: ``data_flits``: a register of ``range(MAX_DATA_FLITS + 1)``.
_DATA_FLITS_MASK = (1 << (MAX_DATA_BYTES // FLIT_BYTES).bit_length()) - 1
_COUNTER_MASK = (1 << 32) - 1  # stray_completions, Out(32)
_INCR, _WRAP = BurstType.INCR.value, BurstType.WRAP.value
_OKAY, _SLVERR, _DECERR = Response.OKAY.value, Response.SLVERR.value, Response.DECERR.value
_ERROR_RESPONSE = Command.ERROR_RESPONSE.value

#: ``half_enabled`` with a bit per 128-byte half of the buffer: every byte of both enabled.
_BOTH_HALVES = 0b11
#: The sending state machine's states.
_HEADER, _EXTENSION, _ENABLES, _PAYLOAD = range(4)


def _bits(values: int) -> int:
    """Width of a register of ``range(values)``, as Amaranth sizes it."""
    return (values - 1).bit_length()


@dataclass(slots=True)
class _Piece:
    """One piece buffer's bookkeeping (``write_packetizer.piece_layout``) and its bytes."""

    start: int = 0
    end: int = 0
    count: int = 0
    half_enabled: int = 0
    filled: int = 0
    full: int = 0
    final: int = 0
    destination: int = 0
    remote_page: int = 0
    entry: int = 0
    data: int = 0  # byte n of the 256-byte buffer in bits 8n to 8n + 7
    enabled: int = 0  # bit n: byte n enabled


@dataclass(slots=True)
class _Entry:
    """One entry of the write responses' burst table."""

    id: int = 0
    decerr: int = 0
    failed: int = 0
    closed: int = 0
    pending: int = 0
    older: int = 0


class WritePathModel:
    """``WritePath(address_map)``, cycle for cycle: see the module docstring for the contract.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``WritePath`` by its dotted path, with its width in bits.
    """

    def __init__(self, address_map: AddressMap) -> None:
        self.address_map = address_map
        self.params = params = address_map.params
        self.lanes = data_bytes(params)
        self.lane_bits = self.lanes.bit_length() - 1
        self.tags = params.outstanding_tags
        self.depth = params.outstanding_tags
        self.tag_mask = (1 << tag_bits(params)) - 1
        self.pending_mask = (1 << _bits(self.tags + 1)) - 1
        self.older_mask = (1 << _bits(self.depth)) - 1
        self.all_entries = (1 << self.depth) - 1
        self.windows = WindowsModel(address_map)
        self._ports(params)
        self._reset()

    def _ports(self, params) -> None:
        def width(shape) -> int:
            return Shape.cast(shape).width

        self.input_widths = {"source": ENDPOINT_BITS, "request.ready": 1,
                             "completion.valid": 1, "completion.payload": DELIVERED_FLIT.size}
        self.output_widths = {"request.valid": 1, "request.payload": DELIVERED_FLIT.size,
                              "completion.ready": 1, "stray_completions": 32}
        # The port is In(AxiSignature): the manager's outputs are the path's inputs.
        for name, member in AxiSignature(params).members.items():
            side = self.input_widths if member.flow == wiring.Out else self.output_widths
            side[f"s_axi.{name}"] = width(member.shape)
        self._idle_outputs = {name: 0 for name in self.output_widths}
        self._idle_outputs["completion.ready"] = 1

    def _reset(self) -> None:
        # Packetizer: the burst being gathered.
        self.data_state = False  # gathering state machine: IDLE or DATA
        self.decerr = 0
        self.destination = 0
        self.remote_page = 0
        self.address = 0
        self.size_mask = 0
        self.wrap_mask = 0
        self.kind = 0
        self.entry = 0
        # Packetizer: the piece buffers and the packet being sent.
        self.pieces = [_Piece(), _Piece()]
        self.gather = 0
        self.send = 0
        self.send_state = _HEADER
        self.second = 0
        self.flit_index = 0
        self.tag_pool = TagPoolModel(self.params)
        # Write responses.
        self.entries = [_Entry() for _ in range(self.depth)]
        self.live = 0
        self.tag_entry = [0] * self.tags
        self.busy = 0
        self.in_packet = 0
        self.free_valid = 0
        self.free_payload = 0
        self.bid = 0
        self.bresp = 0
        self.bvalid = 0
        self.stray = 0
        self._settle()

    # -- outputs ---------------------------------------------------------------------------

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        outputs = dict(self._outputs)
        if self._header_waits_for_source:
            outputs["request.payload"] = self._payload | inputs["source"] << self._source_offset
        return outputs

    def _settle(self) -> None:
        """Everything the outputs and the next edge need that depends on state only."""
        outputs = dict(self._idle_outputs)
        # Gathering: awready in IDLE, wready in DATA.
        self.burst_ready = self.live != self.all_entries
        gathered = self.pieces[self.gather]
        self.new_piece = 0
        if not self.data_state:
            outputs["s_axi.awready"] = int(self.burst_ready)
            self.wready = 0
        elif self.decerr:
            self.wready = 1
        elif not gathered.full:
            self.new_piece = gathered.filled & (self.address != gathered.end
                                                or not self.address & _BLOCK_MASK)
            self.wready = 1 - self.new_piece
        else:
            self.wready = 0
        outputs["s_axi.wready"] = self.wready

        # Sending: the packet of the sending buffer (the piece, or its first or second part).
        sending = self.pieces[self.send]
        all_halves = sending.half_enabled == _BOTH_HALVES
        split = not all_halves and sending.count > BYTE_ENABLE_BITS
        self.all_enabled = (sending.half_enabled >> self.second & 1) if split else int(all_halves)
        first_count = (BYTE_ENABLE_BITS - (sending.start & _HALF_MASK)) if split \
            else sending.count
        if self.second:
            # The second part starts at the piece's 128-byte-aligned address.
            start = sending.start >> (HALF_BITS + 1) << (HALF_BITS + 1) | 1 << HALF_BITS
            count = (sending.count - first_count) & _COUNT_MASK
        else:
            start, count = sending.start, first_count
        self.last_of_piece = int(not split or self.second)
        remote = start | sending.remote_page << PAGE_BITS
        self.has_extension = int(remote >> HEADER_ADDRESS_BITS != 0)
        offset = start & _BLOCK_MASK
        self._header_waits_for_source = False
        state = self.send_state
        if state == _HEADER:
            self.tag = self.tag_pool.payload
            valid = sending.full & self.tag_pool.valid
            data_flits = ((count + FLIT_BYTES - 1) >> FLIT_BYTE_BITS) & _DATA_FLITS_MASK
            enable_flit = 1 - self.all_enabled
            fields = _HEADER_FIELDS
            self._payload = (
                _HEADER_CONSTANT
                | ((self.has_extension + enable_flit + data_flits) & _LENGTH_MASK)
                << fields["length"][0]
                | sending.destination << fields["destination"][0]
                | self.tag << fields["tag"][0]
                | (remote & fields["address"][1]) << fields["address"][0]
                | count << fields["byte_count"][0]
                | self.has_extension << fields["has_address_extension"][0]
                | enable_flit << fields["has_byte_enable"][0]) << _FLIT_OFFSET
            self._source_offset = fields["source"][0] + _FLIT_OFFSET
            self._header_waits_for_source = True
            payload = self._payload
        elif state == _EXTENSION:
            valid = 1
            payload = (remote >> HEADER_ADDRESS_BITS) << _EXTENSION_OFFSET << _FLIT_OFFSET
        elif state == _ENABLES:
            valid = 1
            payload = ((sending.enabled >> offset) & ((1 << min(count, BYTE_ENABLE_BITS)) - 1)
                       ) << _FLIT_OFFSET
        else:
            valid = 1
            shift = self.flit_index << FLIT_BYTE_BITS
            position = (offset + shift) & _BLOCK_MASK
            remaining = (count - shift) & _COUNT_MASK
            self.last_data_flit = int(remaining <= FLIT_BYTES)
            kept = (1 << 8 * min(remaining, FLIT_BYTES)) - 1
            payload = ((sending.data >> 8 * position) & kept) << _FLIT_OFFSET \
                | self.last_data_flit << _LAST_OFFSET
        outputs["request.valid"] = valid
        outputs["request.payload"] = payload

        # Write responses: which bursts may answer; the B register.
        can_answer = 0
        live = self.live
        while live:
            n = (live & -live).bit_length() - 1
            live &= live - 1
            item = self.entries[n]
            if item.closed and not item.pending and not item.older:
                can_answer |= 1 << n
        self.can_answer = can_answer
        outputs["s_axi.bvalid"] = self.bvalid
        outputs["s_axi.bid"] = self.bid
        outputs["s_axi.bresp"] = self.bresp
        outputs["stray_completions"] = self.stray
        self._outputs = outputs

    # -- the clock edge --------------------------------------------------------------------

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        awvalid = inputs["s_axi.awvalid"]
        wvalid = inputs["s_axi.wvalid"]
        wlast = inputs["s_axi.wlast"]
        bready = inputs["s_axi.bready"]

        # Packetizer, gathering side.
        take_aw = not self.data_state and awvalid and self.burst_ready
        take_w = wvalid and self.wready
        close = dropped = leave_data = False
        if self.data_state:
            if self.decerr:
                dropped = leave_data = take_w and wlast
            elif not self.pieces[self.gather].full:
                close = wvalid and (self.new_piece or wlast)
                leave_data = take_w and wlast
        store = take_w and not self.decerr

        # Packetizer, sending side; the tag pool hands out a tag with each header taken.
        flit_taken = self._outputs["request.valid"] and inputs["request.ready"]
        sending = self.pieces[self.send]
        sent = flit_taken and self.send_state == _HEADER
        sent_tag = self.tag if sent else 0

        # Write responses: completions, and the burst that answers.
        completion_valid = inputs["completion.valid"]
        flit = inputs["completion.payload"] >> _FLIT_OFFSET & _FLIT_MASK
        tag_field = flit >> _TAG_OFFSET & ((1 << _TAG_WIDTH) - 1)
        completed_tag = tag_field & self.tag_mask
        header = completion_valid and not self.in_packet
        answered = header and tag_field < self.tags and self.busy >> completed_tag & 1
        failed = (flit >> _COMMAND_OFFSET & ((1 << _COMMAND_WIDTH) - 1)) == _ERROR_RESPONSE
        load = (not self.bvalid or bready) and self.can_answer
        chosen = (self.can_answer & -self.can_answer).bit_length() - 1
        retiring = 1 << chosen if load else 0
        free_entries = ~self.live & self.all_entries
        lowest_free = free_entries & -free_entries
        opening = take_aw  # burst.valid & burst.ready

        # -- commit: write responses --
        if completion_valid:
            self.in_packet = 1 - (inputs["completion.payload"] >> _LAST_OFFSET & 1)
        if header and not answered:
            self.stray = (self.stray + 1) & _COUNTER_MASK
        give, given = self.free_valid, self.free_payload
        self.free_valid, self.free_payload = int(bool(answered)), completed_tag
        entries = self.entries
        if load:
            item = entries[chosen]
            retired_id = item.id
            self.bid = retired_id
            self.bresp = _DECERR if item.decerr else _SLVERR if item.failed else _OKAY
            self.bvalid = 1
        elif bready:
            self.bvalid = 0
        if take_aw:
            hit, destination, remote_page = self.windows.lookup(inputs["s_axi.awaddr"])
        if opening:
            awid = inputs["s_axi.awid"]
            same_id = 0
            live = self.live & ~retiring
            while live:
                n = (live & -live).bit_length() - 1
                live &= live - 1
                same_id += entries[n].id == awid
        answered_entry = self.tag_entry[completed_tag] if answered else -1
        if sent:
            self.tag_entry[sent_tag] = sending.entry
            self.busy |= 1 << sent_tag
        if answered:
            self.busy &= ~(1 << completed_tag)
        if sent:
            item = entries[sending.entry]
            item.pending = (item.pending + 1) & self.pending_mask
            if sending.final and self.last_of_piece:
                item.closed = 1
        if answered:
            item = entries[answered_entry]
            item.pending = (item.pending - 1) & self.pending_mask
            if failed:
                item.failed = 1
        if dropped:
            entries[self.entry].closed = 1
        if load:
            live = self.live & ~retiring
            while live:
                n = (live & -live).bit_length() - 1
                live &= live - 1
                item = entries[n]
                if item.id == retired_id and item.older:
                    item.older -= 1
        if opening:
            item = entries[lowest_free.bit_length() - 1]
            item.id = awid
            item.decerr = 1 - hit
            item.failed = item.closed = item.pending = 0
            item.older = same_id & self.older_mask
        self.live = (self.live & ~retiring) | (lowest_free if opening else 0)

        # -- commit: tag pool --
        self.tag_pool.tick(sent, give, given)

        # -- commit: packetizer, gathering --
        gather = self.gather
        gathered = self.pieces[gather]
        if store:
            self._store(gathered, inputs["s_axi.wdata"], inputs["s_axi.wstrb"])
        if close:
            gathered.full = 1
            gathered.final = int(bool(take_w and wlast))
            gathered.destination = self.destination
            gathered.remote_page = self.remote_page
            gathered.entry = self.entry
            self.gather = 1 - gather
        if take_aw:
            size = inputs["s_axi.awsize"]
            self.decerr = 1 - hit
            self.destination = destination
            self.remote_page = remote_page
            self.entry = lowest_free.bit_length() - 1 if lowest_free else 0
            self.address = inputs["s_axi.awaddr"] & _PAGE_MASK
            self.size_mask = ((1 << size) - 1) & _PAGE_MASK
            self.wrap_mask = (inputs["s_axi.awlen"] << size | self.size_mask) & _PAGE_MASK
            self.kind = inputs["s_axi.awburst"]
            self.data_state = True
        elif leave_data:
            self.data_state = False

        # -- commit: packetizer, sending --
        if flit_taken:
            state = self.send_state
            if state == _HEADER:
                self.flit_index = 0
                self.send_state = (_EXTENSION if self.has_extension else
                                   _ENABLES if not self.all_enabled else _PAYLOAD)
            elif state == _EXTENSION:
                self.send_state = _ENABLES if not self.all_enabled else _PAYLOAD
            elif state == _ENABLES:
                self.send_state = _PAYLOAD
            else:
                self.flit_index = (self.flit_index + 1) & _FLIT_INDEX_MASK
                if self.last_data_flit:
                    self.send_state = _HEADER
                    if not self.last_of_piece:
                        self.second = 1
                    else:
                        self.second = 0
                        sending.full = sending.filled = 0
                        self.send = 1 - self.send
        self._settle()

    def _store(self, piece: _Piece, word: int, strobe: int) -> None:
        """A W beat of a burst in a window into the gathering buffer; the address moves on."""
        address, size_mask = self.address, self.size_mask
        lane_mask = self.lanes - 1
        lower = address & lane_mask
        container_lane = lower & ~size_mask & lane_mask
        upper = container_lane + (size_mask & lane_mask) + 1  # one past the last active lane
        lanes = ((1 << upper) - 1) & ~((1 << lower) - 1)
        beat_end = (address & ~size_mask) + size_mask + 1
        # Lane l of the beat lands at byte (slot << lane_bits) + l of the buffer.
        base = ((address & _BLOCK_MASK) >> self.lane_bits) << self.lane_bits
        byte_lanes = ((1 << 8 * upper) - 1) & ~((1 << 8 * lower) - 1)
        piece.data = (piece.data & ~(byte_lanes << 8 * base)) | (word & byte_lanes) << 8 * base
        piece.enabled = (piece.enabled & ~(lanes << base)) | (strobe & lanes) << base
        half = address >> HALF_BITS & 1
        all_enabled = int(strobe & lanes == lanes)
        if piece.filled:
            piece.count = (piece.count + beat_end - address) & _COUNT_MASK
            piece.half_enabled &= ~(1 << half) | all_enabled << half
        else:
            piece.start = address
            piece.count = (beat_end - address) & _COUNT_MASK
            piece.half_enabled = (_BOTH_HALVES & ~(1 << half)) | all_enabled << half
        piece.filled = 1
        piece.end = beat_end
        incremented = beat_end & _PAGE_MASK
        if self.kind == _INCR:
            self.address = incremented
        elif self.kind == _WRAP:
            self.address = (address & ~self.wrap_mask) | (incremented & self.wrap_mask)
