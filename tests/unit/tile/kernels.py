"""Kernels the tests run, written against the public NKI API (current and earlier styles)."""

import nki
import nki.isa as nisa
import nki.language as nl


@nki.jit
def softmax_kernel(x):
    """Row softmax of x (rows a multiple of 128), current API."""
    rows, columns = x.shape
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    for block in nl.affine_range(rows // 128):
        tile = nl.ndarray((128, columns), dtype=x.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=tile, src=x[block * 128:(block + 1) * 128, :])
        negative_max = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_reduce(dst=negative_max, op=nl.max, data=tile, axis=1, negate=True)
        exponentials = nl.ndarray((128, columns), dtype=nl.float32, buffer=nl.sbuf)
        total = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.activation(dst=exponentials, op=nl.exp, data=tile, bias=negative_max,
                        reduce_op=nl.add, reduce_res=total)
        inverse = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.activation(dst=inverse, op=nl.reciprocal, data=total)
        result = nl.ndarray((128, columns), dtype=x.dtype, buffer=nl.sbuf)
        nisa.tensor_scalar(dst=result, data=exponentials, op0=nl.multiply, operand0=inverse)
        nisa.dma_copy(dst=out[block * 128:(block + 1) * 128, :], src=result)
    return out


@nki.jit
def rmsnorm_kernel(a_tensor, g_tensor):
    """RMSNorm over rows with a (1, D) weight, legacy nl.load/nl.store style."""
    out = nl.ndarray(a_tensor.shape, dtype=a_tensor.dtype, buffer=nl.shared_hbm)
    rows, _ = a_tensor.shape
    g_tile = nl.load(g_tensor)
    for block in nl.affine_range(rows // 128):
        a_tile = nl.load(a_tensor[block * 128:(block + 1) * 128, :])
        mean_square = nl.mean(nl.square(a_tile), axis=[1], keepdims=True)
        inverse_rms = nl.rsqrt(nl.add(mean_square, 1e-6))
        normalized = nl.multiply(a_tile, inverse_rms)
        nl.store(out[block * 128:(block + 1) * 128, :], value=nl.multiply(normalized, g_tile))
    return out


@nki.jit
def layernorm_kernel(x, gamma, beta):
    """Layer norm with nl.arange indexing (legacy style)."""
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    rows, columns = x.shape
    i_p = nl.arange(128)[:, None]
    i_f = nl.arange(columns)[None, :]
    i_one = nl.arange(1)[:, None]
    scale = nl.load(gamma[i_one, i_f])
    shift = nl.load(beta[i_one, i_f])
    for block in nl.affine_range(rows // 128):
        tile = nl.load(x[block * 128 + i_p, i_f], dtype=nl.float32)
        mean = nl.mean(tile, axis=1, keepdims=True)
        centred = nl.subtract(tile, mean)
        variance = nl.mean(nl.square(centred), axis=1, keepdims=True)
        inverse = nl.rsqrt(nl.add(variance, 1e-5))
        result = nl.add(nl.multiply(nl.multiply(centred, inverse), scale), shift)
        nl.store(out[block * 128 + i_p, i_f], value=result)
    return out


@nki.jit
def transpose_kernel(x):
    """Transpose in 128 x 128 tiles on the Tensor engine."""
    rows, columns = x.shape
    out = nl.ndarray((columns, rows), dtype=x.dtype, buffer=nl.shared_hbm)
    for r in nl.affine_range(rows // 128):
        for c in nl.affine_range(columns // 128):
            tile = nl.ndarray((128, 128), dtype=x.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=tile, src=x[r * 128:(r + 1) * 128, c * 128:(c + 1) * 128])
            flipped = nl.ndarray((128, 128), dtype=x.dtype, buffer=nl.psum)
            nisa.nc_transpose(dst=flipped, data=tile)
            copied = nl.ndarray((128, 128), dtype=x.dtype, buffer=nl.sbuf)
            nisa.tensor_copy(dst=copied, src=flipped)
            nisa.dma_copy(dst=out[c * 128:(c + 1) * 128, r * 128:(r + 1) * 128], src=copied)
    return out


@nki.jit
def fused_kernel(a, b, bias):
    """silu(a * b + bias) * 0.5 + 1 with bias (P, 1) per partition."""
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    a_tile = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
    b_tile = nl.ndarray(b.shape, dtype=b.dtype, buffer=nl.sbuf)
    bias_tile = nl.ndarray(bias.shape, dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=a_tile, src=a)
    nisa.dma_copy(dst=b_tile, src=b)
    nisa.dma_copy(dst=bias_tile, src=bias)
    product = nl.ndarray(a.shape, dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_tensor(dst=product, data1=a_tile, data2=b_tile, op=nl.multiply)
    activated = nl.ndarray(a.shape, dtype=nl.float32, buffer=nl.sbuf)
    nisa.activation(dst=activated, op=nl.silu, data=product, bias=bias_tile)
    result = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
    nisa.tensor_scalar(dst=result, data=activated, op0=nl.multiply, operand0=0.5,
                       op1=nl.add, operand1=1.0)
    nisa.dma_copy(dst=out, src=result)
    return out


@nki.jit
def legacy_matmul_kernel(lhsT, rhs):
    """lhsT.T @ rhs with `psum += nisa.nc_matmul(...)` accumulation (earlier API)."""
    contraction, rows = lhsT.shape
    _, columns = rhs.shape
    result = nl.ndarray((rows, columns), dtype=nl.float32, buffer=nl.shared_hbm)
    for m in nl.affine_range(rows // 128):
        for n in nl.affine_range(columns // 512):
            accumulator = nl.zeros((128, 512), dtype=nl.float32, buffer=nl.psum)
            for k in nl.affine_range(contraction // 128):
                stationary = nl.load(lhsT[k * 128:(k + 1) * 128, m * 128:(m + 1) * 128])
                moving = nl.load(rhs[k * 128:(k + 1) * 128, n * 512:(n + 1) * 512])
                accumulator += nisa.nc_matmul(stationary, moving)
            nl.store(result[m * 128:(m + 1) * 128, n * 512:(n + 1) * 512],
                     value=nl.copy(accumulator))
    return result


@nki.jit
def spmd_scale_kernel(x):
    """Each program of a 2 x 2 grid scales its 128-row block by (1 + program index)."""
    rows, columns = x.shape
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    index = nl.program_id(0) * nl.num_programs(1) + nl.program_id(1)
    tile = nl.load(x[index * 128:(index + 1) * 128, :])
    nl.store(out[index * 128:(index + 1) * 128, :], value=nl.multiply(tile, 1.0 + index))
    return out
