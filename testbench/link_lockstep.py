"""One stimulus for the link RTL (``hdl.link.link_pair.LinkPair``) and the cycle model.

:class:`LinkLockstep` is simulator-neutral: each cycle :meth:`~LinkLockstep.inputs` steps the
cycle model (``LinkHarness``) and returns the port values that give the RTL the same cycle
(packets offered, consumer ready, the damage each channel did); once the simulator has
settled, :meth:`~LinkLockstep.check` reads the RTL's outputs and fails on the first flit sent,
packet delivered or cycle stamp that differs from the model. Ports are named as in the
exported Verilog (``a_delivered__0__valid``); an Amaranth testbench resolves the same names
with :func:`resolve`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from emulator.cycle.channel import Channel, ChannelErrors
from emulator.cycle.link_harness import LinkHarness, LinkStalled
from emulator.ref.framing import Packet
from hdl.layouts import HEADER_BODY, field_reader, unpack
from hdl.link.link_pair import ENDS
from hdl.link.link_signals import COUNTER_NAMES, LINK_COUNTERS
from hdl.params import LinkParams

_HEADER_MASK = (1 << HEADER_BODY.size) - 1
_vc = field_reader(HEADER_BODY, "link", "vc")


class RecordingChannel(Channel):
    """A :class:`Channel` that also says what it did this cycle, for the RTL's wire."""

    sent: int | None = None
    flip: int = 0
    drop: bool = False

    def step(self, cycle: int, flit: int | None) -> int | None:
        self.sent = flit
        leaving = self.line[0]
        out = super().step(cycle, flit)
        self.drop = leaving is not None and out is None
        self.flip = 0 if out is None else leaving ^ out
        return out


class LinkLockstep:
    """Packets both ways, random arrivals and back-pressure, damage from ``errors``."""

    def __init__(self, params: LinkParams, rng: random.Random, packets_a: Sequence[Packet],
                 packets_b: Sequence[Packet], errors: ChannelErrors | None = None,
                 offer_probability: float = 0.4, pause: float = 0.3,
                 errors_back: ChannelErrors | None = None) -> None:
        self.params = params
        self.rng = rng
        self.offer_probability = offer_probability
        self.pause = pause
        back = errors if errors_back is None else errors_back
        harness = LinkHarness(params, errors, back, seed=rng.getrandbits(32))
        latency = params.pipeline_latency_cycles
        harness.a_to_b = RecordingChannel(latency, errors, harness.a_to_b.rng)
        harness.b_to_a = RecordingChannel(latency, back, harness.b_to_a.rng)
        self.harness = harness
        vcs = params.virtual_channels
        self.unoffered = {"a": deque(packets_a), "b": deque(packets_b)}
        self.headers = {end: [deque() for _ in range(vcs)] for end in ENDS}
        self.payloads = {end: [deque() for _ in range(vcs)] for end in ENDS}
        self.collecting = {end: [[] for _ in range(vcs)] for end in ENDS}
        self.ready = {end: [False] * vcs for end in ENDS}
        self.expected: list[tuple[str, int, Packet]] = []
        self.total = len(packets_a) + len(packets_b)
        self.delivered = 0
        self.idle = 0
        down = sum(length for wire in (errors, back) if wire for _, length in wire.down)
        self.stall_limit = 10 * params.ack_timeout + 1000 + down

    @property
    def done(self) -> bool:
        return self.delivered == self.total

    @property
    def cycle(self) -> int:
        return self.harness.cycle

    def inputs(self) -> dict[str, int]:
        """Step the model through this cycle; the RTL's input values for the same cycle."""
        vcs = self.params.virtual_channels
        for end in ENDS:
            if self.unoffered[end] and self.rng.random() < self.offer_probability:
                packet = self.unoffered[end].popleft()
                self.harness.offer(end, packet)
                vc = _vc(packet.header)
                self.headers[end][vc].append(packet.header)
                self.payloads[end][vc].extend(packet.payload)
            self.ready[end] = [self.rng.random() >= self.pause for _ in range(vcs)]
        self.expected = [(end, delivery.vc, delivery.packet)
                         for end, delivery in self.harness.step(self.ready["a"], self.ready["b"])]
        values: dict[str, int] = {}
        for end in ENDS:
            for vc in range(vcs):
                headers, payloads = self.headers[end][vc], self.payloads[end][vc]
                values[f"{end}_header_in__{vc}__valid"] = int(bool(headers))
                values[f"{end}_header_in__{vc}__payload"] = headers[0] if headers else 0
                values[f"{end}_payload_in__{vc}__valid"] = int(bool(payloads))
                values[f"{end}_payload_in__{vc}__payload"] = payloads[0] if payloads else 0
                values[f"{end}_delivered__{vc}__ready"] = int(self.ready[end][vc])
        for wire in (self.harness.a_to_b, self.harness.b_to_a):
            name = "a_to_b" if wire is self.harness.a_to_b else "b_to_a"
            values[f"{name}_flip"] = wire.flip
            values[f"{name}_drop"] = int(wire.drop)
        return values

    def check(self, read: Callable[[str], int]) -> None:
        """Compare the settled RTL outputs of this cycle with the model's."""
        cycle = self.harness.cycle - 1
        for end, wire in (("a", self.harness.a_to_b), ("b", self.harness.b_to_a)):
            flit = read(f"{end}_flit")
            assert flit == wire.sent, (f"cycle {cycle}: end {end} sent {flit:#x}, "
                                       f"the model {wire.sent:#x}")
        observed = []
        for end in ENDS:
            for vc in range(self.params.virtual_channels):
                if read(f"{end}_header_in__{vc}__ready"):
                    self.headers[end][vc].popleft()
                if read(f"{end}_payload_in__{vc}__ready"):
                    assert self.payloads[end][vc], (f"cycle {cycle}: end {end} VC {vc} "
                                                    "took a payload flit not offered")
                    self.payloads[end][vc].popleft()
                if not (self.ready[end][vc] and read(f"{end}_delivered__{vc}__valid")):
                    continue
                word = read(f"{end}_delivered__{vc}__payload")
                flit, last = word & ((1 << 128) - 1), word >> 128
                self.collecting[end][vc].append(flit)
                if last:
                    header, *payload = self.collecting[end][vc]
                    self.collecting[end][vc] = []
                    assert not header >> HEADER_BODY.size, f"cycle {cycle}: header too wide"
                    observed.append((end, vc, Packet(header & _HEADER_MASK, tuple(payload))))
        key = {"b": 0, "a": 1}  # the order in which the model drains
        observed.sort(key=lambda item: (key[item[0]], item[1]))
        assert observed == self.expected, (f"cycle {cycle}: the RTL delivered {observed}, "
                                           f"the model {self.expected}")
        self.delivered += len(observed)
        self.idle = 0 if observed else self.idle + 1
        if self.idle > self.stall_limit:
            raise LinkStalled(f"no delivery for {self.idle} cycles at cycle {cycle}; "
                              f"{self.total - self.delivered} of {self.total} outstanding")

    def check_counters(self, read: Callable[[str], int]) -> dict[str, dict[str, int]]:
        """Every counter of both ends equals the model's; returns them."""
        counters = {}
        for end in ENDS:
            view = unpack(LINK_COUNTERS, read(f"{end}_counters"))
            model = getattr(self.harness, end).counters
            counters[end] = {name: int(getattr(view, name)) for name in COUNTER_NAMES}
            for name in COUNTER_NAMES:
                assert counters[end][name] == getattr(model, name), (
                    f"end {end}: {name} = {counters[end][name]}, the model "
                    f"{getattr(model, name)}")
        return counters


def resolve(component: Any, name: str) -> Any:
    """The Amaranth port of ``component`` that the exported Verilog calls ``name``."""
    target = component
    for part in name.split("__"):
        target = target[int(part)] if part.isdigit() else getattr(target, part)
    return target
