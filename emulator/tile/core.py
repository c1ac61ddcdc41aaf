"""One NeuronCore: its memories, its engines' timeline and its DMA port.

Kernels reach the core that runs them through :func:`active`, which the launcher sets for the
duration of a launch, so ``nki.language`` and ``nki.isa`` calls need no core argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from hdl.params import TileParams

from . import dtypes
from .dtypes import DType
from .errors import KernelError
from .memory import DeviceAllocator, MemoryRegion, PartitionAllocator, remote_hbm
from .ports import DmaPort, UnmappedPort
from .schedule import Scheduler
from .tensor import Tensor

#: Alignment of SBUF allocations within a partition, in bytes.
SBUF_ALIGNMENT = 64

_active: list[NeuronCore] = []


@dataclass
class _MatmulChain:
    """Products waiting to be added into one PSUM tile, computed together when needed."""

    dst: Tensor
    overwrite: bool
    stationary: list[np.ndarray] = field(default_factory=list)
    moving: list[np.ndarray] = field(default_factory=list)

    def compute(self) -> None:
        if len(self.stationary) == 1:
            product = self.stationary[0].T @ self.moving[0]
        else:
            product = np.concatenate(self.stationary).T @ np.concatenate(self.moving)
        target = self.dst.array.reshape(product.shape)
        if self.overwrite:
            self.dst.dtype.convert(product, out=target)
        elif self.dst.dtype.storage == np.float32 and self.dst.dtype.itemsize == 4:
            np.add(target, product, out=target)
        else:
            self.dst.dtype.convert(target + product, out=target)
        if not np.shares_memory(target, self.dst.array):
            self.dst.array[...] = target.reshape(self.dst.shape)


class NeuronCore:
    """A NeuronCore model with SBUF, PSUM, HBM, four compute engines and DMA queues.

    Parameters
    ----------
    params : TileParams
        The generation: sizes, clocks and the cost model's figures.
    port : DmaPort, optional
        Where DMA to addresses outside ``[hbm_base, hbm_base + params.hbm_bytes)`` goes.
    hbm_base : int
        First address of this core's HBM in the global address space.
    progress : callable, optional
        ``progress(instructions, simulated_seconds)``, called now and then on long runs.
    """

    def __init__(self, params: TileParams, port: DmaPort | None = None, hbm_base: int = 0,
                 progress: Callable[[int, float], None] | None = None) -> None:
        self.params = params
        self.port: DmaPort = port if port is not None else UnmappedPort()
        self.sbuf = PartitionAllocator("SBUF", params.sbuf_bytes_per_partition, SBUF_ALIGNMENT)
        self.psum = PartitionAllocator("PSUM", params.psum_bytes_per_partition,
                                       params.psum_bank_bytes_per_partition)
        self.hbm = DeviceAllocator(hbm_base, params.hbm_bytes)
        self.scheduler = Scheduler(params.dma_queues, progress)
        self.reduce_registers = np.zeros(params.partitions, dtype=np.float32)
        self.grid: tuple[int, ...] = ()
        self.program: tuple[int, ...] = ()
        self.shared: list[Tensor] = []
        self.shared_cursor = 0
        self.chains: list[_MatmulChain] = []

    # -- deferred matmul numerics --------------------------------------------------------

    def defer_matmul(self, dst: Tensor, stationary: np.ndarray, moving: np.ndarray,
                     accumulate: bool) -> None:
        """Queue ``dst (+)= stationary.T @ moving``. Consecutive products into the same PSUM
        tile become one larger GEMM; any other instruction computes the queue first, so the
        operands cannot change meanwhile."""
        chain = self.chains[-1] if self.chains else None
        same = (chain is not None and chain.dst.allocation is dst.allocation
                and chain.dst.box == dst.box and chain.dst.shape == dst.shape)
        if not (same and accumulate and dst.dtype.itemsize == 4):
            self.flush_matmuls()
            chain = _MatmulChain(dst, overwrite=not accumulate)
            self.chains.append(chain)
        chain.stationary.append(stationary)  # type: ignore[union-attr]
        chain.moving.append(moving)  # type: ignore[union-attr]

    def flush_matmuls(self) -> None:
        """Compute every queued product."""
        chains, self.chains = self.chains, []
        for chain in chains:
            chain.compute()

    # -- allocation ----------------------------------------------------------------------

    def allocate(self, shape: object, dtype: object, buffer: MemoryRegion,
                 name: str = "") -> Tensor:
        """A new tensor in ``buffer``, checked against the hardware rules."""
        shape = _check_shape(shape)
        kind = _check_dtype(dtype)
        if buffer.kind in ("sbuf", "psum"):
            if len(shape) < 2:
                raise KernelError("tile-rank", f"an on-chip tile needs at least 2 dimensions "
                                  f"(partition, free), got shape {shape}; use e.g. "
                                  f"({shape[0] if shape else 1}, 1).")
            if shape[0] > self.params.partitions:
                raise KernelError("partition-dimension",
                                  f"partition dimension {shape[0]} of {buffer.name} tile "
                                  f"{name or shape} exceeds the maximum of "
                                  f"{self.params.partitions} (nl.tile_size.pmax); tile the "
                                  "first dimension.")
            allocator = self.sbuf if buffer.kind == "sbuf" else self.psum
            allocation = allocator.allocate(buffer, name, shape, kind)
            return Tensor.whole(allocation)
        if buffer.name == "shared_hbm" and self.grid:
            return self._shared(shape, kind, buffer, name)
        return Tensor.whole(self.hbm.allocate(buffer, name, shape, kind))

    def _shared(self, shape: tuple[int, ...], kind: DType, buffer: MemoryRegion,
                name: str) -> Tensor:
        """In an SPMD launch the n-th shared_hbm tensor is the same one in every program."""
        if self.shared_cursor < len(self.shared):
            tensor = self.shared[self.shared_cursor]
            if tensor.shape != shape or tensor.dtype is not kind:
                raise KernelError("shared-hbm", f"programs of one launch disagree on shared "
                                  f"tensor {self.shared_cursor}: {tensor.shape} {tensor.dtype} "
                                  f"vs {shape} {kind}.")
        else:
            tensor = Tensor.whole(self.hbm.allocate(buffer, name, shape, kind))
            self.shared.append(tensor)
        self.shared_cursor += 1
        return tensor

    def from_numpy(self, values: np.ndarray, dtype: object = None, name: str = "") -> Tensor:
        """An HBM tensor holding ``values`` rounded to ``dtype`` (default: the array's type)."""
        values = np.asarray(values)
        kind = _check_dtype(dtype if dtype is not None else values.dtype)
        from .memory import hbm
        tensor = Tensor.whole(self.hbm.allocate(hbm, name, tuple(values.shape), kind))
        kind.convert(values, out=tensor.array)
        return tensor

    def remote(self, address: int, shape: tuple[int, ...], dtype: object,
               name: str = "") -> Tensor:
        """A tensor at a global address outside this core's HBM, reached through the port."""
        shape = _check_shape(shape)
        kind = _check_dtype(dtype)
        size = int(np.prod(shape, dtype=np.int64)) * kind.itemsize
        if self.hbm.owns(address, size):
            raise KernelError("remote-address", f"address 0x{address:x} is in this core's own "
                              "HBM; allocate local tensors with nl.ndarray instead.")
        from .memory import Allocation
        allocation = Allocation(remote_hbm, name, kind, np.zeros(shape, kind.storage),
                                address, size)
        return Tensor.whole(allocation)

    # -- launches ------------------------------------------------------------------------

    @contextmanager
    def running(self, grid: tuple[int, ...] = (), program: tuple[int, ...] = ()) -> Iterator[
            NeuronCore]:
        """Make this core the one kernel calls act on."""
        self.grid, self.program = grid, program
        self.shared_cursor = 0
        _active.append(self)
        try:
            yield self
        finally:
            _active.pop()


def flushing(function: Callable) -> Callable:
    """Decorate an instruction that reads or writes tile values: queued matmul products are
    computed before it runs."""

    @functools.wraps(function)
    def wrapper(*args: object, **kwargs: object) -> object:
        if _active:
            _active[-1].flush_matmuls()
        return function(*args, **kwargs)

    return wrapper


def active() -> NeuronCore:
    """The core running the current kernel."""
    if not _active:
        raise KernelError("no-kernel", "this NKI call needs a running kernel; call it from a "
                          "function decorated with @nki.jit.")
    return _active[-1]


def _check_shape(shape: object) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(item, (int, np.integer)) and not isinstance(item, bool)
            for item in shape):
        raise KernelError("shape", f"shape {shape!r} must be a tuple of integers.")
    result = tuple(int(item) for item in shape)
    if any(item <= 0 for item in result):
        raise KernelError("shape", f"shape {result} has a dimension that is not positive.")
    return result


def _check_dtype(dtype: object) -> DType:
    kind = dtypes.lookup(dtype)
    if kind is None:
        raise KernelError("unsupported-dtype", f"data type {dtype!r} is not supported on a "
                          f"NeuronCore; use one of {dtypes.supported_names()}.")
    return kind
