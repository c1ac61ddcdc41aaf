"""Trainium NeuronCore emulator: NKI-style kernels run numerically and on a per-engine timeline.

``emulator.tile.language`` and ``emulator.tile.isa`` implement ``nki.language`` and
``nki.isa``; the top-level ``nki`` package re-exports them (see docs/tile.md).
"""

from .core import NeuronCore
from .errors import KernelError, TileError, UsageError
from .jit import Kernel, KernelRun, configure, jit, run_kernel
from .ports import DmaPort, MemoryPort, UnmappedPort

__all__ = ["DmaPort", "Kernel", "KernelError", "KernelRun", "MemoryPort", "NeuronCore",
           "TileError", "UnmappedPort", "UsageError", "configure", "jit", "run_kernel"]
