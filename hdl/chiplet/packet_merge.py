"""Several packet streams into one, a whole packet at a time."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import DELIVERED_FLIT


def index_bits(count: int) -> int:
    """Width of an index into ``count`` things: at least one bit, so one thing still has a
    port."""
    return max(1, (count - 1).bit_length())


class PacketMerge(wiring.Component):
    """Round-robin merge of ``count`` packet streams; a packet, once started, has the output
    until its ``last`` flit.

    The input after the one that sent the last packet has priority; an input is granted in the
    cycle its header is valid (combinationally), so a single busy input keeps the output
    at one flit per cycle.

    Members
    -------
    flit_in : In(stream.Signature(DELIVERED_FLIT)).array(count)
    flit_out : Out(stream.Signature(DELIVERED_FLIT))
    chosen : Out(index_bits(count))
        The input whose valid and payload are on ``flit_out`` in this cycle (and to which
        ``flit_out.ready`` goes): the owner while a packet is under way, else the grant. It
        names an input also while ``flit_out.valid`` is low; combinational, like the grant.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"PacketMerge count={count}: at least one input is needed.")
        self.count = count
        super().__init__({
            "flit_in": In(stream.Signature(DELIVERED_FLIT)).array(count),
            "flit_out": Out(stream.Signature(DELIVERED_FLIT)),
            "chosen": Out(index_bits(count)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        count = self.count
        locked = Signal()  # a packet is under way from ``owner``
        owner = Signal(range(count))
        first = Signal(range(count))  # the input with priority
        valid = Signal(count)
        m.d.comb += valid.eq(Cat(port.valid for port in self.flit_in))

        # First valid input at or after ``first``, cyclically.
        doubled = Signal(2 * count)
        rotated = Signal(count)
        offset = Signal(range(count))
        grant = Signal(range(count))
        m.d.comb += [doubled.eq(Cat(valid, valid)), rotated.eq(doubled >> first)]
        for index in reversed(range(count)):
            with m.If(rotated[index]):
                m.d.comb += offset.eq(index)
        wrapped = first + offset
        m.d.comb += grant.eq(Mux(wrapped >= count, wrapped - count, wrapped))

        chosen = Signal(range(count))
        with m.If(locked):
            m.d.comb += chosen.eq(owner)
        with m.Else():
            m.d.comb += chosen.eq(grant)
        m.d.comb += self.chosen.eq(chosen)
        with m.Switch(chosen):
            for index, port in enumerate(self.flit_in):
                with m.Case(index):
                    m.d.comb += [self.flit_out.payload.eq(port.payload),
                                 self.flit_out.valid.eq(port.valid),
                                 port.ready.eq(self.flit_out.ready)]
        taken = self.flit_out.valid & self.flit_out.ready
        with m.If(taken):
            with m.If(self.flit_out.payload.last):
                m.d.sync += [locked.eq(0),
                             first.eq(Mux(chosen == count - 1, 0, chosen + 1))]
            with m.Else():
                m.d.sync += [locked.eq(1), owner.eq(chosen)]
        return m
