"""Drivers and monitors for ``amaranth.lib.stream`` interfaces (valid, ready, payload).

A bus is found by prefix, as Amaranth names a stream member ``NAME`` in Verilog:
``NAME__valid``, ``NAME__ready`` and ``NAME__payload``. Handshakes are sampled at the rising
edge and driven just after it, so the drivers work the same on every simulator.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cocotb
from cocotb.triggers import Event, RisingEdge


def pauses(rng: random.Random, probability: float) -> Iterator[bool]:
    """A pause generator: each cycle, True (hold off) with the given probability."""
    if not 0.0 <= probability < 1.0:
        raise ValueError(f"pause probability {probability} must be in [0, 1)")
    while True:
        yield rng.random() < probability


def no_pauses() -> Iterator[bool]:
    return itertools.repeat(False)


@dataclass
class StreamBus:
    valid: Any
    ready: Any
    payload: Any

    @classmethod
    def from_prefix(cls, dut: Any, prefix: str) -> StreamBus:
        return cls(*(getattr(dut, f"{prefix}__{name}") for name in ("valid", "ready", "payload")))


class StreamSource:
    """Drives words onto a stream in order; ``send_nowait`` queues, the driver runs alone.

    Once valid is raised it stays up with the same payload until the word is taken; pauses
    only delay raising it.
    """

    def __init__(self, bus: StreamBus, clock: Any, pause: Iterator[bool] | None = None) -> None:
        self.bus = bus
        self.clock = clock
        self.pause = pause or no_pauses()
        self.queue: deque[int] = deque()
        self.sent = 0
        self._wake = Event()
        self._idle = Event()
        self._idle.set()
        bus.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send_nowait(self, word: int) -> None:
        self.queue.append(word)
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once every queued word has been taken."""
        await self._idle.wait()

    async def _run(self) -> None:
        holding = False
        while True:
            if not holding and not self.queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            await RisingEdge(self.clock)
            if holding and self.bus.ready.value:
                self.queue.popleft()
                self.sent += 1
                holding = False
            if not holding:
                if self.queue and not next(self.pause):
                    self.bus.payload.value = self.queue[0]
                    self.bus.valid.value = 1
                    holding = True
                else:
                    self.bus.valid.value = 0


class StreamSink:
    """Takes words from a stream, with ready following a pause generator.

    Each word is kept with its cycle stamp: the number of rising edges from the start of the
    sink to the edge at which the word was taken.
    """

    def __init__(self, bus: StreamBus, clock: Any, pause: Iterator[bool] | None = None) -> None:
        self.bus = bus
        self.clock = clock
        self.pause = pause or no_pauses()
        self.queue: deque[tuple[int, int]] = deque()
        self.received = 0
        self.cycle = 0
        self._arrived = Event()
        bus.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    async def recv(self) -> tuple[int, int]:
        """The next word and its cycle stamp."""
        while not self.queue:
            self._arrived.clear()
            await self._arrived.wait()
        return self.queue.popleft()

    async def _run(self) -> None:
        ready = False
        while True:
            await RisingEdge(self.clock)
            self.cycle += 1
            if ready and self.bus.valid.value:
                self.queue.append((self.bus.payload.value.to_unsigned(), self.cycle))
                self.received += 1
                self._arrived.set()
            ready = not next(self.pause)
            self.bus.ready.value = ready
