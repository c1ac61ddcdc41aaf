"""Striping of packets over the links, one link per switch plane."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import HEADER_BODY, MAX_DATA_BYTES
from ..link.link_signals import DELIVERED_FLIT

#: A packet's home plane hashes its destination and this many bits of its 256-byte block.
BLOCK_HASH_BITS = 8
#: Low address bits inside one 256-byte block.
BLOCK_OFFSET_BITS = MAX_DATA_BYTES.bit_length() - 1
#: Width of the counters.
COUNTER_BITS = 32


def home_plane(destination: int, address: int, links: int) -> int:
    """The plane a packet to ``destination`` about ``address`` (the header's address field)
    takes while that plane is up: consecutive 256-byte blocks of one destination go round
    the planes, and packets about one block always take the same plane, in order."""
    block = (address >> BLOCK_OFFSET_BITS) & ((1 << BLOCK_HASH_BITS) - 1)
    return (destination + block) % links


def chosen_plane(home: int, planes_up: int, links: int) -> int | None:
    """The first plane up at or after ``home``, cyclically; None when every plane is down."""
    for step in range(links):
        plane = (home + step) % links
        if planes_up >> plane & 1:
            return plane
    return None


class Striper(wiring.Component):
    """Sends each packet whole to one link, chosen from its header.

    **Rule** (docs/chiplet.md). A packet goes to its home plane, :func:`home_plane`, when that
    plane is up, else to the next plane up after it (:func:`chosen_plane`). Packets about the
    same 256-byte block of the same destination therefore share one link, and each link, each
    switch plane and the far chiplet keep them in order; packets about different blocks may
    overtake each other, which the chiplets' tags and ordering tables allow for.

    **A plane going down** (its bit in ``planes_up`` falls). New packets whose home is that
    plane move to the next plane up, but only once the plane is drained (``drained``: its
    queue is empty and its link has every packet acknowledged), so a moved packet never
    overtakes an older one about the same block. Until then they wait; packets with another
    home go on. A plane coming back up is taken as home again at once: raise bits only while
    no packet is under way. With every plane down nothing is sent.

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

    def __init__(self, links: int) -> None:
        if links < 1:
            raise ValueError(f"Striper links={links}: at least one link is needed.")
        self.links = links
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
        links = self.links
        header = data.View(HEADER_BODY, self.flit_in.payload.flit[:HEADER_BODY.size])
        transaction = header.message.transaction

        home = Signal(range(links))
        block = transaction.address[BLOCK_OFFSET_BITS:BLOCK_OFFSET_BITS + BLOCK_HASH_BITS]
        m.d.comb += home.eq((transaction.destination + block) % links)

        # The first plane up at or after ``home``.
        doubled = Signal(2 * links)
        rotated = Signal(links)
        step = Signal(range(links))
        choice = Signal(range(links))
        m.d.comb += [doubled.eq(Cat(self.planes_up, self.planes_up)),
                     rotated.eq(doubled >> home)]
        for index in reversed(range(links)):
            with m.If(rotated[index]):
                m.d.comb += step.eq(index)
        wrapped = home + step
        m.d.comb += choice.eq(Mux(wrapped >= links, wrapped - links, wrapped))

        home_up = Signal()
        home_drained = Signal()
        allowed = Signal()
        m.d.comb += [
            home_up.eq(self.planes_up.bit_select(home, 1)),
            home_drained.eq(self.drained.bit_select(home, 1)),
            allowed.eq((self.planes_up != 0) & (home_up | home_drained)),
        ]

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
