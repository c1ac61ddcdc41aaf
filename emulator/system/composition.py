"""The rack composed of the verified part models themselves, a cycle at a time, in Python.

``ComposedNetwork(system)`` is the ``cycle`` backend's oracle: the same rack as
:class:`emulator.system.rack.CycleNetwork`, built from the part models that are verified
against their RTL on their own: a :class:`emulator.cycle.link.LinkEnd` at each end of every
link with real flits (headers with CRCs, credits and acknowledgements in control flits) on
:class:`emulator.cycle.channel.Channel` wires, a :class:`emulator.cycle.switch.SwitchState` per
plane stepped by the switch model's own compiled phases, and packets built by the chiplet
reference (:func:`emulator.ref.chiplet.request_packet`, :func:`~emulator.ref.chiplet.completion`).
The glue between them (docs/rack.md) is written here a second time, plainly. It is far too
slow for a rack (Python touches every flit); a test runs both on ``small`` and requires every
delivery on the same cycle.
"""

from __future__ import annotations

import numpy as np

from emulator.cycle.channel import Channel
from emulator.cycle.link import LinkEnd
from emulator.cycle.switch import SwitchState, voq_enqueue
from emulator.ref.chiplet import (
    HEADER_ADDRESS_BITS,
    Piece,
    completion,
    decode_request,
    request_packet,
)
from hdl.layouts import HEADER_BODY, MAX_DATA_BYTES, REQUEST_VC, Command, unpack
from hdl.params import SystemParams

from .network import Completion, Network, Transfer
from .rack import PAGE_BYTES

#: Kinds of delivery in :attr:`ComposedNetwork.deliveries`, as the compiled rack logs them.
REQUEST_DELIVERED, RESPONSE_DELIVERED = 0, 1


class ComposedNetwork(Network):
    """The rack of ``system`` from its part models; ``deliveries`` logs every packet a
    chiplet takes from a link: (cycle, endpoint, plane, kind, transfer handle)."""

    def __init__(self, system: SystemParams) -> None:
        super().__init__(system)
        link, switch = system.link, system.switch
        self.planes = planes = system.links_per_endpoint
        self.vcs = link.virtual_channels
        self.tags = system.chiplet.outstanding_tags
        self.iterations = switch.islip_iterations
        self.chip = [[LinkEnd(link, f"chip{e}.{p}") for p in range(planes)]
                     for e in range(self.endpoints)]
        self.port = [[LinkEnd(link, f"port{e}.{p}") for p in range(planes)]
                     for e in range(self.endpoints)]
        latency = link.pipeline_latency_cycles
        self.up = [[Channel(latency) for _ in range(planes)] for _ in range(self.endpoints)]
        self.down = [[Channel(latency) for _ in range(planes)] for _ in range(self.endpoints)]
        capacity = 4 * self.endpoints * planes * (self.tags + switch.credits_per_vc)
        self.length = np.ones(capacity, dtype=np.int64)
        self.free_ids = list(range(capacity - 1, -1, -1))
        self.switches = [SwitchState(switch.ports, self.vcs, switch.input_buffer_flits, capacity)
                         for _ in range(planes)]
        for state in self.switches:  # one shared per-packet table, as packet IDs are global
            state.ready_at = self.switches[0].ready_at
            state.started = self.switches[0].started
        self.ingress_busy = [[0] * switch.ports for _ in range(planes)]
        self.ingress_vc = [[0] * switch.ports for _ in range(planes)]
        self.ingress_rr = [[0] * switch.ports for _ in range(planes)]
        self.returns = [[None] * planes for _ in range(self.endpoints)]  # [flits left, vc]
        self.in_switch: dict[int, object] = {}  # packet ID -> Packet inside a switch
        # Chiplets: transfers, per-plane cursors, tags.
        self.transfers: list[dict] = []
        self.by_source: list[list[int]] = [[] for _ in range(self.endpoints)]
        self.next_address = [source * PAGE_BYTES for source in range(self.endpoints)]
        self.cursor = [[(0, None) for _ in range(planes)] for _ in range(self.endpoints)]
        self.tags_free = [[list(range(self.tags - 1, -1, -1)) for _ in range(planes)]
                          for _ in range(self.endpoints)]
        self.outstanding: dict[tuple[int, int, int], int] = {}  # (source, plane, tag) -> handle
        self.deliveries: list[tuple[int, int, int, int, int]] = []
        self.completed: list[int] = []

    def counters(self) -> dict[str, int]:
        ends = [end for row in self.chip + self.port for end in row]
        return {"packets_sent": sum(end.counters.packets_sent for end in ends),
                "replays": sum(end.counters.replays for end in ends)}

    def _accept(self, handle: int, transfer: Transfer) -> None:
        address = self.next_address[transfer.source]
        pages = -(-transfer.nbytes // PAGE_BYTES)
        self.next_address[transfer.source] = ((address + pages * PAGE_BYTES)
                                              % (1 << HEADER_ADDRESS_BITS))
        self.transfers.append({"transfer": transfer, "address": address,
                               "earliest": max(transfer.earliest, self._now),
                               "pieces": -(-transfer.nbytes // MAX_DATA_BYTES),
                               "delivered_pieces": 0, "acked_pieces": 0, "started": -1,
                               "delivered": -1, "acked": -1})
        self.by_source[transfer.source].append(handle)
        self._open += 1

    # -- chiplets ---------------------------------------------------------------------------

    def _pieces_on(self, handle: int, plane: int) -> list[int]:
        """Piece numbers of a transfer on ``plane``, in order: page ``m`` of the address
        space goes on plane ``m mod planes``, 256 bytes a piece."""
        record = self.transfers[handle]
        per_page = PAGE_BYTES // MAX_DATA_BYTES
        first_page = record["address"] // PAGE_BYTES
        return [k for k in range(record["pieces"])
                if (first_page + k // per_page) % self.planes == plane]

    def _next_piece(self, source: int, plane: int) -> tuple[int, int] | None:
        index, pending = self.cursor[source][plane]
        handles = self.by_source[source]
        while index < len(handles):
            if pending is None:
                pending = self._pieces_on(handles[index], plane)
            if pending:
                self.cursor[source][plane] = (index, pending)
                return handles[index], pending[0]
            index, pending = index + 1, None
        self.cursor[source][plane] = (index, None)
        return None

    def _issue(self, t: int) -> None:
        for source in range(self.endpoints):
            for plane in range(self.planes):
                while self.tags_free[source][plane]:
                    found = self._next_piece(source, plane)
                    if found is None:
                        break
                    handle, k = found
                    record = self.transfers[handle]
                    if record["earliest"] > t:
                        break
                    transfer = record["transfer"]
                    size = min(MAX_DATA_BYTES, transfer.nbytes - k * MAX_DATA_BYTES)
                    tag = self.tags_free[source][plane].pop()
                    piece = Piece(remote_address=record["address"] + k * MAX_DATA_BYTES,
                                  byte_count=size, beats=(), data=bytes(size), enables=None)
                    self.chip[source][plane].offer(
                        request_packet(piece, transfer.destination, source, tag))
                    self.outstanding[(source, plane, tag)] = handle
                    if record["started"] < 0:
                        record["started"] = t
                    index, pending = self.cursor[source][plane]
                    self.cursor[source][plane] = (index, pending[1:])

    def _chiplet_takes(self, t: int, endpoint: int, plane: int) -> None:
        end = self.chip[endpoint][plane]
        for delivery in end.drain(t, [True] * self.vcs):
            header = unpack(HEADER_BODY, delivery.packet.header).message.transaction
            if delivery.vc == REQUEST_VC:
                handle = self.outstanding[(header.source, plane, header.tag)]
                record = self.transfers[handle]
                record["delivered_pieces"] += 1
                record["delivered"] = t
                if record["delivered_pieces"] == record["pieces"]:
                    self.completed.append(handle)
                end.offer(completion(decode_request(delivery.packet), Command.WRITE_RESPONSE))
                self.deliveries.append((t, endpoint, plane, REQUEST_DELIVERED, handle))
            else:
                handle = self.outstanding.pop((endpoint, plane, header.tag))
                self.tags_free[endpoint][plane].append(header.tag)
                record = self.transfers[handle]
                record["acked_pieces"] += 1
                if record["acked_pieces"] == record["pieces"]:
                    record["acked"] = t
                self.deliveries.append((t, endpoint, plane, RESPONSE_DELIVERED, handle))

    # -- switch planes ----------------------------------------------------------------------

    def _plane(self, t: int, plane: int) -> None:
        state = self.switches[plane]
        for e in range(self.endpoints):
            pending = self.returns[e][plane]
            if pending is not None and pending[0] > 0:
                pending[0] -= 1
                state.out_credit[e, pending[1]] += 1
        for e in range(self.endpoints):
            end = self.port[e][plane]
            if self.ingress_busy[plane][e] > 0:
                self.ingress_busy[plane][e] -= 1
                vc = self.ingress_vc[plane][e]
                end.drain(t, [v == vc for v in range(self.vcs)])
                continue
            for offset in range(self.vcs):
                vc = (self.ingress_rr[plane][e] + offset) % self.vcs
                if not end.buffers[vc]:
                    continue
                packet = end.buffers[vc][0]
                if state.in_credit[e, vc] < packet.flits:
                    continue
                ident = self.free_ids.pop()
                self.length[ident] = packet.flits
                self.in_switch[ident] = packet
                destination = unpack(HEADER_BODY, packet.header).message.transaction.destination
                voq_enqueue(t, e, destination, vc, ident, packet.flits, state.voq_next,
                            state.voq_first, state.voq_last, state.voq_count,
                            state.pair_count, state.queued, state.ready_at, state.in_credit)
                self.ingress_rr[plane][e] = (vc + 1) % self.vcs
                self.ingress_busy[plane][e] = packet.flits - 1
                self.ingress_vc[plane][e] = vc
                end.drain(t, [v == vc for v in range(self.vcs)])
                break
        state.allocate(t, self.iterations, self.length)
        state.crossbar(t, self.length)
        for i in range(len(state.finished)):
            ident = int(state.finished[i])
            if ident < 0:
                continue
            packet = self.in_switch.pop(ident)
            self.free_ids.append(ident)
            self.port[int(state.in_output[i])][plane].offer(packet)

    # -- the cycle --------------------------------------------------------------------------

    def step(self) -> None:
        t = self._now
        self._issue(t)
        flits = {}
        for side, ends in (("chip", self.chip), ("port", self.port)):
            for e in range(self.endpoints):
                for plane in range(self.planes):
                    end = ends[e][plane]
                    sent = end.counters.packets_sent
                    flits[side, e, plane] = end.transmit()
                    if side == "port" and end.counters.packets_sent != sent:
                        packet = end.replay[-1][1]
                        vc = unpack(HEADER_BODY, packet.header).link.vc
                        self.returns[e][plane] = [packet.flits, vc]
        for e in range(self.endpoints):
            for plane in range(self.planes):
                self._chiplet_takes(t, e, plane)
        for plane in range(self.planes):
            self._plane(t, plane)
        for e in range(self.endpoints):
            for plane in range(self.planes):
                self.port[e][plane].receive(self.up[e][plane].step(t, flits["chip", e, plane]))
        for e in range(self.endpoints):
            for plane in range(self.planes):
                self.chip[e][plane].receive(self.down[e][plane].step(t, flits["port", e, plane]))
        self._now += 1

    def advance(self, until: int | None = None) -> list[Completion]:
        seen = len(self.completed)
        while (until is None and self._open and len(self.completed) == seen) or \
                (until is not None and self._now < until and len(self.completed) == seen):
            self.step()
        done = []
        for handle in self.completed[seen:]:
            record = self.transfers[handle]
            transfer = record["transfer"]
            done.append(Completion(handle, transfer, record["started"], record["delivered"],
                                   None if transfer.payload is None else transfer.payload.copy()))
        self._open -= len(done)
        return done
