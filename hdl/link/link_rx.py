"""Receiver of the reliable link layer: check, resync, acknowledge, buffer per VC."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import (
    CRC_TAG,
    FLIT_BITS,
    HEADER_BODY,
    HEADER_FLIT,
    MAX_PAYLOAD_FLITS,
    FlitKind,
    field_slice,
)
from ..params import LinkParams, _next_power_of_two
from .commit_fifo import CommitFifo
from .link_signals import (
    COUNTER_BITS,
    CRC_BITS,
    CRC_OFFSET,
    CREDIT_BITS,
    DELIVERED_FLIT,
    SEQ_BITS,
    WIRE,
    crc_initial,
    crc_step,
)


class LinkReceiver(wiring.Component):
    """Checks every header, drops what cannot be proven, hands good packets out per VC.

    The rules are those of :class:`emulator.cycle.link.LinkEnd` (``receive`` and ``drain``),
    register for register. A header's CRC covers the payload before it; a PACKET header's CRC
    is computed with the packet's implicit sequence number in the CRC field. A header that
    fails its check drops the unproven packet before it, asks for a NAK and starts a resync:
    every flit is ignored until a REPLAY header whose CRC covers only itself; while
    resyncing, the NAK is asked for again every ``LinkParams.ack_timeout`` cycles. A packet
    whose sequence number is not the one expected (a replayed copy of one already taken) is
    dropped. Payload flits of the packet being proven wait, uncommitted, in the buffer of
    their VC and are committed when the next header checks.

    Members
    -------
    flit : In(WIRE)
        What the channel delivers this cycle, possibly nothing. Always taken.
    delivered : Out(stream.Signature(DELIVERED_FLIT)).array(virtual_channels)
        Per VC, the flits of good packets in order: the header (link-owned fields zero),
        then its payload; ``last`` on the final flit. A packet is readable from the cycle
        after the header that proves it (after its own header, without payload); valid and
        payload hold until ready. Each VC's buffer holds ``LinkParams.credit_pool_flits``.
    expected : Out(SEQ_BITS)
        Sequence number of the next packet to accept; ``expected - 1`` is the cumulative ack.
    freed : Out(CREDIT_BITS).array(virtual_channels)
        Running count of flits taken from each VC's buffer (wraps).
    nak_wanted : Out(1)
        A NAK is to be sent; cleared the cycle after ``nak_sent``, unless asked for again.
    nak_sent : In(1)
        The transmitter of this end sends the NAK this cycle.
    far_ack_valid, far_ack : Out(1), Out(SEQ_BITS)
        Registered: a header that checked last cycle carried acknowledgement ``far_ack``.
    far_nak : Out(1)
        Registered: a NAK checked last cycle.
    far_freed_valid, far_freed : Out(1), Out(CREDIT_BITS).array(virtual_channels)
        Registered: a control flit checked last cycle carried the far end's freed counts.
    crc_errors, duplicates_dropped, flits_discarded_resyncing, packets_delivered : Out(32)
        Counters since reset (each wraps); ``packets_delivered`` counts last flits taken.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        vcs = params.virtual_channels
        super().__init__({
            "flit": In(WIRE),
            "delivered": Out(stream.Signature(DELIVERED_FLIT)).array(vcs),
            "expected": Out(SEQ_BITS),
            "freed": Out(CREDIT_BITS).array(vcs),
            "nak_wanted": Out(1),
            "nak_sent": In(1),
            "far_ack_valid": Out(1),
            "far_ack": Out(SEQ_BITS),
            "far_nak": Out(1),
            "far_freed_valid": Out(1),
            "far_freed": Out(CREDIT_BITS).array(vcs),
            "crc_errors": Out(COUNTER_BITS),
            "duplicates_dropped": Out(COUNTER_BITS),
            "flits_discarded_resyncing": Out(COUNTER_BITS),
            "packets_delivered": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.params
        vcs = p.virtual_channels
        buffers = []
        for vc in range(vcs):
            fifo = CommitFifo(DELIVERED_FLIT, _next_power_of_two(p.credit_pool_flits))
            m.submodules[f"buffer_{vc}"] = fifo
            wiring.connect(m, fifo.read, wiring.flipped(self.delivered[vc]))
            buffers.append(fifo)

        resyncing = Signal()
        remaining = Signal(range(MAX_PAYLOAD_FLITS + 1))
        covered_crc = Signal(CRC_BITS, init=crc_initial(p).value)
        incoming_seq = Signal(SEQ_BITS)  # of the next PACKET header on the wire
        last_seq = Signal(SEQ_BITS, init=p.sequence_modulus - 1)  # of the last PACKET taken
        pending = Signal()  # a packet accepted, its payload not yet proven
        pending_vc = Signal(range(vcs))
        nak_timer = Signal(range(p.ack_timeout + 1))

        flit = HEADER_FLIT(self.flit.payload)
        link = flit.body.link
        arrived = self.flit.valid
        is_packet = link.kind == FlitKind.PACKET
        is_replay = link.kind == FlitKind.REPLAY
        at_payload = ~resyncing & (remaining != 0)

        # One CRC step serves payload flits (into the running CRC) and headers (the check).
        # A REPLAY header, and any header seen while resyncing, is checked on its own.
        state_in = Signal(CRC_BITS)
        word = Signal(FLIT_BITS)
        crc_out = Signal(CRC_BITS)
        good = Signal()
        m.d.comb += [
            state_in.eq(covered_crc),
            word.eq(self.flit.payload),
            crc_out.eq(crc_step(p, state_in, word)),
            good.eq(crc_out == flit.crc),
        ]
        tag = CRC_TAG(Signal(CRC_BITS))
        m.d.comb += [tag.covered_seq.eq(last_seq), tag.seq.eq(Mux(is_packet, incoming_seq, 0))]
        with m.If(~at_payload):
            m.d.comb += word[CRC_OFFSET:CRC_OFFSET + CRC_BITS].eq(tag.as_value())
            with m.If(resyncing | is_replay):
                m.d.comb += [state_in.eq(crc_initial(p)),
                             word[CRC_OFFSET:CRC_OFFSET + CRC_BITS].eq(0)]

        # What a checked header does; applied below when one arrives and checks.
        header_good = Signal()
        deliver_pending = header_good & ~is_replay & pending
        drop_pending = Signal()
        expected_now = Signal(SEQ_BITS)
        m.d.comb += [
            drop_pending.eq(pending & ((header_good & is_replay)
                                       | (arrived & ~resyncing & ~at_payload & ~good))),
            expected_now.eq(self.expected + deliver_pending),
        ]
        accept = header_good & is_packet & (incoming_seq == expected_now)
        accept_alone = accept & (link.length == 0)  # no payload: proven by its own header

        ack_offset, ack_bits = field_slice(HEADER_BODY, "link", "ack")
        delivered_header = Signal(FLIT_BITS)
        m.d.comb += [
            delivered_header.eq(flit.body.as_value()),
            delivered_header[ack_offset:ack_offset + ack_bits].eq(0),
        ]
        for vc, fifo in enumerate(buffers):
            mine = pending_vc == vc
            m.d.comb += [
                fifo.commit.eq((deliver_pending & mine) | (accept_alone & (link.vc == vc))),
                fifo.commit_write.eq(accept_alone & (link.vc == vc)),
                fifo.rollback.eq(drop_pending & mine),
            ]
            with m.If(accept & (link.vc == vc)):
                m.d.comb += [fifo.write.valid.eq(1),
                             fifo.write.payload.eq(Cat(delivered_header, link.length == 0))]
            with m.Elif(arrived & at_payload & pending & mine):
                m.d.comb += [fifo.write.valid.eq(1),
                             fifo.write.payload.eq(Cat(self.flit.payload, remaining == 1))]

        m.d.sync += [self.far_ack_valid.eq(0), self.far_nak.eq(0), self.far_freed_valid.eq(0)]
        nak_again = Signal()
        with m.If(resyncing):
            with m.If(nak_timer + 1 >= p.ack_timeout):
                m.d.sync += nak_timer.eq(0)
                m.d.comb += nak_again.eq(1)
            with m.Else():
                m.d.sync += nak_timer.eq(nak_timer + 1)
        nak_error = Signal()
        with m.If(arrived):
            with m.If(resyncing):
                with m.If(is_replay & good):
                    m.d.sync += resyncing.eq(0)
                    m.d.comb += header_good.eq(1)
                with m.Else():
                    m.d.sync += self.flits_discarded_resyncing.eq(
                        self.flits_discarded_resyncing + 1)
            with m.Elif(at_payload):
                m.d.sync += [remaining.eq(remaining - 1), covered_crc.eq(crc_out)]
            with m.Elif(good):
                m.d.comb += header_good.eq(1)
            with m.Else():
                m.d.sync += [self.crc_errors.eq(self.crc_errors + 1), pending.eq(0),
                             resyncing.eq(1), nak_timer.eq(0)]
                m.d.comb += nak_error.eq(1)
        m.d.sync += self.nak_wanted.eq((self.nak_wanted & ~self.nak_sent) | nak_again | nak_error)

        with m.If(header_good):
            m.d.sync += [covered_crc.eq(crc_initial(p)), self.far_ack_valid.eq(1),
                         self.far_ack.eq(link.ack), self.expected.eq(expected_now + accept_alone)]
            with m.If(is_replay | deliver_pending):
                m.d.sync += pending.eq(0)
            with m.If(~is_packet):
                m.d.sync += self.far_freed_valid.eq(1)
                for vc in range(vcs):
                    m.d.sync += self.far_freed[vc].eq(flit.body.message.control.credits[vc])
                with m.If(is_replay):
                    m.d.sync += [incoming_seq.eq(flit.body.message.control.seq),
                                 last_seq.eq(flit.body.message.control.seq - 1)]
                with m.If(link.kind == FlitKind.NAK):
                    m.d.sync += self.far_nak.eq(1)
            with m.Else():
                m.d.sync += [remaining.eq(link.length), incoming_seq.eq(incoming_seq + 1),
                             last_seq.eq(incoming_seq)]
                with m.If(~accept):
                    m.d.sync += self.duplicates_dropped.eq(self.duplicates_dropped + 1)
                with m.Elif(link.length != 0):
                    m.d.sync += [pending.eq(1), pending_vc.eq(link.vc)]

        taken = [self.delivered[vc].valid & self.delivered[vc].ready for vc in range(vcs)]
        finished = [take & self.delivered[vc].payload.last for vc, take in enumerate(taken)]
        for vc in range(vcs):
            with m.If(taken[vc]):
                m.d.sync += self.freed[vc].eq(self.freed[vc] + 1)
        m.d.sync += self.packets_delivered.eq(self.packets_delivered + sum(finished))
        return m
