"""What a chiplet does on one plane whose link has stopped: notice it, and stop answering on it."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import DELIVERED_FLIT
from .striper import COUNTER_BITS
from .tag_translate import clock_bits


class PlaneGuard(wiring.Component):
    """Watches one plane's link queues and gates the far side's completions onto it.

    **Stuck.** While some queue of the plane holds a flit (``held``) and no header leaves for
    the link (``moved`` low), a counter runs; any header leaving, or empty queues, clear it.
    Once it passes ``timeout`` the plane is *stuck* until reset: its link takes nothing, so
    its far end has stopped answering (dead wires, or a far chiplet gone). The chiplet fails
    the plane then (its tag translation hands its requests over), even when nothing it sent
    on that plane is waiting for a completion: a chiplet that only answers on a plane would
    otherwise never notice it die.

    **Answers.** Completion packets from the far side pass to the plane's completion queue
    while the plane is ``usable``; while it is not, each is taken and dropped whole (counted
    in ``dropped_answers``), decided at its header: the requester times out on that plane and
    asks again on another, and a far side blocked behind a dead link would hold every request
    that came to it on that plane, and the memory reads it started, for good.

    Members
    -------
    held, moved, usable : In(1)
    flit_in : In(stream.Signature(DELIVERED_FLIT))
        The far side's completion packets, header first, ``last`` on each final flit.
    flit_out : Out(stream.Signature(DELIVERED_FLIT))
        The same packets, latency 0, while the plane is usable at their header.
    stuck : Out(1)
    dropped_answers : Out(COUNTER_BITS)
        Completion packets dropped since reset (wraps).
    """

    def __init__(self, timeout: int) -> None:
        if timeout < 1:
            raise ValueError(f"PlaneGuard timeout={timeout}: at least one cycle.")
        self.timeout = timeout
        super().__init__({
            "held": In(1),
            "moved": In(1),
            "usable": In(1),
            "flit_in": In(stream.Signature(DELIVERED_FLIT)),
            "flit_out": Out(stream.Signature(DELIVERED_FLIT)),
            "stuck": Out(1),
            "dropped_answers": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        waited = Signal(clock_bits(self.timeout))
        with m.If(~self.held | self.moved):
            m.d.sync += waited.eq(0)
        with m.Elif(waited <= self.timeout):
            m.d.sync += waited.eq(waited + 1)
        with m.Else():
            m.d.sync += self.stuck.eq(1)

        in_packet = Signal()  # a packet's header was taken, its last flit not yet
        dropping = Signal()  # the packet under way is being dropped
        drop = Signal()
        m.d.comb += [
            drop.eq(Mux(in_packet, dropping, ~self.usable)),
            self.flit_out.payload.eq(self.flit_in.payload),
            self.flit_out.valid.eq(self.flit_in.valid & ~drop),
            self.flit_in.ready.eq(drop | self.flit_out.ready),
        ]
        with m.If(self.flit_in.valid & self.flit_in.ready):
            m.d.sync += [in_packet.eq(~self.flit_in.payload.last), dropping.eq(drop)]
            with m.If(drop & ~in_packet):
                m.d.sync += self.dropped_answers.eq(self.dropped_answers + 1)
        return m
