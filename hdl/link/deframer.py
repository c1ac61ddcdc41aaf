"""Receive framing: link flits in, checked packets out."""

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY, HEADER_FLIT, MAX_PAYLOAD_FLITS, FlitKind, field_slice
from ..params import LinkParams
from .commit_fifo import CommitFifo

#: Packets whose headers wait in the deframer. Header-only packets arrive one per cycle; the
#: two entries of slack that keep ``flit.ready`` registered-free plus one being read need 4.
DESCRIPTOR_DEPTH = 4


class Deframer(wiring.Component):
    """Checks the CRC of every header flit and delivers the packets it proves good.

    A header's CRC covers the payload of the packet before it, so a packet's payload is kept
    (uncommitted) until the next header arrives: if that header checks, the packet is
    delivered; if not, the packet and the failing header are both dropped and one CRC error is
    counted. The payload length of a failing header is still used to find the next header; a
    link layer above recovers from a wrong one by replay. Control flits (IDLE, NAK, REPLAY) are
    checked and never delivered.

    Members
    -------
    flit : In(stream.Signature(FLIT_BITS))
        Link flits. Ready while the buffers have room for two more flits.
    packet : Out(stream.Signature(HEADER_BODY))
        Headers of good packets, in arrival order; ``link.length`` flits follow on ``payload``.
        The earliest a header comes out is 2 cycles after the next header went in (or after
        its own, for a packet without payload).
    payload : Out(stream.Signature(FLIT_BITS))
        Payload flits of good packets, in order.
    crc_error : Out(1)
        High for one cycle for each header that failed its check.
    crc_errors : Out(32)
        Headers that failed their check since reset (wraps).
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        super().__init__({
            "flit": In(stream.Signature(FLIT_BITS)),
            "packet": Out(stream.Signature(HEADER_BODY)),
            "payload": Out(stream.Signature(FLIT_BITS)),
            "crc_error": Out(1),
            "crc_errors": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.crc = crc = self.params.crc.create()
        m.submodules.headers = headers = CommitFifo(HEADER_BODY, DESCRIPTOR_DEPTH)
        m.submodules.payloads = payloads = CommitFifo(FLIT_BITS, self.params.deframer_buffer_flits)
        wiring.connect(m, headers.read, wiring.flipped(self.packet))
        wiring.connect(m, payloads.read, wiring.flipped(self.payload))

        crc_offset, crc_width = field_slice(HEADER_FLIT, "crc")

        # Stage 0: take a flit, tell header from payload by counting, feed the CRC.
        remaining = Signal(range(MAX_PAYLOAD_FLITS + 1))
        after_header = Signal(init=1)
        is_header = remaining == 0
        take = self.flit.valid & self.flit.ready
        body = Signal(FLIT_BITS)
        m.d.comb += [
            self.flit.ready.eq((headers.free >= 2) & (payloads.free >= 2)),
            body.eq(self.flit.payload),
            crc.valid.eq(take),
            crc.start.eq(after_header & take),
            crc.data.eq(body),
        ]
        with m.If(is_header):
            m.d.comb += body[crc_offset:crc_offset + crc_width].eq(0)
        with m.If(take):
            m.d.sync += after_header.eq(is_header)
            with m.If(is_header):
                m.d.sync += remaining.eq(HEADER_FLIT(self.flit.payload).body.link.length)
            with m.Else():
                m.d.sync += remaining.eq(remaining - 1)

        # Stage 1: the CRC of a header is ready; keep or drop what it covers.
        staged_valid = Signal()
        staged = Signal(HEADER_FLIT)
        staged_is_header = Signal()
        collecting = Signal()  # the payload now arriving belongs to a good packet
        m.d.sync += staged_valid.eq(take)
        with m.If(take):
            m.d.sync += [staged.eq(self.flit.payload), staged_is_header.eq(is_header)]

        m.d.comb += [headers.write.payload.eq(staged.body), payloads.write.payload.eq(staged)]
        with m.If(staged_valid & staged_is_header):
            is_packet = staged.body.link.kind == FlitKind.PACKET
            has_payload = staged.body.link.length != 0
            with m.If(crc.crc == staged.crc):
                m.d.comb += [
                    headers.commit.eq(1),
                    headers.commit_write.eq(~has_payload),
                    headers.write.valid.eq(is_packet),
                    payloads.commit.eq(1),
                ]
                m.d.sync += collecting.eq(is_packet & has_payload)
            with m.Else():
                m.d.comb += [headers.rollback.eq(1), payloads.rollback.eq(1), self.crc_error.eq(1)]
                m.d.sync += [collecting.eq(0), self.crc_errors.eq(self.crc_errors + 1)]
        with m.Elif(staged_valid):
            m.d.comb += payloads.write.valid.eq(collecting)
        return m
