"""One output port of the switch: downstream credits and the flits leaving the crossbar."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import SwitchParams
from .signals import LENGTH_BITS, credit_bits, credit_return_layout, match_layout, start_layout


class OutputUnit(wiring.Component):
    """Credits of the next hop's input buffer per VC, and the framing of the flits that leave.

    ``credit`` is what the allocator may use this cycle: the registered count plus the credits
    returned in this cycle (``credit_return``, flits per VC). On a ``match`` the packet on
    ``start`` takes credits for all its flits, and the output is busy (``free`` low) until its
    last flit has crossed. A flit crosses in the cycle it is read from the input buffer and
    leaves the switch in the next: ``valid``, ``first`` and ``last`` frame it then, and
    ``select`` names the input it comes from (the crossbar's select for that cycle).
    """

    def __init__(self, params: SwitchParams) -> None:
        self.params = params
        super().__init__({
            "match": In(match_layout(params)),
            "start": In(start_layout(params)),
            "credit_return": In(credit_return_layout(params)),
            "credit": Out(data.ArrayLayout(credit_bits(params), params.virtual_channels)),
            "free": Out(1),
            "valid": Out(1),
            "first": Out(1),
            "last": Out(1),
            "select": Out(params.port_bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        vcs = params.virtual_channels
        credit = Signal(data.ArrayLayout(credit_bits(params), vcs),
                        init=[params.credits_per_vc] * vcs)
        for v in range(vcs):
            m.d.comb += self.credit[v].eq(credit[v] + self.credit_return[v])
            taken = Mux(self.match.valid & (self.start.vc == v), self.start.length, 0)
            m.d.sync += credit[v].eq(self.credit[v] - taken)

        to_cross = Signal(LENGTH_BITS)  # flits of the packet under way still to cross
        m.d.comb += self.free.eq(to_cross == 0)
        m.d.sync += [self.valid.eq(self.match.valid | (to_cross != 0)),
                     self.first.eq(self.match.valid)]
        with m.If(self.match.valid):
            m.d.sync += [to_cross.eq(self.start.length - 1), self.last.eq(self.start.length == 1),
                         self.select.eq(self.match.port)]
        with m.Else():
            m.d.sync += self.last.eq(to_cross == 1)
            with m.If(to_cross != 0):
                m.d.sync += to_cross.eq(to_cross - 1)
        return m
