"""Kernels match numpy within the tolerance of their data type."""

import numpy as np
import pytest

from emulator.tile.examples.matmul import matmul_kernel
from tests.unit.tile import kernels
from tests.unit.tile.helpers import assert_close, rounded, run

SHAPES = [(128, 128, 512), (256, 384, 1024), (1024, 512, 2048)]


@pytest.mark.parametrize(("contraction", "rows", "columns"), SHAPES)
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_tiled_matmul(contraction: int, rows: int, columns: int, dtype: str) -> None:
    rng = np.random.default_rng(contraction + rows + columns)
    lhsT = rounded(rng, (contraction, rows), dtype)
    rhs = rounded(rng, (contraction, columns), dtype)
    result = run(matmul_kernel, (lhsT, rhs), dtype).outputs
    assert_close(result, lhsT.T.astype(np.float64) @ rhs, dtype)


def test_legacy_matmul_accumulates_in_psum() -> None:
    rng = np.random.default_rng(7)
    lhsT = rounded(rng, (384, 256), "bfloat16")
    rhs = rounded(rng, (384, 512), "bfloat16")
    result = run(kernels.legacy_matmul_kernel, (lhsT, rhs), "bfloat16").outputs
    assert_close(result, lhsT.T.astype(np.float64) @ rhs, "float32")


def test_fp8_matmul_inputs_are_rounded_to_fp8() -> None:
    rng = np.random.default_rng(8)
    lhsT = rng.standard_normal((128, 128)).astype(np.float32)
    rhs = rng.standard_normal((128, 512)).astype(np.float32)
    result = run(kernels.legacy_matmul_kernel, (lhsT, rhs), "float8_e4m3").outputs
    assert_close(result, lhsT.T.astype(np.float64) @ rhs, "float8_e4m3")
    assert np.max(np.abs(result - lhsT.T @ rhs)) > 1e-3  # the rounding really happened


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_softmax(dtype: str) -> None:
    x = rounded(np.random.default_rng(1), (256, 512), dtype)
    expected = np.exp(x - x.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert_close(run(kernels.softmax_kernel, (x,), dtype).outputs, expected, dtype)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_rmsnorm(dtype: str) -> None:
    rng = np.random.default_rng(2)
    x, weight = rounded(rng, (256, 384), dtype), rounded(rng, (1, 384), dtype)
    expected = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1, keepdims=True) + 1e-6)
    assert_close(run(kernels.rmsnorm_kernel, (x, weight), dtype).outputs, expected * weight,
                 dtype)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_layernorm(dtype: str) -> None:
    rng = np.random.default_rng(3)
    x = rounded(rng, (128, 256), dtype) * 3 + 1
    gamma, beta = rounded(rng, (1, 256), dtype), rounded(rng, (1, 256), dtype)
    mean = x.mean(axis=1, keepdims=True)
    expected = (x - mean) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5) * gamma + beta
    assert_close(run(kernels.layernorm_kernel, (x, gamma, beta), dtype).outputs, expected,
                 dtype)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_transpose_is_exact(dtype: str) -> None:
    x = rounded(np.random.default_rng(4), (256, 384), dtype)
    np.testing.assert_array_equal(run(kernels.transpose_kernel, (x,), dtype).outputs, x.T)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_fused_elementwise(dtype: str) -> None:
    rng = np.random.default_rng(5)
    a, b = rounded(rng, (128, 512), dtype), rounded(rng, (128, 512), dtype)
    bias = rounded(rng, (128, 1), dtype)
    z = a.astype(np.float64) * b + bias
    expected = z / (1 + np.exp(-z)) * 0.5 + 1.0
    assert_close(run(kernels.fused_kernel, (a, b, bias), dtype).outputs, expected, dtype)


def test_spmd_grid_runs_every_program() -> None:
    x = rounded(np.random.default_rng(6), (512, 256), "float32")
    result = run(kernels.spmd_scale_kernel, (x,), "float32", grid=(2, 2)).outputs
    factors = np.repeat(np.arange(1, 5, dtype=np.float32), 128)[:, None]
    np.testing.assert_allclose(result, x * factors, rtol=1e-6)


def test_decorated_kernel_runs_on_numpy_inputs() -> None:
    a = np.arange(128 * 64, dtype=np.float32).reshape(128, 64)
    out = kernels.fused_kernel(a, a, np.zeros((128, 1), np.float32))
    z = a.astype(np.float64) * a
    np.testing.assert_allclose(out, z / (1 + np.exp(-z)) * 0.5 + 1, rtol=1e-5)
    assert kernels.fused_kernel.last_run is not None
