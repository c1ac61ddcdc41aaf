"""Reliable link benchmark on the cycle model: integrity under errors, goodput, model speed.

* Integrity: packets both ways under bit errors at several flit error rates (with bursts),
  lost acknowledgements, dropped flits and a link-down interval; every delivery is checked
  against the reference (``LinkHarness``); counters per point.
* Goodput: one direction saturated with 256-byte writes (a header and 16 data flits), as a
  fraction of the raw link rate, against flit error rate and against wire latency. Without
  errors the expected figure is 16/17 = 94.1 % (one header per 17 flits), whatever the latency,
  since credits and replay buffer are derived from the round trip. A curve with credits forced
  to a fixed 64 flits shows what undersizing costs as the latency grows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from hdl.layouts import MAX_DATA_FLITS
from hdl.params import LinkParams

from ..scenarios.stimulus import random_packet
from .channel import ChannelErrors
from .link_harness import LinkHarness

INTEGRITY_RATES = (0.0, 1e-6, 1e-4, 1e-3)
GOODPUT_RATES = (0.0, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2)
LATENCIES = (2, 8, 16, 64, 128, 256)
#: Goodput of 256-byte writes without errors: 16 data flits per 17 sent.
IDEAL_WRITE_GOODPUT = MAX_DATA_FLITS / (MAX_DATA_FLITS + 1)


def _packets(rng: random.Random, link: LinkParams, count: int, length: int | None = None) -> list:
    return [random_packet(rng, link, length) for _ in range(count)]


def integrity(link: LinkParams, packets: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    points = []
    # About 10 cycles per packet: the link goes down a fifth and a half of the way through.
    down = [(2 * packets, 5_000), (5 * packets, 5_000)]
    scenarios = [(f"flit error rate {rate:g}", ChannelErrors(rate, 1), ChannelErrors(rate, 1))
                 for rate in INTEGRITY_RATES]
    scenarios += [
        ("bursts of 8 bits at 1e-3", ChannelErrors(1e-3, 8), ChannelErrors(1e-3, 8)),
        ("lost acknowledgements (1e-2 errors and drops on the way back)", None,
         ChannelErrors(1e-2, 1, drop_rate=1e-2)),
        ("dropped flits 1e-4 both ways", ChannelErrors(drop_rate=1e-4),
         ChannelErrors(drop_rate=1e-4)),
        ("link down 5,000 cycles twice", ChannelErrors(down=down), ChannelErrors(down=down)),
    ]
    for number, (name, forward, backward) in enumerate(scenarios):
        rng = random.Random(number)
        harness = LinkHarness(link, forward, backward, seed=number)
        started = time.perf_counter()
        result = harness.run(_packets(rng, link, packets), _packets(rng, link, packets // 4),
                             pause=0.1)
        seconds = time.perf_counter() - started
        counters = {end.name: asdict(end.counters) for end in (harness.a, harness.b)}
        channels = {"a_to_b": asdict(harness.a_to_b.counters),
                    "b_to_a": asdict(harness.b_to_a.counters)}
        points.append({"scenario": name, "packets_checked": result.delivered,
                       "cycles": result.cycles, "seconds": seconds,
                       "cycles_per_second": result.cycles / seconds,
                       "ends": counters, "channels": channels})
        total = {key: counters["a"][key] + counters["b"][key]
                 for key in ("crc_errors", "replays", "timeouts")}
        say(f"  {name}: {result.delivered:,} packets delivered and checked in "
            f"{result.cycles:,} cycles; CRC errors {total['crc_errors']}, replays "
            f"{total['replays']}, time-outs {total['timeouts']} "
            f"({result.cycles / seconds:,.0f} cycles/s)")
    return points


def goodput(link: LinkParams, flit_error_rate: float, packets: int, seed: int = 0) -> float:
    """Data flits delivered per cycle, one direction saturated with 16-data-flit packets.

    Measured between the first and the last delivery, so the first round trip (filling the
    pipeline) is not counted against the link.
    """
    rng = random.Random(seed)
    errors = ChannelErrors(flit_error_rate, 1) if flit_error_rate else None
    harness = LinkHarness(link, errors, errors, seed=seed)
    result = harness.run(_packets(rng, link, packets, MAX_DATA_FLITS), keep_deliveries=True)
    first, last = result.deliveries[0][1], result.deliveries[-1][1]
    flits = sum(delivery.packet.length for _, delivery in result.deliveries[1:])
    return flits / (last.cycle - first.cycle)


def sweep(link: LinkParams, packets: int, say: Callable[[str], None]) -> dict[str, Any]:
    by_rate = []
    for rate in GOODPUT_RATES:
        value = goodput(link, rate, packets)
        by_rate.append({"flit_error_rate": rate, "goodput": value})
        say(f"  goodput at flit error rate {rate:g}: {value:.4f} of the link rate")
    by_latency = []
    for latency in LATENCIES:
        derived = replace(link, pipeline_latency_cycles=latency)
        forced = replace(derived, credits_per_vc=64)
        row = {"latency_cycles": latency, "round_trip_cycles": derived.round_trip_cycles,
               "credits_per_vc": derived.credit_pool_flits,
               "replay_buffer_flits": derived.replay_buffer_depth,
               "goodput": goodput(derived, 0.0, packets),
               "goodput_at_1e-3": goodput(derived, 1e-3, packets),
               "goodput_credits_64": goodput(forced, 0.0, packets)}
        by_latency.append(row)
        say(f"  latency {latency} cycles (round trip {row['round_trip_cycles']}): goodput "
            f"{row['goodput']:.4f}, at 1e-3 {row['goodput_at_1e-3']:.4f}, with 64 credits "
            f"{row['goodput_credits_64']:.4f}")
    return {"ideal_error_free": IDEAL_WRITE_GOODPUT, "by_flit_error_rate": by_rate,
            "by_latency": by_latency}


def plot(figures: dict[str, Any], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep_figures = figures["goodput"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rates = [row["flit_error_rate"] or 1e-6 for row in sweep_figures["by_flit_error_rate"]]
    left.semilogx(rates, [row["goodput"] for row in sweep_figures["by_flit_error_rate"]], "o-",
                  label="measured (error-free point drawn at 1e-6)")
    left.axhline(sweep_figures["ideal_error_free"], color="grey", linestyle="--",
                 label="16/17: header overhead only")
    left.set_xlabel("flit error rate")
    left.set_ylabel("goodput (fraction of link rate)")
    left.set_title("256-byte writes vs flit error rate")
    left.set_ylim(0, 1)
    left.legend(fontsize=8)
    rows = sweep_figures["by_latency"]
    latencies = [row["latency_cycles"] for row in rows]
    right.semilogx(latencies, [row["goodput"] for row in rows], "o-", label="derived sizes")
    right.semilogx(latencies, [row["goodput_at_1e-3"] for row in rows], "s-",
                   label="derived sizes, 1e-3 errors")
    right.semilogx(latencies, [row["goodput_credits_64"] for row in rows], "^-",
                   label="credits forced to 64 flits")
    right.axhline(sweep_figures["ideal_error_free"], color="grey", linestyle="--")
    right.set_xlabel("one-way wire latency (cycles)")
    right.set_title("vs latency")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
