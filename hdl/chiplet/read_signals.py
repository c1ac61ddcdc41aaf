"""What the parts of the chiplet's read path pass between them, and how read tags are told
from write tags.

The packet format lives in :mod:`hdl.layouts` and the AXI4 signature in
:mod:`hdl.chiplet.axi`; this module holds the shapes the read packetizer, the burst table
and the read responses exchange. Tags inside the chiplet are pool indices (``tag_bits`` wide,
shared with the write path); only the header's tag field carries :data:`READ_TAG_FLAG`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import TRANSACTION_HEADER, field_width
from .axi import LEN_BITS, SIZE_BITS, BurstType
from .windows import PAGE_BITS
from .write_signals import tag_bits

if TYPE_CHECKING:
    from ..params import ChipletParams

#: The top bit of the header's tag field: set in the tag of every read request (and so of its
#: completion), clear for writes. Reads and writes each have ``outstanding_tags`` tags, so
#: ``ChipletParams`` allows at most this many.
READ_TAG_FLAG = 1 << (field_width(TRANSACTION_HEADER, "tag") - 1)
#: Width of a packet's byte count (1 to 256 for a read).
BYTE_COUNT_BITS = field_width(TRANSACTION_HEADER, "byte_count")


def read_burst_layout(params: ChipletParams) -> data.StructLayout:
    """A read burst the packetizer has taken: what the read responses need to walk its beats
    (ARID, the low 12 address bits, ARLEN, ARSIZE, ARBURST) and whether it is in no window."""
    return data.StructLayout({
        "id": params.axi_id_bits, "address": PAGE_BITS, "length": LEN_BITS, "size": SIZE_BITS,
        "kind": BurstType, "decerr": 1})


def burst_entries(params: ChipletParams) -> int:
    """Entries of the read path's burst table: one per tag, enough to keep every tag busy
    with bursts of one piece each, and at least two, so that a burst may be taken on AR while
    the one before returns its beats. AR waits while the table is full."""
    return max(2, params.outstanding_tags)


def read_beat_layout(params: ChipletParams) -> data.StructLayout:
    """The next R beat of the burst the burst table chose: its ARID, address (low 12 bits)
    and ARSIZE, for its lanes; whether it is in no window (DECERR) or the burst's last beat;
    the tag of its piece, and whether it reads that piece's last byte (never for DECERR)."""
    return data.StructLayout({
        "id": params.axi_id_bits, "address": PAGE_BITS, "size": SIZE_BITS, "decerr": 1,
        "last": 1, "tag": tag_bits(params), "ends_piece": 1})


def piece_signature(params: ChipletParams) -> wiring.Signature:
    """What the read packetizer tells the read responses, as their source sees it: ``valid``
    for one cycle when a ``READ`` request's header leaves, with its pool ``tag`` and
    ``byte_count``. Headers leave in the order of their bytes in the bursts, bursts in AR
    order. There is no ready: the responses take every event (they have room for one per
    tag)."""
    return wiring.Signature({
        "valid": Out(1),
        "tag": Out(tag_bits(params)),
        "byte_count": Out(BYTE_COUNT_BITS),
    })


def beat_signature(params: ChipletParams) -> wiring.Signature:
    """The burst table's offer of the next R beat, as the table sees it: ``valid`` while some
    burst may return a beat, ``payload`` (:func:`read_beat_layout`) the beat of the burst
    chosen. Both are worked out anew every cycle from registers and ``arrived``: while
    ``take`` is low, another burst may be offered in the next cycle. ``take`` (only while
    ``valid``) moves the beat on at the clock edge: into the R register."""
    return wiring.Signature({
        "valid": Out(1),
        "payload": Out(read_beat_layout(params)),
        "take": In(1),
    })

