"""Two far sides sharing a duplicate filter, RTL against model, with retries racing between
them.

:class:`LanesLockstep` drives ``FarSide(params, 2)`` (far sides on planes 0 and 1, one
``DuplicateFilter``) and ``FarSideModel(params, 2)`` with one stimulus, in the convention of
:mod:`testbench.chiplet_responder_lockstep` (``inputs()``, ``check(read)``, ``done``,
``finish()``): every output port compared in every cycle.

The stimulus: ``WRITE``s only, each key with a 256-byte block of its own in a memory both
manager ports reach. Each far side gets originals of its own plane's keys; both get copies
of open keys (a retry naming the key, or its original after a retry), often while the key
is pending on the other, and retries naming keys never seen. A window (``dead``) plays a
plane failing while far side 0 has WRITEs in flight: far side 0 gets no more requests and its
completion output is stuck; far side 1 gets a retry of every request sent to far side 0 and
not yet answered, and must answer them all before the window ends (far side 0 records its
WRITEs done as their B comes, whatever its completions do). Every copy of a key is answered
with its outcome (``WRITE_RESPONSE``, or ``ERROR_RESPONSE`` when its burst fails), in each
far side's order; each key's burst is issued exactly once, on either manager port
(:class:`~testbench.chiplet_responder.KeyedMemoryModel`); the memory at the end is the
reference's; the ``duplicates`` counters add up to the copies beyond the first.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.ref.axi import ReferenceMemory
from emulator.ref.chiplet import Piece, completion, request_packet
from hdl.chiplet.axi import data_bytes
from hdl.chiplet.tag_translate import GENERATION_FLAG
from hdl.layouts import FLIT_BITS, MAX_DATA_BYTES, Command, field_slice
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams
from testbench.chiplet_responder import (
    AR_FIELDS,
    AW_FIELDS,
    W_FIELDS,
    Case,
    CompletionScoreboard,
    FarSideModel,
    KeyedMemoryModel,
    ResponderReference,
    flits,
    header_request,
    retried,
)
from testbench.chiplet_responder_lockstep import Mismatch, RequestNames, StrobedWdata

LANES = 2
_FLIT_MASK = (1 << FLIT_BITS) - 1
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
#: Blocks of the memory: one per key.
BLOCKS = 4096
#: Cycles compared after the stimulus has drained.
TAIL_CYCLES = 4


@dataclass
class LanesScenario:
    """What a two-lane run offers the far sides."""

    cycles: int = 3000  # new requests start until this cycle; then the run drains
    pause: float = 0.3  # chance per cycle that no request flit is offered, per far side
    completion_pause: float = 0.2
    memory_pause: float = 0.2
    latency: tuple[int, int] = (10, 60)  # slow: copies arrive while the first is pending
    fail_rate: float = 0.15
    copy_rate: float = 0.45  # packets that copy an open key
    unseen_rate: float = 0.1  # retries naming a key never seen
    sources: int = 3
    #: Plane 0 dies at the first of these cycles at which its far side has two WRITEs (one,
    #: with one tag) in flight (their B to come), for as many cycles as lie between them.
    dead: tuple[int, int] | None = (1000, 2500)


class LanesLockstep:
    """The RTL against the cycle model, two far sides, cycle for cycle, and against the
    reference."""

    def __init__(self, params: ChipletParams, rng: random.Random,
                 scenario: LanesScenario | None = None,
                 model: FarSideModel | None = None) -> None:
        if params.links < LANES:
            raise ValueError(f"two far sides need two planes; chiplet.links = {params.links}")
        self.params = params
        self.rng = rng
        self.scenario = scenario = scenario or LanesScenario()
        self.model = model or FarSideModel(params, LANES)
        self.memory_bytes = BLOCKS * MAX_DATA_BYTES
        self.reference = ResponderReference(params, self.memory_bytes)
        memory = ReferenceMemory(data_bytes(params))
        self.bursts: dict = {}
        self.axi = [KeyedMemoryModel(params, memory, deque(), deque(), rng,
                                     scenario.memory_pause, scenario.latency,
                                     bursts=self.bursts) for _ in range(LANES)]
        self.scoreboards = [CompletionScoreboard([]) for _ in range(LANES)]
        self.keys = RequestNames(params, rng, 0, scenario.sources)
        self.values = dict.fromkeys(self.model.input_widths, 0)
        self.values["memory_bytes"] = self.memory_bytes
        self.flits: list[deque[int]] = [deque() for _ in range(LANES)]
        self.wdata = [StrobedWdata() for _ in range(LANES)]
        self.blocks = 0
        self.writes = 0  # WRITE packets sent
        self.keys_sent = 0  # keys with at least one copy sent
        self.retries: deque[tuple[int, int, int]] = deque()  # far side 0's, for far side 1
        self.must_finish: set[tuple[int, int]] = set()  # their answer keys
        self.finished_in_window = 0
        self.counts = Counter()
        self.cycle = 0
        self.expected: dict[str, int] = {}
        self.idle = 0
        self.drained_at: int | None = None
        self.window: tuple[int, int] | None = None  # the cycles plane 0 is dead

    @property
    def done(self) -> bool:
        return self.drained_at is not None and self.cycle >= self.drained_at + TAIL_CYCLES

    def _dead(self) -> bool:
        window = self.window
        return window is not None and window[0] <= self.cycle < window[1]

    def _drained(self) -> bool:
        return (self.cycle >= self.scenario.cycles and not any(self.flits)
                and not any(self.values[f"request.{lane}.valid"] for lane in range(LANES))
                and not any(scoreboard.expected for scoreboard in self.scoreboards)
                and not self.bursts
                and all(not axi.aw_waiting and not axi.w_groups and not axi.b_queue
                        and not axi.b_valid for axi in self.axi))

    # -- stimulus --------------------------------------------------------------------------

    def inputs(self) -> dict[str, int]:
        rng, scenario, values = self.rng, self.scenario, self.values
        dead = scenario.dead
        axi = self.axi[0]
        if (dead is not None and self.window is None and self.cycle >= dead[0]
                and len(axi.aw_cycles) - len(axi.b_cycles)
                >= min(2, self.params.outstanding_tags)):
            self.window = (self.cycle, self.cycle + dead[1] - dead[0])
        window = self.window
        if window is not None and self.cycle == window[0]:
            # Plane 0 fails: what it holds unanswered is sent again, to far side 1.
            self.retries.extend(dict.fromkeys(
                name for (lane, _, _), name in self.keys.answers.items()
                if lane == 0 and name is not None))
            self.counts["dead plane's keys retried"] = len(self.retries)
        if window is not None and self.cycle == window[1]:
            missing = self.must_finish
            if missing:
                raise Mismatch(f"cycle {self.cycle}: {len(missing)} retries of far side 0's "
                               "WRITEs not answered while it was stuck")
        dead = self._dead()
        for lane in range(LANES):
            valid = f"request.{lane}.valid"
            if not values[valid] and rng.random() >= scenario.pause:
                if (not self.flits[lane] and self.cycle < scenario.cycles
                        and not (dead and lane == 0)):
                    self._new_packet(lane)
                if self.flits[lane]:
                    values[f"request.{lane}.payload"] = self.flits[lane].popleft()
                    values[valid] = 1
            stuck = dead and lane == 0
            values[f"completion.{lane}.ready"] = int(
                not stuck and rng.random() >= scenario.completion_pause)
            for name, value in self.axi[lane].drive().items():
                values[f"m_axi.{lane}.{name}"] = value
        self.expected = self.model.comb(values)
        return values

    def _new_packet(self, lane: int) -> None:
        rng, keys, scenario = self.rng, self.keys, self.scenario
        roll = rng.random()
        forced = lane == 1 and bool(self.retries)
        if forced or (roll < scenario.copy_rate and keys.open):
            name = self.retries.popleft() if forced else rng.choice(keys.open)
            entry = keys.entries[name]
            plane, source, index = name
            key_tag = entry.generation * GENERATION_FLAG | index
            if plane == lane and not entry.original_sent and not forced \
                    and rng.random() < 0.5:
                packet, tag = entry.packet, key_tag
                entry.original_sent = True
                self.counts["original after retry"] += 1
            else:
                tag = keys.other_tag(source)
                if tag is None:
                    return
                packet = retried(entry.packet, plane, key_tag, tag)
                self.counts["retry" if plane != lane else "retry on its own plane"] += 1
            if name in keys.open:
                keys.copied(name)
            if forced:
                self.must_finish.add((source, tag))
        else:
            unseen = roll < scenario.copy_rate + scenario.unseen_rate
            plane = rng.randrange(self.params.links) if unseen else lane
            found = keys.entry_for(plane)
            if found is None:
                return
            name, entry = found
            source = name[1]
            tag = keys.other_tag(source) if unseen else 0
            if tag is None:
                return
            self.counts["generation flipped"] += entry.used
            block = self.blocks
            self.blocks += 1
            assert block < BLOCKS, "more keys than blocks: raise BLOCKS"
            offset = rng.choice([0, rng.randrange(MAX_DATA_BYTES)])
            count = rng.randint(1, MAX_DATA_BYTES - offset)
            piece = Piece(block * MAX_DATA_BYTES + offset, count, (), rng.randbytes(count))
            fail = rng.random() < scenario.fail_rate
            base = request_packet(piece, rng.randrange(1 << 10), source, 0)
            key_tag = keys.use(name, entry, base, fail, rng.choice([0, 1, 2, 3]))
            served = self.reference.case(entry.packet, fail, plane)
            assert served.burst is not None and not served.duplicate, served
            self.bursts[piece.remote_address] = (served.burst, fail)
            self.keys_sent += 1
            if unseen:
                packet = retried(entry.packet, plane, key_tag, tag)
                self.counts["unseen key"] += 1
            else:
                packet, tag = entry.packet, key_tag
                entry.original_sent = True
                self.counts["original"] += 1
        fail = keys.entries[name].fail
        response = Command.ERROR_RESPONSE if fail else Command.WRITE_RESPONSE
        case = Case(flits(packet), completion(header_request(flits(packet)), response))
        keys.sent(source, tag, name, lane)
        self.scoreboards[lane].expect(case)
        self.writes += 1
        words = case.flits
        for index, flit in enumerate(words):
            self.flits[lane].append(flit | int(index == len(words) - 1) << _LAST_OFFSET)

    # -- checking --------------------------------------------------------------------------

    def check(self, read: Callable[[str], int]) -> None:
        cycle, expected, values = self.cycle, self.expected, self.values
        for name, value in expected.items():
            got = read(name)
            if got != value:
                raise Mismatch(f"cycle {cycle}: {name} is {got:#x} in the RTL, {value:#x} in "
                               "the model")
        self.model.tick(values)
        progress = False
        for lane in range(LANES):
            progress |= self._follow(lane)
        self.idle = 0 if progress else self.idle + 1
        if self.idle > 10_000:
            raise Mismatch(f"cycle {cycle}: no flit, beat or response for {self.idle} cycles")
        self.cycle += 1
        if self.drained_at is None and self._drained():
            self.drained_at = self.cycle

    def _follow(self, lane: int) -> bool:
        """The handshakes of far side ``lane`` in this cycle; whether any happened."""
        expected, values = self.expected, self.values
        progress = False
        if values[f"request.{lane}.valid"] and expected[f"request.{lane}.ready"]:
            values[f"request.{lane}.valid"] = 0
            progress = True
        port = f"m_axi.{lane}."
        out = {name: expected[port + name]
               for name in ("awvalid", "wvalid", "arvalid", "bready", "rready")}
        for channel, names in (("aw", AW_FIELDS), ("w", W_FIELDS), ("ar", AR_FIELDS)):
            if out[f"{channel}valid"]:
                out.update((name, expected[port + name]) for name in names)
        axi = self.axi[lane]
        if out["wvalid"]:
            out["wdata"], _ = self.wdata[lane].strobed(out["wdata"], out["wstrb"],
                                                       axi.ready["w"])
        progress |= any(out[f"{channel}valid"] and axi.ready[channel]
                        for channel in ("aw", "w", "ar"))
        progress |= bool(axi.b_valid and out["bready"])
        axi.observe(out)
        if values[f"completion.{lane}.ready"] and expected[f"completion.{lane}.valid"]:
            word = expected[f"completion.{lane}.payload"]
            last = bool(word >> _LAST_OFFSET & 1)
            scoreboard = self.scoreboards[lane]
            scoreboard.flit(word & _FLIT_MASK, last)
            if last:
                answer = scoreboard.last_key
                self.keys.answered(*answer, lane)
                if answer in self.must_finish:
                    self.must_finish.discard(answer)
                    self.finished_in_window += self._dead()
            progress = True
        return progress

    def finish(self) -> dict[str, object]:
        """After the last cycle: everything answered, each key carried out once, memory and
        counters as the reference says; a summary."""
        for scoreboard in self.scoreboards:
            scoreboard.assert_drained()
        for axi in self.axi:
            axi.assert_drained()
        assert not self.bursts, f"{len(self.bursts)} keys never carried out"
        assert self.axi[0].memory.contents == self.reference.memory.contents, "memory differs"
        duplicates = sum(self.expected[f"duplicates.{lane}"] for lane in range(LANES))
        if duplicates != self.writes - self.keys_sent:
            raise Mismatch(f"duplicates: {duplicates} answered, "
                           f"{self.writes - self.keys_sent} copies beyond the first sent")
        for lane in range(LANES):
            for name in ("refused_requests", "unsupported"):
                if self.expected[f"{name}.{lane}"]:
                    raise Mismatch(f"{name}.{lane} is {self.expected[f'{name}.{lane}']}")
        return {"cycles": self.cycle, "writes": self.writes, "keys": self.keys_sent,
                "dead window": self.window,
                "duplicates": {lane: self.expected[f"duplicates.{lane}"]
                               for lane in range(LANES)},
                "bursts": {lane: len(self.axi[lane].aw_cycles) for lane in range(LANES)},
                "waiting cycles": {lane: far_side.waiting_cycles for lane, far_side
                                   in enumerate(self.model.responders)},
                "answered in the dead window": self.finished_in_window,
                "features": dict(self.counts)}
