"""Cycle models of the parts the chiplet's write and read paths share: the tag pool and the
address windows.

They are pieces for the path models (:mod:`emulator.cycle.chiplet_write`,
:mod:`emulator.cycle.chiplet_read`), not models with ports of their own: the path model reads
their outputs from their state and tells them at the clock edge what happened.
"""

from __future__ import annotations

from hdl.chiplet.windows import PAGE_BITS
from hdl.params import ChipletParams

from ..ref.chiplet import AddressMap


class TagPoolModel:
    """``hdl.chiplet.tag_pool.TagPool``: the free list memory, its pointers and its count.

    ``payload`` is the free list's entry at ``head`` (a stale tag while none is free, as the
    RTL's asynchronous read gives it); ``valid`` while a tag is free. :meth:`tick` commits
    the edge: a tag taken moves ``head`` on, a tag given back is written at ``tail``.
    """

    __slots__ = ("count", "free_list", "head", "tail", "free_count", "_count_mask")

    def __init__(self, params: ChipletParams) -> None:
        self.count = params.outstanding_tags
        self.free_list = list(range(self.count))
        self.head = 0
        self.tail = 0
        self.free_count = self.count
        # ``free_count`` is a register of ``range(count + 1)``.
        self._count_mask = (1 << self.count.bit_length()) - 1

    @property
    def valid(self) -> int:
        return int(self.free_count != 0)

    @property
    def payload(self) -> int:
        return self.free_list[self.head]

    def tick(self, take: bool, give: bool, given: int) -> None:
        """The edge: ``take`` when the allocate stream's handshake happened, ``give`` with
        tag ``given`` when the free stream was valid."""
        if give:
            self.free_list[self.tail] = given
            self.tail = self._next(self.tail)
        if take:
            self.head = self._next(self.head)
        self.free_count = (self.free_count + give - take) & self._count_mask

    def _next(self, pointer: int) -> int:
        return 0 if pointer == self.count - 1 else pointer + 1


class WindowsModel:
    """``hdl.chiplet.windows.AddressWindows``: an address's window, compared and translated
    on page numbers as the RTL does it."""

    def __init__(self, address_map: AddressMap) -> None:
        page_bits = address_map.params.axi_address_bits - PAGE_BITS
        self._page_mask = (1 << page_bits) - 1
        self.windows = [(window.base >> PAGE_BITS, window.end >> PAGE_BITS, window.destination,
                         ((window.remote_offset - window.base) >> PAGE_BITS) & self._page_mask)
                        for window in address_map.windows]

    def lookup(self, address: int) -> tuple[int, int, int]:
        """(hit, destination, remote page number) of ``address``; all zero in no window."""
        page = address >> PAGE_BITS
        for first, end, destination, shift in self.windows:
            if first <= page < end:
                return 1, destination, (page + shift) & self._page_mask
        return 0, 0, 0
