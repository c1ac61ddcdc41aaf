"""``nki.language``: tensors, buffers, types, loops, SPMD ids and tile-level math.

Tile-level functions (``nl.exp``, ``nl.add``, ``nl.sum``, ``nl.load``...) are lowered onto the
ISA instructions they stand for: unary math on the Scalar engine (activation), binary math and
reductions on the Vector engine, loads and stores on DMA queues, ``nl.matmul`` on the Tensor
engine. Each returns a new SBUF tile unless documented otherwise.
"""

from __future__ import annotations

import numpy as np

from . import costs, isa
from . import operators as ops
from .core import active, flushing
from .dtypes import (  # noqa: F401 - re-exported NKI names
    bfloat16,
    bool_,
    float8_e4m3,
    float8_e5m2,
    float16,
    float32,
    int8,
    int16,
    int32,
    tfloat32,
    uint8,
    uint16,
    uint32,
)
from .errors import KernelError
from .memory import hbm, private_hbm, psum, sbuf, shared_hbm  # noqa: F401
from .tensor import Tensor

float8_e4m3fn = float8_e4m3

# Operators and activation functions as module attributes: nl.exp, nl.add, nl.sum...
globals().update(ops.UNARY)
globals().update(ops.BINARY)
globals().update(ops.REDUCTIONS)


class _TileSizeMeta(type):
    """Limits that depend on the generation being emulated."""

    @property
    def sbuf_size_bytes(cls) -> int:
        return _params().sbuf_bytes

    @property
    def total_available_sbuf_size(cls) -> int:
        return _params().sbuf_bytes_per_partition

    @property
    def sbuf_fmax_bytes(cls) -> int:
        return _params().sbuf_bytes_per_partition

    @property
    def psum_num_banks(cls) -> int:
        return _params().psum_banks


class tile_size(metaclass=_TileSizeMeta):  # noqa: N801 - the NKI name
    """Hardware tile-size constants (``nl.tile_size.pmax`` and friends)."""

    pmax = 128
    psum_fmax = 512
    psum_bank_fmax = 512
    psum_bank_fmax_bytes = 2048
    gemm_stationary_fmax = 128
    gemm_moving_fmax = 512
    bn_stats_fmax = 512
    psum_min_align = 4
    sbuf_min_align = 1


def _params():
    from .core import _active
    if _active:
        return _active[-1].params
    from hdl.params import TILE_GENERATIONS
    return TILE_GENERATIONS["trn3"]


# -- creation -------------------------------------------------------------------------------

def par_dim(size: int) -> int:
    """Marks the partition dimension in a shape (kept for older kernels)."""
    return size


def ndarray(shape: object, dtype: object = float32, buffer: object = sbuf,
            name: str = "", **kwargs: object) -> Tensor:
    """A new, uninitialised tensor of ``shape`` and ``dtype`` in ``buffer``."""
    if buffer is None:
        buffer = sbuf
    _no_mask(kwargs)
    return active().allocate(shape, dtype, buffer, name)


def full(shape: object, fill_value: float, dtype: object = float32, buffer: object = sbuf,
         name: str = "", **kwargs: object) -> Tensor:
    """A new tensor filled with ``fill_value`` (a memset on chip)."""
    tensor = ndarray(shape, dtype, buffer, name, **kwargs)
    if tensor.on_chip:
        isa.memset(dst=tensor, value=fill_value)
    else:
        tensor.array[...] = fill_value
    return tensor


def zeros(shape: object, dtype: object = float32, buffer: object = sbuf, name: str = "",
          **kwargs: object) -> Tensor:
    return full(shape, 0, dtype, buffer, name, **kwargs)


def ones(shape: object, dtype: object = float32, buffer: object = sbuf, name: str = "",
         **kwargs: object) -> Tensor:
    return full(shape, 1, dtype, buffer, name, **kwargs)


def zeros_like(a: Tensor, dtype: object = None, buffer: object = None, name: str = "",
               **kwargs: object) -> Tensor:
    return zeros(a.shape, dtype or a.dtype, buffer or a.buffer, name, **kwargs)


def empty_like(a: Tensor, dtype: object = None, buffer: object = None, name: str = "",
               **kwargs: object) -> Tensor:
    return ndarray(a.shape, dtype or a.dtype, buffer or a.buffer, name, **kwargs)


def shared_identity_matrix(n: int, dtype: object = float32, **kwargs: object) -> Tensor:
    """An ``n`` x ``n`` identity matrix in SBUF."""
    tensor = ndarray((n, n), dtype, sbuf)
    isa.iota(tensor, np.eye(n, dtype=np.int64))
    return tensor


# -- indexing helpers and loops ------------------------------------------------------------

def arange(start: int, stop: int | None = None, step: int = 1) -> np.ndarray:
    """Integer index vector for the legacy ``tile[i_p, i_f]`` indexing style."""
    return np.arange(start, stop, step, dtype=np.int64) if stop is not None \
        else np.arange(start, dtype=np.int64)


class _OpenGrid:
    """``nl.mgrid[0:128, 0:512]`` gives broadcastable partition and free index arrays."""

    def __getitem__(self, key: object) -> tuple[np.ndarray, ...]:
        grids = np.ogrid[key]  # type: ignore[index]
        return tuple(grid.astype(np.int64) for grid in grids)


mgrid = _OpenGrid()


def ds(start: int, size: int) -> slice:
    """A slice of ``size`` elements from ``start``."""
    return slice(start, start + size)


def affine_range(start: int, stop: int | None = None, step: int = 1) -> range:
    """Loop whose iterations are independent (runs in order here)."""
    return range(start, stop, step) if stop is not None else range(start)


sequential_range = affine_range
static_range = affine_range
dynamic_range = affine_range


def program_id(axis: int) -> int:
    """Index of this program along ``axis`` of the SPMD launch grid."""
    core = active()
    if not core.grid:
        return 0
    if not 0 <= axis < len(core.grid):
        raise KernelError("spmd", f"program_id({axis}) but the launch grid is {core.grid}.")
    return core.program[axis]


def num_programs(axes: int | tuple[int, ...] | None = None) -> int:
    """Number of programs along ``axes`` (all of them when None)."""
    grid = active().grid or (1,)
    if axes is None:
        return int(np.prod(grid))
    if isinstance(axes, int):
        return grid[axes] if axes < len(grid) else 1
    return int(np.prod([grid[axis] for axis in axes]))


def program_ndim() -> int:
    return len(active().grid)


@flushing
def device_print(prefix: str, x: Tensor, **kwargs: object) -> None:
    """Print a tile's values (at emulation time)."""
    print(prefix, x.numpy())


# -- memory movement ----------------------------------------------------------------------

def load(src: Tensor, dtype: object = None, **kwargs: object) -> Tensor:
    """Copy an HBM tensor into a new SBUF tile of the same shape."""
    _no_mask(kwargs)
    if not isinstance(src, Tensor):
        raise KernelError("argument", "nl.load: src must be a tensor.")
    shape = src.shape if len(src.shape) >= 2 else (1, *src.shape)
    tile = ndarray(shape, dtype or src.dtype, sbuf)
    isa.dma_copy(dst=tile, src=src)
    return tile


def store(dst: Tensor, value: object, **kwargs: object) -> None:
    """Copy a tile into an HBM tensor."""
    _no_mask(kwargs)
    if not isinstance(value, Tensor):
        raise KernelError("argument", "nl.store: value must be a tile.")
    isa.dma_copy(dst=dst, src=value)


def copy(x: Tensor, dtype: object = None, **kwargs: object) -> Tensor:
    """A copy of a tile in SBUF."""
    _no_mask(kwargs)
    tile = ndarray(x.shape, dtype or x.dtype, sbuf)
    isa.tensor_copy(dst=tile, src=x)
    return tile


copy.operator = ops.UNARY["copy"]  # type: ignore[attr-defined]


def transpose(x: Tensor, dtype: object = None, **kwargs: object) -> Tensor:
    """Swap partition and free dimensions (Tensor engine; the result is in PSUM)."""
    return isa.nc_transpose(x)  # type: ignore[return-value]


def matmul(x: Tensor, y: Tensor, transpose_x: bool = False, **kwargs: object) -> Tensor:
    """``x @ y`` (or ``x.T @ y`` with ``transpose_x``) into a new float32 PSUM tile."""
    _no_mask(kwargs)
    stationary = x
    if not transpose_x:
        transposed = isa.nc_transpose(x)
        stationary = copy(transposed)  # type: ignore[arg-type]
    return isa.nc_matmul(stationary, y)  # type: ignore[return-value]


# -- tile math ----------------------------------------------------------------------------

def _on_chip(value: object, name: str) -> None:
    if isinstance(value, Tensor) and not value.on_chip:
        raise KernelError("memory-placement", f"nl.{name} works on SBUF or PSUM tiles, but an "
                          f"operand is in {value.buffer.name.upper()}; load it first.")


def _result_type(values: list[object], dtype: object) -> object:
    if dtype is not None:
        return dtype
    tensors = [value for value in values if isinstance(value, Tensor)]
    return isa._wider(*tensors)


@flushing
def apply_operator(op: ops.Operator, *args: object, dtype: object = None,
                   **kwargs: object) -> Tensor:
    """``nl.<op>(x)`` or ``nl.<op>(x, y)``: element-wise math into a new SBUF tile."""
    _no_mask(kwargs)
    if len(args) != op.arity:
        raise KernelError("argument", f"nl.{op.name} takes {op.arity} operand(s), got "
                          f"{len(args)}.")
    for value in args:
        _on_chip(value, op.name)
    tensors = [value for value in args if isinstance(value, Tensor)]
    if not tensors:
        raise KernelError("argument", f"nl.{op.name} needs at least one tile operand.")
    core = active()
    arrays = [value.array if isinstance(value, Tensor) else value for value in args]
    try:
        shape = np.broadcast_shapes(*(np.shape(item) for item in arrays))
    except ValueError:
        raise KernelError("shape-mismatch", f"nl.{op.name}: operand shapes "
                          f"{[np.shape(item) for item in arrays]} do not broadcast.") from None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op.arity == 1:
            values = op.function(np.asarray(arrays[0], dtype=np.float32))
            unit = "scalar"
        else:
            values = isa._apply_binary(op, arrays[0], arrays[1])
            unit = "vector"
    result = ndarray(shape, _result_type(list(args), dtype), sbuf)
    isa.write(result, values)
    isa._issue(core, unit, op.name, tensors, [result],
               costs.elementwise_cycles(core.params, result.free_size))
    return result


@flushing
def reduce(reduction: ops.Reduction, x: Tensor, axis: object, dtype: object = None,
           keepdims: bool = False, **kwargs: object) -> Tensor:
    """``nl.sum``, ``nl.max``, ``nl.min``, ``nl.prod``, ``nl.mean`` over free axes."""
    _no_mask(kwargs)
    _on_chip(x, reduction.name)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(item % x.ndim for item in axes)
    if 0 in axes:
        raise KernelError("reduce-axis", f"nl.{reduction.name}: the partition axis 0 cannot be "
                          "reduced on the Vector engine; transpose first.")
    core = active()
    values = reduction.operator.reducer(x.array.astype(np.float32), axis=axes,
                                        keepdims=True)
    if reduction.average:
        values = values / np.prod([x.shape[item] for item in axes])
    if not keepdims:
        kept = tuple(size for index, size in enumerate(values.shape) if index not in axes)
        values = values.reshape(kept if len(kept) >= 2 else (x.shape[0], 1))
    result = ndarray(values.shape, dtype or (float32 if x.kind == "psum" else x.dtype), sbuf)
    isa.write(result, values)
    isa._issue(core, "vector", f"{reduction.name}", [x], [result],
               costs.elementwise_cycles(core.params, x.free_size))
    return result


@flushing
def accumulate_into(dst: Tensor, other: object) -> None:
    """``dst += other``: PSUM accumulation of a matmul result, or an addition."""
    core = active()
    if isinstance(other, Tensor) and dst.kind == "psum" and other.kind == "psum":
        isa.write(dst, dst.array.astype(np.float32) + other.array.reshape(dst.shape))
        isa._issue(core, "tensor", "psum_accumulate", [other], [dst], 0.0)
        return
    if isinstance(other, Tensor):
        isa.tensor_tensor(dst=dst, data1=dst, data2=other, op=ops.BINARY["add"])
    else:
        isa.tensor_scalar(dst=dst, data=dst, op0=ops.BINARY["add"], operand0=other)


def assign(dst: Tensor, value: object) -> None:
    """``tile[...] = value``: a copy (or memset for a number) into part of a tile."""
    if isinstance(value, Tensor):
        if dst.on_chip and value.on_chip:
            isa.tensor_copy(dst=dst, src=value)
        else:
            isa.dma_copy(dst=dst, src=value)
    elif dst.on_chip:
        isa.memset(dst=dst, value=value)
    else:
        dst.array[...] = value


def _no_mask(kwargs: dict) -> None:
    if kwargs.get("mask") is not None:
        raise KernelError("mask", "masks are not emulated; slice the tile to the valid region "
                          "instead.")


__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "np", "costs", "isa", "ops", "active", "flushing", "KernelError", "Tensor")]
