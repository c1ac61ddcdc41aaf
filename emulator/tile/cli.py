"""``fusion-emu kernel FILE.py::FUNC``: run a kernel on random inputs and report its timing.

The kernel runs on one NeuronCore of the preset's generation with inputs drawn from a normal
distribution and rounded to ``--dtype``. With ``--reference FILE.py::FUNC`` its outputs are
compared with a numpy function given the same (rounded) inputs as float32 arrays. The report is
printed as a table; the trace (Chrome JSON, for Perfetto), a PNG of engine utilisation and the
figures as JSON are written to ``--out``. Mistakes (a missing file, a bad shape, a kernel that
breaks a hardware rule) print one line and return a non-zero status.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hdl.params import ConfigError, preset

from . import dtypes
from .errors import KernelError, TileError, UsageError
from .jit import DEFAULT_PRESET, Kernel, run_kernel

#: Largest error allowed against the reference, relative to its largest magnitude.
TOLERANCE = {"float32": 1e-4, "tfloat32": 2e-3, "bfloat16": 2e-2, "float16": 3e-3,
             "float8_e4m3": 0.15, "float8_e5m2": 0.3}

#: Mistakes in a kernel or reference function that are reported in one line, not a traceback.
_KERNEL_MISTAKES = (AssertionError, TypeError, ValueError, IndexError, KeyError, NameError,
                    AttributeError, ZeroDivisionError, ImportError, SyntaxError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``kernel`` subcommand."""
    parser.add_argument("target", help="the kernel, as FILE.py::FUNCTION")
    parser.add_argument("--shapes", required=True,
                        help="one shape per kernel input, e.g. '4096x4096,4096x4096'")
    parser.add_argument("--dtype", default="bfloat16",
                        help=f"input type: {dtypes.supported_names()} (default bfloat16)")
    parser.add_argument("--preset", default=DEFAULT_PRESET,
                        help=f"system preset whose tile generation to use (default "
                             f"{DEFAULT_PRESET})")
    parser.add_argument("--reference", help="numpy reference, as FILE.py::FUNCTION")
    parser.add_argument("--grid", help="SPMD launch grid, e.g. '2x2'")
    parser.add_argument("--out", default="build/kernel", help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the inputs")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; 0 on success, 1 on a reference mismatch, 2 on a user error."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    errors = Console(stderr=True, soft_wrap=True)
    try:
        return _run(args, console, errors)
    except KernelError as error:
        message = error.one_line
    except (TileError, ConfigError) as error:
        message = str(error)
    except _KERNEL_MISTAKES as error:
        message = _describe(error, args.target)
    print(f"error: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, console: Any, errors: Any) -> int:
    params = preset(args.preset).tile
    kind = dtypes.lookup(args.dtype)
    if kind is None:
        raise UsageError(f"unknown --dtype {args.dtype!r}; use one of "
                         f"{dtypes.supported_names()}.")
    shapes = parse_shapes(args.shapes)
    grid = parse_shapes(args.grid)[0] if args.grid else ()
    kernel = load_function(args.target, "kernel")
    reference = load_function(args.reference, "reference") if args.reference else None
    rng = np.random.default_rng(args.seed)
    inputs = [kind.convert(rng.standard_normal(shape).astype(np.float32)) for shape in shapes]

    with errors.status("running kernel") as status:
        def progress(count: int, simulated: float) -> None:
            status.update(f"running kernel: {count:,} instructions, "
                          f"{simulated * 1e6:,.1f} us simulated")

        result = run_kernel(kernel, inputs, params=params, input_dtypes=[kind] * len(inputs),
                            grid=grid, progress=progress)
    report = result.report
    name = args.target.rsplit("::", 1)[1]
    out = Path(args.out)
    trace = report.write_trace(out / f"{name}.trace.json")
    picture = report.write_utilisation_png(out / f"{name}.utilisation.png")
    summary = report.to_dict()
    status_code = 0
    if reference is not None:
        expected = reference(*[np.array(item) for item in inputs])
        error = compare(result.outputs, expected)
        tolerance = TOLERANCE.get(kind.name, 1e-4)
        summary["reference"] = {"relative_error": error, "tolerance": tolerance,
                                "passed": error <= tolerance}
        if error > tolerance:
            status_code = 1
    (out / f"{name}.report.json").write_text(json.dumps(summary, indent=2))
    console.print(report.table(f"{name} on {args.preset} ({params.generation})"))
    if "reference" in summary:
        verdict = summary["reference"]
        word = "matches" if verdict["passed"] else "DOES NOT match"
        console.print(f"output {word} the reference: relative error "
                      f"{verdict['relative_error']:.3g} (tolerance {verdict['tolerance']:g})")
    console.print(f"trace: {trace}   utilisation: {picture}")
    return status_code


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """``'128x512,512'`` to ``[(128, 512), (512,)]``."""
    shapes = []
    for part in text.split(","):
        try:
            shape = tuple(int(size) for size in part.strip().lower().split("x"))
        except ValueError:
            raise UsageError(f"bad shape {part.strip()!r} in {text!r}; write shapes like "
                             "'128x512,512x512'.") from None
        if not shape or any(size <= 0 for size in shape):
            raise UsageError(f"bad shape {part.strip()!r}: sizes must be positive.")
        shapes.append(shape)
    return shapes


def load_function(target: str, role: str) -> Callable[..., Any]:
    """The function ``FUNC`` of ``FILE.py::FUNC``, importing the file as a module."""
    if "::" not in target:
        raise UsageError(f"{role} {target!r} must be written FILE.py::FUNCTION.")
    filename, name = target.rsplit("::", 1)
    path = Path(filename)
    if not path.is_file():
        raise UsageError(f"{role} file {filename!r} does not exist.")
    module_name = f"_fusion_emu_{role}_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module_name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    function = getattr(module, name, None)
    if function is None:
        raise UsageError(f"{filename} has no function {name!r}.")
    if not callable(function):
        raise UsageError(f"{filename}::{name} is not a function.")
    return function.function if isinstance(function, Kernel) else function


def compare(actual: Any, expected: Any) -> float:
    """Largest difference relative to the reference's largest magnitude, over all outputs."""
    actual_items = actual if isinstance(actual, (tuple, list)) else (actual,)
    expected_items = expected if isinstance(expected, (tuple, list)) else (expected,)
    if len(actual_items) != len(expected_items):
        raise UsageError(f"the kernel returned {len(actual_items)} outputs but the reference "
                         f"{len(expected_items)}.")
    worst = 0.0
    for got, want in zip(actual_items, expected_items, strict=True):
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            raise UsageError(f"output shape {got.shape} differs from the reference's "
                             f"{want.shape}.")
        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-30)
        worst = max(worst, float(np.max(np.abs(got - want))) / scale if got.size else 0.0)
    return worst


def _describe(error: BaseException, target: str) -> str:
    """``file:line: Type: message`` at the innermost frame of the kernel's file (else the
    innermost outside the emulator), quoting the source line when the message is empty."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}: SyntaxError: {error.msg}"
    kernel_file = str(Path(target.rsplit("::", 1)[0]).resolve())
    package = str(Path(__file__).resolve().parent)
    frames = traceback.extract_tb(error.__traceback__)
    chosen = [frame for frame in frames if str(Path(frame.filename).resolve()) == kernel_file]
    if not chosen:
        chosen = [frame for frame in frames
                  if not str(Path(frame.filename).resolve()).startswith(package)]
    text = str(error) or (chosen[-1].line if chosen else "")
    where = f"{chosen[-1].filename}:{chosen[-1].lineno}: " if chosen else ""
    return f"{where}{type(error).__name__}: {text}"


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m emulator.tile.cli FILE.py::FUNC ...``."""
    parser = argparse.ArgumentParser(prog="fusion-emu kernel", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
