"""A test double of the network protocol: simple, exact timing and faithful (or damaged) data.

Every source endpoint has one serial port: a transfer starts at the latest of its
``earliest``, the end of the source's previous serialization and the cycle it was posted,
occupies the port for ``ceil(nbytes / bytes_per_cycle)`` cycles and is delivered ``latency``
cycles after that (plus an optional seeded delay of up to ``jitter`` cycles, which reorders
completions), and reported then.
Destinations take any number of transfers at once. Payloads are copied; ``corrupt`` names
handles whose payload arrives with one byte inverted.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Collection

from emulator.system.network import Completion, Network, Transfer
from hdl.params import SystemParams


class NetworkDouble(Network):
    def __init__(self, system: SystemParams, latency: int = 20, bytes_per_cycle: int = 16,
                 jitter: int = 0, seed: int = 0,
                 corrupt: Collection[int] = (), corrupt_byte: int = -1) -> None:
        super().__init__(system)
        self.latency = latency
        self.bytes_per_cycle = bytes_per_cycle
        self.jitter = jitter
        self.corrupt = set(corrupt)
        self.corrupt_byte = corrupt_byte
        self._rng = random.Random(seed)
        self._now = 0
        self._port_free = [0] * self.endpoints
        self._pending: list[tuple[int, int, Completion]] = []
        #: (source, destination, nbytes) of every transfer posted.
        self.posted: list[tuple[int, int, int]] = []

    @property
    def now(self) -> int:
        return self._now

    def _accept(self, handle: int, transfer: Transfer) -> None:
        self.posted.append((transfer.source, transfer.destination, transfer.nbytes))
        started = max(transfer.earliest, self._port_free[transfer.source], self._now)
        serialization = -(-transfer.nbytes // self.bytes_per_cycle)
        self._port_free[transfer.source] = started + serialization
        delay = self._rng.randint(0, self.jitter) if self.jitter else 0
        delivered = started + serialization + self.latency + delay
        payload = None if transfer.payload is None else transfer.payload.copy()
        if payload is not None and handle in self.corrupt:
            payload[self.corrupt_byte] ^= 0xFF
        completion = Completion(handle, transfer, started, delivered, payload)
        heapq.heappush(self._pending, (completion.delivered, handle, completion))

    def advance(self, until: int | None = None) -> list[Completion]:
        if not self._pending or (until is not None and self._pending[0][0] >= until):
            if until is not None:
                self._now = max(self._now, until)
            return []
        cycle = self._pending[0][0]
        done = []
        while self._pending and self._pending[0][0] == cycle:
            done.append(heapq.heappop(self._pending)[2])
        self._now = max(self._now, cycle + 1)
        return done

    def busy(self) -> bool:
        return bool(self._pending)

    def counters(self) -> dict[str, int]:
        return {"transfers": len(self.posted), "bytes": sum(item[2] for item in self.posted)}
