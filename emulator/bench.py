"""Benchmarks behind ``fusion-emu bench`` / ``make bench``; results in ``build/bench/``.

* ``framing``: the framer and deframer RTL (Amaranth's simulator) on random packets with no
  back-pressure: flits per cycle sustained, against the ideal of one.
* ``link``: the reliable link cycle model (:mod:`emulator.cycle.link_bench`): 100,000 packets
  per error scenario checked against the reference, goodput against flit error rate and wire
  latency (``link.json``, ``link_goodput.png``).
* ``switch``: the switch cycle model (:mod:`emulator.cycle.switch_bench`): latency against
  offered load for uniform, permutation and hot-spot traffic at k = 8, 16 and 64, saturation
  throughput, and the model's speed (``switch.json``, ``switch_latency.png``).
* ``chiplet``: two chiplets on 1, 2 and 4 links (RTL in Amaranth's simulator,
  :mod:`testbench.chiplet_timing`): data bytes per cycle of 256-byte writes and reads with
  every lane streaming, against the format's links x 16 x 16/17, and a zero-load remote
  read's latency on one link, stage by stage (``chiplet.json``).
* ``tile``: the NeuronCore emulator (:mod:`emulator.tile.bench`).
* ``rack``: the rack on the ``cycle`` backend (:mod:`emulator.system.rack_bench`): all-to-all
  at saturation on every rack preset, aggregate and per-endpoint bandwidth against the derived
  figures and the format's limit; flit-hops per second of the backend beside the switch model
  alone in the same run (``rack.json``).
* ``collectives``: all-reduce on every endpoint of preset ``small`` over the cycle backend,
  every algorithm, out-of-place and in-place, as nccl-tests reports it
  (``collectives.json``, ``collectives_busbw.png``).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from rich.console import Console

from hdl.params import ConfigError, preset

OUT = Path("build/bench")
console = Console()


def bench_framing(quick: bool) -> dict:
    from .scenarios.framing import simulate_framing
    from .scenarios.stimulus import random_packet

    link = preset("small").link
    rng = random.Random(1)
    packets = [random_packet(rng, link) for _ in range(100 if quick else 1000)]
    started = time.perf_counter()
    result = simulate_framing(link, packets)
    seconds = time.perf_counter() - started
    figures = {
        "packets": result.packets_sent,
        "flits": result.flits_sent,
        "cycles_to_last_delivery": result.cycles,
        "flits_per_cycle": result.flits_per_cycle,
        "matches_reference": result.matches_reference,
        "simulated_cycles_per_second": result.cycles / seconds,
    }
    console.print(f"framing: {figures['flits']} flits in {figures['cycles_to_last_delivery']} "
                  f"cycles = {figures['flits_per_cycle']:.4f} flits/cycle from first input to "
                  f"last delivery (ideal 1; the difference is pipeline fill and the closing "
                  f"IDLE); {figures['simulated_cycles_per_second']:.0f} cycles/s simulated")
    return figures


def bench_link(quick: bool) -> dict:
    from .cycle import link_bench

    link = preset("small").link
    console.print(f"link: integrity, {2_000 if quick else 100_000:,} packets per scenario "
                  "(a to b) plus a quarter as many back")
    figures = {"params": {"pipeline_latency_cycles": link.pipeline_latency_cycles,
                          "round_trip_cycles": link.round_trip_cycles,
                          "credits_per_vc": link.credit_pool_flits,
                          "replay_buffer_flits": link.replay_buffer_depth,
                          "ack_timeout": link.ack_timeout},
               "integrity": link_bench.integrity(link, 2_000 if quick else 100_000,
                                                 console.print)}
    console.print("link: goodput of 256-byte writes, one direction saturated")
    figures["goodput"] = link_bench.sweep(link, 300 if quick else 3_000, console.print)
    link_bench.plot(figures, OUT / "link_goodput.png")
    console.print(f"link: wrote {OUT / 'link.json'} and {OUT / 'link_goodput.png'}")
    return figures


def bench_switch(quick: bool) -> dict:
    from .cycle import switch_bench

    console.print("switch: latency against load, saturation throughput (cycle model)")
    results = [switch_bench.sweep(ports, console.print, quick) for ports in (8, 16, 64)]
    switch_bench.plot(results, OUT / "switch_latency.png")
    figures = {"sweeps": results, "speed": switch_bench.speed(console.print)}
    console.print(f"switch: wrote {OUT / 'switch.json'} and {OUT / 'switch_latency.png'}")
    return figures


def bench_chiplet(quick: bool) -> dict:
    from testbench.chiplet_timing import (
        FORMAT_SHARE,
        format_limit,
        lanes_system,
        read_latency,
        throughputs,
    )

    figures: dict = {"format_share": FORMAT_SHARE}
    bursts = 48 if quick else 400  # of each kind, all lanes together
    for data_bits in (512,) if quick else (128, 512):
        row: dict = {}
        for links in (1, 2, 4):
            system = lanes_system(preset("small"), links, data_bits=data_bits)
            measured = throughputs(system, bursts // links)
            limit = format_limit(links)
            row[f"links{links}"] = {"limit": limit, **measured,
                                    **{f"{phase}_share": value / limit
                                       for phase, value in measured.items()}}
            console.print(f"chiplet, {data_bits}-bit AXI, {links} link(s), every lane of a "
                          f"streaming 256-byte bursts into b: writes {measured['write']:.3f} "
                          f"and reads {measured['read']:.3f} data bytes/cycle (limit "
                          f"{links} x 16 x 16/17 = {limit:.3f}: {measured['write'] / limit:.1%} "
                          f"and {measured['read'] / limit:.1%} of it)")
        if data_bits == 512:
            # A rack-sized chiplet, on the cycle model (cycle for cycle the RTL, whose
            # figures above it repeats at 1, 2 and 4 links).
            links = 36
            measured = throughputs(lanes_system(preset("small"), links, data_bits=data_bits),
                                   8 if quick else 40, model=True)
            limit = format_limit(links)
            row[f"model_links{links}"] = {"limit": limit, **measured,
                                          **{f"{phase}_share": value / limit
                                             for phase, value in measured.items()}}
            console.print(f"chiplet cycle model, {data_bits}-bit AXI, {links} links, every "
                          f"lane streaming: writes {measured['write']:.1f} and reads "
                          f"{measured['read']:.1f} data bytes/cycle (limit {limit:.1f}: "
                          f"{measured['write'] / limit:.1%} and {measured['read'] / limit:.1%})")
        row["read_latency"] = read_latency(lanes_system(preset("small"), 1, data_bits=data_bits))
        figures[f"axi{data_bits}"] = row
        total = sum(cycles for _, cycles in row["read_latency"])
        console.print(f"  zero-load 256-byte remote read, one link, AR taken to RLAST: {total} "
                      "cycles")
        for what, cycles in row["read_latency"]:
            console.print(f"    {cycles:4d}  {what}")
    return figures


def bench_rack(quick: bool) -> dict:
    from .system import rack_bench

    names = ("small", "trn4-nvl72") if quick else ("trn4-nvl72", "hybrid-nvl72",
                                                    "trn3-ultraserver")
    size = 16 * 1024 if quick else 64 * 1024
    figures: dict = {"all_to_all": []}
    for name in names:
        row = rack_bench.all_to_all(preset(name), size)
        figures["all_to_all"].append(row)
        console.print(
            f"rack: all-to-all on {name} ({row['endpoints']} endpoints x {row['planes']} "
            f"planes, {size // 1024} KiB a pair): {row['aggregate_Bps'] / 1e12:.1f} TB/s "
            f"aggregate in steady state = {row['of_derived']:.1%} of the derived "
            f"{row['derived_aggregate_Bps'] / 1e12:.1f} TB/s, {row['of_format_limit']:.1%} of "
            f"the format's {row['format_limit_Bps'] / 1e12:.1f}; per endpoint "
            f"{row['per_endpoint_Bps'] / 1e12:.2f} of {row['derived_per_endpoint_Bps'] / 1e12:.2f}"
            f" TB/s; {row['cycles']} cycles in {row['wall_seconds']:.1f} s, "
            f"{row['flit_hops_per_second'] / 1e6:.2f} M flit-hops/s")
    alone = rack_bench.switch_alone(72)
    figures["switch_alone"] = alone
    console.print(f"rack: the switch model alone at k = 72, backlogged: "
                  f"{alone['flit_hops_per_second'] / 1e6:.2f} M flit-hops/s")
    return figures


def bench_collectives(quick: bool) -> dict:
    from .system import collectives, nccl_report
    from .system.backends import make_network

    system = preset("small")
    network = make_network(system, "cycle")
    group = range(system.endpoints)
    sizes = [1 << power for power in range(10, 19 if quick else 23, 2 if quick else 1)]
    results = {}
    for algo in collectives.SUPPORTED["all_reduce"]:
        results[algo] = [nccl_report.measure(network, "all_reduce", algo, group, size // 4)
                         for size in sizes]
        last = results[algo][-1].out_of_place
        console.print(f"collectives: all_reduce {algo} on the {system.endpoints} endpoints of "
                      f"small (cycle backend): busbw {last.busbw:.1f} GB/s at {sizes[-1]} B, "
                      f"{nccl_report.out_of_bounds(results[algo])} runs with wrong elements")
    nccl_report.plot(OUT / "collectives_busbw.png", results,
                     f"all_reduce, float, {system.endpoints} ranks, small (cycle backend)")
    return {"preset": "small", "op": "all_reduce", "type": "float",
            "results": {algo: nccl_report.rows_json(rows) for algo, rows in results.items()},
            "out_of_bounds": sum(map(nccl_report.out_of_bounds, results.values()))}


def main(which: list[str], quick: bool = False) -> int:
    known = ("framing", "link", "switch", "chiplet", "tile", "rack", "collectives")
    which = which or list(known)
    for name in which:
        if name not in known:
            raise ConfigError(f"Unknown benchmark {name!r}; valid ones are {', '.join(known)}.")
    OUT.mkdir(parents=True, exist_ok=True)
    status = 0
    if "framing" in which:
        figures = bench_framing(quick)
        (OUT / "framing.json").write_text(json.dumps(figures, indent=2) + "\n")
        status |= 0 if figures["matches_reference"] else 1
    if "link" in which:
        (OUT / "link.json").write_text(json.dumps(bench_link(quick), indent=2) + "\n")
    if "switch" in which:
        (OUT / "switch.json").write_text(json.dumps(bench_switch(quick), indent=2) + "\n")
    if "chiplet" in which:
        (OUT / "chiplet.json").write_text(json.dumps(bench_chiplet(quick), indent=2) + "\n")
    if "tile" in which:
        from .tile import bench as tile_bench

        status |= tile_bench.main(["--size", "1024"] if quick else [])
    if "rack" in which:
        (OUT / "rack.json").write_text(json.dumps(bench_rack(quick), indent=2) + "\n")
    if "collectives" in which:
        figures = bench_collectives(quick)
        (OUT / "collectives.json").write_text(json.dumps(figures, indent=2) + "\n")
        status |= 1 if figures.get("out_of_bounds") else 0
    return status
