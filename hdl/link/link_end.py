"""One end of a reliable link: transmitter, receiver and replay buffer, connected."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY
from ..params import LinkParams
from .link_rx import LinkReceiver
from .link_signals import COUNTER_NAMES, DELIVERED_FLIT, LINK_COUNTERS, WIRE
from .link_tx import LinkTransmitter
from .replay_buffer import ReplayBuffer


class LinkEnd(wiring.Component):
    """Transmitter and receiver of one end of a link, as :class:`emulator.cycle.link.LinkEnd`.

    The receiver tells the transmitter of the same end what it saw through registers, so the
    transmitter acts on them one cycle later.

    Members
    -------
    header_in, payload_in : In(...).array(virtual_channels)
        Packets to send, per VC; as ``LinkTransmitter.header_in`` and ``payload_in``.
    flit_out : Out(FLIT_BITS)
        The flit sent this cycle, one every cycle; combinational (see ``LinkTransmitter``).
    flit_in : In(WIRE)
        What the channel from the far end delivers this cycle, possibly nothing.
    delivered : Out(stream.Signature(DELIVERED_FLIT)).array(virtual_channels)
        Good packets per VC, in order; as ``LinkReceiver.delivered``.
    counters : Out(LINK_COUNTERS)
        Counters since reset, named as ``emulator.cycle.link.LinkCounters``.
    idle : Out(1)
        Every packet this end sent has been acknowledged by the far end.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        vcs = params.virtual_channels
        super().__init__({
            "header_in": In(stream.Signature(HEADER_BODY)).array(vcs),
            "payload_in": In(stream.Signature(FLIT_BITS)).array(vcs),
            "flit_out": Out(FLIT_BITS),
            "flit_in": In(WIRE),
            "delivered": Out(stream.Signature(DELIVERED_FLIT)).array(vcs),
            "counters": Out(LINK_COUNTERS),
            "idle": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        vcs = self.params.virtual_channels
        m.submodules.tx = tx = LinkTransmitter(self.params)
        m.submodules.rx = rx = LinkReceiver(self.params)
        m.submodules.replay = replay = ReplayBuffer(self.params)
        wiring.connect(m, tx.replay, replay.port)
        wiring.connect(m, wiring.flipped(self.flit_in), rx.flit)
        for vc in range(vcs):
            wiring.connect(m, wiring.flipped(self.header_in[vc]), tx.header_in[vc])
            wiring.connect(m, wiring.flipped(self.payload_in[vc]), tx.payload_in[vc])
            wiring.connect(m, rx.delivered[vc], wiring.flipped(self.delivered[vc]))
            m.d.comb += [tx.freed[vc].eq(rx.freed[vc]), tx.far_freed[vc].eq(rx.far_freed[vc])]
        m.d.comb += [
            self.flit_out.eq(tx.flit),
            self.idle.eq(tx.idle),
            tx.expected.eq(rx.expected),
            tx.nak_wanted.eq(rx.nak_wanted),
            rx.nak_sent.eq(tx.nak_sent),
            tx.far_ack_valid.eq(rx.far_ack_valid),
            tx.far_ack.eq(rx.far_ack),
            tx.far_nak.eq(rx.far_nak),
            tx.far_freed_valid.eq(rx.far_freed_valid),
        ]
        for name in COUNTER_NAMES:
            part = tx if name in tx.signature.members else rx
            m.d.comb += getattr(self.counters, name).eq(getattr(part, name))
        return m

