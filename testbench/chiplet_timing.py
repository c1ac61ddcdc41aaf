"""Bandwidth and latency of two chiplets joined by their links, in Amaranth's simulator.

A simple manager on chiplet ``a``'s subordinate port sends full-width INCR bursts of 256
bytes, as fast as the port takes them, into ``b``'s memory; an always-ready memory on ``b``'s
manager port answers a read ``MEMORY_LATENCY`` cycles after its AR and a write in the cycle
after its last W beat. Nothing is back-pressured and no wire is damaged, so what is measured is
the chiplets and the link layer. Data are not checked here (``tests/sim/test_chiplet_pair.py``
does that); only when things happen.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from amaranth.sim import Simulator

from hdl.chiplet.axi import BurstType, data_bytes
from hdl.chiplet.chiplet_pair import ChipletPair
from hdl.layouts import MAX_DATA_BYTES
from hdl.params import ChipletParams, SystemParams
from testbench.chiplet_system import MEMORY_BASE, MEMORY_BYTES, pair_layout

#: Cycles from an AR taken to the first R beat of the memory behind ``b``.
MEMORY_LATENCY = 2
#: Bytes a flit carries on the link.
FLIT_BYTES = 16


def one_link_system(base: SystemParams, data_bits: int = 128, tags: int = 16) -> SystemParams:
    """``base`` with one plane: the chiplet's packetizers move one flit per cycle, a link's
    rate, so one link is what a single stream of bursts can fill."""
    return dataclasses.replace(base, name=f"{base.name}-one-link", switch_chips=1,
                               switch_chips_per_tray=1,
                               chiplet=ChipletParams(links=1, axi_data_bits=data_bits,
                                                     outstanding_tags=tags))


@dataclass
class Run:
    """Cycle stamps of one simulation: per event name, the cycles it happened in."""

    events: dict[str, list[int]]
    cycles: int

    def first(self, name: str) -> int:
        return self.events[name][0]


def simulate(system: SystemParams, bursts: int, write: bool, limit: int = 200_000) -> Run:
    """Send ``bursts`` 256-byte bursts (writes or reads) from ``a`` to ``b``; stamp events."""
    params = system.chiplet
    bus_bytes = data_bytes(params)
    beats = MAX_DATA_BYTES // bus_bytes
    layout = pair_layout(params)
    dut = ChipletPair(layout.address_maps, system.link)
    a, b = dut.chiplets["a"], dut.chiplets["b"]
    events: dict[str, list[int]] = {}
    blocks = MEMORY_BYTES // MAX_DATA_BYTES

    def stamp(name: str, cycle: int) -> None:
        events.setdefault(name, []).append(cycle)

    watches = _watches(a, b)

    async def bench(ctx) -> None:
        for end in layout.ends.values():
            ctx.set(getattr(dut, end.endpoint_port), end.endpoint)
        ctx.set(dut.memory_bytes, MEMORY_BYTES)
        ctx.set(dut.planes_up, (1 << params.links) - 1)
        s_axi, m_axi = dut.a_s_axi, dut.b_m_axi
        size = bus_bytes.bit_length() - 1
        ctx.set(s_axi.bready, 1)
        ctx.set(s_axi.rready, 1)
        for prefix in ("aw", "ar"):
            ctx.set(getattr(s_axi, f"{prefix}len"), beats - 1)
            ctx.set(getattr(s_axi, f"{prefix}size"), size)
            ctx.set(getattr(s_axi, f"{prefix}burst"), BurstType.INCR)
            ctx.set(getattr(m_axi, f"{prefix}ready"), 1)
        ctx.set(m_axi.wready, 1)
        ctx.set(s_axi.wstrb, (1 << bus_bytes) - 1)
        issued = w_beats = answered = 0
        w_owed = 0  # W beats of bursts whose AW was taken
        reads: deque[tuple[int, int]] = deque()  # (cycle the data start, beats)
        r_left = 0
        writes_done: deque[int] = deque()
        cycle = 0
        while answered < bursts:
            cycle += 1
            if cycle > limit:
                raise RuntimeError(f"{answered} of {bursts} bursts answered after {limit} "
                                   "cycles: the chiplets stopped")
            address = MEMORY_BASE + (issued % blocks) * MAX_DATA_BYTES
            want = issued < bursts
            prefix = "aw" if write else "ar"
            ctx.set(getattr(s_axi, f"{prefix}valid"), want)
            ctx.set(getattr(s_axi, f"{prefix}addr"), address)
            ctx.set(s_axi.wvalid, write and w_owed > 0)
            ctx.set(s_axi.wlast, w_beats % beats == beats - 1)
            # The memory behind b.
            ctx.set(m_axi.bvalid, bool(writes_done) and writes_done[0] <= cycle)
            if r_left == 0 and reads and reads[0][0] <= cycle:
                r_left = reads.popleft()[1]
            ctx.set(m_axi.rvalid, r_left > 0)
            ctx.set(m_axi.rlast, r_left == 1)
            # What happens in this cycle.
            if want and ctx.get(getattr(s_axi, f"{prefix}ready")):
                stamp("AR" if not write else "AW", cycle)
                issued += 1
                w_owed += beats if write else 0
            if write and w_owed > 0 and ctx.get(s_axi.wready):
                w_beats += 1
                w_owed -= 1
            if ctx.get(s_axi.bvalid):
                stamp("B", cycle)
                answered += 1
            if ctx.get(s_axi.rvalid):
                stamp("R", cycle)
                if ctx.get(s_axi.rlast):
                    stamp("R last", cycle)
                    answered += 1
            if ctx.get(m_axi.arvalid):
                stamp("far AR", cycle)
                reads.append((cycle + MEMORY_LATENCY, ctx.get(m_axi.arlen) + 1))
            if ctx.get(m_axi.wvalid) and ctx.get(m_axi.wlast):
                stamp("far W last", cycle)
                writes_done.append(cycle + 1)
            if ctx.get(m_axi.bvalid) and ctx.get(m_axi.bready):
                writes_done.popleft()
            if r_left and ctx.get(m_axi.rready):
                if r_left == 1:
                    stamp("far R last", cycle)
                r_left -= 1
            for watch in watches:
                watch.sample(ctx, cycle, stamp)
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    return Run(events, max(max(stamps) for stamps in events.values()))


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
    """The inner points of both chiplets that a request and its answer pass, in order."""
    watches = [_PacketWatch("requests out of the packetizers", a.request_merge.flit_out)]
    for index, end in enumerate(a.link_ends):
        watches.append(_CounterWatch("request header sent", end.counters.packets_sent))
        del index
    watches += [_PacketWatch("request delivered", b.arriving_requests.flit_out),
                _PacketWatch("completion from the far side", b.responder.completion)]
    watches += [_CounterWatch("completion header sent", end.counters.packets_sent)
                for end in b.link_ends]
    watches += [_PacketWatch("completion delivered", a.arriving_completions.flit_out)]
    return watches


#: The format's limit for 256-byte transfers: 16 data flits in every 17 sent.
FORMAT_LIMIT = 16 / 17


def efficiency(system: SystemParams, bursts: int, write: bool) -> float:
    """Data bytes per cycle over one link's 16 raw bytes per cycle, in the steady state:
    between the answers to the first eighth and the last eighth of ``bursts`` 256-byte
    bursts (writes: BRESPs; reads: last R beats)."""
    run = simulate(system, bursts, write)
    done = run.events["B" if write else "R last"]
    first, last = bursts // 8, bursts - bursts // 8
    return (last - first) * MAX_DATA_BYTES / ((done[last] - done[first]) * FLIT_BYTES)


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
    """One 256-byte read at zero load: cycles spent in each of :data:`READ_STAGES`; their
    sum is AR taken to RLAST taken."""
    run = simulate(system, 1, write=False)
    return [(what, run.first(end) - run.first(start)) for start, end, what in READ_STAGES]
