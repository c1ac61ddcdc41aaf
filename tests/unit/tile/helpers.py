"""Shared helpers of the tile emulator tests."""

import numpy as np

from emulator.tile import dtypes, run_kernel
from hdl.params import TILE_GENERATIONS

#: Largest error allowed, relative to the largest magnitude of the reference.
TOLERANCE = {"float32": 1e-5, "bfloat16": 1.6e-2, "float16": 2e-3, "float8_e4m3": 0.13}

PARAMS = TILE_GENERATIONS["trn3"]


def rounded(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random normal values already rounded to ``dtype`` (float32 storage)."""
    return dtypes.lookup(dtype).convert(rng.standard_normal(shape).astype(np.float32))


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1e-30, float(np.max(np.abs(expected))))
    error = float(np.max(np.abs(actual.astype(np.float64) - expected))) / scale
    assert error <= TOLERANCE[dtype], f"relative error {error:.3g} above {TOLERANCE[dtype]}"


def run(kernel, arrays, dtype, params=PARAMS, **options):
    return run_kernel(kernel, arrays, params=params, input_dtypes=[dtype] * len(arrays),
                      **options)
