"""Cycle models of the chiplet's queue, striper, completion split and plane guard against the
RTL, cycle for cycle, in Amaranth's simulator.

Random packets (header and payload flits as ``DELIVERED_FLIT`` words) with random pauses, random
back-pressure on every output stream, random words on payloads while valid is low; for the
striper, planes going down and up with ``drained`` at random. Every output port is compared
in every cycle (``testbench.part_lockstep``); what comes out is also checked packet for packet.
``CYCLES`` sets the length of each run.
"""

from __future__ import annotations

import os
import random
from collections import deque

import pytest

from emulator.cycle.chiplet_plumbing import (
    CompletionSplitModel,
    PacketQueueModel,
    PlaneGuardModel,
    StriperModel,
)
from hdl.chiplet.completion_split import CompletionSplit
from hdl.chiplet.packet_queue import PacketQueue
from hdl.chiplet.plane_guard import PlaneGuard
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.striper import Striper, chosen_plane
from hdl.layouts import (
    FLIT_BITS,
    HEADER_BODY,
    MAX_PACKET_FLITS,
    TRANSACTION_HEADER,
    field_reader,
    field_slice,
    field_width,
    pack,
)
from hdl.link.link_signals import DELIVERED_FLIT
from testbench.part_lockstep import Mismatch, run_lockstep

CYCLES = int(os.environ.get("CYCLES", 10_000))
_LAST = 1 << field_slice(DELIVERED_FLIT, "last")[0]
_FLIT_MASK = (1 << FLIT_BITS) - 1
_tag = field_reader(HEADER_BODY, "message", "transaction", "tag")


def random_packet(rng: random.Random) -> list[int]:
    """A packet as ``DELIVERED_FLIT`` words: a header with random destination, address and
    tag, then 0 to 17 random flits; ``last`` on the final word."""
    transaction = {name: rng.getrandbits(field_width(TRANSACTION_HEADER, name))
                   for name in ("destination", "source", "tag", "address")}
    header = pack(HEADER_BODY, {"message": {"transaction": transaction}})
    words = [header] + [rng.getrandbits(FLIT_BITS) for _ in range(rng.randrange(
        MAX_PACKET_FLITS))]
    words[-1] |= _LAST
    return words


class PacketSource:
    """Offers packets on ``prefix`` (``.valid``, ``.payload``), holding a word until taken;
    pauses with ``pause`` between words; random payload while valid is low."""

    def __init__(self, rng: random.Random, prefix: str, pause: float) -> None:
        self.rng, self.prefix, self.pause = rng, prefix, pause
        self.words: deque[int] = deque()
        self.valid = 0
        self.payload = 0
        self.sent: list[list[int]] = []

    def drive(self, values: dict[str, int]) -> None:
        if not self.valid:
            if not self.words:
                packet = random_packet(self.rng)
                self.words.extend(packet)
                self.sent.append(packet)
            if self.rng.random() >= self.pause:
                self.valid, self.payload = 1, self.words.popleft()
            elif self.rng.random() < 0.5:
                self.payload = self.rng.getrandbits(DELIVERED_FLIT.size)
        values[f"{self.prefix}.valid"] = self.valid
        values[f"{self.prefix}.payload"] = self.payload

    def taken(self, ready: int) -> None:
        if self.valid and ready:
            self.valid = 0


class PacketSink:
    """Collects whole packets from handshakes on one stream."""

    def __init__(self) -> None:
        self.flits: list[int] = []
        self.packets: list[list[int]] = []

    def take(self, word: int) -> None:
        self.flits.append(word)
        if word & _LAST:
            self.packets.append(self.flits)
            self.flits = []


class QueueStimulus:
    """Packets into the queue; its header and payload streams taken with back-pressure. The
    payload stream carries no ``last``: a packet is whole when it has its sent length."""

    def __init__(self, rng: random.Random, model: PacketQueueModel, in_pause: float,
                 out_pause: float) -> None:
        self.rng, self.model, self.out_pause = rng, model, out_pause
        self.source = PacketSource(rng, "flit_in", in_pause)
        self.packets: list[list[int]] = []
        self.values: dict[str, int] = {}
        self.levels: set[int] = set()
        self.part_way = False  # a packet's header went in, its last flit not yet
        self.refused_part_way = 0

    def inputs(self, cycle: int) -> dict[str, int]:
        self.source.drive(self.values)
        for name in ("header.ready", "payload.ready"):
            self.values[name] = int(self.rng.random() >= self.out_pause)
        return self.values

    def observe(self, cycle: int, outputs) -> None:
        values = self.values
        if values["flit_in.valid"]:
            if self.part_way and not outputs["flit_in.ready"]:
                self.refused_part_way += 1
            if outputs["flit_in.ready"]:
                self.part_way = not values["flit_in.payload"] & _LAST
        self.source.taken(outputs["flit_in.ready"])
        if outputs["header.valid"] and values["header.ready"]:
            self.packets.append([outputs["header.payload"]])
        if outputs["payload.valid"] and values["payload.ready"]:
            self.packets[-1].append(outputs["payload.payload"])
        self.levels.add(self.model.level)


@pytest.mark.parametrize(("depth", "in_pause", "out_pause"),
                         [(2 * MAX_PACKET_FLITS, 0.2, 0.5), (MAX_PACKET_FLITS, 0.1, 0.3),
                          (2 * MAX_PACKET_FLITS, 0.6, 0.1)])
def test_packet_queue_matches_rtl(depth: int, in_pause: float, out_pause: float) -> None:
    rng = random.Random(depth + int(in_pause * 10))
    model = PacketQueueModel(depth)
    stimulus = QueueStimulus(rng, model, in_pause, out_pause)
    seconds = run_lockstep(PacketQueue(depth), model, stimulus, CYCLES)
    out = stimulus.packets
    print(f"depth {depth}: {CYCLES} cycles, {len(out)} packets in {seconds:.1f} s")
    assert len(out) > CYCLES // 40
    for got, sent in zip(out[:-1], stimulus.source.sent, strict=False):
        assert got == [sent[0] & ((1 << HEADER_BODY.size) - 1)] + [
            word & _FLIT_MASK for word in sent[1:]]
    assert not stimulus.refused_part_way, "a packet was held part-way in"
    if out_pause > in_pause:
        assert max(stimulus.levels) > depth - MAX_PACKET_FLITS, \
            "the queue should have refused a header for want of room"


class StriperStimulus:
    def __init__(self, rng: random.Random, links: int) -> None:
        self.rng, self.links = rng, links
        self.source = PacketSource(rng, "flit_in", 0.2)
        self.sinks = [PacketSink() for _ in range(links)]
        self.values: dict[str, int] = {"planes_up": (1 << links) - 1, "drained": 0}
        #: (plane, planes_up, header word) of each packet, as its header leaves.
        self.homes: list[tuple[int, int, int]] = []

    def inputs(self, cycle: int) -> dict[str, int]:
        rng, values = self.rng, self.values
        self.source.drive(values)
        if rng.random() < 0.01:
            # Planes go down and come back up, all of them at times.
            values["planes_up"] = rng.getrandbits(self.links)
        values["drained"] = rng.getrandbits(self.links)
        for index in range(self.links):
            values[f"flit_out.{index}.ready"] = int(rng.random() >= 0.3)
        return values

    def observe(self, cycle: int, outputs) -> None:
        values = self.values
        for index, sink in enumerate(self.sinks):
            if outputs[f"flit_out.{index}.valid"] and values[f"flit_out.{index}.ready"]:
                word = outputs[f"flit_out.{index}.payload"]
                if not sink.flits:
                    self.homes.append((index, values["planes_up"], word))
                sink.take(word)
        self.source.taken(outputs["flit_in.ready"])


@pytest.mark.parametrize(("links", "home"), [(1, 0), (2, 1), (3, 2), (4, 1)])
def test_striper_matches_rtl(links: int, home: int) -> None:
    model = StriperModel(links, home)
    stimulus = StriperStimulus(random.Random(links), links)
    seconds = run_lockstep(Striper(links, home), model, stimulus, CYCLES)
    packets = sum(len(sink.packets) for sink in stimulus.sinks)
    print(f"{links} links: {CYCLES} cycles, {packets} packets, {model.moved} moved, "
          f"in {seconds:.1f} s")
    assert packets > CYCLES // 60 and model.sent >= packets
    for plane, planes_up, _ in stimulus.homes:
        assert plane == chosen_plane(home, planes_up, links)
    # Headers leave one packet at a time, in the order sent, each whole to its plane.
    taken = [0] * links
    for (plane, _, _), sent in zip(stimulus.homes, stimulus.source.sent, strict=False):
        if taken[plane] < len(stimulus.sinks[plane].packets):
            assert stimulus.sinks[plane].packets[taken[plane]] == sent
            taken[plane] += 1
    if links > 1:
        assert model.moved > 0


class SplitStimulus:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.source = PacketSource(rng, "flit_in", 0.2)
        self.sinks = {"write": PacketSink(), "read": PacketSink()}
        self.values: dict[str, int] = {}

    def inputs(self, cycle: int) -> dict[str, int]:
        self.source.drive(self.values)
        for name in self.sinks:
            self.values[f"{name}.ready"] = int(self.rng.random() >= 0.3)
        return self.values

    def observe(self, cycle: int, outputs) -> None:
        for name, sink in self.sinks.items():
            if outputs[f"{name}.valid"] and self.values[f"{name}.ready"]:
                sink.take(outputs[f"{name}.payload"])
        self.source.taken(outputs["flit_in.ready"])


def test_completion_split_matches_rtl() -> None:
    stimulus = SplitStimulus(random.Random(3))
    seconds = run_lockstep(CompletionSplit(), CompletionSplitModel(), stimulus, CYCLES)
    sinks = stimulus.sinks
    print(f"{CYCLES} cycles, {len(sinks['write'].packets)} writes and "
          f"{len(sinks['read'].packets)} reads in {seconds:.1f} s")
    done = len(sinks["write"].packets) + len(sinks["read"].packets)
    expected = {"write": [], "read": []}
    for packet in stimulus.source.sent[:done]:
        expected["read" if _tag(packet[0]) & READ_TAG_FLAG else "write"].append(packet)
    assert sinks["write"].packets == expected["write"] and expected["write"]
    assert sinks["read"].packets == expected["read"] and expected["read"]


class _EarlyMove(StriperModel):
    """A planted fault: a packet leaves a plane that is down without waiting for it to drain."""

    def _decide(self, inputs):
        return super()._decide({**inputs, "drained": (1 << self.links) - 1})


def test_planted_striper_fault_is_caught() -> None:
    with pytest.raises(Mismatch, match=r"cycle \d+: flit_out\.\d\.valid is 0x0 in the RTL, "
                                       r"0x1 in the model"):
        run_lockstep(Striper(2), _EarlyMove(2), StriperStimulus(random.Random(2), 2), CYCLES)


class _FullTakesWhileRead(PacketQueueModel):
    """A planted fault: a full queue is ready for a flit in a cycle it is read, which
    ``SyncFIFO`` is not."""

    def comb(self, inputs):
        outputs = super().comb(inputs)
        reading = (outputs["header.valid"] and inputs["header.ready"]) or (
            outputs["payload.valid"] and inputs["payload.ready"])
        outputs["flit_in.ready"] |= int(bool(reading))
        return outputs


def test_planted_queue_fault_is_caught() -> None:
    model = _FullTakesWhileRead(MAX_PACKET_FLITS)
    stimulus = QueueStimulus(random.Random(5), model, 0.1, 0.5)
    with pytest.raises(Mismatch, match=r"cycle \d+: flit_in.ready is 0x0 in the RTL, 0x1"):
        run_lockstep(PacketQueue(MAX_PACKET_FLITS), model, stimulus, CYCLES)


class GuardStimulus:
    """Completion packets into a ``PlaneGuard`` with back-pressure; ``usable`` falling and
    rising now and then; ``held`` and ``moved`` at random, with long stretches of a queue
    held and nothing moving so that the plane gets stuck part-way through the run."""

    def __init__(self, rng: random.Random, timeout: int) -> None:
        self.rng, self.timeout = rng, timeout
        self.source = PacketSource(rng, "flit_in", 0.3)
        self.sink = PacketSink()
        self.values: dict[str, int] = {"usable": 1}
        self.stuck_at: int | None = None
        self.sent_while = []  # per packet taken: whether it was dropped (the plane unusable)
        self.part_way = False

    def inputs(self, cycle: int) -> dict[str, int]:
        values, rng = self.values, self.rng
        self.source.drive(values)
        if rng.random() < 0.01:
            values["usable"] ^= 1
        quiet = cycle > CYCLES // 2  # the link stops taking anything
        values["held"] = int(quiet or rng.random() < 0.7)
        values["moved"] = int(not quiet and rng.random() < 0.05)
        values["flit_out.ready"] = int(rng.random() >= 0.3)
        return values

    def observe(self, cycle: int, outputs) -> None:
        values = self.values
        if outputs["stuck"] and self.stuck_at is None:
            self.stuck_at = cycle
        if outputs["flit_out.valid"] and values["flit_out.ready"]:
            self.sink.take(values["flit_in.payload"])
        if values["flit_in.valid"] and outputs["flit_in.ready"]:
            if not self.part_way:
                self.sent_while.append(not outputs["flit_out.valid"])
            self.part_way = not values["flit_in.payload"] & _LAST
        self.source.taken(outputs["flit_in.ready"])


def test_plane_guard_matches_rtl() -> None:
    """``PlaneGuard``: stuck only after ``timeout`` cycles of a held queue with nothing
    moving, and then for good; completion packets passed whole while usable, dropped whole
    (and counted) while not, decided at the header."""
    timeout = 300
    rng = random.Random(7)
    model = PlaneGuardModel(timeout)
    stimulus = GuardStimulus(rng, timeout)
    run_lockstep(PlaneGuard(timeout), model, stimulus, CYCLES)
    assert stimulus.stuck_at is not None, "the plane never got stuck"
    assert CYCLES // 2 + timeout < stimulus.stuck_at <= CYCLES // 2 + timeout + 2
    dropped = [packet for packet, drop in zip(stimulus.source.sent, stimulus.sent_while,
                                              strict=False) if drop]
    passed = [packet for packet, drop in zip(stimulus.source.sent, stimulus.sent_while,
                                             strict=False) if not drop]
    assert dropped and passed
    assert model.dropped_answers == len(dropped)
    assert stimulus.sink.packets == passed[:len(stimulus.sink.packets)]
    assert len(passed) - len(stimulus.sink.packets) <= 1
