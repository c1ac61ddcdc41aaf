"""Element types of NeuronCore tensors and how the emulator stores them.

Every floating-point type is held in a float32 numpy array whose values are already rounded to
the type (round to nearest, ties to even), so arithmetic can run on float32 and only the writes
round. Integer types are held in their own numpy type. Rounding to bfloat16 works on the float32
bit pattern with integer operations, which keeps it to a few cheap passes over the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_HALF_MASK = np.uint32(0xFFFF0000)


def round_bfloat16(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Round float32 ``values`` to bfloat16 precision, returned as float32.

    Parameters
    ----------
    values : numpy.ndarray
        Any floating array; it is converted to float32 first.
    out : numpy.ndarray, optional
        A float32 array of the same shape to write into (may be ``values`` itself).
    """
    source = np.asarray(values, dtype=np.float32)
    bits = source.view(np.uint32)
    rounded = bits >> np.uint32(16)
    rounded &= np.uint32(1)
    rounded += np.uint32(0x7FFF)
    rounded += bits
    rounded &= _HALF_MASK
    result = rounded.view(np.float32)
    if source.size and np.isnan(np.max(source)):  # a NaN payload may carry into the sign
        result[np.isnan(source)] = np.nan
    if out is None:
        return result
    np.copyto(out, result)
    return out


def round_tfloat32(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Round to tfloat32 (10 mantissa bits), returned as float32."""
    source = np.asarray(values, dtype=np.float32)
    bits = source.view(np.uint32)
    lowest_kept = (bits >> np.uint32(13)) & np.uint32(1)
    rounded = (bits + np.uint32(0x0FFF) + lowest_kept) & np.uint32(0xFFFFE000)
    result = np.where(np.isnan(source), source, rounded.view(np.float32))
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _round_minifloat(mantissa_bits: int, exponent_min: int, largest: float,
                     saturate: bool) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    """A rounding function for a small float format with the given mantissa and range."""

    def round_values(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        source = np.asarray(values, dtype=np.float32)
        _, exponent = np.frexp(source)
        exponent = np.maximum(exponent - 1, exponent_min)  # subnormals share the smallest step
        step = np.ldexp(np.float32(1.0), exponent - mantissa_bits).astype(np.float32)
        result = (np.round(source / step) * step).astype(np.float32)
        overflow = np.abs(result) > largest
        if saturate:
            result = np.where(overflow, np.sign(result) * np.float32(largest), result)
        else:
            result = np.where(overflow, np.sign(result) * np.float32(np.inf), result)
        result = np.where(np.isnan(source), source, result).astype(np.float32)
        if out is None:
            return result
        np.copyto(out, result)
        return out

    return round_values


def _round_float16(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    result = np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _keep_float32(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    result = np.asarray(values, dtype=np.float32)
    if out is None:
        return result
    np.copyto(out, result)
    return out


@dataclass(frozen=True, eq=False)
class DType:
    """One NKI element type.

    Attributes
    ----------
    name : str
        The NKI name (``"bfloat16"``).
    itemsize : int
        Bytes per element on the device.
    storage : numpy.dtype
        The numpy type of the emulator's arrays for this type.
    is_float : bool
        Floating point (stored as rounded float32) or integer.
    """

    name: str
    itemsize: int
    storage: np.dtype
    is_float: bool
    rounder: Callable[..., np.ndarray] | None = None

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    def convert(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``values`` as this type's storage: rounded floats, or saturated, rounded integers."""
        if self.is_float:
            return self.rounder(values, out)  # type: ignore[misc]
        source = np.asarray(values)
        if source.dtype.kind == "f":
            limits = np.iinfo(self.storage)
            source = np.clip(np.rint(source), limits.min, limits.max)
        result = source.astype(self.storage, copy=False)
        if out is None:
            return result
        np.copyto(out, result, casting="unsafe")
        return out


float32 = DType("float32", 4, np.dtype(np.float32), True, _keep_float32)
tfloat32 = DType("tfloat32", 4, np.dtype(np.float32), True, round_tfloat32)
bfloat16 = DType("bfloat16", 2, np.dtype(np.float32), True, round_bfloat16)
float16 = DType("float16", 2, np.dtype(np.float32), True, _round_float16)
# OCP FP8: E4M3 without infinities (largest 448) and E5M2 with them (largest 57344).
float8_e4m3 = DType("float8_e4m3", 1, np.dtype(np.float32), True,
                    _round_minifloat(3, -6, 448.0, saturate=True))
float8_e5m2 = DType("float8_e5m2", 1, np.dtype(np.float32), True,
                    _round_minifloat(2, -14, 57344.0, saturate=False))
int8 = DType("int8", 1, np.dtype(np.int8), False)
int16 = DType("int16", 2, np.dtype(np.int16), False)
int32 = DType("int32", 4, np.dtype(np.int32), False)
uint8 = DType("uint8", 1, np.dtype(np.uint8), False)
uint16 = DType("uint16", 2, np.dtype(np.uint16), False)
uint32 = DType("uint32", 4, np.dtype(np.uint32), False)
bool_ = DType("bool_", 1, np.dtype(np.uint8), False)

ALL: dict[str, DType] = {item.name: item for item in (
    float32, tfloat32, bfloat16, float16, float8_e4m3, float8_e5m2,
    int8, int16, int32, uint8, uint16, uint32, bool_)}
ALL["float8_e4m3fn"] = float8_e4m3

#: Types the Tensor engine multiplies.
MATMUL_TYPES = frozenset({float32, tfloat32, bfloat16, float16, float8_e4m3, float8_e5m2})

_FROM_NUMPY = {np.dtype(np.float32): float32, np.dtype(np.float16): float16,
               np.dtype(np.int8): int8, np.dtype(np.int16): int16, np.dtype(np.int32): int32,
               np.dtype(np.uint8): uint8, np.dtype(np.uint16): uint16,
               np.dtype(np.uint32): uint32, np.dtype(np.bool_): bool_}


def lookup(value: object) -> DType | None:
    """The :class:`DType` for an NKI type, a name, or a numpy type; ``None`` if unsupported."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        return ALL.get(value)
    try:
        return _FROM_NUMPY.get(np.dtype(value))  # type: ignore[arg-type]
    except TypeError:
        return None


def supported_names() -> str:
    """The type names a user may give, for error messages."""
    return ", ".join(sorted(ALL))
