"""Random packets built through the layouts, so every field is legal and every width exact.

Used by the scenarios and benchmarks here and by the testbenches (``testbench.stimulus``).
"""

from __future__ import annotations

import random

from hdl.layouts import (
    FLIT_BITS,
    LINK_HEADER,
    MAX_PAYLOAD_FLITS,
    TRANSACTION_HEADER,
    Command,
    field_width,
)
from hdl.params import LinkParams

from ..ref.framing import Packet


def _random_fields(rng: random.Random, layout, skip: tuple[str, ...] = ()) -> dict:
    values = {}
    for name, _member in layout:
        if name in skip:
            continue
        if name == "command":
            values[name] = rng.choice(list(Command))
        else:
            values[name] = rng.getrandbits(field_width(layout, name))
    return values


def random_packet(rng: random.Random, params: LinkParams, length: int | None = None) -> Packet:
    """A PACKET with random header fields and ``length`` random payload flits (random when
    not given, 0 to the most a header allows)."""
    if length is None:
        length = rng.randint(0, MAX_PAYLOAD_FLITS)
    link = _random_fields(rng, LINK_HEADER, skip=("kind", "length", "vc"))
    link["vc"] = rng.randrange(params.virtual_channels)
    payload = [rng.getrandbits(FLIT_BITS) for _ in range(length)]
    return Packet.build(payload, link=link, transaction=_random_fields(rng, TRANSACTION_HEADER))
