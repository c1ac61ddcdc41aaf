"""Cycle models of a link's test wire: ``hdl.link.channel_delay.ChannelDelay`` (a delay line
damaged at its output) and ``hdl.link.wire_faults.WireFaults`` (the damage, drawn from an
LFSR).

Same interface as the chiplet's cycle models (:mod:`emulator.cycle.chiplet_write`): ports by
their dotted RTL path (``"flit_out.valid"``), ``comb(inputs)`` gives every output from every
input without changing state, ``tick(inputs)`` commits the clock edge; each model starts as
its RTL leaves reset. Both are bit for bit the RTL's, the LFSR included, so a model of a
damaged link sees the same damage as the RTL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from hdl.layouts import FLIT_BITS
from hdl.link.wire_faults import _TAPS, RATE_BITS

_RATE_MASK = (1 << RATE_BITS) - 1
#: Where ``WireFaults`` takes the position of the bit to flip from its LFSR word.
_POSITION_OFFSET = RATE_BITS // 2
_POSITION_MASK = (1 << (FLIT_BITS - 1).bit_length()) - 1


class ChannelDelayModel:
    """``ChannelDelay(latency)``: ``latency`` register stages of (valid, flit), all zero after
    reset; the last stage, XORed with ``flip`` and not valid while ``drop``, is the output.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``ChannelDelay`` by its dotted path, with its width in bits.
    """

    def __init__(self, latency: int) -> None:
        if latency < 1:
            raise ValueError(f"latency = {latency} must be at least 1 cycle")
        self.latency = latency
        self.input_widths = {"flit_in": FLIT_BITS, "flip": FLIT_BITS, "drop": 1}
        self.output_widths = {"flit_out.valid": 1, "flit_out.payload": FLIT_BITS}
        #: (valid, flit) per stage, the output's stage first.
        self.stages: deque[tuple[int, int]] = deque([(0, 0)] * latency)

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        valid, flit = self.stages[0]
        return {"flit_out.valid": valid & (1 - inputs["drop"]),
                "flit_out.payload": flit ^ inputs["flip"]}

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        self.stages.popleft()
        self.stages.append((1, inputs["flit_in"]))


class WireFaultsModel:
    """``WireFaults(seed)``: the 32-bit Galois LFSR and the draws taken from its word.

    Each cycle the word's low ``RATE_BITS`` are the drop draw, the next ``RATE_BITS`` the flip
    draw, and 7 bits from bit ``RATE_BITS // 2`` the position of the bit flipped; the LFSR
    steps at every edge.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``WireFaults`` by its dotted path, with its width in bits.
    """

    def __init__(self, seed: int) -> None:
        if not 0 < seed < 1 << 32:
            raise ValueError(f"WireFaultsModel seed={seed} must be a non-zero 32-bit value.")
        self.seed = seed
        self.input_widths = {"flip_rate": RATE_BITS, "drop_rate": RATE_BITS, "dead": 1}
        self.output_widths = {"flip": FLIT_BITS, "drop": 1}
        self.state = seed

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        state = self.state
        lose = inputs["dead"] or (state & _RATE_MASK) < inputs["drop_rate"]
        flip = 0
        if not lose and (state >> RATE_BITS & _RATE_MASK) < inputs["flip_rate"]:
            flip = 1 << (state >> _POSITION_OFFSET & _POSITION_MASK)
        return {"flip": flip, "drop": int(bool(lose))}

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge (the LFSR steps whatever the inputs)."""
        state = self.state
        self.state = (state >> 1) ^ _TAPS if state & 1 else state >> 1
