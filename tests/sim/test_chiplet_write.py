"""The chiplet's write path on Icarus and Verilator, checked against ``emulator.ref.chiplet``.

The top is ``WritePath`` with the test windows of ``testbench.chiplet_write`` (two windows,
one above 40 address bits, and a gap). A far side in the testbench takes its request packets
with random back-pressure and answers each after a random delay, some with ERROR_RESPONSE;
monitors on the AXI4 port hand every burst (once its data are in) and every BRESP to the
scoreboard, which checks each request packet bit for bit against the reference's split and
each BRESP against the reference's rules and the per-ID order. The AXI4 protocol checker
watches the port throughout.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import deque

import cocotb
import pytest
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBurstType, AxiBus, AxiMaster
from cocotbext.axi.axi_channels import (
    AxiAWSource,
    AxiAWTransaction,
    AxiBSink,
    AxiWSource,
    AxiWTransaction,
)

from emulator.ref.axi import PAGE_BYTES, Burst, beats
from hdl.chiplet.axi import data_bytes
from hdl.chiplet.write_path import WritePath
from hdl.layouts import FLIT_BITS
from hdl.params import PRESETS, ChipletParams, SystemParams
from hdl.toolchain import SIMULATORS
from testbench.axi_checker import AxiProtocolChecker
from testbench.chiplet_write import (
    PAGES,
    SOURCE,
    WriteBurst,
    WriteScoreboard,
    master_burst,
    random_write,
    write_test_windows,
)
from testbench.harness import start, within
from testbench.runner import params_in_test, run_cocotb
from testbench.stream import StreamBus, StreamSink, pauses

TOP = "chiplet_write"
BURSTS = int(os.environ.get("BURSTS", 150))
ERROR_RATE = 0.15
MAX_DELAY = 40
FLIT_MASK = (1 << FLIT_BITS) - 1
MANAGER_OUTPUTS = ("awid", "awaddr", "awlen", "awsize", "awburst", "awlock", "awcache", "awprot",
                   "awqos", "awregion", "awvalid", "wdata", "wstrb", "wlast", "wvalid", "bready",
                   "arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot",
                   "arqos", "arregion", "arvalid", "rready")
#: What the random bursts of each test must exercise (``WriteScoreboard.features``).
FEATURES = {"FIXED", "INCR", "WRAP", "decerr", "window", "narrow", "byte enables", "256 bytes",
            "extension"}


class WritePathBench:
    """Drives and watches one ``WritePath``: far side, completions, monitors, checker."""

    def __init__(self, dut, rng: random.Random) -> None:
        self.dut = dut
        self.rng = rng
        self.params = params_in_test().chiplet
        self.scoreboard = WriteScoreboard(write_test_windows(self.params))
        self.answers: deque[int] = deque()
        self.checker = AxiProtocolChecker.from_prefix(dut, "s_axi", dut.clk, dut.rst)
        for name in MANAGER_OUTPUTS:
            getattr(dut, f"s_axi__{name}").value = 0
        dut.source.value = SOURCE
        dut.completion__valid.value = 0
        dut.completion__payload.value = 0
        self.requests = StreamSink(StreamBus.from_prefix(dut, "request"), dut.clk,
                                   pauses(rng, 0.3))

    async def start(self) -> None:
        await start(self.dut)
        for coroutine in (self._far_side(), self._completions(), self._monitor()):
            cocotb.start_soon(coroutine)

    async def _far_side(self) -> None:
        flits: list[int] = []
        while True:
            word, _ = await self.requests.recv()
            flits.append(word & FLIT_MASK)
            if word >> FLIT_BITS:
                request = self.scoreboard.packet(flits)
                flits = []
                header = self.scoreboard.answer(request, self.rng.random() < ERROR_RATE)
                cocotb.start_soon(self._answer_later(header, self.rng.randint(1, MAX_DELAY)))

    async def _answer_later(self, header: int, delay: int) -> None:
        await ClockCycles(self.dut.clk, delay)
        self.answers.append(header)

    async def _completions(self) -> None:
        """One completion flit per packet (write completions carry no payload)."""
        dut = self.dut
        holding = None
        while True:
            await RisingEdge(dut.clk)
            if holding is not None and dut.completion__ready.value:
                self.scoreboard.completed(holding)
                holding = None
            if holding is None and self.answers and self.rng.random() >= 0.2:
                holding = self.answers.popleft()
                dut.completion__payload.value = holding | 1 << FLIT_BITS
            dut.completion__valid.value = int(holding is not None)

    async def _monitor(self) -> None:
        """Bursts as the port takes them (reported at WLAST, with their data) and BRESPs."""
        dut = self.dut
        addresses: deque[tuple[Burst, int]] = deque()
        words: list[int] = []
        strobes: list[int] = []
        while True:
            await RisingEdge(dut.clk)
            if dut.s_axi__awvalid.value and dut.s_axi__awready.value:
                addresses.append((Burst.from_fields(
                    dut.s_axi__awaddr.value.to_unsigned(), dut.s_axi__awlen.value.to_unsigned(),
                    dut.s_axi__awsize.value.to_unsigned(),
                    dut.s_axi__awburst.value.to_unsigned()), dut.s_axi__awid.value.to_unsigned()))
            if dut.s_axi__wvalid.value and dut.s_axi__wready.value:
                words.append(dut.s_axi__wdata.value.to_unsigned())
                strobes.append(dut.s_axi__wstrb.value.to_unsigned())
                if dut.s_axi__wlast.value:
                    assert addresses, "write data taken before any write address"
                    burst, awid = addresses.popleft()
                    self.scoreboard.expect(WriteBurst(burst, awid, words, strobes))
                    words, strobes = [], []
            if dut.s_axi__bvalid.value and dut.s_axi__bready.value:
                self.scoreboard.response(dut.s_axi__bid.value.to_unsigned(),
                                         dut.s_axi__bresp.value.to_unsigned())

    async def finish(self, issued: int) -> None:
        """Wait for ``issued`` bursts (at least) to be answered, then check everything."""
        async def drained() -> None:
            while self.scoreboard.responses_checked < issued or self.scoreboard.bursts:
                await RisingEdge(self.dut.clk)

        await within(200_000, drained())
        await ClockCycles(self.dut.clk, 10)
        scoreboard = self.scoreboard
        scoreboard.assert_drained()
        self.checker.assert_clean()
        assert self.dut.stray_completions.value.to_unsigned() == 0
        self.dut._log.info("%d bursts, %d packets checked; responses %s; most tags in use %d; "
                           "%d responses passed an older burst; features %s",
                           scoreboard.responses_checked, scoreboard.packets_checked,
                           {code.name: count for code, count in
                            scoreboard.response_counts.items()},
                           scoreboard.most_tags_in_use, scoreboard.overtakes,
                           dict(scoreboard.features))
        assert len(scoreboard.response_counts) == 3, scoreboard.response_counts
        if self.params.outstanding_tags <= 4:
            assert scoreboard.most_tags_in_use == self.params.outstanding_tags
        missing = FEATURES - set(scoreboard.features)
        assert not missing, f"the bursts never exercised {sorted(missing)}"


@cocotb.test()
async def axi_master_writes(dut) -> None:
    """Bursts from cocotbext-axi's AxiMaster: INCR of every size (unaligned and narrow), full
    width FIXED, WRAP; four IDs, many outstanding, back-pressure on AW, W, B and requests."""
    rng = random.Random(cocotb.RANDOM_SEED)
    bench = WritePathBench(dut, rng)
    await bench.start()
    bus_bytes = data_bytes(bench.params)
    master = AxiMaster(AxiBus.from_prefix(dut, "s_axi", bus_separator="__"), dut.clk, dut.rst)
    for channel in (master.write_if.aw_channel, master.write_if.w_channel,
                    master.write_if.b_channel):
        channel.set_pause_generator(pauses(rng, 0.3))
    issued = 0
    while issued < BURSTS:
        tasks = []
        for _ in range(rng.randint(1, 16)):
            address, count, size, kind = master_burst(rng, bus_bytes,
                                                      rng.choice(PAGES) * PAGE_BYTES)
            data = bytes(rng.getrandbits(8) for _ in range(count))
            tasks.append(cocotb.start_soon(master.write(
                address, data, awid=rng.randrange(4), burst=AxiBurstType(kind), size=size)))
        for task in tasks:
            await within(200_000, task)
        issued += len(tasks)
    await bench.finish(issued)


@cocotb.test()
async def channel_level_writes(dut) -> None:
    """Bursts AxiMaster cannot make: narrow and unaligned FIXED, WRAP regions smaller than the
    bus, INCR of up to 256 beats, random and zero WSTRB; all queued at once on AW and W."""
    rng = random.Random(cocotb.RANDOM_SEED)
    bench = WritePathBench(dut, rng)
    await bench.start()
    bus_bytes = data_bytes(bench.params)
    bus = AxiBus.from_prefix(dut, "s_axi", bus_separator="__")
    aw = AxiAWSource(bus.write.aw, dut.clk, dut.rst)
    w = AxiWSource(bus.write.w, dut.clk, dut.rst)
    b = AxiBSink(bus.write.b, dut.clk, dut.rst)
    for channel in (aw, w, b):
        channel.set_pause_generator(pauses(rng, 0.3))
    for _ in range(BURSTS):
        write = random_write(rng, bus_bytes)
        burst = write.burst
        aw.send_nowait(AxiAWTransaction(awaddr=burst.address, awlen=burst.axlen,
                                        awsize=burst.size, awburst=burst.burst, awid=write.awid))
        for number, (word, strobe) in enumerate(zip(write.words, write.strobes, strict=True)):
            w.send_nowait(AxiWTransaction(wdata=word, wstrb=strobe,
                                          wlast=int(number == burst.axlen)))
        assert len(beats(burst, bus_bytes)) == burst.length
    await bench.finish(BURSTS)


#: Parameter sets: the presets' 512-bit bus with 64 tags, and a 128-bit bus with 4 tags, so
#: that requests wait for tags.
SYSTEMS = [PRESETS["small"],
           dataclasses.replace(PRESETS["small"], name="small-axi128",
                               chiplet=ChipletParams(axi_data_bits=128, outstanding_tags=4))]


@pytest.mark.sim
@pytest.mark.parametrize(("simulator", "system"),
                         # Each simulator with one parameter set, to keep the default run short.
                         list(zip(sorted(SIMULATORS), SYSTEMS[::-1], strict=True)),
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_chiplet_write(simulator: str, system: SystemParams) -> None:
    run_cocotb(TOP, simulator, "tests.sim.test_chiplet_write", system,
               component=WritePath(write_test_windows(system.chiplet)))
