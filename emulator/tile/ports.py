"""Where DMA goes when its address is outside the NeuronCore's own HBM.

A :class:`DmaPort` receives reads and writes of raw bytes at global addresses, with the time
the DMA engine issues them, and answers with the time they complete. The system emulator plugs
in a port that turns each access into AXI transactions on the chiplet and packets across the
fabric; until then :class:`MemoryPort` stands in for a remote memory with a fixed latency and
bandwidth, and :class:`UnmappedPort` refuses every access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .errors import KernelError


class DmaPort(Protocol):
    """The interface a DMA engine uses for addresses outside its own HBM."""

    def read(self, address: int, size: int, time: float) -> tuple[bytes, float]:
        """Read ``size`` bytes at ``address``, issued at ``time`` seconds; returns the data
        and the completion time."""

    def write(self, address: int, data: bytes, time: float) -> float:
        """Write ``data`` at ``address``, issued at ``time`` seconds; returns the completion
        time."""


class UnmappedPort:
    """No fabric attached: every remote access is an error."""

    def read(self, address: int, size: int, time: float) -> tuple[bytes, float]:
        raise KernelError("remote-dma", f"DMA read of {size} bytes at 0x{address:x} is outside "
                          "this core's HBM and no DMA port is attached.")

    def write(self, address: int, data: bytes, time: float) -> float:
        raise KernelError("remote-dma", f"DMA write of {len(data)} bytes at 0x{address:x} is "
                          "outside this core's HBM and no DMA port is attached.")


@dataclass
class Transaction:
    """One access a port saw: ``kind`` is ``"read"`` or ``"write"``."""

    kind: str
    address: int
    size: int
    issued: float
    completed: float


@dataclass
class MemoryPort:
    """A remote memory behind a link of fixed latency and bandwidth (a stand-in for the
    fabric), recording every transaction.

    Parameters
    ----------
    latency : float
        Seconds from issue to completion of an empty access.
    bandwidth : float
        Bytes per second of the link; accesses are serialised on it.
    """

    latency: float = 1e-6
    bandwidth: float = 100e9
    memory: dict[int, int] = field(default_factory=dict)
    transactions: list[Transaction] = field(default_factory=list)
    _link_free: float = 0.0

    def _occupy(self, time: float, size: int) -> float:
        start = max(time, self._link_free)
        self._link_free = start + size / self.bandwidth
        return self._link_free + self.latency

    def read(self, address: int, size: int, time: float) -> tuple[bytes, float]:
        data = bytes(self.memory.get(address + offset, 0) for offset in range(size))
        completed = self._occupy(time, size)
        self.transactions.append(Transaction("read", address, size, time, completed))
        return data, completed

    def write(self, address: int, data: bytes, time: float) -> float:
        for offset, value in enumerate(data):
            self.memory[address + offset] = value
        completed = self._occupy(time, len(data))
        self.transactions.append(Transaction("write", address, len(data), time, completed))
        return completed
