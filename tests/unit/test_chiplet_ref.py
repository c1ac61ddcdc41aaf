"""The chiplet reference: window lookups, the split of bursts into packets, and the AXI
responses of a fabric of several chiplets, against a byte-by-byte model with no packets."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.ref.axi import PAGE_BYTES, Burst, beats, burst_errors
from emulator.ref.chiplet import (
    HEADER_ADDRESS_BITS,
    AddressMap,
    Endpoint,
    Fabric,
    Translation,
    Window,
    WindowError,
    decode_request,
    default_address_map,
    manager_burst,
    request_packet,
    split,
)
from hdl.chiplet.axi import BurstType, Response
from hdl.layouts import (
    BYTE_ENABLE_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    MAX_PAYLOAD_FLITS,
    REQUEST_VC,
    Command,
    unpack,
)
from hdl.params import ChipletParams

from .test_axi_ref import legal_bursts

PARAMS = ChipletParams()
FIXED, INCR, WRAP = (kind.value for kind in BurstType)


# Windows.

def test_lookup_translates_inside_and_refuses_outside() -> None:
    windows = AddressMap(PARAMS, [Window(0x10000, 0x2000, 3, 0x5000),
                                  Window(0x12000, 0x1000, 4, 0)])
    assert windows.lookup(0xFFFF) is None
    assert windows.lookup(0x10000) == Translation(3, 0x5000)
    assert windows.lookup(0x11FFF).remote_address == 0x6FFF
    assert windows.lookup(0x12000).destination == 4
    assert windows.lookup(0x12000).remote_address == 0
    assert windows.lookup(0x13000) is None


@pytest.mark.parametrize(("windows", "message"), [
    ([Window(0x1000, 0x2000, 1), Window(0x2000, 0x1000, 2)], "overlap at \\[0x2000, 0x3000\\)"),
    ([Window(0x1000, 0x1000, 1), Window(0x1000, 0x1000, 1)], "overlap"),
    ([Window(0x0, 0x10000, 1), Window(0x4000, 0x1000, 2)], "overlap at \\[0x4000, 0x5000\\)"),
    ([Window(0x1800, 0x1000, 1)], "base = 0x1800 is not a multiple of 0x1000"),
    ([Window(0x1000, 0x800, 1)], "size = 0x800"),
    ([Window(0x1000, 0x1000, 1, 0x10)], "remote_offset = 0x10"),
    ([Window(0x1000, 0, 1)], "size is zero"),
    ([Window(2**48 - 0x1000, 0x2000, 1)], "48-bit AXI address space of the ASIC"),
    ([Window(0, 0x2000, 1, 2**48 - 0x1000)], "remote ASIC"),
    ([Window(0, 0x1000, 1024)], "10-bit endpoint ID"),
])
def test_bad_windows_are_refused_with_the_reason(windows, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        AddressMap(PARAMS, windows)


@given(st.lists(st.tuples(st.integers(0, 63), st.integers(1, 4), st.integers(0, 1023),
                          st.integers(0, 2**20)), max_size=8),
       st.lists(st.integers(0, 80 * PAGE_BYTES), max_size=50))
def test_lookup_agrees_with_a_scan_of_the_pages(specs, addresses) -> None:
    taken: dict[int, tuple[int, int, int]] = {}  # page -> (destination, window base, offset)
    windows = []
    for start, pages, destination, remote_page in specs:
        if any(page in taken for page in range(start, start + pages)):
            continue
        base, offset = start * PAGE_BYTES, remote_page * PAGE_BYTES
        windows.append(Window(base, pages * PAGE_BYTES, destination, offset))
        taken.update({page: (destination, base, offset) for page in range(start, start + pages)})
    address_map = AddressMap(PARAMS, windows)
    for address in addresses:
        found = address_map.lookup(address)
        if address // PAGE_BYTES not in taken:
            assert found is None
        else:
            destination, base, offset = taken[address // PAGE_BYTES]
            assert (found.destination, found.remote_address) == (
                destination, offset + address - base)


# The split of one burst into packets.

@st.composite
def bursts_with_data(draw):
    burst, bus_bytes = draw(legal_bursts())
    rng = random.Random(draw(st.integers(0, 2**32)))
    burst_beats = beats(burst, bus_bytes)
    data = [rng.getrandbits(8 * bus_bytes) for _ in burst_beats]
    strobe_kind = draw(st.sampled_from(["full", "random", "none", "sparse"]))
    strobes = {
        "full": [beat.lanes for beat in burst_beats],
        "random": [rng.getrandbits(bus_bytes) & beat.lanes for beat in burst_beats],
        "none": [0 for _ in burst_beats],
        "sparse": [beat.lanes & ~(1 << rng.randrange(bus_bytes)) for beat in burst_beats],
    }[strobe_kind]
    # Remote pages below and above the header's address bits: the extension flit.
    remote_page = draw(st.sampled_from([0, 1, 2**28 - 1, 2**36 - 2]))
    remote = remote_page * PAGE_BYTES + burst.address % PAGE_BYTES
    return burst, bus_bytes, data, strobes, remote


def _burst_bytes(burst, bus_bytes, data, strobes, remote):
    """(remote address, byte, enabled) of every byte the burst touches, in beat order."""
    offset = remote - burst.address
    result = []
    for beat, word, strobe in zip(beats(burst, bus_bytes), data, strobes, strict=True):
        for address in beat.byte_addresses:
            lane = address % bus_bytes
            result.append((address + offset, (word >> (8 * lane)) & 0xFF,
                           bool(strobe >> lane & 1)))
    return result


@given(bursts_with_data())
def test_write_packets_reassemble_to_exactly_the_burst(case) -> None:
    burst, bus_bytes, data, strobes, remote = case
    pieces = split(burst, bus_bytes, remote, data, strobes)
    reassembled = []
    for tag, piece in enumerate(pieces):
        packet = request_packet(piece, destination=5, source=9, tag=tag)
        assert packet.length <= MAX_PAYLOAD_FLITS
        assert packet.fields.link.vc == REQUEST_VC
        request = decode_request(packet)
        assert (request.command, request.destination, request.source, request.tag) == (
            Command.WRITE, 5, 9, tag)
        assert 1 <= request.byte_count <= MAX_DATA_BYTES
        first, last = request.remote_address, request.remote_address + request.byte_count - 1
        assert first // MAX_DATA_BYTES == last // MAX_DATA_BYTES, "crosses a 256-byte boundary"
        header = packet.fields.message.transaction
        assert header.has_address_extension == (first >> HEADER_ADDRESS_BITS != 0)
        if request.enables is None:
            assert not header.has_byte_enable
            enables = [True] * request.byte_count
        else:
            assert request.byte_count <= BYTE_ENABLE_BITS
            enables = [bool(request.enables >> i & 1) for i in range(request.byte_count)]
            assert not all(enables), "a byte-enable flit only when some byte is not enabled"
        reassembled += [(first + i, request.data[i], enables[i])
                        for i in range(request.byte_count)]
    assert reassembled == _burst_bytes(burst, bus_bytes, data, strobes, remote)


@given(bursts_with_data())
def test_read_packets_ask_for_exactly_the_burst_and_each_beat_is_in_one(case) -> None:
    burst, bus_bytes, _, _, remote = case
    pieces = split(burst, bus_bytes, remote)
    asked = []
    for piece in pieces:
        packet = request_packet(piece, destination=1, source=2, tag=0)
        header = unpack(HEADER_BODY, packet.header).message.transaction
        assert header.command == Command.READ and not header.has_byte_enable
        assert packet.length == int(header.has_address_extension)
        request = decode_request(packet)
        asked += range(request.remote_address, request.remote_address + request.byte_count)
    assert asked == [address for address, *_ in
                     _burst_bytes(burst, bus_bytes, [0] * burst.length, [0] * burst.length,
                                  remote)]
    owners = [number for piece in pieces for number in piece.beats]
    assert sorted(owners) == list(range(burst.length)), "every beat in exactly one packet"


@given(legal_bursts())
def test_incr_sends_one_packet_per_256_byte_block(case) -> None:
    burst, bus_bytes = case
    if burst.kind != BurstType.INCR:
        return
    touched = {address // MAX_DATA_BYTES for beat in beats(burst, bus_bytes)
               for address in beat.byte_addresses}
    assert len(split(burst, bus_bytes, burst.address)) == len(touched)


def test_partial_enables_over_128_bytes_split_at_128() -> None:
    burst = Burst(0x1000, 4, 6, INCR)  # 256 bytes on a 64-byte bus
    strobes = [2**64 - 1, 2**64 - 1, 2**64 - 2, 2**64 - 1]
    pieces = split(burst, 64, 0x1000, [0] * 4, strobes)
    assert [(piece.remote_address, piece.byte_count, piece.enables) for piece in pieces] == [
        (0x1000, 128, None), (0x1080, 128, 2**128 - 2)]
    assert [len(split(burst, 64, 0x1000, [0] * 4)), len(split(burst, 64, 0x1040, [0] * 4))] == [
        1, 2]


def test_wrap_sends_the_two_runs_in_beat_order() -> None:
    pieces = split(Burst(0x34, 4, 2, WRAP), 4, 0x7034)
    assert [(piece.remote_address, piece.byte_count, piece.beats) for piece in pieces] == [
        (0x7034, 12, (0, 1, 2)), (0x7030, 4, (3,))]


def test_fixed_sends_one_packet_per_beat() -> None:
    pieces = split(Burst(0x13, 3, 2, FIXED), 8, 0x13, [1, 2, 3])
    assert [(piece.remote_address, piece.byte_count, piece.data) for piece in pieces] == [
        (0x13, 1, b"\x00"), (0x13, 1, b"\x00"), (0x13, 1, b"\x00")]
    pieces = split(Burst(0x10, 2, 2, FIXED), 8, 0x10, [0x0403020100, 0x0908070605])
    assert [piece.data for piece in pieces] == [b"\x00\x01\x02\x03", b"\x05\x06\x07\x08"]


@given(bursts_with_data())
def test_manager_burst_is_legal_and_writes_the_packet_bytes(case) -> None:
    burst, bus_bytes, data, strobes, remote = case
    for piece in split(burst, bus_bytes, remote, data, strobes):
        request = decode_request(request_packet(piece, 1, 2, 3))
        axi, words, masks = manager_burst(request, bus_bytes)
        assert burst_errors(axi, bus_bytes, address_bits=64) == []
        written = {}
        for beat, word, mask in zip(beats(axi, bus_bytes), words, masks, strict=True):
            assert mask & ~beat.lanes == 0
            for address in beat.byte_addresses:
                lane = address % bus_bytes
                if mask >> lane & 1:
                    written[address] = (word >> (8 * lane)) & 0xFF
        expected = {request.remote_address + i: request.data[i] for i in
                    range(request.byte_count)
                    if request.enables is None or request.enables >> i & 1}
        assert written == expected


# Responses of a fabric of several chiplets.

MEMORY_BYTES = 16 * PAGE_BYTES


def _fabric() -> tuple[Fabric, dict[int, list[Window]]]:
    """Endpoints 0, 1, 2 each with a memory; windows point at each other, at a missing
    endpoint 7, and past the end of endpoint 1's memory."""
    windows = {
        0: [Window(0x10000, 8 * PAGE_BYTES, 1, 0), Window(0x20000, 4 * PAGE_BYTES, 2, 0x4000),
            Window(0x30000, PAGE_BYTES, 7, 0), Window(0x40000, 2 * PAGE_BYTES, 1,
                                                      MEMORY_BYTES - PAGE_BYTES),
            Window(0x50000, 2 * PAGE_BYTES, 0, 0)],
        1: [Window(0x0, 16 * PAGE_BYTES, 0, 0)],
        2: [Window(0x80000, 4 * PAGE_BYTES, 1, 0x8000)],
    }
    endpoints = {source: Endpoint(AddressMap(PARAMS, spec), MEMORY_BYTES)
                 for source, spec in windows.items()}
    return Fabric(PARAMS, endpoints), windows


class ByteModel:
    """The same fabric as bytes, without packets: what each burst must do."""

    def __init__(self, windows: dict[int, list[Window]]) -> None:
        self.windows = windows
        self.memory = {endpoint: {} for endpoint in windows}

    def target(self, source: int, address: int):
        for window in self.windows[source]:
            if window.base <= address < window.base + window.size:
                remote = window.remote_offset + address - window.base
                reachable = window.destination in self.memory and remote < MEMORY_BYTES
                return window.destination, remote, reachable
        return None

    def write(self, source, burst, bus_bytes, data, strobes) -> Response:
        if self.target(source, burst.address) is None:
            return Response.DECERR
        response = Response.OKAY
        for beat, word, strobe in zip(beats(burst, bus_bytes), data, strobes, strict=True):
            for address in beat.byte_addresses:
                destination, remote, reachable = self.target(source, address)
                if not reachable:
                    response = Response.SLVERR
                elif strobe >> (address % bus_bytes) & 1:
                    lane = address % bus_bytes
                    self.memory[destination][remote] = (word >> (8 * lane)) & 0xFF
        return response

    def read(self, source, burst, bus_bytes):
        if self.target(source, burst.address) is None:
            return [Response.DECERR] * burst.length, [None] * burst.length
        responses, words = [], []
        for beat in beats(burst, bus_bytes):
            targets = [self.target(source, address) for address in beat.byte_addresses]
            if not all(reachable for *_, reachable in targets):
                responses.append(Response.SLVERR)
                words.append(None)
                continue
            word = 0
            for address, (destination, remote, _) in zip(beat.byte_addresses, targets,
                                                        strict=True):
                word |= self.memory[destination].get(remote, 0) << (8 * (address % bus_bytes))
            responses.append(Response.OKAY)
            words.append(word)
        return responses, words


def _random_burst(rng: random.Random, bus_bytes: int) -> Burst:
    region = rng.choice([0x10000, 0x1C000, 0x20000, 0x30000, 0x40000, 0x50000, 0x60000,
                         0x0, 0x80000])
    size = rng.randrange(bus_bytes.bit_length())
    kind = rng.choice([FIXED, INCR, INCR, WRAP])
    page = region + rng.randrange(4) * PAGE_BYTES
    if kind == WRAP:
        return Burst(page + (rng.randrange(PAGE_BYTES >> size) << size),
                     rng.choice([2, 4, 8, 16]), size, kind)
    if kind == FIXED:
        return Burst(page + rng.randrange(PAGE_BYTES), rng.randint(1, 16), size, kind)
    offset = rng.randrange(PAGE_BYTES)
    room = (PAGE_BYTES - (offset >> size << size)) >> size
    return Burst(page + offset, rng.randint(1, min(room, 256)), size, kind)


@pytest.mark.parametrize("seed", range(6))
def test_fabric_responses_and_memories_match_the_byte_model(seed: int) -> None:
    rng = random.Random(seed)
    fabric, windows = _fabric()
    model = ByteModel(windows)
    bus_bytes = fabric.bus_bytes
    seen = set()
    for _ in range(300):
        source = rng.choice([0, 0, 0, 1, 2])
        burst = _random_burst(rng, bus_bytes)
        if rng.random() < 0.5:
            burst_beats = beats(burst, bus_bytes)
            data = [rng.getrandbits(8 * bus_bytes) for _ in burst_beats]
            strobes = [rng.getrandbits(bus_bytes) & beat.lanes if rng.random() < 0.5
                       else beat.lanes for beat in burst_beats]
            result = fabric.write(source, burst, data, strobes)
            expected = model.write(source, burst, bus_bytes, data, strobes)
            assert result.response == expected, burst
            seen.add(("write", expected))
        else:
            result = fabric.read(source, burst)
            responses, words = model.read(source, burst, bus_bytes)
            assert list(result.responses) == responses, burst
            assert list(result.data) == words, burst
            seen.update(("read", response) for response in responses)
    for endpoint, contents in model.memory.items():
        assert fabric.endpoints[endpoint].memory.contents == contents
    assert {("write", Response.OKAY), ("write", Response.SLVERR), ("write", Response.DECERR),
            ("read", Response.OKAY), ("read", Response.SLVERR),
            ("read", Response.DECERR)} <= seen


def test_one_failed_packet_fails_only_its_beats() -> None:
    fabric, _ = _fabric()
    # 0x40000 maps to the last page of endpoint 1's memory; the next page is past its end.
    burst = Burst(0x40FC0, 2, 6, WRAP)  # 128 bytes, the wrap region [0x40F80, 0x41000)
    assert fabric.read(0, burst).responses == (Response.OKAY,) * 2
    burst = Burst(0x41000, 2, 6, INCR)
    assert fabric.read(0, burst).responses == (Response.SLVERR,) * 2
    writes = fabric.write(0, Burst(0x40F00, 4, 6, INCR), [0xAB] * 4)
    assert writes.response == Response.OKAY and len(writes.packets) == 1


def test_packets_name_source_destination_and_distinct_tags() -> None:
    fabric, _ = _fabric()
    result = fabric.write(0, Burst(0x20000, 64, 6, INCR), [7] * 64)
    requests = [decode_request(packet) for packet in result.packets]
    assert len(requests) == 16
    assert {(request.source, request.destination) for request in requests} == {(0, 2)}
    assert len({request.tag for request in requests}) == 16
    assert [request.remote_address for request in requests] == list(range(0x4000, 0x5000, 256))


def test_packet_layout_of_a_small_write_by_hand() -> None:
    # 20 bytes 0x00..0x13 to remote 0x123_4567_8910 (above 40 bits), byte 1 not enabled.
    piece = split(Burst(0x910, 5, 2, INCR), 4, 0x123_4567_8910,
                  [0x03020100, 0x07060504, 0x0B0A0908, 0x0F0E0D0C, 0x13121110],
                  [0b1101, 0b1111, 0b1111, 0b1111, 0b1111])[0]
    packet = request_packet(piece, destination=6, source=2, tag=17)
    header = packet.fields.message.transaction
    assert (header.command, header.destination, header.source, header.tag, header.address,
            header.byte_count) == (Command.WRITE, 6, 2, 17, 0x23_4567_8910, 20)
    assert (header.has_address_extension, header.has_byte_enable) == (1, 1)
    assert packet.payload == (
        0x123_4567_8910 >> 40,  # address extension flit: the bits above the header's 40
        0xFFFFD,  # byte enables: bit i for data byte i
        0x0F0E0D0C_0B0A0908_07060504_03020100,  # data byte i in bits 8i..8i+7
        0x13121110)


@pytest.mark.parametrize(("address_bits", "endpoints"), [(48, 4), (48, 72), (32, 144), (20, 3)])
def test_default_map_gives_every_other_endpoint_one_window(address_bits: int,
                                                          endpoints: int) -> None:
    params = ChipletParams(axi_address_bits=address_bits)
    for endpoint in {0, endpoints - 1}:
        address_map = default_address_map(params, endpoints, endpoint)
        span = address_map.windows[0].size
        assert {window.destination for window in address_map.windows} == \
            set(range(endpoints)) - {endpoint}
        for other in set(range(endpoints)) - {endpoint}:
            assert address_map.lookup(other * span + 0x123) == Translation(other, 0x123)
        assert address_map.lookup(endpoint * span) is None


def test_default_map_refuses_too_many_endpoints_for_the_address_space() -> None:
    with pytest.raises(WindowError, match="widen axi_address_bits"):
        default_address_map(ChipletParams(axi_address_bits=14), 8, 0)
    with pytest.raises(WindowError, match="is not one of"):
        default_address_map(ChipletParams(), 4, 4)
