"""The reliable link at one port of a switch chip."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..chiplet.packet_merge import PacketMerge
from ..chiplet.packet_queue import PacketQueue
from ..layouts import FLIT_BITS, MAX_PACKET_FLITS
from ..link.link_end import LinkEnd
from ..link.link_signals import LINK_COUNTERS, WIRE
from ..params import LinkParams, SwitchParams
from ..switch.signals import credit_return_layout, packet_vc


class SwitchPortLink(wiring.Component):
    """A link end joined to one port of a :class:`~hdl.switch.switch.Switch`.

    Packets the link delivers (per VC, each whole once its CRC checked) are merged a packet at
    a time into the switch's input, whose ready says when a header may go in. Flits leaving
    the switch's output go into a :class:`~hdl.chiplet.packet_queue.PacketQueue` per VC of
    ``credits_per_vc`` flits in front of the link transmitter; each flit the transmitter takes
    returns a credit to the switch's output in the same cycle.

    Members
    -------
    flit_out : Out(FLIT_BITS)
        The flit the link sends this cycle.
    flit_in : In(WIRE)
        What the wire from the far end delivers.
    in_flit, in_valid : Out; in_ready : In
        To the switch's input port (``Switch.in_flit[n]`` and so on).
    out_flit, out_valid, out_first, out_last : In
        From the switch's output port.
    credit_return : Out(credit_return_layout)
        To the switch's output port: flits freed per VC this cycle.
    counters : Out(LINK_COUNTERS)
    """

    def __init__(self, link: LinkParams, switch: SwitchParams) -> None:
        if switch.virtual_channels != link.virtual_channels:
            raise ValueError("a switch port carries the link's virtual channels: "
                             f"{switch.virtual_channels} != {link.virtual_channels}")
        self.link = link
        self.switch = switch
        super().__init__({
            "flit_out": Out(FLIT_BITS),
            "flit_in": In(WIRE),
            "in_flit": Out(FLIT_BITS),
            "in_valid": Out(1),
            "in_ready": In(1),
            "out_flit": In(FLIT_BITS),
            "out_valid": In(1),
            "out_first": In(1),
            "out_last": In(1),
            "credit_return": Out(credit_return_layout(switch)),
            "counters": Out(LINK_COUNTERS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        vcs = self.link.virtual_channels
        m.submodules.end = end = LinkEnd(self.link)
        m.submodules.arriving = arriving = PacketMerge(vcs)
        depth = max(MAX_PACKET_FLITS, self.switch.credits_per_vc)
        # The switch sends a packet only with credits for all of it: any room takes a header.
        queues = [PacketQueue(depth, header_room=1) for _ in range(vcs)]
        wiring.connect(m, wiring.flipped(self.flit_in), end.flit_in)
        m.d.comb += [self.flit_out.eq(end.flit_out), self.counters.eq(end.counters)]
        for vc in range(vcs):
            wiring.connect(m, end.delivered[vc], arriving.flit_in[vc])
        m.d.comb += [
            self.in_flit.eq(arriving.flit_out.payload.flit),
            self.in_valid.eq(arriving.flit_out.valid),
            arriving.flit_out.ready.eq(self.in_ready),
        ]

        # The VC of the packet leaving the switch, from its header.
        vc_now = Signal(range(vcs))
        vc_held = Signal(range(vcs))
        m.d.comb += vc_now.eq(vc_held)
        with m.If(self.out_first):
            m.d.comb += vc_now.eq(packet_vc(self.out_flit))
            m.d.sync += vc_held.eq(packet_vc(self.out_flit))
        for vc, queue in enumerate(queues):
            m.submodules[f"queue_{vc}"] = queue
            m.d.comb += [
                queue.flit_in.valid.eq(self.out_valid & (vc_now == vc)),
                queue.flit_in.payload.flit.eq(self.out_flit),
                queue.flit_in.payload.last.eq(self.out_last),
                self.credit_return[vc].eq((queue.header.valid & queue.header.ready)
                                          | (queue.payload.valid & queue.payload.ready)),
            ]
            wiring.connect(m, queue.header, end.header_in[vc])
            wiring.connect(m, queue.payload, end.payload_in[vc])
        return m
