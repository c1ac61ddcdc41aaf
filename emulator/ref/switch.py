"""Untimed reference of a switch chip: where each packet must go, or why it must be dropped.

A packet from input port ``i`` with destination ``d`` and source ID ``s`` is dropped at the
ingress if ``d`` is not in the routing table, if the table's output is in another partition
than ``i``, or if ``s`` is not the ID assigned to ``i`` (checked in that order); a dropped
non-posted request gets an error completion. Every other packet leaves at ``route[d]``, and
packets of one (input, destination, VC) leave in the order they were offered.
"""

from __future__ import annotations

import numpy as np

from ..cycle.switch import NO_ROUTE, PARTITION, SPOOFED, SwitchConfig, SwitchStimulus


def expected_outputs(config: SwitchConfig, stimulus: SwitchStimulus) -> np.ndarray:
    """Output port per packet, or -1 - reason for a packet that must be dropped."""
    route = config.route[stimulus.destination]
    outcome = route.copy()
    no_route = route < 0
    safe = np.where(no_route, 0, route)
    partition = ~no_route & (config.partition[safe] != config.partition[stimulus.source_port])
    spoofed = ~no_route & ~partition & (stimulus.source_id != config.port_id[stimulus.source_port])
    outcome[no_route] = -1 - NO_ROUTE
    outcome[partition] = -1 - PARTITION
    outcome[spoofed] = -1 - SPOOFED
    return outcome


def flows_in_order(stimulus: SwitchStimulus, delivered: np.ndarray) -> bool:
    """True when, within every (input, destination, VC), delivery order is offer order."""
    keys = np.lexsort((np.arange(len(stimulus)), stimulus.created, stimulus.vc,
                       stimulus.destination, stimulus.source_port))
    keys = keys[delivered[keys] >= 0]
    flow = np.stack([stimulus.source_port, stimulus.destination, stimulus.vc])[:, keys]
    times = delivered[keys]
    same_flow = np.all(flow[:, 1:] == flow[:, :-1], axis=0)
    return bool(np.all(times[1:][same_flow] > times[:-1][same_flow]))
