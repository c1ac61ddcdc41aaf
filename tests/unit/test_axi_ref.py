"""The AXI4 reference: beat addresses and byte lanes as the specification's examples give them,
legality rules, and a memory that writes exactly the strobed bytes of the active lanes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.ref.axi import (
    MAX_BUS_BYTES,
    PAGE_BYTES,
    AxiBurstError,
    Burst,
    ReferenceMemory,
    beats,
    burst_errors,
    strobe_errors,
)
from hdl.chiplet.axi import BurstType

FIXED, INCR, WRAP = (kind.value for kind in BurstType)
BUS_WIDTHS = [1 << n for n in range(MAX_BUS_BYTES.bit_length())]


def _layout(burst: Burst, bus_bytes: int) -> list[tuple[int, int, int]]:
    return [(beat.address, beat.lower_lane, beat.upper_lane) for beat in beats(burst, bus_bytes)]


def test_unaligned_incr_on_a_32_bit_bus() -> None:
    # A word transfer starting at 0x07: the first beat uses lane 3 only.
    assert _layout(Burst(0x07, 4, 2, INCR), 4) == [
        (0x07, 3, 3), (0x08, 0, 3), (0x0C, 0, 3), (0x10, 0, 3)]


def test_narrow_incr_rotates_through_the_lanes() -> None:
    assert _layout(Burst(0x01, 5, 0, INCR), 4) == [
        (0x01, 1, 1), (0x02, 2, 2), (0x03, 3, 3), (0x04, 0, 0), (0x05, 1, 1)]
    assert _layout(Burst(0x06, 3, 1, INCR), 8) == [(0x06, 6, 7), (0x08, 0, 1), (0x0A, 2, 3)]


def test_unaligned_narrow_first_beat_stops_at_its_container() -> None:
    # Halfword beats on a 64-bit bus from 0x0B: the first beat is the one byte at 0x0B.
    assert _layout(Burst(0x0B, 2, 1, INCR), 8) == [(0x0B, 3, 3), (0x0C, 4, 5)]


def test_wrap_goes_back_to_the_wrap_boundary() -> None:
    assert [beat.address for beat in beats(Burst(0x34, 4, 2, WRAP), 4)] == [
        0x34, 0x38, 0x3C, 0x30]
    # A wrap region smaller than the bus: lanes follow the address, not a rotation.
    assert _layout(Burst(0x06, 2, 1, WRAP), 8) == [(0x06, 6, 7), (0x04, 4, 5)]


def test_fixed_repeats_the_first_beat_even_unaligned() -> None:
    assert _layout(Burst(0x1D, 3, 2, FIXED), 8) == [(0x1D, 5, 7)] * 3


@pytest.mark.parametrize(("burst", "bus_bytes", "rule"), [
    (Burst(0, 1, 0, 3), 4, "reserved"),
    (Burst(0, 1, 3, INCR), 4, "wider than"),
    (Burst(0, 257, 0, INCR), 4, "1 to 256"),
    (Burst(0, 0, 0, INCR), 4, "1 to 256"),
    (Burst(0, 17, 0, FIXED), 4, "1 to 16"),
    (Burst(0, 3, 2, WRAP), 4, "2, 4, 8 or 16"),
    (Burst(0, 1, 2, WRAP), 4, "2, 4, 8 or 16"),
    (Burst(0x2, 4, 2, WRAP), 4, "aligned"),
    (Burst(0xFFC, 2, 2, INCR), 4, "4096"),
    (Burst(0xF01, 65, 2, INCR), 4, "4096"),
])
def test_illegal_bursts_are_named(burst: Burst, bus_bytes: int, rule: str) -> None:
    errors = burst_errors(burst, bus_bytes, address_bits=32)
    assert any(rule in error for error in errors), errors
    with pytest.raises(AxiBurstError):
        beats(burst, bus_bytes)


def test_address_must_fit_the_bus() -> None:
    assert "32 bits" in burst_errors(Burst(1 << 32, 1, 0, INCR), 4, address_bits=32)[0]
    assert burst_errors(Burst((1 << 32) - 1, 1, 0, INCR), 4, address_bits=32) == []


@pytest.mark.parametrize("burst", [
    Burst(0xF00, 64, 2, INCR),  # ends exactly at the boundary
    Burst(0xFFF, 1, 2, INCR),  # unaligned single beat: only the byte at 0xFFF
    Burst(0xFF0, 16, 2, WRAP),  # WRAP bursts never cross: the rule is INCR's
    Burst(0xFFC, 16, 2, FIXED),
    Burst(0, 256, 0, INCR),
])
def test_legal_edge_cases(burst: Burst) -> None:
    assert burst_errors(burst, 4) == []


@st.composite
def legal_bursts(draw, bus_bytes: int | None = None) -> tuple[Burst, int]:
    """A legal burst and its bus width, drawn over every burst type, length and size."""
    bus_bytes = bus_bytes or draw(st.sampled_from(BUS_WIDTHS))
    size = draw(st.integers(0, bus_bytes.bit_length() - 1))
    number_bytes = 1 << size
    kind = draw(st.sampled_from([FIXED, INCR, WRAP]))
    page = draw(st.integers(0, 2**20)) * PAGE_BYTES
    if kind == FIXED:
        return Burst(page + draw(st.integers(0, PAGE_BYTES - 1)), draw(st.integers(1, 16)),
                     size, kind), bus_bytes
    if kind == WRAP:
        length = draw(st.sampled_from([2, 4, 8, 16]))
        offset = draw(st.integers(0, PAGE_BYTES // number_bytes - 1)) * number_bytes
        return Burst(page + offset, length, size, kind), bus_bytes
    offset = draw(st.integers(0, PAGE_BYTES - 1))
    room = (PAGE_BYTES - (offset - offset % number_bytes)) // number_bytes
    return Burst(page + offset, draw(st.integers(1, min(256, room))), size, kind), bus_bytes


@given(legal_bursts())
def test_every_beat_lies_inside_the_bus_and_its_container(case) -> None:
    burst, bus_bytes = case
    assert burst_errors(burst, bus_bytes) == []
    for number, beat in enumerate(beats(burst, bus_bytes)):
        assert 0 <= beat.lower_lane <= beat.upper_lane < bus_bytes
        container = beat.address - beat.address % burst.number_bytes
        addresses = list(beat.byte_addresses)
        assert addresses[0] == beat.address
        assert addresses[-1] == container + burst.number_bytes - 1
        assert beat.lanes.bit_count() == len(addresses) <= burst.number_bytes
        if number and burst.kind != BurstType.FIXED:
            assert beat.address == container, "only the first beat may be unaligned"
        assert {address // PAGE_BYTES for address in addresses} == {burst.address // PAGE_BYTES}


@given(legal_bursts())
def test_bytes_of_a_burst_by_type(case) -> None:
    burst, bus_bytes = case
    touched = [address for beat in beats(burst, bus_bytes) for address in beat.byte_addresses]
    aligned = burst.address - burst.address % burst.number_bytes
    total = burst.length * burst.number_bytes
    if burst.kind == BurstType.INCR:
        assert touched == list(range(burst.address, aligned + total))
    elif burst.kind == BurstType.WRAP:
        boundary = burst.address - burst.address % total
        region = list(range(boundary, boundary + total))
        start = burst.address - boundary
        assert touched == region[start:] + region[:start]
    else:
        once = list(range(burst.address, aligned + burst.number_bytes))
        assert touched == once * burst.length


@given(legal_bursts(), st.integers(0, 2**32))
def test_memory_writes_exactly_the_strobed_active_bytes(case, seed) -> None:
    burst, bus_bytes = case
    rng = random.Random(seed)
    memory = ReferenceMemory(bus_bytes)
    base = burst.address - burst.address % PAGE_BYTES
    before = bytes(rng.getrandbits(8) for _ in range(PAGE_BYTES))
    memory.poke(base, before)
    burst_beats = beats(burst, bus_bytes)
    data = [rng.getrandbits(8 * bus_bytes) for _ in burst_beats]
    strobes = [rng.getrandbits(bus_bytes) & beat.lanes for beat in burst_beats]
    memory.write(burst, data, strobes)

    expected = bytearray(before)
    for beat, word, strobe in zip(burst_beats, data, strobes, strict=True):
        for address in beat.byte_addresses:
            lane = address % bus_bytes
            if strobe >> lane & 1:
                expected[address - base] = (word >> (8 * lane)) & 0xFF
    assert memory.peek(base, PAGE_BYTES) == bytes(expected)
    assert set(memory.contents) == set(range(base, base + PAGE_BYTES))

    words = memory.read(burst)
    for beat, word in zip(burst_beats, words, strict=True):
        for address in beat.byte_addresses:
            lane = address % bus_bytes
            assert (word >> (8 * lane)) & 0xFF == expected[address - base]
        inactive = (1 << (8 * bus_bytes)) - 1
        for lane in range(beat.lower_lane, beat.upper_lane + 1):
            inactive &= ~(0xFF << (8 * lane))
        assert word & inactive == 0, "inactive lanes read as zero"


@given(legal_bursts(bus_bytes=16))
def test_full_strobes_read_back_what_was_written(case) -> None:
    burst, bus_bytes = case
    memory = ReferenceMemory(bus_bytes)
    burst_beats = beats(burst, bus_bytes)
    data = [int.from_bytes(bytes((n * 16 + i) & 0xFF for i in range(16)), "little")
            for n in range(len(burst_beats))]
    memory.write(burst, data)
    # Every beat of a FIXED burst writes the same bytes: the last beat's data stays.
    written = [data[-1]] * burst.length if burst.kind == BurstType.FIXED else data
    for beat, word, read in zip(burst_beats, written, memory.read(burst), strict=True):
        mask = sum(0xFF << (8 * lane) for lane in range(16) if beat.lanes >> lane & 1)
        assert read == word & mask


def test_strobes_outside_the_active_lanes_are_refused() -> None:
    beat = beats(Burst(0x06, 1, 1, INCR), 8)[0]
    assert beat.lanes == 0b1100_0000
    assert strobe_errors(beat, 0b1100_0000) == []
    assert strobe_errors(beat, 0b0100_0000) == []
    assert "outside" in strobe_errors(beat, 0b0010_0000)[0]
    memory = ReferenceMemory(8)
    with pytest.raises(AxiBurstError, match="outside"):
        memory.write(Burst(0x06, 1, 1, INCR), [0], [0b0010_0000])
    assert memory.contents == {}


def test_wrong_number_of_data_words_is_refused() -> None:
    with pytest.raises(AxiBurstError, match="4 beats, 3 data words"):
        ReferenceMemory(4).write(Burst(0, 4, 2, INCR), [1, 2, 3])


@pytest.mark.parametrize("bus_bytes", [0, 3, 256])
def test_bus_width_must_be_an_axi_width(bus_bytes: int) -> None:
    with pytest.raises(ValueError, match="not an AXI4 bus"):
        ReferenceMemory(bus_bytes)
