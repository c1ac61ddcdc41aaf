"""Short runs of the cycle models for the default scenario (``fusion-emu run``)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from hdl.params import SystemParams

from ..cycle.channel import ChannelErrors
from ..cycle.link_harness import LinkHarness
from ..cycle.switch import SwitchModel
from ..cycle.traffic import make_traffic
from ..ref.switch import expected_outputs, flows_in_order
from .stimulus import random_packet


def reliable_link(system: SystemParams, packets: int, flit_error_rate: float,
                  seed: int) -> dict[str, Any]:
    """Packets both ways over one link with bit errors, every delivery checked."""
    link = system.link
    rng = random.Random(seed)
    errors = ChannelErrors(flit_error_rate, 1)
    harness = LinkHarness(link, errors, errors, seed=seed)
    result = harness.run([random_packet(rng, link) for _ in range(packets)],
                         [random_packet(rng, link) for _ in range(packets)], pause=0.1)
    ends = (harness.a.counters, harness.b.counters)
    return {"packets": result.delivered, "cycles": result.cycles,
            "corrupted_flits": harness.a_to_b.counters.corrupted
            + harness.b_to_a.counters.corrupted,
            "crc_errors": sum(end.crc_errors for end in ends),
            "replays": sum(end.replays for end in ends),
            "timeouts": sum(end.timeouts for end in ends)}


def switch_chip(system: SystemParams, load: float, cycles: int, seed: int) -> dict[str, Any]:
    """Uniform random traffic through one switch chip of the preset, checked."""
    params = system.switch
    stimulus = make_traffic(params.ports, load, 1, cycles, "uniform",
                            params.virtual_channels, seed)
    model = SwitchModel(params)
    result = model.run(stimulus, 2 * cycles)
    expected = expected_outputs(model.config, stimulus)
    delivered = result.delivered >= 0
    ok = bool(np.array_equal(result.output[delivered], expected[delivered])
              and delivered.all() and flows_in_order(stimulus, result.delivered))
    latency = result.delivered - stimulus.created
    return {"ports": params.ports, "packets": len(stimulus), "load": load,
            "mean_latency": float(latency.mean()), "p99_latency": float(np.percentile(latency, 99)),
            "matches_reference": ok}
