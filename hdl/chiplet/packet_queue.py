"""A queue of whole packets in front of one virtual channel of a link transmitter."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY, MAX_PACKET_FLITS
from ..link.link_signals import DELIVERED_FLIT


class PacketQueue(wiring.Component):
    """Holds packet flits and offers a packet to the link transmitter only once all of it is
    here, because the transmitter sends a packet's payload right after its header and does not
    wait (see :class:`hdl.link.link_tx.LinkTransmitter`).

    A header is taken only while there is room for ``header_room`` flits: a longest packet
    (``MAX_PACKET_FLITS``, the default) so that a packet once begun always comes in whole, at
    a flit per cycle, whatever the link does: a packet never waits part-way in, holding its
    sender, behind a link that stopped (a plane that died would otherwise keep the packet it
    was taking, and its sender could neither finish nor hand its requests over). A sender that
    sends only with credits for a whole packet (a switch output) passes 1: any room will do.

    Parameters
    ----------
    depth : int
        Flits held; at least one longest packet (``MAX_PACKET_FLITS``).
    header_room : int
        Free flits a header needs to be taken (1 to ``MAX_PACKET_FLITS``).

    Members
    -------
    flit_in : In(stream.Signature(DELIVERED_FLIT))
        Packets, header first, ``last`` on each packet's final flit.
    header : Out(stream.Signature(HEADER_BODY))
        The header of the oldest whole packet (to ``LinkEnd.header_in[vc]``).
    payload : Out(stream.Signature(FLIT_BITS))
        Its payload flits, valid from the cycle after the header is taken
        (to ``LinkEnd.payload_in[vc]``).
    empty : Out(1)
        No flit is held.
    """

    def __init__(self, depth: int = 2 * MAX_PACKET_FLITS,
                 header_room: int = MAX_PACKET_FLITS) -> None:
        if depth < MAX_PACKET_FLITS:
            raise ValueError(f"PacketQueue depth={depth} cannot hold a {MAX_PACKET_FLITS}-flit "
                             "packet; the link transmitter needs whole packets.")
        if not 1 <= header_room <= MAX_PACKET_FLITS:
            raise ValueError(f"PacketQueue header_room={header_room}: 1 to {MAX_PACKET_FLITS}.")
        self.depth = depth
        self.header_room = header_room
        super().__init__({
            "flit_in": In(stream.Signature(DELIVERED_FLIT)),
            "header": Out(stream.Signature(HEADER_BODY)),
            "payload": Out(stream.Signature(FLIT_BITS)),
            "empty": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.fifo = storage = fifo.SyncFIFO(width=DELIVERED_FLIT.size,
                                                       depth=self.depth)
        head = Signal(DELIVERED_FLIT)
        whole = Signal(range(self.depth + 1))  # packets whose last flit is stored
        at_start = Signal(init=1)  # the head flit is a header
        in_start = Signal(init=1)  # the next flit written is a header
        writable = Signal()
        written_last = Signal()
        read = Signal()
        m.d.comb += [
            storage.w_data.eq(self.flit_in.payload),
            writable.eq(Mux(in_start, storage.w_level <= self.depth - self.header_room,
                            storage.w_rdy)),
            storage.w_en.eq(self.flit_in.valid & writable),
            self.flit_in.ready.eq(writable),
            written_last.eq(self.flit_in.valid & writable & self.flit_in.payload.last),
            head.eq(storage.r_data),
            self.header.payload.eq(head.flit[:HEADER_BODY.size]),
            self.header.valid.eq(storage.r_rdy & at_start & (whole != 0)),
            self.payload.payload.eq(head.flit),
            self.payload.valid.eq(storage.r_rdy & ~at_start),
            read.eq((self.header.valid & self.header.ready)
                    | (self.payload.valid & self.payload.ready)),
            storage.r_en.eq(read),
            self.empty.eq(storage.r_level == 0),
        ]
        with m.If(self.flit_in.valid & writable):
            m.d.sync += in_start.eq(self.flit_in.payload.last)
        with m.If(read):
            m.d.sync += at_start.eq(head.last)
        m.d.sync += whole.eq(whole + written_last - (read & head.last))
        return m
