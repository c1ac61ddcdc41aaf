"""Untimed reference of link framing: packets to flits and flits back to packets.

The rules, which the RTL framer and deframer follow cycle for cycle:

* A packet is a header flit and ``link.length`` payload flits.
* The CRC of a header flit is computed over the payload flits sent since the previous header
  and then the header flit itself with its CRC field zero, as 128-bit words, with
  ``LinkParams.crc``. The first header after reset covers only itself.
* An IDLE header (a control flit) covers the payload before it when no packet follows soon.
* A receiver keeps a packet until the next header proves its payload; a header that fails its
  check drops the packet before it and itself, is counted as one CRC error, and its length
  field is still used to find the next header.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hdl.layouts import (
    FLIT_BITS,
    HEADER_BODY,
    HEADER_FLIT,
    FlitKind,
    field_reader,
    field_slice,
    pack,
    unpack,
)
from hdl.params import LinkParams

from .crc import TableCrc

_CRC_OFFSET, _CRC_BITS = field_slice(HEADER_FLIT, "crc")
_BODY_MASK = (1 << _CRC_OFFSET) - 1
_FLIT_MASK = (1 << FLIT_BITS) - 1
#: ``HEADER_BODY.size``, once: a layout computes its size anew at every call.
_HEADER_BITS = HEADER_BODY.size

_length = field_reader(HEADER_BODY, "link", "length")
_kind = field_reader(HEADER_BODY, "link", "kind")

#: The header of an IDLE control flit, as framers send it.
IDLE_HEADER = pack(HEADER_BODY, {"link": {"kind": FlitKind.IDLE}})


@dataclass(frozen=True)
class Packet:
    """A packet as a transmitter is given it and a receiver delivers it.

    Attributes
    ----------
    header : int
        The 103 bits of ``HEADER_BODY``; ``link.length`` equals ``len(payload)``.
    payload : tuple of int
        Payload flits (optional flits and data flits), 128 bits each.
    """

    header: int
    payload: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.header >> _HEADER_BITS:
            raise ValueError(f"header {self.header:#x} is wider than {_HEADER_BITS} bits")
        if _length(self.header) != len(self.payload):
            raise ValueError(f"header says {self.length} payload flits, "
                             f"{len(self.payload)} given")
        for flit in self.payload:
            if not 0 <= flit <= _FLIT_MASK:
                raise ValueError(f"payload flit {flit:#x} is not a {FLIT_BITS}-bit word")

    @property
    def fields(self) -> Any:
        """The header seen through ``HEADER_BODY`` (``.link.vc``, ``.message.transaction``)."""
        return unpack(HEADER_BODY, self.header)

    @property
    def length(self) -> int:
        return _length(self.header)

    @property
    def flits(self) -> int:
        return 1 + self.length

    @classmethod
    def build(cls, payload: Sequence[int] = (), *, link: dict | None = None,
              transaction: dict | None = None) -> Packet:
        """A PACKET with the given header fields; ``link.length`` is set from the payload."""
        link = {**(link or {}), "kind": FlitKind.PACKET, "length": len(payload)}
        header = pack(HEADER_BODY, {"link": link, "message": {"transaction": transaction or {}}})
        return cls(header, tuple(payload))


def header_crc(params: LinkParams, covered: Sequence[int], header: int, tag: int = 0) -> int:
    """CRC of a header flit over the payload flits it covers and its own body.

    The header enters the CRC with ``tag`` in place of its CRC field: the reliable link layer
    protects implicit sequence numbers this way without sending them (``layouts.CRC_TAG``).
    Framing alone uses 0.
    """
    return _table_crc(params).compute([*covered, (header & _BODY_MASK) | tag << _CRC_OFFSET])


@functools.cache
def _table_crc(params: LinkParams) -> TableCrc:
    return TableCrc(params.crc)


def crc_field(flit: int) -> int:
    return (flit >> _CRC_OFFSET) & ((1 << _CRC_BITS) - 1)


def with_crc(header: int, crc: int) -> int:
    return (header & _BODY_MASK) | crc << _CRC_OFFSET


def frame(params: LinkParams, items: Iterable[Packet | None]) -> list[int]:
    """The flits a framer sends for ``items``: a ``Packet``, or ``None`` for an IDLE header.

    An IDLE header is added at the end when payload would otherwise stay uncovered.
    """
    flits: list[int] = []
    covered: list[int] = []
    for item in items:
        header = IDLE_HEADER if item is None else item.header
        flits.append(with_crc(header, header_crc(params, covered, header)))
        covered = [] if item is None else list(item.payload)
        flits.extend(covered)
    if covered:
        flits.append(with_crc(IDLE_HEADER, header_crc(params, covered, IDLE_HEADER)))
    return flits


@dataclass
class Deframer:
    """Receive side: feed flits with :meth:`push`; good packets collect in ``delivered``."""

    params: LinkParams
    delivered: list[Packet] = field(default_factory=list)
    crc_errors: int = 0
    _covered: list[int] = field(default_factory=list)
    _remaining: int = 0
    _pending: int | None = None  # a good header whose payload is not yet proven
    _collecting: list[int] = field(default_factory=list)

    def push(self, flit: int) -> None:
        if self._remaining:
            self._remaining -= 1
            self._covered.append(flit)
            if self._pending is not None:
                self._collecting.append(flit)
            return
        self._remaining = _length(flit)
        good = crc_field(flit) == header_crc(self.params, self._covered, flit)
        self._covered = []
        if not good:
            self.crc_errors += 1
            self._pending = None
            return
        if self._pending is not None:
            self.delivered.append(Packet(self._pending, tuple(self._collecting)))
        self._pending = None
        self._collecting = []
        if _kind(flit) != FlitKind.PACKET.value:
            return
        if self._remaining == 0:
            self.delivered.append(Packet(flit & _BODY_MASK))
        else:
            self._pending = flit & _BODY_MASK


def deframe(params: LinkParams, flits: Iterable[int]) -> tuple[list[Packet], int]:
    """Good packets in ``flits`` and the number of CRC errors, as a deframer reports them."""
    receiver = Deframer(params)
    for flit in flits:
        receiver.push(flit)
    return receiver.delivered, receiver.crc_errors
