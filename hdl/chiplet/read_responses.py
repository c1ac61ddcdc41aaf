"""Completions of read requests in, the AXI4 R channel out."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY, MAX_DATA_BYTES, Command
from ..link.link_signals import DELIVERED_FLIT
from ..params import ChipletParams
from .axi import LEN_BITS, BurstType, Response, data_bytes
from .read_signals import BYTE_COUNT_BITS, READ_TAG_FLAG, piece_signature, read_burst_layout
from .windows import PAGE_BITS
from .write_signals import tag_bits

#: Bytes in a flit, and the log2 of it.
FLIT_BYTES = FLIT_BITS // 8
FLIT_BYTE_BITS = FLIT_BYTES.bit_length() - 1
#: Log2 of a tag's slot: one packet's largest data, which never crosses such a block.
BLOCK_BITS = MAX_DATA_BYTES.bit_length() - 1
#: Header tag bits below the read flag: the pool index and the bits above it (zero).
INDEX_FIELD_BITS = READ_TAG_FLAG.bit_length() - 1


class ReadResponses(wiring.Component):
    """Stores the data of read completions and returns the R beats of the bursts in AR order.

    **Storage.** Each tag has a 256-byte slot in one memory; a data byte for remote address
    ``a`` goes to byte ``a mod 256`` of its tag's slot (a packet never crosses a 256-byte
    block, and remote and global addresses share their low 12 bits). A beat then reads its
    bus word at ``(beat address mod 256)`` rounded down to the bus width. Rows of the memory
    are ``max(16, bus bytes)`` wide.

    **Completions** are taken one flit per cycle, always (a tag's slot is reserved while its
    request is out). The header names the tag; a ``READ_RESPONSE``'s data flits are written
    as they come, each rotated by the packet's start (the completion's address field, modulo
    16) and joined with the end of the flit before it into one aligned 16-byte row; the bytes
    left over after the last flit are written in the next cycle, when the next header (which
    writes nothing) comes. Any other command (``ERROR_RESPONSE``) marks the tag failed. The
    tag counts as arrived from the cycle after its last flit. A header whose tag does not
    carry ``READ_TAG_FLAG``, is no pool tag, or has no request out is dropped with its flits
    and counted in ``stray_completions``.

    **Order.** Bursts are answered in AR order overall (not only per ARID): the burst at the
    head of a queue of ``max(2, outstanding_tags)`` bursts walks its beats as AXI4 defines them, one
    per cycle; each beat belongs to the oldest piece still queued (pieces are queued as their
    headers leave, in beat order, and a beat lies in exactly one piece). A beat leaves when
    its piece has arrived (a DECERR beat at once): RRESP DECERR, SLVERR (piece failed), or
    OKAY with the active lanes' bytes; the other lanes, and every lane of an error beat, are
    zero. The beat that uses a piece's last byte gives its tag back on ``free``.

    Members
    -------
    burst : In(stream.Signature(read_burst_layout(params)))
        A burst taken on AR; ready while the burst queue has room.
    sent : In(piece_signature(params))
        A request header left with this tag and byte count (always taken).
    completion : In(stream.Signature(DELIVERED_FLIT))
        Completion packets (header first, ``last`` on the final flit); always ready.
    free : Out(stream.Signature(tag_bits(params)))
        A tag whose piece has been read out; combinational. The pool must always be ready.
    rid, rdata, rresp, rlast, rvalid : Out; rready : In
        The R channel of the AXI4 subordinate port, from registers (``rdata`` through the
        memory's output register and a mask); held while ``rvalid`` and not ``rready``. The
        first beat that a completion enables is valid 2 cycles after its last flit is taken.
    stray_completions : Out(32)
        Completion headers dropped since reset (wraps).
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            "burst": In(stream.Signature(read_burst_layout(params))),
            "sent": In(piece_signature(params)),
            "completion": In(stream.Signature(DELIVERED_FLIT)),
            "free": Out(stream.Signature(tag_bits(params))),
            "rid": Out(params.axi_id_bits),
            "rdata": Out(params.axi_data_bits),
            "rresp": Out(Response),
            "rlast": Out(1),
            "rvalid": Out(1),
            "rready": In(1),
            "stray_completions": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        tags = params.outstanding_tags
        index_bits = tag_bits(params)
        lanes = data_bytes(params)
        lane_bits = lanes.bit_length() - 1
        # A memory row: a bus word, or a flit row when the bus is narrower.
        row_bytes = max(FLIT_BYTES, lanes)
        row_bits = row_bytes.bit_length() - 1
        parts = row_bytes // FLIT_BYTES  # flit rows in a memory row
        part_bits = parts.bit_length() - 1

        m.submodules.storage = storage = Memory(
            shape=8 * row_bytes, depth=tags * MAX_DATA_BYTES // row_bytes, init=[])
        write = storage.write_port(granularity=8)
        # A beat is first read in the cycle after its piece's last flit, when that piece's
        # leftover bytes may be written; they belong to its last beat, never its first (a
        # piece leaves bytes over only if its beats are narrower than a flit row, and then the
        # first lies in the piece's first row, the leftover in a later one): no transparency.
        read = storage.read_port()

        waiting = Signal(tags)  # request sent, completion not yet here
        arrived = Signal(tags)  # completion here, data not yet read out
        failed = Signal(tags)  # the completion of an arrived tag was not READ_RESPONSE

        # Completions.
        in_packet = Signal()  # the flit on ``completion`` follows a header
        m.d.comb += self.completion.ready.eq(1)
        with m.If(self.completion.valid):
            m.d.sync += in_packet.eq(~self.completion.payload.last)
        header = data.View(HEADER_BODY, self.completion.payload.flit[:HEADER_BODY.size])
        transaction = header.message.transaction
        header_tag = Signal.like(transaction.tag)
        index = Signal(index_bits)
        m.d.comb += [header_tag.eq(transaction.tag), index.eq(header_tag)]
        pool_tag = (header_tag[:INDEX_FIELD_BITS] < tags
                    if tags < 1 << INDEX_FIELD_BITS else Const(1))
        is_header = Signal()
        accepted = Signal()
        header_failed = Signal()
        m.d.comb += [
            is_header.eq(self.completion.valid & ~in_packet),
            accepted.eq(is_header & header_tag[INDEX_FIELD_BITS] & pool_tag
                        & waiting.bit_select(index, 1)),
            header_failed.eq(transaction.command != Command.READ_RESPONSE),
        ]
        with m.If(is_header & ~accepted):
            m.d.sync += self.stray_completions.eq(self.stray_completions + 1)

        # The packet under way: its tag, whether its data are stored, where they start.
        owned = Signal()
        packet_tag = Signal(index_bits)
        packet_failed = Signal()
        offset = Signal(FLIT_BYTE_BITS)  # start address modulo 16
        row = Signal(BLOCK_BITS - FLIT_BYTE_BITS)  # 16-byte row of the next data flit
        carry = Signal(FLIT_BITS)  # the bytes of the last flit beyond its row, from byte 0
        flush = Signal()  # ``carry`` goes into row ``row`` in this cycle
        start = transaction.address[:BLOCK_BITS]
        arriving = Signal()  # a packet of ``arrival_tag`` is complete in this cycle
        arrival_tag = Signal(index_bits)
        arrival_failed = Signal()
        with m.If(accepted):
            m.d.sync += waiting.bit_select(index, 1).eq(0)
            with m.If(self.completion.payload.last):
                m.d.comb += [arriving.eq(1), arrival_tag.eq(index),
                             arrival_failed.eq(header_failed)]
        with m.If(is_header):
            # ``carry`` is flushed in this cycle if at all: clear it for the first row.
            m.d.sync += [owned.eq(accepted), packet_tag.eq(index), carry.eq(0),
                         packet_failed.eq(header_failed), offset.eq(start[:FLIT_BYTE_BITS]),
                         row.eq(start[FLIT_BYTE_BITS:])]
        data_flit = Signal()
        m.d.comb += data_flit.eq(self.completion.valid & in_packet & owned)

        # A data flit joined with the end of the one before: one aligned 16-byte row.
        shifted = Signal(2 * FLIT_BITS)
        m.d.comb += shifted.eq(self.completion.payload.flit << Cat(Const(0, 3), offset))
        leftover = Signal(FLIT_BYTES)  # the row bytes below ``offset``: a flush writes these
        m.d.comb += leftover.eq((Const(1, FLIT_BYTES + 1) << offset) - 1)
        row_data = Signal(FLIT_BITS)
        row_enables = Signal(FLIT_BYTES)
        row_number = Signal(len(row))
        m.d.comb += row_number.eq(row)
        with m.If(flush):
            m.d.comb += [row_data.eq(carry), row_enables.eq(leftover)]
        with m.Else():
            # All of the first row too: its bytes below the start belong to no beat of the piece.
            m.d.comb += [row_data.eq(shifted[:FLIT_BITS] | carry),
                         row_enables.eq((1 << FLIT_BYTES) - 1)]
        storing = Signal()
        m.d.comb += storing.eq((data_flit & ~packet_failed) | flush)
        m.d.sync += flush.eq(0)
        with m.If(data_flit):
            m.d.sync += [carry.eq(shifted[FLIT_BITS:]), row.eq(row + 1)]
            with m.If(self.completion.payload.last):
                m.d.sync += flush.eq(~packet_failed & (offset != 0))
                m.d.comb += [arriving.eq(1), arrival_tag.eq(packet_tag),
                             arrival_failed.eq(packet_failed)]
        with m.If(arriving):
            m.d.sync += [arrived.bit_select(arrival_tag, 1).eq(1),
                         failed.bit_select(arrival_tag, 1).eq(arrival_failed)]
        # The flush row of a packet belongs to its tag, which stays in ``packet_tag`` since the
        # header after it (if any) only writes ``packet_tag`` at the cycle's end.
        enables = Signal(FLIT_BYTES)
        m.d.comb += [
            enables.eq(Mux(storing, row_enables, 0)),
            write.addr.eq(Cat(row_number[part_bits:], packet_tag)),
            write.data.eq(row_data.replicate(parts)),
            write.en.eq(enables << (row_number[:part_bits] * FLIT_BYTES)
                        if part_bits else enables),
        ]

        # Bursts in AR order, and the pieces their headers sent, in the same order.
        burst_layout = read_burst_layout(params)
        # Each piece holds a tag until it is read out, so ``pieces`` never overflows. (A FIFO
        # of depth 1 has zero-width pointers, which Verilog cannot declare cleanly.)
        queue_depth = max(2, tags)
        m.submodules.bursts = bursts = fifo.SyncFIFO(width=burst_layout.size, depth=queue_depth)
        m.submodules.pieces = pieces = fifo.SyncFIFO(width=index_bits + BYTE_COUNT_BITS,
                                                     depth=queue_depth)
        m.d.comb += [
            bursts.w_data.eq(self.burst.payload),
            bursts.w_en.eq(self.burst.valid),
            self.burst.ready.eq(bursts.w_rdy),
            pieces.w_data.eq(Cat(self.sent.tag, self.sent.byte_count)),
            pieces.w_en.eq(self.sent.valid),
        ]
        head = Signal(burst_layout)
        piece_tag = Signal(index_bits)
        piece_count = Signal(BYTE_COUNT_BITS)
        m.d.comb += [head.eq(bursts.r_data),
                     Cat(piece_tag, piece_count).eq(pieces.r_data)]

        # The head burst's next beat: its address, active lanes and byte count.
        first = Signal(init=1)  # the beat is the burst's first
        later_address = Signal(PAGE_BITS)
        beat_address = Signal(PAGE_BITS)
        beat_number = Signal(LEN_BITS)
        size_mask = Signal(PAGE_BITS)  # Number_Bytes - 1
        wrap_mask = Signal(PAGE_BITS)  # WRAP: Number_Bytes x Burst_Length - 1
        beat_end = Signal(PAGE_BITS + 1)
        beat_bytes = Signal(BYTE_COUNT_BITS)
        m.d.comb += [
            beat_address.eq(Mux(first, head.address, later_address)),
            size_mask.eq((Const(1, PAGE_BITS) << head.size) - 1),
            wrap_mask.eq((head.length << head.size) | size_mask),
            beat_end.eq((beat_address & ~size_mask) + size_mask + 1),
            beat_bytes.eq(beat_end - beat_address),
        ]
        next_address = Signal(PAGE_BITS)
        with m.Switch(head.kind):
            with m.Case(BurstType.FIXED):
                m.d.comb += next_address.eq(beat_address)
            with m.Case(BurstType.WRAP):
                m.d.comb += next_address.eq((beat_address & ~wrap_mask) | (beat_end & wrap_mask))
            with m.Default():
                m.d.comb += next_address.eq(beat_end)
        # Active lanes: from the address's lane to the end of its Number_Bytes container.
        lower = beat_address[:lane_bits]
        container_bits = Signal(lane_bits)  # the lane bits that number a container
        container_lane = Signal(lane_bits)
        beat_lanes = Signal(lanes)
        m.d.comb += [container_bits.eq(~size_mask[:lane_bits]),
                     container_lane.eq(lower & container_bits)]
        for lane in range(lanes):
            from_lower = lower <= lane if lane < lanes - 1 else Const(1)
            m.d.comb += beat_lanes[lane].eq(
                from_lower & ((lane & container_bits) == container_lane))

        # Its piece, and whether the beat can leave now.
        used = Signal(BYTE_COUNT_BITS)  # bytes of the oldest piece read out so far
        consumed = Signal(BYTE_COUNT_BITS + 1)
        piece_done = Signal()
        piece_failed = Signal()
        last_beat = Signal()
        ready = Signal()
        issue = Signal()
        m.d.comb += [
            consumed.eq(used + beat_bytes),
            piece_done.eq(consumed == piece_count),
            piece_failed.eq(failed.bit_select(piece_tag, 1)),
            last_beat.eq(beat_number == head.length),
            ready.eq(bursts.r_rdy & (head.decerr
                                     | (pieces.r_rdy & arrived.bit_select(piece_tag, 1)))),
            issue.eq(ready & (~self.rvalid | self.rready)),
            read.addr.eq(Cat(beat_address[row_bits:BLOCK_BITS], piece_tag)),
            read.en.eq(issue),
        ]

        # The R register; the data come from the memory's output register, masked.
        mask = Signal(lanes)
        if lanes < FLIT_BYTES:
            word = Signal(FLIT_BYTE_BITS - lane_bits)
            chosen = read.data.word_select(word, params.axi_data_bits)
        else:
            chosen = read.data
        wide_mask = Signal(params.axi_data_bits)
        m.d.comb += [wide_mask.eq(Cat(mask[lane].replicate(8) for lane in range(lanes))),
                     self.rdata.eq(chosen & wide_mask)]
        with m.If(issue):
            m.d.sync += [
                self.rvalid.eq(1),
                self.rid.eq(head.id),
                self.rresp.eq(Mux(head.decerr, Response.DECERR,
                                  Mux(piece_failed, Response.SLVERR, Response.OKAY))),
                self.rlast.eq(last_beat),
                mask.eq(Mux(head.decerr | piece_failed, 0, beat_lanes)),
                later_address.eq(next_address),
                first.eq(last_beat),
                beat_number.eq(Mux(last_beat, 0, beat_number + 1)),
            ]
            if lanes < FLIT_BYTES:
                m.d.sync += word.eq(beat_address[lane_bits:FLIT_BYTE_BITS])
            m.d.comb += bursts.r_en.eq(last_beat)
            with m.If(~head.decerr):
                m.d.sync += used.eq(Mux(piece_done, 0, consumed))
                with m.If(piece_done):
                    m.d.comb += [pieces.r_en.eq(1), self.free.valid.eq(1),
                                 self.free.payload.eq(piece_tag)]
                    m.d.sync += arrived.bit_select(piece_tag, 1).eq(0)
        with m.Elif(self.rready):
            m.d.sync += self.rvalid.eq(0)

        with m.If(self.sent.valid):
            m.d.sync += waiting.bit_select(self.sent.tag, 1).eq(1)
        return m

