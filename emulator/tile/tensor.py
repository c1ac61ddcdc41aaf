"""Tensors: views of an allocation, indexed like NKI tiles.

A :class:`Tensor` holds a numpy view of its allocation's array and the *box* it covers in
allocation coordinates, which the scheduler uses to find overlapping accesses. On-chip tensors
(SBUF, PSUM) keep at least two dimensions: an integer index on the partition dimension keeps it
with size 1, and an integer index on a free dimension drops it unless that would leave fewer
than two. Device (HBM) tensors index as numpy does. Index arrays built from ``nl.arange`` are
accepted where they describe an evenly spaced range (the legacy NKI indexing style).
"""

from __future__ import annotations

import math

import numpy as np

from .dtypes import DType
from .errors import KernelError
from .memory import Allocation, Box, MemoryRegion


class Tensor:
    """A view of (part of) an allocation.

    Attributes
    ----------
    shape : tuple[int, ...]
    dtype : DType
    buffer : MemoryRegion
    name : str
    """

    __slots__ = ("allocation", "array", "box", "_axes")

    def __init__(self, allocation: Allocation, array: np.ndarray, box: Box,
                 axes: tuple[tuple[int, int, int], ...] | None) -> None:
        self.allocation = allocation
        self.array = array
        self.box = box
        # Per view dimension: (allocation dimension, origin, step), or None after a reshape.
        self._axes = axes

    @classmethod
    def whole(cls, allocation: Allocation) -> Tensor:
        shape = allocation.array.shape
        axes = tuple((dim, 0, 1) for dim in range(len(shape)))
        return cls(allocation, allocation.array, tuple((0, size) for size in shape), axes)

    # -- attributes in the NKI style ---------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> DType:
        return self.allocation.dtype

    @property
    def buffer(self) -> MemoryRegion:
        return self.allocation.region

    @property
    def name(self) -> str:
        return self.allocation.name

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def size(self) -> int:
        return int(self.array.size)

    @property
    def on_chip(self) -> bool:
        return self.allocation.region.kind in ("sbuf", "psum")

    @property
    def kind(self) -> str:
        return self.allocation.region.kind

    @property
    def partitions(self) -> int:
        return self.array.shape[0] if self.array.ndim else 1

    @property
    def free_size(self) -> int:
        """Elements per partition."""
        return math.prod(self.array.shape[1:])

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<tensor{label} {self.shape} {self.dtype} in {self.buffer}>"

    def __len__(self) -> int:
        return self.shape[0]

    def __bool__(self) -> bool:
        raise KernelError("tensor-truth", "a tensor has no truth value at trace time; compare "
                          "shapes or use nl.equal and a reduction instead.")

    # -- views --------------------------------------------------------------------------------

    def __getitem__(self, key: object) -> Tensor:
        items = _expand(key, self.ndim)
        items = [_as_slice_or_int(item, size) for item, size in zip(items, self.shape,
                                                                      strict=True)]
        if self.on_chip:
            if isinstance(items[0], int):
                items[0] = slice(items[0], items[0] + 1)
            kept = sum(1 for item in items if isinstance(item, slice))
            if kept < 2:
                for position in range(len(items) - 1, 0, -1):
                    if isinstance(items[position], int):
                        value = items[position]
                        items[position] = slice(value, value + 1)
                        break
        view = self.array[tuple(items)]
        box = list(self.box)
        axes: list[tuple[int, int, int]] | None = [] if self._axes is not None else None
        for position, item in enumerate(items):
            if self._axes is None:
                continue
            dimension, origin, step = self._axes[position]
            if isinstance(item, int):
                index = origin + item * step
                box[dimension] = (index, index + 1)
                continue
            start, _, stride = item.indices(self.shape[position])
            count = len(range(*item.indices(self.shape[position])))
            first = origin + start * step
            new_step = step * stride
            if count:
                last = first + (count - 1) * new_step
                box[dimension] = (min(first, last), max(first, last) + 1)
            else:
                box[dimension] = (first, first)
            axes.append((dimension, first, new_step))  # type: ignore[union-attr]
        return Tensor(self.allocation, view, tuple(box), tuple(axes) if axes is not None
                      else None)

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """A view with another shape (the box stays that of this view)."""
        new_shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) \
            else tuple(shape)  # type: ignore[arg-type]
        if self.on_chip and new_shape[0] != self.shape[0]:
            raise KernelError("reshape", f"reshaping an on-chip tile from {self.shape} to "
                              f"{new_shape} would move data across partitions; keep dimension "
                              "0 unchanged.")
        try:
            view = self.array.view().reshape(new_shape)
        except ValueError:
            raise KernelError("reshape", f"cannot view {self.shape} as {new_shape}: sizes "
                              "differ or the view is not contiguous.") from None
        view_copy_check = np.shares_memory(view, self.array)
        if not view_copy_check and view.size:
            raise KernelError("reshape", f"cannot view {self.shape} as {new_shape} without "
                              "copying; copy to a contiguous tile first.")
        return Tensor(self.allocation, view, self.box, None)

    def ap(self, *args: object, **kwargs: object) -> Tensor:
        raise KernelError("access-pattern", "raw access patterns (.ap) are not emulated; use "
                          "slicing and reshape.")

    # -- values (tests and the launcher) ------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """A copy of the values (floats as float32)."""
        from .core import _active
        if _active:
            _active[-1].flush_matmuls()
        return np.array(self.array)

    # -- operators in the legacy style ------------------------------------------------------

    def _binary(self, name: str, other: object, reverse: bool = False) -> Tensor:
        from . import language
        function = getattr(language, name)
        return function(other, self) if reverse else function(self, other)

    def __add__(self, other: object) -> Tensor:
        return self._binary("add", other)

    def __radd__(self, other: object) -> Tensor:
        return self._binary("add", other, reverse=True)

    def __sub__(self, other: object) -> Tensor:
        return self._binary("subtract", other)

    def __rsub__(self, other: object) -> Tensor:
        return self._binary("subtract", other, reverse=True)

    def __mul__(self, other: object) -> Tensor:
        return self._binary("multiply", other)

    def __rmul__(self, other: object) -> Tensor:
        return self._binary("multiply", other, reverse=True)

    def __truediv__(self, other: object) -> Tensor:
        return self._binary("divide", other)

    def __neg__(self) -> Tensor:
        from . import language
        return language.negative(self)

    def __iadd__(self, other: object) -> Tensor:
        from . import language
        language.accumulate_into(self, other)
        return self

    def __setitem__(self, key: object, value: object) -> None:
        from . import language
        language.assign(self[key], value)


def _expand(key: object, ndim: int) -> list[object]:
    items = list(key) if isinstance(key, tuple) else [key]
    if sum(1 for item in items if item is Ellipsis) > 1:
        raise KernelError("indexing", "an index may contain at most one '...'.")
    if Ellipsis in [item for item in items if not isinstance(item, np.ndarray)]:
        position = next(index for index, item in enumerate(items)
                        if not isinstance(item, np.ndarray) and item is Ellipsis)
        fill = ndim - (len(items) - 1)
        items[position:position + 1] = [slice(None)] * fill
    if len(items) > ndim:
        raise KernelError("indexing", f"{len(items)} indices for a tensor of {ndim} dimensions.")
    return items + [slice(None)] * (ndim - len(items))


def _as_slice_or_int(item: object, size: int) -> slice | int:
    if isinstance(item, slice):
        return item
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        value = int(item)
        if not -size <= value < size:
            raise KernelError("index-range", f"index {value} is out of range for a dimension "
                              f"of size {size}.")
        return value % size
    if isinstance(item, np.ndarray) and item.dtype.kind in "iu":
        flat = item.reshape(-1)
        if flat.size == 1:
            return slice(int(flat[0]), int(flat[0]) + 1)
        steps = np.diff(flat)
        if steps.size and steps[0] > 0 and np.all(steps == steps[0]):
            start, stop = int(flat[0]), int(flat[-1]) + 1
            if start < 0 or stop > size:
                raise KernelError("index-range", f"indices {start}..{stop - 1} are out of "
                                  f"range for a dimension of size {size}.")
            return slice(start, stop, int(steps[0]))
        raise KernelError("indexing", "only evenly increasing index arrays (affine expressions "
                          "of nl.arange) are supported.")
    raise KernelError("indexing", f"unsupported index {item!r}; use integers, slices, nl.ds "
                      "or nl.arange expressions.")
