"""Untimed reference of the reliable link layer: what each virtual channel must deliver.

The link layer promises that every packet offered on a virtual channel arrives once, in the
order offered, with its payload and transaction header unchanged. The link header's
acknowledgement and credit fields belong to the link layer: it overwrites them when sending
and delivers them as zero.
"""

from __future__ import annotations

from collections import deque

from hdl.layouts import HEADER_BODY, field_reader, field_slice

from .framing import Packet

_LINK_OWNED = 0
for _name in ("ack", "credit_vc", "credit"):
    _offset, _width = field_slice(HEADER_BODY, "link", _name)
    _LINK_OWNED |= ((1 << _width) - 1) << _offset


_vc = field_reader(HEADER_BODY, "link", "vc")


def delivered_form(packet: Packet) -> Packet:
    """``packet`` as the far end delivers it: link-owned header fields zero."""
    return Packet(packet.header & ~_LINK_OWNED, packet.payload)


class LinkReference:
    """Expected deliveries per virtual channel; check each delivery against it in order."""

    def __init__(self, virtual_channels: int) -> None:
        self.expected: list[deque[Packet]] = [deque() for _ in range(virtual_channels)]
        self.delivered = 0

    def offer(self, packet: Packet) -> None:
        self.expected[_vc(packet.header)].append(delivered_form(packet))

    def check(self, packet: Packet, vc: int) -> None:
        """Raise ``AssertionError`` unless ``packet`` is the next one expected on ``vc``."""
        queue = self.expected[vc]
        if not queue:
            raise AssertionError(f"VC {vc}: packet delivered that was never offered (or twice): "
                                 f"{packet}")
        want = queue.popleft()
        if packet != want:
            raise AssertionError(f"VC {vc}: delivery #{self.delivered} differs (lost, reordered "
                                 f"or corrupted)\n  expected {want}\n  observed {packet}")
        self.delivered += 1

    @property
    def outstanding(self) -> int:
        return sum(len(queue) for queue in self.expected)
