"""The link end's port-level cycle model against the RTL, cycle for cycle, in Amaranth's
simulator.

``LinkPairModel`` (two ``LinkEndPortModel`` ends joined by two ``ChannelDelayModel`` wires)
against the RTL ``LinkPair``: random packets offered on both ends' ``header_in`` and
``payload_in`` at random times, random back-pressure on ``delivered``, and damage on both
wires (bit flips, bursts, lost flits, outages) driven through the pair's flip and drop inputs.
Every output port of the pair is compared in every cycle (``testbench.part_lockstep``),
including ``delivered`` payloads while valid is low; every packet delivered is checked
against the packet offered. ``CYCLES`` sets the cycles during which packets are offered.
"""

from __future__ import annotations

import os
import random
from collections import deque
from dataclasses import dataclass

import pytest

from emulator.cycle.link_port import LinkEndPortModel, LinkPairModel
from emulator.ref.framing import Packet
from emulator.ref.link import delivered_form
from hdl.layouts import FLIT_BITS, HEADER_BODY, field_reader, field_slice
from hdl.link.link_pair import ENDS, LinkPair
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import LinkParams
from testbench.part_lockstep import Mismatch, run_lockstep
from testbench.stimulus import random_packet

CYCLES = int(os.environ.get("CYCLES", 2500))
_LAST = 1 << field_slice(DELIVERED_FLIT, "last")[0]
_FLIT_MASK = (1 << FLIT_BITS) - 1
_vc = field_reader(HEADER_BODY, "link", "vc")


@dataclass
class Damage:
    """What the wires do: per flit, a bit flip (``burst`` bits) or a loss; an outage of both
    wires from ``outage[0]`` for ``outage[1]`` cycles."""

    flip_rate: float = 0.0
    burst: int = 1
    drop_rate: float = 0.0
    outage: tuple[int, int] = (0, 0)


class PairStimulus:
    """Packets both ways for ``offer_cycles`` cycles, then the drain."""

    def __init__(self, params: LinkParams, rng: random.Random, offer_cycles: int,
                 damage: Damage, offer_probability: float = 0.06, pause: float = 0.3,
                 max_length: int = 17) -> None:
        self.params, self.rng, self.damage = params, rng, damage
        self.offer_cycles = offer_cycles
        self.offer_probability, self.pause, self.max_length = (offer_probability, pause,
                                                               max_length)
        vcs = params.virtual_channels
        self.headers = {end: [deque() for _ in range(vcs)] for end in ENDS}
        self.payloads = {end: [deque() for _ in range(vcs)] for end in ENDS}
        self.offered = {end: [[] for _ in range(vcs)] for end in ENDS}
        self.delivered = {end: [[] for _ in range(vcs)] for end in ENDS}
        self.collecting = {end: [[] for _ in range(vcs)] for end in ENDS}
        self.values: dict[str, int] = {}
        self.damaged = 0

    def inputs(self, cycle: int) -> dict[str, int]:
        rng, values, damage = self.rng, self.values, self.damage
        for end in ENDS:
            if cycle < self.offer_cycles and rng.random() < self.offer_probability:
                packet = random_packet(rng, self.params, rng.randint(0, self.max_length))
                vc = _vc(packet.header)
                self.headers[end][vc].append(packet.header)
                self.payloads[end][vc].extend(packet.payload)
                self.offered[end][vc].append(delivered_form(packet))
            for vc in range(self.params.virtual_channels):
                headers, payloads = self.headers[end][vc], self.payloads[end][vc]
                values[f"{end}_header_in.{vc}.valid"] = int(bool(headers))
                values[f"{end}_header_in.{vc}.payload"] = (
                    headers[0] if headers else rng.getrandbits(HEADER_BODY.size))
                values[f"{end}_payload_in.{vc}.valid"] = int(bool(payloads))
                values[f"{end}_payload_in.{vc}.payload"] = (
                    payloads[0] if payloads else rng.getrandbits(FLIT_BITS))
                values[f"{end}_delivered.{vc}.ready"] = int(rng.random() >= self.pause)
        first, length = damage.outage
        for wire in ("a_to_b", "b_to_a"):
            flip = 0
            if rng.random() < damage.flip_rate:
                flip = ((1 << damage.burst) - 1) << rng.randrange(FLIT_BITS - damage.burst + 1)
            drop = first <= cycle < first + length or rng.random() < damage.drop_rate
            values[f"{wire}_flip"] = flip
            values[f"{wire}_drop"] = int(drop)
            self.damaged += bool(flip) or drop
        return values

    def observe(self, cycle: int, outputs) -> None:
        values = self.values
        for end in ENDS:
            for vc in range(self.params.virtual_channels):
                if outputs[f"{end}_header_in.{vc}.ready"]:
                    assert values[f"{end}_header_in.{vc}.valid"]
                    self.headers[end][vc].popleft()
                if outputs[f"{end}_payload_in.{vc}.ready"]:
                    assert self.payloads[end][vc], f"cycle {cycle}: payload taken, none offered"
                    self.payloads[end][vc].popleft()
                if outputs[f"{end}_delivered.{vc}.valid"] and values[f"{end}_delivered.{vc}.ready"]:
                    word = outputs[f"{end}_delivered.{vc}.payload"]
                    self.collecting[end][vc].append(word & _FLIT_MASK)
                    if word & _LAST:
                        header, *payload = self.collecting[end][vc]
                        self.collecting[end][vc] = []
                        self.delivered[end][vc].append(Packet(header, tuple(payload)))

    def check_deliveries(self) -> int:
        """Every packet offered was delivered at the other end, once, in order, unchanged."""
        total = 0
        for source, sink in (("a", "b"), ("b", "a")):
            for vc in range(self.params.virtual_channels):
                assert self.delivered[sink][vc] == self.offered[source][vc], (source, vc)
                total += len(self.offered[source][vc])
        return total


#: Cycles after the last offer for the link to deliver everything (outages and replays).
DRAIN_CYCLES = 2000
SHORT_WIRE = LinkParams(pipeline_latency_cycles=3)
TIGHT = LinkParams(pipeline_latency_cycles=5, credits_per_vc=36, replay_buffer_flits=32)

SCENARIOS = {
    "clean": (LinkParams(), Damage(), 0.3),
    "errors": (LinkParams(), Damage(flip_rate=5e-3, drop_rate=2e-3), 0.3),
    "bursts-outage": (SHORT_WIRE, Damage(flip_rate=5e-3, burst=6, drop_rate=1e-3,
                                         outage=(CYCLES // 3, 400)), 0.5),
    "tight-credits": (TIGHT, Damage(flip_rate=3e-3), 0.6),
}


def run(params: LinkParams, seed: int, damage: Damage, pause: float,
        model: LinkPairModel | None = None,
        cycles: int = CYCLES) -> tuple[PairStimulus, LinkPairModel]:
    stimulus = PairStimulus(params, random.Random(seed), cycles, damage, pause=pause)
    model = model or LinkPairModel(params)
    seconds = run_lockstep(LinkPair(params), model, stimulus, cycles + DRAIN_CYCLES)
    counters = model.ends["b"].end.counters
    print(f"{cycles + DRAIN_CYCLES} cycles in {seconds:.1f} s; {stimulus.damaged} flits "
          f"damaged; end b: {counters}")
    return stimulus, model


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_pair_model_matches_rtl(name: str) -> None:
    params, damage, pause = SCENARIOS[name]
    stimulus, model = run(params, list(SCENARIOS).index(name), damage, pause)
    delivered = stimulus.check_deliveries()
    print(f"{name}: {delivered} packets delivered")
    assert delivered > CYCLES // 20
    counters = [model.ends[end].end.counters for end in ENDS]
    if damage.flip_rate:
        assert all(end.crc_errors and end.replays for end in counters), counters
    if damage.outage[1]:
        assert all(end.timeouts for end in counters), counters
    if name == "tight-credits":
        assert any(end.credit_stall_cycles for end in counters), counters


class _Restless(LinkPairModel):
    """Calls ``comb`` twice with random inputs before every real call."""

    rng = random.Random(11)

    def comb(self, inputs):
        for _ in range(2):
            super().comb({name: self.rng.getrandbits(width)
                          for name, width in self.input_widths.items()})
        return super().comb(inputs)


def test_comb_is_pure() -> None:
    """A model whose ``comb`` also sees random inputs stays in lockstep."""
    stimulus, _ = run(LinkParams(), 7, Damage(flip_rate=1e-2), 0.3, _Restless(LinkParams()),
                      cycles=1000)
    assert stimulus.check_deliveries() > 0


class _FreshReads(LinkEndPortModel):
    """A planted fault: ``delivered`` payloads are zero while valid is low, where the RTL
    shows the word its buffer holds at the read address."""

    def _settle(self) -> None:
        super()._settle()
        for name in list(self._outputs):
            if name.endswith(".valid") and name.startswith("delivered.") and \
                    not self._outputs[name]:
                self._outputs[name.replace(".valid", ".payload")] = 0


def test_planted_fault_is_caught() -> None:
    model = LinkPairModel(LinkParams())
    model.ends["b"] = _FreshReads(LinkParams())
    with pytest.raises(Mismatch, match=r"cycle \d+: b_delivered\.\d\.payload is 0x[0-9a-f]+ "
                                       r"in the RTL, 0x0 in the model"):
        run(LinkParams(), 1, Damage(), 0.3, model, cycles=500)
