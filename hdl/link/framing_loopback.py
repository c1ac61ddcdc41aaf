"""Framer wired straight to a deframer: the link framing under test, end to end."""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY
from ..params import LinkParams
from .deframer import Deframer
from .framer import Framer


class FramingLoopback(wiring.Component):
    """A framer whose flits go straight into a deframer.

    Members
    -------
    packet_in, payload_in : In(stream.Signature(...))
        As ``Framer.packet`` and ``Framer.payload``.
    packet_out, payload_out : Out(stream.Signature(...))
        As ``Deframer.packet`` and ``Deframer.payload``.
    crc_errors : Out(32)
        As ``Deframer.crc_errors``; stays zero on this error-free wire.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        super().__init__({
            "packet_in": In(stream.Signature(HEADER_BODY)),
            "payload_in": In(stream.Signature(FLIT_BITS)),
            "packet_out": Out(stream.Signature(HEADER_BODY)),
            "payload_out": Out(stream.Signature(FLIT_BITS)),
            "crc_errors": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.framer = framer = Framer(self.params)
        m.submodules.deframer = deframer = Deframer(self.params)
        wiring.connect(m, wiring.flipped(self.packet_in), framer.packet)
        wiring.connect(m, wiring.flipped(self.payload_in), framer.payload)
        wiring.connect(m, framer.flit, deframer.flit)
        wiring.connect(m, deframer.packet, wiring.flipped(self.packet_out))
        wiring.connect(m, deframer.payload, wiring.flipped(self.payload_out))
        m.d.comb += self.crc_errors.eq(deframer.crc_errors)
        return m
