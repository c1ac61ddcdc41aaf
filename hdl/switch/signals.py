"""Shapes the switch chip's components pass between them, and the packet fields they read.

The packet format itself lives in :mod:`hdl.layouts`; the CSR address map in
:mod:`hdl.switch.csr`.
"""

from __future__ import annotations

from amaranth import Value
from amaranth.lib import data, enum

from ..layouts import HEADER_FLIT, LINK_HEADER, TRANSACTION_HEADER, field_slice, field_width
from ..params import SwitchParams


class Drop(enum.Enum, shape=2):
    """Why the ingress drops a packet; ``NONE`` for a packet that goes on.

    ``value - 1`` is the column of the drop in the cycle model's ``SwitchResult.drops``.
    """

    NONE = 0
    NO_ROUTE = 1  #: the destination is not in the routing table
    PARTITION = 2  #: the table's output port is in another partition than the input port
    SPOOFED = 3  #: the source ID is not the one assigned to the input port


#: Drop reasons that are counted, in counter order.
DROP_REASONS = (Drop.NO_ROUTE, Drop.PARTITION, Drop.SPOOFED)
#: Width of each drop counter; it wraps.
COUNTER_BITS = 32
#: Width of the partition number of a port.
PARTITION_BITS = 8
#: Width of an endpoint ID, and how many there are: the routing table has one entry per ID.
ID_BITS = field_width(TRANSACTION_HEADER, "destination")
ENDPOINT_IDS = 1 << ID_BITS
#: Width of a packet length in flits (header included, 1 to ``MAX_PACKET_FLITS``).
LENGTH_BITS = field_width(LINK_HEADER, "length") + 1


def credit_bits(params: SwitchParams) -> int:
    """Width of a credit counter: 0 to ``credits_per_vc`` flits."""
    return params.credits_per_vc.bit_length()


def match_layout(params: SwitchParams) -> data.StructLayout:
    """One side of a match: whether the port is matched, and the port at the other side."""
    return data.StructLayout({"valid": 1, "port": params.port_bits})


def start_layout(params: SwitchParams) -> data.StructLayout:
    """The packet an input starts sending this cycle: its VC and length in flits."""
    return data.StructLayout({"vc": params.vc_bits, "length": LENGTH_BITS})


def credit_return_layout(params: SwitchParams) -> data.ArrayLayout:
    """Credits returned to an output by the next hop in one cycle: flits, per VC."""
    return data.ArrayLayout(credit_bits(params), params.virtual_channels)


def header_field(flit: Value, *path: str) -> Value:
    """A field of a header flit, by its path in ``HEADER_FLIT``."""
    offset, width = field_slice(HEADER_FLIT, *path)
    return flit[offset:offset + width]


def packet_vc(flit: Value) -> Value:
    return header_field(flit, "body", "link", "vc")


def packet_flits(flit: Value) -> Value:
    """The packet's length in flits, header included."""
    return header_field(flit, "body", "link", "length") + 1
