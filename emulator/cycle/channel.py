"""One direction of a link's wire: a delay line with error injection, for tests and benches.

Each cycle one flit (or nothing) enters and the flit that entered ``latency`` cycles earlier
leaves, possibly damaged: bits flipped at a flit error rate (single bits or bursts), the flit
dropped, or nothing delivered at all while the link is down.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from hdl.layouts import FLIT_BITS


@dataclass
class ChannelErrors:
    """What a channel does to flits; all rates are per flit."""

    flit_error_rate: float = 0.0
    burst_bits: int = 1
    drop_rate: float = 0.0
    down: list[tuple[int, int]] = field(default_factory=list)  # (first cycle, cycles)

    def __post_init__(self) -> None:
        for name in ("flit_error_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} = {getattr(self, name)} must be in [0, 1)")
        if not 1 <= self.burst_bits <= FLIT_BITS:
            raise ValueError(f"burst_bits = {self.burst_bits} must be 1 to {FLIT_BITS}")


@dataclass
class ChannelCounters:
    flits: int = 0
    corrupted: int = 0
    dropped: int = 0
    lost_while_down: int = 0


class Channel:
    """A wire of ``latency`` cycles that damages flits as ``errors`` says."""

    def __init__(self, latency: int, errors: ChannelErrors | None = None,
                 rng: random.Random | None = None) -> None:
        if latency < 1:
            raise ValueError(f"latency = {latency} must be at least 1 cycle")
        self.errors = errors or ChannelErrors()
        self.rng = rng or random.Random(0)
        self.line: deque[int | None] = deque([None] * latency)
        self.counters = ChannelCounters()

    def step(self, cycle: int, flit: int | None) -> int | None:
        """Put ``flit`` on the wire at ``cycle``; return what arrives at the far end."""
        self.line.append(flit)
        out = self.line.popleft()
        if out is None:
            return None
        self.counters.flits += 1
        errors = self.errors
        if any(first <= cycle < first + length for first, length in errors.down):
            self.counters.lost_while_down += 1
            return None
        if errors.drop_rate and self.rng.random() < errors.drop_rate:
            self.counters.dropped += 1
            return None
        if errors.flit_error_rate and self.rng.random() < errors.flit_error_rate:
            start = self.rng.randrange(FLIT_BITS - errors.burst_bits + 1)
            out ^= ((1 << errors.burst_bits) - 1) << start
            self.counters.corrupted += 1
        return out
