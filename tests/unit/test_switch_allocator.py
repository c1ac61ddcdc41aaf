"""iSLIP allocator RTL against the cycle model's allocation step, cycle by cycle."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import Value
from amaranth.sim import Simulator

from emulator.cycle.switch import islip_match
from hdl.params import SwitchParams
from hdl.switch.allocator import IslipAllocator


class AllocatorModel:
    """The cycle model's allocation step with its pointers, one call per cycle."""

    def __init__(self, ports: int, iterations: int) -> None:
        self.iterations = iterations
        self.grant_pointer = np.zeros(ports, dtype=np.int64)
        self.accept_pointer = np.zeros(ports, dtype=np.int64)
        self.grant = np.zeros(ports, dtype=np.int64)
        self.granted = np.zeros(ports, dtype=np.bool_)

    def step(self, request: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ports = len(request)
        match_in = np.full(ports, -1, dtype=np.int64)
        match_out = np.full(ports, -1, dtype=np.int64)
        column = request.sum(axis=0).astype(np.int64)
        islip_match(request, column, self.iterations, self.grant_pointer, self.accept_pointer,
                    match_in, match_out, self.grant, self.granted)
        return match_in, match_out


def random_requests(rng: np.random.Generator, ports: int, cycles: int) -> np.ndarray:
    """Request matrices of varied density, with some rows and columns blanked as if busy."""
    density = rng.choice([0.05, 0.2, 0.5, 0.9], size=(cycles, 1, 1))
    request = rng.random((cycles, ports, ports)) < density
    busy_inputs = rng.random((cycles, ports, 1)) < 0.2
    busy_outputs = rng.random((cycles, 1, ports)) < 0.2
    return request & ~busy_inputs & ~busy_outputs


def run_allocator(ports: int, iterations: int, cycles: int, seed: int) -> int:
    """Drive random requests; return the matches seen. Fails at the first mismatch."""
    dut = IslipAllocator(SwitchParams(ports=ports, islip_iterations=iterations))
    model = AllocatorModel(ports, iterations)
    requests = random_requests(np.random.default_rng(seed), ports, cycles)
    weights = [1 << bit for bit in range(ports * ports)]
    matches = 0

    async def bench(ctx) -> None:
        nonlocal matches
        for cycle, request in enumerate(requests):
            bits = request.reshape(-1).tolist()
            word = sum(w for w, r in zip(weights, bits, strict=True) if r)
            ctx.set(Value.cast(dut.request), word)
            match_in, match_out = model.step(request)
            inputs, outputs = ctx.get(dut.input_match), ctx.get(dut.output_match)
            got_in = [inputs[i].port if inputs[i].valid else -1 for i in range(ports)]
            got_out = [outputs[j].port if outputs[j].valid else -1 for j in range(ports)]
            assert got_in == list(match_in), f"cycle {cycle}: input matches differ"
            assert got_out == list(match_out), f"cycle {cycle}: output matches differ"
            matches += int(np.sum(match_in >= 0))
            await ctx.tick()
            grant_pointer, accept_pointer = ctx.get(dut.grant_pointer), ctx.get(dut.accept_pointer)
            got_grant = [grant_pointer[j] for j in range(ports)]
            got_accept = [accept_pointer[i] for i in range(ports)]
            assert got_grant == list(model.grant_pointer), f"cycle {cycle}: grant pointers"
            assert got_accept == list(model.accept_pointer), f"cycle {cycle}: accept pointers"

    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()
    return matches


@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize(("ports", "cycles"), [(4, 2000), (8, 1000), (16, 200)])
def test_allocator_matches_the_cycle_model(ports: int, cycles: int, iterations: int) -> None:
    matches = run_allocator(ports, iterations, cycles, seed=ports * 10 + iterations)
    assert matches > cycles  # the random requests keep the allocator busy


def test_more_iterations_find_more_matches() -> None:
    ports, cycles = 8, 200
    one, three = (run_allocator(ports, iterations, cycles, seed=99) for iterations in (1, 3))
    assert three > one
