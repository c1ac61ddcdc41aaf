"""The switch's crossbar: a multiplexer per output."""

from __future__ import annotations

from amaranth import Array, Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS
from ..params import SwitchParams
from .signals import match_layout, start_layout


class Crossbar(wiring.Component):
    """Per output ``j``: ``flit_out[j]`` is ``flit_in[select[j]]`` (the flits that cross), and
    ``start_out[j]`` is ``start_in`` of the input matched to ``j`` in this cycle (the packet
    that starts crossing, whose credits the output takes)."""

    def __init__(self, params: SwitchParams) -> None:
        self.params = params
        k = params.ports
        super().__init__({
            "flit_in": In(data.ArrayLayout(FLIT_BITS, k)),
            "start_in": In(data.ArrayLayout(start_layout(params), k)),
            "match": In(data.ArrayLayout(match_layout(params), k)),
            "select": In(data.ArrayLayout(self.params.port_bits, k)),
            "flit_out": Out(data.ArrayLayout(FLIT_BITS, k)),
            "start_out": Out(data.ArrayLayout(start_layout(params), k)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        k = self.params.ports
        flits = Array(self.flit_in[i] for i in range(k))
        starts = Array(self.start_in[i].as_value() for i in range(k))
        for j in range(k):
            m.d.comb += [self.flit_out[j].eq(flits[self.select[j]]),
                         self.start_out[j].eq(starts[self.match[j].port])]
        return m
