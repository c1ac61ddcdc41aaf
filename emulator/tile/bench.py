"""Benchmark of the tile emulator: ``python -m emulator.tile.bench``.

Runs the blocked bf16 matmul (examples/matmul.py) at 4096^3 and reports

- the fraction of Tensor-engine peak the timeline reaches, next to the fraction the cost
  model predicts in closed form (:mod:`emulator.tile.analytic`), with per-engine utilisation;
- the wall time of the emulation (numerics and timeline) against a plain numpy matmul of the
  same size, measured side by side in this process with the same BLAS thread count.

Writes JSON to ``build/bench/tile.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from hdl.params import preset

from . import analytic, blas, dtypes
from .examples.matmul import matmul_kernel
from .jit import DEFAULT_PRESET, run_kernel

#: The emulation may take at most this many times a plain numpy matmul.
SPEED_TARGET = 3.0


def measure(size: int, preset_name: str, seed: int = 0) -> dict[str, Any]:
    """Run the emulated and the plain matmul once each; return the figures."""
    params = preset(preset_name).tile
    rng = np.random.default_rng(seed)
    lhsT = dtypes.round_bfloat16(rng.standard_normal((size, size), dtype=np.float32))
    rhs = dtypes.round_bfloat16(rng.standard_normal((size, size), dtype=np.float32))

    start = time.perf_counter()
    expected = lhsT.T @ rhs
    numpy_seconds = time.perf_counter() - start

    start = time.perf_counter()
    run = run_kernel(matmul_kernel, (lhsT, rhs), params=params,
                     input_dtypes=[dtypes.bfloat16] * 2)
    emulator_seconds = time.perf_counter() - start

    report = run.report
    prediction = analytic.blocked_matmul(params, size, size, size)
    error = float(np.max(np.abs(run.outputs - expected)) / np.max(np.abs(expected)))
    return {
        "shape": [size, size, size],
        "dtype": "bfloat16",
        "preset": preset_name,
        "generation": params.generation,
        "extrapolated": params.extrapolated,
        "achieved_fraction_of_peak": report.fraction_of_peak,
        "predicted_fraction_of_peak": prediction.fraction_of_peak,
        "simulated_seconds": report.total_seconds,
        "predicted_seconds": prediction.total,
        "predicted_fill_seconds": prediction.fill,
        "predicted_drain_seconds": prediction.drain,
        "achieved_flops_per_second": report.achieved_flops,
        "tensor_peak_flops_per_second": report.peak_flops,
        "utilisation": report.utilisation,
        "instructions": report.instruction_count,
        "emulator_seconds": emulator_seconds,
        "numpy_seconds": numpy_seconds,
        "emulator_to_numpy_ratio": emulator_seconds / numpy_seconds,
        "speed_target": SPEED_TARGET,
        "relative_error_vs_numpy": error,
    }


def _table(result: dict[str, Any]):
    from rich.table import Table

    table = Table(title=f"tile emulator: {'x'.join(map(str, result['shape']))} bf16 matmul on "
                        f"{result['preset']} ({result['generation']}"
                        f"{', extrapolated' if result['extrapolated'] else ''})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("fraction of Tensor peak: achieved",
                  f"{100 * result['achieved_fraction_of_peak']:.2f} %")
    table.add_row("fraction of Tensor peak: predicted",
                  f"{100 * result['predicted_fraction_of_peak']:.2f} %")
    table.add_row("simulated time (predicted)", f"{result['simulated_seconds'] * 1e6:.2f} us "
                  f"({result['predicted_seconds'] * 1e6:.2f} us)")
    table.add_row("achieved / peak", f"{result['achieved_flops_per_second'] / 1e12:.1f} / "
                  f"{result['tensor_peak_flops_per_second'] / 1e12:.1f} TFLOP/s")
    for name, value in result["utilisation"].items():
        table.add_row(f"utilisation: {name}", f"{100 * value:.1f} %")
    table.add_row("emulation wall time", f"{result['emulator_seconds']:.2f} s")
    table.add_row("numpy matmul wall time", f"{result['numpy_seconds']:.2f} s")
    table.add_row("emulation / numpy", f"{result['emulator_to_numpy_ratio']:.2f} "
                  f"(target <= {result['speed_target']:g})")
    table.add_row("BLAS threads", str(result.get("blas_threads")))
    table.add_row("max error vs numpy (relative)", f"{result['relative_error_vs_numpy']:.2e}")
    return table


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 (the figures, not a pass/fail, are the product)."""
    parser = argparse.ArgumentParser(prog="python -m emulator.tile.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="M = K = N (default 4096)")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for both the emulator and numpy (default 1; 0 "
                             "leaves the library default)")
    parser.add_argument("--out", default="build/bench/tile.json")
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console()
    if args.blas_threads > 0 and not blas.set_threads(args.blas_threads):
        console.print("note: numpy's BLAS thread count cannot be set here; using its default")
    with console.status(f"emulating a {args.size}^3 bf16 matmul"):
        result = measure(args.size, args.preset)
    result["blas_threads"] = blas.get_threads()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(_table(result))
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
