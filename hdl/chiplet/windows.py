"""Address windows: a global address to a destination endpoint and a remote address."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..layouts import TRANSACTION_HEADER, field_width

if TYPE_CHECKING:
    from .address_map import AddressMap

#: Windows start, end and translate on whole pages of this many address bits (4 KiB, the AXI4
#: boundary no burst crosses): the low bits of an address pass through unchanged.
PAGE_BITS = 12
#: Width of an endpoint ID.
ENDPOINT_BITS = field_width(TRANSACTION_HEADER, "destination")


class AddressWindows(wiring.Component):
    """Looks an address up in a fixed table of windows, combinationally.

    The table is an ``AddressMap`` (:mod:`hdl.chiplet.address_map`), already checked there
    (4 KiB multiples, disjoint, inside the address spaces): window ``[base, base + size)``
    maps an address to endpoint ``destination`` at ``remote_offset + (address - base)``. Only
    page numbers (the bits above the 12 low ones) are compared and translated.

    Members
    -------
    address : In(axi_address_bits)
        The global address to look up.
    hit : Out(1)
        The address is in a window; when low, ``destination`` and ``remote_address`` are 0.
    destination : Out(ENDPOINT_BITS)
        The window's endpoint.
    remote_address : Out(axi_address_bits)
        The address at the destination. All outputs are combinational from ``address``.
    """

    def __init__(self, address_map: AddressMap) -> None:
        self.address_map = address_map
        self.params = address_map.params
        bits = self.params.axi_address_bits
        if bits <= PAGE_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {bits} leaves no page number above "
                             f"the {PAGE_BITS} bits of a 4 KiB window page; use more")
        super().__init__({
            "address": In(bits),
            "hit": Out(1),
            "destination": Out(ENDPOINT_BITS),
            "remote_address": Out(bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        bits = self.params.axi_address_bits
        page_bits = bits - PAGE_BITS
        page = Signal(page_bits)
        m.d.comb += page.eq(self.address[PAGE_BITS:])
        hits = []
        remote_page = Const(0, page_bits)
        destination = Const(0, ENDPOINT_BITS)
        for number, window in enumerate(self.address_map.windows):
            first = window.base >> PAGE_BITS
            end = window.end >> PAGE_BITS
            hit = Signal(name=f"hit_{number}")
            # Bounds at the ends of the address space are always met: leave them out.
            above = page >= first if first else Const(1)
            below = page < end if end < 1 << page_bits else Const(1)
            m.d.comb += hit.eq(above & below)
            hits.append(hit)
            # Windows are disjoint: at most one hit, so the translations can be ORed.
            shift = ((window.remote_offset - window.base) >> PAGE_BITS) % (1 << page_bits)
            remote_page = remote_page | ((page + shift)[:page_bits] & hit.replicate(page_bits))
            destination = destination | (Const(window.destination, ENDPOINT_BITS)
                                         & hit.replicate(ENDPOINT_BITS))
        any_hit = Cat(*hits).any() if hits else Const(0)
        m.d.comb += [
            self.hit.eq(any_hit),
            self.destination.eq(destination),
            self.remote_address.eq(Cat(self.address[:PAGE_BITS] & any_hit.replicate(PAGE_BITS),
                                       remote_page)),
        ]
        return m
