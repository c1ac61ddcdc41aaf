"""Transmit framing: headers and payload flits in, CRC-protected link flits out."""

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY, HEADER_FLIT, MAX_PAYLOAD_FLITS, FlitKind, field_slice
from ..params import LinkParams

#: The header of an IDLE (NOP) control flit as the framer sends it.
IDLE_BODY = HEADER_BODY.const({"link": {"kind": FlitKind.IDLE}})


class Framer(wiring.Component):
    """Puts packets on a link as flits, each header carrying a CRC-25.

    The CRC of a header flit covers its own 103 other bits and the payload flits of the packet
    sent before it. When payload flits have gone out and no packet is waiting, the framer sends
    an IDLE header at once so that the receiver can check that payload and hand it on.

    Members
    -------
    packet : In(stream.Signature(HEADER_BODY))
        One header per packet, taken in the cycle its flit enters the output register.
        ``link.length`` payload flits follow it on ``payload``.
    payload : In(stream.Signature(FLIT_BITS))
        The payload flits of each packet, in order.
    flit : Out(stream.Signature(FLIT_BITS))
        Link flits. Latency 1 cycle from an input to its flit; one flit per cycle while
        ``flit.ready`` and the inputs are valid; valid and payload hold until ready.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        super().__init__({
            "packet": In(stream.Signature(HEADER_BODY)),
            "payload": In(stream.Signature(FLIT_BITS)),
            "flit": Out(stream.Signature(FLIT_BITS)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.crc = crc = self.params.crc.create()

        remaining = Signal(range(MAX_PAYLOAD_FLITS + 1))  # payload flits still to send
        uncovered = Signal()  # payload flits went out since the last header
        after_header = Signal(init=1)  # the last flit sent was a header: restart the CRC
        held_flit = Signal(FLIT_BITS)
        held_is_header = Signal()

        load = ~self.flit.valid | self.flit.ready
        next_valid = Signal()
        next_flit = Signal(FLIT_BITS)
        next_is_header = Signal()
        with m.If(remaining != 0):
            m.d.comb += [
                self.payload.ready.eq(load),
                next_valid.eq(self.payload.valid),
                next_flit.eq(self.payload.payload),
            ]
        with m.Elif(self.packet.valid):
            m.d.comb += [
                self.packet.ready.eq(load),
                next_valid.eq(1),
                next_flit.eq(self.packet.payload.as_value()),
                next_is_header.eq(1),
            ]
        with m.Elif(uncovered):
            m.d.comb += [
                next_valid.eq(1),
                next_flit.eq(IDLE_BODY.as_value()),
                next_is_header.eq(1),
            ]

        take = load & next_valid
        # A header enters the CRC with its CRC field zero, as the body is zero-extended.
        # The CRC restarts only with a flit: a lone start would clear it while a header is held.
        m.d.comb += [crc.valid.eq(take), crc.data.eq(next_flit), crc.start.eq(after_header & take)]
        with m.If(take):
            m.d.sync += after_header.eq(next_is_header)
            with m.If(remaining != 0):
                m.d.sync += [remaining.eq(remaining - 1), uncovered.eq(1)]
            with m.Else():
                m.d.sync += uncovered.eq(0)
                with m.If(self.packet.valid):
                    m.d.sync += remaining.eq(self.packet.payload.link.length)
        with m.If(load):
            m.d.sync += [
                self.flit.valid.eq(next_valid),
                held_flit.eq(next_flit),
                held_is_header.eq(next_is_header),
            ]

        # The CRC register holds the header's CRC for as long as the header is held.
        crc_offset, crc_width = field_slice(HEADER_FLIT, "crc")
        m.d.comb += self.flit.payload.eq(held_flit)
        with m.If(held_is_header):
            m.d.comb += self.flit.payload[crc_offset:crc_offset + crc_width].eq(crc.crc)
        return m
