"""Two link ends joined by two channels, fed with packets and checked against the reference.

Used by the tests and the goodput benchmark: ``LinkHarness(params, ...).run(...)`` sends
packets both ways, takes deliveries with random back-pressure and fails on any packet lost,
duplicated, reordered or corrupted, or when traffic stops moving.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hdl.params import LinkParams

from ..ref.framing import Packet
from ..ref.link import LinkReference
from .channel import Channel, ChannelErrors
from .link import Delivery, LinkEnd


class LinkStalled(RuntimeError):
    """Packets remain undelivered after the cycle budget: the link made no progress."""


@dataclass
class RunResult:
    cycles: int
    delivered: int
    payload_flits_delivered: int
    deliveries: list[tuple[str, Delivery]]


class LinkHarness:
    """End ``a`` and end ``b``; ``a_to_b`` and ``b_to_a`` are the channels."""

    def __init__(self, params: LinkParams, errors_a_to_b: ChannelErrors | None = None,
                 errors_b_to_a: ChannelErrors | None = None, seed: int = 0) -> None:
        self.params = params
        self.rng = random.Random(seed)
        latency = params.pipeline_latency_cycles
        self.a, self.b = LinkEnd(params, "a"), LinkEnd(params, "b")
        self.a_to_b = Channel(latency, errors_a_to_b, random.Random(self.rng.getrandbits(32)))
        self.b_to_a = Channel(latency, errors_b_to_a, random.Random(self.rng.getrandbits(32)))
        self.to_b = LinkReference(params.virtual_channels)
        self.to_a = LinkReference(params.virtual_channels)
        self.cycle = 0

    def offer(self, end: str, packet: Packet) -> None:
        if end == "a":
            self.a.offer(packet)
            self.to_b.offer(packet)
        else:
            self.b.offer(packet)
            self.to_a.offer(packet)

    def step(self, ready_a: list[bool], ready_b: list[bool]) -> list[tuple[str, Delivery]]:
        # Every part reads what was committed at the last edge, as the RTL does: the
        # transmitters what their receivers recorded, the consumers what the receive buffers
        # held before this cycle's flits arrived.
        flit_a, flit_b = self.a.transmit(), self.b.transmit()
        done = []
        for delivery in self.b.drain(self.cycle, ready_b):
            self.to_b.check(delivery.packet, delivery.vc)
            done.append(("b", delivery))
        for delivery in self.a.drain(self.cycle, ready_a):
            self.to_a.check(delivery.packet, delivery.vc)
            done.append(("a", delivery))
        self.b.receive(self.a_to_b.step(self.cycle, flit_a))
        self.a.receive(self.b_to_a.step(self.cycle, flit_b))
        self.cycle += 1
        return done

    def run(self, packets_a: Sequence[Packet], packets_b: Sequence[Packet] = (),
            pause: float = 0.0, max_idle_cycles: int | None = None,
            progress: Callable[[int, int], None] | None = None,
            keep_deliveries: bool = False) -> RunResult:
        """Offer all packets, step until every one is delivered and checked.

        ``pause`` is the probability that a consumer holds off on a VC in a cycle. Raises
        :class:`LinkStalled` if nothing is delivered for ``max_idle_cycles`` (default: ten
        time-outs, plus every cycle the channels are down).
        """
        for packet in packets_a:
            self.offer("a", packet)
        for packet in packets_b:
            self.offer("b", packet)
        total = len(packets_a) + len(packets_b)
        down = sum(length for channel in (self.a_to_b, self.b_to_a)
                   for _, length in channel.errors.down)
        limit = max_idle_cycles or 10 * self.params.ack_timeout + 1000 + down
        vcs = self.params.virtual_channels
        delivered = payload = idle = 0
        kept: list[tuple[str, Delivery]] = []
        start = self.cycle
        while delivered < total:
            ready_a = [self.rng.random() >= pause for _ in range(vcs)]
            ready_b = [self.rng.random() >= pause for _ in range(vcs)]
            done = self.step(ready_a, ready_b)
            if done:
                idle = 0
                delivered += len(done)
                payload += sum(delivery.packet.length for _, delivery in done)
                if keep_deliveries:
                    kept.extend(done)
                if progress:
                    progress(delivered, total)
            else:
                idle += 1
                if idle > limit:
                    raise LinkStalled(f"no delivery for {idle} cycles at cycle {self.cycle}; "
                                      f"{total - delivered} of {total} packets outstanding")
        assert self.to_a.outstanding == self.to_b.outstanding == 0
        return RunResult(self.cycle - start, delivered, payload, kept)
