"""Hardware rules shared by the ISA instructions, each raising an NKI-style KernelError."""

from __future__ import annotations

from . import dtypes
from .errors import KernelError
from .tensor import Tensor

#: Tile-size limits of the Tensor engine and PSUM (``nl.tile_size``).
PMAX = 128
GEMM_STATIONARY_FMAX = 128
GEMM_MOVING_FMAX = 512
PSUM_FMAX = 512


def tensor(value: object, instruction: str, role: str) -> Tensor:
    """``value`` if it is a tensor, else an error naming the argument."""
    if not isinstance(value, Tensor):
        raise KernelError("argument", f"{instruction}: {role} must be a tensor, got "
                          f"{type(value).__name__}.")
    return value


def on_chip(value: Tensor, instruction: str, role: str, allowed: tuple[str, ...] = (
        "sbuf", "psum")) -> Tensor:
    """Refuse tensors outside the memories an engine can reach."""
    if value.kind not in allowed:
        where = " or ".join(name.upper() for name in allowed)
        hint = " Load it with nisa.dma_copy first." if value.kind in ("hbm", "remote") else ""
        raise KernelError("memory-placement", f"{instruction}: {role} is in "
                          f"{value.buffer.name.upper()} but must be in {where}.{hint}")
    if value.partitions > PMAX:
        raise KernelError("partition-dimension", f"{instruction}: {role} has partition "
                          f"dimension {value.partitions}, above the maximum of {PMAX} "
                          "(nl.tile_size.pmax).")
    return value


def same_layout(first: Tensor, second: Tensor, instruction: str, first_role: str,
                second_role: str) -> None:
    """Same partition count and the same number of elements per partition."""
    if first.partitions != second.partitions or first.free_size != second.free_size:
        raise KernelError("shape-mismatch", f"{instruction}: {first_role} {first.shape} and "
                          f"{second_role} {second.shape} need the same partition count and "
                          "the same number of elements per partition.")


def matmul_operands(stationary: Tensor, moving: Tensor, instruction: str = "nc_matmul") -> None:
    """The Tensor engine's operand rules (SBUF only, contraction on partitions, limits)."""
    for role, value in (("stationary", stationary), ("moving", moving)):
        if value.kind == "psum":
            raise KernelError("psum-matmul-operand",
                              f"{instruction}: the {role} operand is read from PSUM, but the "
                              "Tensor engine reads operands only from SBUF; copy it to SBUF "
                              "with nisa.tensor_copy first.")
        on_chip(value, instruction, role, ("sbuf",))
        if value.dtype not in dtypes.MATMUL_TYPES:
            raise KernelError("unsupported-dtype", f"{instruction}: {role} has type "
                              f"{value.dtype}, which the Tensor engine does not multiply; use "
                              "bfloat16, float16, tfloat32, float32 or an fp8 type.")
    if stationary.partitions != moving.partitions:
        raise KernelError("matmul-contraction", f"{instruction}: stationary {stationary.shape} "
                          f"and moving {moving.shape} must have the same partition (contraction) "
                          "dimension.")
    if stationary.free_size > GEMM_STATIONARY_FMAX:
        raise KernelError("matmul-free-size", f"{instruction}: stationary free size "
                          f"{stationary.free_size} exceeds the maximum of {GEMM_STATIONARY_FMAX} "
                          "(nl.tile_size.gemm_stationary_fmax).")
    if moving.free_size > GEMM_MOVING_FMAX:
        raise KernelError("matmul-free-size", f"{instruction}: moving free size "
                          f"{moving.free_size} exceeds the maximum of {GEMM_MOVING_FMAX} "
                          "(nl.tile_size.gemm_moving_fmax).")


def psum_bank(value: Tensor, bank_bytes: int, instruction: str) -> None:
    """A matmul result must fit one PSUM bank per partition."""
    per_partition = value.free_size * value.dtype.itemsize
    if per_partition > bank_bytes:
        raise KernelError("psum-bank", f"{instruction}: the result needs {per_partition} bytes "
                          f"per partition but a PSUM bank holds {bank_bytes} "
                          f"({PSUM_FMAX} float32, nl.tile_size.psum_fmax); split the moving "
                          "free dimension.")
