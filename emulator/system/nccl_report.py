"""Collective results printed exactly as nccl-tests prints them, as JSON, and as a plot.

The table follows nccl-tests' ``src/common.cu`` (the 2.x releases): a label line over the
out-of-place and in-place halves, the column names and their units, one row per size with
``%12li  %12li  %8s  %6s  %6i`` then ``  %7s  %6.2f  %6.2f  %5g`` twice (time, algbw, busbw,
#wrong; ``N/A`` when unchecked), the time with two decimals below 100 us, one below 10 ms and
none above; then the number of runs with wrong elements and the average bus bandwidth over
every run of the table. Bandwidths are in GB/s of 10^9 bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .collectives import CollectiveResult, make_inputs, run_collective
from .network import Network


def _leading(size: str, count: str, kind: str, redop: str, root: str) -> str:
    return f"# {size:>10}  {count:>12}  {kind:>8}  {redop:>6}  {root:>6}"


LABEL = _leading("", "", "", "", "") \
    + "           out-of-place                       in-place          "
HEADER = _leading("size", "count", "type", "redop", "root") \
    + f"  {'time':>7}  {'algbw':>6}  {'busbw':>6} {'#wrong':>6}" * 2
UNITS = _leading("(B)", "(elements)", "", "", "") \
    + f"  {'(us)':>7}  {'(GB/s)':>6}  {'(GB/s)':>6}  {'':>5}" * 2


@dataclass(frozen=True)
class Measure:
    """One run of a row: time in microseconds, bandwidths in GB/s, wrong elements (None when
    not checked), and the time in cycles it came from."""

    time_us: float
    algbw: float
    busbw: float
    wrong: int | None
    cycles: int

    @classmethod
    def of(cls, result: CollectiveResult) -> Measure:
        return cls(result.time_us, result.algbw, result.busbw, result.wrong, result.time_cycles)


@dataclass(frozen=True)
class Row:
    """One size: the out-of-place and the in-place run of the same collective."""

    size: int
    count: int
    type: str
    redop: str
    root: int
    out_of_place: Measure
    in_place: Measure

    @classmethod
    def of(cls, out_of_place: CollectiveResult, in_place: CollectiveResult) -> Row:
        return cls(out_of_place.size_bytes, out_of_place.count, out_of_place.dtype.name,
                   out_of_place.redop, out_of_place.root, Measure.of(out_of_place),
                   Measure.of(in_place))

    @property
    def measures(self) -> tuple[Measure, Measure]:
        return self.out_of_place, self.in_place


def measure(network: Network, op: str, algo: str, group: Sequence[int], count: int,
            dtype: str = "float", *, root: int = 0, chunk_bytes: int | None = None,
            redop: str = "sum", check: bool = True, seed: int = 0) -> Row:
    """One row as nccl-tests measures it: the collective out-of-place, then in-place on the
    same inputs."""
    inputs = make_inputs(op, len(group), count, dtype, redop, seed)
    return Row.of(*(run_collective(network, op, algo, group, count, dtype, root, in_place,
                                   chunk_bytes, inputs, redop=redop, check=check)
                    for in_place in (False, True)))


def format_time(time_us: float) -> str:
    if time_us >= 10000.0:
        return f"{time_us:7.0f}"
    if time_us >= 100.0:
        return f"{time_us:7.1f}"
    return f"{time_us:7.2f}"


def format_row(row: Row) -> str:
    line = f"{row.size:12d}  {row.count:12d}  {row.type:>8s}  {row.redop:>6s}  {row.root:6d}"
    for measure in row.measures:
        wrong = f"{measure.wrong:5g}" if measure.wrong is not None else "  N/A"
        line += (f"  {format_time(measure.time_us)}  {measure.algbw:6.2f}  {measure.busbw:6.2f}"
                 f"  {wrong}")
    return line


def out_of_bounds(rows: Sequence[Row]) -> int:
    """Runs with wrong elements, as nccl-tests counts its "out of bounds values"."""
    return sum(1 for row in rows for measure in row.measures if measure.wrong)


def average_bus_bandwidth(rows: Sequence[Row]) -> float:
    """The mean busbw over every run of the table, out-of-place and in-place."""
    values = [measure.busbw for row in rows for measure in row.measures]
    return sum(values) / len(values) if values else 0.0


def header_lines() -> list[str]:
    return ["#", LABEL, HEADER, UNITS]


def footer_lines(rows: Sequence[Row]) -> list[str]:
    errors = out_of_bounds(rows)
    return [f"# {'Out of bounds values':<20s} : {errors} {'FAILED' if errors else 'OK'}",
            f"# {'Avg bus bandwidth':<20s} : {average_bus_bandwidth(rows):g} ",
            "#"]


def table(rows: Sequence[Row]) -> str:
    """Header, rows and footer, one line each, as nccl-tests prints a test."""
    return "\n".join([*header_lines(), *map(format_row, rows), *footer_lines(rows)])


def rows_json(rows: Sequence[Row]) -> list[dict]:
    """The rows with nccl-tests' JSON keys (time in us, alg_bw and bus_bw in GB/s, nwrong)."""
    def measure(item: Measure) -> dict:
        return {"time": item.time_us, "alg_bw": item.algbw, "bus_bw": item.busbw,
                "nwrong": item.wrong, "cycles": item.cycles}

    return [{"size": row.size, "count": row.count, "type": row.type, "redop": row.redop,
             "root": row.root, "out_of_place": measure(row.out_of_place),
             "in_place": measure(row.in_place)} for row in rows]


def write_json(path: Path, results: Mapping[str, Sequence[Row]], meta: Mapping) -> None:
    """``results`` (algorithm -> rows) and the run's settings ``meta`` as one JSON file."""
    document = dict(meta)
    document["results"] = {algo: rows_json(rows) for algo, rows in results.items()}
    document["average_bus_bandwidth"] = {algo: average_bus_bandwidth(rows)
                                         for algo, rows in results.items()}
    document["out_of_bounds"] = {algo: out_of_bounds(rows) for algo, rows in results.items()}
    path.write_text(json.dumps(document, indent=2) + "\n")


def plot(path: Path, results: Mapping[str, Sequence[Row]], title: str) -> None:
    """Out-of-place busbw against size, one line per algorithm (PNG, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for algo, rows in results.items():
        axes.plot([row.size for row in rows], [row.out_of_place.busbw for row in rows], "o-",
                  label=algo, markersize=3)
    axes.set_xscale("log", base=2)
    axes.set_xlabel("size (bytes, nccl-tests' definition)")
    axes.set_ylabel("bus bandwidth (GB/s)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

