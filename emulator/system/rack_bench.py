"""The rack's figures by simulation on the ``cycle`` backend, and the backend's speed.

``all_to_all(system, size)``: every endpoint writes ``size`` bytes to every other, each source
taking its destinations in turn (source ``s`` sends to ``s + 1``, ``s + 2``, ... so that at
each moment the sources aim at different destinations); the rate is measured in steady state,
between the completions of the first and the last quarter of the bytes. The aggregate is
counted as ``fusion-emu spec`` counts it, both directions of every endpoint (each byte is sent
by one endpoint and received by another), next to the derived figure and the format's limit
(16 data flits of every 17). ``speed`` runs the switch model alone on the same machine, in the
same run, for the ratio.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from emulator.cycle.switch import SwitchModel
from emulator.cycle.switch_bench import backlogged_traffic
from hdl.layouts import MAX_DATA_FLITS, MAX_PACKET_FLITS
from hdl.params import SystemParams

from .network import Transfer
from .rack import CycleNetwork

#: Data flits of every flit a packet of the longest kind carries on the wire.
FORMAT_EFFICIENCY = MAX_DATA_FLITS / (MAX_DATA_FLITS + 1)


def all_to_all(system: SystemParams, size: int) -> dict[str, Any]:
    """Steady-state all-to-all of ``size`` bytes per pair; rates and the model's speed."""
    network = CycleNetwork(system)
    network.post(Transfer(0, 1, 256))
    network.drain()  # compiles the loop before the clock starts
    endpoints = system.endpoints
    start = network.now
    for shift in range(1, endpoints):
        for source in range(endpoints):
            network.post(Transfer(source, (source + shift) % endpoints, size))
    before = network.counters()
    wall = time.perf_counter()
    done = network.drain()
    wall = time.perf_counter() - wall
    after = network.counters()
    cycles = network.now - start
    stamps = np.sort(np.array([completion.delivered for completion in done]))
    total = len(done) * size
    first, last = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    steady = (len(stamps) // 2) * size / max(1, last - first)  # bytes a cycle, one way
    clock = system.link.clock_hz
    hops = sum(after[name] - before[name] for name in ("packet_flits_sent", "switch_flits"))
    derived = system.aggregate_bandwidth
    measured = 2 * steady * clock
    return {
        "preset": system.name, "endpoints": endpoints, "planes": system.links_per_endpoint,
        "bytes_per_pair": size, "cycles": cycles, "steady_window_cycles": int(last - first),
        "aggregate_Bps": measured, "derived_aggregate_Bps": derived,
        "format_limit_Bps": derived * FORMAT_EFFICIENCY,
        "of_derived": measured / derived,
        "of_format_limit": measured / (derived * FORMAT_EFFICIENCY),
        "per_endpoint_Bps": measured / endpoints,
        "derived_per_endpoint_Bps": system.bandwidth_per_endpoint,
        "whole_run_aggregate_Bps": 2 * total / cycles * clock,
        "wall_seconds": wall, "cycles_per_second": cycles / wall,
        "flit_hops": hops, "flit_hops_per_second": hops / wall,
        "counters": {name: after[name] - before[name] for name in after},
    }


def switch_alone(ports: int, cycles: int = 4_000) -> dict[str, Any]:
    """The switch model by itself, every source backlogged with longest packets, k =
    ``ports``: flit-hops (flits through the crossbar) per second."""
    from hdl.params import SwitchParams

    params = SwitchParams(ports=ports, input_buffer_flits=256)
    model = SwitchModel(params)
    model.run(backlogged_traffic(params, "uniform", MAX_PACKET_FLITS - 1, 50), 100)  # compile
    stimulus = backlogged_traffic(params, "uniform", MAX_PACKET_FLITS - 1, cycles)
    wall = time.perf_counter()
    result = model.run(stimulus, cycles)
    wall = time.perf_counter() - wall
    return {"ports": ports, "cycles": cycles, "flit_hops_per_second": result.flits_delivered / wall}
