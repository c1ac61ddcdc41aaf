"""``fusion-emu``: the command line of the fabric emulator.

Subcommands: ``spec`` (derived figures of a preset), ``run`` (the default scenario), ``export``
(Verilog and parameter sidecars), ``kernel`` (an NKI-style kernel on a NeuronCore),
``collectives`` (collective operations on the rack, reported as nccl-tests reports them),
``bench`` (benchmarks). Configuration mistakes print one line starting ``error:`` and exit with
status 2.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hdl.params import ConfigError, SystemParams, load_config, preset

#: Exit status of a run stopped by a configuration or usage mistake.
USAGE_ERROR = 2

console = Console()


def _add_system_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None,
                        help="named parameter set: small (default), trn4-nvl72, hybrid-nvl72, "
                             "trn3-ultraserver")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML file that names a preset and overrides fields "
                             "(see docs/configuration.md)")


def _system(args: argparse.Namespace) -> SystemParams:
    if args.config is not None:
        if args.preset is not None:
            raise ConfigError("Give --preset or --config, not both; a config file names its "
                              "own preset.")
        return load_config(args.config)
    return preset(args.preset or "small")


def _bytes_per_second(value: float) -> str:
    for unit, scale in (("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6)):
        if value >= scale:
            return f"{value / scale:g} {unit}"
    return f"{value:g} B/s"


def print_spec(system: SystemParams) -> None:
    table = Table(title=f"fusion-emu preset {system.name}", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("endpoints", f"{system.endpoints} ({system.asics} Trainium ASICs, {system.gpus} GPUs)"),
        ("links per endpoint", str(system.links_per_endpoint)),
        ("switch chips (planes)", f"{system.switch_chips} of {system.switch.ports} ports"),
        ("switch trays", f"{system.trays} of {system.switch_chips_per_tray} chips"),
        ("virtual channels", str(system.link.virtual_channels)),
        ("link clock", f"{system.link.clock_hz / 1e9:g} GHz, {system.link.flit_bits}-bit flits"),
        ("link bandwidth", (f"{_bytes_per_second(system.link.bandwidth_per_direction)} "
                           "per direction")),
        ("link round trip", (f"{system.link.round_trip_cycles} cycles "
                            f"(wire {system.link.pipeline_latency_cycles} each way)")),
        ("link buffers", (f"{system.link.credit_pool_flits} credits per VC, replay buffer "
                         f"{system.link.replay_buffer_depth} flits, ack time-out "
                         f"{system.link.ack_timeout} cycles")),
        ("bandwidth per endpoint", (f"{_bytes_per_second(system.bandwidth_per_endpoint)} "
                                   "bidirectional")),
        ("bandwidth per switch chip", _bytes_per_second(system.bandwidth_per_switch_chip)),
        ("aggregate bandwidth", _bytes_per_second(system.aggregate_bandwidth)),
        ("compute tile", (f"{system.tile.generation}"
                         f"{' (extrapolated)' if system.tile.extrapolated else ''}")),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for warning in system.link.warnings():
        console.print(f"[yellow]warning:[/yellow] {warning}")


def command_spec(args: argparse.Namespace) -> int:
    system = _system(args)
    if args.json:
        print(json.dumps(system.summary(), indent=2))
    else:
        print_spec(system)
    return 0


def command_run(args: argparse.Namespace) -> int:
    from .scenarios.framing import simulate_framing
    from .scenarios.stimulus import random_packet

    if args.packets < 1:
        raise ConfigError(f"--packets {args.packets} must be at least 1.")
    if not 0.0 <= args.pause < 1.0:
        raise ConfigError(f"--pause {args.pause} must be in [0, 1).")
    system = _system(args)
    print_spec(system)
    rng = random.Random(args.seed)
    packets = [random_packet(rng, system.link) for _ in range(args.packets)]
    waveform = args.out / "framing.vcd"
    console.print(f"Framing simulation (Amaranth simulator): {args.packets} random packets "
                  f"through framer -> deframer, back-pressure {args.pause:.0%}, seed {args.seed}")
    started = time.perf_counter()
    step = max(1, args.packets // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            console.print(f"  {done}/{total} packets delivered "
                          f"({time.perf_counter() - started:.1f} s)")

    result = simulate_framing(system.link, packets, seed=args.seed, pause_probability=args.pause,
                              waveform=waveform, progress=progress)
    verdict = _verdict(result.matches_reference)
    console.print(f"Delivered {result.packets_delivered}/{result.packets_sent} packets "
                  f"({result.flits_sent} flits) in {result.cycles} cycles: "
                  f"{result.flits_per_cycle:.3f} flits/cycle; CRC errors {result.crc_errors}; "
                  f"reference model: {verdict}")
    console.print(f"Waveform: {result.waveform} (open with: gtkwave {result.gtkw})")

    from .scenarios.models import reliable_link, switch_chip

    link = reliable_link(system, args.packets * 5, 1e-3, args.seed)
    console.print(f"Reliable link (cycle model): {link['packets']} packets, half each way, at "
                  f"flit error rate 1e-3 in {link['cycles']} cycles, every one checked: "
                  f"{link['corrupted_flits']} flits corrupted, {link['crc_errors']} CRC errors, "
                  f"{link['replays']} replays, {link['timeouts']} time-outs")
    switch = switch_chip(system, 0.7, 2_000, args.seed)
    console.print(f"Switch chip (cycle model): {switch['ports']} ports, {switch['packets']} "
                  f"packets at load {switch['load']}: mean latency {switch['mean_latency']:.1f} "
                  f"cycles, 99th percentile {switch['p99_latency']:.0f}; reference model: "
                  f"{_verdict(switch['matches_reference'])}")
    return 0 if (result.matches_reference and result.crc_errors == 0
                 and switch["matches_reference"]) else 1


def _verdict(ok: bool) -> str:
    return "[green]match[/green]" if ok else "[red]MISMATCH[/red]"


def command_export(args: argparse.Namespace) -> int:
    from hdl.export import TOPS, export_top

    system = _system(args)
    tops = args.top or list(TOPS)
    for top in tops:
        if top not in TOPS:
            raise ConfigError(f"Unknown top {top!r}; valid tops are {', '.join(TOPS)}.")
    out = args.out or Path("build/verilog") / system.name
    for top in tops:
        path = export_top(top, out, system)
        console.print(f"wrote {path} and {path.with_suffix('.params.json').name}")
    return 0


def command_kernel(args: argparse.Namespace) -> int:
    from .tile import cli as tile_cli

    return tile_cli.run(args)


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_size(text: str, option: str) -> int:
    """Bytes from nccl-tests' notation: a whole number with an optional K, M, G or T (powers of
    1024), as in ``-b 8 -e 256M``."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    digits = value.rstrip("".join(_SIZE_UNITS))
    unit = value[len(digits):]
    if not digits.isdigit() or unit not in _SIZE_UNITS:
        raise ConfigError(f"{option} {text!r} is not a size: give bytes as a whole number with "
                          "an optional K, M or G (powers of 1024), e.g. 8, 1K, 256M")
    return int(digits) * _SIZE_UNITS[unit]


def _parse_group(text: str | None, endpoints: int) -> list[int]:
    """``-g``: a number of ranks (endpoints 0 to N-1), or endpoint IDs and ranges ``0,2,4-7``."""
    if text is None:
        return list(range(endpoints))
    text = text.strip()
    if text.isdigit():
        ranks = int(text)
        if ranks > endpoints:
            raise ConfigError(f"-g {ranks}: the rack has only {endpoints} endpoints; give at most "
                              f"{endpoints} ranks or a list of endpoint IDs")
        return list(range(ranks))
    members = []
    for item in text.split(","):
        first, dash, last = item.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) \
                or int(last or first) < int(first):
            raise ConfigError(f"-g {text!r}: give a number of ranks or endpoint IDs and rising "
                              "ranges, e.g. 8 or 0,2,4-7")
        members += range(int(first), int(last or first) + 1)
    return members


def _collective_sizes(args: argparse.Namespace, itemsize: int, name: str) -> list[int]:
    """The sizes of the sweep, as nccl-tests steps them, each a whole number of elements."""
    minbytes = _parse_size(args.minbytes, "-b")
    maxbytes = _parse_size(args.maxbytes, "-e")
    stepbytes = _parse_size(args.stepbytes, "-i") if args.stepbytes is not None else None
    for option, value in (("-b", minbytes), ("-e", maxbytes), ("-i", stepbytes)):
        if value is not None and value % itemsize:
            raise ConfigError(f"{option} {value} B is not a whole number of {itemsize}-byte "
                              f"{name} elements")
    if not 0 < minbytes <= maxbytes:
        raise ConfigError(f"sizes from {minbytes} to {maxbytes} B: -b must be positive and at "
                          "most -e")
    if stepbytes is None and args.stepfactor < 2:
        raise ConfigError(f"-f {args.stepfactor}: the step factor must be at least 2 (or give "
                          "-i for a fixed step in bytes)")
    sizes = [minbytes]
    while True:
        following = sizes[-1] + stepbytes if stepbytes else sizes[-1] * args.stepfactor
        if following > maxbytes or following == sizes[-1]:
            return sizes
        sizes.append(following)


def _load_backend(name: str) -> None:
    """Import the rack so that the cycle backend registers itself, once it is built."""
    from .system.backends import BACKENDS

    if name in BACKENDS:
        return
    try:
        from .system import rack  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name != "emulator.system.rack":
            raise


def command_collectives(args: argparse.Namespace) -> int:
    from .system import collectives, nccl_report
    from .system.backends import make_network

    system = _system(args)
    op = collectives.resolve_op(args.op)
    dtype = collectives.datatype(args.datatype)
    if args.algo == "all":
        algos = list(collectives.SUPPORTED[op])
    else:
        algos = [collectives.resolve_algo(args.algo or collectives.SUPPORTED[op][0])]
        collectives.check_pair(op, algos[0])
    group = collectives.check_group(_parse_group(args.group, system.endpoints),
                                    system.endpoints)
    if args.check not in (0, 1):
        raise ConfigError(f"-c {args.check}: give 1 to check the results or 0 not to")
    sizes = _collective_sizes(args, dtype.itemsize, dtype.name)
    chunk_bytes = _parse_size(args.chunk, "--chunk")
    _load_backend(args.backend)
    network = make_network(system, args.backend)
    print(f"# fusion-emu collectives: {op} on preset {system.name}, backend {args.backend}")
    print(f"# sizes {sizes[0]} to {sizes[-1]} B in {len(sizes)} steps, validation: {args.check}, "
          f"chunk: {chunk_bytes} B, algorithms: {', '.join(algos)}")
    print("#\n# Using endpoints")
    for rank, endpoint in enumerate(group):
        print(f"#  Rank {rank:2d} Group  0 endpoint {endpoint:3d}")
    results: dict[str, list] = {}
    started = time.perf_counter()
    for algo in algos:
        rows = results.setdefault(algo, [])
        for size in sizes:
            count = collectives.count_for_size(op, len(group), size, dtype.itemsize)
            if not count:
                print(f"collectives: {size} B is less than one element per rank; skipped",
                      file=sys.stderr)
                continue
            rows.append(nccl_report.measure(
                network, op, algo, group, count, dtype, root=args.root, chunk_bytes=chunk_bytes,
                redop=args.redop, check=bool(args.check), seed=args.seed))
            print(f"collectives: {algo} {rows[-1].size} B: {rows[-1].out_of_place.time_us:.2f} "
                  f"us ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
        print(f"#\n# Algorithm: {algo}")
        print(nccl_report.table(rows), flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {"op": op, "algorithms": algos, "type": dtype.name, "redop": args.redop,
                "root": args.root, "group": list(group), "preset": system.name,
                "backend": args.backend, "chunk_bytes": chunk_bytes,
                "clock_hz": network.clock_hz, "sizes": sizes}
        json_path = args.out / f"collectives_{op}.json"
        plot_path = args.out / f"collectives_{op}.png"
        nccl_report.write_json(json_path, results, meta)
        nccl_report.plot(plot_path, results, f"{op}, {dtype.name}, {len(group)} ranks, "
                                              f"{system.name} ({args.backend})")
        print(f"collectives: wrote {json_path} and {plot_path}", file=sys.stderr)
    failed = any(nccl_report.out_of_bounds(rows) for rows in results.values())
    return 1 if failed else 0


def command_bench(args: argparse.Namespace) -> int:
    from . import bench

    return bench.main(args.which, quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    from .tile import cli as tile_cli

    parser = argparse.ArgumentParser(
        prog="fusion-emu",
        description="RTL and model emulator of a Trainium + NVLink Fusion scale-up fabric.",
        epilog="Run 'fusion-emu COMMAND --help' for the options of one command.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    spec = commands.add_parser("spec", help="print the derived figures of a preset",
                               description="Print the system a preset describes and the "
                                           "figures derived from it.")
    _add_system_arguments(spec)
    spec.add_argument("--json", action="store_true", help="print JSON instead of a table")
    spec.set_defaults(handler=command_spec)

    run = commands.add_parser("run", help="run the default scenario",
                              description="Print the spec, then run the link framing RTL on "
                                          "random packets in Amaranth's simulator, check it "
                                          "against the reference model and write a waveform.")
    _add_system_arguments(run)
    run.add_argument("--packets", type=int, default=200, help="packets to send (default 200)")
    run.add_argument("--pause", type=float, default=0.2,
                     help="probability of back-pressure per cycle at each end (default 0.2)")
    run.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    run.add_argument("--out", type=Path, default=Path("build/run"),
                     help="folder for the waveform (default build/run)")
    run.set_defaults(handler=command_run)

    export = commands.add_parser("export", help="write Verilog and parameter sidecars",
                                 description="Write each top as Verilog with a JSON file of the "
                                             "parameters it was built from.")
    _add_system_arguments(export)
    export.add_argument("--top", action="append", help="a top to export (default: all)")
    export.add_argument("--out", type=Path, default=None,
                        help="output folder (default build/verilog/PRESET)")
    export.set_defaults(handler=command_export)

    kernel = commands.add_parser("kernel", help="run an NKI-style kernel on a NeuronCore",
                                 description=tile_cli.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    tile_cli.add_arguments(kernel)
    kernel.set_defaults(handler=command_kernel)

    coll = commands.add_parser(
        "collectives", help="collective operations on the rack, as nccl-tests reports them",
        description="Run a collective over a range of sizes on a network backend with real "
                    "data, out-of-place and in-place, and print nccl-tests' table (time, algbw, "
                    "busbw, #wrong). See docs/collectives.md.")
    _add_system_arguments(coll)
    coll.add_argument("-b", "--minbytes", default="8", help="smallest size (default 8)")
    coll.add_argument("-e", "--maxbytes", default="64M", help="largest size (default 64M)")
    coll.add_argument("-f", "--stepfactor", type=int, default=2,
                      help="multiply the size by this from one row to the next (default 2)")
    coll.add_argument("-i", "--stepbytes", default=None,
                      help="add this many bytes from one row to the next instead")
    coll.add_argument("-o", "--op", default="all_reduce",
                      help="all_reduce (default), reduce_scatter, all_gather, alltoall, "
                           "broadcast, reduce, sendrecv; nccl-tests program names such as "
                           "all_reduce_perf work too")
    coll.add_argument("-d", "--datatype", default="float",
                      help="float (default), half, bfloat16, double, int8, uint8, int32, uint32, "
                           "int64, uint64")
    coll.add_argument("--redop", default="sum", help="sum (default), prod, max, min")
    coll.add_argument("-r", "--root", type=int, default=0,
                      help="root rank of broadcast and reduce (default 0)")
    coll.add_argument("-g", "--group", default=None,
                      help="number of ranks, or endpoint IDs and ranges such as 0,2,4-7 "
                           "(default: every endpoint)")
    coll.add_argument("--algo", default=None,
                      help="ring, direct, halving_doubling, tree, or all: every algorithm the "
                           "operation has (default: ring, or direct where there is no ring)")
    coll.add_argument("--chunk", default="512K",
                      help="largest piece one transfer carries (default 512K)")
    coll.add_argument("-c", "--check", type=int, default=1,
                      help="1 (default) to count wrong elements, 0 not to")
    coll.add_argument("--seed", type=int, default=0, help="seed of the input data (default 0)")
    coll.add_argument("--backend", default="cycle", help="network backend (default cycle)")
    coll.add_argument("--out", type=Path, default=None,
                      help="folder for JSON and a PNG of busbw against size")
    coll.set_defaults(handler=command_collectives)

    bench = commands.add_parser("bench", help="run benchmarks and write JSON and plots",
                                description="Benchmarks; results go to build/bench/.")
    bench.add_argument("which", nargs="*", default=[],
                       help="framing, link, switch, chiplet, tile, rack, collectives "
                            "(default: all)")
    bench.add_argument("--quick", action="store_true", help="smaller runs, for a smoke check")
    bench.set_defaults(handler=command_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # output piped into a pager or head that closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
