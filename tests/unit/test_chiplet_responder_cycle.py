"""The far side's cycle model against the RTL, cycle for cycle, in Amaranth's simulator.

``Responder`` and ``ResponderModel`` take the same random stimulus every cycle
(``testbench.chiplet_responder_lockstep``): READ and WRITE requests of every size and place,
malformed and unsupported packets, an AXI4 memory with random back-pressure, latency and
SLVERR, back-pressure on the completions. Every output port must have the model's value in
every cycle; completions, bursts, the memory and the counters are also checked against the
reference. ``PacketMergeModel`` is checked the same way against ``PacketMerge`` with one to
three inputs. ``CYCLES`` sets the cycles during which requests start, per parameter set.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time

import pytest
from amaranth.sim import Simulator

from emulator.cycle.chiplet_responder import ResponderModel
from emulator.cycle.packet_merge import PacketMergeModel
from hdl.chiplet.packet_merge import PacketMerge
from hdl.chiplet.responder import Responder
from hdl.layouts import FLIT_BITS, field_slice
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams
from testbench.chiplet_responder_lockstep import LockstepScenario, Mismatch, ResponderLockstep
from testbench.part_lockstep import ports, run_driver

CYCLES = int(os.environ.get("CYCLES", 5000))
#: What the random requests must exercise (``ResponderLockstep.counts``).
FEATURES = ("read", "write", "OKAY", "SLVERR", "refused", "byte enables", "unaligned",
            "256 bytes", "extension", "no bytes", "too many", "crossing", "length", "short",
            "truncated", "atomic", "dropped", "control", "read with enables")

#: Every data width the brief names, 1 to 64 requests outstanding, 32- to 64-bit addresses.
PARAMETER_SETS = {
    "data32-tags4-address32": ChipletParams(axi_data_bits=32, outstanding_tags=4,
                                            axi_address_bits=32),
    "data128-tags1-address64": ChipletParams(axi_data_bits=128, outstanding_tags=1,
                                             axi_address_bits=64),
    "data512-tags64-address48": ChipletParams(axi_data_bits=512, outstanding_tags=64),
    "data1024-tags4-address64": ChipletParams(axi_data_bits=1024, outstanding_tags=4,
                                              axi_address_bits=64),
    "data64-tags1-address32": ChipletParams(axi_data_bits=64, outstanding_tags=1,
                                            axi_address_bits=32),
}


def run_lockstep(params: ChipletParams, seed: int, scenario: LockstepScenario,
                 model: ResponderModel | None = None) -> dict[str, object]:
    dut = Responder(params)
    lockstep = ResponderLockstep(params, random.Random(seed), scenario, model)
    seconds = run_driver(dut, lockstep)
    summary = lockstep.finish()
    summary["seconds"] = round(seconds, 1)
    print(summary)
    return summary


@pytest.mark.parametrize("name", list(PARAMETER_SETS))
def test_model_matches_rtl(name: str) -> None:
    params = PARAMETER_SETS[name]
    summary = run_lockstep(params, seed=list(PARAMETER_SETS).index(name),
                           scenario=LockstepScenario(cycles=CYCLES))
    assert set(summary["commands"]) == {"READ_RESPONSE", "WRITE_RESPONSE", "ERROR_RESPONSE"}
    wanted = set(FEATURES) - ({"extension"} if params.axi_address_bits < 46 else set())
    missing = wanted - {name for name, count in summary["features"].items() if count}
    assert not missing, f"the requests never exercised {sorted(missing)}"
    assert summary["refused"] > 0 and summary["unsupported"] > 0, summary


#: Memory-side extremes: slow answers (a queue full of bursts), a memory that holds off
#: most cycles (both write buffers busy, requests waiting for them), nothing back-pressured.
SCENARIOS = {
    "slow-memory": (ChipletParams(axi_data_bits=256, outstanding_tags=64), LockstepScenario(
        pause=0.05, completion_pause=0.05, memory_pause=0.05, latency=(300, 600),
        malformed_rate=0.05, read_share=0.8)),
    "stalled-memory": (ChipletParams(axi_data_bits=256, outstanding_tags=8),
                       LockstepScenario(memory_pause=0.8)),
    "full-speed": (ChipletParams(axi_data_bits=1024, outstanding_tags=64, axi_address_bits=64),
                   LockstepScenario(pause=0, completion_pause=0, memory_pause=0,
                                    latency=(1, 4))),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_memory_extremes(name: str) -> None:
    params, scenario = SCENARIOS[name]
    summary = run_lockstep(params, seed=99, scenario=dataclasses.replace(scenario,
                                                                          cycles=CYCLES))
    most = summary["most outstanding"]
    assert max(most.values()) <= params.outstanding_tags, summary
    if name == "slow-memory":  # the read queue full (smaller queues fill in other runs)
        assert most["ar"] == params.outstanding_tags, summary


def test_comb_is_pure() -> None:
    """Extra ``comb`` calls with random inputs change nothing: a model called so runs in
    lockstep with one called once per cycle."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    rng = random.Random(5)
    lockstep = ResponderLockstep(params, random.Random(4), LockstepScenario(cycles=CYCLES))
    twin = ResponderModel(params)
    widths = twin.input_widths
    started = time.monotonic()
    while not lockstep.done:
        inputs = dict(lockstep.inputs())
        for _ in range(2):
            twin.comb({name: rng.getrandbits(width) for name, width in widths.items()})
        outputs = twin.comb(inputs)
        lockstep.check(outputs.__getitem__)
        twin.tick(inputs)
    summary = lockstep.finish()
    seconds = time.monotonic() - started
    print(f"{summary['cycles']} cycles, two models, in {seconds:.2f} s")


class _LateWlast(ResponderModel):
    """A planted fault: WLAST is one beat late (a beat ending exactly at the packet's end
    is not the last)."""

    def _settle(self) -> None:
        super()._settle()
        drained = self.write_buffers[self.drain]
        if drained.beat_start + self.lanes == drained.end and drained.busy:
            self._outputs["m_axi.wlast"] = 0


class _MemoryEndExclusive(ResponderModel):
    """A planted fault: a request ending exactly at ``memory_bytes`` is refused."""

    def _decode(self, flit, last, memory_bytes):
        return super()._decode(flit, last, memory_bytes - 1)


@pytest.mark.parametrize("model", [_LateWlast, _MemoryEndExclusive])
def test_planted_fault_is_caught(model: type[ResponderModel]) -> None:
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    with pytest.raises(Mismatch, match=r"cycle \d+: \S+ is 0x[0-9a-f]+ in the RTL, "
                                       r"0x[0-9a-f]+ in the model"):
        run_lockstep(params, seed=1, scenario=LockstepScenario(cycles=CYCLES),
                     model=model(params))


# -- PacketMerge -----------------------------------------------------------------------------

_LAST = 1 << field_slice(DELIVERED_FLIT, "last")[0]


def run_merge_lockstep(count: int, seed: int, cycles: int,
                       model: PacketMergeModel | None = None) -> dict[str, int]:
    """Random packets (1 to 5 flits) on every input, each flit held until taken, random gaps
    and back-pressure, random payloads while valid is low; every output compared every
    cycle, and a packet once started must leave whole before another input's."""
    rng = random.Random(seed)
    dut = PacketMerge(count)
    model = model or PacketMergeModel(count)
    inputs, outputs = ports(dut)
    assert {name: len(port) for name, port in inputs.items()} == model.input_widths
    assert {name: len(port) for name, port in outputs.items()} == model.output_widths
    queues: list[list[int]] = [[] for _ in range(count)]  # flits each input has yet to offer
    seen = {"flits": 0, "packets": 0, "turns": 0}  # turns: a packet from another input

    async def bench(ctx) -> None:
        values = dict.fromkeys(model.input_widths, 0)
        owner = previous = None  # the input whose packet is leaving, the last one's
        for cycle in range(cycles):
            for index in range(count):
                valid, payload = f"flit_in.{index}.valid", f"flit_in.{index}.payload"
                if values[valid]:
                    continue
                if not queues[index] and rng.random() < 0.3:
                    length = rng.randint(1, 5)
                    queues[index] = [rng.getrandbits(FLIT_BITS) | _LAST * (n == length - 1)
                                     for n in range(length)]
                if queues[index] and rng.random() < 0.8:
                    values[valid], values[payload] = 1, queues[index].pop(0)
                else:
                    values[payload] = rng.getrandbits(DELIVERED_FLIT.size)
            values["flit_out.ready"] = int(rng.random() < 0.7)
            for name, value in values.items():
                ctx.set(inputs[name], value)
            wanted = model.comb(values)
            for name, value in wanted.items():
                got = ctx.get(outputs[name])
                if got != value:
                    raise Mismatch(f"cycle {cycle}: {name} is {got:#x} in the RTL, {value:#x} "
                                   "in the model")
            model.tick(values)
            if wanted["flit_out.valid"] and values["flit_out.ready"]:
                index = next(i for i in range(count) if wanted[f"flit_in.{i}.ready"])
                assert owner in (None, index), f"cycle {cycle}: packets interleaved"
                assert wanted["flit_out.payload"] == values[f"flit_in.{index}.payload"]
                values[f"flit_in.{index}.valid"] = 0
                seen["flits"] += 1
                owner = index
                if wanted["flit_out.payload"] & _LAST:
                    seen["packets"] += 1
                    seen["turns"] += previous is not None and owner != previous
                    owner, previous = None, owner
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    return seen


@pytest.mark.parametrize("count", [1, 2, 3])
def test_packet_merge_model_matches_rtl(count: int) -> None:
    seen = run_merge_lockstep(count, seed=count, cycles=CYCLES)
    print(seen)
    assert seen["packets"] > CYCLES // 20, seen
    if count > 1:
        assert seen["turns"] > seen["packets"] // 4, seen


class _StickyMerge(PacketMergeModel):
    """A planted fault: the input that sent the last packet keeps priority."""

    def step(self, chosen: int, taken: int, last: int) -> None:
        super().step(chosen, taken, last)
        if taken and last:
            self.first = chosen


def test_packet_merge_planted_fault_is_caught() -> None:
    with pytest.raises(Mismatch, match=r"cycle \d+: flit_"):
        run_merge_lockstep(2, seed=2, cycles=CYCLES, model=_StickyMerge(2))
