"""Closed-form timing of the blocked matmul kernel (examples/matmul.py), from the cost model.

The kernel keeps the Tensor engine busy except while the first output tile waits for its
operands and while the last strip is evicted and stored. With ``BW`` the core's HBM bandwidth,
``t_mm`` one matmul's time and ``k`` the number of 128-row slices of the contraction:

- busy: ``T_pe = (M / 128) * (N / 512) * k * t_mm``;
- fill: the first matmul waits for the whole first ``lhsT`` block and the first ``rhs`` slice,
  ``dma_latency + (bytes(lhsT block) + bytes(rhs slice)) / BW``; each later slice of that
  first tile arrives ``bytes(rhs slice) / BW`` after the previous one, so the engine also
  idles ``(k - 1) * max(0, bytes(rhs slice) / BW - t_mm)``;
- drain: after the last matmul, its result becomes visible, the Vector engine evicts the
  128 x 512 tile, and a DMA stores the 128-row strip:
  ``vis_tensor + max(512, MIN_II) / f_vector + vis_vector + dma_latency + bytes(strip) / BW``.

Predicted time is fill + max(T_pe, DMA time of all transfers, Vector time) + drain, valid
while the DMA queues outpace the channel (15 transfers take longer than the DMA latency).
"""

from __future__ import annotations

from dataclasses import dataclass

from hdl.params import TileParams

from . import costs, dtypes


@dataclass(frozen=True)
class MatmulPrediction:
    """Predicted timing of one blocked matmul; times in seconds."""

    tensor_busy: float
    fill: float
    drain: float
    dma_busy: float
    vector_busy: float
    total: float
    flops: float
    peak_flops: float

    @property
    def fraction_of_peak(self) -> float:
        return self.flops / (self.total * self.peak_flops)


def blocked_matmul(params: TileParams, contraction: int, rows: int, columns: int,
                   dtype: dtypes.DType = dtypes.bfloat16, block_m: int = 512,
                   block_n: int = 1024) -> MatmulPrediction:
    """Timing of ``matmul_kernel`` for lhsT (contraction, rows) and rhs (contraction,
    columns)."""
    block_m, block_n = min(block_m, rows), min(block_n, columns)
    tile_n = min(512, columns)
    size = dtype.itemsize
    bandwidth = params.hbm_bandwidth_per_core
    slices = contraction // 128
    matmul = costs.seconds(params, "tensor", costs.matmul_cycles(params, tile_n, dtype))
    count = (rows // 128) * (columns // tile_n) * slices
    tensor_busy = count * matmul
    lhs_block = contraction * block_m * size
    rhs_slice = 128 * block_n * size
    fixed = costs.dma_fixed_seconds(params)
    fill = fixed + (lhs_block + rhs_slice) / bandwidth \
        + (slices - 1) * max(0.0, rhs_slice / bandwidth - matmul)
    evict = costs.seconds(params, "vector", costs.elementwise_cycles(params, tile_n))
    drain = (costs.visibility_seconds(params, "tensor") + evict
             + costs.visibility_seconds(params, "vector") + fixed + 128 * block_n * size
             / bandwidth)
    moved = (rows // block_m) * (contraction * block_m * size
                                 + (columns // block_n) * contraction * block_n * size) \
        + rows * columns * size
    dma_busy = moved / bandwidth
    vector_busy = (rows // 128) * (columns // tile_n) * evict
    total = fill + max(tensor_busy, dma_busy, vector_busy) + drain
    return MatmulPrediction(tensor_busy, fill, drain, dma_busy, vector_busy, total,
                            2.0 * contraction * rows * columns, params.tensor_peak_flops)
