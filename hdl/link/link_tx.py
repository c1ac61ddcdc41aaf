"""Transmitter of the reliable link layer: one flit every cycle, replay, credits, acks."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import CRC_TAG, FLIT_BITS, HEADER_BODY, MAX_PAYLOAD_FLITS, FlitKind
from ..params import LinkParams
from .link_signals import (
    COUNTER_BITS,
    CRC_BITS,
    CRC_OFFSET,
    CREDIT_BITS,
    SEQ_BITS,
    crc_initial,
    crc_step,
)
from .replay_buffer import pointer_bits, replay_port


class LinkTransmitter(wiring.Component):
    """Sends exactly one flit every cycle: payload, REPLAY, NAK, a replayed or new packet, or
    IDLE, in that order of priority.

    The rules are those of :class:`emulator.cycle.link.LinkEnd` (``transmit``), register for
    register. Every header carries the cumulative ack ``expected - 1``; control flits carry
    the running freed count of every VC and ``seq`` (NAK: ``expected``; REPLAY: the first
    sequence number replayed). A PACKET header's CRC is computed with its sequence number in
    the CRC field; a REPLAY header's CRC covers only itself. Acknowledgements, NAKs and credit
    returns recorded by the receiver last cycle are applied before anything is decided. The
    transmitter replays from the oldest unacknowledged packet after a NAK or when the ack has
    not progressed for ``LinkParams.ack_timeout`` cycles. An IDLE goes out instead of a new
    packet once ``credit_update_flits`` flits were freed on some VC since the last control
    flit. A new packet is taken from the VCs in round-robin order among those whose head
    packet fits its credits, if the go-back-N window and the replay buffer have room.

    Members
    -------
    header_in : In(stream.Signature(HEADER_BODY)).array(virtual_channels)
        Per VC, the header of the next packet to send (``link.vc`` is not read: the index
        is the VC). Taken (ready) in the cycle it goes out, combinationally from valid.
    payload_in : In(stream.Signature(FLIT_BITS)).array(virtual_channels)
        Per VC, the payload flits of the packets, in order. Each of a packet's
        ``link.length`` flits must be valid in the cycles right after its header was taken:
        the transmitter sends them back to back and does not wait.
    flit : Out(FLIT_BITS)
        The flit sent this cycle; combinational from registers and the inputs.
    replay : Out(replay_port(params))
        To the :class:`~hdl.link.replay_buffer.ReplayBuffer`.
    expected : In(SEQ_BITS)
        The receiver's next expected sequence number.
    freed : In(CREDIT_BITS).array(virtual_channels)
        The receiver's running freed counts, sent in control flits.
    nak_wanted : In(1)
        The receiver asks for a NAK; ``nak_sent`` is high in the cycle it goes out.
    far_ack_valid, far_ack, far_nak, far_freed_valid, far_freed : In
        What the receiver recorded last cycle (see :class:`~hdl.link.link_rx.LinkReceiver`).
    idle : Out(1)
        Every packet sent has been acknowledged: nothing is held for replay.
    packets_sent, packets_replayed, replays, timeouts, naks_sent, credit_stall_cycles : Out(32)
        Counters since reset (each wraps). A credit stall cycle is one where a new packet
        could go but every VC holding one lacks credits.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        vcs = params.virtual_channels
        super().__init__({
            "header_in": In(stream.Signature(HEADER_BODY)).array(vcs),
            "payload_in": In(stream.Signature(FLIT_BITS)).array(vcs),
            "flit": Out(FLIT_BITS),
            "replay": Out(replay_port(params)),
            "expected": In(SEQ_BITS),
            "freed": In(CREDIT_BITS).array(vcs),
            "nak_wanted": In(1),
            "nak_sent": Out(1),
            "far_ack_valid": In(1),
            "far_ack": In(SEQ_BITS),
            "far_nak": In(1),
            "far_freed_valid": In(1),
            "far_freed": In(CREDIT_BITS).array(vcs),
            "idle": Out(1),
            "packets_sent": Out(COUNTER_BITS),
            "packets_replayed": Out(COUNTER_BITS),
            "replays": Out(COUNTER_BITS),
            "timeouts": Out(COUNTER_BITS),
            "naks_sent": Out(COUNTER_BITS),
            "credit_stall_cycles": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:  # noqa: C901 - one priority chain, kept whole
        m = Module()
        p = self.params
        vcs = p.virtual_channels
        replay = self.replay
        bits = pointer_bits(p)

        next_seq = Signal(SEQ_BITS)
        last_sent_seq = Signal(SEQ_BITS, init=p.sequence_modulus - 1)  # of the last PACKET sent
        oldest = Signal(SEQ_BITS)  # oldest unacknowledged; == next_seq when none is held
        cursor_active = Signal()  # a replay is under way
        cursor_seq = Signal(SEQ_BITS)  # next packet to replay
        replay_wanted = Signal()
        timer = Signal(range(4 * p.ack_timeout + 4 * MAX_PAYLOAD_FLITS))
        remaining = Signal(range(MAX_PAYLOAD_FLITS + 1))  # payload flits still to send
        from_replay = Signal()  # the payload being sent comes from the replay buffer
        sending_vc = Signal(range(vcs))
        sending_address = Signal(bits)
        covered_crc = Signal(CRC_BITS, init=crc_initial(p).value)
        consumed = [Signal(CREDIT_BITS, name=f"consumed_{vc}") for vc in range(vcs)]
        limit = [Signal(CREDIT_BITS, name=f"limit_{vc}", init=p.credit_pool_flits)
                 for vc in range(vcs)]
        reported = [Signal(CREDIT_BITS, name=f"reported_{vc}") for vc in range(vcs)]
        round_robin = Signal(range(vcs))

        # -- what the receiver recorded last cycle -----------------------------------------
        held = Signal(SEQ_BITS)
        released = Signal(SEQ_BITS)
        acknowledged = Signal()
        oldest_now = Signal(SEQ_BITS)
        m.d.comb += [
            held.eq(next_seq - oldest),
            self.idle.eq(oldest == next_seq),
            released.eq(self.far_ack - oldest + 1),
            acknowledged.eq(self.far_ack_valid & (held != 0) & (released != 0)
                            & (released <= held)),
            oldest_now.eq(Mux(acknowledged, self.far_ack + 1, oldest)),
            replay.release_valid.eq(acknowledged),
            replay.release_oldest.eq(oldest_now),
            replay.release_empty.eq(oldest_now == next_seq),
        ]
        holding = oldest_now != next_seq
        held_now = Signal(SEQ_BITS)
        m.d.comb += held_now.eq(next_seq - oldest_now)
        cursor_index = Signal(SEQ_BITS)
        cursor_active_now = Signal()
        cursor_seq_now = Signal(SEQ_BITS)
        m.d.comb += [
            cursor_index.eq(cursor_seq - oldest),
            cursor_active_now.eq(cursor_active),
            cursor_seq_now.eq(cursor_seq),
        ]
        with m.If(acknowledged & cursor_active & (cursor_index <= released)):
            m.d.comb += [cursor_seq_now.eq(oldest_now), cursor_active_now.eq(holding)]
        limit_now = [Mux(self.far_freed_valid, p.credit_pool_flits + self.far_freed[vc],
                         limit[vc])[:CREDIT_BITS] for vc in range(vcs)]
        timer_now = Signal.like(timer)
        timed_out = Signal()
        m.d.comb += [
            timer_now.eq(Mux(acknowledged, 0, timer) + holding),
            timed_out.eq(holding & (timer_now >= p.ack_timeout) & ~replay_wanted & ~self.far_nak),
        ]
        replay_now = replay_wanted | self.far_nak | timed_out
        m.d.sync += [oldest.eq(oldest_now), cursor_active.eq(cursor_active_now),
                     cursor_seq.eq(cursor_seq_now), timer.eq(timer_now),
                     replay_wanted.eq(replay_now)]
        m.d.sync += [limit[vc].eq(limit_now[vc]) for vc in range(vcs)]
        with m.If(timed_out):
            m.d.sync += self.timeouts.eq(self.timeouts + 1)

        # -- the next new packet -------------------------------------------------------------
        flits = [1 + self.header_in[vc].payload.link.length for vc in range(vcs)]
        fits = [self.header_in[vc].valid
                & (flits[vc] <= (limit_now[vc] - consumed[vc])[:CREDIT_BITS])
                for vc in range(vcs)]
        chosen = Signal()
        chosen_vc = Signal(range(vcs))
        with m.Switch(round_robin):
            for first in range(vcs):
                with m.Case(first):
                    for offset in reversed(range(vcs)):
                        vc = (first + offset) % vcs
                        with m.If(fits[vc]):
                            m.d.comb += [chosen.eq(1), chosen_vc.eq(vc)]
        chosen_header = HEADER_BODY(Signal(HEADER_BODY.size))
        chosen_flits = Signal(range(MAX_PAYLOAD_FLITS + 2))
        for vc in range(vcs):
            with m.If(chosen_vc == vc):
                m.d.comb += [chosen_header.eq(self.header_in[vc].payload),
                             chosen_flits.eq(flits[vc])]
        window_open = held_now < p.max_unacknowledged_packets
        room = replay.flits + chosen_flits <= p.replay_buffer_depth
        waiting = Signal()
        m.d.comb += waiting.eq(sum(self.header_in[vc].valid for vc in range(vcs)) != 0)

        credit_update = Signal()
        m.d.comb += credit_update.eq(sum(
            (self.freed[vc] - reported[vc])[:CREDIT_BITS] >= p.credit_update_flits
            for vc in range(vcs)) != 0)

        # -- the flit of this cycle ------------------------------------------------------------
        header = HEADER_BODY(Signal(HEADER_BODY.size))
        seq_field = Signal(SEQ_BITS)
        from_start = Signal()  # the CRC covers only this header
        is_header = Signal()
        payload = Signal(FLIT_BITS)
        ack = (self.expected - 1)[:SEQ_BITS]

        def control(kind: FlitKind, seq) -> list:
            statements = [header.link.kind.eq(kind), header.link.ack.eq(ack),
                          header.message.control.seq.eq(seq), is_header.eq(1)]
            statements += [header.message.control.credits[vc].eq(self.freed[vc])
                           for vc in range(vcs)]
            return statements

        def send_control() -> None:
            m.d.sync += [reported[vc].eq(self.freed[vc]) for vc in range(vcs)]

        stored = HEADER_BODY(replay.read_data[:HEADER_BODY.size])
        m.d.comb += [replay.start_seq.eq(cursor_seq_now),
                     replay.read_address.eq(replay.start)]
        with m.If(remaining != 0):
            m.d.comb += replay.read_address.eq(sending_address)
            with m.If(from_replay):
                m.d.comb += payload.eq(replay.read_data)
            with m.Else():
                for vc in range(vcs):
                    with m.If(sending_vc == vc):
                        m.d.comb += [payload.eq(self.payload_in[vc].payload),
                                     self.payload_in[vc].ready.eq(1)]
                m.d.comb += [replay.append_valid.eq(1), replay.append_flit.eq(payload)]
            m.d.sync += [remaining.eq(remaining - 1), sending_address.eq(sending_address + 1)]
        with m.Elif(replay_now):
            m.d.comb += control(FlitKind.REPLAY, oldest_now)
            m.d.comb += from_start.eq(1)
            send_control()
            m.d.sync += [replay_wanted.eq(0), timer.eq(0), self.replays.eq(self.replays + 1),
                         cursor_active.eq(holding), cursor_seq.eq(oldest_now),
                         last_sent_seq.eq(oldest_now - 1)]
        with m.Elif(self.nak_wanted):
            m.d.comb += control(FlitKind.NAK, self.expected)
            m.d.comb += self.nak_sent.eq(1)
            send_control()
            m.d.sync += self.naks_sent.eq(self.naks_sent + 1)
        with m.Elif(cursor_active_now):
            m.d.comb += [header.eq(stored), header.link.ack.eq(ack), seq_field.eq(cursor_seq_now),
                         is_header.eq(1)]
            m.d.sync += [cursor_seq.eq(cursor_seq_now + 1), last_sent_seq.eq(cursor_seq_now),
                         cursor_active.eq((cursor_seq_now + 1)[:SEQ_BITS] != next_seq),
                         self.packets_replayed.eq(self.packets_replayed + 1),
                         remaining.eq(stored.link.length), from_replay.eq(1),
                         sending_address.eq(replay.start + 1)]
        with m.Elif(~credit_update & window_open & chosen & room):
            m.d.comb += [header.eq(chosen_header), header.link.ack.eq(ack),
                         header.link.credit_vc.eq(0), header.link.credit.eq(0),
                         seq_field.eq(next_seq), is_header.eq(1),
                         replay.append_valid.eq(1), replay.append_header.eq(1),
                         replay.append_seq.eq(next_seq),
                         replay.append_flit.eq(header.as_value())]
            for vc in range(vcs):
                with m.If(chosen_vc == vc):
                    m.d.comb += self.header_in[vc].ready.eq(1)
                    m.d.sync += consumed[vc].eq(consumed[vc] + chosen_flits)
            m.d.sync += [next_seq.eq(next_seq + 1), round_robin.eq(chosen_vc + 1),
                         last_sent_seq.eq(next_seq),
                         self.packets_sent.eq(self.packets_sent + 1),
                         remaining.eq(chosen_header.link.length), from_replay.eq(0),
                         sending_vc.eq(chosen_vc)]
            if vcs & (vcs - 1):
                with m.If(chosen_vc == vcs - 1):
                    m.d.sync += round_robin.eq(0)
            with m.If(~holding):
                m.d.sync += timer.eq(0)
        with m.Else():
            m.d.comb += control(FlitKind.IDLE, 0)
            send_control()
            with m.If(~credit_update & window_open & ~chosen & waiting):
                m.d.sync += self.credit_stall_cycles.eq(self.credit_stall_cycles + 1)

        # One CRC step: a payload flit extends the running CRC, a header takes it as its own.
        state_in = Mux(from_start, crc_initial(p), covered_crc)
        word = Signal(FLIT_BITS)
        m.d.comb += word.eq(Mux(is_header, header.as_value(), payload))
        tag = CRC_TAG(Signal(CRC_BITS))
        m.d.comb += [tag.seq.eq(seq_field), tag.covered_seq.eq(last_sent_seq)]
        with m.If(is_header & ~from_start):
            m.d.comb += word[CRC_OFFSET:CRC_OFFSET + CRC_BITS].eq(tag.as_value())
        with m.If(is_header & from_start):  # a REPLAY header: tag zero
            m.d.comb += word[CRC_OFFSET:CRC_OFFSET + CRC_BITS].eq(0)
        crc_out = Signal(CRC_BITS)
        m.d.comb += [crc_out.eq(crc_step(p, state_in, word)), self.flit.eq(word)]
        with m.If(is_header):
            m.d.comb += self.flit[CRC_OFFSET:CRC_OFFSET + CRC_BITS].eq(crc_out)
            m.d.sync += covered_crc.eq(crc_initial(p))
        with m.Else():
            m.d.sync += covered_crc.eq(crc_out)
        return m
