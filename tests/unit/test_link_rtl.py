"""Reliable link RTL in Amaranth's simulator, in lockstep with the cycle model."""

from __future__ import annotations

import random

import pytest
from amaranth import Module, Signal, Value
from amaranth.sim import Simulator

from emulator.cycle.channel import ChannelErrors
from emulator.cycle.link import LinkCounters
from hdl.layouts import FLIT_BITS
from hdl.link.link_pair import LinkPair
from hdl.link.link_signals import COUNTER_NAMES, CRC_BITS, crc_initial, crc_step
from hdl.params import LinkParams
from testbench.link_lockstep import LinkLockstep, resolve
from testbench.stimulus import random_packet

LINK = LinkParams()


def test_counter_names_are_the_models() -> None:
    assert set(COUNTER_NAMES) == set(LinkCounters.__dataclass_fields__)


def test_crc_step_matches_the_software_crc() -> None:
    rng = random.Random(1)
    m = Module()
    words = [Signal(FLIT_BITS, name=f"word_{index}") for index in range(3)]
    state = crc_initial(LINK)
    for word in words:
        state = crc_step(LINK, state, word)
    result = Signal(CRC_BITS)
    m.d.comb += result.eq(state)

    async def bench(ctx) -> None:
        for _ in range(20):
            values = [rng.getrandbits(FLIT_BITS) for _ in words]
            for signal, value in zip(words, values, strict=True):
                ctx.set(signal, value)
            assert ctx.get(result) == LINK.crc.compute(values)

    simulator = Simulator(m)
    simulator.add_testbench(bench)
    simulator.run()


def run_lockstep(link: LinkParams, seed: int, packets: int, errors: ChannelErrors | None,
                 max_length: int = 3, pause: float = 0.3) -> LinkLockstep:
    rng = random.Random(seed)
    make = [random_packet(rng, link, rng.randint(0, max_length)) for _ in range(2 * packets)]
    lockstep = LinkLockstep(link, rng, make[:packets], make[packets:], errors, pause=pause)
    dut = LinkPair(link)

    async def bench(ctx) -> None:
        def read(name: str) -> int:
            return ctx.get(Value.cast(resolve(dut, name)))

        while not lockstep.done:
            for name, value in lockstep.inputs().items():
                ctx.set(Value.cast(resolve(dut, name)), value)
            lockstep.check(read)
            await ctx.tick()
        lockstep.check_counters(read)

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    return lockstep


def test_lockstep_error_free_past_a_sequence_wrap() -> None:
    lockstep = run_lockstep(LINK, 1, LINK.sequence_modulus + 20, None, max_length=1)
    assert lockstep.harness.a.counters.replays == 0


@pytest.mark.parametrize("seed", [2, 3])
def test_lockstep_with_errors_drops_and_back_pressure(seed: int) -> None:
    errors = ChannelErrors(flit_error_rate=0.02, burst_bits=3, drop_rate=0.01)
    lockstep = run_lockstep(LINK, seed, 150, errors, max_length=1, pause=0.5)
    counters = lockstep.harness.a.counters
    assert counters.crc_errors + lockstep.harness.b.counters.crc_errors > 0
    assert counters.replays + lockstep.harness.b.counters.replays > 0


def test_lockstep_small_credits_and_replay_buffer() -> None:
    link = LinkParams(credits_per_vc=24, replay_buffer_flits=32)
    errors = ChannelErrors(flit_error_rate=0.01)
    lockstep = run_lockstep(link, 4, 60, errors, max_length=17, pause=0.6)
    assert lockstep.harness.a.counters.credit_stall_cycles \
        + lockstep.harness.b.counters.credit_stall_cycles > 0
