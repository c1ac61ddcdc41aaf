"""The NKI kernel API, served by the fusion-emu tile emulator.

``import nki``, ``import nki.language as nl`` and ``import nki.isa as nisa`` resolve here once
the project is installed, so kernels written for the public NKI API run unmodified on the
emulator (emulator/tile). See docs/tile.md.
"""

from emulator.tile.jit import Kernel, baremetal, jit, simulate_kernel

from . import isa, language

benchmark = jit

__all__ = ["Kernel", "baremetal", "benchmark", "isa", "jit", "language", "simulate_kernel"]
