"""Pinning the thread count of numpy's OpenBLAS, for benchmarks that compare like with like.

Multi-threaded OpenBLAS slows mid-sized GEMMs down badly when its threads share cores with
other work, so the benchmark runs both sides of a comparison with the same, fixed count.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
            "openblas_get_num_threads")


def _library() -> ctypes.CDLL | None:
    folder = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for candidate in sorted(folder.glob("*openblas*")):
        try:
            return ctypes.CDLL(str(candidate))
        except OSError:
            continue
    return None


def _function(names: tuple[str, ...]):
    library = _library()
    if library is None:
        return None
    for name in names:
        function = getattr(library, name, None)
        if function is not None:
            return function
    return None


def set_threads(count: int) -> bool:
    """Use ``count`` BLAS threads from now on; False when numpy's BLAS cannot be reached."""
    setter = _function(_SETTERS)
    if setter is None:
        return False
    setter(ctypes.c_int(count))
    return True


def get_threads() -> int | None:
    """The current BLAS thread count, or None when unknown."""
    getter = _function(_GETTERS)
    return None if getter is None else int(getter())
