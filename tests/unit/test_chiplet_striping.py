"""The chiplet's packet plumbing in Amaranth's simulator: the striper over the planes, the
queue in front of a link transmitter, the merge of several packet streams and the split of
completions by tag.

Random packets and random back-pressure; every packet is checked whole, in order, at the
place the rule in docs/chiplet.md sends it.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from amaranth.sim import Simulator

from emulator.ref.framing import Packet
from hdl.chiplet.completion_split import CompletionSplit
from hdl.chiplet.packet_merge import PacketMerge
from hdl.chiplet.packet_queue import PacketQueue
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.striper import Striper, chosen_plane, lane_for
from hdl.layouts import HEADER_BODY, MAX_PAYLOAD_FLITS, Command, unpack

DESTINATIONS = 1 << 10


def random_packet(rng: random.Random, serial: int, tag: int | None = None,
                  source: int | None = None) -> Packet:
    """A request packet with a random destination, address and length; its payload flits
    carry ``serial`` so that a packet can be recognised wherever it arrives."""
    length = rng.randint(0, MAX_PAYLOAD_FLITS)
    return Packet.build(
        [serial << 8 | index for index in range(length)], link={"vc": 0},
        transaction={"command": Command.WRITE, "destination": rng.randrange(DESTINATIONS),
                     "source": serial % DESTINATIONS if source is None else source,
                     "tag": rng.randrange(256) if tag is None else tag,
                     "address": rng.randrange(1 << 40)})


def flits_of(packet: Packet) -> list[tuple[int, int]]:
    """(flit, last) pairs of a packet, header first."""
    flits = [packet.header, *packet.payload]
    return [(flit, int(index == len(flits) - 1)) for index, flit in enumerate(flits)]


def _run(dut, bench) -> None:
    simulator = Simulator(dut)
    simulator.add_clock(1e-9)
    simulator.add_testbench(bench)
    simulator.run()


@pytest.mark.parametrize(("links", "home"), [(1, 0), (2, 0), (3, 1), (5, 4)])
def test_striper_sends_each_packet_whole_to_the_rule_s_plane(links: int, home: int) -> None:
    rng = random.Random(links)
    packets = [random_packet(rng, serial) for serial in range(300)]
    dut = Striper(links, home)
    received: dict[int, list[tuple[int, int]]] = defaultdict(list)
    expected: dict[int, list[tuple[int, int]]] = defaultdict(list)
    seen = {"moved": 0, "waited": 0}

    async def bench(ctx) -> None:
        queue = [flit for packet in packets for flit in flits_of(packet)]
        all_up = (1 << links) - 1
        up, drained = all_up, all_up
        position, cycle = 0, 0
        in_packet = None
        while position < len(queue):
            cycle += 1
            assert cycle < 50 * len(queue), "the striper stopped"
            if rng.random() < 0.05:  # planes fall and come back; at least one stays up
                up = rng.randrange(1, 1 << links) if rng.random() < 0.7 else all_up
            if rng.random() < 0.2:
                drained = rng.randrange(1 << links)
            valid = rng.random() < 0.8
            ready = [rng.random() < 0.7 for _ in range(links)]
            flit, last = queue[position]
            ctx.set(dut.planes_up, up)
            ctx.set(dut.drained, drained)
            ctx.set(dut.flit_in.valid, valid)
            ctx.set(dut.flit_in.payload, {"flit": flit, "last": last})
            for port, port_ready in zip(dut.flit_out, ready, strict=True):
                ctx.set(port.ready, port_ready)
            outputs = [(ctx.get(port.valid), ctx.get(port.payload)) for port in dut.flit_out]
            taken = ctx.get(dut.flit_in.ready) and valid
            valid_ports = [index for index, (port_valid, _) in enumerate(outputs) if port_valid]
            assert len(valid_ports) <= 1
            if in_packet is None and valid:
                plane = chosen_plane(home, up, links)
                allowed = bool(up >> home & 1 or drained >> home & 1)
                if not allowed:
                    assert not valid_ports, "a packet left while its home plane was draining"
                    seen["waited"] += 1
                else:
                    assert valid_ports == [plane]
                if taken:
                    in_packet = plane
                    seen["moved"] += plane != home
            elif in_packet is not None and valid:
                assert valid_ports == [in_packet]
            if taken:
                target = valid_ports[0]
                assert ready[target]
                received[target].append((outputs[target][1].flit, outputs[target][1].last))
                expected[in_packet].append((flit, last))
                position += 1
                if last:
                    in_packet = None
            await ctx.tick()
        assert ctx.get(dut.sent) == len(packets)
        assert ctx.get(dut.moved) == seen["moved"]

    _run(dut, bench)
    assert received == expected
    if links > 1:
        assert seen["moved"] and seen["waited"], seen


def test_lanes_take_pages_in_turn_and_a_page_stays_in_one_lane() -> None:
    lanes = 4
    chosen = [lane_for(0x10_0000 + page * 4096 + offset, lanes)
              for page in range(8) for offset in (0, 4095)]
    assert chosen[::2] == chosen[1::2]  # both ends of a page: one lane
    assert chosen[::2] == [page % lanes for page in range(8)]
    assert chosen_plane(2, 0b1011, lanes) == 3
    assert chosen_plane(2, 0b0011, lanes) == 0
    assert chosen_plane(1, 0, lanes) is None


@pytest.mark.parametrize("depth", [18, 36])
def test_packet_queue_offers_whole_packets_with_payload_back_to_back(depth: int) -> None:
    rng = random.Random(depth)
    packets = [random_packet(rng, serial) for serial in range(200)]
    dut = PacketQueue(depth)
    got: list[Packet] = []

    async def bench(ctx) -> None:
        incoming = [flit for packet in packets for flit in flits_of(packet)]
        position, cycle = 0, 0
        remaining, header, payload = 0, None, []
        while len(got) < len(packets):
            cycle += 1
            assert cycle < 100 * len(incoming), "the queue stopped"
            valid = position < len(incoming) and rng.random() < 0.7
            if valid:
                flit, last = incoming[position]
                ctx.set(dut.flit_in.payload, {"flit": flit, "last": last})
            ctx.set(dut.flit_in.valid, valid)
            # The transmitter takes a header when it likes, then every payload flit at once.
            take_header = remaining == 0 and rng.random() < 0.5
            ctx.set(dut.header.ready, take_header)
            ctx.set(dut.payload.ready, remaining > 0)
            if remaining:
                assert ctx.get(dut.payload.valid), "payload flit missing right after its header"
                assert not ctx.get(dut.header.valid)
                payload.append(ctx.get(dut.payload.payload))
                remaining -= 1
                if not remaining:
                    got.append(Packet(header, tuple(payload)))
            elif take_header and ctx.get(dut.header.valid):
                header = ctx.get(dut.header.payload).as_value().value
                remaining = unpack(HEADER_BODY, header).link.length
                payload = []
                if not remaining:
                    got.append(Packet(header, ()))
            if valid and ctx.get(dut.flit_in.ready):
                position += 1
            await ctx.tick()
        assert ctx.get(dut.empty)

    _run(dut, bench)
    assert got == packets


@pytest.mark.parametrize("count", [1, 2, 4])
def test_merge_keeps_packets_whole_and_each_input_in_order(count: int) -> None:
    rng = random.Random(count)
    inputs = [[random_packet(rng, serial, source=port) for serial in range(60)]
              for port in range(count)]
    dut = PacketMerge(count)
    out: list[tuple[int, int]] = []

    async def bench(ctx) -> None:
        queues = [[flit for packet in packets for flit in flits_of(packet)]
                  for packets in inputs]
        positions = [0] * count
        total = sum(map(len, queues))
        cycle = 0
        while len(out) < total:
            cycle += 1
            assert cycle < 20 * total, "the merge stopped"
            valids = []
            for port, queue, position in zip(dut.flit_in, queues, positions, strict=True):
                valid = position < len(queue) and rng.random() < 0.8
                valids.append(valid)
                ctx.set(port.valid, valid)
                if valid:
                    flit, last = queue[position]
                    ctx.set(port.payload, {"flit": flit, "last": last})
            ready = rng.random() < 0.8
            ctx.set(dut.flit_out.ready, ready)
            if ready and ctx.get(dut.flit_out.valid):
                payload = ctx.get(dut.flit_out.payload)
                out.append((payload.flit, payload.last))
            for index, port in enumerate(dut.flit_in):
                if valids[index] and ctx.get(port.ready):
                    positions[index] += 1
            await ctx.tick()

    _run(dut, bench)
    packets, current = [], []
    for flit, last in out:
        current.append(flit)
        if last:
            packets.append(Packet(current[0], tuple(current[1:])))
            current = []
    for port, sent in enumerate(inputs):
        arrived = [packet for packet in packets
                   if packet.fields.message.transaction.source == port]
        assert arrived == sent


def test_completion_split_goes_by_the_read_tag_flag() -> None:
    rng = random.Random(3)
    packets = [random_packet(rng, serial, tag=rng.randrange(256)) for serial in range(200)]
    dut = CompletionSplit()
    got = {"read": [], "write": []}

    async def bench(ctx) -> None:
        queue = [flit for packet in packets for flit in flits_of(packet)]
        position, cycle = 0, 0
        while position < len(queue):
            cycle += 1
            assert cycle < 20 * len(queue)
            flit, last = queue[position]
            valid = rng.random() < 0.8
            ctx.set(dut.flit_in.valid, valid)
            ctx.set(dut.flit_in.payload, {"flit": flit, "last": last})
            readies = {name: rng.random() < 0.7 for name in got}
            for name, ready in readies.items():
                ctx.set(getattr(dut, name).ready, ready)
            for name in got:
                port = getattr(dut, name)
                if readies[name] and ctx.get(port.valid):
                    got[name].append(ctx.get(port.payload).flit)
            if valid and ctx.get(dut.flit_in.ready):
                position += 1
            await ctx.tick()

    _run(dut, bench)
    for name, want_read in (("read", True), ("write", False)):
        expected = [flit for packet in packets
                    if bool(packet.fields.message.transaction.tag & READ_TAG_FLAG) == want_read
                    for flit, _ in flits_of(packet)]
        assert got[name] == expected
