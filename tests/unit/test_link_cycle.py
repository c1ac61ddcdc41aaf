"""Cycle model of the reliable link: nothing lost, duplicated or reordered under errors.

Every delivery is checked against ``emulator.ref.link`` as it happens (``LinkHarness``).
Runs here are small; ``fusion-emu bench link`` runs 100,000 packets per error rate.
"""

from __future__ import annotations

import random

import pytest

from emulator.cycle.channel import ChannelErrors
from emulator.cycle.link_harness import LinkHarness
from hdl.params import LinkParams
from testbench.stimulus import random_packet

LINK = LinkParams()


def packets(seed: int, count: int, length: int | None = None) -> list:
    rng = random.Random(seed)
    return [random_packet(rng, LINK, length) for _ in range(count)]


def test_error_free_both_ways_no_replay() -> None:
    harness = LinkHarness(LINK, seed=1)
    harness.run(packets(1, 800), packets(2, 800), pause=0.3)
    for end in (harness.a, harness.b):
        assert end.counters.replays == end.counters.crc_errors == 0
        assert end.counters.packets_delivered == 800


@pytest.mark.parametrize(("flit_error_rate", "burst"), [(1e-4, 1), (1e-3, 1), (1e-3, 9),
                                                        (2e-2, 3)])
def test_bit_errors_both_directions(flit_error_rate: float, burst: int) -> None:
    errors = ChannelErrors(flit_error_rate, burst)
    harness = LinkHarness(LINK, errors, errors, seed=int(flit_error_rate * 1e6) + burst)
    harness.run(packets(3, 1000), packets(4, 1000), pause=0.2)
    corrupted = harness.a_to_b.counters.corrupted + harness.b_to_a.counters.corrupted
    detected = harness.a.counters.crc_errors + harness.b.counters.crc_errors
    if flit_error_rate >= 1e-3:
        assert corrupted > 0
    # No false alarms; a corrupted flit goes unseen only while its receiver resyncs anyway.
    assert (0 < detected <= corrupted) if corrupted else detected == 0


def test_dropped_header_only_packets_are_caught_by_the_sequence_in_the_crc() -> None:
    drops = ChannelErrors(drop_rate=0.02)
    harness = LinkHarness(LINK, drops, seed=5)
    harness.run(packets(5, 1500, length=0))
    assert harness.a_to_b.counters.dropped > 0
    assert harness.b.counters.crc_errors > 0
    assert harness.a.counters.replays > 0


def test_link_down_then_up() -> None:
    down = ChannelErrors(down=[(500, 400), (3000, 2000)])
    harness = LinkHarness(LINK, down, down, seed=6)
    harness.run(packets(6, 800), packets(7, 800))
    assert harness.a_to_b.counters.lost_while_down == 2400
    assert harness.a.counters.replays + harness.b.counters.replays > 0


def test_lost_acknowledgements_recovered() -> None:
    """Traffic one way, errors only on the way back: acknowledgements and credits get lost."""
    harness = LinkHarness(LINK, None, ChannelErrors(0.05, 1, drop_rate=0.05), seed=7)
    harness.run(packets(8, 1500))
    assert harness.b_to_a.counters.corrupted + harness.b_to_a.counters.dropped > 0
    assert harness.b.counters.duplicates_dropped + harness.a.counters.timeouts > 0


def test_small_forced_credits_still_correct_and_warned() -> None:
    link = LinkParams(credits_per_vc=24, replay_buffer_flits=32)
    assert len(link.warnings()) == 2
    harness = LinkHarness(link, ChannelErrors(1e-3), ChannelErrors(1e-3), seed=8)
    result = harness.run(packets(9, 400), packets(10, 400), pause=0.5)
    assert result.delivered == 800


def test_delivery_checker_catches_a_corrupted_model() -> None:
    """The harness must fail when the model delivers a wrong packet."""
    harness = LinkHarness(LINK, seed=9)
    original = harness.b._deliver

    def tamper(header: int, vc: int, payload: tuple[int, ...]) -> None:
        original(header, vc, tuple(flit ^ 1 for flit in payload))

    harness.b._deliver = tamper
    with pytest.raises(AssertionError, match="differs"):
        harness.run(packets(11, 50, length=2))


def test_payload_after_lost_flits_is_never_given_to_the_wrong_packet() -> None:
    """Payload that follows a lost header is covered by an IDLE whose CRC names the packet it
    belongs to (``layouts.CRC_TAG``); without that, this stimulus (an outage that ends just
    before a packet's payload) delivered a header with another packet's payload."""
    rng = random.Random(39)
    stimulus = [random_packet(rng, LINK, rng.randint(0, 3)) for _ in range(3000)]
    forward = ChannelErrors(3e-3, burst_bits=4, drop_rate=1e-3, down=[(2000, 300)])
    back = ChannelErrors(3e-3, burst_bits=4, drop_rate=1e-3, down=[(5000, 300)])
    harness = LinkHarness(LINK, forward, back, seed=39)
    harness.run(stimulus[:1500], stimulus[1500:], pause=0.6)
    assert harness.a_to_b.counters.lost_while_down > 0
