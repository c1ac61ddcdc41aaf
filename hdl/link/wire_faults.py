"""Random damage for a link's wire in tests, drawn in hardware so no testbench code runs per
cycle."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS

#: Rates are fractions of ``1 << RATE_BITS``.
RATE_BITS = 16
#: The 32-bit Galois LFSR x^32 + x^22 + x^2 + x + 1 (maximal length).
_TAPS = 0x80200003


class WireFaults(wiring.Component):
    """Chooses, every cycle, whether a wire flips one bit of its flit or loses it.

    Each cycle draws a pseudo-random 32-bit word from an LFSR seeded with ``seed``: the flit
    is lost with probability ``drop_rate / 2**RATE_BITS`` or while ``dead``; otherwise one bit,
    at a position taken from the same word, is inverted with probability
    ``flip_rate / 2**RATE_BITS``. Connect ``flip`` and ``drop`` to a
    :class:`~hdl.link.channel_delay.ChannelDelay`.

    Members
    -------
    flip_rate, drop_rate : In(RATE_BITS)
    dead : In(1)
        The wire delivers nothing.
    flip : Out(FLIT_BITS)
    drop : Out(1)
    """

    def __init__(self, seed: int) -> None:
        if not 0 < seed < 1 << 32:
            raise ValueError(f"WireFaults seed={seed} must be a non-zero 32-bit value.")
        self.seed = seed
        super().__init__({
            "flip_rate": In(RATE_BITS),
            "drop_rate": In(RATE_BITS),
            "dead": In(1),
            "flip": Out(FLIT_BITS),
            "drop": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        state = Signal(32, init=self.seed)
        m.d.sync += state.eq(Mux(state[0], (state >> 1) ^ Const(_TAPS, 32), state >> 1))
        draw = state[:RATE_BITS]
        flip_draw = state[RATE_BITS:2 * RATE_BITS]
        position = state[RATE_BITS // 2:RATE_BITS // 2 + (FLIT_BITS - 1).bit_length()]
        lose = Signal()
        m.d.comb += [
            lose.eq(self.dead | (draw < self.drop_rate)),
            self.drop.eq(lose),
            self.flip.eq(Mux(~lose & (flip_draw < self.flip_rate),
                             Const(1, FLIT_BITS) << position, 0)),
        ]
        return m
