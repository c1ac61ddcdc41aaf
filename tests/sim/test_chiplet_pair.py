"""Two chiplets joined by their links, on Icarus and Verilator, checked against the reference.

The top is ``ChipletPair``: chiplet ``a`` and ``b``, link ``i`` of one wired to link ``i`` of the
other (one switch plane each), with random damage drawn in hardware on every wire. On each
side cocotbext-axi's AxiMaster issues random reads and writes (every burst type, narrow and
unaligned INCR, four IDs, up to 16 under way) into the windows onto the other side's memory,
a gap (DECERR) and pages beyond the far memory (SLVERR); an AxiRam serves each manager port;
every port has back-pressure and the AXI4 protocol checker. ``testbench.chiplet_pair`` checks
every BRESP and R beat against ``emulator.ref.chiplet.Fabric`` as they happen, and both
memories byte for byte at the end.

``TRANSACTIONS`` sets the transactions per test (default 300), ``PAIR_TESTS`` picks tests by
name (comma-separated), ``PAIR_PRESET`` another parameter set.

Tests: clean wires; wires with bit errors and lost flits; a plane failing mid-traffic (its
wires go dead, the planes mask drops it, traffic moves, the wires come back and the link
layer delivers what it held).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from collections import Counter

import cocotb
import pytest
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBurstType, AxiBus, AxiMaster, AxiRam

from hdl.chiplet.axi import data_bytes
from hdl.chiplet.chiplet_pair import ChipletPair
from hdl.layouts import unpack
from hdl.link.link_signals import LINK_COUNTERS
from hdl.link.wire_faults import RATE_BITS
from hdl.params import PRESETS, ChipletParams, SystemParams
from hdl.toolchain import SIMULATORS
from testbench.axi_checker import AxiProtocolChecker
from testbench.chiplet_pair import (
    DECERR_PAGES,
    ENDPOINTS,
    MEMORY_BYTES,
    OKAY_PAGES,
    SLVERR_PAGES,
    PairScoreboard,
    pair_address_maps,
)
from testbench.chiplet_write import master_burst
from testbench.harness import start, within
from testbench.runner import params_in_test, run_cocotb
from testbench.stream import pauses

TOP = "chiplet_pair"
#: Transactions per cocotb test, both sides together.
TRANSACTIONS = int(os.environ.get("TRANSACTIONS", 300))
#: Most transactions under way on one side.
IN_FLIGHT = 16
PAUSE = 0.2
#: A wire's damage in the link-error test: one flit in 1,000 damaged, one in 4,000 lost.
FLIP_RATE = (1 << RATE_BITS) // 1000
DROP_RATE = (1 << RATE_BITS) // 4000


class PairBench:
    """Masters, memories, checkers and the scoreboard around one ``ChipletPair``."""

    def __init__(self, dut, rng: random.Random) -> None:
        self.dut = dut
        self.rng = rng
        self.params = params_in_test().chiplet
        self.bus_bytes = data_bytes(self.params)
        self.scoreboard = PairScoreboard(dut, self.params)
        self.masters, self.rams, self.checkers = {}, {}, []
        self.issued = 0
        all_planes = (1 << self.params.links) - 1
        for end, endpoint in ENDPOINTS.items():
            getattr(dut, f"{end}_endpoint").value = endpoint
        dut.memory_bytes.value = MEMORY_BYTES
        dut.planes_up.value = all_planes
        dut.flip_rate.value = 0
        dut.drop_rate.value = 0
        dut.dead.value = 0
        for end in ENDPOINTS:
            master = self.masters[end] = AxiMaster(
                AxiBus.from_prefix(dut, f"{end}_s_axi", bus_separator="__"), dut.clk, dut.rst)
            ram = self.rams[end] = AxiRam(
                AxiBus.from_prefix(dut, f"{end}_m_axi", bus_separator="__"), dut.clk, dut.rst,
                size=MEMORY_BYTES)
            for channel in (master.write_if.aw_channel, master.write_if.w_channel,
                            master.write_if.b_channel, master.read_if.ar_channel,
                            master.read_if.r_channel, ram.write_if.aw_channel,
                            ram.write_if.w_channel, ram.write_if.b_channel,
                            ram.read_if.ar_channel, ram.read_if.r_channel):
                channel.set_pause_generator(pauses(rng, PAUSE))
            for port in ("s_axi", "m_axi"):
                # cocotbext-axi logs every burst at INFO: too much for thousands of them.
                logging.getLogger(f"cocotb.{dut._name}.{end}_{port}").setLevel(logging.WARNING)
                self.checkers.append(AxiProtocolChecker.from_prefix(dut, f"{end}_{port}",
                                                                    dut.clk, dut.rst))

    async def start(self) -> None:
        await start(self.dut)
        for end in ENDPOINTS:
            cocotb.start_soon(self.scoreboard.monitor(end))

    async def traffic(self, end: str, count: int) -> None:
        """``count`` random transactions from ``end``, at most one per page at a time."""
        rng, master = self.rng, self.masters[end]
        busy: set[int] = set()
        tasks = []

        async def one(page: int) -> None:
            address, length, size, kind = master_burst(rng, self.bus_bytes, page)
            if rng.random() < 0.5:
                data = bytes(rng.getrandbits(8) for _ in range(length))
                await master.write(address, data, awid=rng.randrange(4),
                                   burst=AxiBurstType(kind), size=size)
            else:
                await master.read(address, length, arid=rng.randrange(4),
                                  burst=AxiBurstType(kind), size=size)
            busy.discard(page)

        started = 0
        while started < count:
            while len(busy) >= IN_FLIGHT:
                await RisingEdge(self.dut.clk)
            pool = rng.choices([OKAY_PAGES, SLVERR_PAGES, DECERR_PAGES], weights=[82, 10, 8])[0]
            free = [page for page in pool if page not in busy]
            if not free:
                await RisingEdge(self.dut.clk)
                continue
            page = rng.choice(free)
            busy.add(page)
            tasks.append(cocotb.start_soon(one(page)))
            started += 1
            self.issued += 1
            if self.issued % 1000 == 0:
                self.dut._log.info("%d transactions issued", self.issued)
        for task in tasks:
            await within(500_000, task)

    async def run(self, count: int) -> None:
        """Both sides at once, half of ``count`` each."""
        sides = [cocotb.start_soon(self.traffic(end, count // 2)) for end in ENDPOINTS]
        for side in sides:
            await side
        await ClockCycles(self.dut.clk, 20)

    def check(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Everything answered, memories equal to the reference, no protocol error, no
        stray completion; returns the chiplets' counters."""
        dut, scoreboard = self.dut, self.scoreboard
        scoreboard.assert_drained()
        for checker in self.checkers:
            checker.assert_clean()
        for end in ENDPOINTS:
            expected = bytearray(MEMORY_BYTES)
            for address, value in scoreboard.memory_of(end).items():
                expected[address] = value
            actual = self.rams[end].read(0, MEMORY_BYTES)
            if actual != expected:
                first = next(index for index in range(MEMORY_BYTES)
                             if actual[index] != expected[index])
                raise AssertionError(f"{end}'s memory differs from the reference first at "
                                     f"{first:#x}: {actual[first]:#x}, expected "
                                     f"{expected[first]:#x}")
        counters = {}
        for end in ENDPOINTS:
            for name in ("requests_sent", "requests_moved", "completions_sent",
                         "completions_moved", "stray_write_completions",
                         "stray_read_completions"):
                counters[f"{end}.{name}"] = getattr(dut, f"{end}_{name}").value.to_unsigned()
            assert counters[f"{end}.stray_write_completions"] == 0
            assert counters[f"{end}.stray_read_completions"] == 0
        links = {}
        for end in ENDPOINTS:
            for index in range(self.params.links):
                value = getattr(dut, f"{end}_link_counters__{index}").value.to_unsigned()
                fields = unpack(LINK_COUNTERS, value)
                links[f"{end}{index}"] = {name: getattr(fields, name) for name in
                                          ("packets_sent", "crc_errors", "replays", "timeouts")}
        ports = {end: dict(port.responses) for end, port in scoreboard.ports.items()}
        checked = sum(port.writes_checked + port.reads_checked
                      for port in scoreboard.ports.values())
        dut._log.info("%d transactions checked (%d issued), responses %s; counters %s %s",
                      checked, self.issued, ports, counters, links)
        assert checked >= self.issued
        seen = sum((port.responses for port in scoreboard.ports.values()), Counter())
        for code in ("B OKAY", "B SLVERR", "B DECERR", "R OKAY", "R SLVERR", "R DECERR"):
            assert seen[code], f"no {code} seen: raise TRANSACTIONS"
        return counters, links


@cocotb.test()
async def clean_links(dut) -> None:
    """Random reads and writes both ways over undamaged links."""
    bench = PairBench(dut, random.Random(cocotb.RANDOM_SEED))
    await bench.start()
    await bench.run(TRANSACTIONS)
    bench.check()


@cocotb.test()
async def link_errors(dut) -> None:
    """The same with bits flipped and flits lost on every wire: the link layers replay."""
    bench = PairBench(dut, random.Random(cocotb.RANDOM_SEED))
    dut.flip_rate.value = FLIP_RATE
    dut.drop_rate.value = DROP_RATE
    await bench.start()
    await bench.run(TRANSACTIONS)
    _, links = bench.check()
    assert sum(link["crc_errors"] for link in links.values()), "no damage was injected"


@cocotb.test()
async def plane_failure(dut) -> None:
    """Plane 1's wires die mid-traffic; the planes mask drops it a little later; its wires
    come back after a while and its link delivers what it held; packets homed on plane 1
    move to the other planes once it is drained. Nothing is lost or duplicated."""
    bench = PairBench(dut, random.Random(cocotb.RANDOM_SEED))
    await bench.start()
    links = bench.params.links
    traffic = cocotb.start_soon(bench.run(TRANSACTIONS))
    while bench.issued < TRANSACTIONS // 4:
        await RisingEdge(dut.clk)
    dut.dead.value = 0b10
    await ClockCycles(dut.clk, 100)
    dut.planes_up.value = ((1 << links) - 1) & ~0b10
    await ClockCycles(dut.clk, 2000)
    dut.dead.value = 0
    await traffic
    counters, _ = bench.check()
    moved = sum(value for name, value in counters.items() if name.endswith("_moved"))
    assert moved, "no packet moved off the failed plane"


#: The default run: a 128-bit bus and 8 tags per direction keep the design small enough to
#: build in a few minutes; ``PAIR_PRESET=small`` runs the presets' 512-bit bus and 64 tags.
SMALL_PAIR = dataclasses.replace(PRESETS["small"], name="small-pair",
                                 chiplet=ChipletParams(axi_data_bits=128, outstanding_tags=8))
SYSTEM = PRESETS[os.environ["PAIR_PRESET"]] if "PAIR_PRESET" in os.environ else SMALL_PAIR


@pytest.mark.sim
@pytest.mark.parametrize("simulator", sorted(SIMULATORS))
@pytest.mark.parametrize("system", [SYSTEM], ids=lambda system: system.name)
def test_chiplet_pair(simulator: str, system: SystemParams) -> None:
    chosen = [name for name in os.environ.get("PAIR_TESTS", "").split(",") if name]
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_pair", system, testcase=chosen or None,
               component=ChipletPair(pair_address_maps(system.chiplet), system.link))
