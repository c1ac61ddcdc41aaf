"""The link CRC and the reference framing: every error of the kinds promised is detected."""

from __future__ import annotations

import random

import pytest

from emulator.ref.framing import IDLE_HEADER, Packet, crc_field, deframe, frame, header_crc
from hdl.layouts import FLIT_BITS, LINK_CRC, MAX_PAYLOAD_FLITS
from hdl.params import LinkParams
from testbench.stimulus import flip_bits, random_packet

LINK = LinkParams()


def _multiply(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a, b = a << 1, b >> 1
    return product


def _power_of_x(exponent: int, modulus: int, degree: int) -> int:
    result, base = 1, 2
    while exponent:
        if exponent & 1:
            result = _reduce(_multiply(result, base), modulus, degree)
        base = _reduce(_multiply(base, base), modulus, degree)
        exponent >>= 1
    return result


def _reduce(value: int, modulus: int, degree: int) -> int:
    while value.bit_length() > degree:
        value ^= modulus << (value.bit_length() - 1 - degree)
    return value


def test_polynomial_is_x_plus_one_times_a_primitive_degree_24_factor() -> None:
    full = (1 << 25) | LINK_CRC.polynomial
    factor = (1 << 24) | (1 << 7) | (1 << 2) | (1 << 1) | 1
    assert _multiply(factor, 0b11) == full
    order = 2**24 - 1  # = 3^2 * 5 * 7 * 13 * 17 * 241
    assert _power_of_x(order, factor, 24) == 1
    for prime in (3, 5, 7, 13, 17, 241):
        assert _power_of_x(order // prime, factor, 24) != 1


def test_round_trip_every_length() -> None:
    rng = random.Random(3)
    packets = [random_packet(rng, LINK, length) for length in range(MAX_PAYLOAD_FLITS + 1)] * 2
    delivered, errors = deframe(LINK, frame(LINK, packets))
    assert (delivered, errors) == (packets, 0)


def test_idle_headers_are_checked_and_not_delivered() -> None:
    rng = random.Random(4)
    packets = [random_packet(rng, LINK, 3) for _ in range(4)]
    flits = frame(LINK, [packets[0], None, packets[1], packets[2], None, packets[3]])
    assert sum(flit & ((1 << 103) - 1) == IDLE_HEADER for flit in flits) == 3  # two + closing
    assert deframe(LINK, flits) == (packets, 0)


def test_header_crc_covers_previous_payload() -> None:
    packet = Packet.build([1, 2], transaction={"destination": 3})
    flits = frame(LINK, [packet, packet])
    assert crc_field(flits[3]) == header_crc(LINK, [1, 2], packet.header)
    assert crc_field(flits[3]) != header_crc(LINK, [], packet.header)


def test_every_single_bit_error_is_detected() -> None:
    rng = random.Random(5)
    packets = [random_packet(rng, LINK, length) for length in (2, 0, 1)]
    clean = frame(LINK, packets)
    for index in range(len(clean)):
        for bit in range(FLIT_BITS):
            flits = list(clean)
            flits[index] ^= 1 << bit
            delivered, errors = deframe(LINK, flits)
            assert errors >= 1, f"flip of bit {bit} in flit {index} went unnoticed"
            assert set(delivered) <= set(packets)


@pytest.mark.parametrize("burst", [2, 3, 16, 25])
def test_random_bursts_are_detected(burst: int) -> None:
    rng = random.Random(burst)
    packets = [random_packet(rng, LINK) for _ in range(100)]
    clean = frame(LINK, packets)
    for _ in range(40):
        flits, hits = flip_bits(rng, clean, 0.005, burst)
        if not hits:
            continue
        delivered, errors = deframe(LINK, flits)
        assert errors >= 1
        assert all(packet in packets for packet in delivered)


def test_packet_refuses_inconsistent_length() -> None:
    good = Packet.build([7])
    with pytest.raises(ValueError, match="header says 1 payload flits, 0 given"):
        Packet(good.header, ())


def test_table_crc_equals_the_parameter_objects_crc() -> None:
    from emulator.ref.crc import TableCrc

    rng = random.Random(6)
    table = TableCrc(LINK.crc)
    for _ in range(300):
        words = [rng.getrandbits(FLIT_BITS) for _ in range(rng.randint(0, 18))]
        assert table.compute(words) == LINK.crc.compute(words)
