"""Completions of read requests in, the AXI4 R channel out."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY, MAX_DATA_BYTES, Command
from ..link.link_signals import DELIVERED_FLIT
from ..params import ChipletParams
from .axi import Response, data_bytes
from .read_bursts import ReadBursts
from .read_signals import READ_TAG_FLAG, piece_signature, read_burst_layout
from .write_signals import tag_bits

#: Bytes in a flit, and the log2 of it.
FLIT_BYTES = FLIT_BITS // 8
FLIT_BYTE_BITS = FLIT_BYTES.bit_length() - 1
#: Log2 of a tag's slot: one packet's largest data, which never crosses such a block.
BLOCK_BITS = MAX_DATA_BYTES.bit_length() - 1
#: Header tag bits below the read flag: the pool index and the bits above it (zero).
INDEX_FIELD_BITS = READ_TAG_FLAG.bit_length() - 1


class ReadResponses(wiring.Component):
    """Stores the data of read completions and returns the R beats of the bursts, in AR order
    per ARID.

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

    **Order**, per ARID as AXI4 asks: a :class:`ReadBursts` table holds the bursts under
    way and offers the next beat of one of them whose older bursts of the same ARID have
    finished and whose piece has arrived (a DECERR beat at once); bursts of different ARIDs
    pass each other, and interleave where one waits for a piece. The beat moves into the R
    register when it is empty or being emptied, one per cycle: RRESP DECERR, SLVERR (piece
    failed), or OKAY with the active lanes' bytes; the other lanes, and every lane of an
    error beat, are zero. The beat that uses a piece's last byte gives its tag back on
    ``free``.

    Members
    -------
    burst : In(stream.Signature(read_burst_layout(params)))
        A burst taken on AR; ready while the burst table has a free entry.
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

        # The bursts, and the beat of the one chosen: its active lanes, from its address's lane
        # to the end of its Number_Bytes container.
        m.submodules.bursts = bursts = ReadBursts(params)
        wiring.connect(m, wiring.flipped(self.burst), bursts.burst)
        wiring.connect(m, wiring.flipped(self.sent), bursts.sent)
        m.d.comb += bursts.arrived.eq(arrived)
        beat = bursts.beat.payload
        lower = beat.address[:lane_bits]
        size_mask = Signal(lane_bits)  # Number_Bytes - 1, in lane bits
        container_lane = Signal(lane_bits)
        beat_lanes = Signal(lanes)
        m.d.comb += [size_mask.eq((Const(1, lanes) << beat.size) - 1),
                     container_lane.eq(lower & ~size_mask)]
        for lane in range(lanes):
            from_lower = lower <= lane if lane < lanes - 1 else Const(1)
            m.d.comb += beat_lanes[lane].eq(
                from_lower & ((lane & ~size_mask) == container_lane))

        # The beat moves into the R register when it is empty or being emptied; its data come
        # from the memory's output register, masked.
        issue = Signal()
        piece_failed = Signal()
        m.d.comb += [
            issue.eq(bursts.beat.valid & (~self.rvalid | self.rready)),
            bursts.beat.take.eq(~self.rvalid | self.rready),
            piece_failed.eq(failed.bit_select(beat.tag, 1)),
            read.addr.eq(Cat(beat.address[row_bits:BLOCK_BITS], beat.tag)),
            read.en.eq(issue),
        ]
        mask = Signal(lanes)
        if lanes < FLIT_BYTES:
            word = Signal(FLIT_BYTE_BITS - lane_bits)
            bus_word = read.data.word_select(word, params.axi_data_bits)
        else:
            bus_word = read.data
        wide_mask = Signal(params.axi_data_bits)
        m.d.comb += [wide_mask.eq(Cat(mask[lane].replicate(8) for lane in range(lanes))),
                     self.rdata.eq(bus_word & wide_mask)]
        with m.If(issue):
            m.d.sync += [
                self.rvalid.eq(1),
                self.rid.eq(beat.id),
                self.rresp.eq(Mux(beat.decerr, Response.DECERR,
                                  Mux(piece_failed, Response.SLVERR, Response.OKAY))),
                self.rlast.eq(beat.last),
                mask.eq(Mux(beat.decerr | piece_failed, 0, beat_lanes)),
            ]
            if lanes < FLIT_BYTES:
                m.d.sync += word.eq(beat.address[lane_bits:FLIT_BYTE_BITS])
            with m.If(beat.ends_piece):
                m.d.comb += [self.free.valid.eq(1), self.free.payload.eq(beat.tag)]
                m.d.sync += arrived.bit_select(beat.tag, 1).eq(0)
        with m.Elif(self.rready):
            m.d.sync += self.rvalid.eq(0)

        with m.If(self.sent.valid):
            m.d.sync += waiting.bit_select(self.sent.tag, 1).eq(1)
        return m

