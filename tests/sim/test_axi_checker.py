"""The AXI4 protocol checker on Icarus and Verilator, on both ports of an AXI4 register slice.

Legal random traffic (cocotbext-axi AxiMaster, and channel-level bursts with random WSTRB,
narrow FIXED and small WRAP bursts) through ``AxiPassthrough`` into an AxiRam, with random
back-pressure everywhere: no violation on either port, every response OKAY, read data and
the final memory equal to ``emulator.ref.axi``. Then violations injected by hand, one per
test: each is flagged with its rule on the port(s) where it happens, and nothing else is. Read
data of different IDs answered out of AR order and interleaved are legal and pass clean; a
reordering within one ID is flagged, also while another ID's beats interleave with it.
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Awaitable, Callable

import cocotb
import pytest
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.types import LogicArray
from cocotbext.axi import AxiBurstType, AxiBus, AxiMaster, AxiRam, AxiResp
from cocotbext.axi.axi_channels import (
    AxiARSource,
    AxiARTransaction,
    AxiAWSource,
    AxiAWTransaction,
    AxiBSink,
    AxiRSink,
    AxiWSource,
    AxiWTransaction,
)

from emulator.ref.axi import PAGE_BYTES, Burst, ReferenceMemory, beats, lane_bytes
from hdl.chiplet.axi import BurstType, data_bytes
from hdl.params import PRESETS
from hdl.toolchain import SIMULATORS
from testbench.axi_checker import AxiProtocolChecker
from testbench.harness import start, within
from testbench.runner import params_in_test, run_cocotb
from testbench.stream import pauses

BURSTS = int(os.environ.get("BURSTS", 400))
PAGES = 64
FIXED, INCR, WRAP = (kind.value for kind in BurstType)
MANAGER_OUTPUTS = ("awid", "awaddr", "awlen", "awsize", "awburst", "awlock", "awcache", "awprot",
                   "awqos", "awregion", "awvalid", "wdata", "wstrb", "wlast", "wvalid", "bready",
                   "arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot",
                   "arqos", "arregion", "arvalid", "rready")
SUBORDINATE_OUTPUTS = ("awready", "wready", "bid", "bresp", "bvalid", "arready", "rid", "rdata",
                       "rresp", "rlast", "rvalid")


def axi_bus(dut, prefix: str) -> AxiBus:
    return AxiBus.from_prefix(dut, prefix, bus_separator="__")


async def start_with_checkers(dut) -> tuple[AxiProtocolChecker, AxiProtocolChecker]:
    for name in MANAGER_OUTPUTS:
        getattr(dut, f"s_axi__{name}").value = 0
    for name in SUBORDINATE_OUTPUTS:
        getattr(dut, f"m_axi__{name}").value = 0
    checkers = (AxiProtocolChecker.from_prefix(dut, "s_axi", dut.clk, dut.rst),
                AxiProtocolChecker.from_prefix(dut, "m_axi", dut.clk, dut.rst))
    await start(dut)
    return checkers


def back_pressure(rng: random.Random, probability: float, *channels) -> None:
    for channel in channels:
        channel.set_pause_generator(pauses(rng, probability))


def random_burst(rng: random.Random, bus_bytes: int, page: int, kinds: list[int],
                 for_axi_master: bool) -> Burst:
    """A legal burst inside ``page``.

    AxiMaster makes a burst from an address and a byte count: it rotates byte lanes through
    the whole bus and splits at 4 KiB counted from the start, so for it FIXED bursts are full
    width and aligned, and WRAP regions span at least a bus word and end inside the page.
    """
    base = page * PAGE_BYTES
    kind = rng.choice(kinds)
    widest = bus_bytes.bit_length() - 1
    size = rng.randint(0, widest)
    if kind == FIXED:
        length = rng.randint(1, 16)
        if for_axi_master:
            return Burst(base + rng.randint(0, PAGE_BYTES // bus_bytes - length) * bus_bytes,
                         length, widest, kind)
        return Burst(base + rng.randrange(PAGE_BYTES), length, size, kind)
    if kind == WRAP:
        if not for_axi_master:
            return Burst(base + (rng.randrange(PAGE_BYTES >> size) << size),
                         rng.choice([2, 4, 8, 16]), size, kind)
        lengths = [n for n in (2, 4, 8, 16) if n << size >= bus_bytes]
        if not lengths:
            size, lengths = widest, [2, 4, 8, 16]
        length = rng.choice(lengths)
        return Burst(base + (rng.randint(0, (PAGE_BYTES - (length << size)) >> size) << size),
                     length, size, kind)
    offset = rng.randrange(PAGE_BYTES)
    room = (PAGE_BYTES - (offset >> size << size)) >> size
    return Burst(base + offset, rng.randint(1, min(room, 256)), size, kind)


def active_bytes(burst: Burst, bus_bytes: int, words: list[int]) -> bytes:
    return bytes(value for beat, word in zip(beats(burst, bus_bytes), words, strict=True)
                 for value in lane_bytes(word, beat))


@cocotb.test()
async def axi_master_traffic_is_clean(dut) -> None:
    """Random bursts of every type through cocotbext-axi's AxiMaster: several IDs, many
    outstanding, random back-pressure on all ten VALID/READY pairs."""
    params = params_in_test().chiplet
    bus_bytes = data_bytes(params)
    rng = random.Random(cocotb.RANDOM_SEED)
    checkers = await start_with_checkers(dut)
    master = AxiMaster(axi_bus(dut, "s_axi"), dut.clk, dut.rst)
    ram = AxiRam(axi_bus(dut, "m_axi"), dut.clk, dut.rst, size=PAGES * PAGE_BYTES)
    back_pressure(rng, 0.3, master.write_if.aw_channel, master.write_if.w_channel,
                  master.write_if.b_channel, master.read_if.ar_channel, master.read_if.r_channel,
                  ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                  ram.read_if.ar_channel, ram.read_if.r_channel)
    reference = ReferenceMemory(bus_bytes)
    done = 0
    kinds_seen = set()
    while done < BURSTS:
        # One batch: each burst on its own page, so the batch's order does not matter.
        pages = rng.sample(range(PAGES), rng.randint(1, 12))
        tasks = []
        for page in pages:
            burst = random_burst(rng, bus_bytes, page, [FIXED, INCR, INCR, WRAP], True)
            kinds_seen.add((burst.burst, burst.size < bus_bytes.bit_length() - 1,
                            burst.address % burst.number_bytes != 0))
            burst_beats = beats(burst, bus_bytes)
            arguments = {"burst": AxiBurstType(burst.burst), "size": burst.size}
            identifier = rng.randrange(4)
            if rng.random() < 0.5:
                words = [rng.getrandbits(8 * bus_bytes) for _ in burst_beats]
                data = active_bytes(burst, bus_bytes, words)
                reference.write(burst, words)
                tasks.append((burst, None, cocotb.start_soon(
                    master.write(burst.address, data, awid=identifier, **arguments))))
            else:
                expected = active_bytes(burst, bus_bytes, reference.read(burst))
                tasks.append((burst, expected, cocotb.start_soon(
                    master.read(burst.address, len(expected), arid=identifier, **arguments))))
        for burst, expected, task in tasks:
            result = await within(100_000, task)
            assert result.resp == AxiResp.OKAY, f"{burst}: {result.resp}"
            if expected is not None:
                assert result.data == expected, f"read {burst}: data differ from the reference"
        done += len(tasks)
    await ClockCycles(dut.clk, 10)
    assert ram.read(0, PAGES * PAGE_BYTES) == reference.peek(0, PAGES * PAGE_BYTES)
    dut._log.info("%d bursts; (type, narrow, unaligned) seen: %s", done, sorted(kinds_seen))
    for checker in checkers:
        checker.assert_clean()


@cocotb.test()
async def channel_level_bursts_are_clean(dut) -> None:
    """Bursts AxiMaster cannot make: narrow and unaligned FIXED, WRAP regions smaller than the
    bus, random WSTRB (zero included); beats driven straight onto the five channels."""
    params = params_in_test().chiplet
    bus_bytes = data_bytes(params)
    rng = random.Random(cocotb.RANDOM_SEED)
    checkers = await start_with_checkers(dut)
    bus = axi_bus(dut, "s_axi")
    aw = AxiAWSource(bus.write.aw, dut.clk, dut.rst)
    w = AxiWSource(bus.write.w, dut.clk, dut.rst)
    b = AxiBSink(bus.write.b, dut.clk, dut.rst)
    ar = AxiARSource(bus.read.ar, dut.clk, dut.rst)
    r = AxiRSink(bus.read.r, dut.clk, dut.rst)
    ram = AxiRam(axi_bus(dut, "m_axi"), dut.clk, dut.rst, size=PAGES * PAGE_BYTES)
    back_pressure(rng, 0.3, aw, w, b, ar, r, ram.write_if.aw_channel, ram.write_if.w_channel,
                  ram.write_if.b_channel, ram.read_if.ar_channel, ram.read_if.r_channel)
    reference = ReferenceMemory(bus_bytes)
    done = 0
    while done < BURSTS:
        pages = rng.sample(range(PAGES), rng.randint(1, 12))
        writes: dict[int, deque[Burst]] = {}
        reads: dict[int, deque[tuple[Burst, list[int]]]] = {}
        for page in pages:
            burst = random_burst(rng, bus_bytes, page, [FIXED, INCR, WRAP], False)
            burst_beats = beats(burst, bus_bytes)
            identifier = rng.randrange(4)
            fields = {"addr": burst.address, "len": burst.axlen, "size": burst.size,
                      "burst": burst.burst, "id": identifier}
            if rng.random() < 0.5:
                words = [rng.getrandbits(8 * bus_bytes) for _ in burst_beats]
                strobes = [rng.choice([beat.lanes, 0, rng.getrandbits(bus_bytes) & beat.lanes])
                           for beat in burst_beats]
                reference.write(burst, words, strobes)
                aw.send_nowait(AxiAWTransaction(**{f"aw{k}": v for k, v in fields.items()}))
                for number, (word, strobe) in enumerate(zip(words, strobes, strict=True)):
                    w.send_nowait(AxiWTransaction(wdata=word, wstrb=strobe,
                                                  wlast=int(number == burst.axlen)))
                writes.setdefault(identifier, deque()).append(burst)
            else:
                reads.setdefault(identifier, deque()).append((burst, reference.read(burst)))
                ar.send_nowait(AxiARTransaction(**{f"ar{k}": v for k, v in fields.items()}))
        await within(100_000, collect(b, r, writes, reads, bus_bytes))
        done += len(pages)
    await ClockCycles(dut.clk, 10)
    assert ram.read(0, PAGES * PAGE_BYTES) == reference.peek(0, PAGES * PAGE_BYTES)
    for checker in checkers:
        checker.assert_clean()


async def collect(b: AxiBSink, r: AxiRSink, writes: dict, reads: dict, bus_bytes: int) -> None:
    """Take every response of a batch; check IDs, responses, RLAST and read data."""
    while any(writes.values()):
        response = await b.recv()
        assert writes.get(int(response.bid)), f"write response for idle ID {int(response.bid)}"
        writes[int(response.bid)].popleft()
        assert int(response.bresp) == AxiResp.OKAY
    current: dict[int, int] = {}
    while any(reads.values()):
        beat = await r.recv()
        identifier = int(beat.rid)
        burst, words = reads[identifier][0]
        number = current.get(identifier, 0)
        lanes = beats(burst, bus_bytes)[number].lanes
        mask = sum(0xFF << (8 * lane) for lane in range(bus_bytes) if lanes >> lane & 1)
        assert int(beat.rdata) & mask == words[number], f"read {burst}: beat {number} differs"
        assert int(beat.rresp) == AxiResp.OKAY
        assert int(beat.rlast) == (number == burst.axlen)
        current[identifier] = number + 1
        if number == burst.axlen:
            reads[identifier].popleft()
            current[identifier] = 0


# Injected violations. Each scenario drives the pins by hand, just after a rising edge, with
# the subordinate side either always ready or as the scenario says.

class Pins:
    """Drive the signals of one port by their short names."""

    def __init__(self, dut, prefix: str) -> None:
        self.dut, self.prefix = dut, prefix

    def __call__(self, **values) -> None:
        for name, value in values.items():
            getattr(self.dut, f"{self.prefix}__{name}").value = value


async def edges(dut, count: int = 1) -> None:
    await ClockCycles(dut.clk, count)


AR = {"arid": 1, "araddr": 0x100, "arlen": 0, "arsize": 2, "arburst": INCR}


async def valid_dropped(dut, s: Pins, m: Pins) -> None:
    m(arready=0)
    s(arvalid=1, **AR)  # taken by the empty register stage at the next edge
    await edges(dut, 1)
    s(araddr=0x200)  # waits: the stage is full and the far side not ready
    await edges(dut, 2)
    s(arvalid=0)
    await edges(dut, 3)


async def payload_changed(dut, s: Pins, m: Pins) -> None:
    m(arready=0)
    s(arvalid=1, **AR)
    await edges(dut, 1)
    s(araddr=0x200)
    await edges(dut, 2)
    s(araddr=0x300)
    await edges(dut, 2)
    m(arready=1)
    await edges(dut, 1)
    s(arvalid=0)
    await edges(dut, 3)


def full_width(dut) -> tuple[int, int]:
    """AxSIZE and WSTRB of a beat that fills the bus."""
    lanes = len(dut.s_axi__wstrb)
    return lanes.bit_length() - 1, (1 << lanes) - 1


async def early_wlast(dut, s: Pins, m: Pins) -> None:
    size, strobe = full_width(dut)
    s(awvalid=1, awid=2, awaddr=0x200, awlen=3, awsize=size, awburst=INCR)
    await edges(dut)
    s(awvalid=0)
    for last in (0, 1, 0, 1):
        s(wvalid=1, wdata=0x1234, wstrb=strobe, wlast=last)
        await edges(dut)
    s(wvalid=0)
    await edges(dut, 3)


async def illegal_wrap(dut, s: Pins, m: Pins) -> None:
    s(arvalid=1, **{**AR, "arlen": 2, "arburst": WRAP})  # WRAP of 3 beats
    await edges(dut)
    s(arvalid=0)
    await edges(dut, 3)


async def unknown_id(dut, s: Pins, m: Pins) -> None:
    s(bready=1)
    m(bvalid=1, bid=5, bresp=0)
    await edges(dut)
    m(bvalid=0)
    await edges(dut, 3)


async def respond(dut, m: Pins, identifier: int, lasts: list[int]) -> None:
    await respond_beats(dut, m, [(identifier, last) for last in lasts])


async def respond_beats(dut, m: Pins, beats: list[tuple[int, int]]) -> None:
    """R beats, one per cycle, as (RID, RLAST)."""
    for identifier, last in beats:
        m(rvalid=1, rid=identifier, rdata=0xABCD, rresp=0, rlast=last)
        await edges(dut)
    m(rvalid=0)


async def issue_reads(dut, s: Pins, reads: list[tuple[int, int, int]]) -> None:
    """AR beats, one per cycle, as (ARID, ARADDR, ARLEN), R always ready."""
    s(rready=1)
    for identifier, address, length in reads:
        s(arvalid=1, **{**AR, "arid": identifier, "araddr": address, "arlen": length})
        await edges(dut)
    s(arvalid=0)
    await edges(dut, 2)


async def read_order(dut, s: Pins, m: Pins) -> None:
    s(rready=1, arvalid=1, **{**AR, "arid": 3, "arlen": 3})
    await edges(dut)
    s(araddr=0x400, arlen=1)
    await edges(dut)
    s(arvalid=0)
    await edges(dut, 2)
    await respond(dut, m, 3, [0, 1])  # the younger read's two beats first
    await respond(dut, m, 3, [0, 0, 0, 1])
    await edges(dut, 3)


async def reordered_across_ids(dut, s: Pins, m: Pins) -> None:
    """Legal: ID 5's read, issued after ID 3's, is answered first, and their beats
    interleave; each ID's beats come in the order of its reads."""
    await issue_reads(dut, s, [(3, 0x100, 3), (5, 0x400, 1), (3, 0x800, 0)])
    await respond_beats(dut, m, [(5, 0), (3, 0), (5, 1), (3, 0), (3, 0), (3, 1), (3, 1)])
    await edges(dut, 3)


async def reordered_within_an_id(dut, s: Pins, m: Pins) -> None:
    """ID 3's younger read is answered before its older one, while ID 5's beats interleave
    legally: only the reordering within ID 3 is flagged."""
    await issue_reads(dut, s, [(3, 0x100, 3), (3, 0x400, 1), (5, 0x800, 1)])
    await respond_beats(dut, m, [(3, 0), (5, 0), (3, 1), (5, 1),
                                 (3, 0), (3, 0), (3, 0), (3, 1)])
    await edges(dut, 3)


async def missing_rlast(dut, s: Pins, m: Pins) -> None:
    s(rready=1, arvalid=1, **{**AR, "arlen": 1})
    await edges(dut)
    s(arvalid=0)
    await edges(dut, 2)
    await respond(dut, m, 1, [0, 0])
    await edges(dut, 3)


async def early_read_data(dut, s: Pins, m: Pins) -> None:
    # On the far side, RVALID rises in the cycle the address is taken: too early there, but
    # legal on the near side, which saw the address a cycle sooner.
    s(rready=1, arvalid=1, **AR)
    await edges(dut)
    s(arvalid=0)
    await RisingEdge(dut.m_axi__arvalid)
    await respond(dut, m, 1, [1])
    await edges(dut, 3)


async def strobe_outside_lanes(dut, s: Pins, m: Pins) -> None:
    s(awvalid=1, awid=0, awaddr=0x301, awlen=0, awsize=0, awburst=INCR)
    await edges(dut)
    s(awvalid=0, wvalid=1, wdata=0, wstrb=0b1, wlast=1)  # the active lane is lane 1
    await edges(dut)
    s(wvalid=0)
    await edges(dut, 3)


async def early_write_response(dut, s: Pins, m: Pins) -> None:
    s(bready=1, awvalid=1, awid=4, awaddr=0x500, awlen=1, awsize=2, awburst=INCR)
    await edges(dut)
    s(awvalid=0, wvalid=1, wdata=0, wstrb=0xF, wlast=0)  # first of two beats only
    await edges(dut)
    s(wvalid=0)
    await edges(dut, 2)
    m(bvalid=1, bid=4, bresp=0)
    await edges(dut)
    m(bvalid=0)
    await edges(dut, 3)


async def short_write_data(dut, s: Pins, m: Pins) -> None:
    size, strobe = full_width(dut)
    s(awvalid=1, awid=0, awaddr=0x600, awlen=3, awsize=size, awburst=INCR)
    await edges(dut)
    s(awvalid=0)
    for last in (0, 0):
        s(wvalid=1, wdata=0, wstrb=strobe, wlast=last)
        await edges(dut)
    s(wvalid=0)
    await edges(dut, 3)


async def unknown_valid(dut, s: Pins, m: Pins) -> None:
    s(arvalid=LogicArray("X"), **AR)
    await edges(dut, 2)
    s(arvalid=0)
    await edges(dut, 3)


async def unknown_length(dut, s: Pins, m: Pins) -> None:
    s(arvalid=1, **{**AR, "arlen": LogicArray("XXXXXXXX")})
    await edges(dut)
    s(arvalid=0)
    await edges(dut, 3)


#: Scenario -> (driver, rules expected on s_axi, rules expected on m_axi, checked drained).
SCENARIOS: dict[str, tuple[Callable[..., Awaitable[None]], set[str], set[str], bool]] = {
    "valid_dropped": (valid_dropped, {"valid-held"}, set(), False),
    "payload_changed": (payload_changed, {"stable"}, set(), False),
    "early_wlast": (early_wlast, {"wlast"}, {"wlast"}, False),
    "illegal_wrap": (illegal_wrap, {"burst"}, {"burst"}, False),
    "unknown_id": (unknown_id, {"unknown-id"}, {"unknown-id"}, True),
    "read_order": (read_order, {"order"}, {"order"}, True),
    "reordered_within_an_id": (reordered_within_an_id, {"order"}, {"order"}, True),
    "reordered_across_ids": (reordered_across_ids, set(), set(), True),
    "missing_rlast": (missing_rlast, {"rlast"}, {"rlast"}, True),
    "early_read_data": (early_read_data, set(), {"r-early"}, True),
    "strobe_outside_lanes": (strobe_outside_lanes, {"wstrb"}, {"wstrb"}, False),
    "early_write_response": (early_write_response, {"b-early"}, {"b-early"}, True),
    "short_write_data": (short_write_data, {"write-data"}, {"write-data"}, False),
    "never_answered": (illegal_wrap, {"burst", "outstanding"}, {"burst", "outstanding"}, True),
}
#: Four-state only: Verilator turns X into a value.
X_SCENARIOS = {
    "unknown_valid": (unknown_valid, {"x-valid"}, {"x-valid"}, False),
    "unknown_length": (unknown_length, {"x-payload"}, {"x-payload"}, False),
}


async def run_scenario(dut, scenario) -> None:
    driver, on_s, on_m, drained = scenario
    checkers = await start_with_checkers(dut)
    s, m = Pins(dut, "s_axi"), Pins(dut, "m_axi")
    m(awready=1, wready=1, arready=1)
    await driver(dut, s, m)
    for checker, expected in zip(checkers, (on_s, on_m), strict=True):
        found = set(checker.finish(drained=drained) and checker.rules())
        assert found == expected, (
            f"{checker.name}: expected {sorted(expected)}, recorded "
            + "; ".join(str(violation) for violation in checker.violations))
        dut._log.info("%s: %s", checker.name, "; ".join(map(str, checker.violations)) or "-")


@cocotb.test()
@cocotb.parametrize(name=list(SCENARIOS))
async def injected_violation_is_flagged(dut, name: str) -> None:
    await run_scenario(dut, SCENARIOS[name])


@cocotb.test(skip=(getattr(cocotb, "SIM_NAME", None) or "").lower().startswith("verilator"))
@cocotb.parametrize(name=list(X_SCENARIOS))
async def unknown_value_is_flagged(dut, name: str) -> None:
    await run_scenario(dut, X_SCENARIOS[name])


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_axi_checker(simulator: str) -> None:
    run_cocotb("axi_passthrough", simulator, "tests.sim.test_axi_checker", PRESETS["small"])
