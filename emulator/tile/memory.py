"""On-chip and device memories of one NeuronCore: allocations, allocators, access logs.

SBUF and PSUM are modelled per partition: an allocation takes a byte range of every
partition, as the NKI allocator does. A range freed by one tile and handed to the next keeps a
*floor*: the time its last access finished, so that the new tile's first write waits for it
(the write-after-read hazard of buffer reuse). Within one allocation, accesses are tracked as
boxes of element indices (``AccessLog``); the scheduler reads them to find dependencies.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from .dtypes import DType
from .errors import KernelError

#: A box of element indices: one ``(start, stop)`` per dimension of the allocation.
Box = tuple[tuple[int, int], ...]


class MemoryRegion:
    """Where a tensor lives: ``kind`` is ``"sbuf"``, ``"psum"`` or ``"hbm"``."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind

    def __repr__(self) -> str:
        return self.name


sbuf = MemoryRegion("sbuf", "sbuf")
psum = MemoryRegion("psum", "psum")
hbm = MemoryRegion("hbm", "hbm")
private_hbm = MemoryRegion("private_hbm", "hbm")
shared_hbm = MemoryRegion("shared_hbm", "hbm")
#: Device memory outside this NeuronCore's HBM, reached through the DMA port.
remote_hbm = MemoryRegion("remote_hbm", "remote")


def overlaps(first: Box, second: Box) -> bool:
    """True when two boxes share an element."""
    for (low_a, high_a), (low_b, high_b) in zip(first, second, strict=True):
        if low_a >= high_b or low_b >= high_a:
            return False
    return True


def contains(outer: Box, inner: Box) -> bool:
    for (low_a, high_a), (low_b, high_b) in zip(outer, inner, strict=True):
        if low_b < low_a or high_b > high_a:
            return False
    return True


@dataclass
class Access:
    """One instruction's access to a box: when its engine was done with it (``busy_end``) and
    when its result was visible to other engines (``done``)."""

    box: Box
    engine: str
    busy_end: float
    done: float


@dataclass
class AccessLog:
    """The accesses still relevant to later hazards on one allocation.

    ``latest_write`` and ``latest`` bound the times in the log, so the scheduler can skip a
    log that cannot delay an instruction.
    """

    writes: list[Access] = field(default_factory=list)
    reads: dict[tuple[str, Box], Access] = field(default_factory=dict)
    floor: float = 0.0
    latest_write: float = 0.0
    latest: float = 0.0

    def last_done(self) -> float:
        return max(self.floor, self.latest)


class Allocation:
    """Storage of one tensor: a numpy array plus its place in a memory.

    Attributes
    ----------
    array : numpy.ndarray
        The values, in the type's storage format (see :mod:`emulator.tile.dtypes`).
    offset : int
        Byte offset in each partition (SBUF, PSUM) or address in device memory (HBM).
    bytes_per_partition : int
        Footprint in each partition (SBUF, PSUM) or in total (HBM).
    """

    __slots__ = ("region", "name", "dtype", "array", "offset", "bytes_per_partition", "log",
                 "__weakref__")

    def __init__(self, region: MemoryRegion, name: str, dtype: DType, array: np.ndarray,
                 offset: int, bytes_per_partition: int) -> None:
        self.region = region
        self.name = name
        self.dtype = dtype
        self.array = array
        self.offset = offset
        self.bytes_per_partition = bytes_per_partition
        self.log = AccessLog()

    @property
    def address(self) -> int:
        return self.offset


@dataclass
class _Tombstone:
    offset: int
    size: int
    done: float


class PartitionAllocator:
    """Allocation of byte ranges shared by all partitions of SBUF or PSUM.

    Parameters
    ----------
    label : str
        ``"SBUF"`` or ``"PSUM"``, for messages.
    capacity : int
        Bytes per partition.
    granule : int
        Allocation unit in bytes (alignment for SBUF, a whole bank for PSUM).
    """

    def __init__(self, label: str, capacity: int, granule: int) -> None:
        self.label = label
        self.capacity = capacity
        self.granule = granule
        self.live: dict[int, tuple[int, int, str]] = {}  # key -> (offset, size, name)
        self.tombstones: list[_Tombstone] = []
        self.peak = 0
        self._next_key = 0

    @property
    def used(self) -> int:
        return sum(size for _, size, _ in self.live.values())

    def allocate(self, region: MemoryRegion, name: str, shape: tuple[int, ...],
                 dtype: DType) -> Allocation:
        per_partition = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        size = max(self.granule, -(-per_partition // self.granule) * self.granule)
        offset = self._place(size)
        if offset is None:
            free = self.capacity - self.used
            unit = "KiB"
            raise KernelError(
                f"{self.label.lower()}-capacity",
                f"{self.label} over capacity: {name or 'a tile'} of shape {tuple(shape)} "
                f"{dtype} needs {size / 1024:g} {unit} per partition but only "
                f"{free / 1024:g} {unit} of {self.capacity / 1024:g} {unit} are free "
                f"({len(self.live)} live tiles); free tiles earlier or use smaller ones.")
        array = np.zeros(shape, dtype=dtype.storage)
        allocation = Allocation(region, name, dtype, array, offset, size)
        key = self._next_key
        self._next_key += 1
        self.live[key] = (offset, size, name)
        self.peak = max(self.peak, self.used)
        allocation.log.floor = self._take_floor(offset, size)
        weakref.finalize(allocation, self._free, key, allocation.log)
        return allocation

    def _place(self, size: int) -> int | None:
        """Offset for ``size`` bytes: of the places that fit (either end of every hole), the
        one whose previous occupants finished earliest, so reuse rotates through free memory
        the way multi-buffering does; the lowest such offset on ties."""
        holes = []
        cursor = 0
        for offset, used, _ in sorted(self.live.values()):
            if offset > cursor:
                holes.append((cursor, offset))
            cursor = max(cursor, offset + used)
        if cursor < self.capacity:
            holes.append((cursor, self.capacity))
        best: tuple[float, int] | None = None
        for start, end in holes:
            if end - start < size:
                continue
            for offset in {start, end - size}:
                candidate = (self._floor_at(offset, size), offset)
                if best is None or candidate < best:
                    best = candidate
        return None if best is None else best[1]

    def _floor_at(self, offset: int, size: int) -> float:
        floor = 0.0
        for stone in self.tombstones:
            if stone.offset < offset + size and offset < stone.offset + stone.size:
                floor = max(floor, stone.done)
        return floor

    def _take_floor(self, offset: int, size: int) -> float:
        floor = 0.0
        kept = []
        for stone in self.tombstones:
            if stone.offset < offset + size and offset < stone.offset + stone.size:
                floor = max(floor, stone.done)
                if offset <= stone.offset and stone.offset + stone.size <= offset + size:
                    continue  # wholly reused: the new floor stands for it
            kept.append(stone)
        self.tombstones = kept
        return floor

    def _free(self, key: int, log: AccessLog) -> None:
        offset, size, _ = self.live.pop(key)
        self.tombstones.append(_Tombstone(offset, size, log.last_done()))


class DeviceAllocator:
    """Bump allocation in this NeuronCore's HBM, from ``base`` for ``capacity`` bytes."""

    def __init__(self, base: int, capacity: int, alignment: int = 64) -> None:
        self.base = base
        self.capacity = capacity
        self.alignment = alignment
        self.cursor = base

    def owns(self, address: int, size: int) -> bool:
        return self.base <= address and address + size <= self.base + self.capacity

    def allocate(self, region: MemoryRegion, name: str, shape: tuple[int, ...],
                 dtype: DType) -> Allocation:
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if self.cursor + size > self.base + self.capacity:
            raise KernelError("hbm-capacity",
                              f"HBM over capacity: {name or 'a tensor'} of shape {tuple(shape)} "
                              f"needs {size} bytes beyond the {self.capacity} of this core.")
        address = self.cursor
        self.cursor += -(-size // self.alignment) * self.alignment
        array = np.zeros(shape, dtype=dtype.storage)
        return Allocation(region, name, dtype, array, address, size)
