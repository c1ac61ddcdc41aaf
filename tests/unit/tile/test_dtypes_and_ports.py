"""Type rounding, and DMA to addresses outside the core's HBM through the port."""

import numpy as np
import pytest

import nki
import nki.isa as nisa
import nki.language as nl
from emulator.tile import KernelError, MemoryPort, NeuronCore, dtypes, run_kernel
from tests.unit.tile.helpers import PARAMS


def test_bfloat16_rounds_to_nearest_even() -> None:
    # 1 + 2^-8 is half-way between 1 and 1 + 2^-7: ties go to the even mantissa (1.0);
    # 1 + 3 * 2^-8 is half-way between 1 + 2^-7 and 1 + 2^-6: ties go to 1 + 2^-6.
    values = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.5e-3, np.inf, np.nan,
                       3.4e38], dtype=np.float32)
    result = dtypes.round_bfloat16(values)
    assert result[0] == 1.0 and result[1] == 1 + 2**-6 and result[2] == 1 + 2**-7
    assert result[3] == np.float32(-0.00250244140625)  # nearest value with 8 mantissa bits
    assert np.isinf(result[4]) and np.isnan(result[5]) and np.isinf(result[6])
    mantissa = result[:4].view(np.uint32) & 0xFFFF
    assert not mantissa.any()


def test_fp8_formats_have_their_ranges() -> None:
    e4m3 = dtypes.float8_e4m3.convert(np.array([1000.0, 0.3, 2**-9], np.float32))
    assert e4m3[0] == 448.0  # saturates at the largest E4M3 value
    assert e4m3[1] == 0.3125  # 3 mantissa bits
    assert e4m3[2] == 2**-9  # smallest subnormal
    e5m2 = dtypes.float8_e5m2.convert(np.array([1e6, 0.3], np.float32))
    assert np.isinf(e5m2[0]) and e5m2[1] == 0.3125


@nki.jit
def _remote_round_trip(local, remote_out, remote_in):
    tile = nl.ndarray(local.shape, dtype=local.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=tile, src=local)
    nisa.dma_copy(dst=remote_out[:, 0:64], src=tile[:, 0:64])
    back = nl.ndarray((128, 64), dtype=local.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=back, src=remote_in)
    result = nl.ndarray((128, 64), dtype=local.dtype, buffer=nl.shared_hbm)
    nisa.dma_copy(dst=result, src=back)
    return result


def test_dma_outside_own_hbm_goes_through_the_port() -> None:
    port = MemoryPort(latency=2e-6, bandwidth=50e9)
    core = NeuronCore(PARAMS, port=port)
    base = 1 << 40  # far outside this core's HBM
    remote_out = core.remote(base, (128, 128), "bfloat16")
    remote_in = core.remote(base + (1 << 20), (128, 64), "bfloat16")
    values = dtypes.round_bfloat16(np.random.default_rng(0).standard_normal(
        (128, 64)).astype(np.float32))
    packed = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    port.memory.update({base + (1 << 20) + offset: byte for offset, byte in enumerate(packed)})
    local = np.arange(128 * 128, dtype=np.float32).reshape(128, 128) / 64
    run = run_kernel(_remote_round_trip, (local, remote_out, remote_in), core=core,
                     input_dtypes=["bfloat16"])
    np.testing.assert_array_equal(run.outputs, values)
    writes = [item for item in port.transactions if item.kind == "write"]
    # Writing columns 0..63 of a 128-column bf16 tensor: one 128-byte run per row.
    assert [item.address for item in writes] == [base + row * 256 for row in range(128)]
    assert all(item.size == 128 for item in writes)
    written = bytes(port.memory[base + offset] for offset in range(128))
    expected = (dtypes.round_bfloat16(local[0, :64]).view(np.uint32) >> 16).astype("<u2")
    assert written == expected.tobytes()
    # The remote write's DMA lasts until the port says the last write completed.
    remote_dma = run.core.scheduler.instructions[1]
    assert remote_dma.end == pytest.approx(max(item.completed for item in writes))
    assert remote_dma.end - remote_dma.start >= 2e-6


def test_remote_dma_without_a_port_is_an_error() -> None:
    core = NeuronCore(PARAMS)
    remote = core.remote(1 << 40, (128, 64), "float32")
    with pytest.raises(KernelError, match="outside this core's HBM and no DMA port"):
        run_kernel(_remote_round_trip, (np.zeros((128, 128), np.float32), remote, remote),
                   core=core)
