"""Shapes and the CRC step shared by the reliable link layer's components.

The packet format lives in :mod:`hdl.layouts`; this module holds what the link layer's RTL
passes between its own parts: the flits a receiver hands to its user, the software-visible
counters, and the CRC of one word as combinational logic.
"""

from __future__ import annotations

import functools

from amaranth import Cat, Const, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from ..layouts import CONTROL_BODY, FLIT_BITS, HEADER_FLIT, LINK_HEADER, field_slice, field_width
from ..params import LinkParams

#: A flit handed to the user on a virtual channel: the header (a ``HEADER_BODY`` with the
#: link-owned fields zero, zero-extended) first, then the payload flits; ``last`` marks the
#: final flit of each packet.
DELIVERED_FLIT = data.StructLayout({"flit": FLIT_BITS, "last": 1})

#: What a wire delivers each cycle: a flit or nothing. There is no ready: a wire cannot wait.
WIRE = wiring.Signature({"valid": Out(1), "payload": Out(FLIT_BITS)})

#: Names of the software-visible counters, in the order of :data:`LINK_COUNTERS`.
COUNTER_NAMES = ("packets_sent", "packets_replayed", "replays", "timeouts", "naks_sent",
                 "crc_errors", "duplicates_dropped", "flits_discarded_resyncing",
                 "credit_stall_cycles", "packets_delivered")
#: Width of every counter; each wraps.
COUNTER_BITS = 32
#: The counters of one link end, as one port.
LINK_COUNTERS = data.StructLayout({name: COUNTER_BITS for name in COUNTER_NAMES})

#: Width of a running credit count in a control flit.
CREDIT_BITS = field_width(CONTROL_BODY, "credits", 0)
#: Width of a sequence number (and of the ack field).
SEQ_BITS = field_width(LINK_HEADER, "ack")
#: Where a header flit's CRC sits: a PACKET header's CRC is computed with its sequence
#: number in this place.
CRC_OFFSET, CRC_BITS = field_slice(HEADER_FLIT, "crc")


@functools.cache
def _step_masks(params: LinkParams) -> tuple[int, ...]:
    """For each bit of the next CRC register, the bits of ``Cat(state, word)`` it XORs."""
    algorithm = params.crc.algorithm
    width, polynomial = algorithm.crc_width, algorithm.polynomial

    def step(state: int, word: int) -> int:
        # Unreflected: the word enters most significant bit first.
        for bit in reversed(range(FLIT_BITS)):
            feedback = (state >> (width - 1) ^ word >> bit) & 1
            state = (state << 1) & ((1 << width) - 1)
            if feedback:
                state ^= polynomial
        return state

    columns = [step(1 << bit, 0) for bit in range(width)]
    columns += [step(0, 1 << bit) for bit in range(FLIT_BITS)]
    return tuple(sum(((column >> out) & 1) << index for index, column in enumerate(columns))
                 for out in range(width))


def crc_initial(params: LinkParams) -> Const:
    """The CRC register at the start of a header's coverage."""
    return Const(params.crc.algorithm.initial_crc, CRC_BITS)


def crc_step(params: LinkParams, state: Value, word: Value) -> Value:
    """The CRC register after ``word`` (a flit) enters it from ``state``: combinational.

    The link CRC has no output XOR, so after the last word this is the CRC itself;
    ``tests/unit/test_link_rtl.py`` checks it against ``LinkParams.crc.compute``.
    """
    both = Cat(state, word)
    return Cat(*((both & mask).xor() for mask in _step_masks(params)))
