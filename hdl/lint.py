"""Lint every exported top with ``verilator --lint-only -Wall`` and the waivers in lint.vlt.

Usage: ``python -m hdl.lint [--preset NAME] [--out DIR]``; exits non-zero on any warning.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .export import TOPS, export_top
from .params import ConfigError, preset
from .toolchain import ToolchainError, verilator_binary

WAIVERS = Path(__file__).with_name("lint.vlt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hdl.lint", description=__doc__)
    parser.add_argument("--preset", default="small", help="parameter preset (default: small)")
    parser.add_argument("--out", type=Path, default=None,
                        help="export folder (default: build/verilog/PRESET)")
    parser.add_argument("--top", action="append", default=None,
                        help="a top to lint (repeatable; default: every top). The switch at "
                             "72 ports takes minutes to export and lint")
    args = parser.parse_args(argv)
    try:
        system = preset(args.preset)
        verilator = verilator_binary()
    except (ConfigError, ToolchainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or Path("build/verilog") / args.preset
    unknown = sorted(set(args.top or ()) - set(TOPS))
    if unknown:
        print(f"error: unknown top {unknown[0]!r}; valid tops are {', '.join(TOPS)}",
              file=sys.stderr)
        return 2
    failed = []
    for top in args.top or TOPS:
        verilog = export_top(top, out, system)
        result = subprocess.run([str(verilator), "--lint-only", "-Wall", str(WAIVERS),
                                 str(verilog), "--top-module", top],
                                capture_output=True, text=True, check=False)
        status = "clean" if result.returncode == 0 else "WARNINGS"
        print(f"lint {top:<20} {status}")
        if result.returncode:
            failed.append(top)
            print(result.stderr, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
