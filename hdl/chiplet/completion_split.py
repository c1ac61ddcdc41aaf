"""Completions to the write side or the read side, by their tag."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import HEADER_BODY
from ..link.link_signals import DELIVERED_FLIT
from .read_signals import READ_TAG_FLAG


class CompletionSplit(wiring.Component):
    """Sends each completion packet whole to ``read`` when its tag has ``READ_TAG_FLAG`` set,
    else to ``write``; decided from the header, combinationally.

    Members
    -------
    flit_in : In(stream.Signature(DELIVERED_FLIT))
    write, read : Out(stream.Signature(DELIVERED_FLIT))
    """

    def __init__(self) -> None:
        flits = stream.Signature(DELIVERED_FLIT)
        super().__init__({"flit_in": In(flits), "write": Out(flits), "read": Out(flits)})

    def elaborate(self, platform) -> Module:
        m = Module()
        header = data.View(HEADER_BODY, self.flit_in.payload.flit[:HEADER_BODY.size])
        in_packet = Signal()
        to_read = Signal()  # of the packet under way
        read_now = Signal()
        m.d.comb += read_now.eq(Mux(in_packet, to_read,
                                    (header.message.transaction.tag & READ_TAG_FLAG) != 0))
        for port, chosen in ((self.read, read_now), (self.write, ~read_now)):
            m.d.comb += [port.payload.eq(self.flit_in.payload),
                         port.valid.eq(self.flit_in.valid & chosen)]
        m.d.comb += self.flit_in.ready.eq(Mux(read_now, self.read.ready, self.write.ready))
        with m.If(self.flit_in.valid & self.flit_in.ready):
            m.d.sync += [in_packet.eq(~self.flit_in.payload.last), to_read.eq(read_now)]
        return m
