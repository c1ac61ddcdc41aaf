"""The network protocol: what the layers above see of the rack, whatever backend runs it.

A *transfer* moves ``nbytes`` from the memory behind one endpoint's chiplet to the memory behind
another's: a remote write, posted by the source. The layers above post transfers, advance the
network, and collect completions with their cycle stamps; they never see packets, planes or
links. A transfer completes when its last byte is written at the destination: that is when a
receiver waiting for the data may go on (the write responses still on their way back to the
source are the network's own business: they hold its tags, and so its later transfers).
Cycles are flit cycles at the preset's link clock (``LinkParams.clock_hz``).

Backends (``cycle`` here; ``rtl`` and ``flow`` later) implement :class:`Network` and nothing
more, so they can be swapped without changing the collectives or the ranks above them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from hdl.params import ConfigError, SystemParams

#: Traffic classes a transfer may ask for: requests and their completions ride the link's
#: virtual channels; the class picks the request VC's priority in a later backend and is
#: carried through unchanged here.
TRAFFIC_CLASSES = 2


@dataclass(frozen=True)
class Transfer:
    """``nbytes`` from endpoint ``source`` to endpoint ``destination``, not before ``earliest``.

    ``payload``, when given, is the data (``nbytes`` of ``uint8``); the completion carries
    what arrived, so a backend that corrupts or loses data is caught above it. ``tag`` is the
    poster's own handle, returned untouched.
    """

    source: int
    destination: int
    nbytes: int
    traffic_class: int = 0
    earliest: int = 0
    payload: np.ndarray | None = field(default=None, compare=False)
    tag: object = field(default=None, compare=False)

    def check(self, endpoints: int) -> None:
        """Raise :class:`ConfigError` with one clear line for a transfer no backend can run."""
        for name in ("source", "destination"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not 0 <= value < endpoints:
                raise ConfigError(f"transfer {name} {value!r} is not an endpoint of this rack "
                                  f"(0 to {endpoints - 1})")
        if self.source == self.destination:
            raise ConfigError(f"a transfer from endpoint {self.source} to itself does not "
                              "cross the fabric")
        if not isinstance(self.nbytes, (int, np.integer)) or self.nbytes <= 0:
            raise ConfigError(f"transfer size {self.nbytes!r} must be a positive whole number "
                              "of bytes")
        if not 0 <= self.traffic_class < TRAFFIC_CLASSES:
            raise ConfigError(f"traffic class {self.traffic_class} is not one of "
                              f"0 to {TRAFFIC_CLASSES - 1}")
        if self.earliest < 0:
            raise ConfigError(f"earliest cycle {self.earliest} is negative")
        if self.payload is not None and (self.payload.dtype != np.uint8
                                         or self.payload.shape != (self.nbytes,)):
            raise ConfigError(f"payload must be {self.nbytes} bytes of uint8, not "
                              f"{self.payload.shape} of {self.payload.dtype}")


@dataclass(frozen=True)
class Completion:
    """A transfer done: its first packet left the source at ``started``, and every byte was
    written at the destination by ``delivered`` (the cycle the destination's chiplet took its
    last packet from a link); reported in that cycle."""

    handle: int
    transfer: Transfer
    started: int
    delivered: int
    payload: np.ndarray | None = field(default=None, compare=False)


class Network(abc.ABC):
    """One rack's fabric. ``post`` transfers, ``advance`` time, read completions."""

    def __init__(self, system: SystemParams) -> None:
        self.system = system
        self.endpoints = system.endpoints
        self.clock_hz = system.link.clock_hz
        self._next_handle = 0
        self._now = 0  # the first cycle not yet simulated
        self._open = 0  # transfers posted and not completed

    @property
    def now(self) -> int:
        """The first cycle not yet simulated."""
        return self._now

    def post(self, transfer: Transfer) -> int:
        """Queue ``transfer`` at its source; returns its handle. Transfers from one source
        start in the order they are posted."""
        transfer.check(self.endpoints)
        handle = self._next_handle
        self._next_handle += 1
        self._accept(handle, transfer)
        return handle

    @abc.abstractmethod
    def _accept(self, handle: int, transfer: Transfer) -> None:
        """Take a checked transfer."""

    @abc.abstractmethod
    def advance(self, until: int | None = None) -> list[Completion]:
        """Simulate until some transfer completes or until cycle ``until`` (exclusive),
        whichever is first; return the completions of the cycles simulated, in completion
        order. With nothing under way and ``until`` not given, return at once."""

    def busy(self) -> bool:
        """Whether some posted transfer has not completed yet."""
        return self._open > 0

    @abc.abstractmethod
    def counters(self) -> dict[str, int]:
        """Totals for reports: flits, replays, packets retried, and so on."""

    def drain(self) -> list[Completion]:
        """Run until every posted transfer has completed."""
        done: list[Completion] = []
        while self.busy():
            done += self.advance()
        return done
