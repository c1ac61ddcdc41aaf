"""One stimulus for the chiplet's write path RTL (``WritePath``) and its cycle model.

:class:`WriteLockstep` is simulator-neutral. Each cycle :meth:`~WriteLockstep.inputs` gives
the value of every input port (named by its dotted RTL path, ``"s_axi.awvalid"``); once the
simulator has settled, :meth:`~WriteLockstep.check` reads every output port and fails on the
first that differs from :class:`emulator.cycle.chiplet_write.WritePathModel`, naming the cycle,
the port and both values; it then follows the handshakes and steps the model over the edge.

The stimulus: random AXI4 write bursts of every kind (``testbench.chiplet_write.random_write``)
with random pauses on AW and W, random back-pressure on the request stream and on B, a far
side that answers each request some cycles later (some with ``ERROR_RESPONSE``, some with a
flit after the header, which the path must skip), and completions whose tag is not in use.
Random values on the inputs the path ignores (AW side-band signals, the AR channel, RREADY).
Independently of the model, a :class:`~testbench.chiplet_write.WriteScoreboard` checks every
packet and BRESP against :mod:`emulator.ref.chiplet`, and the stray count is checked against
the stray completions sent.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.cycle.chiplet_write import WritePathModel
from emulator.ref.chiplet import AddressMap
from emulator.ref.framing import Packet
from hdl.chiplet.axi import data_bytes
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
from testbench.chiplet_write import WriteScoreboard, random_write

_tag = field_reader(HEADER_BODY, "message", "transaction", "tag")
_LAST = 1 << field_slice(DELIVERED_FLIT, "last")[0]
_FLIT_MASK = (1 << FLIT_BITS) - 1
_TAG_VALUES = 1 << field_width(TRANSACTION_HEADER, "tag")
#: Inputs the write path ignores: the AW side-band signals and the read channels.
_AW_SIDEBAND = ("awlock", "awcache", "awprot", "awqos", "awregion")
_READ_INPUTS = ("arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot",
                "arqos", "arregion", "arvalid", "rready")
#: Cycles compared after the stimulus has drained.
TAIL_CYCLES = 4


class Mismatch(AssertionError):
    """The RTL and the cycle model disagree on an output."""


@dataclass
class LockstepScenario:
    """What a lockstep run offers the write path."""

    cycles: int = 2000  # new bursts start until this cycle; then the run drains
    pause: float = 0.3  # chance per cycle that AW, W, the request sink or B holds off
    error_rate: float = 0.15  # completions that are ERROR_RESPONSE
    max_delay: int = 30  # cycles from a request's last flit to its completion, at most
    completion_gap: float = 0.2  # chance per cycle that no completion flit is offered
    extra_flit_rate: float = 0.1  # completions sent with a payload flit after the header
    stray_rate: float = 0.01  # chance per cycle of a completion whose tag is not in use
    awid_count: int = 4


class WriteLockstep:
    """The RTL against the cycle model, cycle for cycle, and against the reference."""

    def __init__(self, address_map: AddressMap, rng: random.Random,
                 scenario: LockstepScenario | None = None,
                 model: WritePathModel | None = None, source: int | None = None) -> None:
        self.params = address_map.params
        self.rng = rng
        self.scenario = scenario or LockstepScenario()
        self.model = model or WritePathModel(address_map)
        self.source = rng.randrange(1 << self.model.input_widths["source"]) \
            if source is None else source
        self.scoreboard = WriteScoreboard(address_map, self.source)
        self.bus_bytes = data_bytes(self.params)
        self.awid_count = min(self.scenario.awid_count, 1 << self.params.axi_id_bits)
        widths = self.model.input_widths
        self.values = {name: 0 for name in widths}
        self.values["source"] = self.source
        self._randomize([f"s_axi.{name}" for name in _READ_INPUTS])
        self.cycle = 0
        self.expected: dict[str, int] = {}
        self.w_queue: deque[tuple[int, int, int]] = deque()
        self.flits: list[int] = []  # the request packet being received
        self.answers: list[tuple[int, list[int]]] = []  # (due cycle, flits with last bits)
        self.completion: deque[int] = deque()  # flits of the completion being offered
        self.completion_is_stray = False
        self.completion_header_taken = False
        self.outstanding: set[int] = set()  # tags whose header left and are not answered
        self.strays_sent = 0
        self.extra_flits_sent = 0
        self.bursts_issued = 0
        self.idle = 0
        self.drained_at: int | None = None

    @property
    def done(self) -> bool:
        """Drained, and compared for a few idle cycles more (counters settle after the edge)."""
        return self.drained_at is not None and self.cycle >= self.drained_at + TAIL_CYCLES

    def _drained(self) -> bool:
        values = self.values
        return (self.cycle >= self.scenario.cycles and not values["s_axi.awvalid"]
                and not values["s_axi.wvalid"] and not self.w_queue
                and not self.scoreboard.bursts and not self.answers and not self.completion)

    def _randomize(self, names: list[str]) -> None:
        for name in names:
            self.values[name] = self.rng.getrandbits(self.model.input_widths[name])

    def inputs(self) -> dict[str, int]:
        """The value of every input port in this cycle (the returned dict is reused: copy it
        to keep it)."""
        rng, scenario, values = self.rng, self.scenario, self.values
        if (not values["s_axi.awvalid"] and self.cycle < scenario.cycles
                and rng.random() >= scenario.pause):
            self._issue(random_write(rng, self.bus_bytes, self.awid_count))
        if not values["s_axi.wvalid"] and self.w_queue and rng.random() >= scenario.pause:
            word, strobe, last = self.w_queue.popleft()
            values.update({"s_axi.wdata": word, "s_axi.wstrb": strobe, "s_axi.wlast": last,
                           "s_axi.wvalid": 1})
        values["request.ready"] = int(rng.random() >= scenario.pause)
        values["s_axi.bready"] = int(rng.random() >= scenario.pause)
        if rng.random() < 0.02:
            self._randomize([f"s_axi.{rng.choice(_READ_INPUTS)}"])
        self._offer_completion()
        self.expected = self.model.comb(values)
        return values

    def _issue(self, write) -> None:
        burst = write.burst
        self.values.update({"s_axi.awid": write.awid, "s_axi.awaddr": burst.address,
                            "s_axi.awlen": burst.axlen, "s_axi.awsize": burst.size,
                            "s_axi.awburst": burst.burst, "s_axi.awvalid": 1})
        self._randomize([f"s_axi.{name}" for name in _AW_SIDEBAND])
        self.scoreboard.expect(write)
        self.bursts_issued += 1
        for number, (word, strobe) in enumerate(zip(write.words, write.strobes, strict=True)):
            self.w_queue.append((word, strobe, int(number == burst.axlen)))

    def _offer_completion(self) -> None:
        rng, scenario = self.rng, self.scenario
        if not self.completion and rng.random() >= scenario.completion_gap:
            due = next((answer for answer in self.answers if answer[0] <= self.cycle), None)
            if due is not None:
                self.answers.remove(due)
                self.completion.extend(due[1])
                self.completion_is_stray = False
            elif self.cycle < scenario.cycles and rng.random() < scenario.stray_rate:
                self.completion.extend(self._stray())
                self.completion_is_stray = True
        offered = bool(self.completion) and rng.random() >= scenario.completion_gap
        self.values["completion.valid"] = int(offered)
        if offered:
            self.values["completion.payload"] = self.completion[0]
        elif rng.random() < 0.5:
            # Whatever lies on the payload while valid is low must not matter.
            self.values["completion.payload"] = rng.getrandbits(DELIVERED_FLIT.size)

    def _completion_flits(self, header: int) -> list[int]:
        """A completion packet as DELIVERED_FLIT words; some with a payload flit to skip
        (random bits that may look like a header with a tag in use)."""
        if self.rng.random() < self.scenario.extra_flit_rate:
            self.extra_flits_sent += 1
            return [header, self.rng.getrandbits(FLIT_BITS) | _LAST]
        return [header | _LAST]

    def _stray(self) -> list[int]:
        """A completion whose tag is not in use: free in the pool, or beyond the pool."""
        rng = self.rng
        tag = rng.choice([tag for tag in range(_TAG_VALUES) if tag not in self.outstanding])
        command = rng.choice([Command.WRITE_RESPONSE, Command.ERROR_RESPONSE])
        header = Packet.build(link={"vc": COMPLETION_VC}, transaction={
            "command": command, "destination": self.source, "tag": tag,
            "source": rng.getrandbits(field_width(TRANSACTION_HEADER, "source")),
            "address": rng.getrandbits(field_width(TRANSACTION_HEADER, "address"))}).header
        return self._completion_flits(header)

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
        if values["s_axi.awvalid"] and expected["s_axi.awready"]:
            values["s_axi.awvalid"] = 0
        if values["s_axi.wvalid"] and expected["s_axi.wready"]:
            values["s_axi.wvalid"] = 0
            progress = True
        if values["request.ready"] and expected["request.valid"]:
            self._request_flit(expected["request.payload"])
            progress = True
        if values["s_axi.bready"] and expected["s_axi.bvalid"]:
            self.scoreboard.response(expected["s_axi.bid"], expected["s_axi.bresp"])
            progress = True
        if values["completion.valid"] and expected["completion.ready"]:
            self._completion_taken()
        self.idle = 0 if progress else self.idle + 1
        if self.idle > 10_000:
            raise Mismatch(f"cycle {cycle}: no beat, flit or response for {self.idle} cycles")
        self.cycle += 1
        if self.drained_at is None and self._drained():
            self.drained_at = self.cycle

    def _request_flit(self, word: int) -> None:
        flit = word & _FLIT_MASK
        if not self.flits:
            self.outstanding.add(_tag(flit))
        self.flits.append(flit)
        if word & _LAST:
            request = self.scoreboard.packet(self.flits)
            self.flits = []
            error = self.rng.random() < self.scenario.error_rate
            header = self.scoreboard.answer(request, error)
            due = self.cycle + self.rng.randint(1, self.scenario.max_delay)
            self.answers.append((due, self._completion_flits(header)))

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
        return {"cycles": self.cycle, "bursts": scoreboard.responses_checked,
                "packets": scoreboard.packets_checked,
                "responses": {code.name: count
                              for code, count in sorted(scoreboard.response_counts.items(),
                                                        key=lambda item: item[0].value)},
                "most tags in use": scoreboard.most_tags_in_use,
                "overtakes": scoreboard.overtakes, "strays": self.strays_sent,
                "completions with a payload flit": self.extra_flits_sent,
                "features": dict(scoreboard.features)}
