"""The far side's cycle model against the RTL, cycle for cycle, in Amaranth's simulator.

A far side with its duplicate filter (``testbench.chiplet_responder.FarSide``: ``Responder``
and ``DuplicateFilter``) and their models (``FarSideModel``: ``ResponderModel`` and
``DuplicateFilterModel``) take the same random stimulus every cycle
(``testbench.chiplet_responder_lockstep``): READ and WRITE requests of every size and place,
malformed and unsupported packets, retries (copies of earlier WRITEs, originals after their
retry, keys never seen, keys naming no entry, READs), an AXI4 memory with random
back-pressure, latency and SLVERR, back-pressure on the completions. Every output port must
have the model's value in every cycle; completions, bursts, the memory and the counters are
also checked against the reference and the filter's rule. Two far sides sharing one filter
race for the same keys (``testbench.chiplet_responder_lanes``), one of them stuck for a
while. ``PacketMergeModel`` is checked the same way against ``PacketMerge`` with one to three
inputs. ``CYCLES`` sets the cycles during which requests start, per parameter set.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time

import pytest
from amaranth.sim import Simulator

from emulator.cycle.chiplet_responder import ResponderModel
from emulator.cycle.duplicate_filter import DuplicateFilterModel
from emulator.cycle.packet_merge import PacketMergeModel
from hdl.chiplet.packet_merge import PacketMerge
from hdl.layouts import FLIT_BITS, field_slice
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams
from testbench.chiplet_responder import FarSide, FarSideModel
from testbench.chiplet_responder_lanes import LanesLockstep, LanesScenario
from testbench.chiplet_responder_lockstep import LockstepScenario, Mismatch, ResponderLockstep
from testbench.part_lockstep import ports, run_driver

CYCLES = int(os.environ.get("CYCLES", 5000))
#: What the random requests must exercise (``ResponderLockstep.counts``).
FEATURES = ("read", "write", "OKAY", "SLVERR", "refused", "byte enables", "unaligned",
            "256 bytes", "extension", "no bytes", "too many", "crossing", "length", "short",
            "truncated", "atomic", "dropped", "control", "read with enables", "retry",
            "duplicate WRITE_RESPONSE", "duplicate ERROR_RESPONSE", "unseen key",
            "original after retry", "no entry", "read retry", "generation flipped")

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
                 model: FarSideModel | None = None) -> dict[str, object]:
    dut = FarSide(params)
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
    assert summary["duplicates"] > 0 and summary["waiting cycles"] > 0, summary


#: Memory-side extremes: slow answers (a queue full of bursts), a memory that holds off
#: most cycles (both write buffers busy, requests waiting for them), nothing back-pressured.
SCENARIOS = {
    # No retries: one waiting for its pending original would hold the reads back.
    "slow-memory": (ChipletParams(axi_data_bits=256, outstanding_tags=64), LockstepScenario(
        pause=0.05, completion_pause=0.05, memory_pause=0.05, latency=(300, 600),
        malformed_rate=0.05, read_share=0.8, retry_rate=0.0)),
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
    lockstep with one called once per cycle (the far side's and the filter's models, each
    with random values on every input, and the two joined)."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    rng = random.Random(5)
    lockstep = ResponderLockstep(params, random.Random(4), LockstepScenario(cycles=CYCLES))
    twin = FarSideModel(params)
    parts = [twin, *twin.responders, twin.filter]
    started = time.monotonic()
    while not lockstep.done:
        inputs = dict(lockstep.inputs())
        for part in parts:
            part.comb({name: rng.getrandbits(width)
                       for name, width in part.input_widths.items()})
        outputs = twin.comb(inputs)
        lockstep.check(outputs.__getitem__)
        twin.tick(inputs)
    summary = lockstep.finish()
    seconds = time.monotonic() - started
    print(f"{summary['cycles']} cycles, two models, in {seconds:.2f} s")


# -- Two far sides, one filter ----------------------------------------------------------------

#: A filter bank for each far side, and (three links) one that is no far side's own.
LANE_SETS = {
    "data128-tags4": ChipletParams(axi_data_bits=128, outstanding_tags=4),
    "data512-tags64-links3": ChipletParams(axi_data_bits=512, outstanding_tags=64, links=3),
}


def lanes_scenario() -> LanesScenario:
    return LanesScenario(cycles=CYCLES, dead=(CYCLES // 5, CYCLES // 2))


def run_lanes(params: ChipletParams, seed: int, scenario: LanesScenario,
              model: FarSideModel | None = None) -> dict[str, object]:
    dut = FarSide(params, 2)
    lockstep = LanesLockstep(params, random.Random(seed), scenario, model)
    seconds = run_driver(dut, lockstep)
    summary = lockstep.finish()
    summary["seconds"] = round(seconds, 1)
    print(summary)
    return summary


@pytest.mark.parametrize("name", list(LANE_SETS))
def test_two_far_sides_share_the_filter(name: str) -> None:
    """Copies of each key race between the far sides: each key is carried out once, on
    either; the retries of a stuck far side's keys finish on the other while it is stuck."""
    params = LANE_SETS[name]
    summary = run_lanes(params, seed=7 + list(LANE_SETS).index(name), scenario=lanes_scenario())
    for lane in (0, 1):
        assert summary["bursts"][lane] > 0 and summary["duplicates"][lane] > 0, summary
        assert summary["waiting cycles"][lane] > 0, summary
    # The far side stuck with WRITEs in flight; their retries finished on the other.
    assert summary["answered in the dead window"] >= min(2, params.outstanding_tags), summary
    missing = {"retry", "original after retry", "unseen key", "generation flipped",
               "dead plane's keys retried"} - set(summary["features"])
    assert not missing, f"never exercised {sorted(missing)}"


# -- Planted faults ---------------------------------------------------------------------------


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


class _DoneWhenAnswered(ResponderModel):
    """A planted fault: B, and the record of its key done, wait until the WRITE can be
    answered (the completion register free): a far side whose completions are stuck records
    nothing."""

    def _answerable(self, inputs) -> int:
        out_free = not self.write_completion_valid or (self.chosen == 1
                                                       and inputs["completion.ready"])
        return int(bool(out_free and self.write_pending and not self.head_refused))

    def _record_valid(self, inputs):
        return super()._record_valid(inputs) & self._answerable(inputs)

    def _b_ready(self, inputs):
        return super()._b_ready(inputs) & self._answerable(inputs)


class _PendingNotWaiting(ResponderModel):
    """A planted fault: a WRITE whose key is pending does not wait; it is carried out (or
    refused) again."""

    def _judge(self, decision, entry_valid, entry):
        judgement = super()._judge(decision, entry_valid, entry)
        if judgement.waiting:
            return dataclasses.replace(judgement, waiting=0, decided=1,
                                       carry=int(bool(self.saved_carry)))
        return judgement


class _NotTransparent(DuplicateFilterModel):
    """A planted fault: a lookup does not see the write of its own cycle."""

    def tick(self, inputs):
        before = [bytearray(bank) for bank in self.banks]
        banks, self.banks = self.banks, before
        read_grants, _, _ = self._grants(inputs)
        data = list(self.read_data)
        for bank, port in enumerate(read_grants):
            if port is not None:
                address = inputs[f"ports.{port}.lookup.payload"] & self.address_mask
                data[bank] = before[bank][address]
        self.banks = banks
        super().tick(inputs)
        self.read_data = data


class _LowestPortFirst(DuplicateFilterModel):
    """A planted fault: a bank serves the lowest numbered port first, not its own far
    side's."""

    def _first(self, bank, ports):
        return min(ports)


@pytest.mark.parametrize("model", [_LateWlast, _MemoryEndExclusive, _DoneWhenAnswered,
                                   _PendingNotWaiting, _NotTransparent])
def test_planted_fault_is_caught(model: type) -> None:
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    kind = "filter_model" if issubclass(model, DuplicateFilterModel) else "responder_model"
    with pytest.raises(Mismatch, match=r"cycle \d+: \S+ is 0x[0-9a-f]+ in the RTL, "
                                       r"0x[0-9a-f]+ in the model"):
        run_lockstep(params, seed=1, scenario=LockstepScenario(cycles=CYCLES),
                     model=FarSideModel(params, **{kind: model}))


@pytest.mark.parametrize("model", [_DoneWhenAnswered, _LowestPortFirst])
def test_planted_fault_is_caught_with_two_far_sides(model: type) -> None:
    params = LANE_SETS["data128-tags4"]
    kind = "filter_model" if issubclass(model, DuplicateFilterModel) else "responder_model"
    with pytest.raises(Mismatch, match=r"cycle \d+: \S+ "):
        run_lanes(params, seed=7, scenario=lanes_scenario(),
                  model=FarSideModel(params, 2, **{kind: model}))


def _alone(driver: ResponderLockstep | LanesLockstep) -> None:
    """The driver's model against itself: only the testbench's own checks can fail."""
    while not driver.done:
        driver.inputs()
        driver.check(driver.expected.__getitem__)
    driver.finish()


def test_checks_catch_faults_without_the_rtl() -> None:
    """The reference and the liveness check, not only the RTL, catch the filter's faults: a
    pending key carried out again issues a second burst; a far side that records its WRITEs
    done only when it can answer them leaves the retries of a stuck far side waiting."""
    params = ChipletParams(axi_data_bits=128, outstanding_tags=4)
    with pytest.raises(AssertionError, match="for no request"):
        _alone(ResponderLockstep(params, random.Random(1), LockstepScenario(cycles=CYCLES),
                                 FarSideModel(params, responder_model=_PendingNotWaiting)))
    with pytest.raises(AssertionError, match="carried out twice"):
        _alone(LanesLockstep(params, random.Random(7), lanes_scenario(),
                             FarSideModel(params, 2, responder_model=_PendingNotWaiting)))
    with pytest.raises(Mismatch, match="not answered while it was stuck"):
        _alone(LanesLockstep(params, random.Random(7), lanes_scenario(),
                             FarSideModel(params, 2, responder_model=_DoneWhenAnswered)))


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
