"""One stimulus for two chiplets joined by their links (``ChipletPair``) and the pair's cycle
model (``emulator.cycle.chiplet.ChipletPairModel``), cycle by cycle, simulator-neutral.

Each side has a random AXI4 manager on each lane's subordinate port (legal bursts of every type,
size and start from ``testbench.chiplet_write.random_write`` and
``testbench.chiplet_read.random_read``, INCR cut to at most 32 beats, four IDs, several under
way, at most one per page; a page's bursts go to lane ``lane_for(page)``, as the ASIC sends
them) and an AXI4 memory on each lane's manager port (one ``ReferenceMemory`` per side, random
back-pressure and latency). :meth:`PairLockstep.inputs` gives every input port of a cycle; the
caller compares the outputs of the RTL with the model's
(:func:`testbench.part_lockstep.compare`) and hands them to :meth:`PairLockstep.observe`, which
follows the handshakes and checks every BRESP and R beat against
:class:`emulator.ref.chiplet.Fabric` (the code, and the data of OKAY beats). Wire damage and a
plane failing mid-run come from the :class:`PairScenario`.

The windows, endpoints and pages come from a :class:`PairLayout`: by default
:func:`default_layout`, which Amaranth's lockstep builds its top with; a cocotb test gives the
layout its exported top was built with. Nothing here knows a simulator: Amaranth's loop is
:func:`testbench.part_lockstep.run_lockstep`, the cocotb one in
``tests/sim/test_chiplet_pair.py``.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from emulator.ref.axi import PAGE_BYTES, Burst, ReferenceMemory
from emulator.ref.chiplet import AddressMap, Endpoint, Fabric, Window
from hdl.chiplet.axi import BurstType, Response, data_bytes
from hdl.chiplet.chiplet_pair import ENDS
from hdl.chiplet.striper import lane_for
from hdl.params import ChipletParams
from testbench.chiplet_read import random_read
from testbench.chiplet_write import random_write

#: The default layout (:func:`default_layout`). Endpoint IDs of the two chiplets.
ENDPOINTS = {"a": 3, "b": 12}
#: Each ASIC's memory: 8 pages. Global pages of each map: 0 to 7 the other's memory (OKAY),
#: 8 a gap (DECERR), 11 and 12 mapped past the other's memory (the far side refuses: SLVERR).
MEMORY_BYTES = 8 * PAGE_BYTES
OKAY_PAGES = [page * PAGE_BYTES for page in range(8)]
DECERR_PAGES = [8 * PAGE_BYTES]
SLVERR_PAGES = [11 * PAGE_BYTES, 12 * PAGE_BYTES]
#: Cycles compared after every burst is answered (counters settle after the edge).
TAIL_CYCLES = 50
#: AW and AR members the chiplet ignores, given random values with each burst.
_SIDEBAND = ("lock", "cache", "prot", "qos", "region")


def other(end: str) -> str:
    return "b" if end == "a" else "a"


@dataclass(frozen=True)
class PairEnd:
    """One chiplet as the stimulus sees it: its endpoint ID, its windows, and the pages its
    manager uses, answered OKAY (the other's memory), SLVERR (mapped past the other's memory)
    and DECERR (in no window)."""

    endpoint: int
    address_map: AddressMap
    okay_pages: Sequence[int]
    slverr_pages: Sequence[int]
    decerr_pages: Sequence[int]


@dataclass(frozen=True)
class PairLayout:
    """Both chiplets (``"a"``, ``"b"``) and the bytes of each one's memory."""

    ends: Mapping[str, PairEnd]
    memory_bytes: int

    @property
    def address_maps(self) -> dict[str, AddressMap]:
        return {name: end.address_map for name, end in self.ends.items()}


def default_layout(params: ChipletParams) -> PairLayout:
    """Each chiplet's windows onto the other's memory: the pages above."""
    ends = {}
    for end in ENDS:
        far = ENDPOINTS[other(end)]
        address_map = AddressMap(params, [
            Window(OKAY_PAGES[0], MEMORY_BYTES, far, 0),
            Window(SLVERR_PAGES[0], len(SLVERR_PAGES) * PAGE_BYTES, far, MEMORY_BYTES)])
        ends[end] = PairEnd(ENDPOINTS[end], address_map, OKAY_PAGES, SLVERR_PAGES,
                            DECERR_PAGES)
    return PairLayout(ends, MEMORY_BYTES)


def pair_address_maps(params: ChipletParams) -> dict[str, AddressMap]:
    """Each chiplet's windows onto the other's memory (:func:`default_layout`)."""
    return default_layout(params).address_maps


@dataclass
class PairScenario:
    """What a run does: bursts start until ``cycles``; damage on every wire (``flip_rate``,
    ``drop_rate``: fractions of ``2**RATE_BITS``, as ``WireFaults`` takes them); plane
    ``plane`` dies at ``dead_at`` for ``dead_for`` cycles and leaves ``planes_up``
    ``down_after`` cycles after dying, for good (``dead_at`` None: never; ``down_after``
    None: it stays in ``planes_up``, and the chiplets must notice by themselves)."""

    cycles: int = 1500
    pause: float = 0.2
    in_flight: int = 6  # bursts under way per side and direction, at most
    max_incr_beats: int = 32  # INCR bursts cut to this many beats: more, shorter bursts
    latency: tuple[int, int] = (1, 12)  # cycles from a memory's AW or AR to B or R
    flip_rate: int = 0
    drop_rate: int = 0
    plane: int = 1
    dead_at: int | None = None
    dead_for: int = 600
    down_after: int | None = 100


class AxiManagerSide:
    """Random bursts on one lane's subordinate port of a chiplet (``{end}_s_axi.{lane}``),
    checked against the reference fabric; the pages of ``layout`` the lane takes."""

    def __init__(self, end: str, lane: int, rng: random.Random, params: ChipletParams,
                 fabric: Fabric, scenario: PairScenario, layout: PairEnd) -> None:
        self.end, self.rng, self.fabric, self.scenario = end, rng, fabric, scenario
        self.name = f"{end} lane {lane}"

        def mine(pages: Sequence[int]) -> list[int]:
            return [page for page in pages if lane_for(page, params.links) == lane]

        self.layout = dataclasses.replace(layout, okay_pages=mine(layout.okay_pages),
                                          slverr_pages=mine(layout.slverr_pages),
                                          decerr_pages=mine(layout.decerr_pages))
        self.prefix = f"{end}_s_axi.{lane}."
        self.bus_bytes = data_bytes(params)
        self.id_count = min(4, 1 << params.axi_id_bits)
        self.aw: tuple[dict[str, int], int] | None = None  # (AW fields, page) offered
        self.ar: tuple[dict[str, int], int] | None = None
        self.w_queue: deque[tuple[int, int, int]] = deque()
        self.w: tuple[int, int, int] | None = None
        self.addresses: deque[tuple[Burst, int, int]] = deque()  # taken AWs: burst, id, page
        self.words: list[int] = []
        self.strobes: list[int] = []
        self.writes: dict[int, deque[tuple[Response, int]]] = defaultdict(deque)
        self.reads: dict[int, deque[list]] = defaultdict(deque)  # [burst, result, beat, page]
        self.busy: set[int] = set()
        self.writes_open = self.reads_open = 0
        self.responses: Counter = Counter()
        self.beats_checked = 0
        self.bursts_answered = 0

    @property
    def outstanding(self) -> int:
        return self.writes_open + self.reads_open

    def _page(self) -> int | None:
        layout = self.layout
        pools = [layout.okay_pages, layout.slverr_pages, layout.decerr_pages]
        weights = [weight if pool else 0 for pool, weight in zip(pools, (80, 10, 10),
                                                                 strict=True)]
        if not any(weights):
            return None
        pool = self.rng.choices(pools, weights=weights)[0]
        free = [page for page in pool if page not in self.busy]
        return self.rng.choice(free) if free else None

    def _place(self, burst: Burst, page: int) -> Burst:
        """``burst`` moved to ``page`` (same offset: still legal), INCR cut short."""
        length = burst.length
        if burst.kind == BurstType.INCR:
            length = min(length, self.scenario.max_incr_beats)
        return dataclasses.replace(burst, address=page + burst.address % PAGE_BYTES,
                                   length=length)

    def drive(self, cycle: int, values: dict[str, int]) -> None:
        rng, scenario, prefix = self.rng, self.scenario, self.prefix
        issuing = cycle < scenario.cycles
        if (self.aw is None and issuing and self.writes_open < scenario.in_flight
                and rng.random() >= scenario.pause and (page := self._page()) is not None):
            write = random_write(rng, self.bus_bytes, self.id_count)
            burst = self._place(write.burst, page)
            fields = {"awid": write.awid, "awaddr": burst.address, "awlen": burst.axlen,
                      "awsize": burst.size, "awburst": burst.burst}
            fields.update({f"aw{name}": rng.getrandbits(4) for name in _SIDEBAND})
            fields["awlock"] &= 1
            fields["awprot"] &= 7
            self.aw = (fields, page)
            self.busy.add(page)
            self.writes_open += 1
            for number in range(burst.length):
                self.w_queue.append((write.words[number], write.strobes[number],
                                     int(number == burst.axlen)))
        if (self.ar is None and issuing and self.reads_open < scenario.in_flight
                and rng.random() >= scenario.pause and (page := self._page()) is not None):
            read = random_read(rng, self.bus_bytes, self.id_count)
            burst = self._place(read.burst, page)
            fields = {"arid": read.arid, "araddr": burst.address, "arlen": burst.axlen,
                      "arsize": burst.size, "arburst": burst.burst}
            fields.update({f"ar{name}": rng.getrandbits(4) for name in _SIDEBAND})
            fields["arlock"] &= 1
            fields["arprot"] &= 7
            self.ar = (fields, page)
            self.busy.add(page)
            self.reads_open += 1
        for channel, offered in (("aw", self.aw), ("ar", self.ar)):
            values[f"{prefix}{channel}valid"] = int(offered is not None)
            if offered is not None:
                values.update({prefix + name: value for name, value in offered[0].items()})
        if self.w is None and self.w_queue and rng.random() >= scenario.pause:
            self.w = self.w_queue.popleft()
        values[f"{prefix}wvalid"] = int(self.w is not None)
        if self.w is not None:
            values[f"{prefix}wdata"], values[f"{prefix}wstrb"], values[f"{prefix}wlast"] = self.w
        elif rng.random() < 0.3:  # what lies on W while WVALID is low must not matter
            values[f"{prefix}wdata"] = rng.getrandbits(8 * self.bus_bytes)
        values[f"{prefix}bready"] = int(rng.random() >= scenario.pause)
        values[f"{prefix}rready"] = int(rng.random() >= scenario.pause)

    def observe(self, cycle: int, values: Mapping[str, int], out: Mapping[str, int]) -> None:
        prefix, source = self.prefix, self.layout.endpoint
        if self.aw is not None and out[f"{prefix}awready"]:
            fields, page = self.aw
            burst = Burst.from_fields(fields["awaddr"], fields["awlen"], fields["awsize"],
                                      fields["awburst"])
            self.addresses.append((burst, fields["awid"], page))
            self.aw = None
        if self.w is not None and out[f"{prefix}wready"]:
            word, strobe, last = self.w
            self.words.append(word)
            self.strobes.append(strobe)
            self.w = None
            if last:
                assert self.addresses, f"cycle {cycle}: {self.name}: W before its AW was taken"
                burst, awid, page = self.addresses.popleft()
                result = self.fabric.write(source, burst, self.words, self.strobes)
                self.writes[awid].append((result.response, page))
                self.words, self.strobes = [], []
        if out[f"{prefix}bvalid"] and values[f"{prefix}bready"]:
            bid, bresp = out[f"{prefix}bid"], Response(out[f"{prefix}bresp"])
            assert self.writes[bid], f"cycle {cycle}: {self.name}: BRESP for idle AWID {bid}"
            expected, page = self.writes[bid].popleft()
            assert bresp == expected, (f"cycle {cycle}: {self.name}: AWID {bid} got "
                                       f"{bresp.name}, the reference {expected.name}")
            self.responses[f"B {bresp.name}"] += 1
            self.busy.discard(page)
            self.writes_open -= 1
            self.bursts_answered += 1
        if self.ar is not None and out[f"{prefix}arready"]:
            fields, page = self.ar
            burst = Burst.from_fields(fields["araddr"], fields["arlen"], fields["arsize"],
                                      fields["arburst"])
            self.reads[fields["arid"]].append([burst, self.fabric.read(source, burst), 0, page])
            self.ar = None
        if out[f"{prefix}rvalid"] and values[f"{prefix}rready"]:
            self._beat(cycle, out[f"{prefix}rid"], Response(out[f"{prefix}rresp"]),
                       out[f"{prefix}rdata"], out[f"{prefix}rlast"])

    def _beat(self, cycle: int, rid: int, rresp: Response, rdata: int, rlast: int) -> None:
        assert self.reads[rid], f"cycle {cycle}: {self.name}: R beat for idle ARID {rid}"
        read = self.reads[rid][0]
        burst, result, number, page = read
        where = f"cycle {cycle}: {self.name}: ARID {rid}, beat {number} of {burst}"
        assert rresp == result.responses[number], (
            f"{where}: RRESP {rresp.name}, the reference {result.responses[number].name}")
        if rresp == Response.OKAY:
            assert rdata == result.data[number], (
                f"{where}: RDATA {rdata:#x}, the reference {result.data[number]:#x}")
        assert rlast == (number == burst.length - 1), f"{where}: RLAST {rlast}"
        self.responses[f"R {rresp.name}"] += 1
        self.beats_checked += 1
        read[2] += 1
        if rlast:
            self.reads[rid].popleft()
            self.busy.discard(page)
            self.reads_open -= 1
            self.bursts_answered += 1


class AxiMemorySide:
    """The memory on one lane's manager port of a chiplet (``{end}_m_axi.{lane}``): AW, W and
    AR taken with random back-pressure, B and R some cycles later, always OKAY; its bytes in
    ``memory``, shared by the chiplet's lanes, to be compared with the reference fabric's at
    the end."""

    def __init__(self, end: str, lane: int, rng: random.Random, scenario: PairScenario,
                 memory: ReferenceMemory) -> None:
        self.end, self.rng, self.scenario = end, rng, scenario
        self.name = f"{end} lane {lane}"
        self.prefix = f"{end}_m_axi.{lane}."
        self.memory = memory
        self.ready: dict[str, int] = {}
        self.addresses: deque[Burst] = deque()
        self.beats: list[tuple[int, int]] = []
        self.groups: deque[list[tuple[int, int]]] = deque()
        self.b_due: deque[int] = deque()
        self.b_valid = 0
        self.r_bursts: deque[list] = deque()  # [due cycle, words, beat]
        self.r_valid = 0
        self.r_beat = (0, 0)  # (data, last)

    def drive(self, cycle: int, values: dict[str, int]) -> None:
        rng, prefix, pause = self.rng, self.prefix, self.scenario.pause
        self.ready = {name: int(rng.random() >= pause) for name in ("aw", "w", "ar")}
        if not self.b_valid and self.b_due and self.b_due[0] <= cycle and rng.random() >= pause:
            self.b_due.popleft()
            self.b_valid = 1
        if not self.r_valid and self.r_bursts and self.r_bursts[0][0] <= cycle \
                and rng.random() >= pause:
            burst = self.r_bursts[0]
            _, words, number = burst
            self.r_valid, self.r_beat = 1, (words[number], int(number == len(words) - 1))
        values.update({f"{prefix}{name}ready": ready for name, ready in self.ready.items()})
        values.update({f"{prefix}bvalid": self.b_valid, f"{prefix}bid": 0,
                       f"{prefix}bresp": Response.OKAY.value, f"{prefix}rvalid": self.r_valid,
                       f"{prefix}rid": 0, f"{prefix}rdata": self.r_beat[0],
                       f"{prefix}rresp": Response.OKAY.value, f"{prefix}rlast": self.r_beat[1]})

    def observe(self, cycle: int, out: Mapping[str, int]) -> None:
        prefix = self.prefix
        latency = self.scenario.latency

        def burst(channel: str) -> Burst:
            return Burst.from_fields(*(out[f"{prefix}{channel}{name}"]
                                       for name in ("addr", "len", "size", "burst")))

        if out[f"{prefix}awvalid"] and self.ready["aw"]:
            self.addresses.append(burst("aw"))
        if out[f"{prefix}wvalid"] and self.ready["w"]:
            self.beats.append((out[f"{prefix}wdata"], out[f"{prefix}wstrb"]))
            if out[f"{prefix}wlast"]:
                self.groups.append(self.beats)
                self.beats = []
        while self.addresses and self.groups:
            write, group = self.addresses.popleft(), self.groups.popleft()
            assert len(group) == write.length, f"cycle {cycle}: {self.name}: W beats of {write}"
            self.memory.write(write, [word for word, _ in group],
                              [strobe for _, strobe in group])
            self.b_due.append(cycle + 1 + self.rng.randint(*latency))
        if self.b_valid and out[f"{prefix}bready"]:
            self.b_valid = 0
        if out[f"{prefix}arvalid"] and self.ready["ar"]:
            read = burst("ar")
            self.r_bursts.append([cycle + 1 + self.rng.randint(*latency),
                                  self.memory.read(read), 0])
        if self.r_valid and out[f"{prefix}rready"]:
            self.r_valid = 0
            self.r_bursts[0][2] += 1
            if self.r_bursts[0][2] == len(self.r_bursts[0][1]):
                self.r_bursts.popleft()

    @property
    def idle(self) -> bool:
        return not (self.addresses or self.groups or self.beats or self.b_due or self.b_valid
                    or self.r_bursts or self.r_valid)


class PairLockstep:
    """The stimulus of both sides, the wires' damage and the plane failure."""

    def __init__(self, params: ChipletParams, rng: random.Random, input_widths: Mapping[str, int],
                 scenario: PairScenario | None = None, layout: PairLayout | None = None) -> None:
        self.params, self.rng = params, rng
        self.scenario = scenario = scenario or PairScenario()
        self.layout = layout = layout or default_layout(params)
        self.address_maps = layout.address_maps
        self.fabric = Fabric(params, {layout.ends[end].endpoint: Endpoint(
            layout.ends[end].address_map, layout.memory_bytes) for end in ENDS})
        lanes = range(params.links)
        self.managers = [AxiManagerSide(end, lane, rng, params, self.fabric, scenario,
                                        layout.ends[end]) for end in ENDS for lane in lanes]
        #: Each side's memory, behind all its lanes' manager ports.
        self.memory = {end: ReferenceMemory(data_bytes(params)) for end in ENDS}
        self.memories = [AxiMemorySide(end, lane, rng, scenario, self.memory[end])
                         for end in ENDS for lane in lanes]
        self.all_planes = (1 << params.links) - 1
        # Every input has a value from the first cycle on: nothing is left floating.
        self.values = dict.fromkeys(input_widths, 0)
        self.values.update({"memory_bytes": layout.memory_bytes, "planes_up": self.all_planes,
                            "flip_rate": scenario.flip_rate, "drop_rate": scenario.drop_rate,
                            "dead": 0})
        for end in ENDS:
            self.values[f"{end}_endpoint"] = layout.ends[end].endpoint
        self.drained_at: int | None = None
        self.cycle = 0

    def inputs(self, cycle: int) -> dict[str, int]:
        """Every input port's value in ``cycle``."""
        values, scenario = self.values, self.scenario
        if scenario.dead_at is not None:
            dead = scenario.dead_at <= cycle < scenario.dead_at + scenario.dead_for
            values["dead"] = int(dead) << scenario.plane
            if scenario.down_after is not None and \
                    cycle >= scenario.dead_at + scenario.down_after:
                values["planes_up"] = self.all_planes & ~(1 << scenario.plane)
        for manager, memory in zip(self.managers, self.memories, strict=True):
            manager.drive(cycle, values)
            memory.drive(cycle, values)
        return values

    def observe(self, cycle: int, outputs: Mapping[str, int]) -> None:
        self.cycle = cycle
        for manager, memory in zip(self.managers, self.memories, strict=True):
            manager.observe(cycle, self.values, outputs)
            memory.observe(cycle, outputs)
        if (self.drained_at is None and cycle >= self.scenario.cycles
                and all(side.outstanding == 0 for side in self.managers)
                and all(side.idle for side in self.memories)):
            self.drained_at = cycle

    @property
    def done(self) -> bool:
        """Every burst answered, and a few cycles more compared (counters settle after the
        edge)."""
        return self.drained_at is not None and self.cycle >= self.drained_at + TAIL_CYCLES

    def check_memories(self) -> None:
        """Each memory holds exactly the reference fabric's bytes."""
        size = self.layout.memory_bytes
        for end, memory in self.memory.items():
            endpoint = self.layout.ends[end].endpoint
            expected = self.fabric.endpoints[endpoint].memory.peek(0, size)
            actual = memory.peek(0, size)
            if actual != expected:
                first = next(index for index in range(size)
                             if actual[index] != expected[index])
                raise AssertionError(f"{end}'s memory differs from the reference first at "
                                     f"{first:#x}: {actual[first]:#x}, expected "
                                     f"{expected[first]:#x}")

    def summary(self) -> dict[str, object]:
        responses = sum((side.responses for side in self.managers), Counter())
        sides = self.managers
        return {"bursts": sum(side.bursts_answered for side in sides),
                "R beats": sum(side.beats_checked for side in sides),
                "responses": dict(responses), "drained at": self.drained_at}
