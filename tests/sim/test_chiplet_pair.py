"""Two chiplets joined by their links, on Icarus and Verilator, checked against the reference.

The top is ``ChipletPair``: chiplet ``a`` and ``b``, link ``i`` of one wired to link ``i`` of the
other (one switch plane each), with random damage drawn in hardware on every wire. Each
chiplet has a lane (an AXI4 port pair) per link. On each side cocotbext-axi's AxiMasters, one
per lane, issue random reads and writes (every burst type, narrow and unaligned INCR, four
IDs, up to 16 under way per side), each through the lane of its address (``lane_for``), into
the windows onto the other side's memory, gaps (DECERR) and pages beyond the far memory
(SLVERR); an AxiRam serves each lane's manager port, those of one side sharing one memory;
every port has back-pressure and the AXI4 protocol checker. ``testbench.chiplet_system``
checks every BRESP and R beat against ``emulator.ref.chiplet.Fabric`` as they happen, per lane
port and ID, and both memories byte for byte at the end.

``TRANSACTIONS`` sets the transactions per test (default 200), ``PAIR_TESTS`` picks tests by
name (comma-separated; by default all, but ``plane_killed`` on Icarus, see ``SLOW_TESTS``),
``PAIR_PRESET`` another parameter set; ``PAIR_DAMAGE=1`` damages the wires in the plane-failure
test too.

Tests: clean wires; wires with bit errors and lost flits; a plane failing mid-traffic (its
wires go dead, the planes mask drops it, what it kept is retried on the other plane and
traffic moves, the wires come back and the far sides see the originals again: duplicates);
a plane killed without notice (its wires dead for good, the chiplets notice by the
completion time-out); and the top against its cycle model
(``emulator.cycle.chiplet.ChipletPairModel``), every output port every cycle, on the stimulus
of Amaranth's lockstep (``testbench.chiplet_pair_lockstep``), ``LOCKSTEP_CYCLES`` long
(default 2,000 cycles of new bursts, then the drain).
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from pathlib import Path

import cocotb
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from emulator.cycle.chiplet import ChipletPairModel, wire_seeds
from hdl.chiplet.chiplet_pair import ENDS, ChipletPair
from hdl.layouts import unpack
from hdl.link.link_signals import LINK_COUNTERS
from hdl.link.wire_faults import RATE_BITS
from hdl.params import PRESETS, ChipletParams, SystemParams, preset
from hdl.toolchain import SIMULATORS
from testbench import chiplet_system
from testbench.chiplet_pair_lockstep import PairEnd, PairLayout, PairLockstep, PairScenario
from testbench.chiplet_system import SystemBench, pair_layout, retry_totals
from testbench.cocotb_lockstep import Ports, reset
from testbench.memories import restore_memories
from testbench.part_lockstep import check_widths, compare
from testbench.runner import BUILD_DIR_VARIABLE, params_in_test, run_cocotb

TOP = "chiplet_pair"
#: Transactions per cocotb test, both sides together.
TRANSACTIONS = int(os.environ.get("TRANSACTIONS", 200))
#: Most transactions under way on one side.
IN_FLIGHT = 16
PAUSE = 0.2
#: A wire's damage in the link-error test: one flit in 1,000 damaged, one in 4,000 lost.
FLIP_RATE = (1 << RATE_BITS) // 1000
DROP_RATE = (1 << RATE_BITS) // 4000
#: Cycles of new bursts in the lockstep with the model; its wires' damage, as in Amaranth's
#: lockstep (tests/unit/test_chiplet_cycle.py): one flit in 500 flipped, one in 4,000 lost.
LOCKSTEP_CYCLES = int(os.environ.get("LOCKSTEP_CYCLES", 2000))
LOCKSTEP_FLIP_RATE = (1 << RATE_BITS) // 500
LOCKSTEP_DROP_RATE = DROP_RATE
#: Cycles the lockstep's drain may take, at most, after the last burst starts.
DRAIN_LIMIT = 20_000


def bench_for(dut) -> SystemBench:
    params = params_in_test().chiplet
    return SystemBench(dut, random.Random(cocotb.RANDOM_SEED), params, pair_layout(params),
                       in_flight=IN_FLIGHT, pause=PAUSE)


def link_counters(dut, links: int) -> dict[str, dict[str, int]]:
    counters = {}
    for end in ("a", "b"):
        for index in range(links):
            fields = unpack(LINK_COUNTERS,
                            getattr(dut, f"{end}_link_counters__{index}").value.to_unsigned())
            counters[f"{end}{index}"] = {name: getattr(fields, name) for name in
                                         ("packets_sent", "crc_errors", "replays", "timeouts")}
    dut._log.info("link counters %s", counters)
    return counters


@cocotb.test()
async def clean_links(dut) -> None:
    """Random reads and writes both ways over undamaged links."""
    bench = bench_for(dut)
    await bench.start()
    await bench.run(TRANSACTIONS)
    bench.check()
    link_counters(dut, bench.params.links)


@cocotb.test()
async def link_errors(dut) -> None:
    """The same with bits flipped and flits lost on every wire: the link layers replay."""
    bench = bench_for(dut)
    dut.flip_rate.value = FLIP_RATE
    dut.drop_rate.value = DROP_RATE
    await bench.start()
    await bench.run(TRANSACTIONS)
    bench.check()
    links = link_counters(dut, bench.params.links)
    assert sum(link["crc_errors"] for link in links.values()), "no damage was injected"


@cocotb.test()
async def plane_failure(dut) -> None:
    """Plane 1's wires die mid-traffic; the planes mask drops it a little later; its wires
    come back after a while and its link delivers what it held; lane 1's requests move to
    the next plane up once plane 1 is drained. Nothing is lost or duplicated."""
    bench = bench_for(dut)
    if os.environ.get("PAIR_DAMAGE") == "1":  # link errors on top of the failure
        dut.flip_rate.value = FLIP_RATE
        dut.drop_rate.value = DROP_RATE
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
    counters = bench.check()
    link_counters(dut, links)
    totals = retry_totals(dut, counters)
    assert totals["requests_moved"], "no request moved off the failed plane"
    assert totals["retried"], "the failed plane handed nothing over"


@cocotb.test()
async def plane_killed(dut) -> None:
    """Plane 1's wires die for good mid-traffic and nobody tells the chiplets (it stays in
    ``planes_up``): whatever plane 1 held, in its queues, link ends and wires, is lost. Each
    chiplet notices by the completion time-out, hands every request plane 1 kept over to
    plane 0 as a retry, and the far sides carry each write out once: every response and
    memory byte as the reference says."""
    bench = bench_for(dut)
    await bench.start()
    links = bench.params.links
    traffic = cocotb.start_soon(bench.run(TRANSACTIONS))
    while bench.issued < TRANSACTIONS // 4:
        await RisingEdge(dut.clk)
    dut.dead.value = 0b10
    await traffic
    counters = bench.check()
    link_counters(dut, links)
    totals = retry_totals(dut, counters)
    assert totals["retried"], "plane 1 handed nothing over"


def lockstep_layout(params: ChipletParams) -> PairLayout:
    """The windows, endpoints and pages the top is built with (``pair_layout``, as in
    ``test_chiplet_pair``), for the lockstep's stimulus."""
    ends = {name: PairEnd(end.endpoint, end.address_map, end.okay_pages, end.slverr_pages,
                          end.decerr_pages) for name, end in pair_layout(params).ends.items()}
    return PairLayout(ends, chiplet_system.MEMORY_BYTES)


@cocotb.test()
async def lockstep_with_model(dut) -> None:
    """The top against ``ChipletPairModel``, cycle for cycle: random AXI4 managers and memories
    on both sides, every wire damaged, plane 1's wires dead for 600 cycles from a third of the
    way in and the plane leaving ``planes_up`` 100 cycles after dying. Inputs are written just
    after a rising edge; every output is read once settled and compared with the model's, then
    the model steps over the edge. BRESPs, R beats and both memories are also checked against
    the reference. The memories are first put back to their initial contents, from which the
    model starts, whichever tests ran before in this simulation."""
    system = params_in_test()
    params = system.chiplet
    layout = lockstep_layout(params)
    model = ChipletPairModel(layout.address_maps, system.link)
    check_widths(ChipletPair(layout.address_maps, system.link), model)
    scenario = PairScenario(cycles=LOCKSTEP_CYCLES, flip_rate=LOCKSTEP_FLIP_RATE,
                            drop_rate=LOCKSTEP_DROP_RATE, dead_at=LOCKSTEP_CYCLES // 3)
    lockstep = PairLockstep(params, random.Random(cocotb.RANDOM_SEED), model.input_widths,
                            scenario, layout)
    ports = Ports(dut, model.input_widths, model.output_widths)
    widths = {**model.input_widths, **model.output_widths}
    wrong = {name: (len(ports.handles[name]), width) for name, width in widths.items()
             if len(ports.handles[name]) != width}
    assert not wrong, f"ports of the Verilog (width, model's width) differ: {wrong}"
    memories, words = restore_memories(dut, Path(os.environ[BUILD_DIR_VARIABLE]) / f"{TOP}.v",
                                       TOP)
    await reset(dut)
    limit = scenario.cycles + DRAIN_LIMIT
    seeds = wire_seeds(params.links)
    started = time.monotonic()
    cycle = 0
    while not lockstep.done:
        assert cycle < limit, f"not drained after {cycle} cycles"
        values = lockstep.inputs(cycle)
        ports.write(values)
        await ReadOnly()
        if cycle == 0:  # the LFSRs hold their seeds until the first edge after reset
            rtl_seeds = {name: getattr(dut, f"{name}_faults").state.value.to_unsigned()
                         for name in seeds}
            assert rtl_seeds == seeds, f"wire seeds {rtl_seeds} in the RTL, {seeds} in the model"
        expected = model.comb(values)
        compare(cycle, expected, ports.read)
        lockstep.observe(cycle, expected)
        model.tick(values)
        await RisingEdge(dut.clk)
        cycle += 1
    seconds = time.monotonic() - started
    lockstep.check_memories()
    summary = lockstep.summary()
    # The last cycle's outputs, the same in the RTL and the model.
    totals = {"crc_errors": 0, "replays": 0, "moved": 0}
    for end in ENDS:
        for index in range(params.links):
            fields = unpack(LINK_COUNTERS, expected[f"{end}_link_counters.{index}"])
            totals["crc_errors"] += fields.crc_errors
            totals["replays"] += fields.replays
            totals["moved"] += expected[f"{end}_requests_moved.{index}"]
    dut._log.info("%d cycles compared in %.1f s (%.0f cycles/s), every output every cycle, "
                  "after %d memories (%d words) were put back to their initial contents; %s; %s",
                  cycle, seconds, cycle / seconds, memories, words, summary, totals)
    for code in chiplet_system.CODES:
        assert summary["responses"].get(code), f"no {code} seen: raise LOCKSTEP_CYCLES"
    assert all(totals.values()), f"no CRC error, replay or packet moved off the plane: {totals}"


#: The cocotb tests of this module, in order.
ALL_TESTS = ("clean_links", "link_errors", "plane_failure", "plane_killed",
             "lockstep_with_model")
#: Tests the default run leaves to ``make soak`` (which names every test in ``PAIR_TESTS``)
#: on a simulator: the plane killed without notice waits out the completion time-out, four
#: minutes of Icarus on a busy two-core machine; Verilator runs it in seconds.
SLOW_TESTS = {"icarus": ("plane_killed",)}

#: The default run: a 128-bit bus and 8 tags per direction keep the design small enough to
#: build in a few minutes; ``PAIR_PRESET=small`` runs the presets' 512-bit bus and 64 tags.
SMALL_PAIR = dataclasses.replace(PRESETS["small"], name="small-pair",
                                 chiplet=ChipletParams(axi_data_bits=128, outstanding_tags=8))
SYSTEM = preset(os.environ["PAIR_PRESET"]) if "PAIR_PRESET" in os.environ else SMALL_PAIR


@pytest.mark.sim
@pytest.mark.parametrize("simulator", sorted(SIMULATORS))
@pytest.mark.parametrize("system", [SYSTEM], ids=lambda system: system.name)
def test_chiplet_pair(simulator: str, system: SystemParams) -> None:
    chosen = [name for name in os.environ.get("PAIR_TESTS", "").split(",") if name]
    if not chosen and simulator in SLOW_TESTS:
        chosen = [name for name in ALL_TESTS if name not in SLOW_TESTS[simulator]]
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_pair", system, testcase=chosen or None,
               component=ChipletPair(pair_layout(system.chiplet).address_maps, system.link))
