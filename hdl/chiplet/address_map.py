"""A chiplet's address map: the windows that send global addresses to other endpoints.

The map is configuration the chiplet is built from, like its parameters: the RTL's window
table (:class:`hdl.chiplet.windows.AddressWindows`), the reference (:mod:`emulator.ref.chiplet`)
and the testbenches all take it from here. Rules in docs/chiplet.md, "Address windows".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..params import ChipletParams
from .windows import ENDPOINT_BITS, PAGE_BITS

#: Windows start, end and translate on multiples of this: the AXI4 4 KiB boundary.
WINDOW_ALIGNMENT = 1 << PAGE_BITS


class WindowError(ValueError):
    """An address window, or a set of windows, that cannot be used."""


@dataclass(frozen=True)
class Window:
    """Global addresses ``[base, base + size)`` of this ASIC are ``destination``'s memory at
    ``remote_offset + (address - base)``."""

    base: int
    size: int
    destination: int
    remote_offset: int = 0

    @property
    def end(self) -> int:
        return self.base + self.size

    def __str__(self) -> str:
        return (f"window [{self.base:#x}, {self.end:#x}) -> endpoint {self.destination} "
                f"at {self.remote_offset:#x}")


@dataclass(frozen=True)
class Translation:
    destination: int
    remote_address: int


class AddressMap:
    """The windows of one chiplet, checked: aligned, inside the address spaces, disjoint."""

    def __init__(self, params: ChipletParams, windows: Iterable[Window]) -> None:
        self.params = params
        self.windows = sorted(windows, key=lambda window: window.base)
        limit = 1 << params.axi_address_bits
        for window in self.windows:
            for name in ("base", "size", "remote_offset"):
                value = getattr(window, name)
                if value < 0 or value % WINDOW_ALIGNMENT:
                    raise WindowError(f"{window}: {name} = {value:#x} is not a multiple of "
                                      f"{WINDOW_ALIGNMENT:#x}; windows are whole 4 KiB pages so "
                                      "that no AXI4 burst straddles two of them")
            if window.size == 0:
                raise WindowError(f"{window}: size is zero; leave the window out instead")
            if window.end > limit:
                raise WindowError(f"{window} ends beyond the {params.axi_address_bits}-bit AXI "
                                  "address space of the ASIC; shrink it or move it down")
            if window.remote_offset + window.size > limit:
                raise WindowError(f"{window} reaches beyond the {params.axi_address_bits}-bit "
                                  "AXI address space of the remote ASIC; lower remote_offset")
            if not 0 <= window.destination < 1 << ENDPOINT_BITS:
                raise WindowError(f"{window}: destination {window.destination} does not fit the "
                                  f"{ENDPOINT_BITS}-bit endpoint ID")
        for first, second in zip(self.windows, self.windows[1:], strict=False):
            if second.base < first.end:
                raise WindowError(f"{first} and {second} overlap at "
                                  f"[{second.base:#x}, {min(first.end, second.end):#x}); "
                                  "every global address may belong to one window only")

    def lookup(self, address: int) -> Translation | None:
        """Where ``address`` goes, or None (DECERR) when it is in no window."""
        for window in self.windows:
            if window.base <= address < window.end:
                return Translation(window.destination,
                                   window.remote_offset + address - window.base)
        return None


def default_address_map(params: ChipletParams, endpoints: int, endpoint: int) -> AddressMap:
    """The windows of ``endpoint`` when nothing else is said: the global address space cut into
    equal power-of-two windows, window ``d`` mapping endpoint ``d``'s memory from address 0;
    an endpoint's own window and those above the last endpoint stay unmapped (DECERR)."""
    if not 0 <= endpoint < endpoints:
        raise WindowError(f"endpoint {endpoint} is not one of the {endpoints} endpoints")
    span_bits = params.axi_address_bits - (endpoints - 1).bit_length()
    if (1 << span_bits) < WINDOW_ALIGNMENT:
        raise WindowError(f"{endpoints} endpoints do not fit {params.axi_address_bits}-bit "
                          "addresses with a 4 KiB window each; widen axi_address_bits")
    span = 1 << span_bits
    return AddressMap(params, [Window(other * span, span, other)
                               for other in range(endpoints) if other != endpoint])
