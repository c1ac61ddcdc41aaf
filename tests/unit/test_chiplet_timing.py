"""Bandwidth with every lane streaming, and a zero-load read's latency, of two chiplets
(Amaranth's simulator).

The figures are simulated cycles, the same on every machine; docs/chiplet.md reports them
and ``fusion-emu bench chiplet`` prints them. Building a simulation takes most of the time,
so each link count is one simulation, writes then reads.
"""

from __future__ import annotations

import pytest

from hdl.params import PRESETS
from testbench.chiplet_timing import (
    READ_STAGES,
    format_limit,
    lanes_system,
    read_latency,
    simulate,
    throughputs,
)

#: 256-byte bursts per lane: the steady state is measured between the first and the last
#: eighth of them.
BURSTS = 64


@pytest.mark.parametrize("links", [1, 2])
def test_every_lane_streaming_reaches_95_percent_of_the_format_limit(links: int) -> None:
    """The RTL, and the pair's cycle model with the same bench: the same figures (they are
    cycle for cycle the same), so the model can be trusted where the RTL is too big to run
    (36 lanes, below and in ``fusion-emu bench chiplet``)."""
    system = lanes_system(PRESETS["small"], links)
    figures = throughputs(system, BURSTS // links)
    limit = format_limit(links)
    for phase, measured in figures.items():
        assert 0.95 * limit <= measured <= limit, (phase, measured, limit)
    assert throughputs(system, BURSTS // links, model=True) == figures


def test_thirty_six_lanes_on_the_cycle_model_reach_95_percent() -> None:
    links = 36
    figures = throughputs(lanes_system(PRESETS["small"], links, data_bits=512), 6,
                          model=True)
    limit = format_limit(links)
    for phase, measured in figures.items():
        assert 0.95 * limit <= measured <= limit, (phase, measured, limit)


def test_read_latency_stages_follow_each_other_and_add_up() -> None:
    system = lanes_system(PRESETS["small"])
    stages = read_latency(system)
    assert len(stages) == len(READ_STAGES)
    assert all(cycles >= 0 for _, cycles in stages), stages
    run = simulate(system, 1, ("read",))
    assert sum(cycles for _, cycles in stages) == run.first("R last") - run.first("AR")
    wire = system.link.pipeline_latency_cycles
    crossing = dict((what, cycles) for what, cycles in stages)
    assert crossing["wire and link receiver"] > wire
    assert crossing["wire, whole packet, link receiver CRC check"] > wire
