"""Cycle model of ``hdl.chiplet.packet_merge.PacketMerge``: several packet streams into one, a
whole packet at a time, round robin.

Same interface as the chiplet's other cycle models (:mod:`emulator.cycle.chiplet_write`):
ports by their dotted RTL path (``"flit_in.0.valid"``, ``"flit_out.payload"``, the payload a
``DELIVERED_FLIT`` as one integer, ``"chosen"``); :meth:`PacketMergeModel.comb` gives every
output from every input without changing state; :meth:`PacketMergeModel.tick` commits the
clock edge.
The model starts as the RTL leaves reset.
"""

from __future__ import annotations

from collections.abc import Mapping

from hdl.chiplet.packet_merge import index_bits
from hdl.layouts import field_slice
from hdl.link.link_signals import DELIVERED_FLIT

_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")


class PacketMergeModel:
    """``PacketMerge(count)``, cycle for cycle.

    The registers: ``locked`` (a packet is under way), ``owner`` (its input) and ``first``
    (the input with priority, the one after the input that sent the last packet). Unlocked,
    the output goes to the first input at or after ``first`` whose valid is high, or to
    ``first`` when none is; locked, to ``owner``. The chosen input's valid and payload are
    the output's, and the output's ready is the chosen input's; the others are not ready.
    The ``chosen`` output is that input's index, whatever the valids.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``PacketMerge(count)`` by its dotted path, with its width in bits.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"PacketMergeModel count={count}: at least one input is needed.")
        self.count = count
        self.valid_names = [f"flit_in.{index}.valid" for index in range(count)]
        self.payload_names = [f"flit_in.{index}.payload" for index in range(count)]
        self.ready_names = [f"flit_in.{index}.ready" for index in range(count)]
        self.input_widths = {"flit_out.ready": 1}
        self.output_widths = {"flit_out.valid": 1, "flit_out.payload": DELIVERED_FLIT.size}
        for index in range(count):
            self.input_widths[self.valid_names[index]] = 1
            self.input_widths[self.payload_names[index]] = DELIVERED_FLIT.size
            self.output_widths[self.ready_names[index]] = 1
        self.output_widths["chosen"] = index_bits(count)
        self.locked = 0
        self.owner = 0
        self.first = 0

    def chosen(self, valids: list[int]) -> int:
        """The input that has the output this cycle, given each input's valid."""
        if self.locked:
            return self.owner
        count = self.count
        for offset in range(count):
            index = self.first + offset
            if index >= count:
                index -= count
            if valids[index]:
                return index
        return self.first

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        chosen = self.chosen([inputs[name] for name in self.valid_names])
        outputs = dict.fromkeys(self.ready_names, 0)
        outputs[self.ready_names[chosen]] = inputs["flit_out.ready"]
        outputs["flit_out.valid"] = inputs[self.valid_names[chosen]]
        outputs["flit_out.payload"] = inputs[self.payload_names[chosen]]
        outputs["chosen"] = chosen
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        chosen = self.chosen([inputs[name] for name in self.valid_names])
        self.step(chosen, inputs[self.valid_names[chosen]] and inputs["flit_out.ready"],
                  inputs[self.payload_names[chosen]] >> _LAST_OFFSET & 1)

    def step(self, chosen: int, taken: int, last: int) -> None:
        """The edge, given the input chosen this cycle, whether its flit was taken and that
        flit's ``last``: for a composition that already knows them."""
        if taken:
            if last:
                self.locked = 0
                self.first = 0 if chosen == self.count - 1 else chosen + 1
            else:
                self.locked = 1
                self.owner = chosen
