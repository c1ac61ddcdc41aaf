"""Address windows RTL in Amaranth's simulator against the reference lookup."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from emulator.ref.chiplet import WINDOW_ALIGNMENT, AddressMap, Window
from hdl.chiplet.windows import AddressWindows
from hdl.params import ChipletParams

PAGE = WINDOW_ALIGNMENT


def random_windows(rng: random.Random, params: ChipletParams, count: int) -> list[Window]:
    """Disjoint windows, some touching, one at each end of the address space."""
    pages = 1 << (params.axi_address_bits - 12)
    windows, cursor = [], 0
    for number in range(count):
        start = cursor + rng.choice([0, 0, 1, rng.randrange(pages // (4 * count))])
        size = rng.choice([1, 2, rng.randrange(1, pages // (4 * count))])
        if number == count - 1:
            start, size = pages - size, size  # reaches the top of the address space
        if start < cursor:
            break
        remote = rng.choice([0, rng.randrange(pages - size + 1)])
        windows.append(Window(start * PAGE, size * PAGE, rng.randrange(1024), remote * PAGE))
        cursor = start + size
    return windows


def probes(rng: random.Random, windows: list[Window], bits: int, count: int) -> list[int]:
    """Both edges of every window and their neighbours, then random addresses."""
    edges = [0, (1 << bits) - 1]
    for window in windows:
        for address in (window.base, window.end):
            edges += [address - 1, address, address + 1, address + PAGE - 1]
    edges = [address for address in edges if 0 <= address < 1 << bits]
    return edges + [rng.getrandbits(bits) for _ in range(count)]


@pytest.mark.parametrize("address_bits,count", [(48, 5), (40, 1), (20, 3), (32, 0), (64, 8)])
def test_lookup_matches_reference(address_bits: int, count: int) -> None:
    rng = random.Random(address_bits * 100 + count)
    params = ChipletParams(axi_address_bits=address_bits)
    address_map = AddressMap(params, random_windows(rng, params, count))
    dut = AddressWindows(address_map)
    addresses = probes(rng, address_map.windows, address_bits, 300)
    checked = []

    async def bench(ctx) -> None:
        for address in addresses:
            ctx.set(dut.address, address)
            expected = address_map.lookup(address)
            hit = ctx.get(dut.hit)
            assert hit == (expected is not None), f"{address:#x}"
            if expected is not None:
                assert ctx.get(dut.destination) == expected.destination, f"{address:#x}"
                assert ctx.get(dut.remote_address) == expected.remote_address, f"{address:#x}"
            else:
                assert ctx.get(dut.destination) == ctx.get(dut.remote_address) == 0
            checked.append(hit)

    simulator = Simulator(dut)
    simulator.add_testbench(bench)
    simulator.run()
    assert len(checked) == len(addresses)
    if count:
        assert 0 < sum(checked) < len(checked), "the probes should both hit and miss"
