"""Cycle model of the chiplet's read path (``hdl.chiplet.read_path.ReadPath``).

The model holds the RTL's registers one for one: the read packetizer's burst registers (where
the next piece starts, the run's end, the run to restart, the runs left, the window's
destination and remote page) and its header/extension state machine; the tag pool's free
list, pointers and count (:mod:`emulator.cycle.chiplet_parts`); the read responses' tag bits
(waiting, arrived, failed), completion state (the packet's tag, offset, row, carried bytes,
flush), data memory and its read register, and R register; the burst table's entries (each
burst with its next beat's address and number, the older bursts of its ARID, its oldest
piece), the piece lists linked by tag (byte counts, successors, the last piece sent, the
entry being sent), the burst holding R and the bytes of its piece read out
(``hdl.chiplet.read_bursts.ReadBursts``). Given the values of all input ports in a cycle it
returns the values of all output ports in that cycle, bit for bit the RTL's, whether or not a
valid is high (the request payload and RDATA follow the RTL's multiplexers and registers also
while idle). The AW, W and B outputs of the AXI4 port are zero, as ``ReadPath`` leaves them.

The interface is that of :mod:`emulator.cycle.chiplet_write`, shared by the chiplet's cycle
models so that they compose: ports by their dotted RTL path (``"s_axi.arvalid"``,
``"request.payload"``; a ``DELIVERED_FLIT`` payload as one integer, the flit in its low bits,
``last`` above); :meth:`ReadPathModel.comb` maps the inputs of the current cycle to every
output without changing state; :meth:`ReadPathModel.tick` commits the clock edge. Only
``s_axi.arready`` (from ``request.ready``) and ``request.payload`` (from ``source``) depend
on inputs of the same cycle; the other outputs come from registers.

The model starts as the RTL leaves reset. Every width and offset comes from
:mod:`hdl.layouts`, :mod:`hdl.params` and the constants the RTL derives from them.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hdl.chiplet.axi import LEN_BITS, AxiSignature, BurstType, Response, data_bytes
from hdl.chiplet.read_packetizer import BLOCK_BITS, HEADER_ADDRESS_BITS
from hdl.chiplet.read_responses import FLIT_BYTE_BITS, FLIT_BYTES, INDEX_FIELD_BITS
from hdl.chiplet.read_signals import BYTE_COUNT_BITS, READ_TAG_FLAG, burst_entries
from hdl.chiplet.windows import ENDPOINT_BITS, PAGE_BITS
from hdl.chiplet.write_signals import tag_bits
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    FLIT_BITS,
    HEADER_BODY,
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
_ADDRESS_OFFSET, _ = field_slice(HEADER_BODY, *_TRANSACTION, "address")
_FLIT_OFFSET, _ = field_slice(DELIVERED_FLIT, "flit")
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_MASK = (1 << FLIT_BITS) - 1
_EXTENSION_OFFSET, _ = field_slice(ADDRESS_EXTENSION_FLIT, "address_high")

#: Header fields the packetizer fills from its registers: (offset, mask) by name.
_HEADER_FIELDS = {name: (offset, (1 << width) - 1) for name, (offset, width) in (
    (name, field_slice(HEADER_BODY, *path)) for name, path in (
        ("length", ("link", "length")),
        ("destination", (*_TRANSACTION, "destination")),
        ("source", (*_TRANSACTION, "source")),
        ("tag", (*_TRANSACTION, "tag")),
        ("address", (*_TRANSACTION, "address")),
        ("byte_count", (*_TRANSACTION, "byte_count")),
        ("has_address_extension", (*_TRANSACTION, "has_address_extension")))
)}
#: The fields every read request header has: a READ packet on the request VC.
_HEADER_CONSTANT = pack(HEADER_BODY, {"link": {"kind": FlitKind.PACKET, "vc": REQUEST_VC},
                                      "message": {"transaction": {"command": Command.READ}}})

_PAGE_MASK = (1 << PAGE_BITS) - 1
_RUN_END_MASK = (1 << (PAGE_BITS + 1)) - 1  # run and beat ends may be 4096
_BLOCK_MASK = (1 << BLOCK_BITS) - 1
_COUNT_MASK = (1 << BYTE_COUNT_BITS) - 1
_LEN_MASK = (1 << LEN_BITS) - 1
_TAG_FIELD_MASK = (1 << _TAG_WIDTH) - 1
_COMMAND_MASK = (1 << _COMMAND_WIDTH) - 1
_FLIT_BYTE_MASK = FLIT_BYTES - 1
#: The 16-byte row of a tag's slot that a data flit goes to: ``row`` in the RTL.
_ROW_MASK = (1 << (BLOCK_BITS - FLIT_BYTE_BITS)) - 1
_INDEX_FIELD_MASK = (1 << INDEX_FIELD_BITS) - 1
_COUNTER_MASK = (1 << 32) - 1  # stray_completions, Out(32)
_FIXED, _WRAP = BurstType.FIXED.value, BurstType.WRAP.value
_OKAY, _SLVERR, _DECERR = Response.OKAY.value, Response.SLVERR.value, Response.DECERR.value
_READ_RESPONSE = Command.READ_RESPONSE.value


class ReadPathModel:
    """``ReadPath(address_map)``, cycle for cycle: see the module docstring for the contract.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``ReadPath`` by its dotted path, with its width in bits.
    """

    def __init__(self, address_map: AddressMap) -> None:
        self.address_map = address_map
        self.params = params = address_map.params
        self.windows = WindowsModel(address_map)
        self.tags = params.outstanding_tags
        self.index_mask = (1 << tag_bits(params)) - 1
        self.extension_bits = params.axi_address_bits > HEADER_ADDRESS_BITS
        # The read responses' memory: rows of a bus word, or of a flit row when the bus is
        # narrower; the RTL's ``lanes``, ``row_bytes``, ``parts`` and their logs.
        self.lanes = lanes = data_bytes(params)
        self.lane_mask = lanes - 1
        self.lane_bits = lanes.bit_length() - 1
        row_bytes = max(FLIT_BYTES, lanes)
        self.row_bits = row_bytes.bit_length() - 1
        self.parts = row_bytes // FLIT_BYTES
        self.part_bits = self.parts.bit_length() - 1
        self.rows_per_slot_bits = BLOCK_BITS - self.row_bits
        self.memory_rows = self.tags * (1 << BLOCK_BITS) // row_bytes
        self.data_mask = (1 << params.axi_data_bits) - 1
        self.depth = burst_entries(params)
        self.older_mask = (1 << (self.depth - 1).bit_length()) - 1  # ``range(depth)``
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
        # Packetizer: the burst under way and the sending state machine.
        self.busy = 0
        self.address = 0
        self.run_end = 0
        self.restart = 0
        self.restart_end = 0
        self.runs_left = 0
        self.destination = 0
        self.remote_page = 0
        self.has_extension = 0
        self.extension_state = False  # the FSM: HEADER, or EXTENSION
        self.ended = 0
        self.tag_pool = TagPoolModel(self.params)
        # Read responses: per-tag bits, the completion under way, the data memory.
        self.waiting = 0
        self.arrived = 0
        self.failed = 0
        self.in_packet = 0
        self.stray = 0
        self.owned = 0
        self.packet_tag = 0
        self.packet_failed = 0
        self.offset = 0
        self.row = 0
        self.carry = 0
        self.flush = 0
        self.storage = [0] * self.memory_rows
        self.read_data = 0  # the memory read port's output register
        # Read responses: the burst table, a list per field indexed by entry (``burst`` as
        # ``read_burst_layout``: id, address of the next beat, length, size, kind, decerr).
        depth, tags = self.depth, self.tags
        self.live = [False] * depth
        self.entry_burst = [(0, 0, 0, 0, 0, 0)] * depth
        self.entry_beat = [0] * depth
        self.entry_older = [0] * depth
        self.entry_piece = [0] * depth
        self.entry_has_piece = [0] * depth
        # The piece lists: each tag's byte count and successor, the last piece sent, the
        # entry of the last burst taken.
        self.piece_bytes = [0] * tags
        self.next_piece = [0] * tags
        self.linked = 0
        self.tail = 0
        self.sending = 0
        # The beat walk and the R register.
        self.holding = 0
        self.current = 0
        self.used = 0
        # What ``_settle`` works out for the chosen burst; left as they were while no burst may
        # return a beat (nothing reads them then).
        self.chosen = self.head_id = self.head_decerr = self.piece_tag = 0
        self.rvalid = 0
        self.rid = 0
        self.rresp = 0
        self.rlast = 0
        self.wide_mask = 0  # the RTL's ``mask`` register, a bit per data bit
        self.word = 0
        self.rdata = 0
        self._settle()

    # -- outputs ---------------------------------------------------------------------------

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        outputs = dict(self._outputs)
        if not self.extension_state:
            outputs["request.payload"] = self._payload | inputs["source"] << self._source_offset
        # AR is taken while no burst is under way or its last flit leaves now.
        finishing = self._finishes and self._request_valid and inputs["request.ready"]
        outputs["s_axi.arready"] = int((not self.busy or finishing) and self._burst_room)
        return outputs

    def _settle(self) -> None:
        """Everything the outputs and the next edge need that depends on state only."""
        outputs = dict(self._idle_outputs)
        # Packetizer: the piece at ``address``, up to the run's end or the next 256-byte
        # boundary, and the flit on the request stream.
        address = self.address
        block_end = ((address >> BLOCK_BITS) + 1) << BLOCK_BITS
        piece_end = block_end if block_end < self.run_end else self.run_end
        self.piece_end = piece_end
        self.count = (piece_end - address) & _COUNT_MASK
        self.run_over = piece_end == self.run_end
        self.last_piece = self.run_over and self.runs_left == 0
        remote = address | self.remote_page << PAGE_BITS
        if self.extension_state:
            self._request_valid = 1
            self._finishes = self.ended
            payload = (remote >> HEADER_ADDRESS_BITS) << _EXTENSION_OFFSET << _FLIT_OFFSET \
                if self.extension_bits else 0
            payload |= 1 << _LAST_OFFSET
        else:
            self.tag = self.tag_pool.payload
            self._request_valid = self.busy & self.tag_pool.valid
            self._finishes = self.last_piece and not self.has_extension
            fields = _HEADER_FIELDS
            payload = (
                _HEADER_CONSTANT
                | self.has_extension << fields["length"][0]
                | self.destination << fields["destination"][0]
                | (READ_TAG_FLAG | self.tag) << fields["tag"][0]
                | (remote & fields["address"][1]) << fields["address"][0]
                | self.count << fields["byte_count"][0]
                | self.has_extension << fields["has_address_extension"][0]) << _FLIT_OFFSET \
                | (1 - self.has_extension) << _LAST_OFFSET
            self._payload = payload
            self._source_offset = fields["source"][0] + _FLIT_OFFSET
        outputs["request.valid"] = self._request_valid
        outputs["request.payload"] = payload
        outputs["s_axi.rvalid"] = self.rvalid
        outputs["s_axi.rid"] = self.rid
        outputs["s_axi.rresp"] = self.rresp
        outputs["s_axi.rlast"] = self.rlast
        outputs["s_axi.rdata"] = self.rdata
        outputs["stray_completions"] = self.stray
        self._outputs = outputs
        self._burst_room = not all(self.live)

        # Read responses: the bursts that may return a beat (no older burst of their ARID
        # left; the piece of their next beat here, or DECERR), the one chosen (the burst of
        # the last beat while it may go on, else the lowest entry), its next beat.
        arrived, has_piece, pieces = self.arrived, self.entry_has_piece, self.entry_piece
        eligible = [n for n in range(self.depth) if self.live[n] and self.entry_older[n] == 0
                    and (self.entry_burst[n][5]
                         or has_piece[n] and arrived >> pieces[n] & 1)]
        self.ready = bool(eligible)
        if not eligible:
            return
        chosen = self.current if self.holding and self.current in eligible else eligible[0]
        self.chosen = chosen
        (self.head_id, beat_address, self.head_length, size, kind,
         self.head_decerr) = self.entry_burst[chosen]
        self.piece_tag = piece_tag = pieces[chosen]
        piece_count = self.piece_bytes[piece_tag]
        size_mask = ((1 << size) - 1) & _PAGE_MASK
        beat_end = ((beat_address & ~size_mask) + size_mask + 1) & _RUN_END_MASK
        beat_bytes = (beat_end - beat_address) & _COUNT_MASK
        if kind == _FIXED:
            self.next_address = beat_address
        elif kind == _WRAP:
            wrap_mask = ((self.head_length << size) | size_mask) & _PAGE_MASK
            self.next_address = (beat_address & ~wrap_mask | beat_end & wrap_mask) & _PAGE_MASK
        else:
            self.next_address = beat_end & _PAGE_MASK
        # Active lanes: from the address's lane to the end of its Number_Bytes container.
        lower = beat_address & self.lane_mask
        container_lane = lower & ~size_mask & self.lane_mask
        upper = container_lane + (size_mask & self.lane_mask) + 1
        # RDATA's mask: all bits of the active lanes (contiguous, from ``lower`` to ``upper``).
        self.beat_bits = ((1 << 8 * upper) - 1) & ~((1 << 8 * lower) - 1)
        self.beat_address = beat_address
        self.consumed = self.used + beat_bytes
        self.piece_done = self.consumed == piece_count
        self.piece_failed = self.failed >> piece_tag & 1
        self.last_beat = self.entry_beat[chosen] == self.head_length

    # -- the clock edge --------------------------------------------------------------------

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        # Packetizer: the flit taken, the header's tag, AR.
        flit_taken = self._request_valid and inputs["request.ready"]
        sent = flit_taken and not self.extension_state
        sent_tag = self.tag if sent else 0
        finishing = flit_taken and self._finishes
        take_ar = inputs["s_axi.arvalid"] and (not self.busy or finishing) and self._burst_room

        # Read responses, completions: a header names the tag; data flits fill its slot.
        completion_valid = inputs["completion.valid"]
        word = inputs["completion.payload"]
        flit = word >> _FLIT_OFFSET & _FLIT_MASK
        last = word >> _LAST_OFFSET & 1
        is_header = completion_valid and not self.in_packet
        header_tag = flit >> _TAG_OFFSET & _TAG_FIELD_MASK
        index = header_tag & self.index_mask
        pool_tag = (header_tag & _INDEX_FIELD_MASK) < self.tags
        accepted = (is_header and header_tag & READ_TAG_FLAG and pool_tag
                    and self.waiting >> index & 1)
        header_failed = int((flit >> _COMMAND_OFFSET & _COMMAND_MASK) != _READ_RESPONSE)
        data_flit = completion_valid and self.in_packet and self.owned
        arriving = False
        if accepted and last:
            arriving, arrival_tag, arrival_failed = True, index, header_failed
        elif data_flit and last:
            arriving, arrival_tag, arrival_failed = True, self.packet_tag, self.packet_failed
        storing = (data_flit and not self.packet_failed) or self.flush
        shifted = flit << 8 * self.offset

        # Read responses, R: the beat that moves into the R register.
        issue = self.ready and (not self.rvalid or inputs["s_axi.rready"])
        freeing = issue and not self.head_decerr and self.piece_done

        # -- commit: the memory (read before write: the read port is not transparent) --
        if issue:
            read_address = ((self.beat_address & _BLOCK_MASK) >> self.row_bits
                            | self.piece_tag << self.rows_per_slot_bits)
            self.read_data = self.storage[read_address] if read_address < self.memory_rows \
                else 0
        if storing:
            # A flush writes the row's bytes below the packet's start, a data flit all 16.
            if self.flush:
                row_data, written = self.carry, (1 << 8 * self.offset) - 1
            else:
                row_data, written = (shifted & _FLIT_MASK) | self.carry, _FLIT_MASK
            part = self.row & (self.parts - 1)
            write_address = self.row >> self.part_bits | self.packet_tag << (
                self.rows_per_slot_bits)
            mask = written << FLIT_BITS * part
            self.storage[write_address] = (self.storage[write_address] & ~mask
                                           | row_data << FLIT_BITS * part & mask)

        # -- commit: completions --
        if completion_valid:
            self.in_packet = 1 - last
        if is_header and not accepted:
            self.stray = (self.stray + 1) & _COUNTER_MASK
        if accepted:
            self.waiting &= ~(1 << index)
        flush = 0
        if is_header:
            start = flit >> _ADDRESS_OFFSET & _BLOCK_MASK
            self.owned = int(bool(accepted))
            self.packet_tag = index
            self.carry = 0
            self.packet_failed = header_failed
            self.offset = start & _FLIT_BYTE_MASK
            self.row = start >> FLIT_BYTE_BITS
        elif data_flit:
            self.carry = shifted >> FLIT_BITS
            self.row = (self.row + 1) & _ROW_MASK
            if last:
                flush = int(not self.packet_failed and self.offset != 0)
        self.flush = flush
        if arriving:
            self.arrived |= 1 << arrival_tag
            self.failed = self.failed & ~(1 << arrival_tag) | arrival_failed << arrival_tag

        # -- commit: R --
        head_decerr = self.head_decerr
        chosen = self.chosen
        if issue:
            last_beat = self.last_beat
            self.rvalid = 1
            self.rid = self.head_id
            self.rresp = _DECERR if head_decerr else _SLVERR if self.piece_failed else _OKAY
            self.rlast = int(last_beat)
            self.wide_mask = 0 if head_decerr or self.piece_failed else self.beat_bits
            self.holding = int(not last_beat)
            self.current = chosen
            if self.lanes < FLIT_BYTES:
                self.word = (self.beat_address & _FLIT_BYTE_MASK) >> self.lane_bits
            if not head_decerr:
                self.used = 0 if self.piece_done else self.consumed & _COUNT_MASK
            if freeing:
                self.arrived &= ~(1 << self.piece_tag)
            bus_word = self.read_data >> self.word * self.params.axi_data_bits & self.data_mask \
                if self.lanes < FLIT_BYTES else self.read_data
            self.rdata = bus_word & self.wide_mask
        elif inputs["s_axi.rready"]:
            self.rvalid = 0

        # -- commit: the piece lists: a header sent joins the list of the last burst taken,
        # as its oldest piece if the burst has none left after this cycle's beat --
        chosen_linked = issue and self.linked >> self.piece_tag & 1
        sending = self.sending
        keeps_piece = self.entry_has_piece[sending] and not (
            freeing and chosen == sending and not chosen_linked)
        if freeing:
            if chosen_linked:
                self.entry_piece[chosen] = self.next_piece[self.piece_tag]
            else:
                self.entry_has_piece[chosen] = 0
        if sent:
            self.waiting |= 1 << sent_tag
            self.piece_bytes[sent_tag] = self.count
            self.linked &= ~(1 << sent_tag)
            if keeps_piece:
                self.next_piece[self.tail] = sent_tag
                self.linked |= 1 << self.tail
            else:
                self.entry_piece[sending] = sent_tag
                self.entry_has_piece[sending] = 1
            self.tail = sent_tag

        # -- commit: the burst table: the chosen burst's next beat; at its last it leaves and
        # the younger bursts of its ARID move up. A burst taken goes into the lowest entry
        # free at the start of the cycle --
        opened = self.live.index(False) if take_ar else 0
        if issue:
            self.entry_burst[chosen] = (self.head_id, self.next_address,
                                        *self.entry_burst[chosen][2:])
            self.entry_beat[chosen] = (self.entry_beat[chosen] + 1) & _LEN_MASK
            if self.last_beat:
                self.live[chosen] = False
                head_id = self.head_id
                for n in range(self.depth):
                    if (self.live[n] and self.entry_older[n]
                            and self.entry_burst[n][0] == head_id):
                        self.entry_older[n] -= 1

        # -- commit: tag pool --
        self.tag_pool.tick(sent, freeing, self.piece_tag)

        # -- commit: packetizer --
        if flit_taken:
            if self.extension_state:
                self.extension_state = False
            else:
                if not self.run_over:
                    self.address = self.piece_end & _PAGE_MASK
                elif not self.last_piece:
                    self.address = self.restart
                    self.run_end = self.restart_end
                    self.runs_left = (self.runs_left - 1) & _LEN_MASK
                if self.has_extension:
                    self.ended = int(self.last_piece)
                    self.extension_state = True
        if finishing:
            self.busy = 0
        # AR goes to the packetizer's registers and, in the same cycle, the burst table, behind
        # the bursts of its ARID that stay there.
        if take_ar:
            burst = self._take_ar(inputs)
            arid = burst[0]
            self.entry_burst[opened] = burst
            self.entry_beat[opened] = 0
            self.entry_older[opened] = sum(
                1 for n in range(self.depth)
                if self.live[n] and self.entry_burst[n][0] == arid) & self.older_mask
            self.entry_has_piece[opened] = 0
            self.live[opened] = True
            self.sending = opened
        self._settle()

    def _take_ar(self, inputs: Mapping[str, int]) -> tuple[int, ...]:
        """The packetizer's registers for a burst taken on AR, its first run and the next;
        returns what the burst table keeps of it (``read_burst_layout``)."""
        araddr, arlen = inputs["s_axi.araddr"], inputs["s_axi.arlen"]
        size, kind = inputs["s_axi.arsize"], inputs["s_axi.arburst"]
        hit, destination, remote_page = self.windows.lookup(araddr)
        start = araddr & _PAGE_MASK
        self.busy = hit
        self.address = start
        self.destination = destination
        self.remote_page = remote_page
        self.has_extension = int(self.extension_bits
                                 and remote_page >> (HEADER_ADDRESS_BITS - PAGE_BITS) != 0)
        size_mask = ((1 << size) - 1) & _PAGE_MASK
        aligned = start & ~size_mask
        total = (arlen + 1) << size
        if kind == _FIXED:
            container_end = aligned + size_mask + 1
            self.run_end = self.restart_end = container_end
            self.restart = start
            self.runs_left = arlen
        elif kind == _WRAP:
            wrap_mask = ((arlen << size) | size_mask) & _PAGE_MASK
            wrap_boundary = start & ~wrap_mask
            self.run_end = (wrap_boundary + total) & _RUN_END_MASK
            self.restart = wrap_boundary
            self.restart_end = start
            self.runs_left = int(start != wrap_boundary)
        else:
            self.run_end = (aligned + total) & _RUN_END_MASK
            self.runs_left = 0
        return inputs["s_axi.arid"], start, arlen, size, kind, 1 - hit
