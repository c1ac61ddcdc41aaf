"""TagTranslate against its cycle model, cycle for cycle, in Amaranth's simulator; the
reference's retries against what it hands over; and its Verilog through Verilator's lint.

Random request packets as lanes make them (a random lane, ``READ_TAG_FLAG`` at random, the
lane's tag a pool index, a header of random bits with ``has_address_extension`` and the link
header's ``length`` true to the payload: an address extension flit, now and then one of a retry
already, a byte-enable flit and up to 16 data flits for a write; at most the extension flit for
a read) with random pauses; completions for the plane tags handed out, in random order (0 to
16 payload flits), and strays (an index past the pool, a free index, an index in use with the
other generation); random back-pressure on every output and random words on payloads while
valid is low. The completion source holds back now and then until a request has waited for a
tag, so the pools run empty. Every output port is compared in every cycle
(``testbench.part_lockstep``).

Failure scenarios: ``toggle`` takes ``plane_up`` low now and then (half the time while a request
packet is part-way in), keeps it low while the far side still sends completions (abandoned)
until everything is handed over, then raises it; ``timeout`` keeps the plane up and lets the
held-back completions exceed a time-out of 200 cycles; ``early`` raises ``plane_up`` again
while a retry is part-way out, so the plane stays failed until its last flit, and the requests
whose completions were dropped then time out. Each run ends with the plane failed and
everything handed over.

Besides, independent of the model: ``usable`` and ``drained`` as specified; every request
leaves whole with only its tag changed; no plane tag is handed out while in use and
consecutive uses of an index differ in generation; every completion of a kept request reaches
its lane with that lane's tag; every request taken is either completed or comes out once on
``retry_out``, the oldest kept first, equal to :func:`emulator.ref.chiplet.retry_packet`; the
counters count what they should. These checks run on the model alone too, where they must
pass, and fail each planted fault that changes what comes out. A run of 17-flit writes with no
back-pressure must take a flit every cycle. ``CYCLES`` sets the length of each run.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections import deque
from dataclasses import dataclass, field

import pytest
from amaranth.back import verilog

from emulator.cycle.chiplet_parts import TagPoolModel
from emulator.cycle.tag_translate import TagTranslateModel
from emulator.ref.chiplet import retry_packet
from hdl.chiplet.packet_merge import index_bits
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.tag_translate import GENERATION_FLAG, INDEX_FIELD_BITS, RetryPhase, TagTranslate
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_FLITS,
    MAX_PAYLOAD_FLITS,
    TAG_BITS,
    field_reader,
    field_writer,
    pack,
)
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.lint import WAIVERS
from hdl.params import ChipletParams, LinkParams
from hdl.toolchain import verilator_binary
from testbench.part_lockstep import Mismatch, run_lockstep

CYCLES = int(os.environ.get("CYCLES", 4_000))
#: The plane under test, as ``retry_plane`` names it.
PLANE = 5
_LAST = 1 << DELIVERED_FLIT["last"].offset
_FLIT_MASK = (1 << FLIT_BITS) - 1
_TRANSACTION = ("message", "transaction")
_tag = field_reader(HEADER_BODY, *_TRANSACTION, "tag")
_destination = field_reader(HEADER_BODY, *_TRANSACTION, "destination")
_set_tag = field_writer(HEADER_BODY, *_TRANSACTION, "tag")
_has_extension = field_reader(HEADER_BODY, *_TRANSACTION, "has_address_extension")
_set_extension = field_writer(HEADER_BODY, *_TRANSACTION, "has_address_extension")
_set_byte_enable = field_writer(HEADER_BODY, *_TRANSACTION, "has_byte_enable")
_set_length = field_writer(HEADER_BODY, "link", "length")
_is_retry = field_reader(ADDRESS_EXTENSION_FLIT, "retry")
_INDEX_MASK = (1 << INDEX_FIELD_BITS) - 1


def _completion_packet(rng: random.Random, tag: int, payload_flits: int) -> list[int]:
    """A packet as ``DELIVERED_FLIT`` words: a header of random bits with ``tag``, then
    ``payload_flits`` random flits; ``last`` on the final word."""
    words = [_set_tag(rng.getrandbits(HEADER_BODY.size), tag)]
    words += [rng.getrandbits(FLIT_BITS) for _ in range(payload_flits)]
    words[-1] |= _LAST
    return words


def _packet_is_retry(words: list[int]) -> bool:
    """The request (``DELIVERED_FLIT`` words) repeats an earlier one: its extension flit has
    ``retry`` set."""
    return bool(_has_extension(words[0]) and _is_retry(words[1] & _FLIT_MASK))


def _request_packet(rng: random.Random, tag: int, retry_rate: float,
                    full_write: bool = False) -> list[int]:
    """A request as a lane sends it, as ``DELIVERED_FLIT`` words: a header of random bits
    with ``tag``, the extension and byte-enable flags and the length true to its payload. A
    read has at most an extension flit; a write up to 16 data flits (8 with byte enables).
    ``full_write``: a write of 16 data flits and nothing else (17 flits)."""
    read = tag & READ_TAG_FLAG
    extension = not full_write and rng.random() < 0.5
    enables = not read and not full_write and rng.random() < 0.2
    if full_write:
        data = MAX_DATA_FLITS
    elif read:
        data = 0
    else:
        data = rng.randrange(MAX_DATA_FLITS // (2 if enables else 1) + 1)
    payload = []
    if extension:
        retry = rng.random() < retry_rate
        payload.append(pack(ADDRESS_EXTENSION_FLIT, {
            "address_high": rng.getrandbits(24), "retry": int(retry),
            "retry_plane": rng.getrandbits(8) if retry else 0,
            "retry_tag": rng.getrandbits(TAG_BITS) if retry else 0}))
    if enables:
        payload.append(rng.getrandbits(FLIT_BITS))
    payload += [rng.getrandbits(FLIT_BITS) for _ in range(data)]
    header = _set_tag(rng.getrandbits(HEADER_BODY.size), tag)
    header = _set_extension(_set_byte_enable(header, int(enables)), int(extension))
    words = [_set_length(header, len(payload)), *payload]
    words[-1] |= _LAST
    return words


class Source:
    """Offers packets on ``prefix`` (``.valid``, ``.payload``), holding a word until taken;
    pauses between words; random payload while valid is low."""

    def __init__(self, rng: random.Random, prefix: str, pause: float) -> None:
        self.rng, self.prefix, self.pause = rng, prefix, pause
        self.words: deque[int] = deque()
        self.valid = 0
        self.payload = 0
        self.at_header = True  # the word offered (or next) is a header

    @property
    def idle(self) -> bool:
        return not self.words and not self.valid

    def drive(self, values: dict[str, int]) -> None:
        if not self.valid:
            if self.words and self.rng.random() >= self.pause:
                self.valid, self.payload = 1, self.words.popleft()
            elif self.rng.random() < 0.5:
                self.payload = self.rng.getrandbits(DELIVERED_FLIT.size)
        values[f"{self.prefix}.valid"] = self.valid
        values[f"{self.prefix}.payload"] = self.payload

    def taken(self, ready: int) -> bool:
        """Whether the word offered was taken in this cycle."""
        if self.valid and ready:
            self.valid = 0
            self.at_header = bool(self.payload & _LAST)
            return True
        return False


@dataclass
class Kept:
    """A request the plane took and keeps."""

    number: int  #: in the order requests were taken
    lane: int
    lane_tag: int  #: the tag its lane gave it (``READ_TAG_FLAG`` and the lane's index)
    plane_tag: int  #: the tag it left with
    sent: int  #: the cycle its header was taken
    offered: list[int]  #: as the lane offered it
    flits: list[int] = field(default_factory=list)  #: as it left on ``request_out``

    @property
    def key(self) -> tuple[int, int]:
        return (self.plane_tag & READ_TAG_FLAG, self.plane_tag & _INDEX_MASK)


@dataclass
class Options:
    """How a run is driven."""

    scenario: str = "toggle"  #: "toggle", "timeout", "early" or "steady"
    request_pause: float = 0.15
    completion_pause: float = 0.15
    request_ready: float = 0.75  #: chance ``request_out.ready`` is high
    lane_ready: float = 0.7
    retry_ready: float = 0.8
    stray_rate: float = 0.05
    retry_rate: float = 0.25  #: of requests with an extension flit, those already retries
    hold: bool = True  #: completions held back now and then until a tag was waited for
    answer_rate: float = 0.8  #: chance the far side answers when it may
    answer_window: int = 1 << 20  #: it answers one of this many oldest requests not answered
    completion_flits: int = MAX_PAYLOAD_FLITS // 2  #: payload flits of a completion, fewer than


class RetryStimulus:
    """Requests and completions into a ``TagTranslate``, ``plane_up`` as the scenario says,
    and the checks on what comes out. New requests stop after ``cycles``; then the plane is
    taken down and the run is ``done`` once everything is handed over."""

    def __init__(self, rng: random.Random, params: ChipletParams, lanes: int, timeout: int,
                 cycles: int, options: Options) -> None:
        self.rng, self.lanes, self.timeout, self.cycles = rng, lanes, timeout, cycles
        self.options = options
        self.tags = params.outstanding_tags
        self.requests = Source(rng, "request_in", options.request_pause)
        self.completions = Source(rng, "completion_in", options.completion_pause)
        self.values: dict[str, int] = {}
        self.lane = 0  # of the request packet being offered
        self.offered: deque[tuple[int, list[int]]] = deque()  # (lane, words) not yet taken
        #: Requests taken and kept, in send order, by (READ_TAG_FLAG, index).
        self.kept: dict[tuple[int, int], Kept] = {}
        self.leaving: Kept | None = None  # the request whose flits are leaving
        self.awaiting: list[Kept] = []  # left whole, no completion sent yet
        self.outcome: dict[int, str] = {}  # request number: "completed" or "retried"
        self.taken = 0  # requests taken
        self.generations: dict[tuple[int, int, int], int] = {}  # latest per destination
        self.arriving_to: int | None = None  # the lane of the completion taken, None: dropped
        self.expected: list[list[int]] = [[] for _ in range(lanes)]  # flits per lane
        self.received: list[list[int]] = [[] for _ in range(lanes)]
        # The plane.
        self.plane_up = 1
        # The first fall lets the pools run empty first, and waits for a packet part-way.
        self.fall_at = cycles * 2 // 5 if options.scenario == "toggle" else rng.randrange(
            300, 900)
        self.mid_packet = True  # wait for a packet part-way in to fall
        self.down_since = 0
        self.rise_after = 0
        self.latched = False  # the time-out has failed the plane
        self.busy = False  # a retry is part-way out on ``retry_out``
        self.retrying: list[int] | None = None  # the expected words of that retry
        self.retry_position = 0
        self.done = False
        # What happened.
        self.holding = False  # no completions until a request has waited for a tag
        self.waits_held = 0
        self.hold_at = rng.randrange(200, 500)
        self.waits = 0  # cycles a request header waited for a tag
        self.requests_out = 0
        self.request_flits = 0  # flits taken on request_in
        self.completions_in = 0
        self.completed = 0
        self.strays = 0
        self.strays_sent = {"beyond": 0, "free": 0, "generation": 0}
        self.abandoned = 0
        self.retried = 0
        self.retries_of_retries = 0
        self.falls = 0
        self.rises = 0
        self.falls_mid_packet = 0
        self.timeouts = 0
        self.held_failed = 0  # cycles the plane was up but failed by a retry under way
        self.refused = 0  # cycles a header waited because the plane was failed
        self.both = 0  # cycles a tag was freed and one handed out
        self.swaps = 0  # of them, cycles one pool took a tag back and handed one out

    # -- stimulus --------------------------------------------------------------------------

    def _next_request(self) -> None:
        rng = self.rng
        self.lane = rng.randrange(self.lanes)
        steady = self.options.scenario == "steady"
        tag = (0 if steady else READ_TAG_FLAG * rng.getrandbits(1)) | rng.randrange(self.tags)
        packet = _request_packet(rng, tag, self.options.retry_rate, full_write=steady)
        self.requests.words.extend(packet)
        self.offered.append((self.lane, packet))

    def _next_completion(self, cycle: int) -> None:
        rng = self.rng
        if self.holding and self.waits > self.waits_held and rng.random() < 0.05:
            self.holding, self.hold_at = False, cycle + rng.randrange(200, 800)
        elif self.options.hold and not self.holding and cycle >= self.hold_at:
            self.holding, self.waits_held = True, self.waits
        in_use = {request.key: request for request in self.kept.values()}
        if rng.random() < self.options.stray_rate * (0.1 if self.holding or not self.awaiting
                                                     else 1):
            read = READ_TAG_FLAG * rng.getrandbits(1)
            free = [index for index in range(self.tags) if (read, index) not in in_use]
            kind = rng.choice(("beyond", "free", "generation"))
            if kind == "beyond" and self.tags < 1 << INDEX_FIELD_BITS:
                tag = read | GENERATION_FLAG * rng.getrandbits(1) | rng.randrange(
                    self.tags, 1 << INDEX_FIELD_BITS)
            elif kind == "free" and free:
                tag = read | GENERATION_FLAG * rng.getrandbits(1) | rng.choice(free)
            elif kind == "generation" and in_use:
                tag = rng.choice(list(in_use.values())).plane_tag ^ GENERATION_FLAG
            else:
                return
            self.strays_sent[kind] += 1
        elif (self.awaiting and not self.holding and not self._silent(cycle)
              and rng.random() < self.options.answer_rate):
            request = self.awaiting.pop(rng.randrange(min(len(self.awaiting),
                                                          self.options.answer_window)))
            if self.outcome.get(request.number) == "retried" and self.plane_up:
                return  # a late answer to a request handed over: only while the plane is down
            tag = request.plane_tag
        else:
            return
        self.completions.words.extend(
            _completion_packet(rng, tag, rng.randrange(self.options.completion_flits)))

    def _silent(self, cycle: int) -> bool:
        """The far side stops answering a while: past the time-out in the ``timeout``
        scenario, before and as the plane falls in ``early`` (so requests are kept)."""
        if self.options.scenario == "timeout":
            return self.fall_at <= cycle < self.fall_at + self.timeout + 200
        return self.options.scenario == "early" and -100 <= cycle - self.fall_at < 40

    def _drive_plane(self, cycle: int) -> None:
        rng, scenario = self.rng, self.options.scenario
        part_way = not self.requests.at_header
        if cycle >= self.cycles:
            up = 0
            if self.requests.at_header:  # the lane takes what it has not sent elsewhere
                self.requests.words.clear()
                self.requests.valid = 0
                self.offered.clear()
        elif scenario in ("steady", "timeout"):
            up = 1
        elif self.plane_up:
            up = int(not (cycle >= self.fall_at and (self.waits or not self.options.hold)
                          and (part_way or not self.mid_packet or cycle >= self.fall_at + 200)))
            if scenario == "early" and self.falls:
                up = 1  # once only
        elif scenario == "early":
            # Down long enough to drop completions of requests not yet handed over.
            up = int(self.busy and self.retry_position > 0 and cycle >= self.down_since + 60)
            self.rises += up
        else:
            up = int(cycle >= self.rise_after and not self.kept and self.completions.idle
                     and not part_way)
            if up:
                self.rises += 1
                self.fall_at = cycle + rng.randrange(300, 1200)
                self.mid_packet = rng.random() < 0.5
        if self.plane_up and not up:
            self.falls += 1
            self.falls_mid_packet += part_way
            self.rise_after = cycle + rng.randrange(20, 300)
            self.down_since = cycle
        self.plane_up = up

    def inputs(self, cycle: int) -> dict[str, int]:
        rng, values, options = self.rng, self.values, self.options
        if cycle < self.cycles and not self.requests.words and not self.requests.valid:
            self._next_request()
        if not self.completions.words and not self.completions.valid:
            self._next_completion(cycle)
        self._drive_plane(cycle)
        self.requests.drive(values)
        self.completions.drive(values)
        header_due = self.requests.valid and self.requests.at_header
        values["request_lane"] = self.lane if header_due else rng.getrandbits(
            index_bits(self.lanes))
        # A handed-over retry comes from another plane's hand-over, which the top tells.
        # While no header is due it must not matter: it toggles.
        values["request_retry"] = int(_packet_is_retry(self.offered[0][1])) if header_due \
            else cycle & 1
        values["request_out.ready"] = int(rng.random() < options.request_ready)
        for lane in range(self.lanes):
            values[f"completion_out.{lane}.ready"] = int(rng.random() < options.lane_ready)
        values["plane_up"] = self.plane_up
        slow = options.scenario == "early" and not self.plane_up  # the hand-over lags
        values["retry_out.ready"] = int(rng.random() < (0.1 if slow else options.retry_ready))
        return values

    # -- checks ----------------------------------------------------------------------------

    def observe(self, cycle: int, outputs) -> None:
        values = self.values
        failed = not values["plane_up"] or self.latched or self.busy
        part_way = not self.requests.at_header
        assert outputs["usable"] == (not failed), f"cycle {cycle}: usable"
        assert outputs["drained"] == (not self.kept and not part_way), f"cycle {cycle}: drained"
        self.held_failed += bool(values["plane_up"] and failed and not self.latched)
        oldest = next(iter(self.kept.values()), None)
        if oldest is not None and cycle - oldest.sent > self.timeout and not self.latched:
            self.latched = True  # failed from the next cycle
            self.timeouts += 1

        # The counters count up to the last cycle.
        assert outputs["stray_completions"] == self.strays, f"cycle {cycle}"
        assert outputs["abandoned_completions"] == self.abandoned, f"cycle {cycle}"
        assert outputs["retried"] == self.retried, f"cycle {cycle}"
        freed = self._completion(cycle, outputs, failed)
        self._request(cycle, outputs, failed, freed)
        self._retry(cycle, outputs, failed, part_way)
        if (cycle >= self.cycles and self.requests.idle and self.completions.idle
                and not self.kept and not self.busy and not values["plane_up"]):
            self.done = True

    def _completion(self, cycle: int, outputs, failed: bool) -> int | None:
        """Completions first: a tag freed and one handed out in one cycle are different tags.
        The direction of the tag freed in this cycle, if any."""
        values = self.values
        word = values["completion_in.payload"]
        header = self.completions.at_header
        freed = None
        if self.completions.taken(outputs["completion_in.ready"]):
            if header:
                self.completions_in += 1
                tag = _tag(word)
                key = (tag & READ_TAG_FLAG, tag & _INDEX_MASK)
                request = next((kept for kept in self.kept.values() if kept.key == key), None)
                self.arriving_to = None
                if failed:
                    self.abandoned += 1
                elif request is not None and request.plane_tag == tag:
                    del self.kept[key]
                    self._resolve(request, "completed")
                    self.completed += 1
                    self.arriving_to = request.lane
                    freed = key[0]
                    word = _set_tag(word, request.lane_tag)
                else:
                    self.strays += 1
            if self.arriving_to is not None:
                self.expected[self.arriving_to].append(word)
        for lane in range(self.lanes):
            port = f"completion_out.{lane}"
            if outputs[f"{port}.valid"] and values[f"{port}.ready"]:
                self.received[lane].append(outputs[f"{port}.payload"])
        return freed

    def _request(self, cycle: int, outputs, failed: bool, freed: int | None) -> None:
        values, requests = self.values, self.requests
        if requests.valid and requests.at_header and not outputs["request_out.valid"]:
            assert not outputs["request_in.ready"], f"cycle {cycle}: a header went untranslated"
            if failed:
                self.refused += 1
            else:
                self.waits += 1
        if outputs["request_out.valid"] and values["request_out.ready"]:
            assert outputs["request_in.ready"] and requests.valid
            assert not (failed and requests.at_header), f"cycle {cycle}: a header while failed"
            word = outputs["request_out.payload"]
            if requests.at_header:
                self._header_left(cycle, word)
                self.both += freed is not None
                self.swaps += freed == _tag(word) & READ_TAG_FLAG
            self.leaving.flits.append(word)
        if requests.taken(outputs["request_in.ready"]) and cycle < self.cycles:
            self.request_flits += 1
        if self.leaving is not None and self.leaving.flits[-1] & _LAST:
            self._request_left(cycle)

    def _header_left(self, cycle: int, word: int) -> None:
        """The plane tag is taken with the header, and in use from the next cycle."""
        lane, packet = self.offered.popleft()
        lane_tag, plane_tag = _tag(packet[0]), _tag(word)
        read, index = plane_tag & READ_TAG_FLAG, plane_tag & _INDEX_MASK
        assert read == lane_tag & READ_TAG_FLAG, f"cycle {cycle}: READ_TAG_FLAG changed"
        assert index < self.tags, f"cycle {cycle}: plane tag {index} is past the pool"
        assert all(kept.key != (read, index) for kept in self.kept.values()), \
            f"cycle {cycle}: tag {plane_tag:#x} in use"
        # Per destination: a far side sees only the uses of a tag that come to it.
        generation = int(bool(plane_tag & GENERATION_FLAG))
        key = (read, index, _destination(packet[0]))
        if _packet_is_retry(packet):  # keeps the generation of the last first sending
            assert generation == self.generations.get(key, 0), \
                f"cycle {cycle}: retry with tag {plane_tag:#x} changed the generation"
        else:
            assert generation != self.generations.get(key, 0), \
                f"cycle {cycle}: tag {plane_tag:#x} repeats its last generation to one place"
        self.generations[key] = generation
        self.leaving = Kept(self.taken, lane, lane_tag, plane_tag, cycle, packet)
        self.kept[(read, index)] = self.leaving
        self.taken += 1

    def _request_left(self, cycle: int) -> None:
        """A request packet has left whole: only its tag changed; it may be answered now."""
        request, self.leaving = self.leaving, None
        got, packet = request.flits, request.offered
        assert got == [_set_tag(packet[0], request.plane_tag)] + packet[1:], f"cycle {cycle}"
        self.awaiting.append(request)
        self.requests_out += 1

    def _retry(self, cycle: int, outputs, failed: bool, part_way: bool) -> None:
        handing = failed and not part_way and bool(self.kept)
        assert outputs["retry_out.valid"] == handing, f"cycle {cycle}: retry_out.valid"
        if not handing:
            return
        oldest = next(iter(self.kept.values()))
        if self.retrying is None:
            flits = [word & _FLIT_MASK for word in oldest.flits]
            self.retrying = retry_packet(flits, PLANE, oldest.plane_tag, oldest.lane_tag)
            self.retrying[-1] |= _LAST
            self.retry_position = 0
        expected = self.retrying[self.retry_position]
        got = outputs["retry_out.payload"]
        assert got == expected, (f"cycle {cycle}: retry flit {self.retry_position} of request "
                                 f"{oldest.number} is {got:#x}, not {expected:#x}")
        assert outputs["retry_lane"] == oldest.lane, f"cycle {cycle}: retry_lane"
        self.busy = True
        if not self.values["retry_out.ready"]:
            return
        self.retry_position += 1
        if expected & _LAST:
            del self.kept[oldest.key]
            self._resolve(oldest, "retried")
            self.retried += 1
            if _has_extension(oldest.flits[0]):
                self.retries_of_retries += _is_retry(oldest.flits[1] & _FLIT_MASK)
            self.retrying, self.busy = None, False

    def _resolve(self, request: Kept, outcome: str) -> None:
        assert request.number not in self.outcome, \
            f"request {request.number} was {self.outcome[request.number]} already"
        self.outcome[request.number] = outcome

    def check_end(self) -> None:
        """Every request taken was completed or handed over, once."""
        assert self.done, "the run ended before everything was handed over"
        assert sorted(self.outcome) == list(range(self.taken))
        assert self.received == self.expected


def run(params: ChipletParams, lanes: int, seed: int, cycles: int = CYCLES,
        options: Options | None = None, timeout: int = 10_000,
        model: TagTranslateModel | None = None) -> tuple[RetryStimulus, float]:
    options = options or Options()
    stimulus = RetryStimulus(random.Random(seed), params, lanes, timeout, cycles, options)
    model = model or TagTranslateModel(params, lanes, PLANE, timeout)
    seconds = run_lockstep(TagTranslate(params, lanes, PLANE, timeout), model, stimulus,
                           cycles + 20_000, until=lambda: stimulus.done)
    stimulus.check_end()
    return stimulus, seconds


def run_model(params: ChipletParams, lanes: int, seed: int, model: TagTranslateModel,
              options: Options, timeout: int, cycles: int = CYCLES) -> RetryStimulus:
    """The checks of :class:`RetryStimulus` on the model alone, without the RTL."""
    stimulus = RetryStimulus(random.Random(seed), params, lanes, timeout, cycles, options)
    for cycle in range(cycles + 20_000):
        values = dict(stimulus.inputs(cycle))
        outputs = model.comb(values)
        stimulus.observe(cycle, outputs)
        model.tick(values)
        if stimulus.done:
            break
    stimulus.check_end()
    return stimulus


def _report(name: str, stimulus: RetryStimulus, seconds: float) -> str:
    s = stimulus
    return (f"{name}: {s.taken} requests taken ({s.completed} completed, {s.retried} retried, "
            f"{s.retries_of_retries} of them retries already), {s.completions_in} completions "
            f"({s.strays} strays: {s.strays_sent}, {s.abandoned} abandoned), {s.falls} falls "
            f"({s.falls_mid_packet} mid-packet), {s.rises} rises, {s.timeouts} time-outs, "
            f"{s.waits} cycles waiting for a tag, {s.refused} refused while failed, "
            f"{s.held_failed} failed by a retry under way; {s.both} a tag freed and one "
            f"taken ({s.swaps} in one pool); {seconds:.1f} s")


@pytest.mark.parametrize(("lanes", "tags"),
                         [(1, 1), (1, 64), (2, 4), (4, 64), (36, 4), (36, 64), (4, 5)])
def test_tag_translate_matches_rtl(lanes: int, tags: int) -> None:
    """Planes falling and coming back, with everything checked."""
    params = ChipletParams(outstanding_tags=tags)
    stimulus, seconds = run(params, lanes, seed=lanes * 1000 + tags)
    print(_report(f"{lanes} lanes, {tags} tags", stimulus, seconds))
    assert stimulus.requests_out > CYCLES // 30
    assert stimulus.completed > CYCLES // 60
    assert stimulus.waits > 0, "the pools were never seen empty"
    assert stimulus.both > 0
    used = sum(1 for flits in stimulus.received if flits)
    assert used == lanes if lanes <= 4 else used > lanes // 2, f"{used} lanes answered"
    assert stimulus.strays_sent["free"] > 0 and stimulus.strays_sent["generation"] > 0
    assert stimulus.strays > 0 and (stimulus.strays_sent["beyond"] > 0 or tags == 64)
    assert stimulus.rises >= 1 and stimulus.falls_mid_packet > 0
    assert stimulus.retried > 0 and stimulus.abandoned > 0 and stimulus.refused > 0
    assert stimulus.retries_of_retries > 0
    assert stimulus.timeouts == 0


@pytest.mark.parametrize(("scenario", "timeout", "lanes", "tags"),
                         [("timeout", 200, 4, 4), ("timeout", 200, 2, 64),
                          ("early", 400, 4, 5), ("early", 400, 1, 64)])
def test_failure_scenarios(scenario: str, timeout: int, lanes: int, tags: int) -> None:
    """A time-out: by completions held back, or after ``plane_up`` rose while a retry was
    part-way out (the completions dropped while it was down belong to requests still
    kept)."""
    params = ChipletParams(outstanding_tags=tags)
    options = Options(scenario=scenario, hold=False, answer_rate=1, answer_window=4,
                      completion_flits=4)
    stimulus, seconds = run(params, lanes, seed=tags * 7 + lanes, cycles=CYCLES // 2,
                            options=options, timeout=timeout)
    print(_report(f"{scenario}, {lanes} lanes, {tags} tags", stimulus, seconds))
    assert stimulus.timeouts == 1 and stimulus.retried > 0 and stimulus.abandoned > 0
    assert stimulus.completed > 0
    if scenario == "early":
        assert stimulus.held_failed > 0 and stimulus.rises == 1


def test_full_throughput() -> None:
    """17-flit writes back to back, no back-pressure: one flit taken every cycle."""
    params = ChipletParams(outstanding_tags=4)
    cycles = CYCLES // 3
    options = Options(scenario="steady", request_pause=0, completion_pause=0, request_ready=1,
                      lane_ready=1, retry_ready=1, stray_rate=0, hold=False)
    stimulus, _ = run(params, 2, seed=3, cycles=cycles, options=options)
    assert stimulus.request_flits == cycles, "a cycle without a request flit taken"


def test_retry_packet() -> None:
    """The reference's retry: lane tag, extension flit added or named, a retry's kept."""
    rng = random.Random(5)
    read = READ_TAG_FLAG | 3
    plane_tag = READ_TAG_FLAG | GENERATION_FLAG | 9
    words = [word & _FLIT_MASK for word in _request_packet(rng, read, 0)]
    while len(words) != 1:
        words = [word & _FLIT_MASK for word in _request_packet(rng, read, 0)]
    header, extension = retry_packet(words, 2, plane_tag, read)
    assert _tag(header) == read
    assert _has_extension(header) == 1
    assert field_reader(HEADER_BODY, "link", "length")(header) == 1
    assert extension == pack(ADDRESS_EXTENSION_FLIT,
                             {"retry": 1, "retry_plane": 2, "retry_tag": plane_tag})
    again = retry_packet([_set_tag(header, plane_tag ^ GENERATION_FLAG), extension], 7, 0x11,
                         read)
    assert again == [header, extension], "a retry of a retry keeps the first names"


class _ToLaneZero(TagTranslateModel):
    """A planted fault: every completion goes to lane 0."""

    def _completion(self, inputs, failed):
        return super()._completion(inputs, failed)._replace(lane=0)


class _LatePool(TagPoolModel):
    """A tag pool that takes a tag back a cycle late."""

    __slots__ = ("pending",)

    def __init__(self, params: ChipletParams) -> None:
        super().__init__(params)
        self.pending = (False, 0)

    def tick(self, take: bool, give: bool, given: int) -> None:
        super().tick(take, *self.pending)
        self.pending = (give, given)


class _LateFree(TagTranslateModel):
    """A planted fault: a freed tag goes back to its pool a cycle late."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.pools = [_LatePool(self.params), _LatePool(self.params)]


class _NewestFirst(TagTranslateModel):
    """A planted fault: the hand-over starts from the newest kept request."""

    def _retry_entry(self) -> int:
        return self.tail


class _PlaneTagKept(TagTranslateModel):
    """A planted fault: a retry's header keeps the plane tag."""

    def _retry_word(self, stored: int, lane_tag: int, plane_tag: int) -> int:
        word = super()._retry_word(stored, lane_tag, plane_tag)
        return _set_tag(word, _tag(stored)) if self.phase == RetryPhase.HEADER else word


class _RenamesRetries(TagTranslateModel):
    """A planted fault: a retry of a retry is named after this plane."""

    def _retry_word(self, stored: int, lane_tag: int, plane_tag: int) -> int:
        if self.phase == RetryPhase.EXTENSION:
            return self._named(stored, plane_tag)
        return super()._retry_word(stored, lane_tag, plane_tag)


class _NoGeneration(TagTranslateModel):
    """A planted fault: a completion matches its index whatever its generation."""

    def _matched(self, read: int, index: int, tag: int) -> bool:
        return bool(self.in_use[read] >> index & 1)


class _EarlyTimeout(TagTranslateModel):
    """A planted fault: the plane fails when its oldest request has waited ``timeout``
    cycles, one too few."""

    def __init__(self, params, lanes, plane, timeout) -> None:
        super().__init__(params, lanes, plane, timeout - 1)


class _Restless(TagTranslateModel):
    """Evaluates random inputs before each real evaluation: passes only if ``comb`` changes
    nothing."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.rng = random.Random(11)

    def comb(self, inputs):
        super().comb({name: self.rng.getrandbits(width)
                      for name, width in self.input_widths.items()})
        return super().comb(inputs)


def test_comb_changes_nothing() -> None:
    params = ChipletParams(outstanding_tags=4)
    stimulus, _ = run(params, 4, seed=9, cycles=CYCLES // 3,
                      model=_Restless(params, 4, PLANE, 10_000))
    assert stimulus.retried and stimulus.completed


@pytest.mark.parametrize(("fault", "scenario"),
                         [(_ToLaneZero, "toggle"), (_LateFree, "toggle"),
                          (_NewestFirst, "toggle"), (_PlaneTagKept, "toggle"),
                          (_RenamesRetries, "toggle"), (_NoGeneration, "toggle"),
                          (_EarlyTimeout, "timeout")])
def test_planted_fault_is_caught(fault: type[TagTranslateModel], scenario: str) -> None:
    params = ChipletParams(outstanding_tags=4)
    timeout = 200 if scenario == "timeout" else 10_000
    options = Options(scenario=scenario, retry_rate=0.5)
    if scenario == "timeout":
        options = Options(scenario=scenario, hold=False, answer_rate=1, answer_window=4,
                          completion_flits=4)
    with pytest.raises(Mismatch, match=r"cycle \d+: \S+ is 0x[0-9a-f]+ in the RTL, "
                                       r"0x[0-9a-f]+ in the model"):
        run(params, 4, seed=7, options=options, timeout=timeout,
            model=fault(params, 4, PLANE, timeout))


@pytest.mark.parametrize(("fault", "scenario"),
                         [(None, "toggle"), (None, "timeout"), (_ToLaneZero, "toggle"),
                          (_NewestFirst, "toggle"), (_PlaneTagKept, "toggle"),
                          (_RenamesRetries, "toggle"), (_NoGeneration, "toggle"),
                          (_EarlyTimeout, "timeout")])
def test_checks_catch_faults_without_rtl(fault: type[TagTranslateModel] | None,
                                         scenario: str) -> None:
    """The stimulus's own checks (the reference's retries, the send order, ``usable``, the
    counters, each lane's completions) pass the model and fail each planted fault."""
    params = ChipletParams(outstanding_tags=4)
    timeout = 200 if scenario == "timeout" else 10_000
    options = Options(scenario=scenario, retry_rate=0.5)
    if scenario == "timeout":
        options = Options(scenario=scenario, hold=False, answer_rate=1, answer_window=4,
                          completion_flits=4)
    model = (fault or TagTranslateModel)(params, 4, PLANE, timeout)
    if fault is None:
        run_model(params, 4, 7, model, options, timeout)
    else:
        with pytest.raises(AssertionError):
            run_model(params, 4, 7, model, options, timeout)


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_verilog_lints_clean(lanes: int, tmp_path) -> None:
    for tags in (4, 5, 64):
        params = ChipletParams(outstanding_tags=tags)
        timeout = params.completion_timeout_cycles(LinkParams())
        path = tmp_path / f"tag_translate_{tags}.v"
        path.write_text(verilog.convert(TagTranslate(params, lanes, lanes - 1, timeout),
                                        name="tag_translate"))
        result = subprocess.run([str(verilator_binary()), "--lint-only", "-Wall", str(WAIVERS),
                                 str(path), "--top-module", "tag_translate"],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
