"""Chiplets in a cocotb test: their address maps, masters, memories, monitors, the reference.

A :class:`SystemLayout` names the chiplets of a test top (``ChipletPair`` or
``ChipletFabric``): each one's endpoint ID, the prefixes of its lanes' AXI4 ports in the
Verilog, its windows, and the pages its masters may use. :class:`SystemBench` puts
cocotbext-axi's AxiMaster on every lane's subordinate port and an AxiRam on every lane's
manager port (the AxiRams of one chiplet share one memory: the ASIC's), the AXI4 protocol
checker on all of them, and sends each burst through the master of the lane its address
belongs to (:func:`~hdl.chiplet.striper.lane_for`). It watches every subordinate port: a write
burst is applied to the reference fabric (:class:`emulator.ref.chiplet.Fabric`) when its last
W beat is taken, which gives the BRESP the port must return; a read burst is read from the
reference when its AR is taken, which gives every R beat. BRESPs and R beats are matched per
port and ID, in order (each lane's port is an AXI4 subordinate of its own). The stimulus keeps
at most one transaction under way per page of the far memory, and every source has pages of
its own in every memory, so the reference's one-at-a-time order is a legal order of what the
chiplets do concurrently.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError
from cocotbext.axi import AxiBurstType, AxiBus, AxiMaster, AxiRam

from emulator.ref.axi import PAGE_BYTES, Burst
from emulator.ref.chiplet import AddressMap, Endpoint, Fabric, Window
from hdl.chiplet.axi import Response, data_bytes
from hdl.chiplet.chiplet_pair import CHIPLET_COUNTERS
from hdl.chiplet.striper import lane_for
from hdl.params import ChipletParams
from testbench.axi_checker import AxiProtocolChecker
from testbench.chiplet_write import master_burst
from testbench.harness import start, within
from testbench.memories import restore_memories
from testbench.runner import BUILD_DIR_VARIABLE, TOP_VARIABLE
from testbench.stalls import stalled_handshakes
from testbench.stream import pauses

#: Bytes of each ASIC's memory behind its manager ports.
MEMORY_BYTES = 16 * PAGE_BYTES
#: Global addresses of each ASIC's map: windows onto the other memories from here, one
#: ``WINDOW_STRIDE`` apart; gap pages below ``GAP_BASE`` (DECERR), one per lane; pages mapped
#: beyond the far memory (SLVERR), at least ``SLVERR_PAGES`` and one per lane.
MEMORY_BASE = 0x10_0000
WINDOW_STRIDE = 0x10_0000
GAP_BASE = 0x30_0000 - PAGE_BYTES
BEYOND_BASE = 0x40_0000
SLVERR_PAGES = 2
#: Every response code a test must see.
CODES = ("B OKAY", "B SLVERR", "B DECERR", "R OKAY", "R SLVERR", "R DECERR")
#: What joins an array member's name to an element's index, and a port's prefix to its
#: signals, in Amaranth's Verilog (``a_s_axi`` lane 1: ``a_s_axi__1__awvalid``).
SEPARATOR = "__"
#: The counters that must stay zero: completions nobody asked for.
STRAY_COUNTERS = tuple(name for name in CHIPLET_COUNTERS if name.startswith("stray_"))
#: Cycles a transaction may take before the run is declared stuck: many completion time-outs
#: (a plane killed without notice costs one, and its retries another), far below the cycles a
#: stuck run would waste.
STALL_CYCLES = 100_000


def lane_prefixes(prefix: str, links: int) -> list[str]:
    """The Verilog prefixes of the elements of the port array ``prefix``, lane by lane."""
    return [f"{prefix}{SEPARATOR}{lane}" for lane in range(links)]


@dataclass
class End:
    """One chiplet of a test top, as the testbench sees it: its lanes' port prefixes (lane
    ``i`` at index ``i``) and the pages its masters use (global addresses)."""

    endpoint: int
    endpoint_port: str
    s_prefixes: list[str]
    m_prefixes: list[str]
    address_map: AddressMap
    okay_pages: list[int]
    slverr_pages: list[int]
    decerr_pages: list[int]


@dataclass
class SystemLayout:
    ends: dict[str, End]
    counter: Callable[[object, str, str, int], object]  # (dut, end, name, index) -> handle

    @property
    def address_maps(self) -> dict[str, AddressMap]:
        return {name: end.address_map for name, end in self.ends.items()}


def _windows(params: ChipletParams, source: int, others: list[int], share: int,
             slot: int, memory_bytes: int = MEMORY_BYTES
             ) -> tuple[AddressMap, list[int], list[int], list[int]]:
    """Windows from ``source`` onto each of ``others``: ``share`` bytes of its memory (of
    ``memory_bytes``), the ``slot``-th share; and a window past the memory of the first of
    them. Returns the map and its OKAY, SLVERR and DECERR pages."""
    windows, okay = [], []
    for index, other in enumerate(others):
        base = MEMORY_BASE + index * WINDOW_STRIDE
        windows.append(Window(base, share, other, slot * share))
        okay += [base + page * PAGE_BYTES for page in range(share // PAGE_BYTES)]
    beyond = max(SLVERR_PAGES, params.links)
    windows.append(Window(BEYOND_BASE, beyond * PAGE_BYTES, others[0], memory_bytes))
    slverr = [BEYOND_BASE + page * PAGE_BYTES for page in range(beyond)]
    decerr = [GAP_BASE - page * PAGE_BYTES for page in range(params.links)]
    return AddressMap(params, windows), okay, slverr, decerr


def pair_layout(params: ChipletParams, memory_bytes: int = MEMORY_BYTES) -> SystemLayout:
    """``ChipletPair``: chiplets ``a`` (endpoint 3) and ``b`` (endpoint 12), each with a window
    onto the whole memory of the other (``memory_bytes``, at most ``WINDOW_STRIDE``)."""
    ids = {"a": 3, "b": 12}
    ends = {}
    for name, endpoint in ids.items():
        other = ids["b" if name == "a" else "a"]
        address_map, okay, slverr, decerr = _windows(params, endpoint, [other],
                                                     memory_bytes, 0, memory_bytes)
        ends[name] = End(endpoint, f"{name}_endpoint",
                         lane_prefixes(f"{name}_s_axi", params.links),
                         lane_prefixes(f"{name}_m_axi", params.links),
                         address_map, okay, slverr, decerr)
    return SystemLayout(ends, lambda dut, end, name, index:
                        getattr(dut, f"{end}_{name}{SEPARATOR}{index}"))


def fabric_layout(params: ChipletParams, count: int) -> SystemLayout:
    """``ChipletFabric`` of ``count`` chiplets, endpoint ``n`` on switch port ``n``: each has a
    window onto its own share of every other memory."""
    share = MEMORY_BYTES // count // PAGE_BYTES * PAGE_BYTES
    ends = {}
    for n in range(count):
        others = [other for other in range(count) if other != n]
        address_map, okay, slverr, decerr = _windows(params, n, others, share, n)
        ends[str(n)] = End(n, f"endpoint{SEPARATOR}{n}",
                           lane_prefixes(f"s_axi{SEPARATOR}{n}", params.links),
                           lane_prefixes(f"m_axi{SEPARATOR}{n}", params.links),
                           address_map, okay, slverr, decerr)
    return SystemLayout(ends, lambda dut, end, name, index:
                        getattr(dut, f"{name}{SEPARATOR}{end}{SEPARATOR}{index}"))


@dataclass
class _Read:
    burst: Burst
    responses: tuple[Response, ...]
    data: tuple[int | None, ...]
    beat: int = 0


@dataclass
class PortScoreboard:
    """Everything one subordinate port must answer, and what it did answer."""

    writes: dict[int, deque[Response]] = field(default_factory=lambda: defaultdict(deque))
    reads: dict[int, deque[_Read]] = field(default_factory=lambda: defaultdict(deque))
    responses: Counter = field(default_factory=Counter)
    writes_checked: int = 0
    reads_checked: int = 0
    beats_checked: int = 0

    @property
    def outstanding(self) -> int:
        return sum(map(len, self.writes.values())) + sum(map(len, self.reads.values()))


class SystemScoreboard:
    """Watches every lane's subordinate port of every chiplet against the reference fabric."""

    def __init__(self, dut, params: ChipletParams, layout: SystemLayout) -> None:
        self.dut = dut
        self.layout = layout
        self.fabric = Fabric(params, {end.endpoint: Endpoint(end.address_map, MEMORY_BYTES)
                                      for end in layout.ends.values()})
        #: (chiplet, lane) -> that port's scoreboard
        self.ports = {(name, lane): PortScoreboard() for name, end in layout.ends.items()
                      for lane in range(len(end.s_prefixes))}

    async def monitor(self, name: str, lane: int) -> None:
        dut, port, end = self.dut, self.ports[name, lane], self.layout.ends[name]
        prefix = end.s_prefixes[lane]

        def signal(field_name: str):
            return getattr(dut, f"{prefix}{SEPARATOR}{field_name}").value

        def burst(channel: str) -> Burst:
            return Burst.from_fields(*(signal(f"{channel}{part}").to_unsigned()
                                       for part in ("addr", "len", "size", "burst")))

        addresses: deque[tuple[Burst, int]] = deque()
        words: list[int] = []
        strobes: list[int] = []
        while True:
            await RisingEdge(dut.clk)
            if signal("awvalid") and signal("awready"):
                addresses.append((burst("aw"), signal("awid").to_unsigned()))
            if signal("wvalid") and signal("wready"):
                words.append(signal("wdata").to_unsigned())
                strobes.append(signal("wstrb").to_unsigned())
                if signal("wlast"):
                    assert addresses, f"{prefix}: write data taken before any write address"
                    write, awid = addresses.popleft()
                    result = self.fabric.write(end.endpoint, write, words, strobes)
                    port.writes[awid].append(result.response)
                    words, strobes = [], []
            if signal("bvalid") and signal("bready"):
                bid, bresp = signal("bid").to_unsigned(), Response(signal("bresp").to_unsigned())
                assert port.writes[bid], f"{prefix}: BRESP for AWID {bid} with no write pending"
                expected = port.writes[bid].popleft()
                assert bresp == expected, (f"{prefix}: AWID {bid} got {bresp.name}, "
                                           f"expected {expected.name}")
                port.writes_checked += 1
                port.responses[f"B {bresp.name}"] += 1
            if signal("arvalid") and signal("arready"):
                read = burst("ar")
                result = self.fabric.read(end.endpoint, read)
                port.reads[signal("arid").to_unsigned()].append(
                    _Read(read, result.responses, result.data))
            if signal("rvalid") and signal("rready"):
                self._beat(prefix, port, signal("rid").to_unsigned(),
                           Response(signal("rresp").to_unsigned()),
                           signal("rdata").to_unsigned(), int(signal("rlast")))

    @staticmethod
    def _beat(name: str, port: PortScoreboard, rid: int, rresp: Response, rdata: int,
              rlast: int) -> None:
        assert port.reads[rid], f"{name}: read data for ARID {rid} with no read pending"
        read = port.reads[rid][0]
        number = read.beat
        where = f"{name}: ARID {rid}, beat {number} of {read.burst}"
        assert rresp == read.responses[number], \
            f"{where}: RRESP {rresp.name}, expected {read.responses[number].name}"
        if rresp == Response.OKAY:
            assert rdata == read.data[number], \
                f"{where}: data {rdata:#x}, expected {read.data[number]:#x}"
        assert rlast == (number == read.burst.length - 1), f"{where}: RLAST {rlast}"
        port.beats_checked += 1
        port.responses[f"R {rresp.name}"] += 1
        read.beat += 1
        if rlast:
            port.reads[rid].popleft()
            port.reads_checked += 1

    def memory_of(self, name: str) -> dict[int, int]:
        """The reference's bytes of ``name``'s memory (address: byte), written ones only."""
        return self.fabric.endpoints[self.layout.ends[name].endpoint].memory.contents

    def assert_drained(self) -> None:
        for (name, lane), port in self.ports.items():
            assert port.outstanding == 0, \
                f"{name} lane {lane}: {port.outstanding} transactions unanswered"


#: Counters per chiplet: name -> value of each lane (or plane).
Counters = dict[str, list[int]]


class SystemBench:
    """Masters, memories, checkers and the scoreboard around a top of several chiplets."""

    def __init__(self, dut, rng: random.Random, params: ChipletParams, layout: SystemLayout,
                 in_flight: int = 16, pause: float = 0.2) -> None:
        self.dut = dut
        self.rng = rng
        self.params = params
        self.layout = layout
        self.in_flight = in_flight
        self.bus_bytes = data_bytes(params)
        self.scoreboard = SystemScoreboard(dut, params, layout)
        #: chiplet -> its lanes' masters, and its lanes' memory ports (one memory)
        self.masters: dict[str, list[AxiMaster]] = {}
        self.rams: dict[str, list[AxiRam]] = {}
        self.checkers = []
        self.issued = 0
        for name, end in layout.ends.items():
            getattr(dut, end.endpoint_port).value = end.endpoint
            masters: list[AxiMaster] = []
            rams: list[AxiRam] = []
            self.masters[name], self.rams[name] = masters, rams
            for s_prefix, m_prefix in zip(end.s_prefixes, end.m_prefixes, strict=True):
                master = AxiMaster(AxiBus.from_prefix(dut, s_prefix, bus_separator=SEPARATOR),
                                   dut.clk, dut.rst)
                ram = AxiRam(AxiBus.from_prefix(dut, m_prefix, bus_separator=SEPARATOR),
                             dut.clk, dut.rst, size=MEMORY_BYTES,
                             mem=rams[0].mem if rams else None)
                masters.append(master)
                rams.append(ram)
                for channel in (master.write_if.aw_channel, master.write_if.w_channel,
                                master.write_if.b_channel, master.read_if.ar_channel,
                                master.read_if.r_channel, ram.write_if.aw_channel,
                                ram.write_if.w_channel, ram.write_if.b_channel,
                                ram.read_if.ar_channel, ram.read_if.r_channel):
                    channel.set_pause_generator(pauses(rng, pause))
                for prefix in (s_prefix, m_prefix):
                    # cocotbext-axi logs every burst at INFO: too much for thousands of them.
                    logging.getLogger(f"cocotb.{dut._name}.{prefix}").setLevel(logging.WARNING)
                    self.checkers.append(AxiProtocolChecker.from_prefix(dut, prefix, dut.clk,
                                                                        dut.rst))
        dut.memory_bytes.value = MEMORY_BYTES
        dut.planes_up.value = (1 << params.links) - 1
        dut.flip_rate.value = 0
        dut.drop_rate.value = 0
        dut.dead.value = 0

    async def start(self) -> None:
        """Every memory of the top back to its power-up contents (a reset does not clear
        them: the far sides' duplicate filters, free lists, FIFOs; and the tests of a module
        follow one another in one simulation), then the clock, the reset and a monitor on
        every lane's subordinate port."""
        top = os.environ[TOP_VARIABLE]
        memories, words = restore_memories(
            self.dut, Path(os.environ[BUILD_DIR_VARIABLE]) / f"{top}.v", top)
        self.dut._log.info("%d memories (%d words) put back to their power-up contents",
                           memories, words)
        await start(self.dut)
        for name, lane in self.scoreboard.ports:
            cocotb.start_soon(self.scoreboard.monitor(name, lane))

    async def traffic(self, name: str, count: int) -> None:
        """``count`` random transactions from ``name``, each through the master of its
        address's lane, at most one per page at a time."""
        rng, masters, end = self.rng, self.masters[name], self.layout.ends[name]
        links = self.params.links
        busy: set[int] = set()
        tasks = []
        quiet = [0]  # cycles the issuing waited since a transaction of this side finished

        async def one(page: int) -> None:
            address, length, size, kind = master_burst(rng, self.bus_bytes, page)
            master = masters[lane_for(address, links)]
            if rng.random() < 0.5:
                data = bytes(rng.getrandbits(8) for _ in range(length))
                await master.write(address, data, awid=rng.randrange(4),
                                   burst=AxiBurstType(kind), size=size)
            else:
                await master.read(address, length, arid=rng.randrange(4),
                                  burst=AxiBurstType(kind), size=size)
            busy.discard(page)
            quiet[0] = 0

        async def wait() -> None:
            """A cycle of the issuing waiting for a transaction to finish; none finishing
            for ``STALL_CYCLES`` stops the run with the stall report."""
            await RisingEdge(self.dut.clk)
            quiet[0] += 1
            if quiet[0] > STALL_CYCLES:
                self.report_stall(name)
                raise SimTimeoutError

        started = 0
        while started < count:
            while len(busy) >= self.in_flight:
                await wait()
            pool = rng.choices([end.okay_pages, end.slverr_pages, end.decerr_pages],
                               weights=[82, 10, 8])[0]
            free = [page for page in pool if page not in busy]
            if not free:
                await wait()
                continue
            page = rng.choice(free)
            busy.add(page)
            tasks.append(cocotb.start_soon(one(page)))
            started += 1
            self.issued += 1
            if self.issued % 1000 == 0:
                self.dut._log.info("%d transactions issued", self.issued)
        for task in tasks:
            try:
                await within(STALL_CYCLES, task)
            except SimTimeoutError:
                self.report_stall(name)
                raise

    async def run(self, count: int) -> None:
        """Every chiplet at once, ``count`` transactions shared between them."""
        ends = list(self.layout.ends)
        sides = [cocotb.start_soon(self.traffic(name, count // len(ends))) for name in ends]
        for side in sides:
            await side
        await ClockCycles(self.dut.clk, 20)

    def report_stall(self, name: str) -> None:
        """Log what a stuck run waits for: the chiplets' counters and every handshake held
        valid without ready (``testbench.stalls``)."""
        log = self.dut._log
        log.error("%s: a transaction unanswered after %d cycles; counters %s", name,
                  STALL_CYCLES, self.counters())
        for line in stalled_handshakes(self.dut):
            log.error("stalled: %s", line)

    def counters(self) -> dict[str, Counters]:
        """Every chiplet's counters (:data:`CHIPLET_COUNTERS`), per lane or plane."""
        return {name: {counter: [self.layout.counter(self.dut, name, counter, index)
                                 .value.to_unsigned() for index in range(self.params.links)]
                       for counter in CHIPLET_COUNTERS}
                for name in self.layout.ends}

    def check(self) -> dict[str, Counters]:
        """Everything answered, memories equal to the reference, no protocol error, no
        stray completion, every lane used, every response code seen; returns the chiplets'
        counters (logged first, with the responses per lane port, to help explain a
        failure)."""
        dut, scoreboard = self.dut, self.scoreboard
        counters = self.counters()
        ports = {f"{name}.{lane}": dict(port.responses)
                 for (name, lane), port in scoreboard.ports.items()}
        checked = {key: port.writes_checked + port.reads_checked
                   for key, port in scoreboard.ports.items()}
        dut._log.info("%d bursts checked (%d transactions issued), responses per lane port "
                      "%s; counters %s", sum(checked.values()), self.issued, ports, counters)
        scoreboard.assert_drained()
        for checker in self.checkers:
            checker.assert_clean()
        for name in self.layout.ends:
            expected = bytearray(MEMORY_BYTES)
            for address, value in scoreboard.memory_of(name).items():
                expected[address] = value
            actual = self.rams[name][0].read(0, MEMORY_BYTES)
            if actual != expected:
                wrong = [index for index in range(MEMORY_BYTES)
                         if actual[index] != expected[index]]
                first = wrong[0]
                raise AssertionError(f"{name}'s memory differs from the reference in "
                                     f"{len(wrong)} bytes from {first:#x} to {wrong[-1]:#x}; "
                                     f"at {first:#x}: {actual[first]:#x}, expected "
                                     f"{expected[first]:#x}")
        for name, values in counters.items():
            for counter in STRAY_COUNTERS:
                assert not any(values[counter]), f"{name}: {counter} {values[counter]}"
        assert sum(checked.values()) >= self.issued
        unused = [f"{name} lane {lane}" for (name, lane), count in checked.items() if not count]
        assert not unused, f"no burst went through {unused}: raise TRANSACTIONS"
        seen = sum((port.responses for port in scoreboard.ports.values()), Counter())
        for code in CODES:
            assert seen[code], f"no {code} seen: raise TRANSACTIONS"
        return counters


def retry_totals(dut, counters: dict[str, Counters]) -> dict[str, int]:
    """Requests moved, retried (handed over by a failed plane), duplicates (repeated writes
    answered without being carried out) and completions abandoned on a failed plane, summed
    over chiplets and lanes or planes; logged."""
    totals = {name: sum(sum(values[name]) for values in counters.values())
              for name in ("requests_moved", "retried", "duplicates", "abandoned_completions")}
    dut._log.info("moved, retried, duplicates suppressed, completions abandoned: %s", totals)
    return totals
