"""The switch tray: each chip is a plane of its own, configured through its own CSR bus."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from emulator.cycle.switch import SwitchConfig, SwitchStimulus
from hdl.layouts import FLIT_BITS
from hdl.params import PRESETS
from hdl.tray.tray import SwitchTray
from testbench.switch_lockstep import csr_writes, header_flit


def test_each_plane_routes_by_its_own_table() -> None:
    system = PRESETS["small"]
    k = system.switch.ports
    tray = SwitchTray(system)
    assert tray.chips == system.switch_chips_per_tray == 2
    configs = [SwitchConfig.identity(k), SwitchConfig.identity(k)]
    configs[1].route[:k] = (np.arange(k) + 1) % k  # plane 1 sends endpoint d to port d + 1
    one = np.ones(1, dtype=np.int64)
    stimulus = SwitchStimulus(created=0 * one, source_port=2 * one, source_id=2 * one,
                              destination=5 * one, vc=0 * one, length=one,
                              non_posted=np.zeros(1, dtype=bool))
    flit = header_flit(stimulus, 0)
    seen: list[tuple[int, int, int, int]] = []  # (cycle, plane, output, flit)

    async def bench(ctx) -> None:
        for plane, config in zip(tray.plane, configs, strict=True):
            for address, data in csr_writes(config, k):
                ctx.set(plane.csr.address, address)
                ctx.set(plane.csr.write_data, data)
                ctx.set(plane.csr.write, 1)
                await ctx.tick()
            ctx.set(plane.csr.write, 0)
        for plane in tray.plane:
            ctx.set(plane.in_flit.as_value(), flit << (FLIT_BITS * 2))
            ctx.set(plane.in_valid, 1 << 2)
        for cycle in range(6):
            if cycle == 1:
                for plane in tray.plane:
                    ctx.set(plane.in_valid, 0)
            for c, plane in enumerate(tray.plane):
                valid = ctx.get(plane.out_valid)
                flits = ctx.get(plane.out_flit.as_value())
                for j in range(k):
                    if valid >> j & 1:
                        seen.append((cycle, c, j, flits >> (FLIT_BITS * j) & ((1 << FLIT_BITS)
                                                                           - 1)))
            await ctx.tick()

    sim = Simulator(tray)
    sim.add_clock(1e-9)
    sim.add_testbench(bench)
    sim.run()
    # Taken at cycle 0, allocated and crossing at 1, seen at the output at 2.
    assert seen == [(2, 0, 5, flit), (2, 1, 6, flit)]
