"""Two chiplets joined by their links, on Icarus and Verilator, checked against the reference.

The top is ``ChipletPair``: chiplet ``a`` and ``b``, link ``i`` of one wired to link ``i`` of the
other (one switch plane each), with random damage drawn in hardware on every wire. On each
side cocotbext-axi's AxiMaster issues random reads and writes (every burst type, narrow and
unaligned INCR, four IDs, up to 16 under way) into the windows onto the other side's memory,
a gap (DECERR) and pages beyond the far memory (SLVERR); an AxiRam serves each manager port;
every port has back-pressure and the AXI4 protocol checker. ``testbench.chiplet_system`` checks
every BRESP and R beat against ``emulator.ref.chiplet.Fabric`` as they happen, and both
memories byte for byte at the end.

``TRANSACTIONS`` sets the transactions per test (default 300), ``PAIR_TESTS`` picks tests by
name (comma-separated), ``PAIR_PRESET`` another parameter set; ``PAIR_DAMAGE=1`` damages the
wires in the plane-failure test too.

Tests: clean wires; wires with bit errors and lost flits; a plane failing mid-traffic (its
wires go dead, the planes mask drops it, traffic moves, the wires come back and the link
layer delivers what it held).
"""

from __future__ import annotations

import dataclasses
import os
import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles, RisingEdge

from hdl.chiplet.chiplet_pair import ChipletPair
from hdl.layouts import unpack
from hdl.link.link_signals import LINK_COUNTERS
from hdl.link.wire_faults import RATE_BITS
from hdl.params import PRESETS, ChipletParams, SystemParams, preset
from hdl.toolchain import SIMULATORS
from testbench.chiplet_system import SystemBench, pair_layout
from testbench.runner import params_in_test, run_cocotb

TOP = "chiplet_pair"
#: Transactions per cocotb test, both sides together.
TRANSACTIONS = int(os.environ.get("TRANSACTIONS", 300))
#: Most transactions under way on one side.
IN_FLIGHT = 16
PAUSE = 0.2
#: A wire's damage in the link-error test: one flit in 1,000 damaged, one in 4,000 lost.
FLIP_RATE = (1 << RATE_BITS) // 1000
DROP_RATE = (1 << RATE_BITS) // 4000


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
    come back after a while and its link delivers what it held; packets homed on plane 1
    move to the other planes once it is drained. Nothing is lost or duplicated."""
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
    moved = sum(value for name, value in counters.items() if name.endswith("_moved"))
    assert moved, "no packet moved off the failed plane"


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
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_pair", system, testcase=chosen or None,
               component=ChipletPair(pair_layout(system.chiplet).address_maps, system.link))
