"""One stimulus for the chiplet's read path RTL (``ReadPath``) and its cycle model.

:class:`ReadLockstep` is simulator-neutral. Each cycle :meth:`~ReadLockstep.inputs` gives
the value of every input port (named by its dotted RTL path, ``"s_axi.arvalid"``); once the
simulator has settled, :meth:`~ReadLockstep.check` reads every output port and fails on the
first that differs from :class:`emulator.cycle.chiplet_read.ReadPathModel`, naming the cycle,
the port and both values; it then follows the handshakes and steps the model over the edge.

The stimulus: random AXI4 read bursts of every kind (``testbench.chiplet_read.random_read``,
and ``random_short_read`` for pieces that start and end inside a flit row) with random pauses
on AR, random back-pressure on the request stream and on R, a far side that answers each
request some cycles later, out of order, with ``READ_RESPONSE`` data or ``ERROR_RESPONSE``
(some with a payload flit, which the path must skip), completions arriving a flit per cycle
with gaps, and completions whose tag is not waiting (any other tag of the 8-bit field: write
tags, read tags beyond the pool or aliasing a pool tag in its low bits, pool tags with no
request out), some with data flits. Random values on the inputs the path ignores (AW, W, B
and the AR side-band signals) and on the completion payload while its valid is low.
Independently of the model, a :class:`~testbench.chiplet_read.ReadScoreboard` checks every
packet and R beat against :mod:`emulator.ref.chiplet`, and the stray count is checked against
the stray completions sent.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.cycle.chiplet_read import ReadPathModel
from emulator.ref.chiplet import AddressMap
from emulator.ref.framing import Packet
from hdl.chiplet.axi import data_bytes
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.write_signals import tag_bits
from hdl.layouts import (
    COMPLETION_VC,
    FLIT_BITS,
    HEADER_BODY,
    TRANSACTION_HEADER,
    Command,
    field_reader,
    field_slice,
    field_width,
)
from hdl.link.link_signals import DELIVERED_FLIT
from testbench.chiplet_read import (
    FarMemory,
    ReadBurst,
    ReadScoreboard,
    random_read,
    random_short_read,
)

_tag = field_reader(HEADER_BODY, "message", "transaction", "tag")
_LAST = 1 << field_slice(DELIVERED_FLIT, "last")[0]
_FLIT_MASK = (1 << FLIT_BITS) - 1
_TAG_VALUES = 1 << field_width(TRANSACTION_HEADER, "tag")
#: Inputs the read path ignores: the write channels and the AR side-band signals.
_IGNORED_INPUTS = ("awid", "awaddr", "awlen", "awsize", "awburst", "awlock", "awcache",
                   "awprot", "awqos", "awregion", "awvalid", "wdata", "wstrb", "wlast", "wvalid",
                   "bready", "arlock", "arcache", "arprot", "arqos", "arregion")
#: Cycles compared after the stimulus has drained.
TAIL_CYCLES = 4


class Mismatch(AssertionError):
    """The RTL and the cycle model disagree on an output."""


@dataclass
class LockstepScenario:
    """What a lockstep run offers the read path."""

    cycles: int = 2000  # new bursts start until this cycle; then the run drains
    pause: float = 0.3  # chance per cycle that AR, the request sink or R holds off
    error_rate: float = 0.15  # completions that are ERROR_RESPONSE
    max_delay: int = 30  # cycles from a request's last flit to its completion, at most
    completion_gap: float = 0.2  # chance per cycle that no completion flit is offered
    extra_flit_rate: float = 0.3  # ERROR_RESPONSEs sent with a payload flit after the header
    stray_rate: float = 0.05  # chance per completion slot of one whose tag is not waiting
    short_rate: float = 0.6  # bursts of a few narrow beats (random_short_read)
    arid_count: int = 4


class ReadLockstep:
    """The RTL against the cycle model, cycle for cycle, and against the reference."""

    def __init__(self, address_map: AddressMap, rng: random.Random,
                 scenario: LockstepScenario | None = None,
                 model: ReadPathModel | None = None, source: int | None = None) -> None:
        self.params = address_map.params
        self.rng = rng
        self.scenario = scenario or LockstepScenario()
        self.model = model or ReadPathModel(address_map)
        self.source = rng.randrange(1 << self.model.input_widths["source"]) \
            if source is None else source
        self.scoreboard = ReadScoreboard(address_map, FarMemory(random.Random(rng.getrandbits(32))),
                                         self.source)
        self.bus_bytes = data_bytes(self.params)
        self.arid_count = min(self.scenario.arid_count, 1 << self.params.axi_id_bits)
        widths = self.model.input_widths
        self.values = {name: 0 for name in widths}
        self.values["source"] = self.source
        self._randomize([f"s_axi.{name}" for name in _IGNORED_INPUTS])
        self.cycle = 0
        self.expected: dict[str, int] = {}
        self.flits: list[int] = []  # the request packet being received
        self.answers: list[tuple[int, list[int]]] = []  # (due cycle, flits with last bits)
        # Flits of the completion being offered; a stray's header is None until offered.
        self.completion: deque[int | None] = deque()
        self.completion_is_stray = False
        self.completion_header_taken = False
        self.outstanding: set[int] = set()  # header tags sent, completion header not taken
        self.strays_sent = 0
        self.stray_kinds: Counter[str] = Counter()
        self.extra_flits_sent = 0
        self.bursts_issued = 0
        self.idle = 0
        self.drained_at: int | None = None

    @property
    def done(self) -> bool:
        """Drained, and compared for a few idle cycles more (counters settle after the edge)."""
        return self.drained_at is not None and self.cycle >= self.drained_at + TAIL_CYCLES

    def _drained(self) -> bool:
        return (self.cycle >= self.scenario.cycles and not self.values["s_axi.arvalid"]
                and not self.scoreboard.bursts and not self.answers and not self.completion)

    def _randomize(self, names: list[str]) -> None:
        for name in names:
            self.values[name] = self.rng.getrandbits(self.model.input_widths[name])

    def inputs(self) -> dict[str, int]:
        """The value of every input port in this cycle (the returned dict is reused: copy it
        to keep it)."""
        rng, scenario, values = self.rng, self.scenario, self.values
        if (not values["s_axi.arvalid"] and self.cycle < scenario.cycles
                and rng.random() >= scenario.pause):
            make = random_short_read if rng.random() < scenario.short_rate else random_read
            self._issue(make(rng, self.bus_bytes, self.arid_count))
        values["request.ready"] = int(rng.random() >= scenario.pause)
        values["s_axi.rready"] = int(rng.random() >= scenario.pause)
        if rng.random() < 0.02:
            self._randomize([f"s_axi.{rng.choice(_IGNORED_INPUTS)}"])
        self._offer_completion()
        self.expected = self.model.comb(values)
        return values

    def _issue(self, read: ReadBurst) -> None:
        burst = read.burst
        self.values.update({"s_axi.arid": read.arid, "s_axi.araddr": burst.address,
                            "s_axi.arlen": burst.axlen, "s_axi.arsize": burst.size,
                            "s_axi.arburst": burst.burst, "s_axi.arvalid": 1})
        self.scoreboard.expect(read)
        self.bursts_issued += 1

    def _offer_completion(self) -> None:
        rng, scenario = self.rng, self.scenario
        if not self.completion and rng.random() >= scenario.completion_gap:
            due = [answer for answer in self.answers if answer[0] <= self.cycle]
            if self.cycle < scenario.cycles and rng.random() < scenario.stray_rate:
                # The header is made when offered: its tag must not be waiting then.
                words = [rng.getrandbits(FLIT_BITS) for _ in range(rng.choice([0, 0, 1, 3]))]
                if words:
                    words[-1] |= _LAST
                self.completion.extend([None, *words])
                self.completion_is_stray = True
            elif due:
                answer = rng.choice(due)
                self.answers.remove(answer)
                self.completion.extend(answer[1])
                self.completion_is_stray = False
        offered = bool(self.completion) and rng.random() >= scenario.completion_gap
        self.values["completion.valid"] = int(offered)
        if offered:
            if self.completion[0] is None:
                self.completion[0] = self._stray_header(len(self.completion) == 1)
            self.values["completion.payload"] = self.completion[0]
        elif rng.random() < 0.5:
            # Whatever lies on the payload while valid is low must not matter.
            self.values["completion.payload"] = rng.getrandbits(DELIVERED_FLIT.size)

    def _stray_header(self, last: bool) -> int:
        """A completion header whose tag is not waiting: a waiting tag without the read flag
        (a write tag), a tag beyond the pool that aliases a waiting one in the pool's index
        bits, a pool tag with no request out, or any other tag of the field."""
        rng, outstanding = self.rng, self.outstanding
        pool = self.params.outstanding_tags
        index_mask = (1 << tag_bits(self.params)) - 1
        kinds = {
            "write tag": [tag & ~READ_TAG_FLAG for tag in outstanding],
            "aliasing": [READ_TAG_FLAG | index for index in range(pool, READ_TAG_FLAG)
                         if READ_TAG_FLAG | index & index_mask in outstanding],
            "idle pool tag": [READ_TAG_FLAG | index for index in range(pool)
                              if READ_TAG_FLAG | index not in outstanding],
            "any": [tag for tag in range(_TAG_VALUES) if tag not in outstanding],
        }
        kind = rng.choice([kind for kind, tags in kinds.items() if tags])
        self.stray_kinds[kind] += 1
        tag = rng.choice(kinds[kind])
        command = rng.choice([Command.READ_RESPONSE, Command.ERROR_RESPONSE])
        header = Packet.build(link={"vc": COMPLETION_VC}, transaction={
            "command": command, "destination": self.source, "tag": tag,
            "source": rng.getrandbits(field_width(TRANSACTION_HEADER, "source")),
            "address": rng.getrandbits(field_width(TRANSACTION_HEADER, "address"))}).header
        return header | (_LAST if last else 0)

    def _completion_flits(self, packet: Packet) -> list[int]:
        """A completion as DELIVERED_FLIT words; some ERROR_RESPONSEs with a payload flit to
        skip (random bits that may look like a header with a tag in use)."""
        flits = [packet.header, *packet.payload]
        if not packet.payload and self.rng.random() < self.scenario.extra_flit_rate:
            self.extra_flits_sent += 1
            flits.append(self.rng.getrandbits(FLIT_BITS))
        flits[-1] |= _LAST
        return flits

    def check(self, read: Callable[[str], int]) -> None:
        """Compare every settled output with the model's; follow the handshakes; step the
        model over the clock edge. ``read(name)`` gives an output port's value."""
        cycle, expected, values = self.cycle, self.expected, self.values
        for name, value in expected.items():
            got = read(name)
            if got != value:
                raise Mismatch(f"cycle {cycle}: {name} is {got:#x} in the RTL, {value:#x} in "
                               "the model")
        self.model.tick(values)

        progress = False
        if values["completion.valid"] and expected["completion.ready"]:
            self._completion_taken()
        if values["s_axi.arvalid"] and expected["s_axi.arready"]:
            values["s_axi.arvalid"] = 0
            progress = True
        beat = expected["s_axi.rvalid"]
        if beat:
            # The piece whose last beat this is has been read out: its tag may be reused now.
            self.scoreboard.presented(expected["s_axi.rid"])
        if values["request.ready"] and expected["request.valid"]:
            self._request_flit(expected["request.payload"])
            progress = True
        if beat and values["s_axi.rready"]:
            self.scoreboard.beat(expected["s_axi.rid"], expected["s_axi.rdata"],
                                 expected["s_axi.rresp"], expected["s_axi.rlast"])
            progress = True
        self.idle = 0 if progress else self.idle + 1
        if self.idle > 10_000:
            raise Mismatch(f"cycle {cycle}: no AR, request flit or R beat for {self.idle} "
                           "cycles")
        self.cycle += 1
        if self.drained_at is None and self._drained():
            self.drained_at = self.cycle

    def _request_flit(self, word: int) -> None:
        flit = word & _FLIT_MASK
        if not self.flits:
            self.outstanding.add(_tag(flit))
        self.flits.append(flit)
        if word & _LAST:
            error = self.rng.random() < self.scenario.error_rate
            answer = self.scoreboard.packet(self.flits, error)
            self.flits = []
            due = self.cycle + self.rng.randint(1, self.scenario.max_delay)
            self.answers.append((due, self._completion_flits(answer)))

    def _completion_taken(self) -> None:
        word = self.completion.popleft()
        if not self.completion_header_taken:
            header = word & _FLIT_MASK
            if self.completion_is_stray:
                self.strays_sent += 1
            else:
                self.scoreboard.completed(header)
                self.outstanding.discard(_tag(header))
            self.completion_header_taken = True
        if not self.completion:
            self.completion_header_taken = False

    def finish(self) -> dict[str, object]:
        """After the last cycle: everything answered, strays counted; a summary."""
        scoreboard = self.scoreboard
        scoreboard.assert_drained()
        counted = self.expected["stray_completions"]
        if counted != self.strays_sent:
            raise Mismatch(f"{counted} stray completions counted, {self.strays_sent} sent")
        return {"cycles": self.cycle, "bursts": scoreboard.bursts_checked,
                "packets": scoreboard.packets_checked, "beats": scoreboard.beats_checked,
                "responses": {code.name: count
                              for code, count in sorted(scoreboard.response_counts.items(),
                                                        key=lambda item: item[0].value)},
                "most tags in use": scoreboard.most_tags_in_use,
                "out of order": scoreboard.out_of_order, "overtakes": scoreboard.overtakes,
                "interleaved": scoreboard.interleaved,
                "strays": self.strays_sent, "stray kinds": dict(self.stray_kinds),
                "completions with a payload flit": self.extra_flits_sent,
                "features": dict(scoreboard.features)}
