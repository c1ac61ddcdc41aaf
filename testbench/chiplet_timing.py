"""Bandwidth and latency of two chiplets joined by their links, in Amaranth's simulator.

On every lane of chiplet ``a`` a simple manager sends full-width INCR bursts of 256 bytes, as
fast as the lane's subordinate port takes them, into ``b``'s memory, each lane to pages of its
own (:func:`~hdl.chiplet.striper.lane_for` of the address is the lane); every lane of ``b``
has an always-ready memory on its manager port, which answers a read ``MEMORY_LATENCY``
cycles after its AR and a write in the cycle after its last W beat. Nothing is back-pressured
and no wire is damaged, so what is measured is the chiplets and the link layer. Data are not
checked here (``tests/sim/test_chiplet_pair.py`` does that); only when things happen.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from amaranth.sim import Simulator

from emulator.ref.axi import PAGE_BYTES
from hdl.chiplet.axi import BurstType, data_bytes
from hdl.chiplet.chiplet_pair import ChipletPair
from hdl.chiplet.striper import lane_for
from hdl.layouts import MAX_DATA_BYTES
from hdl.params import ChipletParams, SystemParams
from testbench.chiplet_system import MEMORY_BASE, MEMORY_BYTES, pair_layout

#: Cycles from an AR taken to the first R beat of the memories behind ``b``.
MEMORY_LATENCY = 2
#: Bytes a flit carries on the link, each cycle.
FLIT_BYTES = 16
#: The share of a link's flits that carry data when every packet carries 256 bytes: 16 data
#: flits in every 17 sent (a header each).
FORMAT_SHARE = 16 / 17


def format_limit(links: int) -> float:
    """Data bytes per cycle that ``links`` links carry at most in 256-byte packets."""
    return links * FLIT_BYTES * FORMAT_SHARE


def lanes_system(base: SystemParams, links: int = 1, data_bits: int = 128,
                 tags: int = 16) -> SystemParams:
    """``base`` with ``links`` planes, so ``links`` lanes per chiplet."""
    return dataclasses.replace(base, name=f"{base.name}-{links}-links", switch_chips=links,
                               switch_chips_per_tray=links,
                               chiplet=ChipletParams(links=links, axi_data_bits=data_bits,
                                                     outstanding_tags=tags))


@dataclass
class Run:
    """Cycle stamps of one simulation: per event name, the cycles it happened in (all lanes
    together)."""

    events: dict[str, list[int]]
    cycles: int

    def first(self, name: str) -> int:
        return self.events[name][0]


def memory_bytes_for(links: int) -> int:
    """The far memory of the bench: ``MEMORY_BYTES``, or a page per lane when there are
    more lanes than its pages."""
    return max(MEMORY_BYTES, links * PAGE_BYTES)


def lane_addresses(lane: int, links: int) -> list[int]:
    """The 256-byte blocks of ``b``'s memory, as ``a`` addresses them, that lane ``lane``
    sends to: those of the pages :func:`lane_for` gives it."""
    memory = memory_bytes_for(links)
    pages = [MEMORY_BASE + page * PAGE_BYTES for page in range(memory // PAGE_BYTES)
             if lane_for(MEMORY_BASE + page * PAGE_BYTES, links) == lane]
    return [page + block for page in pages for block in range(0, PAGE_BYTES, MAX_DATA_BYTES)]


class _Names:
    """A port of the cycle model as the bench addresses an RTL interface: ``port.awvalid``
    is the name ``"{prefix}.awvalid"``."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def __getattr__(self, name: str) -> str:
        return f"{self._prefix}.{name}"

    def __getitem__(self, index: int) -> _Names:
        return _Names(f"{self._prefix}.{index}")


class _ModelContext:
    """What the bench needs of Amaranth's testbench context (``set``, ``get``, ``tick``),
    on a cycle model: ``get`` settles the model on the inputs set so far (only the parts an
    input reaches are evaluated again), ``tick`` commits the edge."""

    def __init__(self, model) -> None:
        self.model = model
        self.inputs = dict.fromkeys(model.input_widths, 0)
        self.outputs: dict[str, int] | None = None

    def set(self, name: str, value) -> None:
        value = int(getattr(value, "value", value))  # an enum member, or a number
        if self.inputs[name] != value:
            self.inputs[name] = value
            self.outputs = None

    def get(self, name: str) -> int:
        if name in self.inputs:
            return self.inputs[name]
        if self.outputs is None:
            self.outputs = self.model.comb(self.inputs)
        return self.outputs[name]

    async def tick(self) -> None:
        self.model.tick(self.inputs)
        self.outputs = None


@dataclass
class _Lane:
    """One lane's manager on ``a`` and memory on ``b``, and where they are."""

    s_axi: object
    m_axi: object
    addresses: list[int]
    write: bool  # else reads
    issued: int = 0
    w_beats: int = 0
    w_owed: int = 0  # W beats of bursts whose AW was taken
    reads: deque[tuple[int, int]] = field(default_factory=deque)  # (cycle data start, beats)
    r_left: int = 0
    writes_done: deque[int] = field(default_factory=deque)


#: What a simulation sends: 256-byte writes, 256-byte reads.
PHASES = ("write", "read")


def simulate(system: SystemParams, bursts: int, phases: Sequence[str] = PHASES,
             limit: int = 200_000, watch: bool = False, model: bool = False) -> Run:
    """For each of ``phases`` in turn, send ``bursts`` 256-byte bursts of that kind from
    every lane of ``a`` to ``b`` at once, the next phase once all are answered; stamp events.
    ``watch`` also stamps the inner points of :func:`_watches`. One simulation serves several
    phases because building it takes most of the time. ``model``: run the pair's cycle model
    (``ChipletPairModel``, cycle for cycle the RTL) instead of the RTL in Amaranth's
    simulator; it is what a rack-sized chiplet (36 lanes) can be measured on."""
    if unknown := set(phases) - set(PHASES):
        raise ValueError(f"phases {sorted(unknown)}: a phase is one of {PHASES}")
    if watch and model:
        raise ValueError("the inner points are watched on the RTL only")
    params = system.chiplet
    links = params.links
    bus_bytes = data_bytes(params)
    beats = MAX_DATA_BYTES // bus_bytes
    memory_bytes = memory_bytes_for(links)
    layout = pair_layout(params, memory_bytes)
    if model:
        from emulator.cycle.chiplet import ChipletPairModel

        dut = _Names("")
        top = ChipletPairModel(layout.address_maps, system.link)
        for name in ("a_s_axi", "b_m_axi", "memory_bytes", "planes_up", *(
                end.endpoint_port for end in layout.ends.values())):
            setattr(dut, name, _Names(name) if name.endswith("axi") else name)
    else:
        dut = ChipletPair(layout.address_maps, system.link)
    events: dict[str, list[int]] = {}
    watches = _watches(dut.chiplets["a"], dut.chiplets["b"]) if watch else []

    def stamp(name: str, cycle: int) -> None:
        events.setdefault(name, []).append(cycle)

    async def bench(ctx) -> None:
        for end in layout.ends.values():
            ctx.set(getattr(dut, end.endpoint_port), end.endpoint)
        ctx.set(dut.memory_bytes, memory_bytes)
        ctx.set(dut.planes_up, (1 << links) - 1)
        size = bus_bytes.bit_length() - 1
        for lane in range(links):
            s_axi, m_axi = dut.a_s_axi[lane], dut.b_m_axi[lane]
            ctx.set(s_axi.bready, 1)
            ctx.set(s_axi.rready, 1)
            for channel in ("aw", "ar"):
                ctx.set(getattr(s_axi, f"{channel}len"), beats - 1)
                ctx.set(getattr(s_axi, f"{channel}size"), size)
                ctx.set(getattr(s_axi, f"{channel}burst"), BurstType.INCR)
                ctx.set(getattr(m_axi, f"{channel}ready"), 1)
            ctx.set(m_axi.wready, 1)
            ctx.set(s_axi.wstrb, (1 << bus_bytes) - 1)
        cycle = 0
        for phase in phases:
            lanes = [_Lane(dut.a_s_axi[lane], dut.b_m_axi[lane], lane_addresses(lane, links),
                           phase == "write") for lane in range(links)]
            answered = 0
            while answered < bursts * links:
                cycle += 1
                if cycle > limit:
                    raise RuntimeError(f"{phase}s: {answered} of {bursts * links} bursts "
                                       f"answered after {limit} cycles: the chiplets stopped")
                for lane in lanes:
                    answered += _step(ctx, lane, cycle, bursts, beats, stamp)
                for point in watches:
                    point.sample(ctx, cycle, stamp)
                await ctx.tick()

    if model:
        coroutine = bench(_ModelContext(top))
        try:
            while True:
                coroutine.send(None)
        except StopIteration:
            pass
    else:
        simulator = Simulator(dut)
        simulator.add_clock(1e-9)
        simulator.add_testbench(bench)
        simulator.run()
    return Run(events, max(max(stamps) for stamps in events.values()))


def _step(ctx, lane: _Lane, cycle: int, bursts: int, beats: int, stamp) -> int:
    """One cycle of a lane's manager and memory; the bursts answered in it."""
    s_axi, m_axi, write = lane.s_axi, lane.m_axi, lane.write
    prefix = "aw" if write else "ar"
    want = lane.issued < bursts
    ctx.set(getattr(s_axi, f"{prefix}valid"), want)
    ctx.set(getattr(s_axi, f"{prefix}addr"), lane.addresses[lane.issued % len(lane.addresses)])
    if write:
        ctx.set(s_axi.wvalid, lane.w_owed > 0)
        ctx.set(s_axi.wlast, lane.w_beats % beats == beats - 1)
        ctx.set(m_axi.bvalid, bool(lane.writes_done) and lane.writes_done[0] <= cycle)
    else:
        if lane.r_left == 0 and lane.reads and lane.reads[0][0] <= cycle:
            lane.r_left = lane.reads.popleft()[1]
        ctx.set(m_axi.rvalid, lane.r_left > 0)
        ctx.set(m_axi.rlast, lane.r_left == 1)
    answered = 0
    # What happens in this cycle.
    if want and ctx.get(getattr(s_axi, f"{prefix}ready")):
        stamp(prefix.upper(), cycle)
        lane.issued += 1
        lane.w_owed += beats if write else 0
    if write:
        if lane.w_owed > 0 and ctx.get(s_axi.wready):
            lane.w_beats += 1
            lane.w_owed -= 1
        if ctx.get(s_axi.bvalid):
            stamp("B", cycle)
            answered += 1
        if ctx.get(m_axi.wvalid) and ctx.get(m_axi.wlast):
            stamp("far W last", cycle)
            lane.writes_done.append(cycle + 1)
        if ctx.get(m_axi.bvalid) and ctx.get(m_axi.bready):
            lane.writes_done.popleft()
    else:
        if ctx.get(s_axi.rvalid):
            stamp("R", cycle)
            if ctx.get(s_axi.rlast):
                stamp("R last", cycle)
                answered += 1
        if ctx.get(m_axi.arvalid):
            stamp("far AR", cycle)
            lane.reads.append((cycle + MEMORY_LATENCY, ctx.get(m_axi.arlen) + 1))
        if lane.r_left and ctx.get(m_axi.rready):
            if lane.r_left == 1:
                stamp("far R last", cycle)
            lane.r_left -= 1
    return answered


class _PacketWatch:
    """Stamps ``name`` when a packet's header passes a stream port, ``name + " last"`` when
    its last flit does."""

    def __init__(self, name: str, port) -> None:
        self.name, self.port, self.at_start = name, port, True

    def sample(self, ctx, cycle: int, stamp) -> None:
        port = self.port
        if ctx.get(port.valid) and ctx.get(port.ready):
            last = ctx.get(port.payload).last
            if self.at_start:
                stamp(self.name, cycle)
            if last:
                stamp(f"{self.name} last", cycle)
            self.at_start = bool(last)


class _CounterWatch:
    """Stamps ``name`` in the cycle a counter's increase was caused (it shows a cycle later)."""

    def __init__(self, name: str, value) -> None:
        self.name, self.value, self.previous = name, value, 0

    def sample(self, ctx, cycle: int, stamp) -> None:
        now = ctx.get(self.value)
        if now != self.previous:
            stamp(self.name, cycle - 1)
            self.previous = now


def _watches(a, b) -> list:
    """The inner points of both chiplets that a request and its answer pass, in order, on
    every lane and link."""
    watches = [_PacketWatch("requests out of the packetizers", lane.request_merge.flit_out)
               for lane in a.lanes]
    watches += [_CounterWatch("request header sent", end.counters.packets_sent)
                for end in a.link_ends]
    watches += [_PacketWatch("request delivered", lane.request_in) for lane in b.lanes]
    watches += [_PacketWatch("completion from the far side", lane.responder.completion)
                for lane in b.lanes]
    watches += [_CounterWatch("completion header sent", end.counters.packets_sent)
                for end in b.link_ends]
    watches += [_PacketWatch("completion delivered", lane.completion_merge.flit_out)
                for lane in a.lanes]
    return watches


def throughputs(system: SystemParams, bursts: int, model: bool = False) -> dict[str, float]:
    """Data bytes per cycle of writes and of reads (:data:`PHASES`) in the steady state,
    every lane of ``a`` sending ``bursts`` 256-byte bursts of each: the bytes of the bursts
    answered (writes: BRESPs; reads: last R beats) after the cycle the first eighth of all
    the bursts was, up to the cycle the last eighth starts."""
    run = simulate(system, bursts, model=model)
    figures = {}
    for phase, event in (("write", "B"), ("read", "R last")):
        done = run.events[event]
        total = len(done)
        start, end = done[total // 8], done[total - total // 8]
        answered = bisect.bisect_right(done, end) - bisect.bisect_right(done, start)
        figures[phase] = answered * MAX_DATA_BYTES / (end - start)
    return figures


#: The stages of a zero-load remote read, as (from event, to event, what happens).
READ_STAGES = (
    ("AR", "requests out of the packetizers", "read packetizer: AR to READ header"),
    ("requests out of the packetizers", "request header sent",
     "packet queue, link transmitter"),
    ("request header sent", "request delivered", "wire and link receiver"),
    ("request delivered", "far AR", "far side: request decoder"),
    ("far AR", "far R last", "far memory: latency and R beats"),
    ("far R last", "completion from the far side", "far side: READ_RESPONSE header"),
    ("completion from the far side", "completion header sent",
     "packet queue (whole packet) and link transmitter"),
    ("completion header sent", "completion delivered",
     "wire, whole packet, link receiver CRC check"),
    ("completion delivered", "completion delivered last", "completion flits into the read side"),
    ("completion delivered last", "R", "read responses: first R beat"),
    ("R", "R last", "R beats"),
)


def read_latency(system: SystemParams) -> list[tuple[str, int]]:
    """One 256-byte read at zero load on a one-link ``system``: cycles spent in each of
    :data:`READ_STAGES`; their sum is AR taken to RLAST taken."""
    if system.chiplet.links != 1:
        raise ValueError(f"read_latency needs one link, not {system.chiplet.links}: with more, "
                         "every lane sends a read and the stages' stamps interleave")
    run = simulate(system, 1, ("read",), watch=True)
    return [(what, run.first(end) - run.first(start)) for start, end, what in READ_STAGES]
