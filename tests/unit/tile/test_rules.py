"""Every hardware rule raises an NKI-style error that names the kernel line."""

import inspect

import numpy as np
import pytest

import nki
import nki.isa as nisa
import nki.language as nl
from emulator.tile import KernelError
from tests.unit.tile.helpers import run


def _line_of(marker: str) -> int:
    """Line number of the statement tagged ``# rule: <marker>`` in this file."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(number for number, text in enumerate(lines, 1)
                if text.rstrip().endswith(f"# rule: {marker}"))


def _raises(kernel, arrays, dtype="bfloat16") -> KernelError:
    with pytest.raises(KernelError) as caught:
        run(kernel, arrays, dtype)
    return caught.value


@nki.jit
def _too_many_partitions(x):
    nl.ndarray((256, 64), dtype=nl.float32, buffer=nl.sbuf)  # rule: partitions


@nki.jit
def _wide_stationary(x):
    stationary = nl.ndarray((128, 256), dtype=nl.bfloat16, buffer=nl.sbuf)
    moving = nl.ndarray((128, 512), dtype=nl.bfloat16, buffer=nl.sbuf)
    result = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(result, stationary, moving)  # rule: stationary


@nki.jit
def _wide_moving(x):
    stationary = nl.ndarray((128, 128), dtype=nl.bfloat16, buffer=nl.sbuf)
    moving = nl.ndarray((128, 1024), dtype=nl.bfloat16, buffer=nl.sbuf)
    result = nl.ndarray((128, 1024), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(dst=result, stationary=stationary, moving=moving)  # rule: moving


@nki.jit
def _psum_full(x):
    banks = []
    for _ in range(9):
        banks.append(nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum))  # rule: psum


@nki.jit
def _sbuf_full(x):
    first = nl.ndarray((128, 40 * 1024), dtype=nl.float32, buffer=nl.sbuf)
    second = nl.ndarray((128, 40 * 1024), dtype=nl.float32, buffer=nl.sbuf)  # rule: sbuf
    return first, second


@nki.jit
def _psum_operand(x):
    stationary = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.psum)
    moving = nl.ndarray((128, 512), dtype=nl.bfloat16, buffer=nl.sbuf)
    result = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(result, stationary, moving)  # rule: psum-operand


@nki.jit
def _float64_tile(x):
    nl.ndarray((128, 64), dtype=np.float64, buffer=nl.sbuf)  # rule: dtype


@nki.jit
def _integer_matmul(x):
    stationary = nl.ndarray((128, 128), dtype=nl.int32, buffer=nl.sbuf)
    moving = nl.ndarray((128, 512), dtype=nl.int32, buffer=nl.sbuf)
    result = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(result, stationary, moving)  # rule: integer-matmul


@nki.jit
def _helper_caller(x):
    _make_wide_tile()


def _make_wide_tile():
    # Innermost line in the kernel's file: the helper's own line.
    return nl.ndarray((200, 4), dtype=nl.float32, buffer=nl.sbuf)  # rule: helper


X = np.zeros((128, 64), dtype=np.float32)

CASES = [
    (_too_many_partitions, "partitions", "partition-dimension",
     "partition dimension 256 of sbuf tile", "exceeds the maximum of 128"),
    (_wide_stationary, "stationary", "matmul-free-size", "stationary free size 256",
     "gemm_stationary_fmax"),
    (_wide_moving, "moving", "matmul-free-size", "moving free size 1024", "gemm_moving_fmax"),
    (_psum_full, "psum", "psum-capacity", "PSUM over capacity", "0 KiB of 16 KiB are free"),
    (_sbuf_full, "sbuf", "sbuf-capacity", "SBUF over capacity", "160 KiB per partition"),
    (_psum_operand, "psum-operand", "psum-matmul-operand",
     "stationary operand is read from PSUM", "nisa.tensor_copy"),
    (_float64_tile, "dtype", "unsupported-dtype", "float64", "not supported on a NeuronCore"),
    (_integer_matmul, "integer-matmul", "unsupported-dtype", "stationary has type int32",
     "does not multiply"),
    (_helper_caller, "helper", "partition-dimension", "partition dimension 200", "pmax"),
]


@pytest.mark.parametrize(("kernel", "marker", "rule", "first", "second"), CASES,
                         ids=[case[1] for case in CASES])
def test_rule_message_names_the_kernel_line(kernel, marker, rule, first, second) -> None:
    error = _raises(kernel, (X,))
    assert error.rule == rule
    assert first in error.detail and second in error.detail, error.detail
    assert error.filename == __file__
    assert error.lineno == _line_of(marker)
    assert str(error).startswith(f"{__file__}:{error.lineno}: error: [{rule}]")
    assert f"# rule: {marker}" in str(error)  # the offending source line is quoted


def test_unsupported_input_dtype_is_refused_at_launch() -> None:
    with pytest.raises(KernelError, match="float64 is not supported|'float64'"):
        run(_too_many_partitions, (np.zeros((4, 4), dtype=np.float64),), None)
