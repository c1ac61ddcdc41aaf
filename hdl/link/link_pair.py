"""Two link ends joined by two damaged wires: the whole reliable link, for lockstep tests."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, HEADER_BODY
from ..params import LinkParams
from .channel_delay import ChannelDelay
from .link_end import LinkEnd
from .link_signals import DELIVERED_FLIT, LINK_COUNTERS

ENDS = ("a", "b")


class LinkPair(wiring.Component):
    """End ``a`` and end ``b`` of a link; ``a``'s flits reach ``b`` after
    ``LinkParams.pipeline_latency_cycles`` and the other way round, as in
    :class:`emulator.cycle.link_harness.LinkHarness`.

    Members
    -------
    a_header_in, a_payload_in, b_header_in, b_payload_in : In(...).array(virtual_channels)
        Packets each end sends (``LinkEnd.header_in`` and ``payload_in``).
    a_delivered, b_delivered : Out(stream.Signature(DELIVERED_FLIT)).array(virtual_channels)
        Packets each end receives (``LinkEnd.delivered``).
    a_flit, b_flit : Out(FLIT_BITS)
        The flit each end sends this cycle.
    a_to_b_flip, b_to_a_flip : In(FLIT_BITS)
        Bits to invert in the flit a wire delivers this cycle.
    a_to_b_drop, b_to_a_drop : In(1)
        The flit a wire delivers this cycle is lost.
    a_counters, b_counters : Out(LINK_COUNTERS)
        Each end's counters.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        vcs = params.virtual_channels
        members = {}
        for end in ENDS:
            members[f"{end}_header_in"] = In(stream.Signature(HEADER_BODY)).array(vcs)
            members[f"{end}_payload_in"] = In(stream.Signature(FLIT_BITS)).array(vcs)
            members[f"{end}_delivered"] = Out(stream.Signature(DELIVERED_FLIT)).array(vcs)
            members[f"{end}_flit"] = Out(FLIT_BITS)
            members[f"{end}_counters"] = Out(LINK_COUNTERS)
        for wire in ("a_to_b", "b_to_a"):
            members[f"{wire}_flip"] = In(FLIT_BITS)
            members[f"{wire}_drop"] = In(1)
        super().__init__(members)

    def elaborate(self, platform) -> Module:
        m = Module()
        latency = self.params.pipeline_latency_cycles
        ends = {}
        for end in ENDS:
            ends[end] = m.submodules[end] = LinkEnd(self.params)
            for vc in range(self.params.virtual_channels):
                wiring.connect(m, wiring.flipped(getattr(self, f"{end}_header_in")[vc]),
                               ends[end].header_in[vc])
                wiring.connect(m, wiring.flipped(getattr(self, f"{end}_payload_in")[vc]),
                               ends[end].payload_in[vc])
                wiring.connect(m, ends[end].delivered[vc],
                               wiring.flipped(getattr(self, f"{end}_delivered")[vc]))
            m.d.comb += [getattr(self, f"{end}_flit").eq(ends[end].flit_out),
                         getattr(self, f"{end}_counters").eq(ends[end].counters)]
        for source, sink in (("a", "b"), ("b", "a")):
            wire = f"{source}_to_{sink}"
            m.submodules[wire] = channel = ChannelDelay(latency)
            m.d.comb += [channel.flit_in.eq(ends[source].flit_out),
                         channel.flip.eq(getattr(self, f"{wire}_flip")),
                         channel.drop.eq(getattr(self, f"{wire}_drop"))]
            wiring.connect(m, channel.flit_out, ends[sink].flit_in)
        return m
