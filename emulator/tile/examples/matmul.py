"""A well-tiled matrix multiplication in the current NKI style.

``matmul_kernel(lhsT, rhs)`` computes ``lhsT.T @ rhs`` for ``lhsT`` of shape (K, M) and
``rhs`` of shape (K, N), both in HBM. Operands are loaded in blocks of ``BLOCK_M`` and
``BLOCK_N`` columns that stay in SBUF while every 128 x 512 output tile of the block
accumulates its K / 128 products in one PSUM bank; the Vector engine evicts each finished
tile to SBUF and a DMA stores each 128-row strip. With 512 x 1024 blocks a K of 4096 needs
32 KiB + 64 KiB per partition per block, so two of each fit SBUF and loads of the next block
overlap the current one's matmuls.
"""

import nki
import nki.isa as nisa
import nki.language as nl

TILE_K = nl.tile_size.pmax
TILE_M = nl.tile_size.gemm_stationary_fmax
TILE_N = nl.tile_size.gemm_moving_fmax
BLOCK_M = 4 * TILE_M
BLOCK_N = 2 * TILE_N


@nki.jit
def matmul_kernel(lhsT, rhs):
    """Return ``lhsT.T @ rhs`` in ``lhsT``'s type."""
    contraction, rows = lhsT.shape
    contraction_rhs, columns = rhs.shape
    assert contraction == contraction_rhs, "lhsT and rhs must share the contraction dimension"
    block_m = min(BLOCK_M, rows)
    block_n = min(BLOCK_N, columns)
    assert contraction % TILE_K == 0 and rows % block_m == 0 and columns % block_n == 0
    k_tiles = contraction // TILE_K
    result = nl.ndarray((rows, columns), dtype=lhsT.dtype, buffer=nl.shared_hbm)

    for m_block in nl.affine_range(rows // block_m):
        m0 = m_block * block_m
        lhsT_block = nl.ndarray((TILE_K, k_tiles, block_m), dtype=lhsT.dtype, buffer=nl.sbuf)
        for k in nl.affine_range(k_tiles):
            nisa.dma_copy(dst=lhsT_block[:, k, :],
                          src=lhsT[k * TILE_K:(k + 1) * TILE_K, m0:m0 + block_m])
        for n_block in nl.affine_range(columns // block_n):
            n0 = n_block * block_n
            rhs_block = nl.ndarray((TILE_K, k_tiles, block_n), dtype=rhs.dtype, buffer=nl.sbuf)
            for k in nl.affine_range(k_tiles):
                nisa.dma_copy(dst=rhs_block[:, k, :],
                              src=rhs[k * TILE_K:(k + 1) * TILE_K, n0:n0 + block_n])
            for m in nl.affine_range(block_m // TILE_M):
                strip = nl.ndarray((TILE_M, block_n), dtype=lhsT.dtype, buffer=nl.sbuf)
                for n in nl.affine_range(block_n // TILE_N):
                    accumulator = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
                    for k in nl.sequential_range(k_tiles):
                        nisa.nc_matmul(dst=accumulator,
                                       stationary=lhsT_block[:, k, m * TILE_M:(m + 1) * TILE_M],
                                       moving=rhs_block[:, k, n * TILE_N:(n + 1) * TILE_N])
                    nisa.tensor_copy(dst=strip[:, n * TILE_N:(n + 1) * TILE_N], src=accumulator)
                row = m0 + m * TILE_M
                nisa.dma_copy(dst=result[row:row + TILE_M, n0:n0 + block_n], src=strip)
    return result
