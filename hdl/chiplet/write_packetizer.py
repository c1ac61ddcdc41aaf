"""AXI4 write bursts in, request packets out, split as the reference splits them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    REQUEST_VC,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_width,
)
from ..link.link_signals import DELIVERED_FLIT
from .axi import BURST_BITS, LEN_BITS, SIZE_BITS, BurstType, data_bytes
from .windows import ENDPOINT_BITS, PAGE_BITS, AddressWindows
from .write_signals import burst_layout, entry_bits, sent_signature, tag_bits

if TYPE_CHECKING:
    from .address_map import AddressMap

#: Bytes in a flit, and the log2 of it.
FLIT_BYTES = FLIT_BITS // 8
FLIT_BYTE_BITS = FLIT_BYTES.bit_length() - 1
#: Log2 of the largest packet's data, and of a byte-enable packet's.
BLOCK_BITS = MAX_DATA_BYTES.bit_length() - 1
HALF_BITS = BYTE_ENABLE_BITS.bit_length() - 1
#: Remote address bits in the header; the extension flit carries the ones above.
HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
EXTENSION_ADDRESS_BITS = field_width(ADDRESS_EXTENSION_FLIT, "address_high")
BYTE_COUNT_BITS = field_width(TRANSACTION_HEADER, "byte_count")


def piece_layout(params) -> data.StructLayout:
    """One piece buffer's bookkeeping: its bytes' span and count, whether every byte of each
    128-byte half is enabled, whether it has bytes (``filled``) and is closed (``full``), and
    what its packets need from its burst."""
    return data.StructLayout({
        "start": PAGE_BITS, "end": PAGE_BITS + 1, "count": BYTE_COUNT_BITS, "half_enabled": 2,
        "filled": 1, "full": 1, "final": 1, "destination": ENDPOINT_BITS,
        "remote_page": params.axi_address_bits - PAGE_BITS, "entry": entry_bits(params)})


class WritePacketizer(wiring.Component):
    """Turns each AXI4 write burst into ``WRITE`` request packets, one burst at a time.

    **Split** (docs/chiplet.md, :func:`emulator.ref.chiplet.split`). The beats of a burst are
    gathered into a piece: a run of consecutive addresses inside one 256-byte block. A beat
    whose first byte does not follow the piece's last byte (a FIXED burst's next beat, a WRAP
    burst wrapping) or starts a 256-byte block ends the piece before it. A beat never
    straddles a 128-byte boundary, so pieces end between beats. A piece with every byte
    enabled is one packet; one with a byte not enabled carries a byte-enable flit, and when it
    is longer than 128 bytes it is sent as two packets cut at its 128-byte-aligned address.
    All burst types, sizes, lengths and unaligned starts are taken; nothing is refused.

    **Flow.** Two 256-byte piece buffers: beats are gathered into one while the other's
    packets are sent, a flit per cycle. An AW beat is taken when the gathering side is idle
    and ``burst`` is taken in the same cycle (the write responses have room for the burst).
    W beats are then taken one per cycle while the gathering buffer is free; a beat that
    starts a new piece hands the gathered piece to the sending side and is taken a cycle
    later, into the other buffer; WLAST hands over the piece with the beat and ends the
    burst, so the next AW may be taken while its packets leave. A burst in no address window
    sends nothing: its W beats are taken and dropped, and ``sent.dropped`` reports its end
    with the last one, so its DECERR can never come before its data.

    Members
    -------
    awid, awaddr, awlen, awsize, awburst, awvalid : In
        The AW channel of the chiplet's AXI4 subordinate port. ``awready`` : Out.
    wdata, wstrb, wlast, wvalid : In
        The W channel. ``wready`` : Out.
    source : In(ENDPOINT_BITS)
        This chiplet's endpoint ID, the ``source`` of every packet.
    burst : Out(stream.Signature(burst_layout(params)))
        One per AW beat taken, in the same cycle: its AWID, and DECERR when in no window.
    burst_entry : In(entry_bits(params))
        The write responses' table entry that a burst taken now goes into; ``sent`` names it.
    tag : In(stream.Signature(tag_bits(params)))
        Free tags; one is taken with each header, so headers wait while none is free.
    sent : Out(sent_signature(params))
        For each header as it leaves, its tag and its burst's entry, and whether it is the
        burst's last packet; the end of each burst in no window.
    flit : Out(stream.Signature(DELIVERED_FLIT))
        Request packets: the header (``HEADER_BODY``, zero-extended), then the address
        extension flit, the byte-enable flit and the data flits as the packet has them;
        ``last`` on the final flit. Valid and payload hold until ready; combinational from
        registers.
    """

    def __init__(self, address_map: AddressMap) -> None:
        self.address_map = address_map
        self.params = params = address_map.params
        extension = params.axi_address_bits - HEADER_ADDRESS_BITS
        if extension > EXTENSION_ADDRESS_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits} needs more "
                             f"than the {HEADER_ADDRESS_BITS + EXTENSION_ADDRESS_BITS} address "
                             "bits a header and its extension flit carry; use fewer")
        lanes = data_bytes(params)
        super().__init__({
            "awid": In(params.axi_id_bits),
            "awaddr": In(params.axi_address_bits),
            "awlen": In(LEN_BITS),
            "awsize": In(SIZE_BITS),
            "awburst": In(BURST_BITS),
            "awvalid": In(1),
            "awready": Out(1),
            "wdata": In(params.axi_data_bits),
            "wstrb": In(lanes),
            "wlast": In(1),
            "wvalid": In(1),
            "wready": Out(1),
            "source": In(ENDPOINT_BITS),
            "burst": Out(stream.Signature(burst_layout(params))),
            "burst_entry": In(entry_bits(params)),
            "tag": In(stream.Signature(tag_bits(params))),
            "sent": Out(sent_signature(params)),
            "flit": Out(stream.Signature(DELIVERED_FLIT)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        lanes = data_bytes(params)
        lane_bits = lanes.bit_length() - 1
        m.submodules.windows = windows = AddressWindows(self.address_map)
        m.d.comb += windows.address.eq(self.awaddr)

        # The burst being taken: its translation and its address generator (low 12 bits; a
        # burst stays inside one 4 KiB page, and the page's remote number is kept apart).
        decerr = Signal()
        destination = Signal(ENDPOINT_BITS)
        remote_page = Signal(params.axi_address_bits - PAGE_BITS)
        address = Signal(PAGE_BITS)
        size_mask = Signal(PAGE_BITS)  # Number_Bytes - 1
        wrap_mask = Signal(PAGE_BITS)  # WRAP: Number_Bytes x Burst_Length - 1
        kind = Signal(BurstType)
        entry = Signal(entry_bits(params))  # the burst's entry in the write responses' table

        # The current beat: its active lanes, the end of its container, its byte count.
        container = Signal(PAGE_BITS)
        beat_end = Signal(PAGE_BITS + 1)
        beat_lanes = Signal(lanes)
        m.d.comb += [container.eq(address & ~size_mask),
                     beat_end.eq(container + size_mask + 1)]
        # Active lanes: from the address's lane to the end of its Number_Bytes container.
        lower = address[:lane_bits]
        container_lane = Signal(lane_bits)
        m.d.comb += container_lane.eq(lower & ~size_mask[:lane_bits])
        for lane in range(lanes):
            from_lower = lower <= lane if lane < lanes - 1 else Const(1)
            m.d.comb += beat_lanes[lane].eq(
                from_lower & ((lane & ~size_mask[:lane_bits]) == container_lane))
        incremented = Signal(PAGE_BITS)
        m.d.comb += incremented.eq(beat_end)

        # Two piece buffers, each indexed by address modulo 256: beats are gathered into
        # buffer ``gather`` while buffer ``send`` is sent. A buffer is ``full`` from the
        # moment its piece is closed until its last flit leaves.
        piece = piece_layout(params)
        pieces = [Signal(piece, name=f"piece_{b}") for b in range(2)]
        buffers = [[Signal(8, name=f"byte_{b}_{n}") for n in range(MAX_DATA_BYTES)]
                   for b in range(2)]
        enabled = [Signal(MAX_DATA_BYTES, name=f"enabled_{b}") for b in range(2)]
        gather = Signal()
        send = Signal()
        gathered = Signal(piece)  # pieces[gather]
        sending = Signal(piece)  # pieces[send]
        m.d.comb += [gathered.eq(Mux(gather, pieces[1], pieces[0])),
                     sending.eq(Mux(send, pieces[1], pieces[0]))]

        new_piece = Signal()  # the beat on W closes the piece gathered so far
        m.d.comb += new_piece.eq(gathered.filled & ((address != gathered.end)
                                                    | (address[:BLOCK_BITS] == 0)))
        take_w = Signal()
        m.d.comb += take_w.eq(self.wvalid & self.wready)
        store = Signal()  # take_w for a burst in a window
        m.d.comb += store.eq(take_w & ~decerr)
        close = Signal()  # the gathered piece is handed to the sender this cycle
        slot = address[lane_bits:BLOCK_BITS]
        beat_all_enabled = Signal()
        m.d.comb += beat_all_enabled.eq((self.wstrb & beat_lanes) == beat_lanes)
        half = address[HALF_BITS]
        for b in range(2):
            here = Signal(name=f"store_{b}")
            m.d.comb += here.eq(store & (gather == b))
            for position in range(MAX_DATA_BYTES):
                lane = position % lanes
                with m.If(here & (slot == position >> lane_bits) & beat_lanes[lane]):
                    m.d.sync += [buffers[b][position].eq(self.wdata.word_select(lane, 8)),
                                 enabled[b][position].eq(self.wstrb[lane])]
            target = pieces[b]
            with m.If(here):
                m.d.sync += [target.filled.eq(1), target.end.eq(beat_end)]
                with m.If(target.filled):
                    m.d.sync += [target.count.eq(target.count + beat_end - address),
                                 target.half_enabled.bit_select(half, 1).eq(
                                     target.half_enabled.bit_select(half, 1)
                                     & beat_all_enabled)]
                with m.Else():
                    m.d.sync += [target.start.eq(address), target.count.eq(beat_end - address),
                                 target.half_enabled.eq(0b11),
                                 target.half_enabled.bit_select(half, 1).eq(beat_all_enabled)]
            with m.If(close & (gather == b)):
                m.d.sync += [target.full.eq(1), target.final.eq(take_w & self.wlast),
                             target.destination.eq(destination),
                             target.remote_page.eq(remote_page), target.entry.eq(entry)]
        with m.If(close):
            m.d.sync += gather.eq(~gather)
        with m.If(store):
            with m.Switch(kind):
                with m.Case(BurstType.INCR):
                    m.d.sync += address.eq(incremented)
                with m.Case(BurstType.WRAP):
                    m.d.sync += address.eq((address & ~wrap_mask) | (incremented & wrap_mask))

        # The packet being sent: the piece whole, or its first or second part.
        second = Signal()
        split = Signal()
        first_count = Signal(BYTE_COUNT_BITS)
        packet_start = Signal(PAGE_BITS)
        packet_count = Signal(BYTE_COUNT_BITS)
        last_of_piece = Signal()
        all_enabled = Signal()  # of the packet being sent
        m.d.comb += [
            split.eq(~sending.half_enabled.all() & (sending.count > BYTE_ENABLE_BITS)),
            all_enabled.eq(Mux(split, sending.half_enabled.bit_select(second, 1),
                               sending.half_enabled.all())),
            first_count.eq(Mux(split, BYTE_ENABLE_BITS - sending.start[:HALF_BITS],
                               sending.count)),
            # The second part starts at the piece's 128-byte-aligned address.
            packet_start.eq(Mux(second, Cat(Const(0, HALF_BITS), Const(1, 1),
                                            sending.start[HALF_BITS + 1:]),
                                sending.start)),
            packet_count.eq(Mux(second, sending.count - first_count, first_count)),
            last_of_piece.eq(~split | second),
        ]
        remote = Signal(params.axi_address_bits)
        m.d.comb += remote.eq(Cat(packet_start, sending.remote_page))
        has_extension = Signal()
        m.d.comb += has_extension.eq(remote[HEADER_ADDRESS_BITS:].any()
                                     if params.axi_address_bits > HEADER_ADDRESS_BITS else 0)
        data_flits = Signal(range(MAX_DATA_BYTES // FLIT_BYTES + 1))
        m.d.comb += data_flits.eq((packet_count + FLIT_BYTES - 1) >> FLIT_BYTE_BITS)

        header = Signal(HEADER_BODY)
        transaction = header.message.transaction
        m.d.comb += [
            header.link.kind.eq(FlitKind.PACKET),
            header.link.vc.eq(REQUEST_VC),
            header.link.length.eq(has_extension + ~all_enabled + data_flits),
            transaction.command.eq(Command.WRITE),
            transaction.destination.eq(sending.destination),
            transaction.source.eq(self.source),
            transaction.tag.eq(self.tag.payload),
            transaction.address.eq(remote[:HEADER_ADDRESS_BITS]),
            transaction.byte_count.eq(packet_count),
            transaction.has_address_extension.eq(has_extension),
            transaction.has_byte_enable.eq(~all_enabled),
        ]
        extension = Signal(ADDRESS_EXTENSION_FLIT)
        if params.axi_address_bits > HEADER_ADDRESS_BITS:
            m.d.comb += extension.address_high.eq(remote[HEADER_ADDRESS_BITS:])

        # Byte enables of the packet's bytes, from bit 0; none past its end.
        offset = Signal(BLOCK_BITS)
        m.d.comb += offset.eq(packet_start[:BLOCK_BITS])
        enables = Signal(BYTE_ENABLE_BITS)
        shifted_enables = Signal(MAX_DATA_BYTES)
        m.d.comb += shifted_enables.eq(Mux(send, enabled[1], enabled[0]) >> offset)
        for bit in range(BYTE_ENABLE_BITS):
            m.d.comb += enables[bit].eq(shifted_enables[bit] & (packet_count > bit))

        # Data flit ``flit_index``: 16 bytes from the buffer at offset + 16 x flit_index, as
        # two 16-byte chunks shifted by a whole number of bytes; none past the packet's end.
        flit_index = Signal(range(MAX_DATA_BYTES // FLIT_BYTES))
        position = Signal(BLOCK_BITS)
        remaining = Signal(BYTE_COUNT_BITS)
        m.d.comb += [position.eq(offset + (flit_index << FLIT_BYTE_BITS)),
                     remaining.eq(packet_count - (flit_index << FLIT_BYTE_BITS))]
        chunk_index = position[FLIT_BYTE_BITS:]
        pairs = []
        for b in range(2):
            chunks = [Cat(*buffers[b][n:n + FLIT_BYTES])
                      for n in range(0, MAX_DATA_BYTES, FLIT_BYTES)]
            chunk = Array(chunks + [Const(0, FLIT_BITS)])
            pair = Signal(2 * FLIT_BITS, name=f"pair_{b}")
            m.d.comb += pair.eq(Cat(chunk[chunk_index], chunk[chunk_index + 1]))
            pairs.append(pair)
        shifted = Signal(2 * FLIT_BITS)
        m.d.comb += shifted.eq(Mux(send, pairs[1], pairs[0])
                               >> Cat(Const(0, 3), position[:FLIT_BYTE_BITS]))
        data_flit = Signal(FLIT_BITS)
        for byte in range(FLIT_BYTES):
            m.d.comb += data_flit.word_select(byte, 8).eq(
                shifted.word_select(byte, 8) & (remaining > byte).replicate(8))
        last_data_flit = Signal()
        m.d.comb += last_data_flit.eq(remaining <= FLIT_BYTES)

        flit_taken = Signal()
        m.d.comb += flit_taken.eq(self.flit.valid & self.flit.ready)

        # Gathering: one burst at a time.
        with m.FSM(name="gathering"):
            with m.State("IDLE"):
                m.d.comb += [
                    self.burst.valid.eq(self.awvalid),
                    self.burst.payload.id.eq(self.awid),
                    self.burst.payload.decerr.eq(~windows.hit),
                    self.awready.eq(self.burst.ready),
                ]
                with m.If(self.awvalid & self.burst.ready):
                    # WRAP lengths are powers of two: AxLEN is Burst_Length - 1.
                    wrap = self.awlen << self.awsize
                    m.d.sync += [
                        decerr.eq(~windows.hit),
                        destination.eq(windows.destination),
                        remote_page.eq(windows.remote_address[PAGE_BITS:]),
                        entry.eq(self.burst_entry),
                        address.eq(self.awaddr[:PAGE_BITS]),
                        size_mask.eq((Const(1, PAGE_BITS) << self.awsize) - 1),
                        wrap_mask.eq(wrap | ((Const(1, PAGE_BITS) << self.awsize) - 1)),
                        kind.eq(self.awburst),
                    ]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(decerr):
                    m.d.comb += self.wready.eq(1)
                    with m.If(take_w & self.wlast):
                        m.d.comb += [self.sent.dropped.eq(1), self.sent.dropped_entry.eq(entry)]
                        m.next = "IDLE"
                with m.Elif(~gathered.full):
                    m.d.comb += self.wready.eq(~new_piece)
                    with m.If(self.wvalid & new_piece):
                        m.d.comb += close.eq(1)
                    with m.Elif(take_w & self.wlast):
                        m.d.comb += close.eq(1)
                        m.next = "IDLE"

        # Sending: the full buffers in turn.
        with m.FSM(name="sending"):
            with m.State("HEADER"):
                m.d.comb += [
                    self.flit.valid.eq(sending.full & self.tag.valid),
                    self.flit.payload.flit.eq(header),
                    self.tag.ready.eq(sending.full & self.flit.ready),
                ]
                with m.If(flit_taken):
                    m.d.comb += [self.sent.valid.eq(1), self.sent.tag.eq(self.tag.payload),
                                 self.sent.entry.eq(sending.entry),
                                 self.sent.last.eq(sending.final & last_of_piece)]
                    m.d.sync += flit_index.eq(0)
                    with m.If(has_extension):
                        m.next = "EXTENSION"
                    with m.Elif(~all_enabled):
                        m.next = "ENABLES"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("EXTENSION"):
                m.d.comb += [self.flit.valid.eq(1), self.flit.payload.flit.eq(extension)]
                with m.If(flit_taken):
                    with m.If(~all_enabled):
                        m.next = "ENABLES"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("ENABLES"):
                m.d.comb += [self.flit.valid.eq(1), self.flit.payload.flit.eq(enables)]
                with m.If(flit_taken):
                    m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                m.d.comb += [self.flit.valid.eq(1), self.flit.payload.flit.eq(data_flit),
                             self.flit.payload.last.eq(last_data_flit)]
                with m.If(flit_taken):
                    m.d.sync += flit_index.eq(flit_index + 1)
                    with m.If(last_data_flit):
                        m.next = "HEADER"
                        with m.If(~last_of_piece):
                            m.d.sync += second.eq(1)
                        with m.Else():
                            m.d.sync += [second.eq(0), send.eq(~send)]
                            for b in range(2):
                                with m.If(send == b):
                                    m.d.sync += [pieces[b].full.eq(0), pieces[b].filled.eq(0)]
        return m
