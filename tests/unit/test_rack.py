"""The ``cycle`` network backend: the compiled rack against the rack composed of the verified
part models, delivery by delivery; bandwidth and latency against what the parts allow."""

from __future__ import annotations

import random

import pytest

from emulator.system.backends import make_network
from emulator.system.composition import ComposedNetwork
from emulator.system.network import Transfer
from emulator.system.rack import CycleNetwork
from emulator.system.rack_bench import FORMAT_EFFICIENCY
from hdl.layouts import FLIT_BITS, MAX_DATA_BYTES
from hdl.params import PRESETS, ConfigError

SMALL = PRESETS["small"]
SIZES = (16, 100, 256, 300, 4096, 5000, 20000, 65536)


def random_transfers(rng: random.Random, endpoints: int, count: int,
                     spread: int) -> list[Transfer]:
    transfers = []
    for _ in range(count):
        source = rng.randrange(endpoints)
        destination = rng.randrange(endpoints - 1)
        destination += destination >= source
        transfers.append(Transfer(source, destination, rng.choice(SIZES),
                                  earliest=rng.randrange(spread)))
    return transfers


def run_all(network, transfers: list[Transfer]) -> list[tuple[int, int, int, int]]:
    for transfer in transfers:
        network.post(transfer)
    done = []
    while network.busy():
        done += [(c.handle, c.started, c.delivered) for c in network.advance()]
    return done


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_rack_equals_the_composed_part_models(seed: int) -> None:
    """Random transfers of every size between the endpoints of ``small``, many at once (the
    links' credits, the switches' buffers and the chiplets' tags all run out on the way):
    every packet a chiplet takes from a link, on the same cycle, and every completion."""
    transfers = random_transfers(random.Random(seed), SMALL.endpoints, 120, 1500)
    fast = CycleNetwork(SMALL, log_deliveries=1_000_000)
    slow = ComposedNetwork(SMALL)
    fast_done, slow_done = run_all(fast, transfers), run_all(slow, transfers)
    assert fast.counters()["tag_stall_cycles"] > 0, "the chiplets never ran out of tags"
    assert fast.counters()["credit_updates"] > 0
    assert len(slow.deliveries) > 5000
    for index, (mine, theirs) in enumerate(zip(fast.deliveries, slow.deliveries, strict=True)):
        assert mine == theirs, f"delivery {index}: compiled {mine}, composed {theirs}"
    assert fast_done == slow_done
    assert fast.now == slow.now


def test_one_transfer_latency_and_completion_stamps() -> None:
    network = make_network(SMALL, "cycle")
    handle = network.post(Transfer(0, 1, MAX_DATA_BYTES))
    (done,) = network.drain()
    assert done.handle == handle
    assert 0 == done.started < done.delivered
    link = SMALL.link
    # At least: the packet onto the wire, the wire, through the switch, the wire again, and
    # drained whole at the far chiplet.
    assert done.delivered >= 2 * link.pipeline_latency_cycles + 3 * (MAX_DATA_BYTES // 16)
    # The write response comes back over two more wires and frees the request's tag.
    assert network.drain() == [] and network.counters()["responses"] == 1


def test_a_stream_fills_every_plane() -> None:
    """One large transfer is spread over every plane and runs at the links' rate less the
    header flit of each packet and what the small preset's 32-flit switch buffers cost (a
    bubble per 17-flit packet: the output queue sends a packet only once it is whole)."""
    network = CycleNetwork(SMALL)
    network.post(Transfer(0, 1, 1 << 20))
    (done,) = network.drain()
    rate = (1 << 20) / (done.delivered - done.started)
    limit = SMALL.links_per_endpoint * (FLIT_BITS // 8) * FORMAT_EFFICIENCY
    assert 0.90 * limit < rate < limit


def test_bad_transfers_are_refused_with_one_line() -> None:
    network = CycleNetwork(SMALL)
    for bad, words in ((Transfer(0, 99, 16), "not an endpoint"), (Transfer(0, 0, 16), "itself"),
                       (Transfer(0, 1, 0), "positive"), (Transfer(0, 1, 16, traffic_class=7),
                                                         "traffic class")):
        with pytest.raises(ConfigError, match=words):
            network.post(bad)
    with pytest.raises(ConfigError, match="Unknown backend"):
        make_network(SMALL, "warp")
    with pytest.raises(ConfigError, match="not built yet"):
        make_network(SMALL, "flow")


@pytest.mark.parametrize("algo", ["ring", "direct", "halving_doubling", "tree"])
def test_all_reduce_over_the_rack(algo: str) -> None:
    """Every all-reduce algorithm over the cycle backend on a group of six of small's eight
    endpoints (not a power of two, not contiguous): the data right in the tensor's type, and
    the bus bandwidth within the links' bound (two planes of 16 bytes a cycle, 16/17 of it
    data) and, for the ring, not far below it (halving-doubling folds a group of six into
    four first, and pays for it)."""
    from emulator.system.collectives import run_collective

    network = CycleNetwork(SMALL)
    group = [0, 2, 3, 4, 6, 7]
    count = 1 << 17  # 512 KiB of fp32 per rank
    result = run_collective(network, "all_reduce", algo, group, count, "float")
    assert result.wrong == 0
    bound = SMALL.links_per_endpoint * SMALL.link.bandwidth_per_direction * 16 / 17 / 1e9
    assert result.busbw < bound
    if algo == "ring":
        assert result.busbw > 0.6 * bound, f"{algo}: {result.busbw:.1f} of {bound:.1f} GB/s"
