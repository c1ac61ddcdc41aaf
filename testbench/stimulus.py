"""Random stimulus built through the layouts, so every field is legal and every width exact."""

from __future__ import annotations

import random

from emulator.scenarios.stimulus import random_packet  # noqa: F401  (the testbenches' name)
from hdl.layouts import FLIT_BITS


def flip_bits(rng: random.Random, flits: list[int], flit_error_rate: float,
              burst: int = 1) -> tuple[list[int], list[int]]:
    """A copy of ``flits`` where each flit, with the given probability, has ``burst``
    adjacent bits inverted; also the indices of the corrupted flits."""
    corrupted = list(flits)
    hits = []
    for index in range(len(corrupted)):
        if rng.random() < flit_error_rate:
            start = rng.randrange(FLIT_BITS - burst + 1)
            corrupted[index] ^= ((1 << burst) - 1) << start
            hits.append(index)
    return corrupted, hits
