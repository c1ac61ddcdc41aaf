"""DMA transfers: local copies through the HBM channel, remote ones through the DMA port."""

from __future__ import annotations

import numpy as np

from . import costs, dtypes
from . import operators as ops
from .core import NeuronCore
from .errors import KernelError, kernel_line
from .tensor import Tensor


def dma(core: NeuronCore, dst: Tensor, src: Tensor, rmw: object = None) -> None:
    """Move ``src`` into ``dst`` (same element count), numerically and on the timeline."""
    params = core.params
    nbytes = max(src.nbytes, dst.nbytes)
    reads = [(src.allocation.log, src.box)]
    writes = [(dst.allocation.log, dst.box)]
    line = kernel_line()
    remote = None
    if src.kind == "remote":
        values = _read_remote(core, src)
        remote = _remote_timer(core, src, None)
    else:
        values = src.array
    if rmw is not None:
        operator = ops.lookup(rmw)
        if operator is None or operator.name != "add":
            raise KernelError("operator", "dma_copy supports only dst_rmw_op=nl.add.")
        values = np.asarray(values, dtype=np.float32) + _current(core, dst)
    if dst.kind == "remote":
        encoded = _encode(dst.dtype, dst.dtype.convert(np.asarray(values).reshape(dst.shape)))
        remote = _remote_timer(core, dst, encoded)
    else:
        values = np.asarray(values)
        if values.shape != dst.shape:
            values = values.reshape(dst.shape)
        if src.dtype is dst.dtype and rmw is None and src.kind != "remote":
            np.copyto(dst.array, values)  # same type: the values are already rounded
        else:
            dst.dtype.convert(values, out=dst.array)
    core.scheduler.issue_dma("dma_copy", reads, writes, nbytes,
                             costs.dma_transfer_seconds(params, nbytes),
                             costs.dma_fixed_seconds(params), line, remote)


def _current(core: NeuronCore, tensor: Tensor) -> np.ndarray:
    if tensor.kind == "remote":
        return _read_remote(core, tensor)
    return tensor.array.astype(np.float32)


def _element_addresses(tensor: Tensor) -> np.ndarray:
    """Byte address of every element of a (possibly sliced) remote tensor, in order."""
    allocation = tensor.allocation
    storage_size = allocation.array.itemsize
    base = allocation.array.__array_interface__["data"][0]
    first = (tensor.array.__array_interface__["data"][0] - base) // storage_size
    index = np.arange(allocation.array.size, dtype=np.int64)
    strides = tuple(stride // storage_size * index.itemsize for stride in tensor.array.strides)
    elements = np.lib.stride_tricks.as_strided(index[first:], shape=tensor.shape,
                                               strides=strides)
    return allocation.offset + elements.reshape(-1) * tensor.dtype.itemsize


def _runs(addresses: np.ndarray, itemsize: int) -> list[tuple[int, int, int]]:
    """Split element addresses into contiguous runs: (first element, count, address)."""
    if addresses.size == 0:
        return []
    breaks = np.nonzero(np.diff(addresses) != itemsize)[0] + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [addresses.size]))
    return [(int(start), int(end - start), int(addresses[start]))
            for start, end in zip(starts, ends, strict=True)]


def _read_remote(core: NeuronCore, tensor: Tensor) -> np.ndarray:
    addresses = _element_addresses(tensor)
    itemsize = tensor.dtype.itemsize
    chunks = []
    for _, count, address in _runs(addresses, itemsize):
        data, _ = core.port.read(address, count * itemsize, core.scheduler.end_time)
        chunks.append(data)
    return _decode(tensor.dtype, b"".join(chunks)).reshape(tensor.shape)


def _remote_timer(core: NeuronCore, tensor: Tensor, encoded: bytes | None):
    """A callback that performs the port accesses at the DMA's start time and returns the
    completion time (reads were fetched for their values already; they are timed here)."""
    addresses = _element_addresses(tensor)
    itemsize = tensor.dtype.itemsize

    def perform(start: float) -> float:
        completed = start
        for first, count, address in _runs(addresses, itemsize):
            if encoded is None:
                _, done = core.port.read(address, count * itemsize, start)
            else:
                chunk = encoded[first * itemsize:(first + count) * itemsize]
                done = core.port.write(address, chunk, start)
            completed = max(completed, done)
        return completed

    return perform


def _encode(dtype: dtypes.DType, values: np.ndarray) -> bytes:
    values = np.ascontiguousarray(values)
    if dtype is dtypes.float32 or dtype is dtypes.tfloat32:
        return values.astype(np.float32).tobytes()
    if dtype is dtypes.bfloat16:
        return (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    if dtype is dtypes.float16:
        return values.astype(np.float16).tobytes()
    if not dtype.is_float:
        return values.astype(dtype.storage).tobytes()
    raise KernelError("unsupported-dtype", f"remote DMA of {dtype} is not supported; use "
                      "float32, bfloat16, float16 or an integer type.")


def _decode(dtype: dtypes.DType, data: bytes) -> np.ndarray:
    if dtype is dtypes.float32 or dtype is dtypes.tfloat32:
        return np.frombuffer(data, dtype=np.float32).copy()
    if dtype is dtypes.bfloat16:
        half = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
        return half.view(np.float32)
    if dtype is dtypes.float16:
        return np.frombuffer(data, dtype=np.float16).astype(np.float32)
    if not dtype.is_float:
        return np.frombuffer(data, dtype=dtype.storage).copy()
    raise KernelError("unsupported-dtype", f"remote DMA of {dtype} is not supported; use "
                      "float32, bfloat16, float16 or an integer type.")
