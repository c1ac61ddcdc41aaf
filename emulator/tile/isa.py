"""``nki.isa``: one function per NeuronCore instruction, run numerically and timed.

The current NKI form passes the destination first (``nisa.nc_matmul(dst, stationary,
moving)``, ``nisa.tensor_tensor(dst=..., data1=..., data2=..., op=...)``). The earlier form,
still found in many kernels, returns a new tile instead (``res = nisa.nc_matmul(a, b)``);
both are accepted, told apart by their arguments.
"""

from __future__ import annotations

import enum

import numpy as np

from . import checks, costs, dtypes
from . import operators as ops
from .core import NeuronCore, active, flushing
from .errors import KernelError, kernel_line
from .memory import psum, sbuf
from .tensor import Tensor


class engine(enum.Enum):  # noqa: N801 - the NKI name
    """Engines an instruction may be assigned to."""

    unknown = "unknown"
    tensor = "tensor"
    vector = "vector"
    scalar = "scalar"
    gpsimd = "gpsimd"
    sync = "sync"


class reduce_cmd(enum.Enum):  # noqa: N801
    """What the Scalar engine's reduction registers do during an activation."""

    idle = "idle"
    reset = "reset"
    reduce = "reduce"
    reset_reduce = "reset_reduce"


class dge_mode(enum.Enum):  # noqa: N801
    unknown = "unknown"
    none = "none"
    swdge = "swdge"
    hwdge = "hwdge"


class oob_mode(enum.Enum):  # noqa: N801
    error = "error"
    skip = "skip"


class matmul_perf_mode(enum.Enum):  # noqa: N801
    none = "none"
    double_row = "double_row"


class nc_version(enum.Enum):  # noqa: N801
    gen2 = 2
    gen3 = 3
    gen4 = 4


_VERSIONS = {"trn2": nc_version.gen3, "trn3": nc_version.gen4, "trn4": nc_version.gen4}

# Short engine names some kernels use.
tensor_engine, vector_engine = engine.tensor, engine.vector
scalar_engine, gpsimd_engine, unknown_engine = engine.scalar, engine.gpsimd, engine.unknown


def get_nc_version() -> nc_version:
    """NeuronCore version of the generation being emulated."""
    return _VERSIONS.get(active().params.generation, nc_version.gen4)


# -- shared plumbing ----------------------------------------------------------------------

def _regions(*tensors: object) -> list:
    return [(item.allocation.log, item.box) for item in tensors if isinstance(item, Tensor)]


def _issue(core: NeuronCore, unit: str, name: str, reads: list, writes: list, cycles: float,
           flops: float = 0.0) -> None:
    params = core.params
    core.scheduler.issue(unit, name, _regions(*reads), _regions(*writes),
                         costs.seconds(params, unit, cycles),
                         costs.visibility_seconds(params, unit), kernel_line(), flops)


def write(dst: Tensor, values: np.ndarray) -> None:
    """Store ``values`` (any float or int array of dst's size) into dst, rounding to its type."""
    values = np.asarray(values)
    if values.shape != dst.shape:
        if values.size != dst.size:
            values = np.broadcast_to(values, dst.shape)
        else:
            values = values.reshape(dst.shape)
    dst.dtype.convert(values, out=dst.array)


def _flat(value: Tensor) -> np.ndarray:
    """(partitions, elements per partition) float32 or int view of a tile's values."""
    return value.array.reshape(value.partitions, value.free_size)


def _new_tile(core: NeuronCore, shape: tuple[int, ...], dtype: object, buffer=sbuf) -> Tensor:
    return core.allocate(shape, dtype, buffer)


def _pick_engine(requested: object, default: str, allowed: tuple[str, ...],
                 instruction: str) -> str:
    name = requested.value if isinstance(requested, engine) else (requested or "unknown")
    if name in ("unknown", None):
        return default
    if name not in allowed:
        raise KernelError("engine", f"{instruction} cannot run on the {name} engine; use one of "
                          f"{', '.join(allowed)}.")
    return name


def _check_engine_access(unit: str, instruction: str, *tensors: object) -> None:
    if unit == "gpsimd" and any(isinstance(item, Tensor) and item.kind == "psum"
                                for item in tensors):
        raise KernelError("memory-placement", f"{instruction} on the GpSimd engine cannot "
                          "access PSUM; use the Vector or Scalar engine.")


def _operand(value: object, data: Tensor, instruction: str, role: str) -> np.ndarray | float:
    """A scalar, or a (partitions, 1) tile broadcast along the free dimension."""
    if isinstance(value, Tensor):
        checks.on_chip(value, instruction, role)
        if value.partitions != data.partitions or value.free_size != 1:
            raise KernelError("shape-mismatch", f"{instruction}: {role} {value.shape} must be "
                              f"a scalar or a ({data.partitions}, 1) tile.")
        return value.array.reshape(data.partitions, 1).astype(np.float32)
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    raise KernelError("argument", f"{instruction}: {role} must be a number or a tile, got "
                      f"{type(value).__name__}.")


def _operator(op: object, instruction: str, arity: int | None = None) -> ops.Operator:
    found = ops.lookup(op)
    if found is None or (arity is not None and found.arity != arity):
        kind = {1: "an activation function", 2: "a binary operator"}.get(arity or 0,
                                                                          "an operator")
        raise KernelError("operator", f"{instruction}: {op!r} is not {kind} the emulator knows.")
    return found


# -- Tensor engine ------------------------------------------------------------------------

def nc_matmul(*args: object, **kwargs: object) -> Tensor | None:
    """``dst = stationary.T @ moving`` on the Tensor engine, accumulating in PSUM.

    Current form: ``nc_matmul(dst, stationary, moving, ..., accumulate=None)``. With
    ``accumulate`` None or True the product is added to ``dst`` (PSUM tiles start at zero);
    False overwrites. Earlier form: ``nc_matmul(stationary, moving)`` returns a new float32
    PSUM tile.
    """
    names = ("dst", "stationary", "moving")
    tensors_given = [item for item in args if isinstance(item, Tensor)]
    legacy = "dst" not in kwargs and len(tensors_given) + sum(
        1 for key in ("stationary", "moving") if key in kwargs) == 2
    if legacy:
        names = ("stationary", "moving")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    stationary = checks.tensor(bound.get("stationary"), "nc_matmul", "stationary")
    moving = checks.tensor(bound.get("moving"), "nc_matmul", "moving")
    checks.matmul_operands(stationary, moving)
    rows, columns = stationary.free_size, moving.free_size
    if legacy:
        dst = _new_tile(core, (rows, columns), dtypes.float32, psum)
        accumulate = False
    else:
        dst = checks.tensor(bound.get("dst"), "nc_matmul", "dst")
        accumulate = bound.get("accumulate", None) is not False
    if dst.kind != "psum":
        raise KernelError("matmul-destination", f"nc_matmul writes its result to PSUM, but dst "
                          f"is in {dst.buffer.name.upper()}.")
    checks.psum_bank(dst, core.params.psum_bank_bytes_per_partition, "nc_matmul")
    if dst.partitions != rows or dst.free_size != columns:
        raise KernelError("shape-mismatch", f"nc_matmul: dst {dst.shape} must be ({rows}, "
                          f"{columns}) for stationary {stationary.shape} and moving "
                          f"{moving.shape}.")
    contraction = stationary.partitions
    core.defer_matmul(dst, _flat(stationary), _flat(moving), accumulate)
    wide = dtypes.float32 if dtypes.float32 in (stationary.dtype, moving.dtype) else moving.dtype
    cycles = costs.matmul_cycles(core.params, columns, wide)
    _issue(core, "tensor", "nc_matmul", [stationary, moving], [dst], cycles,
           flops=2.0 * contraction * rows * columns)
    return dst if legacy else None


@flushing
def nc_transpose(*args: object, **kwargs: object) -> Tensor | None:
    """Swap the partition and free dimensions of a tile (Tensor engine: SBUF to PSUM, up to
    128 x 128; Vector engine: up to 32 x 32)."""
    legacy = "dst" not in kwargs and not (len(args) >= 2 and isinstance(args[1], Tensor))
    names = ("data", "engine") if legacy else ("dst", "data", "engine")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    data = checks.tensor(bound.get("data"), "nc_transpose", "data")
    checks.on_chip(data, "nc_transpose", "data")
    small = data.partitions <= 32 and data.free_size <= 32
    unit = _pick_engine(bound.get("engine"), "vector" if small and data.kind == "psum"
                        else "tensor", ("tensor", "vector"), "nc_transpose")
    if unit == "tensor":
        if data.kind != "sbuf":
            raise KernelError("psum-matmul-operand", "nc_transpose on the Tensor engine reads "
                              "its input from SBUF, but data is in PSUM.")
        if data.free_size > checks.PMAX:
            raise KernelError("matmul-free-size", f"nc_transpose: data free size "
                              f"{data.free_size} exceeds {checks.PMAX} on the Tensor engine.")
    elif not small:
        raise KernelError("transpose-size", f"nc_transpose on the Vector engine handles up to "
                          f"32 x 32, got {data.shape}; use the Tensor engine.")
    out_shape = (data.free_size, data.partitions)
    if legacy:
        dst = _new_tile(core, out_shape, data.dtype, psum if unit == "tensor" else sbuf)
    else:
        dst = checks.tensor(bound.get("dst"), "nc_transpose", "dst")
    if unit == "tensor" and dst.kind != "psum":
        raise KernelError("matmul-destination", "nc_transpose on the Tensor engine writes to "
                          f"PSUM, but dst is in {dst.buffer.name.upper()}.")
    if dst.partitions != out_shape[0] or dst.free_size != out_shape[1]:
        raise KernelError("shape-mismatch", f"nc_transpose: dst {dst.shape} must be "
                          f"{out_shape} for data {data.shape}.")
    write(dst, _flat(data).T)
    if unit == "tensor":
        cycles = costs.transpose_cycles(core.params, data.partitions, data.dtype)
    else:
        cycles = costs.elementwise_cycles(core.params, data.free_size)
    _issue(core, unit, "nc_transpose", [data], [dst], cycles)
    return dst if legacy else None


# -- Vector, Scalar and GpSimd engines ----------------------------------------------------

@flushing
def tensor_tensor(*args: object, **kwargs: object) -> Tensor | None:
    """Element-wise ``dst = data1 <op> data2`` on the Vector (or GpSimd) engine."""
    legacy = "dst" not in kwargs and not (len(args) >= 3 and isinstance(args[2], Tensor))
    names = ("data1", "data2", "op") if legacy else ("dst", "data1", "data2", "op")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    first = checks.on_chip(checks.tensor(bound.get("data1"), "tensor_tensor", "data1"),
                           "tensor_tensor", "data1")
    second = checks.on_chip(checks.tensor(bound.get("data2"), "tensor_tensor", "data2"),
                            "tensor_tensor", "data2")
    op = _operator(bound.get("op"), "tensor_tensor", 2)
    checks.same_layout(first, second, "tensor_tensor", "data1", "data2")
    if first.kind == "psum" and second.kind == "psum":
        raise KernelError("memory-placement", "tensor_tensor: data1 and data2 cannot both be "
                          "in PSUM; copy one to SBUF first.")
    unit = _pick_engine(bound.get("engine"), "gpsimd" if op.name == "power" else "vector",
                        ("vector", "gpsimd"), "tensor_tensor")
    if legacy:
        dst = _new_tile(core, first.shape, bound.get("dtype") or _wider(first, second))
    else:
        dst = checks.tensor(bound.get("dst"), "tensor_tensor", "dst")
    checks.on_chip(dst, "tensor_tensor", "dst")
    checks.same_layout(first, dst, "tensor_tensor", "data1", "dst")
    _check_engine_access(unit, "tensor_tensor", first, second, dst)
    write(dst, _apply_binary(op, _flat(first), _flat(second)))
    _issue(core, unit, "tensor_tensor", [first, second], [dst],
           costs.elementwise_cycles(core.params, first.free_size))
    return dst if legacy else None


def _apply_binary(op: ops.Operator, first: np.ndarray, second: np.ndarray | float) -> np.ndarray:
    if op.bitwise:
        return op.function(np.asarray(first).astype(np.int64),
                           np.asarray(second).astype(np.int64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return op.function(np.asarray(first, dtype=np.float32),
                           np.asarray(second, dtype=np.float32))


def _wider(*tensors: Tensor) -> dtypes.DType:
    kinds = [item.dtype for item in tensors if isinstance(item, Tensor)]
    floats = [kind for kind in kinds if kind.is_float]
    if any(item.kind == "psum" for item in tensors if isinstance(item, Tensor)):
        return dtypes.float32
    if floats:
        return max(floats, key=lambda kind: kind.itemsize)
    return kinds[0]


@flushing
def tensor_scalar(*args: object, **kwargs: object) -> Tensor | None:
    """``dst = (data <op0> operand0) <op1> operand1`` with scalar or per-partition operands."""
    legacy = "dst" not in kwargs and not (len(args) >= 2 and isinstance(args[1], Tensor))
    names = ("data", "op0", "operand0", "reverse0", "op1", "operand1", "reverse1")
    if not legacy:
        names = ("dst", *names)
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    data = checks.on_chip(checks.tensor(bound.get("data"), "tensor_scalar", "data"),
                          "tensor_scalar", "data")
    unit = _pick_engine(bound.get("engine"), "vector", ("vector", "scalar", "gpsimd"),
                        "tensor_scalar")
    values = _flat(data)
    for index in (0, 1):
        op_value = bound.get(f"op{index}")
        if op_value is None:
            continue
        op = _operator(op_value, "tensor_scalar", 2)
        operand = _operand(bound.get(f"operand{index}"), data, "tensor_scalar",
                           f"operand{index}")
        if bound.get(f"reverse{index}"):
            values = _apply_binary(op, np.broadcast_to(operand, values.shape), values)
        else:
            values = _apply_binary(op, values, operand)
    if legacy:
        dst = _new_tile(core, data.shape, bound.get("dtype") or _wider(data))
    else:
        dst = checks.tensor(bound.get("dst"), "tensor_scalar", "dst")
    checks.on_chip(dst, "tensor_scalar", "dst")
    checks.same_layout(data, dst, "tensor_scalar", "data", "dst")
    _check_engine_access(unit, "tensor_scalar", data, dst)
    write(dst, values)
    reads = [data] + [bound.get(f"operand{index}") for index in (0, 1)]
    _issue(core, unit, "tensor_scalar", reads, [dst],
           costs.elementwise_cycles(core.params, data.free_size))
    return dst if legacy else None


@flushing
def activation(*args: object, **kwargs: object) -> Tensor | None:
    """``dst = op(data * scale + bias)`` on the Scalar engine, optionally summing each
    partition of the result into ``reduce_res``."""
    legacy = "dst" not in kwargs and not (args and isinstance(args[0], Tensor))
    names = ("op", "data", "bias", "scale") if legacy else ("dst", "op", "data", "bias",
                                                            "scale")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    op = _operator(bound.get("op"), "activation", 1)
    data = checks.on_chip(checks.tensor(bound.get("data"), "activation", "data"),
                          "activation", "data")
    values = _flat(data).astype(np.float32, copy=False)
    scale = bound.get("scale", 1.0)
    bias = bound.get("bias")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not (isinstance(scale, (int, float)) and scale == 1.0):
            values = values * _operand(scale, data, "activation", "scale")
        if bias is not None:
            values = values + _operand(bias, data, "activation", "bias")
        result = op.function(values).astype(np.float32)
    if legacy:
        dst = _new_tile(core, data.shape, bound.get("dtype") or _wider(data))
    else:
        dst = checks.tensor(bound.get("dst"), "activation", "dst")
    checks.on_chip(dst, "activation", "dst")
    checks.same_layout(data, dst, "activation", "data", "dst")
    write(dst, result)
    reduce_res = bound.get("reduce_res")
    command = bound.get("reduce_cmd", reduce_cmd.idle)
    if reduce_res is not None and command is reduce_cmd.idle:
        command = reduce_cmd.reset_reduce
    registers = core.reduce_registers[:data.partitions]
    if command in (reduce_cmd.reset, reduce_cmd.reset_reduce):
        registers[:] = 0.0
    if command in (reduce_cmd.reduce, reduce_cmd.reset_reduce):
        reducer = bound.get("reduce_op")
        if reducer is not None and _operator(reducer, "activation").name != "add":
            raise KernelError("operator", "activation: the Scalar engine reduces only with "
                              "nl.add; reduce with nisa.tensor_reduce instead.")
        registers += dst.dtype.convert(result).sum(axis=1, dtype=np.float32)
    reads = [data, scale, bias]
    writes = [dst]
    if reduce_res is not None:
        reduce_res = checks.on_chip(checks.tensor(reduce_res, "activation", "reduce_res"),
                                    "activation", "reduce_res")
        write(reduce_res, registers.reshape(data.partitions, 1))
        writes.append(reduce_res)
    cycles = costs.elementwise_cycles(core.params, data.free_size,
                                      reduces=reduce_res is not None)
    _issue(core, "scalar", "activation", reads, writes, cycles)
    return dst if legacy else None


@flushing
def activation_reduce(*args: object, **kwargs: object) -> Tensor | None:
    """:func:`activation` with its reduction reset first (``reduce_cmd.reset_reduce``)."""
    kwargs["reduce_cmd"] = reduce_cmd.reset_reduce
    return activation(*args, **kwargs)


@flushing
def tensor_reduce(*args: object, **kwargs: object) -> Tensor | None:
    """Reduce free axes of a tile with ``op`` on the Vector engine."""
    legacy = "dst" not in kwargs and not (args and isinstance(args[0], Tensor))
    names = ("op", "data", "axis") if legacy else ("dst", "op", "data", "axis")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    op = _operator(bound.get("op"), "tensor_reduce", 2)
    if op.reducer is None:
        raise KernelError("operator", f"tensor_reduce cannot reduce with {op!r}.")
    data = checks.on_chip(checks.tensor(bound.get("data"), "tensor_reduce", "data"),
                          "tensor_reduce", "data")
    axis = bound.get("axis")
    axes = (axis,) if isinstance(axis, int) else tuple(axis or ())
    axes = tuple(item % data.ndim for item in axes)
    if not axes or 0 in axes:
        raise KernelError("reduce-axis", f"tensor_reduce: axis {axis} must name free axes "
                          "(1 and up); the partition axis 0 cannot be reduced here.")
    keepdims = bool(bound.get("keepdims", False))
    values = data.array if op.bitwise else data.array.astype(np.float32, copy=False)
    result = op.reducer(values, axis=axes, keepdims=keepdims)
    if bound.get("negate"):
        result = -result
    if legacy:
        shape = result.shape if result.ndim >= 2 else (data.partitions, 1)
        dst = _new_tile(core, shape, bound.get("dtype") or data.dtype)
    else:
        dst = checks.tensor(bound.get("dst"), "tensor_reduce", "dst")
    checks.on_chip(dst, "tensor_reduce", "dst")
    if dst.size != result.size:
        raise KernelError("shape-mismatch", f"tensor_reduce: dst {dst.shape} cannot hold the "
                          f"reduction of {data.shape} over axes {axes}.")
    write(dst, result)
    _issue(core, "vector", "tensor_reduce", [data], [dst],
           costs.elementwise_cycles(core.params, data.free_size))
    return dst if legacy else None


@flushing
def tensor_copy(*args: object, **kwargs: object) -> Tensor | None:
    """Copy a tile within SBUF/PSUM, converting to dst's type."""
    legacy = "dst" not in kwargs and not (len(args) >= 2 and isinstance(args[1], Tensor))
    names = ("src", "dtype") if legacy else ("dst", "src", "engine")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    src = checks.on_chip(checks.tensor(bound.get("src"), "tensor_copy", "src"),
                         "tensor_copy", "src")
    unit = _pick_engine(bound.get("engine"), "vector", ("vector", "scalar", "gpsimd"),
                        "tensor_copy")
    if legacy:
        dst = _new_tile(core, src.shape, bound.get("dtype") or src.dtype)
    else:
        dst = checks.tensor(bound.get("dst"), "tensor_copy", "dst")
    checks.on_chip(dst, "tensor_copy", "dst")
    checks.same_layout(src, dst, "tensor_copy", "src", "dst")
    _check_engine_access(unit, "tensor_copy", src, dst)
    if src.dtype is dst.dtype:
        np.copyto(dst.array, src.array.reshape(dst.shape))
    else:
        write(dst, _flat(src))
    _issue(core, unit, "tensor_copy", [src], [dst],
           costs.elementwise_cycles(core.params, src.free_size))
    return dst if legacy else None


@flushing
def memset(*args: object, **kwargs: object) -> Tensor | None:
    """Fill a tile with a constant (Vector engine by default)."""
    legacy = "dst" not in kwargs and not (args and isinstance(args[0], Tensor))
    names = ("shape", "value", "dtype") if legacy else ("dst", "value", "engine")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    if legacy:
        dst = _new_tile(core, tuple(bound["shape"]), bound.get("dtype") or dtypes.float32)
    else:
        dst = checks.tensor(bound.get("dst"), "memset", "dst")
    checks.on_chip(dst, "memset", "dst")
    unit = _pick_engine(bound.get("engine"), "vector", ("vector", "gpsimd"), "memset")
    _check_engine_access(unit, "memset", dst)
    write(dst, np.full(dst.shape, bound.get("value", 0), dtype=np.float64))
    _issue(core, unit, "memset", [], [dst], costs.elementwise_cycles(core.params,
                                                                     dst.free_size))
    return dst if legacy else None


@flushing
def iota(*args: object, **kwargs: object) -> Tensor | None:
    """Write integer index values given by an ``nl.arange`` expression, on GpSimd.

    ``iota(expr, dtype)`` returns a new SBUF tile; ``iota(dst, expr)`` writes into dst.
    """
    legacy = "dst" not in kwargs and not (args and isinstance(args[0], Tensor))
    names = ("expr", "dtype") if legacy else ("dst", "expr")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    core = active()
    expr = np.asarray(bound.get("expr"))
    if expr.dtype.kind not in "iu":
        raise KernelError("argument", "iota: expr must be an integer expression of nl.arange.")
    values = expr if expr.ndim >= 2 else expr.reshape(1, -1)
    if legacy:
        dst = _new_tile(core, values.shape, bound.get("dtype") or dtypes.int32)
    else:
        dst = checks.tensor(bound.get("dst"), "iota", "dst")
    checks.on_chip(dst, "iota", "dst", ("sbuf",))
    write(dst, np.broadcast_to(values, dst.shape).astype(np.int64))
    _issue(core, "gpsimd", "iota", [], [dst], costs.iota_cycles(core.params, dst.free_size))
    return dst if legacy else None


# -- DMA ----------------------------------------------------------------------------------

@flushing
def dma_copy(*args: object, **kwargs: object) -> None:
    """Copy ``src`` to ``dst`` (HBM or SBUF, either side) on a DMA queue; with
    ``dst_rmw_op=nl.add`` the source is added to the destination."""
    bound = dict(zip(("dst", "src"), args, strict=False))
    bound.update(kwargs)
    core = active()
    dst = checks.tensor(bound.get("dst"), "dma_copy", "dst")
    src = checks.tensor(bound.get("src"), "dma_copy", "src")
    for role, value in (("dst", dst), ("src", src)):
        if value.kind == "psum":
            raise KernelError("memory-placement", f"dma_copy: {role} is in PSUM, which DMA "
                              "engines do not reach; move it through SBUF with "
                              "nisa.tensor_copy.")
        if value.kind == "sbuf":
            checks.on_chip(value, "dma_copy", role, ("sbuf",))
    if dst.size != src.size:
        raise KernelError("shape-mismatch", f"dma_copy: dst {dst.shape} and src {src.shape} "
                          "hold different numbers of elements.")
    from . import transfers
    transfers.dma(core, dst, src, bound.get("dst_rmw_op"))
