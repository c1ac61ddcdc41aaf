"""What the parts of the chiplet's write path pass between them.

The packet format lives in :mod:`hdl.layouts` and the AXI4 signature in
:mod:`hdl.chiplet.axi`; this module holds the shapes the write packetizer, the tag pool and the
write responses exchange.
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from ..params import ChipletParams


def tag_bits(params: ChipletParams) -> int:
    """Width of a tag inside the chiplet (the header's tag field may be wider)."""
    return max(1, (params.outstanding_tags - 1).bit_length())


def entry_bits(params: ChipletParams) -> int:
    """Width of an entry number in the write responses' burst table."""
    return max(1, (params.outstanding_tags - 1).bit_length())


def burst_layout(params: ChipletParams) -> data.StructLayout:
    """A write burst the packetizer has taken: its AWID, and whether it is in no window."""
    return data.StructLayout({"id": params.axi_id_bits, "decerr": 1})


def sent_signature(params: ChipletParams) -> wiring.Signature:
    """What the packetizer tells the write responses each cycle, as their source sees it.

    ``valid`` for one cycle when a request packet's header leaves with ``tag``, for the burst
    in table entry ``entry``; ``last`` when it is that burst's last packet. ``dropped`` for one
    cycle when the last W beat of the burst in entry ``dropped_entry``, a burst in no window,
    is taken (it sends nothing). Both may happen in one cycle, for different bursts. There is
    no ready: the responses take every event.
    """
    return wiring.Signature({
        "valid": Out(1),
        "last": Out(1),
        "tag": Out(tag_bits(params)),
        "entry": Out(entry_bits(params)),
        "dropped": Out(1),
        "dropped_entry": Out(entry_bits(params)),
    })
