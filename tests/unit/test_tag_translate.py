"""TagTranslate against its cycle model, cycle for cycle, in Amaranth's simulator; and its
Verilog through Verilator's lint.

Random request packets (a random lane, ``READ_TAG_FLAG`` at random, the lane's tag a pool
index, every other header bit random, 0 to 17 payload flits) with random pauses; completions
for the plane tags handed out, in random order (0 to 16 payload flits), and strays (an index
past the pool, or a tag not in use); random back-pressure on every output and random words on
payloads while valid is low. The completion source holds back now and then until a request
has waited for a tag, so the pools run empty. Every output port is compared in every cycle
(``testbench.part_lockstep``); besides, every request leaves whole with only its tag changed,
no plane tag is handed out while in use, every completion reaches the lane that sent its
request with that request's tag and its payload intact, and the stray counter counts the
strays. ``CYCLES`` sets the length of each run.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections import deque

import pytest
from amaranth.back import verilog

from emulator.cycle.chiplet_parts import TagPoolModel
from emulator.cycle.tag_translate import TagTranslateModel
from hdl.chiplet.packet_merge import index_bits
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.tag_translate import TagTranslate
from hdl.layouts import FLIT_BITS, HEADER_BODY, MAX_PAYLOAD_FLITS, field_reader, field_writer
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.lint import WAIVERS
from hdl.params import ChipletParams
from hdl.toolchain import verilator_binary
from testbench.part_lockstep import Mismatch, run_lockstep

CYCLES = int(os.environ.get("CYCLES", 5_000))
_LAST = 1 << DELIVERED_FLIT["last"].offset
_TRANSACTION = ("message", "transaction")
_tag = field_reader(HEADER_BODY, *_TRANSACTION, "tag")
_set_tag = field_writer(HEADER_BODY, *_TRANSACTION, "tag")
_INDEX_MASK = READ_TAG_FLAG - 1


def _packet(rng: random.Random, tag: int, payload_flits: int) -> list[int]:
    """A packet as ``DELIVERED_FLIT`` words: a header of random bits with ``tag``, then
    ``payload_flits`` random flits; ``last`` on the final word."""
    words = [_set_tag(rng.getrandbits(HEADER_BODY.size), tag)]
    words += [rng.getrandbits(FLIT_BITS) for _ in range(payload_flits)]
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


class TranslateStimulus:
    """Requests and completions into a ``TagTranslate``, and the checks on what comes out."""

    def __init__(self, rng: random.Random, params: ChipletParams, lanes: int,
                 stray_rate: float = 0.05) -> None:
        self.rng, self.lanes, self.stray_rate = rng, lanes, stray_rate
        self.tags = params.outstanding_tags
        self.requests = Source(rng, "request_in", 0.15)
        self.completions = Source(rng, "completion_in", 0.15)
        self.values: dict[str, int] = {}
        self.lane = 0  # of the request packet being offered
        #: Request packets offered and their lanes, in order, until they leave whole.
        self.sent: deque[tuple[int, list[int]]] = deque()
        self.leaving: list[int] = []  # flits of the request packet leaving
        #: (read, plane index) handed out and not yet freed: (lane, the lane's tag).
        self.in_use: dict[tuple[int, int], tuple[int, int]] = {}
        self.awaiting: list[tuple[int, int]] = []  # handed out, no completion sent yet
        self.arriving_to: int | None = None  # the lane of the completion taken, None: stray
        self.expected: list[list[int]] = [[] for _ in range(lanes)]  # flits per lane
        self.received: list[list[int]] = [[] for _ in range(lanes)]
        self.holding = True  # no completions until a request has waited for a tag
        self.waits_held = 0  # ``waits`` when the completions began to hold back
        self.release_at = 0
        self.waits = 0  # cycles a request header waited for a tag
        self.requests_out = 0
        self.completions_in = 0
        self.strays = 0  # taken as strays
        self.strays_sent = {"beyond": 0, "free": 0}
        self.stray_count = 0  # the RTL's counter, last seen
        self.both = 0  # cycles a tag was freed and one handed out
        self.swaps = 0  # of them, cycles one pool took a tag back and handed one out

    def _next_request(self) -> None:
        rng = self.rng
        self.lane = rng.randrange(self.lanes)
        tag = READ_TAG_FLAG * rng.getrandbits(1) | rng.randrange(self.tags)
        packet = _packet(rng, tag, rng.randrange(MAX_PAYLOAD_FLITS + 1))
        self.requests.words.extend(packet)
        self.sent.append((self.lane, packet))

    def _next_completion(self, cycle: int) -> None:
        rng = self.rng
        if self.holding and self.waits > self.waits_held and rng.random() < 0.05:
            self.holding, self.release_at = False, cycle + rng.randrange(200, 800)
        elif not self.holding and cycle >= self.release_at:
            self.holding, self.waits_held = True, self.waits
        if rng.random() < self.stray_rate * (0.1 if self.holding or not self.awaiting else 1):
            read = READ_TAG_FLAG * rng.getrandbits(1)
            free = [index for index in range(self.tags)
                    if (bool(read), index) not in self.in_use]
            if self.tags < READ_TAG_FLAG and (not free or rng.random() < 0.5):
                index, kind = rng.randrange(self.tags, READ_TAG_FLAG), "beyond"
            elif free:
                index, kind = rng.choice(free), "free"
            else:
                return
            self.strays_sent[kind] += 1
        elif self.awaiting and not self.holding and rng.random() < 0.5:
            pick = rng.randrange(len(self.awaiting))
            self.awaiting[pick], self.awaiting[-1] = self.awaiting[-1], self.awaiting[pick]
            is_read, index = self.awaiting.pop()
            read = READ_TAG_FLAG * is_read
        else:
            return
        self.completions.words.extend(
            _packet(rng, read | index, rng.randrange(MAX_PAYLOAD_FLITS)))

    def inputs(self, cycle: int) -> dict[str, int]:
        rng, values = self.rng, self.values
        if not self.requests.words and not self.requests.valid:
            self._next_request()
        if not self.completions.words and not self.completions.valid:
            self._next_completion(cycle)
        self.requests.drive(values)
        self.completions.drive(values)
        header_due = self.requests.valid and self.requests.at_header
        values["request_lane"] = self.lane if header_due else rng.getrandbits(
            index_bits(self.lanes))
        values["request_out.ready"] = int(rng.random() >= 0.25)
        for lane in range(self.lanes):
            values[f"completion_out.{lane}.ready"] = int(rng.random() >= 0.3)
        return values

    def observe(self, cycle: int, outputs) -> None:
        values = self.values
        self.stray_count = outputs["stray_completions"]
        # Completions first: a tag freed and one handed out in one cycle are different tags.
        word = values["completion_in.payload"]
        header = self.completions.at_header
        freed = None  # the direction of the tag freed in this cycle
        if self.completions.taken(outputs["completion_in.ready"]):
            if header:
                self.completions_in += 1
                tag = _tag(word)
                key = (bool(tag & READ_TAG_FLAG), tag & _INDEX_MASK)
                if key in self.in_use:
                    self.arriving_to, lane_tag = self.in_use.pop(key)
                    freed = key[0]
                    word = _set_tag(word, tag & READ_TAG_FLAG | lane_tag)
                else:
                    self.arriving_to = None
                    self.strays += 1
            if self.arriving_to is not None:
                self.expected[self.arriving_to].append(word)
        for lane in range(self.lanes):
            port = f"completion_out.{lane}"
            if outputs[f"{port}.valid"] and values[f"{port}.ready"]:
                self.received[lane].append(outputs[f"{port}.payload"])

        if self.requests.valid and self.requests.at_header and not outputs["request_out.valid"]:
            assert not outputs["request_in.ready"], f"cycle {cycle}: a header went untranslated"
            self.waits += 1
        if outputs["request_out.valid"] and values["request_out.ready"]:
            assert outputs["request_in.ready"] and self.requests.valid
            if self.requests.at_header:
                read = self._header_left(cycle, outputs["request_out.payload"])
                self.both += freed is not None
                self.swaps += freed == read
            self.leaving.append(outputs["request_out.payload"])
        self.requests.taken(outputs["request_in.ready"])
        if self.leaving and self.leaving[-1] & _LAST:
            self._request_left(cycle)

    def _header_left(self, cycle: int, word: int) -> bool:
        """The plane tag is taken with the header, and in use from the next cycle; whether
        it is a read's."""
        lane, packet = self.sent[0]
        tag, plane_tag = _tag(packet[0]), _tag(word)
        read, index = bool(plane_tag & READ_TAG_FLAG), plane_tag & _INDEX_MASK
        assert read == bool(tag & READ_TAG_FLAG), f"cycle {cycle}: READ_TAG_FLAG changed"
        assert index < self.tags, f"cycle {cycle}: plane tag {index} is past the pool"
        assert (read, index) not in self.in_use, f"cycle {cycle}: tag {plane_tag:#x} in use"
        self.in_use[(read, index)] = (lane, tag & _INDEX_MASK)
        return read

    def _request_left(self, cycle: int) -> None:
        """A request packet has left whole: only its tag changed; it may be answered now."""
        _, packet = self.sent.popleft()
        got, self.leaving = self.leaving, []
        plane_tag = _tag(got[0])
        assert got == [_set_tag(packet[0], plane_tag)] + packet[1:], f"cycle {cycle}"
        self.awaiting.append((bool(plane_tag & READ_TAG_FLAG), plane_tag & _INDEX_MASK))
        self.requests_out += 1


def run(params: ChipletParams, lanes: int, seed: int, cycles: int = CYCLES,
        model: TagTranslateModel | None = None) -> tuple[TranslateStimulus, float]:
    stimulus = TranslateStimulus(random.Random(seed), params, lanes)
    model = model or TagTranslateModel(params, lanes)
    seconds = run_lockstep(TagTranslate(params, lanes), model, stimulus, cycles)
    return stimulus, seconds


@pytest.mark.parametrize(("lanes", "tags"),
                         [(1, 1), (1, 64), (2, 4), (4, 64), (36, 4), (36, 64), (4, 5)])
def test_tag_translate_matches_rtl(lanes: int, tags: int) -> None:
    params = ChipletParams(outstanding_tags=tags)
    stimulus, seconds = run(params, lanes, seed=lanes * 1000 + tags)
    print(f"{lanes} lanes, {tags} tags: {CYCLES} cycles, {stimulus.requests_out} requests, "
          f"{stimulus.completions_in} completions ({stimulus.strays} strays: "
          f"{stimulus.strays_sent}), {stimulus.waits} cycles waiting for a tag, "
          f"{stimulus.both} a tag freed and one taken ({stimulus.swaps} in one pool), "
          f"in {seconds:.1f} s")
    assert stimulus.requests_out > CYCLES // 30
    assert stimulus.completions_in - stimulus.strays > CYCLES // 60
    assert stimulus.waits > 0, "the pools were never seen empty"
    assert stimulus.both > 0
    assert stimulus.received == stimulus.expected
    used = sum(1 for flits in stimulus.received if flits)
    assert used == lanes if lanes <= 4 else used > lanes // 2, f"{used} lanes answered"
    assert stimulus.strays == stimulus.stray_count
    assert stimulus.strays >= stimulus.strays_sent["beyond"] > 0
    assert stimulus.strays_sent["free"] > 0


class _ToLaneZero(TagTranslateModel):
    """A planted fault: every completion goes to lane 0."""

    def _completion(self, inputs):
        return super()._completion(inputs)._replace(lane=0)


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

    def __init__(self, params: ChipletParams, lanes: int) -> None:
        super().__init__(params, lanes)
        self.pools = [_LatePool(params), _LatePool(params)]


class _Restless(TagTranslateModel):
    """Evaluates random inputs before each real evaluation: passes only if ``comb`` changes
    nothing."""

    def __init__(self, params: ChipletParams, lanes: int) -> None:
        super().__init__(params, lanes)
        self.rng = random.Random(11)

    def comb(self, inputs):
        super().comb({name: self.rng.getrandbits(width)
                      for name, width in self.input_widths.items()})
        return super().comb(inputs)


def test_comb_changes_nothing() -> None:
    params = ChipletParams(outstanding_tags=4)
    stimulus, _ = run(params, 4, seed=9, cycles=CYCLES // 5, model=_Restless(params, 4))
    assert stimulus.received == stimulus.expected and stimulus.requests_out


@pytest.mark.parametrize("fault", [_ToLaneZero, _LateFree])
def test_planted_fault_is_caught(fault: type[TagTranslateModel]) -> None:
    params = ChipletParams(outstanding_tags=4)
    with pytest.raises(Mismatch, match=r"cycle \d+: \S+ is 0x[0-9a-f]+ in the RTL, "
                                       r"0x[0-9a-f]+ in the model"):
        run(params, 4, seed=7, model=fault(params, 4))


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_verilog_lints_clean(lanes: int, tmp_path) -> None:
    for tags in (4, 5, 64):
        path = tmp_path / f"tag_translate_{tags}.v"
        path.write_text(verilog.convert(
            TagTranslate(ChipletParams(outstanding_tags=tags), lanes), name="tag_translate"))
        result = subprocess.run([str(verilator_binary()), "--lint-only", "-Wall", str(WAIVERS),
                                 str(path), "--top-module", "tag_translate"],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
