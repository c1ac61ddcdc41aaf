"""The cost model: time each instruction keeps its engine busy, as formulas of TileParams.

In the style of SCALE-Sim, every cost is an explicit function of the array size, the operand
shape and the generation's parameters. Cycles are counted in the issuing engine's own clock
and converted to seconds with it. docs/tile.md lists each formula with its source.

- Tensor engine, matmul with moving free size ``N`` (``params.min_instruction_cycles`` is the
  minimum): ``max(N, MIN_II) * type_factor / tensor_throughput_scale`` cycles of ``clock_hz``,
  with ``type_factor`` 4 for float32 and 1 for bf16, fp16, tf32 and fp8.
- Tensor-engine transpose of a ``(P, F)`` tile: a matmul whose moving operand has ``P``
  columns; float32 transposes run at half the float32 matmul cost.
- Vector, Scalar and GpSimd instructions over ``N`` elements per partition:
  ``max(N, MIN_II)`` cycles of the engine's clock, plus ``MIN_II`` when a reduction result is
  also written (activation with ``reduce_res``); ``iota`` costs ``150 + N`` GpSimd cycles.
- DMA of ``B`` bytes: ``dma_latency_ns`` plus ``B / (hbm_bandwidth / neuron_cores)``; the
  transfer part shares one HBM channel per NeuronCore with the other queues.
- Results become visible to other engines ``sbuf_access_cycles`` after the instruction ends;
  the same engine sees them at once (its pipeline is in order).
"""

from __future__ import annotations

from hdl.params import TileParams

from . import dtypes
from .dtypes import DType

ENGINES = ("tensor", "vector", "scalar", "gpsimd")


def engine_clock(params: TileParams, engine: str) -> float:
    """Clock of a compute engine in Hz."""
    return {"tensor": params.clock_hz, "vector": params.vector_clock_hz,
            "scalar": params.scalar_clock_hz, "gpsimd": params.gpsimd_clock_hz}[engine]


def matmul_cycles(params: TileParams, moving_free: int, dtype: DType) -> float:
    """Tensor-engine cycles of one nc_matmul whose moving operand has ``moving_free``
    columns."""
    factor = 4.0 if dtype is dtypes.float32 else 1.0
    return max(moving_free, params.min_instruction_cycles) * factor \
        / params.tensor_throughput_scale


def transpose_cycles(params: TileParams, partitions: int, dtype: DType) -> float:
    """Tensor-engine cycles of a transpose of a tile with ``partitions`` partitions."""
    factor = 2.0 if dtype is dtypes.float32 else 1.0
    return max(partitions, params.min_instruction_cycles) * factor \
        / params.tensor_throughput_scale


def elementwise_cycles(params: TileParams, free_size: int, reduces: bool = False) -> float:
    """Vector, Scalar or GpSimd cycles of an instruction over ``free_size`` elements per
    partition."""
    cycles = max(free_size, params.min_instruction_cycles)
    return cycles + (params.min_instruction_cycles if reduces else 0)


def iota_cycles(params: TileParams, free_size: int) -> float:
    """GpSimd cycles of an iota over ``free_size`` elements per partition."""
    return 150.0 + free_size


def seconds(params: TileParams, engine: str, cycles: float) -> float:
    return cycles / engine_clock(params, engine)


def visibility_seconds(params: TileParams, engine: str) -> float:
    """Delay before another engine may read what ``engine`` wrote."""
    return params.sbuf_access_cycles / engine_clock(params, engine)


def dma_transfer_seconds(params: TileParams, nbytes: int) -> float:
    """Time ``nbytes`` occupy this core's share of HBM bandwidth."""
    return nbytes / params.hbm_bandwidth_per_core


def dma_fixed_seconds(params: TileParams) -> float:
    return params.dma_latency_ns * 1e-9
