"""Write a GTKWave save file next to a simulation's waveform and print where both are.

Usage: ``python -m testbench.waves BUILD_DIR``. The save file shows the top's ports, grouped
by stream (``NAME__valid``, ``NAME__ready``, ``NAME__payload`` under ``NAME``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from vcd.gtkw import GTKWSave

PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?\\?([\w$.]+)\s*;", re.MULTILINE)


def top_ports(verilog: Path, top: str) -> list[tuple[str, int]]:
    """(name, width) of the ports of module ``top`` in ``verilog``."""
    text = verilog.read_text()
    start = text.index(f"module {top}(")
    end = text.index("endmodule", start)
    return [(name, int(msb or 0) + 1) for _, msb, name in PORT.findall(text[start:end])]


def write_save_file(build_dir: Path) -> tuple[Path, Path]:
    waves = sorted(build_dir.glob("*.fst")) + sorted(build_dir.glob("*.vcd"))
    if not waves:
        raise FileNotFoundError(f"no .fst or .vcd waveform in {build_dir}; run with WAVES=1")
    dump = waves[0]
    sources = sorted(build_dir.glob("*.v"))
    if not sources:
        raise FileNotFoundError(f"no exported Verilog in {build_dir}")
    top = sources[0].stem
    scope = top  # both simulators dump the top module as a root scope
    save = dump.with_suffix(".gtkw")
    with save.open("w") as handle:
        gtkw = GTKWSave(handle)
        gtkw.dumpfile(str(dump.resolve()))
        gtkw.zoom_markers(-8)
        gtkw.trace(f"{scope}.clk")
        gtkw.trace(f"{scope}.rst")
        groups: dict[str, list[tuple[str, int]]] = {}
        for name, width in top_ports(sources[0], top):
            if name in ("clk", "rst"):
                continue
            groups.setdefault(name.split("__")[0], []).append((name, width))
        for group, members in groups.items():
            with gtkw.group(group):
                for name, width in members:
                    signal = f"{scope}.{name}" + (f"[{width - 1}:0]" if width > 1 else "")
                    gtkw.trace(signal, datafmt="hex" if width > 1 else "bin")
    return dump, save


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m testbench.waves BUILD_DIR", file=sys.stderr)
        return 2
    try:
        dump, save = write_save_file(Path(argv[0]))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"waveform:  {dump}")
    print(f"save file: {save}")
    print(f"open with: gtkwave {save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
