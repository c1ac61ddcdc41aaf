"""Untimed reference of the Fusion chiplet: address windows, bursts to packets, AXI responses.

What a chiplet must do, without timing (docs/chiplet.md states the same rules and says which
are public facts and which are modelling choices):

* **Windows.** A window maps ``[base, base + size)`` of the ASIC's global address space to
  endpoint ``destination`` at ``remote_offset + (address - base)``. Base, size and offset are
  multiples of 4 KiB and windows never overlap, so a legal AXI4 burst (which never crosses a
  4 KiB boundary) lies in exactly one window or in none. A burst in no window gets DECERR
  and sends nothing.
* **Split.** The bytes of a burst, in beat order, form runs of consecutive addresses (one run
  for INCR; two for a WRAP burst that does not start at its wrap boundary; one per beat for
  FIXED). A run is cut at every ``MAX_DATA_BYTES``-aligned remote address; a write piece
  with a byte not enabled and more than ``BYTE_ENABLE_BITS`` bytes is cut again at the
  ``BYTE_ENABLE_BITS``-aligned address. Each piece is one request packet, sent even when no
  byte of it is enabled, so every response comes from the far side.
* **Packets.** Reads are ``READ`` requests answered by ``READ_RESPONSE`` with the data; writes
  are ``WRITE`` requests answered by ``WRITE_RESPONSE``. Payload order: address extension flit
  (when the remote address needs more than the header's address bits), byte-enable flit (when
  some byte of the piece is not enabled), data flits. Data byte ``i`` of a packet is byte
  ``i % 16`` (least significant first) of data flit ``i // 16``; byte-enable bit ``i`` enables
  data byte ``i``. Requests travel on ``REQUEST_VC``, completions on ``COMPLETION_VC``.
* **Far side.** A request becomes one INCR burst of full bus width on the far chiplet's AXI4
  manager port; a request to an endpoint that does not exist, or outside the far endpoint's
  memory, is answered by ``ERROR_RESPONSE`` and changes nothing.
* **Responses.** BRESP is DECERR (no window), else SLVERR when any packet of the burst got
  ``ERROR_RESPONSE``, else OKAY; pieces that succeeded stay written. Each read beat lies in
  exactly one packet: its RRESP is DECERR (no window), SLVERR (its packet got
  ``ERROR_RESPONSE``; data unspecified) or OKAY with the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hdl.chiplet.address_map import (  # noqa: F401  (the reference's names for them)
    WINDOW_ALIGNMENT,
    AddressMap,
    Translation,
    Window,
    WindowError,
    default_address_map,
)
from hdl.chiplet.axi import BurstType, Response, data_bytes
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    BYTE_ENABLE_FLIT,
    COMPLETION_VC,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    REQUEST_VC,
    TRANSACTION_HEADER,
    Command,
    field_reader,
    field_width,
    field_writer,
    pack,
    unpack,
)
from hdl.params import ChipletParams

from .axi import Beat, Burst, ReferenceMemory, beats, check_burst
from .framing import Packet

#: Remote address bits the transaction header carries, and the extension flit above them.
HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
EXTENSION_ADDRESS_BITS = field_width(ADDRESS_EXTENSION_FLIT, "address_high")
ENDPOINT_BITS = field_width(TRANSACTION_HEADER, "destination")
TAG_BITS = field_width(TRANSACTION_HEADER, "tag")
FLIT_BYTES = FLIT_BITS // 8


@dataclass(frozen=True)
class Piece:
    """The contents of one request packet, before it has a tag.

    Attributes
    ----------
    remote_address : int
        Address of the first byte at the destination.
    byte_count : int
        Bytes asked for (read) or carried (write), 1 to ``MAX_DATA_BYTES``.
    beats : tuple of int
        The burst's beats whose bytes this piece holds, in order.
    data : bytes or None
        Write data, ``byte_count`` bytes; None for a read.
    enables : int or None
        Write byte enables, bit ``i`` for data byte ``i``; None when every byte is enabled.
    """

    remote_address: int
    byte_count: int
    beats: tuple[int, ...]
    data: bytes | None = None
    enables: int | None = None


def _burst_bytes(burst: Burst, bus_bytes: int) -> list[tuple[int, int, int]]:
    """(beat number, address, lane) of every byte the burst touches, in beat order."""
    return [(number, address, address % bus_bytes)
            for number, beat in enumerate(beats(burst, bus_bytes))
            for address in beat.byte_addresses]


def split(burst: Burst, bus_bytes: int, remote_address: int, data: Sequence[int] | None = None,
          strobes: Sequence[int] | None = None) -> list[Piece]:
    """The request pieces of ``burst`` whose first byte goes to ``remote_address``.

    For a read leave ``data`` out; for a write give one bus word per beat and, optionally,
    one WSTRB per beat (all active lanes when left out).
    """
    check_burst(burst, bus_bytes)
    offset = remote_address - burst.address
    write = data is not None
    burst_beats = beats(burst, bus_bytes)
    if write:
        if len(data) != burst.length:
            raise ValueError(f"{burst} has {burst.length} beats, {len(data)} data words given")
        strobes = [beat.lanes for beat in burst_beats] if strobes is None else strobes
        if len(strobes) != burst.length:
            raise ValueError(f"{burst} has {burst.length} beats, {len(strobes)} strobes given")
    # Runs of consecutive addresses, as (beat, address, byte, enabled) lists.
    runs: list[list[tuple[int, int, int, bool]]] = []
    previous = None
    for number, address, lane in _burst_bytes(burst, bus_bytes):
        value = (data[number] >> (8 * lane)) & 0xFF if write else 0
        enabled = bool(strobes[number] >> lane & 1) if write else True
        remote = address + offset
        if previous is None or remote != previous + 1 or remote % MAX_DATA_BYTES == 0:
            runs.append([])
        runs[-1].append((number, remote, value, enabled))
        previous = remote
    pieces = []
    for run in runs:
        parts = [run]
        if not all(enabled for *_, enabled in run) and len(run) > BYTE_ENABLE_BITS:
            # A run of more than 128 bytes inside a 256-byte block holds the block's middle.
            cut = next(index for index, (_, remote, *_) in enumerate(run)
                       if index and remote % BYTE_ENABLE_BITS == 0)
            parts = [run[:cut], run[cut:]]
        for part in parts:
            numbers = tuple(dict.fromkeys(number for number, *_ in part))
            enables = sum(enabled << index for index, (*_, enabled) in enumerate(part))
            pieces.append(Piece(
                remote_address=part[0][1], byte_count=len(part), beats=numbers,
                data=bytes(value for _, _, value, _ in part) if write else None,
                enables=None if not write or enables == (1 << len(part)) - 1 else enables))
    return pieces


def request_packet(piece: Piece, destination: int, source: int, tag: int) -> Packet:
    """The request packet for ``piece``: WRITE when it has data, READ otherwise."""
    payload = []
    high = piece.remote_address >> HEADER_ADDRESS_BITS
    if high:
        payload.append(pack(ADDRESS_EXTENSION_FLIT, {"address_high": high}))
    if piece.enables is not None:
        payload.append(pack(BYTE_ENABLE_FLIT, {"byte_enable": piece.enables}))
    if piece.data is not None:
        payload.extend(_data_flits(piece.data))
    command = Command.WRITE if piece.data is not None else Command.READ
    return Packet.build(payload, link={"vc": REQUEST_VC}, transaction={
        "command": command, "destination": destination, "source": source, "tag": tag,
        "address": piece.remote_address & ((1 << HEADER_ADDRESS_BITS) - 1),
        "byte_count": piece.byte_count,
        "has_address_extension": int(bool(high)),
        "has_byte_enable": int(piece.enables is not None)})


def _data_flits(data: bytes) -> list[int]:
    return [int.from_bytes(data[start:start + FLIT_BYTES], "little")
            for start in range(0, len(data), FLIT_BYTES)]


def _data_bytes(flits: Sequence[int], count: int) -> bytes:
    return b"".join(flit.to_bytes(FLIT_BYTES, "little") for flit in flits)[:count]


@dataclass(frozen=True)
class Request:
    """A request packet as the far side's depacketizer reads it."""

    command: Command
    destination: int
    source: int
    tag: int
    remote_address: int
    byte_count: int
    data: bytes | None
    enables: int | None


def decode_request(packet: Packet) -> Request:
    """Read a request packet back: the inverse of :func:`request_packet`."""
    header = unpack(HEADER_BODY, packet.header).message.transaction
    payload = list(packet.payload)
    address = header.address
    if header.has_address_extension:
        high = unpack(ADDRESS_EXTENSION_FLIT, payload.pop(0)).address_high
        address |= high << HEADER_ADDRESS_BITS
    enables = None
    if header.has_byte_enable:
        enables = unpack(BYTE_ENABLE_FLIT, payload.pop(0)).byte_enable
    data = None
    if header.command == Command.WRITE:
        data = _data_bytes(payload, header.byte_count)
    return Request(header.command, header.destination, header.source, header.tag, address,
                   header.byte_count, data, enables)


def completion(request: Request, command: Command, data: bytes = b"") -> Packet:
    """The completion the far side sends back for ``request``."""
    transaction = {"command": command, "destination": request.source,
                   "source": request.destination, "tag": request.tag,
                   "address": request.remote_address & ((1 << HEADER_ADDRESS_BITS) - 1)}
    if command != Command.ERROR_RESPONSE:
        transaction["byte_count"] = request.byte_count
    return Packet.build(_data_flits(data), link={"vc": COMPLETION_VC}, transaction=transaction)


_TRANSACTION = ("message", "transaction")
_set_tag = field_writer(HEADER_BODY, *_TRANSACTION, "tag")
_has_extension = field_reader(HEADER_BODY, *_TRANSACTION, "has_address_extension")
_set_has_extension = field_writer(HEADER_BODY, *_TRANSACTION, "has_address_extension")
_length = field_reader(HEADER_BODY, "link", "length")
_set_length = field_writer(HEADER_BODY, "link", "length")


def retry_packet(words: Sequence[int], plane: int, plane_tag: int, lane_tag: int) -> list[int]:
    """A request repeated after the plane it was sent on failed (docs/chiplet.md, "End-to-end
    retry"), as that plane's tag translation hands it over.

    ``words`` are the request's flits, header first (a ``HEADER_BODY``, zero-extended), as
    kept on ``plane``, where it carried ``plane_tag`` (``READ_TAG_FLAG``, the generation and
    the index); ``lane_tag`` is the tag its lane gave it (``READ_TAG_FLAG`` and the lane's
    index). The retry carries ``lane_tag`` and an address extension flit: the request's own,
    or one added (``address_high`` 0, the header's ``has_address_extension`` set and its
    ``length`` one more). That flit gets ``retry`` 1, ``retry_plane`` ``plane`` and
    ``retry_tag`` ``plane_tag``, unless ``retry`` is set already: a retry of a retry keeps the
    names of the first request, by which the far side knows it. Every other bit is kept.
    """
    header, *payload = words
    header = _set_tag(header, lane_tag)
    names = {"retry": 1, "retry_plane": plane, "retry_tag": plane_tag}
    if not _has_extension(header):
        extension = pack(ADDRESS_EXTENSION_FLIT, names)
        header = _set_length(_set_has_extension(header, 1), _length(header) + 1)
        return [header, extension, *payload]
    if not payload:
        raise ValueError(f"header {header:#x} announces an address extension flit and the "
                         "request has no payload")
    if not unpack(ADDRESS_EXTENSION_FLIT, payload[0]).retry:
        extension = payload[0]
        for name, value in names.items():
            extension = field_writer(ADDRESS_EXTENSION_FLIT, name)(extension, value)
        payload[0] = extension
    return [header, *payload]


def manager_burst(request: Request, bus_bytes: int) -> tuple[Burst, list[int], list[int]]:
    """The AXI4 burst the far chiplet's manager port issues for ``request``: INCR, full bus
    width, from the remote address; for a write also its data words and strobes."""
    size = bus_bytes.bit_length() - 1
    first_word = request.remote_address - request.remote_address % bus_bytes
    end = request.remote_address + request.byte_count
    length = -(-(end - first_word) // bus_bytes)
    burst = Burst(request.remote_address, length, size, BurstType.INCR.value)
    words, strobes = [0] * length, [0] * length
    if request.data is not None:
        for index, value in enumerate(request.data):
            enabled = request.enables is None or request.enables >> index & 1
            address = request.remote_address + index
            word, lane = divmod(address - first_word, bus_bytes)
            words[word] |= value << (8 * lane)
            strobes[word] |= int(enabled) << lane
    return burst, words, strobes


@dataclass
class Endpoint:
    """One ASIC with its chiplet: its windows and the memory behind its manager port."""

    address_map: AddressMap
    memory_bytes: int
    memory: ReferenceMemory = field(init=False)

    def __post_init__(self) -> None:
        self.memory = ReferenceMemory(data_bytes(self.address_map.params))


@dataclass(frozen=True)
class ReadResult:
    """What the ASIC's manager sees for a read burst: RRESP per beat and the data words
    (active lanes; the other lanes zero; None for a beat whose RRESP is not OKAY)."""

    responses: tuple[Response, ...]
    data: tuple[int | None, ...]
    packets: tuple[Packet, ...]


@dataclass(frozen=True)
class WriteResult:
    response: Response
    packets: tuple[Packet, ...]


class Fabric:
    """Several chiplets, each with its windows and its memory, joined by a lossless fabric.

    :meth:`write` and :meth:`read` give the AXI responses (and read data) the ASIC of
    ``source`` must see for one burst, the request packets it sends, and apply the burst to
    the memories, one burst at a time.
    """

    def __init__(self, params: ChipletParams, endpoints: Mapping[int, Endpoint]) -> None:
        self.params = params
        self.bus_bytes = data_bytes(params)
        self.endpoints = dict(endpoints)
        self._next_tag = 0

    def _tag(self) -> int:
        tag, self._next_tag = self._next_tag, (self._next_tag + 1) % self.params.outstanding_tags
        return tag

    def _translate(self, source: int, burst: Burst) -> Translation | None:
        check_burst(burst, self.bus_bytes, self.params.axi_address_bits)
        return self.endpoints[source].address_map.lookup(burst.address)

    def serve(self, packet: Packet) -> Packet:
        """The far side: carry out one request packet, return its completion."""
        request = decode_request(packet)
        target = self.endpoints.get(request.destination)
        if target is None or request.remote_address + request.byte_count > target.memory_bytes:
            return completion(request, Command.ERROR_RESPONSE)
        burst, words, strobes = manager_burst(request, self.bus_bytes)
        if request.command == Command.WRITE:
            target.memory.write(burst, words, strobes)
            return completion(request, Command.WRITE_RESPONSE)
        read = target.memory.read(burst)
        data = bytes((word >> (8 * (address % self.bus_bytes))) & 0xFF
                     for word, beat in zip(read, beats(burst, self.bus_bytes), strict=True)
                     for address in beat.byte_addresses)
        # The burst's beats may reach past the bytes asked for; the answer carries those only.
        return completion(request, Command.READ_RESPONSE, data[:request.byte_count])

    def write(self, source: int, burst: Burst, data: Sequence[int],
              strobes: Sequence[int] | None = None) -> WriteResult:
        translation = self._translate(source, burst)
        if translation is None:
            return WriteResult(Response.DECERR, ())
        packets = tuple(request_packet(piece, translation.destination, source, self._tag())
                        for piece in split(burst, self.bus_bytes, translation.remote_address,
                                           data, strobes))
        failed = [_command(self.serve(packet)) == Command.ERROR_RESPONSE for packet in packets]
        return WriteResult(Response.SLVERR if any(failed) else Response.OKAY, packets)

    def read(self, source: int, burst: Burst) -> ReadResult:
        burst_beats = beats(burst, self.bus_bytes)
        translation = self._translate(source, burst)
        if translation is None:
            return ReadResult((Response.DECERR,) * burst.length, (None,) * burst.length, ())
        responses: list[Response] = [Response.OKAY] * burst.length
        words: list[int | None] = [0] * burst.length
        pieces = split(burst, self.bus_bytes, translation.remote_address)
        packets = []
        for piece in pieces:
            packet = request_packet(piece, translation.destination, source, self._tag())
            packets.append(packet)
            answer = self.serve(packet)
            if _command(answer) == Command.ERROR_RESPONSE:
                for number in piece.beats:
                    responses[number], words[number] = Response.SLVERR, None
                continue
            data = _data_bytes(answer.payload, piece.byte_count)
            to_global = burst.address - translation.remote_address
            for index, value in enumerate(data):
                address = piece.remote_address + index + to_global
                number = _beat_of(burst_beats, piece, address)
                words[number] |= value << (8 * (address % self.bus_bytes))
        return ReadResult(tuple(responses), tuple(words), tuple(packets))


def _beat_of(burst_beats: Sequence[Beat], piece: Piece, address: int) -> int:
    for number in piece.beats:
        if address in burst_beats[number].byte_addresses:
            return number
    raise AssertionError(f"address {address:#x} is in none of the beats {piece.beats}")


def _command(packet: Packet) -> Command:
    return unpack(HEADER_BODY, packet.header).message.transaction.command
