"""Synthetic traffic for switch and network benchmarks, as numpy arrays.

Standard network-simulation patterns: ``uniform`` (each packet to a random other port),
``permutation`` (a fixed random derangement), ``hotspot`` (a fraction of packets to one port,
the rest uniform). Packets are created by a Bernoulli process per source: offered load is in
flits per cycle per port, so a source of ``length``-flit packets creates one with probability
``load / length`` each cycle.
"""

from __future__ import annotations

import numpy as np

from .switch import SwitchStimulus

PATTERNS = ("uniform", "permutation", "hotspot")


def make_traffic(ports: int, load: float, length: int, cycles: int, pattern: str = "uniform",
                 virtual_channels: int = 2, seed: int = 0, hotspot_fraction: float = 0.2,
                 ) -> SwitchStimulus:
    """Packets created over ``cycles`` cycles at ``load`` flits/cycle/port."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown traffic pattern {pattern!r}; use one of {', '.join(PATTERNS)}")
    if not 0.0 < load <= 1.0:
        raise ValueError(f"offered load {load} must be in (0, 1] flits per cycle per port")
    if length < 1:
        raise ValueError(f"packet length {length} must be at least 1 flit")
    rng = np.random.default_rng(seed)
    created_mask = rng.random((cycles, ports)) < load / length
    created, source = np.nonzero(created_mask)
    count = len(created)
    if pattern == "permutation":
        shift = rng.permutation(ports)
        while np.any(shift == np.arange(ports)):
            shift = rng.permutation(ports)
        destination = shift[source]
    else:
        destination = (source + rng.integers(1, ports, size=count)) % ports
        if pattern == "hotspot":
            hot = rng.random(count) < hotspot_fraction
            destination[hot] = 0
    return SwitchStimulus(
        created=created.astype(np.int64), source_port=source.astype(np.int64),
        source_id=source.astype(np.int64), destination=destination.astype(np.int64),
        vc=rng.integers(0, virtual_channels, size=count).astype(np.int64),
        length=np.full(count, length, dtype=np.int64),
        non_posted=rng.random(count) < 0.5)
