"""The hardware damage drawn for test wires: its rates, and one bit at a time."""

from __future__ import annotations

from amaranth.sim import Simulator

from hdl.layouts import FLIT_BITS
from hdl.link.wire_faults import RATE_BITS, WireFaults

CYCLES = 20_000


def draw(flip_rate: int, drop_rate: int, dead: int = 0) -> tuple[int, list[int]]:
    dut = WireFaults(seed=12345)
    drops, flips = [0], []

    async def bench(ctx) -> None:
        ctx.set(dut.flip_rate, flip_rate)
        ctx.set(dut.drop_rate, drop_rate)
        ctx.set(dut.dead, dead)
        for _ in range(CYCLES):
            drop, flip = ctx.get(dut.drop), ctx.get(dut.flip)
            drops[0] += drop
            if flip:
                assert not drop, "a lost flit is not also damaged"
                flips.append(flip)
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    return drops[0], flips


def test_rates_and_single_bit_flips() -> None:
    scale = 1 << RATE_BITS
    drops, flips = draw(flip_rate=scale // 50, drop_rate=scale // 200)
    assert 0.7 < drops / (CYCLES / 200) < 1.3, drops
    assert 0.7 < len(flips) / (CYCLES / 50 * (1 - 1 / 200)) < 1.3, len(flips)
    assert all(flip & (flip - 1) == 0 for flip in flips), "more than one bit flipped"
    positions = {flip.bit_length() - 1 for flip in flips}
    assert len(positions) > FLIT_BITS // 2, f"only {len(positions)} bit positions hit"


def test_zero_rates_do_nothing_and_dead_loses_everything() -> None:
    assert draw(0, 0) == (0, [])
    assert draw(0, 0, dead=1) == (CYCLES, [])
