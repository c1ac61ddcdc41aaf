"""Switch benchmark on the cycle model, with standard network-simulation methodology.

Each point: traffic is created for a warm-up and a measurement window; packets created in the
measurement window are the measured ones, and the run goes on (drain) until they are all
delivered or a cycle budget ends. Offered load is in flits per cycle per port; accepted
throughput counts the flits delivered during the measurement window per cycle per port;
latency runs from a packet's creation (its source queue included) to the delivery of its tail.
A point whose measured packets are not all delivered by the end of the drain is past
saturation and reports no latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hdl.params import SwitchParams

from .switch import SwitchModel, SwitchStimulus
from .traffic import PATTERNS, make_traffic

WARMUP, MEASURE, DRAIN = 1_000, 3_000, 6_000
LOADS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def measure_point(params: SwitchParams, pattern: str, length: int, load: float,
                  seed: int = 0, warmup: int = WARMUP, window: int = MEASURE,
                  drain: int = DRAIN) -> dict[str, Any]:
    model = SwitchModel(params)
    stimulus = make_traffic(params.ports, load, length, warmup + window, pattern,
                            params.virtual_channels, seed)
    started = time.perf_counter()
    result = model.run(stimulus, warmup + window + drain)
    seconds = time.perf_counter() - started
    measured = (stimulus.created >= warmup) & (stimulus.created < warmup + window)
    done = result.delivered >= 0
    in_window = done & (result.delivered >= warmup) & (result.delivered < warmup + window)
    accepted = stimulus.length[in_window].sum() / (window * params.ports)
    offered = stimulus.length[measured].sum() / (window * params.ports)
    point = {"pattern": pattern, "length": length, "load": load,
             "offered": float(offered), "accepted": float(accepted),
             "saturated": bool(not np.all(done[measured])),
             "flit_hops_per_second": result.flits_delivered / seconds}
    if not point["saturated"]:
        latency = (result.delivered - stimulus.created)[measured]
        point["latency_mean"] = float(latency.mean())
        point["latency_p99"] = float(np.percentile(latency, 99))
    return point


def backlogged_traffic(params: SwitchParams, pattern: str, length: int, cycles: int,
                       seed: int = 0) -> SwitchStimulus:
    """Packets for about ``cycles`` cycles of every source, all created at cycle 0.

    Bernoulli sources at offered load 1.0 still leave their input links idle now and then
    (their queue can empty); saturation is measured with every source backlogged.
    """
    stimulus = make_traffic(params.ports, 1.0, length, cycles, pattern, params.virtual_channels,
                            seed)
    stimulus.created[:] = 0
    return stimulus


def accepted_in_window(stimulus: SwitchStimulus, delivered: np.ndarray, ports: int,
                       warmup: int, window: int) -> float:
    """Flits per cycle per port of the packets delivered in ``[warmup, warmup + window)``."""
    in_window = (delivered >= warmup) & (delivered < warmup + window)
    return float(stimulus.length[in_window].sum() / (window * ports))


def saturation_throughput(params: SwitchParams, pattern: str, length: int, seed: int = 0,
                          warmup: int = WARMUP, window: int = MEASURE) -> float:
    """Accepted flits/cycle/port with every source permanently backlogged."""
    # Twice the packets a port could send in the run, so that no source runs dry.
    stimulus = backlogged_traffic(params, pattern, length, 2 * (warmup + window), seed)
    result = SwitchModel(params).run(stimulus, warmup + window)
    return accepted_in_window(stimulus, result.delivered, params.ports, warmup, window)


def bench_params(ports: int) -> SwitchParams:
    """The switch the benchmark measures at ``ports`` ports (the RTL lockstep test measures
    its saturation throughput with the same parameters at k = 8)."""
    return SwitchParams(ports=ports, virtual_channels=2, input_buffer_flits=256,
                        islip_iterations=4)


def sweep(ports: int, say: Callable[[str], None], quick: bool = False) -> dict[str, Any]:
    params = bench_params(ports)
    loads = (0.3, 0.7, 1.0) if quick else LOADS
    points = [measure_point(params, pattern, length, load, seed=index)
              for index, (pattern, length, load) in enumerate(
                  (pattern, length, load) for pattern in PATTERNS for length in (1, 4)
                  for load in loads)]
    saturation = {f"{pattern}-{length}": saturation_throughput(params, pattern, length)
                  for pattern in PATTERNS for length in (1, 4)}
    for name, value in saturation.items():
        say(f"  k = {ports}: {name}-flit packets, saturation throughput (sources backlogged): "
            f"{value:.3f} flits/cycle/port")
    zero = [point for point in points if point["load"] == loads[0]]
    say(f"  k = {ports}: latency at load {loads[0]}: " + ", ".join(
        f"{point['pattern']}-{point['length']} {point.get('latency_mean', float('nan')):.1f}"
        for point in zero) + " cycles")
    return {"ports": ports, "params": {"virtual_channels": params.virtual_channels,
                                       "input_buffer_flits": params.input_buffer_flits,
                                       "islip_iterations": params.islip_iterations},
            "points": points, "saturation": saturation}


def speed(say: Callable[[str], None]) -> dict[str, Any]:
    """Flit-hops per second of the cycle model at k = 64, 4 VCs, offered load 0.5."""
    params = SwitchParams(ports=64, virtual_channels=4, input_buffer_flits=256,
                          islip_iterations=4)
    figures = {}
    measure_point(params, "uniform", 1, 0.5, warmup=10, window=10, drain=10)  # compile first
    for length in (1, 4):
        point = measure_point(params, "uniform", length, 0.5, warmup=1_000, window=20_000,
                              drain=2_000)
        figures[f"length_{length}"] = point["flit_hops_per_second"]
        say(f"  speed at k = 64, 4 VCs, load 0.5, {length}-flit packets: "
            f"{point['flit_hops_per_second']:,.0f} flit-hops/s")
    return figures


def plot(results: list[dict[str, Any]], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results, strict=True):
        for pattern in PATTERNS:
            for length in (1, 4):
                rows = [point for point in result["points"] if point["pattern"] == pattern
                        and point["length"] == length and not point["saturated"]]
                axis.plot([point["offered"] for point in rows],
                          [point["latency_mean"] for point in rows], "o-", markersize=3,
                          label=f"{pattern}, {length} flit{'s' if length > 1 else ''}")
        axis.set_yscale("log")
        axis.set_xlim(0, 1.02)
        axis.set_xlabel("offered load (flits/cycle/port)")
        axis.set_ylabel("mean latency (cycles)")
        axis.set_title(f"k = {result['ports']}, iSLIP x{result['params']['islip_iterations']}")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
