"""Kernel launch: ``@nki.jit``, SPMD grids (``kernel[2, 2](...)``) and :func:`run_kernel`.

Calling a decorated kernel with numpy arrays runs it on a fresh :class:`NeuronCore` of the
configured generation (see :func:`configure`): inputs are copied into HBM, the kernel body
executes its NKI calls, and HBM tensors it returns come back as numpy arrays (floating types as
float32 holding exactly the rounded values). The run, with its timeline, stays available as
``kernel.last_run``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hdl.params import PRESETS, TileParams

from .core import NeuronCore
from .errors import pop_kernel_file, push_kernel_file
from .ports import DmaPort
from .tensor import Tensor

DEFAULT_PRESET = "trn4-nvl72"


@dataclass
class _Defaults:
    params: TileParams = field(default_factory=lambda: PRESETS[DEFAULT_PRESET].tile)
    port: DmaPort | None = None


_defaults = _Defaults()


def configure(params: TileParams | None = None, port: DmaPort | None = None) -> None:
    """Set the generation and DMA port that plain kernel calls use."""
    if params is not None:
        _defaults.params = params
    _defaults.port = port


@dataclass
class KernelRun:
    """The result of one launch.

    Attributes
    ----------
    outputs : Any
        What the kernel returned, tensors converted to numpy arrays.
    core : NeuronCore
        The core it ran on: its scheduler holds the timeline.
    """

    outputs: Any
    core: NeuronCore

    @property
    def report(self):
        from .report import Report
        return Report.from_core(self.core)


def _to_numpy(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, (tuple, list)):
        return type(value)(_to_numpy(item) for item in value)
    return value


def run_kernel(function: Callable[..., Any], args: Sequence[Any] = (),
               kwargs: dict[str, Any] | None = None, params: TileParams | None = None,
               grid: tuple[int, ...] = (), input_dtypes: Sequence[object] | None = None,
               port: DmaPort | None = None, core: NeuronCore | None = None,
               progress: Callable[[int, float], None] | None = None) -> KernelRun:
    """Run ``function`` (a kernel body or a :class:`Kernel`) on a NeuronCore.

    Parameters
    ----------
    args, kwargs
        Kernel arguments; numpy arrays become HBM tensors (of ``input_dtypes`` where given).
    grid : tuple of int
        SPMD launch grid; programs run one after another on the same core.
    core : NeuronCore, optional
        Run on this core (to place remote tensors first); otherwise a fresh one.
    """
    function = function.function if isinstance(function, Kernel) else function
    if core is None:
        core = NeuronCore(params or _defaults.params, port if port is not None
                          else _defaults.port, progress=progress)
    kinds = list(input_dtypes) if input_dtypes is not None else []
    converted = []
    for index, value in enumerate(args):
        if isinstance(value, np.ndarray):
            kind = kinds[index] if index < len(kinds) else None
            value = core.from_numpy(value, kind, name=f"input{index}")
        converted.append(value)
    push_kernel_file(function.__code__.co_filename)
    try:
        programs = list(itertools.product(*(range(size) for size in grid))) or [()]
        result = None
        for program in programs:
            with core.running(tuple(grid), program):
                result = function(*converted, **(kwargs or {}))
                core.flush_matmuls()
    finally:
        pop_kernel_file()
    return KernelRun(_to_numpy(result), core)


class Kernel:
    """A function decorated with ``@nki.jit``; index it with a grid for an SPMD launch."""

    def __init__(self, function: Callable[..., Any], grid: tuple[int, ...] = (),
                 **options: Any) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.grid = grid
        self.options = options
        self.last_run: KernelRun | None = None

    def __getitem__(self, grid: int | tuple[int, ...]) -> Kernel:
        sizes = grid if isinstance(grid, tuple) else (grid,)
        launch = Kernel(self.function, tuple(int(size) for size in sizes), **self.options)
        launch.parent = self  # type: ignore[attr-defined]
        return launch

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = run_kernel(self.function, args, kwargs, grid=self.grid)
        self.last_run = run
        parent = getattr(self, "parent", None)
        if parent is not None:
            parent.last_run = run
        return run.outputs


def jit(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Decorate a kernel: ``@nki.jit`` or ``@nki.jit(mode=...)`` (options are accepted and
    ignored)."""
    if function is None:
        return lambda inner: Kernel(inner, **options)
    return Kernel(function, **options)


def simulate_kernel(kernel: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a kernel on numpy inputs and return its outputs (``nki.simulate_kernel``)."""
    run = run_kernel(kernel, args, kwargs, grid=getattr(kernel, "grid", ()))
    return run.outputs


baremetal = jit
