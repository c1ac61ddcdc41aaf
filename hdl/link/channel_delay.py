"""A link's wire for tests: a delay line whose output a testbench can damage."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS
from .link_signals import WIRE


class ChannelDelay(wiring.Component):
    """``latency`` register stages, as :class:`emulator.cycle.channel.Channel`'s delay line;
    the damage (bits flipped, flit dropped) is chosen outside and applied at the output.

    Members
    -------
    flit_in : In(FLIT_BITS)
        The flit sent this cycle; every cycle carries one.
    flit_out : Out(WIRE)
        The flit sent ``latency`` cycles earlier (none in the first ``latency`` cycles after
        reset), XORed with ``flip``; not valid while ``drop``.
    flip : In(FLIT_BITS)
        Bits to invert in this cycle's output flit.
    drop : In(1)
        Lose this cycle's output flit.
    """

    def __init__(self, latency: int) -> None:
        if latency < 1:
            raise ValueError(f"latency = {latency} must be at least 1 cycle")
        self.latency = latency
        super().__init__({
            "flit_in": In(FLIT_BITS),
            "flit_out": Out(WIRE),
            "flip": In(FLIT_BITS),
            "drop": In(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        valid = [Signal(name=f"valid_{stage}") for stage in range(self.latency)]
        flits = [Signal(FLIT_BITS, name=f"flit_{stage}") for stage in range(self.latency)]
        m.d.sync += [valid[0].eq(1), flits[0].eq(self.flit_in)]
        for stage in range(1, self.latency):
            m.d.sync += [valid[stage].eq(valid[stage - 1]), flits[stage].eq(flits[stage - 1])]
        m.d.comb += [self.flit_out.valid.eq(valid[-1] & ~self.drop),
                     self.flit_out.payload.eq(flits[-1] ^ self.flip)]
        return m
