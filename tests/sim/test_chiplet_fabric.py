"""Chiplets joined through the switch chips, on Icarus and Verilator, against the reference.

The top is ``ChipletFabric``: three chiplets and one switch chip per plane, link ``p`` of
chiplet ``n`` wired to a link end on port ``n`` of switch ``p`` (``hdl.tray.port_link``). The
switches are loaded through their CSR buses (endpoint ``n`` on port ``n``, one partition,
port IDs checked). Every chiplet's AxiMasters, one per lane, send random reads and writes,
each through the lane of its address, into its windows onto its own share of the two other
memories, gaps (DECERR) and pages past a far memory (SLVERR), all at once, with 20 %
back-pressure everywhere and the AXI4 checker on every port; an AxiRam per lane serves each
chiplet's memory; ``testbench.chiplet_system`` checks every response and all three memories
against the reference ``Fabric``. Tests: damaged wires (bit flips and lost flits); a plane failing
mid-traffic with damaged wires. ``FABRIC_TRANSACTIONS`` sets the transactions per test
(default 120), ``FABRIC_TESTS`` the tests (default the plane failure only) and
``FABRIC_SIMULATORS`` the simulators (default Icarus only, see below).
"""

from __future__ import annotations

import dataclasses
import os
import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles, RisingEdge

from emulator.cycle.switch import SwitchConfig
from hdl.chiplet.chiplet_fabric import ChipletFabric
from hdl.link.wire_faults import RATE_BITS
from hdl.params import PRESETS, ChipletParams, SwitchParams, SystemParams
from hdl.toolchain import SIMULATORS
from testbench.chiplet_system import SystemBench, fabric_layout, retry_totals
from testbench.runner import params_in_test, run_cocotb
from testbench.switch_lockstep import csr_writes

TOP = "chiplet_fabric"
CHIPLETS = 3
TRANSACTIONS = int(os.environ.get("FABRIC_TRANSACTIONS", 120))
FLIP_RATE = (1 << RATE_BITS) // 1000
DROP_RATE = (1 << RATE_BITS) // 4000


async def configure_switches(dut, system: SystemParams) -> None:
    """Endpoint ``n`` on port ``n`` of every plane, one partition."""
    ports = system.switch.ports
    config = SwitchConfig.identity(ports)
    config.route[CHIPLETS:] = -1
    for plane in range(system.switch_chips):
        bus = {name: getattr(dut, f"csr__{plane}__{name}")
               for name in ("address", "write", "write_data", "read")}
        bus["read"].value = 0
        for address, value in csr_writes(config, ports):
            bus["address"].value = address
            bus["write_data"].value = value
            bus["write"].value = 1
            await RisingEdge(dut.clk)
        bus["write"].value = 0
    await RisingEdge(dut.clk)


async def bench_for(dut) -> SystemBench:
    system = params_in_test()
    bench = SystemBench(dut, random.Random(cocotb.RANDOM_SEED), system.chiplet,
                        fabric_layout(system.chiplet, CHIPLETS))
    await bench.start()
    await configure_switches(dut, system)
    return bench


@cocotb.test()
async def damaged_wires(dut) -> None:
    """Every chiplet to both others at once, one flit in 1,000 damaged and one in 4,000 lost
    on every wire, between chiplets and switches alike."""
    dut.flip_rate.value = FLIP_RATE
    dut.drop_rate.value = DROP_RATE
    bench = await bench_for(dut)
    await bench.run(TRANSACTIONS)
    bench.check()


@cocotb.test()
async def plane_failure(dut) -> None:
    """Plane 1's wires die mid-traffic, the planes mask drops it, the wires come back: what
    plane 1 kept is retried on plane 0 and lane 1's requests follow; the originals still in
    the switch and the links arrive once the wires are back and are not carried out twice.
    The other wires are damaged throughout."""
    dut.flip_rate.value = FLIP_RATE
    dut.drop_rate.value = DROP_RATE
    bench = await bench_for(dut)
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
    totals = retry_totals(dut, counters)
    assert totals["requests_moved"], "no request moved off the failed plane"
    assert totals["retried"], "the failed plane handed nothing over"


@cocotb.test()
async def plane_killed(dut) -> None:
    """Switch plane 1 dies for good mid-traffic: every wire to and from its switch goes dead
    and stays dead, so the packets inside the switch and its links are lost; management
    takes the plane out of ``planes_up`` 200 cycles later. Every chiplet hands what plane 1
    kept over to plane 0, the far sides carry each write out once, and every response and
    memory byte is as the reference says."""
    bench = await bench_for(dut)
    links = bench.params.links
    traffic = cocotb.start_soon(bench.run(TRANSACTIONS))
    while bench.issued < TRANSACTIONS // 4:
        await RisingEdge(dut.clk)
    dut.dead.value = 0b10
    await ClockCycles(dut.clk, 200)
    dut.planes_up.value = ((1 << links) - 1) & ~0b10
    await traffic
    counters = bench.check()
    totals = retry_totals(dut, counters)
    assert totals["retried"], "plane 1 handed nothing over"


#: Three chiplets on 4-port switches, a 128-bit bus and 8 tags: small enough to build quickly.
SYSTEM = dataclasses.replace(PRESETS["small"], name="small-fabric", asics=CHIPLETS,
                             switch=SwitchParams(ports=4),
                             chiplet=ChipletParams(axi_data_bits=128, outstanding_tags=8))


#: The cocotb tests to run: by default the plane killed only;
#: ``FABRIC_TESTS=damaged_wires,plane_failure,plane_killed`` (as in ``make soak``) runs all.
FABRIC_TESTS = [name for name in os.environ.get("FABRIC_TESTS", "plane_killed").split(",")
                if name]
#: Simulators to run this top on. Verilator takes over ten minutes to build it on two busy
#: cores, so the default run uses Icarus only; ``FABRIC_SIMULATORS=icarus,verilator`` runs
#: both (``make soak`` runs Verilator: 5,000 transactions take Icarus hours on this top).
FABRIC_SIMULATORS = [name for name in os.environ.get("FABRIC_SIMULATORS", "icarus").split(",")
                     if name]
if unknown := sorted(set(FABRIC_SIMULATORS) - set(SIMULATORS)):
    raise ValueError(f"FABRIC_SIMULATORS names {unknown}; the simulators are "
                     f"{sorted(SIMULATORS)}")


@pytest.mark.sim
@pytest.mark.parametrize("simulator", FABRIC_SIMULATORS)
def test_chiplet_fabric(simulator: str) -> None:
    layout = fabric_layout(SYSTEM.chiplet, CHIPLETS)
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_fabric", SYSTEM, testcase=FABRIC_TESTS,
               component=ChipletFabric(list(layout.address_maps.values()), SYSTEM))
