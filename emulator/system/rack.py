"""The ``cycle`` network backend: a whole rack, every chiplet, link and switch plane, flit by flit.

``CycleNetwork(system)`` builds the rack of a preset: each endpoint's chiplet with one reliable
link to every switch plane, each plane one switch chip with a port per endpoint. The cycle loop
is compiled (:mod:`emulator.system.rack_kernel`); this module owns its arrays and speaks the
network protocol (:mod:`emulator.system.network`).

How a transfer becomes packets (docs/rack.md): each source lays its transfers out one after
another in its address space, each starting on a fresh 4 KiB page, from page ``source`` on;
the chiplet's own rule sends page ``m`` over plane ``m mod planes``
(:func:`hdl.chiplet.striper.lane_for`); each 256-byte piece is one WRITE request, answered by a
one-flit WRITE_RESPONSE on the plane it came on.
"""

from __future__ import annotations

import numpy as np

from emulator.ref.chiplet import HEADER_ADDRESS_BITS
from hdl.chiplet.windows import PAGE_BITS
from hdl.layouts import COMPLETION_VC, FLIT_BITS, MAX_DATA_BYTES, REQUEST_VC
from hdl.params import SystemParams

from . import rack_kernel as kernel
from .backends import register
from .network import Completion, Network, Transfer

PAGE_BYTES = 1 << PAGE_BITS
#: Cycles with transfers under way and none completing after which a run is declared stuck.
STUCK_CYCLES = 1_000_000
#: Cycles simulated per call into the compiled loop while waiting for a completion.
SLICE_CYCLES = 50_000


class RackStuck(RuntimeError):
    """Transfers are under way and none completes: the rack model is deadlocked."""


def _ring(shape: tuple[int, ...], fill: int = 0, dtype=np.int64) -> np.ndarray:
    return np.full(shape, fill, dtype=dtype)


class CycleNetwork(Network):
    """The rack of ``system``, simulated cycle by cycle."""

    def __init__(self, system: SystemParams, log_deliveries: int = 0) -> None:
        super().__init__(system)
        link, switch = system.link, system.switch
        endpoints, planes = system.endpoints, system.links_per_endpoint
        vcs = link.virtual_channels
        k = switch.ports
        per_vc = switch.credits_per_vc
        self.planes = planes
        config = np.zeros(kernel.CONFIG_FIELDS, dtype=np.int64)
        config[kernel.C_ENDPOINTS] = endpoints
        config[kernel.C_PLANES] = planes
        config[kernel.C_LATENCY] = link.pipeline_latency_cycles
        config[kernel.C_MODULUS] = link.sequence_modulus
        config[kernel.C_CREDIT_UPDATE] = link.credit_update_flits
        config[kernel.C_MAX_UNACKED] = link.max_unacknowledged_packets
        config[kernel.C_REPLAY_DEPTH] = link.replay_buffer_depth
        config[kernel.C_POOL] = link.credit_pool_flits
        config[kernel.C_TAGS] = system.chiplet.outstanding_tags
        config[kernel.C_ITERATIONS] = switch.islip_iterations
        config[kernel.C_PAGE_PIECES] = PAGE_BYTES // MAX_DATA_BYTES
        config[kernel.C_PIECE_BYTES] = MAX_DATA_BYTES
        config[kernel.C_FLIT_BYTES] = FLIT_BITS // 8
        config[kernel.C_HEADER_ADDRESS_BITS] = HEADER_ADDRESS_BITS
        config[kernel.C_REQUEST_VC] = REQUEST_VC
        config[kernel.C_COMPLETION_VC] = COMPLETION_VC
        self.config = config
        # Transfers, and each source's list of them.
        self.transfers = _ring((1024, kernel.TRANSFER_FIELDS), -1)
        self.posted: list[Transfer] = []
        self.src_first = _ring((endpoints,), -1)
        self.src_last = [-1] * endpoints
        self.next_address = [source * PAGE_BYTES for source in range(endpoints)]
        side = endpoints * planes
        self.cur_tr = _ring((side,), -1)
        self.cur_k = _ring((side,), -1)
        self.tags_used = _ring((side,))
        # Packets: a free list through P_NEXT_FREE.
        capacity = 2 * side * system.chiplet.outstanding_tags + 2 * planes * k * vcs * per_vc
        self.packets = _ring((kernel.PACKET_FIELDS, capacity))
        self.packets[kernel.P_NEXT_FREE] = np.arange(1, capacity + 1)
        self.packets[kernel.P_NEXT_FREE, -1] = -1
        self.free = np.zeros(1, dtype=np.int64)
        # Link ends: chiplet sides 0 .. side - 1, switch sides side .. 2 side - 1.
        ends = 2 * side
        queue = max(128, per_vc)
        latency = link.pipeline_latency_cycles
        self.links = (
            _ring((ends, vcs, queue), -1), _ring((ends, vcs)), _ring((ends, vcs)),  # queues
            _ring((ends,)), _ring((ends,)), _ring((ends,)),  # sending, rr, next_seq
            _ring((ends, vcs)), _ring((ends, vcs), link.credit_pool_flits),  # consumed, limit
            _ring((ends, vcs)),  # reported
            _ring((ends, link.sequence_modulus)), _ring((ends,)), _ring((ends,)),  # replay
            _ring((ends,)),  # replay flits
            _ring((ends,)), _ring((ends,)), _ring((ends,), -1),  # expected, remaining, pending
            _ring((ends, vcs, link.credit_pool_flits), -1), _ring((ends, vcs)),
            _ring((ends, vcs)),  # receive buffers
            _ring((ends, vcs)), _ring((ends, vcs)),  # drained, freed
            _ring((ends,), -1), np.zeros(ends, dtype=np.bool_), _ring((ends, vcs)),  # inbox
            _ring((ends,)), _ring((ends,)), _ring((ends,), -1), _ring((ends, vcs)),  # tx
            _ring((ends,), -1), _ring((ends,)), _ring((ends,)),  # taken, credit returns
        )
        # What each end put on its wire in the last ``latency`` cycles, slot-major so that a
        # cycle's reads and writes run along memory.
        self.wires = (_ring((latency, ends)), _ring((latency, ends)),
                      _ring((latency, ends), -1), _ring((latency, ends, vcs)))
        self.switches = (
            _ring((capacity,), -1), _ring((planes, k, k, vcs), -1),  # VOQs: next, first,
            _ring((planes, k, k, vcs), -1), _ring((planes, k, k, vcs)),  # last, count
            _ring((planes, k, k)), _ring((planes, k)),  # pair_count, queued
            _ring((capacity,)), _ring((capacity,), -1),  # ready_at, started
            _ring((planes, k, vcs), per_vc), _ring((planes, k, vcs), per_vc),  # credits
            _ring((planes, k)), _ring((planes, k), -1), _ring((planes, k)), _ring((planes, k)),
            _ring((planes, k)),  # in_busy, in_packet, in_vc, in_output, out_busy
            _ring((planes, k)), _ring((planes, k)),  # grant and accept pointers
            np.zeros((planes, k, k), dtype=np.bool_), np.zeros((planes, k), dtype=np.bool_),
            _ring((planes, k)),  # request, requesting, column
            _ring((planes, k), -1), _ring((planes, k), -1), _ring((planes, k), -1),  # matches
            np.zeros((planes, k), dtype=np.bool_), _ring((planes, k), -1),  # granted, finished
        )
        self.ingress = (_ring((planes, k)), _ring((planes, k)), _ring((planes, k)))
        # Links with nothing to do sleep (rack_kernel.run): per link, and per end the cycles
        # it has sent the same IDLE flit.
        self.awake = np.ones(side, dtype=np.bool_)
        self.quiet_run = _ring((ends,))
        self.done = _ring((1024,), -1)
        self.done_count = np.zeros(1, dtype=np.int64)
        self.kernel_counters = np.zeros(kernel.COUNTER_FIELDS, dtype=np.int64)
        #: The first ``log_deliveries`` packets chiplets took from links: rows of (cycle,
        #: endpoint, plane, kind (0 request, 1 response), transfer handle).
        self.log = _ring((log_deliveries, 5))
        self.log_count = np.zeros(1, dtype=np.int64)

    def _accept(self, handle: int, transfer: Transfer) -> None:
        if handle >= len(self.transfers):
            grown = _ring((2 * len(self.transfers), kernel.TRANSFER_FIELDS), -1)
            grown[:len(self.transfers)] = self.transfers
            self.transfers = grown
        if handle >= len(self.done):
            grown = _ring((2 * len(self.done),), -1)
            grown[:len(self.done)] = self.done
            self.done = grown
        row = self.transfers[handle]
        source = transfer.source
        address = self.next_address[source]
        pages = -(-transfer.nbytes // PAGE_BYTES)
        self.next_address[source] = (address + pages * PAGE_BYTES) % (1 << HEADER_ADDRESS_BITS)
        row[kernel.T_SOURCE] = source
        row[kernel.T_DESTINATION] = transfer.destination
        row[kernel.T_ADDRESS] = address
        row[kernel.T_BYTES] = transfer.nbytes
        row[kernel.T_EARLIEST] = max(transfer.earliest, self._now)
        row[kernel.T_PIECES] = -(-transfer.nbytes // MAX_DATA_BYTES)
        row[kernel.T_DELIVERED_PIECES] = row[kernel.T_ACKED_PIECES] = 0
        if self.src_last[source] >= 0:
            self.transfers[self.src_last[source], kernel.T_NEXT] = handle
        else:
            self.src_first[source] = handle
        self.src_last[source] = handle
        self.posted.append(transfer)
        self._open += 1

    def _run(self, until: int, stop: bool) -> None:
        self._now = kernel.run(
            self._now, until, stop, self.config, self.transfers, self.src_first, self.cur_tr,
            self.cur_k, self.tags_used, self.packets, self.free, self.links, self.wires,
            self.switches, self.ingress, self.awake, self.quiet_run, self.done,
            self.done_count, self.kernel_counters, self.log, self.log_count)

    def advance(self, until: int | None = None) -> list[Completion]:
        seen = int(self.done_count[0])
        if until is not None:
            if until > self._now:
                self._run(until, True)
        elif self._open:
            quiet = 0
            while int(self.done_count[0]) == seen:
                start = self._now
                self._run(self._now + SLICE_CYCLES, True)
                quiet += self._now - start
                if int(self.done_count[0]) == seen and quiet >= STUCK_CYCLES:
                    raise RackStuck(f"{self._open} transfers under way and none completed in "
                                    f"{quiet} cycles (cycle {self._now})")
        completions = []
        for index in range(seen, int(self.done_count[0])):
            handle = int(self.done[index])
            row = self.transfers[handle]
            transfer = self.posted[handle]
            self.posted[handle] = None  # its payload is the completion's now, not ours
            payload = transfer.payload
            completions.append(Completion(handle, transfer, int(row[kernel.T_STARTED]),
                                          int(row[kernel.T_DELIVERED]), payload))
        self._open -= len(completions)
        return completions

    @property
    def deliveries(self) -> list[tuple[int, int, int, int, int]]:
        """The delivery log as tuples, in the order the chiplets took the packets."""
        return [tuple(int(value) for value in row) for row in self.log[:int(self.log_count[0])]]

    def counters(self) -> dict[str, int]:
        return dict(zip(kernel.COUNTER_NAMES, (int(value) for value in self.kernel_counters),
                        strict=True))


register("cycle", CycleNetwork)
