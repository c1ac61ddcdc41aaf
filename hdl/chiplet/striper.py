"""A lane's packets onto the links, one link per switch plane: its own plane while that is up."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import DELIVERED_FLIT
from .windows import PAGE_BITS

#: Width of the counters.
COUNTER_BITS = 32


def lane_for(address: int, lanes: int) -> int:
    """The lane (AXI4 port pair, and so home plane) the ASIC uses for a burst at global
    ``address``: its 4 KiB pages go round the lanes. A legal AXI4 burst never crosses a page,
    so a burst lies in one lane, and every access to one address uses one lane."""
    return (address >> PAGE_BITS) % lanes


def chosen_plane(home: int, planes_up: int, links: int) -> int | None:
    """The first plane up at or after ``home``, cyclically; None when every plane is down."""
    for step in range(links):
        plane = (home + step) % links
        if planes_up >> plane & 1:
            return plane
    return None


class Striper(wiring.Component):
    """Sends each packet of one lane whole to one link.

    **Rule** (docs/chiplet.md). Lane ``home``'s packets go to plane ``home`` while it is up,
    else to the next plane up after it (:func:`chosen_plane`). A lane's packets therefore
    share one link, and each link, each switch plane and the far chiplet keep them in order.

    **A plane going down** (its bit in ``planes_up`` falls). New packets move to the next
    plane up, but only once their plane is drained (``drained``: its queues are empty and its
    link has every packet acknowledged), so a moved packet never overtakes an older one of
    the lane. Until then they wait. A plane coming back up is taken as home again at once:
    raise bits only while no packet is under way. With every plane down nothing is sent.

    Parameters
    ----------
    links : int
        Links (switch planes) of the chiplet.
    home : int
        The lane's own plane.

    Members
    -------
    flit_in : In(stream.Signature(DELIVERED_FLIT))
        Packets, header first.
    flit_out : Out(stream.Signature(DELIVERED_FLIT)).array(links)
        The packets each link is to send.
    planes_up : In(links)
        Which planes may take new packets.
    drained : In(links)
        Per plane, nothing of it is still under way.
    sent, moved : Out(COUNTER_BITS)
        Packets sent, and packets sent to another plane than their home, since reset.
    """

    def __init__(self, links: int, home: int = 0) -> None:
        if links < 1:
            raise ValueError(f"Striper links={links}: at least one link is needed.")
        if not 0 <= home < links:
            raise ValueError(f"Striper home={home}: a plane of the {links} links is needed.")
        self.links = links
        self.home = home
        super().__init__({
            "flit_in": In(stream.Signature(DELIVERED_FLIT)),
            "flit_out": Out(stream.Signature(DELIVERED_FLIT)).array(links),
            "planes_up": In(links),
            "drained": In(links),
            "sent": Out(COUNTER_BITS),
            "moved": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        links, home = self.links, self.home

        # The first plane up at or after ``home``; ``home`` while none is up.
        rotated = Signal(links)
        choice = Signal(range(links), init=home)
        m.d.comb += rotated.eq(Cat(self.planes_up, self.planes_up)[home:home + links])
        for step in reversed(range(links)):
            with m.If(rotated[step]):
                m.d.comb += choice.eq((home + step) % links)

        allowed = Signal()
        m.d.comb += allowed.eq((self.planes_up != 0)
                               & (self.planes_up[home] | self.drained[home]))

        in_packet = Signal()
        current = Signal(range(links))
        target = Signal(range(links))
        go = Signal()
        m.d.comb += [target.eq(Mux(in_packet, current, choice)),
                     go.eq(in_packet | allowed)]
        with m.Switch(target):
            for index, port in enumerate(self.flit_out):
                with m.Case(index):
                    m.d.comb += [port.valid.eq(self.flit_in.valid & go),
                                 self.flit_in.ready.eq(port.ready & go)]
        for port in self.flit_out:
            m.d.comb += port.payload.eq(self.flit_in.payload)

        taken = self.flit_in.valid & self.flit_in.ready
        with m.If(taken):
            m.d.sync += in_packet.eq(~self.flit_in.payload.last)
            with m.If(~in_packet):
                m.d.sync += [current.eq(choice), self.sent.eq(self.sent + 1)]
                with m.If(choice != home):
                    m.d.sync += self.moved.eq(self.moved + 1)
        return m
