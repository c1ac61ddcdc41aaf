"""The system layer: collective operations on the network protocol, with real data.

A collective is planned as a graph of *nodes* on the ranks of a group: a :class:`Send` moves a
piece of data from one rank to another (one :class:`~emulator.system.network.Transfer`, its
payload the piece's bytes), a :class:`Combine` reduces pieces a rank holds, in a fixed order,
or copies one. The engine posts every send whose dependencies are met, advances the network,
and on each completion stores the bytes that *arrived* (``Completion.payload``) and releases
what waits for them: a send that forwards a piece leaves as soon as the transfer that brought
the piece has been delivered (its ``earliest`` is that ``Completion.delivered``), so the chunks
of a message pipeline through the steps of an algorithm as in NCCL.

Operations, algorithms (``SUPPORTED`` says which pairs exist), chunking, timing, the bus
bandwidth and the correctness check are described in docs/collectives.md. Everything is
deterministic: inputs come from a seed, and the plan and its posting order from the arguments.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from emulator.tile.dtypes import round_bfloat16
from hdl.params import ConfigError

from .network import Network, Transfer

#: Operations, by canonical name.
OPS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "reduce",
       "permute")
#: Other spellings accepted for an operation, nccl-tests' program names among them.
OP_ALIASES = {
    "allreduce": "all_reduce", "reducescatter": "reduce_scatter", "allgather": "all_gather",
    "alltoall": "all_to_all", "bcast": "broadcast", "sendrecv": "permute",
    "send_recv": "permute", "collective_permute": "permute",
}
ALGORITHMS = ("ring", "direct", "halving_doubling", "tree")
ALGORITHM_ALIASES = {"one_shot": "direct", "oneshot": "direct", "rabenseifner": "halving_doubling",
                     "hd": "halving_doubling", "double_binary_tree": "tree"}
#: Which algorithms each operation has (the first is the default).
SUPPORTED: dict[str, tuple[str, ...]] = {
    "all_reduce": ("ring", "direct", "halving_doubling", "tree"),
    "reduce_scatter": ("ring", "direct", "halving_doubling"),
    "all_gather": ("ring", "direct", "halving_doubling"),
    "all_to_all": ("direct",),
    "broadcast": ("ring", "direct"),
    "reduce": ("ring", "direct"),
    "permute": ("direct",),
}
#: Why an algorithm is missing where it is.
MISSING_REASON = {
    "ring": "a ring would store and forward every piece; NCCL sends all-to-all and send/recv "
            "point to point",
    "halving_doubling": "recursive halving-doubling is built for all-reduce, reduce-scatter and "
                        "all-gather",
    "tree": "NCCL builds its double binary tree for all-reduce only",
}
#: Operations whose nccl-tests size is the total over ranks (count is per rank or per peer).
PER_RANK_COUNT = ("reduce_scatter", "all_gather", "all_to_all")
#: Operations that reduce, and those that have a root.
REDUCING = ("all_reduce", "reduce_scatter", "reduce")
ROOTED = ("broadcast", "reduce")
REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}

#: NCCL's simple-protocol buffer is 4 MiB in 8 steps: a chunk is one step's 512 KiB.
DEFAULT_CHUNK_BYTES = 512 * 1024
#: Bytes one rank may have posted and not yet completed; more waits in the rank's queue.
DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024
#: Host memory a run may hold in rank buffers, staged pieces and payloads under way.
DEFAULT_MEMORY_BYTES = 8 * 1024 ** 3


@dataclass(frozen=True)
class DataType:
    """An element type: its nccl-tests name, bytes per element, and how ranks hold it.

    ``storage`` is the numpy type of the rank buffers. bfloat16 is held as float32 values
    already rounded to bfloat16 (as in :mod:`emulator.tile.dtypes`) and travels as its two
    high bytes; a reduction adds in float32 and rounds the sum to nearest even.
    ``unit_roundoff`` is half the spacing of the type's numbers at 1 (0 for integers).
    """

    name: str
    itemsize: int
    storage: np.dtype
    unit_roundoff: float = 0.0

    @property
    def is_float(self) -> bool:
        return self.unit_roundoff > 0

    @property
    def _bfloat16(self) -> bool:
        return self.name == "bfloat16"

    def convert(self, values: np.ndarray) -> np.ndarray:
        """``values`` as this type's storage (rounded for bfloat16)."""
        if self._bfloat16:
            return round_bfloat16(np.asarray(values, dtype=np.float32))
        return np.asarray(values).astype(self.storage)

    def encode(self, values: np.ndarray) -> np.ndarray:
        """The bytes of ``values`` as they travel: a new uint8 array."""
        if self._bfloat16:
            bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
            return (bits >> np.uint32(16)).astype(np.uint16).view(np.uint8)
        return np.array(values, dtype=self.storage).view(np.uint8)

    def decode(self, payload: np.ndarray) -> np.ndarray:
        """Values from bytes made by :meth:`encode`: a new array of the storage type."""
        data = np.ascontiguousarray(payload)
        if self._bfloat16:
            return (data.view(np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)
        return data.view(self.storage).copy()

    def reduce(self, redop: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """``left`` op ``right`` in this type (a new array)."""
        result = REDUCTIONS[redop](left, right)
        return round_bfloat16(result) if self._bfloat16 else result


DATATYPES: dict[str, DataType] = {item.name: item for item in (
    DataType("int8", 1, np.dtype(np.int8)),
    DataType("uint8", 1, np.dtype(np.uint8)),
    DataType("int32", 4, np.dtype(np.int32)),
    DataType("uint32", 4, np.dtype(np.uint32)),
    DataType("int64", 8, np.dtype(np.int64)),
    DataType("uint64", 8, np.dtype(np.uint64)),
    DataType("half", 2, np.dtype(np.float16), 2.0 ** -11),
    DataType("float", 4, np.dtype(np.float32), 2.0 ** -24),
    DataType("double", 8, np.dtype(np.float64), 2.0 ** -53),
    DataType("bfloat16", 2, np.dtype(np.float32), 2.0 ** -8),
)}
DATATYPE_ALIASES = {"float32": "float", "fp32": "float", "f32": "float", "float16": "half",
                    "fp16": "half", "f16": "half", "bf16": "bfloat16", "float64": "double",
                    "fp64": "double", "f64": "double", "char": "int8", "int": "int32"}


def _resolve(kind: str, name: str, valid: Sequence[str], aliases: dict[str, str]) -> str:
    key = str(name).strip().lower().replace("-", "_")
    key = key.removesuffix("_perf")
    key = aliases.get(key, key)
    if key not in valid:
        raise ConfigError(f"Unknown {kind} {name!r}; valid ones are {', '.join(valid)}.")
    return key


def resolve_op(name: str) -> str:
    """The canonical name of an operation (``allreduce``, ``all_reduce_perf`` accepted)."""
    return _resolve("operation", name, OPS, OP_ALIASES)


def resolve_algo(name: str) -> str:
    return _resolve("algorithm", name, ALGORITHMS, ALGORITHM_ALIASES)


def datatype(name: str | DataType) -> DataType:
    """The :class:`DataType` named ``name`` (nccl-tests names and the usual aliases)."""
    if isinstance(name, DataType):
        return name
    return DATATYPES[_resolve("data type", name, tuple(DATATYPES), DATATYPE_ALIASES)]


def check_pair(op: str, algo: str) -> None:
    """A :class:`ConfigError` naming the algorithms ``op`` has if ``algo`` is not one."""
    if algo not in SUPPORTED[op]:
        raise ConfigError(f"{op} has no {algo} algorithm ({MISSING_REASON.get(algo, '')}); "
                          f"its algorithms are {', '.join(SUPPORTED[op])}.")


def check_group(group: Sequence[int], endpoints: int) -> tuple[int, ...]:
    """``group`` as a tuple after checking it names two or more distinct endpoints that exist."""
    members = tuple(group)
    for member in members:
        if not isinstance(member, (int, np.integer)) or isinstance(member, bool) \
                or not 0 <= member < endpoints:
            raise ConfigError(f"group member {member!r} is not an endpoint of this rack "
                              f"(0 to {endpoints - 1})")
    if len(set(members)) != len(members):
        raise ConfigError(f"group {list(members)} names an endpoint twice; each rank is its own "
                          "endpoint")
    if len(members) < 2:
        raise ConfigError(f"group {list(members)} has {len(members)} rank; a collective needs "
                          "two or more to cross the fabric")
    return tuple(int(member) for member in members)


def bus_factor(op: str, ranks: int) -> float:
    """nccl-tests' bus bandwidth factor (doc/PERFORMANCE.md): busbw = algbw x factor."""
    op = resolve_op(op)
    if op == "all_reduce":
        return 2 * (ranks - 1) / ranks
    if op in PER_RANK_COUNT:
        return (ranks - 1) / ranks
    return 1.0


def nccl_size(op: str, ranks: int, count: int, itemsize: int) -> int:
    """The size nccl-tests prints and divides by the time: the total over ranks for
    reduce-scatter and all-gather (count is per rank), the whole per-rank buffer for
    all-to-all (count is per peer), else the buffer of ``count`` elements."""
    return count * itemsize * (ranks if resolve_op(op) in PER_RANK_COUNT else 1)


def count_for_size(op: str, ranks: int, size: int, itemsize: int) -> int:
    """The ``count`` nccl-tests runs for a size in bytes (rounded down, as it does)."""
    elements = size // itemsize
    return elements // ranks if resolve_op(op) in PER_RANK_COUNT else elements


def buffer_lengths(op: str, ranks: int, count: int) -> tuple[int, int]:
    """Elements of each rank's input and output buffers."""
    if op == "reduce_scatter":
        return ranks * count, count
    if op == "all_gather":
        return count, ranks * count
    if op == "all_to_all":
        return ranks * count, ranks * count
    return count, count


# --- plans ------------------------------------------------------------------------------------

INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True)
class Region:
    """Elements ``start`` to ``stop`` of a rank's ``input`` or ``output`` buffer."""

    buffer: str
    start: int
    stop: int

    def shifted(self, offset: int, buffer: str | None = None) -> Region:
        return Region(buffer or self.buffer, self.start + offset, self.stop + offset)


#: What a node reads: a region of the rank's buffers, or the value node ``int`` staged there.
Value = Region | int


@dataclass(frozen=True)
class Send:
    """Rank ``source`` sends ``data``; it lands in ``into`` at ``destination``, or is staged
    there (``into`` None) for a later node. Posted once every node of ``after`` is done."""

    source: int
    destination: int
    data: Value
    into: Region | None
    after: tuple[int, ...]
    length: int


@dataclass(frozen=True)
class Combine:
    """Rank ``rank`` reduces ``inputs`` left to right (one input: a copy) into ``into``, or
    stages the result (``into`` None). Takes no time; runs once every node of ``after`` is
    done."""

    rank: int
    inputs: tuple[Value, ...]
    into: Region | None
    after: tuple[int, ...]
    length: int


class _LastWriter:
    """Which node last wrote each element range of one buffer of one rank."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._spans: list[tuple[int, int, int]] = []

    def overlapping(self, start: int, stop: int) -> set[int]:
        index = max(bisect.bisect_right(self._starts, start) - 1, 0)
        found = set()
        while index < len(self._spans) and self._spans[index][0] < stop:
            if self._spans[index][1] > start:
                found.add(self._spans[index][2])
            index += 1
        return found

    def write(self, start: int, stop: int, node: int) -> None:
        first = max(bisect.bisect_right(self._starts, start) - 1, 0)
        last = first
        kept = []
        while last < len(self._spans) and self._spans[last][0] < stop:
            low, high, writer = self._spans[last]
            if high > start:
                if low < start:
                    kept.append((low, start, writer))
                if high > stop:
                    kept.append((stop, high, writer))
            else:
                kept.append((low, high, writer))
            last += 1
        spans = sorted(kept + [(start, stop, node)])
        self._spans[first:last] = spans
        self._starts[first:last] = [span[0] for span in spans]


class Plan:
    """The nodes of one collective on ``ranks`` ranks, in an order where every node comes
    after the nodes it waits for.

    Builders name only what a node reads and where it writes; a node reading a region waits
    for the last node that wrote any of it (on that rank), and one reading a staged value for
    the node that staged it. Other waits are given as ``after``.
    """

    def __init__(self, ranks: int, input_length: int, output_length: int) -> None:
        self.ranks = ranks
        self.input_length = input_length
        self.output_length = output_length
        self.nodes: list[Send | Combine] = []
        self.holder: list[int] = []  # the rank that holds each node's staged value
        self.uses: list[int] = []  # how many nodes read each node's staged value
        self._writers = [{INPUT: _LastWriter(), OUTPUT: _LastWriter()} for _ in range(ranks)]

    def _length(self, value: Value) -> int:
        if isinstance(value, Region):
            return value.stop - value.start
        return self.nodes[value].length

    def _reads(self, rank: int, value: Value) -> set[int]:
        if isinstance(value, Region):
            return self._writers[rank][value.buffer].overlapping(value.start, value.stop)
        assert self.holder[value] == rank, "a rank reads only the values staged at it"
        self.uses[value] += 1
        return {value}

    def _add(self, node: Send | Combine, rank: int) -> int:
        index = len(self.nodes)
        self.nodes.append(node)
        self.holder.append(rank)
        self.uses.append(0)
        if node.into is not None:
            self._writers[rank][node.into.buffer].write(node.into.start, node.into.stop, index)
        return index

    def send(self, source: int, destination: int, data: Value, into: Region | None = None,
             after: Sequence[int] = ()) -> int:
        length = self._length(data)
        assert length > 0 and source != destination
        assert into is None or into.stop - into.start == length
        waits = self._reads(source, data) | set(after)
        return self._add(Send(source, destination, data, into, tuple(sorted(waits)), length),
                         destination)

    def combine(self, rank: int, inputs: Sequence[Value], into: Region | None = None,
                after: Sequence[int] = ()) -> int:
        length = self._length(inputs[0])
        assert all(self._length(value) == length for value in inputs)
        waits = set(after)
        for value in inputs:
            waits |= self._reads(rank, value)
        return self._add(Combine(rank, tuple(inputs), into, tuple(sorted(waits)), length), rank)


@dataclass(frozen=True)
class _Shape:
    """What a builder needs of a collective: ranks, ``count`` as NCCL counts it, the largest
    piece in elements, the root and, for permute, each rank's peer."""

    ranks: int
    count: int
    chunk: int  # elements per piece at most
    root: int
    peers: tuple[int, ...]


def _blocks(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    """``[start, stop)`` in ``parts`` near-equal contiguous blocks (some may be empty)."""
    total = stop - start
    return [(start + part * total // parts, start + (part + 1) * total // parts)
            for part in range(parts)]


def _cut(start: int, stop: int, chunk: int) -> list[Region]:
    """``[start, stop)`` of the input buffer in pieces of at most ``chunk`` elements."""
    return [Region(INPUT, low, min(low + chunk, stop)) for low in range(start, stop, chunk)]


def _out(piece: Region, offset: int = 0) -> Region:
    return piece.shifted(offset, OUTPUT)


def _segment_pieces(shape: _Shape, segment: int) -> list[Region]:
    """Pieces of segment ``segment`` (``count`` elements from ``segment * count``)."""
    return _cut(segment * shape.count, (segment + 1) * shape.count, shape.chunk)


# --- ring -------------------------------------------------------------------------------------


def _reduce_chain(plan: Plan, ranks: Sequence[int], own: Region, into: Region) -> None:
    """Reduce ``own`` of every rank along ``ranks``: each adds its own piece to the partial
    result it received and passes it on; the last one stores the total in ``into``."""
    value: Value = own
    for previous, rank in zip(ranks, ranks[1:], strict=False):
        arrived = plan.send(previous, rank, value)
        value = plan.combine(rank, (arrived, own), into if rank == ranks[-1] else None)


def _copy_chain(plan: Plan, ranks: Sequence[int], first: Value, into: Region) -> None:
    """Pass ``first`` (held by ``ranks[0]``) along ``ranks`` into ``into`` of each."""
    value = first
    for previous, rank in zip(ranks, ranks[1:], strict=False):
        plan.send(previous, rank, value, into)
        value = into


def _around(start: int, ranks: int) -> list[int]:
    return [(start + step) % ranks for step in range(ranks)]


def _ring_all_reduce(plan: Plan, shape: _Shape) -> None:
    n = shape.ranks
    for segment, (low, high) in enumerate(_blocks(0, shape.count, n)):
        for piece in _cut(low, high, shape.chunk):
            _reduce_chain(plan, _around(segment + 1, n), piece, _out(piece))
            _copy_chain(plan, _around(segment, n), _out(piece), _out(piece))


def _ring_reduce_scatter(plan: Plan, shape: _Shape) -> None:
    for segment in range(shape.ranks):
        for piece in _segment_pieces(shape, segment):
            _reduce_chain(plan, _around(segment + 1, shape.ranks), piece,
                          _out(piece, -segment * shape.count))


def _own_copies(plan: Plan, ranks: Sequence[int], pieces: Sequence[Region], offset) -> None:
    """Each of ``ranks`` copies its input pieces to its output at ``offset(rank)``."""
    for rank in ranks:
        for piece in pieces:
            plan.combine(rank, (piece,), _out(piece, offset(rank)))


def _ring_all_gather(plan: Plan, shape: _Shape) -> None:
    pieces = _cut(0, shape.count, shape.chunk)
    _own_copies(plan, range(shape.ranks), pieces, lambda rank: rank * shape.count)
    for segment in range(shape.ranks):
        for piece in pieces:
            _copy_chain(plan, _around(segment, shape.ranks), piece,
                        _out(piece, segment * shape.count))


def _ring_broadcast(plan: Plan, shape: _Shape) -> None:
    pieces = _cut(0, shape.count, shape.chunk)
    _own_copies(plan, [shape.root], pieces, lambda rank: 0)
    for piece in pieces:
        _copy_chain(plan, _around(shape.root, shape.ranks), piece, _out(piece))


def _ring_reduce(plan: Plan, shape: _Shape) -> None:
    for piece in _cut(0, shape.count, shape.chunk):
        _reduce_chain(plan, _around(shape.root + 1, shape.ranks), piece, _out(piece))


# --- direct (one-shot): every rank writes its pieces straight to every other --------------------


def _pairs(ranks: int):
    """(source, destination) for every ordered pair, each source starting with its next rank
    so that no destination is everyone's first."""
    for step in range(1, ranks):
        for source in range(ranks):
            yield source, (source + step) % ranks


def _direct_all_reduce(plan: Plan, shape: _Shape) -> None:
    n = shape.ranks
    for piece in _cut(0, shape.count, shape.chunk):
        arrived = {(source, destination): plan.send(source, destination, piece)
                   for source, destination in _pairs(n)}
        for rank in range(n):
            inputs = [piece if source == rank else arrived[source, rank] for source in range(n)]
            # In place the result overwrites what the rank sends: after its sends, then.
            own = [arrived[rank, other] for other in range(n) if other != rank]
            plan.combine(rank, inputs, _out(piece), after=own)


def _direct_reduce_scatter(plan: Plan, shape: _Shape) -> None:
    n = shape.ranks
    segments = [_segment_pieces(shape, rank) for rank in range(n)]
    for index in range(len(segments[0])):
        arrived = {(source, destination): plan.send(source, destination,
                                                    segments[destination][index])
                   for source, destination in _pairs(n)}
        for rank in range(n):
            piece = segments[rank][index]
            inputs = [piece if source == rank else arrived[source, rank] for source in range(n)]
            plan.combine(rank, inputs, _out(piece, -rank * shape.count))


def _direct_all_gather(plan: Plan, shape: _Shape) -> None:
    pieces = _cut(0, shape.count, shape.chunk)
    _own_copies(plan, range(shape.ranks), pieces, lambda rank: rank * shape.count)
    for piece in pieces:
        for source, destination in _pairs(shape.ranks):
            plan.send(source, destination, piece, _out(piece, source * shape.count))


def _exchange(plan: Plan, routes: Sequence[tuple[int, int, Region, Region]]) -> None:
    """Point-to-point moves ``(source, destination, piece read, region written)``; a piece
    for another rank is staged there and copied in once that rank's own move out of the same
    region has been delivered (in place, the incoming piece overwrites what it sends)."""
    arrived = {}
    leaving = {}
    for source, destination, piece, into in routes:
        if source != destination:
            arrived[source, destination, into] = plan.send(source, destination, piece)
            leaving[source, piece] = arrived[source, destination, into]
    for source, destination, piece, into in routes:
        if source == destination:
            plan.combine(source, (piece,), into)
            continue
        own = leaving.get((destination, into.shifted(0, INPUT)))
        plan.combine(destination, (arrived[source, destination, into],), into,
                     after=[own] if own is not None else [])


def _direct_all_to_all(plan: Plan, shape: _Shape) -> None:
    count = shape.count
    routes = []
    for local in _cut(0, count, shape.chunk):
        for rank in range(shape.ranks):
            routes.append((rank, rank, local.shifted(rank * count), _out(local, rank * count)))
        for source, destination in _pairs(shape.ranks):
            routes.append((source, destination, local.shifted(destination * count),
                           _out(local, source * count)))
    _exchange(plan, routes)


def _direct_permute(plan: Plan, shape: _Shape) -> None:
    _exchange(plan, [(rank, shape.peers[rank], piece, _out(piece))
                     for piece in _cut(0, shape.count, shape.chunk)
                     for rank in range(shape.ranks)])


def _direct_broadcast(plan: Plan, shape: _Shape) -> None:
    pieces = _cut(0, shape.count, shape.chunk)
    _own_copies(plan, [shape.root], pieces, lambda rank: 0)
    for piece in pieces:
        for destination in _around(shape.root, shape.ranks)[1:]:
            plan.send(shape.root, destination, piece, _out(piece))


def _direct_reduce(plan: Plan, shape: _Shape) -> None:
    for piece in _cut(0, shape.count, shape.chunk):
        inputs = [piece if rank == shape.root else plan.send(rank, shape.root, piece)
                  for rank in range(shape.ranks)]
        plan.combine(shape.root, inputs, _out(piece))


# --- recursive halving-doubling -----------------------------------------------------------------


def fold(ranks: int) -> tuple[list[int], int]:
    """The members of halving-doubling on ``ranks`` ranks, and how many ranks fold.

    With ``p`` the largest power of two not above ``ranks`` and ``extra = ranks - p``, rank
    ``2i`` (``i < extra``) first hands its data to rank ``2i + 1`` and sits out; the ``p``
    members are ranks ``2i + 1`` then ``2 extra`` onwards. Member ``v`` stands for the ranks
    ``2v, 2v + 1`` if ``v < extra``, else rank ``v + extra``.
    """
    extra = ranks - (1 << (ranks.bit_length() - 1))
    return [2 * index + 1 for index in range(extra)] + list(range(2 * extra, ranks)), extra


def _halve(plan: Plan, members: Sequence[int], pieces_of: Callable[[int], list[Region]],
           values: list[dict[Region, Value]]) -> None:
    """Recursive halving among ``members``: at distance p/2, p/4, ... 1 each member sends the
    half of its blocks its partner keeps and reduces the half it keeps; in the end member
    ``v`` holds block ``v`` reduced over all, in ``values[v]`` (piece -> value)."""
    count = len(members)
    spans = [(0, count)] * count
    distance = count // 2
    while distance:
        arrived = {}
        kept = []
        for member in range(count):
            low, high = spans[member]
            middle = (low + high) // 2
            keep, give = ((low, middle), (middle, high)) if not member & distance \
                else ((middle, high), (low, middle))
            partner = member ^ distance
            for block in range(*give):
                for piece in pieces_of(block):
                    arrived[partner, piece] = plan.send(members[member], members[partner],
                                                        values[member].pop(piece))
            kept.append(keep)
        for member in range(count):
            partner = member ^ distance
            for block in range(*kept[member]):
                for piece in pieces_of(block):
                    pair = [values[member][piece], arrived[member, piece]]
                    if member > partner:  # the lower member's value first, on both sides
                        pair.reverse()
                    values[member][piece] = plan.combine(members[member], pair)
        spans = kept
        distance //= 2


def _double(plan: Plan, members: Sequence[int],
            pieces_of: Callable[[int], list[Region]]) -> None:
    """Recursive doubling among ``members``: member ``v`` holds block ``v`` in its output;
    at distance 1, 2, 4 ... each sends all it holds to its partner, into the same place."""
    distance = 1
    while distance < len(members):
        for member, rank in enumerate(members):
            first = member // distance * distance
            for block in range(first, first + distance):
                for piece in pieces_of(block):
                    plan.send(rank, members[member ^ distance], _out(piece), _out(piece))
        distance *= 2


def _represented(member: int, extra: int) -> list[int]:
    return [2 * member, 2 * member + 1] if member < extra else [member + extra]


def _folded_values(plan: Plan, ranks: int, pieces: list[Region]) -> list[dict]:
    """Each member's starting values: its input, or for a member standing for two ranks the
    sum of both (the lower rank's data first)."""
    members, extra = fold(ranks)
    values = []
    for member, rank in enumerate(members):
        if member < extra:
            values.append({piece: plan.combine(rank, (plan.send(rank - 1, rank, piece), piece))
                           for piece in pieces})
        else:
            values.append({piece: piece for piece in pieces})
    return values


def _hd_all_reduce(plan: Plan, shape: _Shape) -> None:
    members, extra = fold(shape.ranks)
    blocks = [_cut(low, high, shape.chunk) for low, high in _blocks(0, shape.count, len(members))]
    pieces = [piece for block in blocks for piece in block]
    values = _folded_values(plan, shape.ranks, pieces)
    _halve(plan, members, blocks.__getitem__, values)
    for member, rank in enumerate(members):
        for piece in blocks[member]:
            plan.combine(rank, (values[member][piece],), _out(piece))
    _double(plan, members, blocks.__getitem__)
    for member in range(extra):
        for piece in pieces:
            plan.send(members[member], members[member] - 1, _out(piece), _out(piece))


def _hd_reduce_scatter(plan: Plan, shape: _Shape) -> None:
    members, extra = fold(shape.ranks)
    count = shape.count

    def pieces_of(member: int) -> list[Region]:
        return [piece for rank in _represented(member, extra)
                for piece in _segment_pieces(shape, rank)]

    pieces = [piece for member in range(len(members)) for piece in pieces_of(member)]
    values = _folded_values(plan, shape.ranks, pieces)
    _halve(plan, members, pieces_of, values)
    for member, rank in enumerate(members):
        for owner in _represented(member, extra):
            for piece in _segment_pieces(shape, owner):
                place = _out(piece, -owner * count)
                if owner == rank:
                    plan.combine(rank, (values[member][piece],), place)
                else:
                    plan.send(rank, owner, values[member][piece], place)


def _hd_all_gather(plan: Plan, shape: _Shape) -> None:
    members, extra = fold(shape.ranks)
    count = shape.count
    local = _cut(0, count, shape.chunk)
    _own_copies(plan, range(shape.ranks), local, lambda rank: rank * count)
    for member in range(extra):
        for piece in local:
            plan.send(2 * member, 2 * member + 1, piece, _out(piece, 2 * member * count))

    def pieces_of(member: int) -> list[Region]:
        return [piece for rank in _represented(member, extra)
                for piece in _segment_pieces(shape, rank)]

    _double(plan, members, pieces_of)
    for member in range(extra):
        for rank in range(shape.ranks):
            if rank != 2 * member:
                for piece in _segment_pieces(shape, rank):
                    plan.send(2 * member + 1, 2 * member, _out(piece), _out(piece))


# --- double binary tree ---------------------------------------------------------------------------


def binary_tree(ranks: int, rank: int) -> tuple[int, list[int]]:
    """Parent (-1 at the root, rank 0) and children of ``rank`` in NCCL's binary tree
    (``ncclGetBtree`` in NCCL's src/graph/trees.cc): leaves and inner nodes alternate, ranks
    are read as binary numbers and a node's level is its lowest set bit."""
    bit = 1
    while bit < ranks and not bit & rank:
        bit <<= 1
    if rank == 0:
        return -1, [bit >> 1] if ranks > 1 else []
    parent = (rank ^ bit) | (bit << 1)
    if parent >= ranks:
        parent = rank ^ bit
    step = bit >> 1
    children = [rank - step] if step else []
    while step:
        if rank + step < ranks:
            children.append(rank + step)
            break
        step >>= 1
    return parent, children


def double_binary_tree(ranks: int) -> list[tuple[list[int], list[list[int]]]]:
    """NCCL's two trees (``ncclGetDtree``): the binary tree, and for the second the same tree
    mirrored (rank r plays n-1-r) if ``ranks`` is even, or shifted by one if odd, so a rank
    that is a leaf in one tree is mostly an inner node in the other. Each tree is (parents,
    children) indexed by rank."""
    def role(rank: int) -> int:
        return ranks - 1 - rank if ranks % 2 == 0 else (rank - 1) % ranks

    def back(rank: int) -> int:
        return ranks - 1 - rank if ranks % 2 == 0 else (rank + 1) % ranks

    first = [binary_tree(ranks, rank) for rank in range(ranks)]
    second = []
    for rank in range(ranks):
        parent, children = binary_tree(ranks, role(rank))
        second.append((-1 if parent < 0 else back(parent), [back(child) for child in children]))
    return [([node[0] for node in tree], [node[1] for node in tree]) for tree in (first, second)]


def _tree_piece(plan: Plan, tree: tuple[list[int], list[list[int]]], piece: Region) -> None:
    parents, children = tree
    root = parents.index(-1)

    def up(rank: int) -> Value:
        arrived = [plan.send(child, rank, up(child)) for child in children[rank]]
        if not arrived:
            return piece
        return plan.combine(rank, [piece, *arrived], _out(piece) if rank == root else None)

    def down(rank: int) -> None:
        for child in children[rank]:
            plan.send(rank, child, _out(piece), _out(piece))
            down(child)

    up(root)
    down(root)


def _tree_all_reduce(plan: Plan, shape: _Shape) -> None:
    trees = double_binary_tree(shape.ranks)
    halves = [_cut(low, high, shape.chunk) for low, high in _blocks(0, shape.count, 2)]
    for index in range(max(len(half) for half in halves)):
        for tree, half in zip(trees, halves, strict=True):
            if index < len(half):
                _tree_piece(plan, tree, half[index])


_BUILDERS: dict[tuple[str, str], Callable[[Plan, _Shape], None]] = {
    ("all_reduce", "ring"): _ring_all_reduce,
    ("all_reduce", "direct"): _direct_all_reduce,
    ("all_reduce", "halving_doubling"): _hd_all_reduce,
    ("all_reduce", "tree"): _tree_all_reduce,
    ("reduce_scatter", "ring"): _ring_reduce_scatter,
    ("reduce_scatter", "direct"): _direct_reduce_scatter,
    ("reduce_scatter", "halving_doubling"): _hd_reduce_scatter,
    ("all_gather", "ring"): _ring_all_gather,
    ("all_gather", "direct"): _direct_all_gather,
    ("all_gather", "halving_doubling"): _hd_all_gather,
    ("all_to_all", "direct"): _direct_all_to_all,
    ("broadcast", "ring"): _ring_broadcast,
    ("broadcast", "direct"): _direct_broadcast,
    ("reduce", "ring"): _ring_reduce,
    ("reduce", "direct"): _direct_reduce,
    ("permute", "direct"): _direct_permute,
}
assert set(_BUILDERS) == {(op, algo) for op, algos in SUPPORTED.items() for algo in algos}


def plan_collective(op: str, algo: str, ranks: int, count: int, chunk_elements: int,
                    root: int = 0, peers: Sequence[int] | None = None) -> Plan:
    """The plan of one collective (arguments already checked, see :func:`run_collective`)."""
    plan = Plan(ranks, *buffer_lengths(op, ranks, count))
    shape = _Shape(ranks, count, chunk_elements, root,
                   tuple(peers) if peers is not None else tuple(_around(1, ranks)))
    _BUILDERS[op, algo](plan, shape)
    return plan


# --- execution --------------------------------------------------------------------------------


class _Memory:
    """The ranks' buffers and staged values, and the effect of each node on them."""

    def __init__(self, plan: Plan, buffers: list[dict[str, np.ndarray]], dtype: DataType,
                 redop: str, limit: int = DEFAULT_MEMORY_BYTES) -> None:
        self.plan = plan
        self.buffers = buffers
        self.dtype = dtype
        self.redop = redop
        self.staged: dict[int, np.ndarray] = {}
        self.staged_bytes = 0
        self.limit = limit
        self._left = list(plan.uses)

    def check(self, in_flight: int) -> None:
        """A :class:`ConfigError` once staged pieces and payloads under way pass the limit."""
        if self.staged_bytes + in_flight > self.limit:
            raise ConfigError(
                f"this collective holds more than {self.limit / 2 ** 30:g} GiB of pieces "
                f"received and not yet reduced or sent ({self.plan.ranks} ranks); take a "
                "smaller size, a smaller chunk or an algorithm that stages less (direct "
                "all-reduce stages every other rank's data at every rank)")

    def read(self, rank: int, value: Value) -> np.ndarray:
        """The values ``value`` names at ``rank`` (a view of a region)."""
        if isinstance(value, Region):
            return self.buffers[rank][value.buffer][value.start:value.stop]
        data = self.staged[value]
        self._left[value] -= 1
        if not self._left[value]:
            self.staged_bytes -= data.nbytes
            del self.staged[value]
        return data

    def store(self, index: int, rank: int, values: np.ndarray) -> None:
        into = self.plan.nodes[index].into
        if into is None:
            if self.plan.uses[index]:
                self.staged[index] = values
                self.staged_bytes += values.nbytes
        else:
            self.buffers[rank][into.buffer][into.start:into.stop] = values

    def combine(self, index: int) -> None:
        node = self.plan.nodes[index]
        values = [self.read(node.rank, value) for value in node.inputs]
        result = np.array(values[0])
        for value in values[1:]:
            result = self.dtype.reduce(self.redop, result, value)
        self.store(index, node.rank, result)

    def payload(self, node: Send) -> np.ndarray:
        return self.dtype.encode(self.read(node.source, node.data))


def replay(plan: Plan, memory: _Memory) -> None:
    """Carry out ``plan`` without a network, node by node in plan order: what the same
    reductions in the same order give in numpy (the reference the engine must equal)."""
    for index, node in enumerate(plan.nodes):
        if isinstance(node, Send):
            memory.store(index, node.destination, memory.dtype.decode(memory.payload(node)))
        else:
            memory.combine(index)


@dataclass
class _Timing:
    start: int
    end: int
    transfers: int
    bytes_moved: int


def _execute(plan: Plan, memory: _Memory, network: Network, group: Sequence[int],
             window_bytes: int) -> _Timing:
    """Carry out ``plan`` on ``network``; the cycle the first transfers may start and the cycle
    the last one was delivered."""
    start = network.now
    nodes = plan.nodes
    waiting = [len(node.after) for node in nodes]
    dependents: list[list[int]] = [[] for _ in nodes]
    for index, node in enumerate(nodes):
        for before in node.after:
            dependents[before].append(index)
    done = [0] * len(nodes)
    ready_at = [start] * len(nodes)
    queues: list[deque[int]] = [deque() for _ in range(plan.ranks)]
    outstanding = [0] * plan.ranks
    handles: dict[int, int] = {}
    timing = _Timing(start, start, 0, 0)

    def release(first: int) -> None:
        work = [first]
        while work:
            index = work.pop()
            node = nodes[index]
            ready_at[index] = max((done[before] for before in node.after), default=start)
            if isinstance(node, Send):
                queues[node.source].append(index)
                continue
            memory.combine(index)
            done[index] = ready_at[index]
            for after in reversed(dependents[index]):
                waiting[after] -= 1
                if not waiting[after]:
                    work.append(after)

    def post() -> None:
        for rank, queue in enumerate(queues):
            while queue and (not outstanding[rank]
                             or outstanding[rank] + nodes[queue[0]].length * memory.dtype.itemsize
                             <= window_bytes):
                index = queue.popleft()
                node = nodes[index]
                payload = memory.payload(node)
                handle = network.post(Transfer(group[node.source], group[node.destination],
                                               payload.size, earliest=ready_at[index],
                                               payload=payload, tag=index))
                handles[handle] = index
                outstanding[rank] += payload.size
                timing.transfers += 1
                timing.bytes_moved += payload.size

    for index in [index for index, count in enumerate(waiting) if not count]:
        release(index)
    post()
    while handles:
        before = network.now
        completions = network.advance()
        if not completions and network.now == before:
            raise RuntimeError(f"the network stopped with {len(handles)} transfers of this "
                               "collective under way")
        for completion in completions:
            index = handles.pop(completion.handle, None)
            if index is None:
                raise RuntimeError(f"completion of transfer {completion.handle}, which this "
                                   "collective did not post: run collectives on an idle network")
            node = nodes[index]
            payload = completion.payload
            if payload is None or payload.shape != (completion.transfer.nbytes,):
                raise RuntimeError(f"the network delivered no data for transfer "
                                   f"{completion.handle}; collectives need a backend that "
                                   "carries payloads")
            memory.store(index, node.destination, memory.dtype.decode(payload))
            outstanding[node.source] -= completion.transfer.nbytes
            done[index] = completion.delivered
            timing.end = max(timing.end, completion.delivered)
            for after in dependents[index]:
                waiting[after] -= 1
                if not waiting[after]:
                    release(after)
        post()
        memory.check(sum(outstanding))
    if any(waiting):
        raise RuntimeError("collective plan stalled: nodes wait for nodes that never ran")
    return timing


# --- data and checking --------------------------------------------------------------------------


def make_inputs(op: str, ranks: int, count: int, dtype: str | DataType, redop: str = "sum",
                seed: int = 0) -> list[np.ndarray]:
    """Deterministic input buffers, one per rank: floats in [-1, 1) (magnitudes in
    [0.5, 1.5) for prod, so products neither vanish nor overflow), small integers."""
    dtype = datatype(dtype)
    length = buffer_lengths(resolve_op(op), ranks, count)[0]
    inputs = []
    for rank in range(ranks):
        rng = np.random.default_rng([seed, rank])
        if dtype.is_float and redop == "prod":
            values = rng.uniform(0.5, 1.5, length) * rng.choice([-1.0, 1.0], length)
        elif dtype.is_float:
            values = rng.uniform(-1.0, 1.0, length)
        else:
            low = 0 if np.issubdtype(dtype.storage, np.unsignedinteger) else -8
            values = rng.integers(low, 8, length)
        inputs.append(dtype.convert(values))
    return inputs


def _reduced(stack: np.ndarray, dtype: DataType, redop: str) -> tuple[np.ndarray, np.ndarray]:
    """The exact reduction over axis 0 (float64 for floats; wrapping in the type for integers)
    and how far a result in ``dtype`` may be from it in any order of the ``n - 1`` operations:
    gamma(n-1) = (n-1)u / (1 - (n-1)u) times the sum of magnitudes (sum) or the magnitude
    (prod), as in Higham's bounds; max and min are exact."""
    ranks = stack.shape[0]
    if not dtype.is_float:
        ufunc = REDUCTIONS[redop]
        exact = ufunc.reduce(stack.astype(dtype.storage), axis=0, dtype=dtype.storage)
        return exact, np.zeros(stack.shape[1])
    wide = stack.astype(np.float64)
    exact = REDUCTIONS[redop].reduce(wide, axis=0)
    steps = (ranks - 1) * dtype.unit_roundoff * (1 + 2.0 ** -10)  # margin: bf16's double rounding
    gamma = steps / (1 - steps)
    tiny = ranks * float(np.finfo(dtype.storage if dtype.name != "bfloat16" else np.float32).tiny)
    if redop == "sum":
        return exact, gamma * np.abs(wide).sum(axis=0) + tiny
    if redop == "prod":
        return exact, gamma * np.abs(exact) + tiny
    return exact, np.zeros_like(exact)


def _wrong(got: np.ndarray, expected: np.ndarray, tolerance: np.ndarray | None = None) -> int:
    if tolerance is None:
        return int(np.count_nonzero(got != expected))
    error = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    return int(np.count_nonzero(~(error <= tolerance)))


def count_wrong(op: str, dtype: str | DataType, inputs: Sequence[np.ndarray],
                outputs: Sequence[np.ndarray], redop: str = "sum", root: int = 0,
                peers: Sequence[int] | None = None) -> int:
    """Elements of ``outputs`` (summed over ranks) outside the tolerance of the exact result,
    as nccl-tests counts #wrong. Moved data must be bit-exact; a reduction may differ from the
    exact one by the rounding of its ``n - 1`` operations in ``dtype`` (see :func:`_reduced`).
    For reduce only the root's output is checked."""
    op = resolve_op(op)
    dtype = datatype(dtype)
    ranks = len(inputs)
    stack = np.stack(inputs)
    if op == "all_reduce":
        expected, tolerance = _reduced(stack, dtype, redop)
        return sum(_wrong(output, expected, tolerance) for output in outputs)
    if op == "reduce":
        expected, tolerance = _reduced(stack, dtype, redop)
        return _wrong(outputs[root], expected, tolerance)
    if op == "reduce_scatter":
        expected, tolerance = _reduced(stack, dtype, redop)
        count = len(outputs[0])
        return sum(_wrong(output, expected[rank * count:(rank + 1) * count],
                          tolerance[rank * count:(rank + 1) * count])
                   for rank, output in enumerate(outputs))
    if op == "all_gather":
        expected = np.concatenate(inputs)
        return sum(_wrong(output, expected) for output in outputs)
    if op == "all_to_all":
        count = len(inputs[0]) // ranks
        return sum(_wrong(outputs[rank][source * count:(source + 1) * count],
                          inputs[source][rank * count:(rank + 1) * count])
                   for rank in range(ranks) for source in range(ranks))
    if op == "broadcast":
        return sum(_wrong(output, inputs[root]) for output in outputs)
    peers = peers if peers is not None else _around(1, ranks)
    return sum(_wrong(outputs[peers[rank]], inputs[rank]) for rank in range(ranks))


# --- the entry point --------------------------------------------------------------------------


@dataclass
class CollectiveResult:
    """One collective run: its time, its data and its check.

    ``time_cycles`` runs from the cycle the collective started (the network's ``now`` when it
    was called) to the last ``Completion.delivered`` of its transfers, when the last byte of
    every rank's result was in place. ``wrong`` is None when the check was not asked for.
    """

    op: str
    algo: str
    group: tuple[int, ...]
    count: int
    dtype: DataType
    redop: str
    root: int
    in_place: bool
    chunk_bytes: int
    start_cycle: int
    time_cycles: int
    clock_hz: float
    transfers: int
    bytes_moved: int
    inputs: list[np.ndarray] = field(repr=False)
    outputs: list[np.ndarray] = field(repr=False)
    wrong: int | None = None

    @property
    def ranks(self) -> int:
        return len(self.group)

    @property
    def size_bytes(self) -> int:
        """The size nccl-tests reports for this run (:func:`nccl_size`)."""
        return nccl_size(self.op, self.ranks, self.count, self.dtype.itemsize)

    @property
    def time_us(self) -> float:
        return self.time_cycles / self.clock_hz * 1e6

    @property
    def algbw(self) -> float:
        """size / time, in GB/s (10^9 bytes per second) as nccl-tests prints it."""
        return self.size_bytes / 1e9 / (self.time_us * 1e-6) if self.time_cycles else 0.0

    @property
    def busbw(self) -> float:
        return self.algbw * bus_factor(self.op, self.ranks)


def _buffers(op: str, ranks: int, count: int, dtype: DataType, inputs: Sequence[np.ndarray],
             in_place: bool) -> list[dict[str, np.ndarray]]:
    """Per rank, its input and output buffers; in place, one is a view of the other as NCCL
    lays them out (all-gather's input is the rank's slot of the output, reduce-scatter's
    output the rank's slot of the input)."""
    _, output_length = buffer_lengths(op, ranks, count)
    buffers = []
    for rank, values in enumerate(inputs):
        if not in_place:
            buffers.append({INPUT: np.array(values), OUTPUT: np.zeros(output_length,
                                                                       dtype.storage)})
        elif op == "all_gather":
            output = np.zeros(output_length, dtype.storage)
            output[rank * count:(rank + 1) * count] = values
            buffers.append({INPUT: output[rank * count:(rank + 1) * count], OUTPUT: output})
        elif op == "reduce_scatter":
            data = np.array(values)
            buffers.append({INPUT: data, OUTPUT: data[rank * count:(rank + 1) * count]})
        else:
            data = np.array(values)
            buffers.append({INPUT: data, OUTPUT: data})
    return buffers


def _checked_arguments(op: str, algo: str, group: Sequence[int], count: int, dtype, redop: str,
                       root: int, chunk_bytes: int | None, peers, endpoints: int):
    op, algo = resolve_op(op), resolve_algo(algo)
    check_pair(op, algo)
    group = check_group(group, endpoints)
    dtype = datatype(dtype)
    ranks = len(group)
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise ConfigError(f"count {count!r} must be a whole number of elements, at least 1")
    if op in REDUCING and redop not in REDUCTIONS:
        raise ConfigError(f"Unknown reduction {redop!r}; valid ones are "
                          f"{', '.join(REDUCTIONS)}.")
    if op in ROOTED and not 0 <= root < ranks:
        raise ConfigError(f"root {root} is not a rank of the group (0 to {ranks - 1})")
    chunk_bytes = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    if not isinstance(chunk_bytes, (int, np.integer)) or chunk_bytes < dtype.itemsize:
        raise ConfigError(f"chunk size {chunk_bytes!r} B must hold at least one "
                          f"{dtype.itemsize}-byte {dtype.name}")
    if op == "permute":
        peers = tuple(peers) if peers is not None else tuple(_around(1, ranks))
        if sorted(peers) != list(range(ranks)):
            raise ConfigError(f"peers {list(peers)} must send each of the {ranks} ranks to a "
                              f"different rank: a permutation of 0 to {ranks - 1}")
    return op, algo, group, dtype, chunk_bytes, peers


def run_collective(network: Network, op: str, algo: str, group: Sequence[int], count: int,
                   dtype: str | DataType = "float", root: int = 0, in_place: bool = False,
                   chunk_bytes: int | None = None, inputs: Sequence[np.ndarray] | None = None,
                   *, redop: str = "sum", peers: Sequence[int] | None = None,
                   check: bool = True, seed: int = 0,
                   window_bytes: int = DEFAULT_WINDOW_BYTES,
                   memory_bytes: int = DEFAULT_MEMORY_BYTES) -> CollectiveResult:
    """Run one collective on ``network`` (idle) with real data and time it.

    Parameters
    ----------
    op, algo : str
        An operation of :data:`OPS` and one of its algorithms (:data:`SUPPORTED`).
    group : sequence of int
        Endpoint IDs; rank ``i`` of the collective is endpoint ``group[i]``.
    count : int
        Elements as NCCL's API counts them: per rank for all-reduce, broadcast, reduce and
        permute; received per rank for reduce-scatter; sent per rank for all-gather; sent to
        each peer for all-to-all.
    dtype : str or DataType
        ``float``, ``half``, ``bfloat16``, ``double`` or an integer type (nccl-tests names).
    root : int
        Rank that broadcasts or receives the reduction.
    in_place : bool
        The output buffer is the input buffer (NCCL's layout); the data moved is the same.
    chunk_bytes : int, optional
        Largest piece one transfer carries (default 512 KiB).
    inputs : sequence of numpy.ndarray, optional
        Per rank input buffer (converted to ``dtype``); default :func:`make_inputs` of ``seed``.
    redop : str
        ``sum``, ``prod``, ``max`` or ``min``.
    peers : sequence of int, optional
        For permute, the rank each rank sends to (default rank + 1, as nccl-tests' sendrecv).
    check : bool
        Count the wrong elements (:func:`count_wrong`).
    window_bytes : int
        Bytes a rank may have under way before its next ready transfer waits.
    memory_bytes : int
        Host memory the run may use for buffers, staged pieces and payloads under way; past
        it, a :class:`ConfigError` (before the run for the buffers alone).
    """
    if network.busy():
        raise ConfigError("the network has transfers under way; run collectives on an idle "
                          "network")
    op, algo, group, dtype, chunk_bytes, peers = _checked_arguments(
        op, algo, group, count, dtype, redop, root, chunk_bytes, peers, network.endpoints)
    ranks = len(group)
    input_length, output_length = buffer_lengths(op, ranks, count)
    # The inputs as given, the input buffers and the output buffers.
    buffer_bytes = ranks * (2 * input_length + output_length) * dtype.storage.itemsize
    if buffer_bytes > memory_bytes:
        raise ConfigError(f"{ranks} ranks of {input_length} and {output_length} elements need "
                          f"{buffer_bytes / 2 ** 30:.1f} GiB of host memory for their buffers, "
                          f"more than the {memory_bytes / 2 ** 30:g} GiB allowed; take a smaller "
                          "size or group")
    if inputs is None:
        inputs = make_inputs(op, ranks, count, dtype, redop, seed)
    else:
        if len(inputs) != ranks or any(np.shape(values) != (input_length,) for values in inputs):
            raise ConfigError(f"inputs must be {ranks} buffers of {input_length} elements")
        inputs = [dtype.convert(values) for values in inputs]
    plan = plan_collective(op, algo, ranks, count, chunk_bytes // dtype.itemsize, root, peers)
    buffers = _buffers(op, ranks, count, dtype, inputs, in_place)
    memory = _Memory(plan, buffers, dtype, redop, memory_bytes - buffer_bytes)
    timing = _execute(plan, memory, network, group, window_bytes)
    outputs = [np.array(buffer[OUTPUT]) for buffer in buffers]
    wrong = count_wrong(op, dtype, inputs, outputs, redop, root, peers) if check else None
    return CollectiveResult(op, algo, group, count, dtype, redop if op in REDUCING else "none",
                            root if op in ROOTED else -1, in_place, chunk_bytes, timing.start,
                            timing.end - timing.start, network.clock_hz, timing.transfers,
                            timing.bytes_moved, list(inputs), outputs, wrong)


def replay_collective(op: str, algo: str, inputs: Sequence[np.ndarray], count: int,
                      dtype: str | DataType = "float", root: int = 0, in_place: bool = False,
                      chunk_bytes: int | None = None, *, redop: str = "sum",
                      peers: Sequence[int] | None = None) -> list[np.ndarray]:
    """The outputs the same plan gives without a network (:func:`replay`): numpy in the same
    type and the same reduction order, which :func:`run_collective` must equal bit for bit."""
    ranks = len(inputs)
    op, algo, _, dtype, chunk_bytes, peers = _checked_arguments(
        op, algo, range(ranks), count, dtype, redop, root, chunk_bytes, peers, ranks)
    plan = plan_collective(op, algo, ranks, count, chunk_bytes // dtype.itemsize, root, peers)
    buffers = _buffers(op, ranks, count, dtype, [dtype.convert(v) for v in inputs], in_place)
    replay(plan, _Memory(plan, buffers, dtype, redop))
    return [np.array(buffer[OUTPUT]) for buffer in buffers]

