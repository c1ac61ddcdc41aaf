"""Build an exported top and run cocotb tests on it, from pytest.

One build directory per (top, preset, simulator): ``build/sim/<top>-<preset>-<simulator>``.
``SEED=N`` reruns a failing seed; ``WAVES=1`` records a waveform in ``<build directory>-waves``:
FST from Icarus, VCD from Verilator; ``python -m testbench.waves DIR`` writes a GTKWave save
file for it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from amaranth.lib import wiring
from cocotb_tools.runner import Icarus, Runner, get_runner

from hdl.export import export, export_top
from hdl.params import SystemParams
from hdl.toolchain import configure

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "sim"
#: Environment variable through which a cocotb test finds its build directory and top.
BUILD_DIR_VARIABLE = "FUSION_EMU_BUILD_DIR"
TOP_VARIABLE = "FUSION_EMU_TOP"


class Icarus2005(Icarus):
    """Icarus in Verilog-2005 mode, the language Amaranth writes.

    In SystemVerilog mode a register's initialiser is not an event at time zero, so Amaranth's
    ``always @*`` blocks would not run until an input changes and their outputs would start
    unknown. The waveform dump module is written in Verilog-2005 to match.
    """

    def _create_iverilog_dump_file(self) -> None:
        path = self.build_dir / f"{self.hdl_toplevel}.fst"
        self.iverilog_dump_file.write_text(
            "module cocotb_iverilog_dump();\n"
            f"initial begin\n  $dumpfile(\"{path}\");\n"
            f"  $dumpvars(0, {self.hdl_toplevel});\nend\nendmodule\n")


def make_runner(simulator: str) -> tuple[Runner, list[str]]:
    """A cocotb runner for ``simulator`` and the build arguments our Verilog needs."""
    if simulator == "icarus":
        return Icarus2005(), ["-g2005"]
    if simulator == "verilator":
        return get_runner("verilator"), ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3"]
    raise ValueError(f"unknown simulator {simulator!r}; use one of icarus, verilator")


def build_dir_for(top: str, system: SystemParams, simulator: str, waves: bool = False) -> Path:
    """Builds with waveform tracing are kept apart: the two are compiled differently."""
    return BUILD / f"{top}-{system.name}-{simulator}{'-waves' if waves else ''}"


def run_cocotb(top: str, simulator: str, test_module: str, system: SystemParams,
               testcase: Sequence[str] | None = None, extra_env: dict[str, str] | None = None,
               component: wiring.Component | None = None) -> Path:
    """Export ``top``, build it for ``simulator`` and run ``test_module``'s cocotb tests.

    ``top`` is one of ``hdl.export.TOPS``, or the name to give ``component``: a test top
    built from more than the system parameters (the test rebuilds the rest itself). Fails
    (through cocotb's pytest integration) when any cocotb test fails. Returns the build
    directory.
    """
    configure()
    waves = os.environ.get("WAVES") == "1"
    build_dir = build_dir_for(top, system, simulator, waves)
    if component is None:
        verilog = export_top(top, build_dir, system)
    else:
        verilog = export(component, top, build_dir, system)
    seed = int(os.environ.get("SEED", random.randrange(2**32)))
    print(f"{top} on {simulator}: rerun with SEED={seed}")
    # Icarus writes FST; Verilator writes VCD (its FST writer needs liblz4 headers).
    runner, build_args = make_runner(simulator)
    runner.build(sources=[verilog], hdl_toplevel=top, build_dir=build_dir,
                 timescale=("1ns", "1ps"), build_args=build_args, waves=waves)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           BUILD_DIR_VARIABLE: str(build_dir), TOP_VARIABLE: top, **(extra_env or {})}
    runner.test(test_module=test_module, hdl_toplevel=top, build_dir=build_dir, seed=seed,
                testcase=list(testcase) if testcase else None, extra_env=env, waves=waves,
                timescale=("1ns", "1ps"), test_dir=build_dir)
    return build_dir


def params_in_test() -> SystemParams:
    """Inside a cocotb test: the parameters its top was exported with."""
    from hdl.export import load_params

    return load_params(Path(os.environ[BUILD_DIR_VARIABLE]), os.environ[TOP_VARIABLE])
