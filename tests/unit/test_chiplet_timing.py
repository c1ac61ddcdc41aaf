"""Bandwidth and zero-load read latency of two chiplets on one link (Amaranth's simulator).

The figures are simulated cycles, the same on every machine; docs/chiplet.md reports them
and ``fusion-emu bench chiplet`` prints them.
"""

from __future__ import annotations

import pytest

from hdl.params import PRESETS
from testbench.chiplet_timing import (
    FORMAT_LIMIT,
    READ_STAGES,
    efficiency,
    one_link_system,
    read_latency,
    simulate,
)

SYSTEM = one_link_system(PRESETS["small"])


@pytest.mark.parametrize("write", [True, False], ids=["writes", "reads"])
def test_256_byte_transfers_reach_90_percent_of_the_format_limit(write: bool) -> None:
    measured = efficiency(SYSTEM, 64, write)
    assert 0.9 * FORMAT_LIMIT <= measured <= FORMAT_LIMIT, measured


def test_read_latency_stages_follow_each_other_and_add_up() -> None:
    stages = read_latency(SYSTEM)
    assert len(stages) == len(READ_STAGES)
    assert all(cycles >= 0 for _, cycles in stages), stages
    run = simulate(SYSTEM, 1, write=False)
    assert sum(cycles for _, cycles in stages) == run.first("R last") - run.first("AR")
    wire = SYSTEM.link.pipeline_latency_cycles
    crossing = dict((what, cycles) for what, cycles in stages)
    assert crossing["wire and link receiver"] > wire
    assert crossing["wire, whole packet, link receiver CRC check"] > wire
