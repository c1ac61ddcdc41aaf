"""The packet format, defined once.

Every field of every flit is declared here as an ``amaranth.lib.data`` layout or an
``amaranth.lib.enum`` enum. The RTL slices signals through these layouts, and software packs and
unpacks integers through the same layouts (:func:`pack`, :func:`unpack`), so a width or an
offset exists in exactly one place. ``docs/protocol.md`` describes the format and separates the
public facts from the modelling choices; a unit test checks that document against this file.

A header flit, most significant bits first::

    | crc (25) | link header (20) | transaction header or control body (83) |

The CRC of a header covers the header's other 103 bits and the payload flits of the packet
sent before it (see :mod:`emulator.ref.framing`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from amaranth.hdl import Shape
from amaranth.lib import crc, data, enum

#: Bits in a flit; a link moves one flit per cycle in each direction.
FLIT_BITS = 128
#: Most data bytes in one packet, and the data flits that carry them.
MAX_DATA_BYTES = 256
MAX_DATA_FLITS = MAX_DATA_BYTES // (FLIT_BITS // 8)
#: Longest packet in flits (a header, an address extension flit and 16 data flits). A packet
#: with a byte-enable flit carries at most ``BYTE_ENABLE_BITS`` bytes, so it is shorter.
MAX_PACKET_FLITS = 18
#: Flits that may follow a header.
MAX_PAYLOAD_FLITS = MAX_PACKET_FLITS - 1


class FlitKind(enum.Enum, shape=2):
    """What a header flit is. Every kind except ``PACKET`` is a control flit with no payload."""

    PACKET = 0  #: a transaction header; ``length`` payload flits follow
    IDLE = 1  #: NOP: covers the previous payload with its CRC, carries ack and credits
    NAK = 2  #: the receiver saw a CRC error: replay from the sequence number in the body
    REPLAY = 3  #: the transmitter starts a replay; the body names the first sequence number


class Command(enum.Enum, shape=4):
    """Transaction commands (the ``command`` field of a transaction header)."""

    POSTED_WRITE = 0  #: write, no completion
    WRITE = 1  #: non-posted write: a WRITE_RESPONSE comes back
    READ = 2  #: read request: a READ_RESPONSE with data comes back
    ATOMIC_FETCH_ADD = 3  #: fetch-and-add: a READ_RESPONSE with the old value comes back
    READ_RESPONSE = 4  #: completion with data
    WRITE_RESPONSE = 5  #: completion without data
    ERROR_RESPONSE = 6  #: completion of a request that could not be carried out
    MULTICAST_WRITE = 7  #: reserved for in-switch multicast
    REDUCE_WRITE = 8  #: reserved for in-switch reduction


#: Requests that expect a completion; a switch that drops one sends an ``ERROR_RESPONSE``.
NON_POSTED = frozenset({Command.WRITE, Command.READ, Command.ATOMIC_FETCH_ADD})
#: Virtual channels (docs/protocol.md): requests on one, completions on the other.
REQUEST_VC = 0
COMPLETION_VC = 1

#: The link header: read and written by the link layer on every hop.
LINK_HEADER = data.StructLayout({
    "kind": FlitKind,
    "length": 5,  # payload flits after this header, 0..MAX_PAYLOAD_FLITS
    "vc": 2,  # virtual channel of this packet
    "ack": 7,  # cumulative acknowledgement: sequence number of the last good packet received
    "credit_vc": 2,  # virtual channel whose credits are returned in ``credit``
    "credit": 2,  # credit units returned to ``credit_vc``
})

#: Bits of a request's tag (``tag`` below).
TAG_BITS = 8

#: The transaction header of a PACKET flit: end to end, untouched by switches.
TRANSACTION_HEADER = data.StructLayout({
    "command": Command,
    "destination": 10,
    "source": 10,
    "tag": TAG_BITS,
    "address": 40,  # byte address; an address extension flit carries the bits above
    "byte_count": 9,  # data bytes carried (writes) or asked for (reads), 0..256
    "has_address_extension": 1,
    "has_byte_enable": 1,
})

#: The same 83 bits in a control flit (IDLE, NAK, REPLAY).
CONTROL_BODY = data.StructLayout({
    "seq": 7,  # NAK: next sequence number expected; REPLAY: first sequence number replayed
    "credits": data.ArrayLayout(16, 4),  # running credit count returned, per virtual channel
    "reserved": 12,
})

MESSAGE = data.UnionLayout({"transaction": TRANSACTION_HEADER, "control": CONTROL_BODY})

#: A header flit without its CRC: what a transmitter is given and a receiver delivers.
HEADER_BODY = data.StructLayout({"message": MESSAGE, "link": LINK_HEADER})

#: CRC width of a header flit.
CRC_BITS = 25

HEADER_FLIT = data.StructLayout({"body": HEADER_BODY, "crc": CRC_BITS})

#: What the reliable link layer puts in the CRC field's place when it computes a header's CRC
#: (nothing of it is sent): the packet's own sequence number (PACKET headers) and that of the
#: last PACKET sent before this header, whose payload this header covers. A header that follows
#: lost flits can then prove neither a packet nor payload that is not the one expected. A
#: REPLAY header uses zero, so a receiver that lost its place can check it.
CRC_TAG = data.StructLayout({"seq": 7, "covered_seq": 7, "reserved": CRC_BITS - 14})

#: Optional flit after the header: address bits above the header's 40, and, in a request that
#: repeats one sent earlier on a plane that failed (end-to-end retry, docs/chiplet.md), what
#: names the earlier one at its destination: the plane it was sent on and the tag it had there.
#: A repeated request always carries this flit, with ``address_high`` zero if need be.
ADDRESS_EXTENSION_FLIT = data.StructLayout({
    "address_high": 24,
    "retry": 1,  # this request repeats an earlier one
    "retry_plane": 8,  # the plane (link index) the earlier one was sent on
    "retry_tag": TAG_BITS,  # the tag it carried there
    "reserved": 87,
})

#: Optional flit after the header (and the extension flit): one enable bit per data byte.
BYTE_ENABLE_BITS = FLIT_BITS
BYTE_ENABLE_FLIT = data.StructLayout({"byte_enable": BYTE_ENABLE_BITS})

#: The link CRC: x^25 + x^24 + x^8 + x^7 + x^3 + 1 = (x + 1)(x^24 + x^7 + x^2 + x + 1), with a
#: primitive degree-24 factor. The factor (x + 1) catches every odd number of bit errors; the
#: primitive factor catches every pair of bit errors up to 2^24 - 1 bits apart, far longer
#: than the 2,279 bits one CRC covers. A modelling choice: the real polynomial is not public.
LINK_CRC = crc.Algorithm(crc_width=CRC_BITS, polynomial=0x1000189, initial_crc=(1 << CRC_BITS) - 1,
                         reflect_input=False, reflect_output=False, xor_output=0)


def _check_sizes() -> None:
    assert HEADER_FLIT.size == FLIT_BITS, HEADER_FLIT.size
    assert TRANSACTION_HEADER.size == CONTROL_BODY.size == 83
    assert LINK_HEADER.size == 20
    assert CRC_TAG.size == CRC_BITS
    assert field_width(CRC_TAG, "seq") == field_width(LINK_HEADER, "ack")
    assert ADDRESS_EXTENSION_FLIT.size == BYTE_ENABLE_FLIT.size == FLIT_BITS
    assert 1 << field_width(LINK_HEADER, "length") > MAX_PAYLOAD_FLITS
    assert 1 << field_width(TRANSACTION_HEADER, "byte_count") > MAX_DATA_BYTES


def pack(layout: data.Layout, fields: Mapping[str, Any]) -> int:
    """The integer whose bits hold ``fields`` (nested mappings for nested layouts).

    Fields not named are zero; a value that does not fit its field raises ``ValueError``.
    Equal to ``layout.const(fields).as_bits()``, which it replaces for speed: models build
    packets with it in their inner loops.
    """
    return _pack(layout, fields, ())


#: Per layout (by identity; layouts are module constants): each member's offset, its shape
#: when it is a layout or an enum (else None), and its width.
_MEMBERS: dict[int, tuple[data.Layout, dict[str, tuple[int, Any, int]]]] = {}


def _members(layout: data.Layout) -> dict[str, tuple[int, Any, int]]:
    cached = _MEMBERS.get(id(layout))
    if cached is None or cached[0] is not layout:
        table = {}
        for name, member in layout:
            shape = member.shape
            nested = shape if isinstance(shape, data.Layout) or (
                isinstance(shape, type) and issubclass(shape, enum.Enum)) else None
            table[name] = (member.offset, nested, Shape.cast(shape).width)
        cached = _MEMBERS[id(layout)] = (layout, table)
    return cached[1]


def _pack(layout: data.Layout, fields: Mapping[str, Any], path: tuple[str, ...]) -> int:
    members = _members(layout)
    bits = 0
    for name, value in fields.items():
        if name not in members:
            raise KeyError(f"{'.'.join((*path, name))}: no such field")
        offset, nested, width = members[name]
        if isinstance(nested, data.Layout):
            if isinstance(value, list | tuple):  # an array's elements, in order
                value = dict(enumerate(value))
            if isinstance(value, Mapping):
                value = _pack(nested, value, (*path, name))
        elif nested is not None:
            value = nested(value).value  # raises ValueError for a value that is not a member
        if not isinstance(value, int) or not 0 <= value < 1 << width:
            raise ValueError(f"{'.'.join((*path, name))} = {value} does not fit its {width} bits")
        bits |= value << offset
    return bits


def unpack(layout: data.Layout, bits: int) -> data.Const:
    """A read-only view of ``bits`` through ``layout``: ``unpack(L, w).field`` is an int or enum."""
    return layout.from_bits(bits)


def field_slice(layout: data.StructLayout, *path: str | int) -> tuple[int, int]:
    """``(offset, width)`` of a nested field, e.g. ``field_slice(HEADER_FLIT, "crc")``."""
    offset = 0
    shape: Any = layout
    for name in path:
        member = shape[name]
        offset += member.offset
        shape = member.shape
    return offset, Shape.cast(shape).width


def field_width(layout: data.StructLayout, *path: str | int) -> int:
    """Width in bits of a nested field."""
    return field_slice(layout, *path)[1]


def field_reader(layout: data.StructLayout, *path: str | int) -> Callable[[int], int]:
    """A fast function from an integer to one field's value, for models' inner loops.

    ``unpack`` builds a view per call, which costs microseconds; this costs a shift.
    """
    offset, width = field_slice(layout, *path)
    mask = (1 << width) - 1
    return lambda bits: (bits >> offset) & mask


def field_writer(layout: data.StructLayout, *path: str | int) -> Callable[[int, int], int]:
    """A fast function ``(bits, value) -> bits`` that replaces one field."""
    offset, width = field_slice(layout, *path)
    clear = ~(((1 << width) - 1) << offset)
    limit = 1 << width

    def write(bits: int, value: int) -> int:
        if not 0 <= value < limit:
            raise ValueError(f"{'.'.join(map(str, path))} = {value} does not fit its {width} bits")
        return (bits & clear) | value << offset

    return write


_check_sizes()
