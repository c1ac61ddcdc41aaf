"""The timeline follows the cost model; figures are checked against formulas derived here."""

import json

import numpy as np
import pytest

import nki
import nki.isa as nisa
import nki.language as nl
from emulator.tile import run_kernel
from emulator.tile.examples.matmul import matmul_kernel
from hdl.params import PRESETS, TILE_GENERATIONS

TRN3 = TILE_GENERATIONS["trn3"]
TRN4 = TILE_GENERATIONS["trn4"]
PER_CORE_BANDWIDTH = 4.9e12 / 8  # Trn3 HBM shared evenly by 8 NeuronCores
DMA_FIXED = 600e-9


def _by_name(run, name):
    return [item for item in run.core.scheduler.instructions if item.name == name]


@nki.jit
def _one_matmul(lhsT, rhs):
    stationary = nl.ndarray(lhsT.shape, dtype=lhsT.dtype, buffer=nl.sbuf)
    moving = nl.ndarray(rhs.shape, dtype=rhs.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=stationary, src=lhsT)
    nisa.dma_copy(dst=moving, src=rhs)
    result = nl.ndarray((lhsT.shape[1], rhs.shape[1]), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(dst=result, stationary=stationary, moving=moving)
    evicted = nl.ndarray(result.shape, dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=evicted, src=result)
    return evicted


@pytest.mark.parametrize(("columns", "dtype", "params", "cycles"), [
    (512, "bfloat16", TRN3, 512), (32, "bfloat16", TRN3, 64), (512, "float32", TRN3, 2048),
    (256, "float8_e4m3", TRN3, 256), (512, "bfloat16", TRN4, 512 / 3)])
def test_matmul_occupies_the_tensor_engine(columns, dtype, params, cycles) -> None:
    lhsT, rhs = np.ones((128, 128), np.float32), np.ones((128, columns), np.float32)
    run = run_kernel(_one_matmul, (lhsT, rhs), params=params, input_dtypes=[dtype] * 2)
    (matmul,) = _by_name(run, "nc_matmul")
    assert matmul.end - matmul.start == pytest.approx(cycles / 2.4e9, rel=1e-9)
    assert matmul.flops == 2 * 128 * 128 * columns
    # The copy waits for the product to be visible (60 Tensor cycles), then runs N cycles
    # (at least 64) of the 1.2 GHz Vector clock.
    (copy,) = _by_name(run, "tensor_copy")
    assert copy.start == pytest.approx(matmul.end + 60 / 2.4e9, rel=1e-9)
    assert copy.end - copy.start == pytest.approx(max(columns, 64) / 1.2e9, rel=1e-9)
    # The matmul waited for the later of its two loads.
    loads = _by_name(run, "dma_copy")
    assert matmul.start == pytest.approx(max(load.end for load in loads), rel=1e-9)


def test_dma_time_is_latency_plus_bytes_over_bandwidth() -> None:
    rhs = np.ones((128, 512), np.float32)
    run = run_kernel(_one_matmul, (np.ones((128, 128), np.float32), rhs), params=TRN3)
    first, second = _by_name(run, "dma_copy")
    assert first.end == pytest.approx(DMA_FIXED + 128 * 128 * 4 / PER_CORE_BANDWIDTH)
    # The second transfer queues behind the first on the shared HBM channel.
    assert second.end == pytest.approx(DMA_FIXED + (128 * 128 + 128 * 512) * 4
                                       / PER_CORE_BANDWIDTH)


@nki.jit
def _many_loads(x):
    for index in nl.affine_range(32):
        tile = nl.ndarray((128, 2048), dtype=nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=tile, src=x[index * 128:(index + 1) * 128, :])


def test_dma_queues_share_the_hbm_bandwidth() -> None:
    run = run_kernel(_many_loads, (np.ones((4096, 2048), np.float32),), params=TRN3)
    loads = _by_name(run, "dma_copy")
    assert {load.engine for load in loads} == {f"dma{index}" for index in range(16)}
    total_bytes = 4096 * 2048 * 4
    assert max(load.end for load in loads) == pytest.approx(
        total_bytes / PER_CORE_BANDWIDTH + DMA_FIXED, rel=1e-9)
    assert run.report.utilisation["hbm"] == pytest.approx(
        total_bytes / PER_CORE_BANDWIDTH / run.report.total_seconds)


@nki.jit
def _independent_engines(x):
    first = nl.ndarray((128, 4096), dtype=nl.float32, buffer=nl.sbuf)
    second = nl.ndarray((128, 1024), dtype=nl.float32, buffer=nl.sbuf)
    nisa.memset(dst=first, value=1.0, engine=nisa.vector_engine)
    nisa.memset(dst=second, value=2.0, engine=nisa.gpsimd_engine)
    third = nl.ndarray((128, 1024), dtype=nl.float32, buffer=nl.sbuf)
    nisa.activation(dst=third, op=nl.exp, data=second)


def test_engines_run_concurrently_and_wait_only_for_their_inputs() -> None:
    run = run_kernel(_independent_engines, (np.ones((1, 1), np.float32),), params=TRN3)
    vector, gpsimd = _by_name(run, "memset")
    (scalar,) = _by_name(run, "activation")
    assert vector.start == gpsimd.start == 0.0
    assert vector.end == pytest.approx(4096 / 1.2e9)
    assert scalar.start == pytest.approx(gpsimd.end + 60 / 1.2e9)
    report = run.report
    assert report.total_seconds == pytest.approx(vector.end)
    assert report.utilisation["vector"] == pytest.approx(1.0)
    assert report.utilisation["scalar"] == pytest.approx(1024 / 1.2e9 / vector.end)


@nki.jit
def _reuse_after_free(x):
    whole = x.shape[1]
    first = nl.ndarray((128, whole), dtype=nl.float32, buffer=nl.sbuf)
    nisa.memset(dst=first, value=3.0)
    del first  # its bytes go back to the allocator
    second = nl.ndarray((128, whole), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=second, src=x)


def test_reused_memory_waits_for_its_previous_occupant() -> None:
    whole = TRN3.sbuf_bytes_per_partition // 4  # one tile fills every partition
    run = run_kernel(_reuse_after_free, (np.ones((128, whole), np.float32),), params=TRN3)
    (memset,) = _by_name(run, "memset")
    (load,) = _by_name(run, "dma_copy")
    assert load.start == pytest.approx(memset.end + 60 / 1.2e9)


def test_blocked_matmul_reaches_the_predicted_fraction_of_peak() -> None:
    """1024^3 bf16 on Trn4 parameters, against a formula derived here from the cost model."""
    params = PRESETS["trn4-nvl72"].tile
    size = 1024
    a = np.ones((size, size), np.float32)
    report = run_kernel(matmul_kernel, (a, a), params=params,
                        input_dtypes=["bfloat16"] * 2).report
    clock, scale, bandwidth = 2.4e9, 3.0, 4 * 4.9e12 / 8
    matmul = 512 / scale / clock
    busy = (size // 128) * (size // 512) * (size // 128) * matmul
    slice_time = 128 * 1024 * 2 / bandwidth  # one 128-row slice of a 1024-column rhs block
    fill = DMA_FIXED + (size * 512 * 2) / bandwidth + slice_time + 7 * (slice_time - matmul)
    drain = 60 / clock + 512 / 1.2e9 + 60 / 1.2e9 + DMA_FIXED + slice_time
    expected_total = fill + busy + drain
    assert report.total_seconds == pytest.approx(expected_total, rel=2e-3)
    peak = 2 * 128 * 128 * clock * scale
    assert report.peak_flops == pytest.approx(peak)
    assert report.fraction_of_peak == pytest.approx(2 * size**3 / expected_total / peak,
                                                    rel=2e-3)
    assert report.utilisation["tensor"] == pytest.approx(busy / report.total_seconds)


def test_trace_and_plot(tmp_path) -> None:
    run = run_kernel(_independent_engines, (np.ones((1, 1), np.float32),), params=TRN3)
    report = run.report
    trace = json.loads(report.write_trace(tmp_path / "trace.json").read_text())
    spans = [event for event in trace["traceEvents"] if event["ph"] == "X"]
    assert len(spans) == report.instruction_count == 3
    tracks = {event["args"]["name"]: event["tid"] for event in trace["traceEvents"]
              if event["name"] == "thread_name"}
    assert {"tensor", "vector", "scalar", "gpsimd"} <= set(tracks)
    scalar = next(event for event in spans if event["name"] == "activation")
    assert scalar["tid"] == tracks["scalar"]
    assert scalar["dur"] == pytest.approx(1024 / 1.2e9 * 1e6)
    png = report.write_utilisation_png(tmp_path / "utilisation.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
