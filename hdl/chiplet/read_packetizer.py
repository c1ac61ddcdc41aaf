"""AXI4 read bursts in, ``READ`` request packets out, split as the reference splits them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import (
    ADDRESS_EXTENSION_FLIT,
    HEADER_BODY,
    MAX_DATA_BYTES,
    REQUEST_VC,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_width,
)
from ..link.link_signals import DELIVERED_FLIT
from .axi import BURST_BITS, LEN_BITS, SIZE_BITS, BurstType
from .read_signals import BYTE_COUNT_BITS, READ_TAG_FLAG, piece_signature, read_burst_layout
from .windows import ENDPOINT_BITS, PAGE_BITS, AddressWindows
from .write_signals import tag_bits

if TYPE_CHECKING:
    from .address_map import AddressMap

#: Log2 of the largest packet's data: no piece crosses a block of this many bytes.
BLOCK_BITS = MAX_DATA_BYTES.bit_length() - 1
#: Remote address bits in the header; the extension flit carries the ones above.
HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
EXTENSION_ADDRESS_BITS = field_width(ADDRESS_EXTENSION_FLIT, "address_high")


class ReadPacketizer(wiring.Component):
    """Turns each AXI4 read burst into ``READ`` request packets, one burst at a time.

    **Split** (docs/chiplet.md, :func:`emulator.ref.chiplet.split`). The bytes a burst reads
    form runs of consecutive addresses, computed from AR alone: INCR one run from ARADDR to
    the end of its last beat; WRAP a run from ARADDR to the end of the wrap region, then,
    unless ARADDR is the wrap boundary, a run from the boundary back to ARADDR; FIXED the
    first beat's bytes, ARLEN + 1 times. Each run is cut at every 256-byte-aligned address,
    and each piece is one packet: a header, and an address extension flit when the remote
    address needs more than the header's 40 bits. No byte-enable flit, no data. All burst
    types, sizes, lengths and unaligned starts are taken; nothing is refused.

    **Flow.** AR is taken while no burst is under way, or in the cycle its last flit leaves,
    and only when ``burst`` is taken in the same cycle (the read responses have room). The
    headers follow from the cycle after, one per cycle while ``flit`` is ready and a tag is
    free (two cycles per packet with an extension flit). A burst in no window sends nothing:
    it only goes to ``burst``, marked DECERR.

    Members
    -------
    arid, araddr, arlen, arsize, arburst, arvalid : In
        The AR channel of the chiplet's AXI4 subordinate port. ``arready`` : Out; it depends
        combinationally on ``flit.ready``, ``tag.valid`` and ``burst.ready``.
    source : In(ENDPOINT_BITS)
        This chiplet's endpoint ID, the ``source`` of every packet.
    burst : Out(stream.Signature(read_burst_layout(params)))
        One per AR beat taken, in the same cycle: what the read responses need to walk its
        beats, and DECERR when it is in no window.
    tag : In(stream.Signature(tag_bits(params)))
        Free tags (pool indices); one is taken with each header, so headers wait while none
        is free. The header carries ``READ_TAG_FLAG | tag``.
    sent : Out(piece_signature(params))
        Each header as it leaves: its pool tag and byte count.
    flit : Out(stream.Signature(DELIVERED_FLIT))
        Request packets, bit for bit :func:`emulator.ref.chiplet.request_packet`: the header
        (``HEADER_BODY``, zero-extended; link kind ``PACKET``, ``REQUEST_VC``, length = flits
        after it), then the address extension flit if any; ``last`` on the final flit. Valid
        and payload hold until ready; combinational from registers, the free tag and
        ``source``.
    """

    def __init__(self, address_map: AddressMap) -> None:
        self.address_map = address_map
        self.params = params = address_map.params
        extension = params.axi_address_bits - HEADER_ADDRESS_BITS
        if extension > EXTENSION_ADDRESS_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits} needs more "
                             f"than the {HEADER_ADDRESS_BITS + EXTENSION_ADDRESS_BITS} address "
                             "bits a header and its extension flit carry; use fewer")
        super().__init__({
            "arid": In(params.axi_id_bits),
            "araddr": In(params.axi_address_bits),
            "arlen": In(LEN_BITS),
            "arsize": In(SIZE_BITS),
            "arburst": In(BURST_BITS),
            "arvalid": In(1),
            "arready": Out(1),
            "source": In(ENDPOINT_BITS),
            "burst": Out(stream.Signature(read_burst_layout(params))),
            "tag": In(stream.Signature(tag_bits(params))),
            "sent": Out(piece_signature(params)),
            "flit": Out(stream.Signature(DELIVERED_FLIT)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        m.submodules.windows = windows = AddressWindows(self.address_map)
        m.d.comb += windows.address.eq(self.araddr)

        # The burst under way: where its next piece starts, where its run ends, and the runs
        # still to come (FIXED: the same run again; WRAP: the part below ARADDR). Addresses
        # are the low 12 bits: a burst stays in one 4 KiB page, whose remote number is kept
        # apart. Run ends may be 4096, hence a bit more.
        busy = Signal()
        address = Signal(PAGE_BITS)
        run_end = Signal(PAGE_BITS + 1)
        restart = Signal(PAGE_BITS)
        restart_end = Signal(PAGE_BITS + 1)
        runs_left = Signal(LEN_BITS)
        destination = Signal(ENDPOINT_BITS)
        remote_page = Signal(params.axi_address_bits - PAGE_BITS)
        has_extension = Signal()

        # The piece at ``address``: up to the run's end or the next 256-byte boundary.
        block_end = Signal(PAGE_BITS + 1)
        piece_end = Signal(PAGE_BITS + 1)
        count = Signal(BYTE_COUNT_BITS)
        run_over = Signal()
        last_piece = Signal()
        m.d.comb += [
            block_end.eq((address[BLOCK_BITS:] + 1) << BLOCK_BITS),
            piece_end.eq(Mux(block_end < run_end, block_end, run_end)),
            count.eq(piece_end - address),
            run_over.eq(piece_end == run_end),
            last_piece.eq(run_over & (runs_left == 0)),
        ]

        remote = Signal(params.axi_address_bits)
        m.d.comb += remote.eq(Cat(address, remote_page))
        header = Signal(HEADER_BODY)
        transaction = header.message.transaction
        m.d.comb += [
            header.link.kind.eq(FlitKind.PACKET),
            header.link.vc.eq(REQUEST_VC),
            header.link.length.eq(has_extension),
            transaction.command.eq(Command.READ),
            transaction.destination.eq(destination),
            transaction.source.eq(self.source),
            transaction.tag.eq(READ_TAG_FLAG | self.tag.payload),
            transaction.address.eq(remote[:HEADER_ADDRESS_BITS]),
            transaction.byte_count.eq(count),
            transaction.has_address_extension.eq(has_extension),
        ]
        extension = Signal(ADDRESS_EXTENSION_FLIT)
        if params.axi_address_bits > HEADER_ADDRESS_BITS:
            m.d.comb += extension.address_high.eq(remote[HEADER_ADDRESS_BITS:])

        flit_taken = Signal()
        finishing = Signal()  # the burst's last flit leaves now
        m.d.comb += flit_taken.eq(self.flit.valid & self.flit.ready)
        ended = Signal()  # the packet whose extension flit is due was the burst's last
        with m.FSM(name="sending"):
            with m.State("HEADER"):
                m.d.comb += [
                    self.flit.valid.eq(busy & self.tag.valid),
                    self.flit.payload.flit.eq(header),
                    self.flit.payload.last.eq(~has_extension),
                    self.tag.ready.eq(busy & self.flit.ready),
                ]
                with m.If(flit_taken):
                    m.d.comb += [self.sent.valid.eq(1), self.sent.tag.eq(self.tag.payload),
                                 self.sent.byte_count.eq(count)]
                    with m.If(~run_over):
                        m.d.sync += address.eq(piece_end)
                    with m.Elif(~last_piece):
                        m.d.sync += [address.eq(restart), run_end.eq(restart_end),
                                     runs_left.eq(runs_left - 1)]
                    with m.If(has_extension):
                        m.d.sync += ended.eq(last_piece)
                        m.next = "EXTENSION"
                    with m.Else():
                        m.d.comb += finishing.eq(last_piece)
            with m.State("EXTENSION"):
                m.d.comb += [self.flit.valid.eq(1), self.flit.payload.flit.eq(extension),
                             self.flit.payload.last.eq(1)]
                with m.If(flit_taken):
                    m.d.comb += finishing.eq(ended)
                    m.next = "HEADER"

        # AR: taken when the burst before it has sent its last flit, or sends it now.
        idle_now = Signal()
        take_ar = Signal()
        m.d.comb += [
            idle_now.eq(~busy | finishing),
            self.burst.valid.eq(self.arvalid & idle_now),
            self.burst.payload.id.eq(self.arid),
            self.burst.payload.address.eq(self.araddr[:PAGE_BITS]),
            self.burst.payload.length.eq(self.arlen),
            self.burst.payload.size.eq(self.arsize),
            self.burst.payload.kind.eq(self.arburst),
            self.burst.payload.decerr.eq(~windows.hit),
            self.arready.eq(idle_now & self.burst.ready),
            take_ar.eq(self.arvalid & self.arready),
        ]
        # The first beat's container, the end of the last beat, the wrap region.
        start = Signal(PAGE_BITS)
        size_mask = Signal(PAGE_BITS)  # Number_Bytes - 1
        aligned = Signal(PAGE_BITS)
        container_end = Signal(PAGE_BITS + 1)
        total = Signal(PAGE_BITS + LEN_BITS + 1)  # Number_Bytes x Burst_Length, unchecked
        wrap_mask = Signal(PAGE_BITS)  # WRAP: total - 1 (WRAP lengths are powers of two)
        wrap_boundary = Signal(PAGE_BITS)
        m.d.comb += [
            start.eq(self.araddr[:PAGE_BITS]),
            size_mask.eq((Const(1, PAGE_BITS) << self.arsize) - 1),
            aligned.eq(start & ~size_mask),
            container_end.eq(aligned + size_mask + 1),
            total.eq((self.arlen + 1) << self.arsize),
            wrap_mask.eq((self.arlen << self.arsize) | size_mask),
            wrap_boundary.eq(start & ~wrap_mask),
        ]
        with m.If(finishing):
            m.d.sync += busy.eq(0)
        with m.If(take_ar):
            m.d.sync += [
                busy.eq(windows.hit),
                address.eq(start),
                destination.eq(windows.destination),
                remote_page.eq(windows.remote_address[PAGE_BITS:]),
                has_extension.eq(windows.remote_address[HEADER_ADDRESS_BITS:].any()
                                 if params.axi_address_bits > HEADER_ADDRESS_BITS else 0),
            ]
            with m.Switch(self.arburst):
                with m.Case(BurstType.FIXED):
                    m.d.sync += [run_end.eq(container_end), restart.eq(start),
                                 restart_end.eq(container_end), runs_left.eq(self.arlen)]
                with m.Case(BurstType.WRAP):
                    m.d.sync += [run_end.eq(wrap_boundary + total), restart.eq(wrap_boundary),
                                 restart_end.eq(start),
                                 runs_left.eq(start != wrap_boundary)]
                with m.Default():
                    m.d.sync += [run_end.eq(aligned + total), runs_left.eq(0)]
        return m
