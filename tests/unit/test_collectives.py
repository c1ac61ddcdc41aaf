"""Collectives on the network protocol: every operation and algorithm with real data, the
dependency rule and pipelining, the nccl-tests report and the ``collectives`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emulator import cli
from emulator.system import collectives, nccl_report
from emulator.system.backends import register
from emulator.system.collectives import (
    SUPPORTED,
    bus_factor,
    count_for_size,
    count_wrong,
    double_binary_tree,
    fold,
    make_inputs,
    nccl_size,
    replay_collective,
    run_collective,
)
from emulator.system.network import Transfer
from hdl.params import ConfigError, preset

from .network_double import NetworkDouble

register("double", NetworkDouble)

SYSTEM = preset("small")  # 8 endpoints
#: Groups by size: endpoint IDs in rank order, most of them neither contiguous nor sorted.
GROUPS = {2: (6, 1), 3: (5, 1, 6), 4: (0, 1, 2, 3), 5: (7, 2, 5, 0, 4),
          8: (3, 0, 7, 1, 6, 2, 5, 4)}
PAIRS = [(op, algo) for op, algos in SUPPORTED.items() for algo in algos]


def _count(op: str, ranks: int) -> int:
    """Elements that leave some segments a piece shorter than the others."""
    return 5 if op in collectives.PER_RANK_COUNT else 2 * ranks + 3


@pytest.mark.parametrize("ranks", sorted(GROUPS))
@pytest.mark.parametrize(("op", "algo"), PAIRS)
def test_every_operation_and_algorithm_is_right(op: str, algo: str, ranks: int) -> None:
    group = GROUPS[ranks]
    count = _count(op, ranks)
    for dtype in ("float", "half", "bfloat16"):
        for in_place in (False, True):
            network = NetworkDouble(SYSTEM, jitter=9, seed=ranks)  # completions reordered
            arguments = {"root": ranks - 1, "in_place": in_place, "chunk_bytes": 8}
            result = run_collective(network, op, algo, group, count, dtype, **arguments)
            assert result.wrong == 0, (dtype, in_place)
            # Bit for bit what numpy gives with the same reductions in the same order.
            reference = replay_collective(op, algo, result.inputs, count, dtype, **arguments)
            for got, expected in zip(result.outputs, reference, strict=True):
                np.testing.assert_array_equal(got, expected)
            assert {item[:2] for item in network.posted} <= {
                (source, destination) for source in group for destination in group}
            assert result.time_cycles > 0 and result.transfers == len(network.posted)
            assert result.bytes_moved == network.counters()["bytes"]
            assert not network.busy()


@pytest.mark.parametrize("algo", SUPPORTED["all_reduce"])
def test_other_types_and_reductions(algo: str) -> None:
    for dtype in ("double", "int32", "int8", "uint8"):
        for redop in ("sum", "prod", "max", "min"):
            result = run_collective(NetworkDouble(SYSTEM), "all_reduce", algo, GROUPS[5], 13,
                                    dtype, redop=redop, chunk_bytes=8)
            assert result.wrong == 0, (dtype, redop)


def test_integer_sums_wrap_as_in_the_type() -> None:
    inputs = [np.full(4, 100, np.int8) for _ in range(3)]
    result = run_collective(NetworkDouble(SYSTEM), "all_reduce", "ring", [0, 1, 2], 4, "int8",
                            inputs=inputs)
    assert result.wrong == 0 and result.outputs[0].tolist() == [44] * 4  # 300 - 256


@pytest.mark.parametrize(("op", "algo"), PAIRS)
def test_a_network_that_damages_one_payload_is_caught(op: str, algo: str) -> None:
    for dtype in ("float", "bfloat16"):
        network = NetworkDouble(SYSTEM, corrupt={1})
        result = run_collective(network, op, algo, GROUPS[4], 6, dtype, chunk_bytes=8)
        assert result.wrong > 0, dtype


def test_the_tolerance_is_the_rounding_of_the_reductions() -> None:
    inputs = make_inputs("all_reduce", 8, 1000, "bfloat16", seed=3)
    exact = np.sum(np.stack(inputs).astype(np.float64), axis=0)
    magnitudes = np.sum(np.abs(np.stack(inputs)), axis=0)
    gamma = 7 * 2.0 ** -8 / (1 - 7 * 2.0 ** -8)
    near = [exact + 0.9 * gamma * magnitudes] * 8
    far = [exact + 1.2 * gamma * magnitudes] * 8
    assert count_wrong("all_reduce", "bfloat16", inputs, near) == 0
    assert count_wrong("all_reduce", "bfloat16", inputs, far) == 8 * 1000
    moved = make_inputs("broadcast", 3, 10, "float")
    outputs = [moved[0].copy() for _ in range(3)]
    outputs[2][4] = np.nextafter(outputs[2][4], np.float32(2))  # one unit in the last place
    assert count_wrong("broadcast", "float", moved, outputs) == 1


def test_a_forwarded_piece_leaves_when_the_piece_is_delivered() -> None:
    """A three-rank ring broadcast of one piece: the second hop starts the cycle after the
    first was delivered (when the network reports it)."""
    latency, serialization = 100, 64 // 16
    network = NetworkDouble(SYSTEM, latency=latency, bytes_per_cycle=16)
    result = run_collective(network, "broadcast", "ring", [0, 1, 2], 16, "float")
    assert result.time_cycles == 2 * (latency + serialization) + 1


def test_chunks_of_a_ring_all_reduce_overlap() -> None:
    latency, ranks, chunks, chunk_bytes = 100, 4, 16, 256
    chunk_cycles = chunk_bytes // 4
    network = NetworkDouble(SYSTEM, latency=latency, bytes_per_cycle=4)
    result = run_collective(network, "all_reduce", "ring", range(ranks),
                            ranks * chunks * chunk_bytes // 4, "float", chunk_bytes=chunk_bytes)
    steps = 2 * (ranks - 1)
    serial = steps * chunks * (latency + chunk_cycles)
    assert result.wrong == 0 and result.transfers == ranks * chunks * steps
    assert result.time_cycles < 0.5 * serial
    # Each rank's port is busy for all its chunks; only a few latencies are left over.
    assert result.time_cycles < steps * chunks * chunk_cycles + 2 * steps * latency


def test_the_window_bounds_bytes_under_way_without_changing_the_data() -> None:
    wide = run_collective(NetworkDouble(SYSTEM), "all_to_all", "direct", range(8), 64, "float",
                          chunk_bytes=64)
    narrow = run_collective(NetworkDouble(SYSTEM), "all_to_all", "direct", range(8), 64,
                            "float", chunk_bytes=64, window_bytes=64)
    assert narrow.wrong == wide.wrong == 0
    assert narrow.time_cycles > wide.time_cycles  # one transfer at a time pays every latency


def test_a_run_that_would_not_fit_in_memory_stops_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="GiB of host memory for their buffers"):
        run_collective(NetworkDouble(SYSTEM), "all_reduce", "ring", range(8), 1 << 20,
                       memory_bytes=1 << 20)
    with pytest.raises(ConfigError, match="direct all-reduce stages"):
        run_collective(NetworkDouble(SYSTEM), "all_reduce", "direct", range(8), 1 << 14,
                       memory_bytes=3 * 8 * 4 * (1 << 14) + 100_000)


def test_bus_factors_and_sizes_as_nccl_tests() -> None:
    assert bus_factor("all_reduce", 8) == pytest.approx(1.75)
    for op in ("reduce_scatter", "all_gather", "alltoall"):
        assert bus_factor(op, 8) == pytest.approx(0.875)
    for op in ("broadcast", "reduce", "sendrecv"):
        assert bus_factor(op, 8) == 1.0
    # all-gather and reduce-scatter: size is the total over ranks, count the per-rank part.
    assert count_for_size("all_gather", 8, 1 << 20, 4) == 1 << 15
    assert nccl_size("all_gather", 8, 1 << 15, 4) == 1 << 20
    assert nccl_size("all_reduce", 8, 1 << 15, 2) == 1 << 16
    result = run_collective(NetworkDouble(SYSTEM), "reduce_scatter", "ring", range(4), 256)
    assert result.size_bytes == 4 * 256 * 4
    assert result.algbw == pytest.approx(result.size_bytes / (result.time_us * 1e3))
    assert result.busbw == pytest.approx(result.algbw * 0.75)


def test_double_binary_tree_as_nccl_builds_it() -> None:
    (parents, children), (mirror_parents, _) = double_binary_tree(14)
    assert parents[0] == -1 and children[0] == [8] and children[8] == [4, 12]
    assert children[12] == [10, 13] and parents[13] == 12 and children[1] == []
    assert mirror_parents.index(-1) == 13  # mirrored for an even count
    (shifted_parents, shifted_children) = double_binary_tree(13)[1]
    assert shifted_parents.index(-1) == 1 and shifted_children[1] == [9]
    for ranks in range(2, 40):
        for parents, children in double_binary_tree(ranks):
            assert parents.count(-1) == 1
            for rank, kids in enumerate(children):
                assert len(kids) <= 2 and all(parents[kid] == rank for kid in kids)
            for rank in range(ranks):  # every rank reaches the root
                seen = 0
                while parents[rank] >= 0 and seen <= ranks:
                    rank, seen = parents[rank], seen + 1
                assert parents[rank] == -1
        if ranks % 2 == 0:  # with the mirror, no rank forwards for both trees
            first, second = double_binary_tree(ranks)
            assert not any(first[1][rank] and second[1][rank] for rank in range(ranks)) \
                or ranks == 2


def test_non_power_of_two_groups_fold_their_extra_ranks() -> None:
    assert fold(8) == (list(range(8)), 0)
    assert fold(5) == ([1, 2, 3, 4], 1)
    assert fold(6) == ([1, 3, 4, 5], 2)
    assert fold(7) == ([1, 3, 5, 6], 3)


def test_permute_with_explicit_peers() -> None:
    peers = [2, 0, 1, 3]
    result = run_collective(NetworkDouble(SYSTEM), "sendrecv", "direct", GROUPS[4], 9,
                            peers=peers)
    assert result.wrong == 0
    for rank, peer in enumerate(peers):
        np.testing.assert_array_equal(result.outputs[peer], result.inputs[rank])


@pytest.mark.parametrize(("arguments", "message"), [
    ({"op": "all_to_all", "algo": "ring"}, "all_to_all has no ring algorithm"),
    ({"op": "broadcast", "algo": "tree"}, "NCCL builds its double binary tree for all-reduce"),
    ({"op": "reduce", "algo": "halving_doubling"}, "its algorithms are ring, direct"),
    ({"op": "gather"}, "Unknown operation 'gather'"),
    ({"algo": "butterfly"}, "Unknown algorithm 'butterfly'"),
    ({"dtype": "float8"}, "Unknown data type 'float8'"),
    ({"group": [0, 9]}, "group member 9 is not an endpoint"),
    ({"group": [1, 1]}, "names an endpoint twice"),
    ({"group": [3]}, "two or more"),
    ({"count": 0}, "at least 1"),
    ({"op": "broadcast", "root": 4}, "root 4 is not a rank"),
    ({"chunk_bytes": 2}, "must hold at least one 4-byte float"),
    ({"redop": "avg"}, "Unknown reduction 'avg'"),
    ({"op": "permute", "algo": "direct", "peers": [1, 1, 0, 2]}, "a permutation"),
])
def test_bad_arguments_are_refused_with_one_clear_message(arguments: dict, message: str) -> None:
    call = {"op": "all_reduce", "algo": "ring", "group": [0, 1, 2, 3], "count": 8,
            "dtype": "float", **arguments}
    with pytest.raises(ConfigError, match=message):
        run_collective(NetworkDouble(SYSTEM), **call)


def test_a_busy_network_is_refused() -> None:
    network = NetworkDouble(SYSTEM)
    network.post(Transfer(0, 1, 8))
    with pytest.raises(ConfigError, match="idle network"):
        run_collective(network, "all_reduce", "ring", [0, 1], 8)


# --- the report ---------------------------------------------------------------------------------


def test_report_lines_are_nccl_tests_lines() -> None:
    assert nccl_report.LABEL == "#" + " " * 62 + "out-of-place" + " " * 23 + "in-place" + " " * 10
    assert nccl_report.HEADER == (
        "#       size         count      type   redop    root     time   algbw   busbw #wrong"
        "     time   algbw   busbw #wrong")
    assert nccl_report.UNITS == (
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)      "
        "      (us)  (GB/s)  (GB/s)       ")
    out = nccl_report.Measure(105.93, 9.9, 17.33, 0, 331)
    in_place = nccl_report.Measure(12345.6, 0.25, 0.44, None, 38580)
    row = nccl_report.Row(1048576, 262144, "float", "sum", -1, out, in_place)
    line = nccl_report.format_row(row)
    assert line == ("     1048576        262144     float     sum      -1    105.9    9.90   17.33"
                    "      0    12346    0.25    0.44    N/A")
    assert len(line) == len(nccl_report.HEADER)  # columns under their names
    fields = line.split()
    assert [int(fields[0]), int(fields[1]), fields[2], fields[3], int(fields[4])] == \
        [1048576, 262144, "float", "sum", -1]
    assert [float(value) for value in fields[5:8]] == [105.9, 9.9, 17.33]
    assert nccl_report.format_time(5.0) == "   5.00"
    assert nccl_report.footer_lines([row]) == [
        "# Out of bounds values : 0 OK", "# Avg bus bandwidth    : 8.885 ", "#"]
    bad = nccl_report.Row(8, 2, "float", "sum", -1, nccl_report.Measure(1, 1, 1, 3, 1), out)
    assert nccl_report.footer_lines([bad])[0] == "# Out of bounds values : 1 FAILED"


def test_a_row_measures_out_of_place_then_in_place_and_goes_to_json(tmp_path) -> None:
    row = nccl_report.measure(NetworkDouble(SYSTEM), "all_gather", "ring", range(4), 64, "half")
    assert (row.size, row.count, row.type, row.redop, row.root) == (512, 64, "half", "none", -1)
    assert row.out_of_place.wrong == row.in_place.wrong == 0
    assert row.in_place.cycles == row.out_of_place.cycles > 0  # the same data moves
    path = tmp_path / "rows.json"
    nccl_report.write_json(path, {"ring": [row]}, {"op": "all_gather"})
    document = json.loads(path.read_text())
    assert document["results"]["ring"][0]["out_of_place"]["nwrong"] == 0
    assert document["results"]["ring"][0]["in_place"]["cycles"] == row.in_place.cycles


# --- the command --------------------------------------------------------------------------------


def test_collectives_command_prints_the_table_and_writes_json_and_plot(tmp_path, capsys) -> None:
    status = cli.main(["collectives", "--backend", "double", "-b", "64", "-e", "1K", "-o",
                       "all_reduce_perf", "-d", "bf16", "--algo", "all", "-g", "0,2,4-6",
                       "--out", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out.count(nccl_report.HEADER) == 4 and out.count(nccl_report.UNITS) == 4
    rows = [line for line in out if line and not line.startswith("#")]
    assert len(rows) == 4 * 5
    assert rows[0].split()[:5] == ["64", "32", "bfloat16", "sum", "-1"]
    assert "# Out of bounds values : 0 OK" in out
    document = json.loads((tmp_path / "collectives_all_reduce.json").read_text())
    assert document["group"] == [0, 2, 4, 5, 6] and len(document["results"]) == 4
    assert (tmp_path / "collectives_all_reduce.png").stat().st_size > 0


@pytest.mark.parametrize(("arguments", "message"), [
    (["-o", "scatter"], "Unknown operation 'scatter'"),
    (["--algo", "bruck"], "Unknown algorithm 'bruck'"),
    (["-o", "alltoall", "--algo", "tree"], "all_to_all has no tree algorithm"),
    (["-d", "fp8"], "Unknown data type 'fp8'"),
    (["-b", "6"], "-b 6 B is not a whole number of 4-byte float elements"),
    (["-b", "2K", "-e", "1K"], "-b must be positive and at most -e"),
    (["-e", "64Q"], "-e '64Q' is not a size"),
    (["-g", "0,9"], "group member 9 is not an endpoint"),
    (["-g", "12"], "the rack has only 8 endpoints"),
    (["-g", "0-x"], "give a number of ranks or endpoint IDs"),
    (["-g", "3-1"], "rising ranges"),
    (["-c", "2"], "-c 2"),
    (["-f", "1"], "step factor must be at least 2"),
    (["--backend", "nowhere"], "Unknown backend 'nowhere'"),
])
def test_collectives_command_refuses_bad_input_in_one_line(arguments, message, capsys) -> None:
    status = cli.main(["collectives", "--backend", "double", "-e", "64", *arguments])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(error) == 1 and error[0].startswith("error: ") and message in error[0], error
