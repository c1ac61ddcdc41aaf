"""Cycle model of one switch chip: ingress checks, VOQs, iSLIP, crossbar, credits.

The model runs a whole stimulus in compiled code (numba): per-cycle numpy calls cost more
than the work itself at k = 64, while a compiled loop over the same arrays moves millions of
flits per second. Stimulus and results are plain numpy arrays, so tests and benchmarks build
them vectorised and check them against the reference.

Per cycle, in this order (all decisions read the state left by the previous cycle):

1. **Ingress.** Each input link that is free takes the next packet created at its source
   (created at or before this cycle) when the input buffer has credits for all its flits on
   its virtual channel. The routing table maps the destination to an output; a destination not
   in the table, an output in another partition, or a source ID other than the one assigned to
   the input port drops the packet at the ingress (counted per reason). A dropped non-posted
   request is answered: its error completion, one flit on the completion VC, joins the queue
   back to the request's own port (the request waits until that VC has a credit). Otherwise
   the packet joins the virtual output queue (input, output, VC) and can be allocated from the
   next cycle. The link is then busy for the packet's length in flits.
2. **Allocation.** iSLIP with ``islip_iterations`` iterations among inputs and outputs not
   transferring a packet. Input i requests output j when some VC's queue (i, j, v) has a
   ready head packet and output j has downstream credits for all of it; the highest such VC
   is served (responses before requests). Grant and accept pointers move only on matches of
   the first iteration.
3. **Crossbar.** Each matched input sends one flit per cycle for the packet's length; each
   flit that leaves returns one credit to the input's upstream. The cycle after the tail
   flit leaves, the packet is delivered at the output; the sink takes it at once and returns
   its credits to the output ``credit_return_cycles`` (plus the packet's ``sink_delay``)
   later, usable by the allocation of that cycle.

A one-flit packet created at cycle t into an idle switch enters at t, is allocated at t + 1,
crosses at t + 1 and is delivered at t + 2: zero-load latency ``2 + (length - 1)`` cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hdl.layouts import COMPLETION_VC
from hdl.params import SwitchParams

#: Drop reasons, columns of ``SwitchResult.drops``.
NO_ROUTE, PARTITION, SPOOFED = 0, 1, 2


@dataclass
class SwitchStimulus:
    """Packets offered to the switch, one row each, sorted by ``created`` within each source.

    ``non_posted`` marks requests that expect a completion (an error completion if dropped).
    """

    created: np.ndarray  # int64 cycle
    source_port: np.ndarray  # int64 input port
    source_id: np.ndarray  # int64 endpoint ID carried in the header
    destination: np.ndarray  # int64 endpoint ID
    vc: np.ndarray  # int64
    length: np.ndarray  # int64 flits, >= 1
    non_posted: np.ndarray  # bool
    #: Extra cycles the sink holds the packet's credits beyond ``credit_return_cycles``
    #: (back-pressure); zero for every packet when not given.
    sink_delay: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.sink_delay is None:
            self.sink_delay = np.zeros(len(self.created), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.created)


@dataclass
class SwitchConfig:
    """What the CSRs hold: routing table, partitions, source IDs per port."""

    route: np.ndarray  # destination ID -> output port, -1: not in the table
    partition: np.ndarray  # per port
    port_id: np.ndarray  # endpoint ID assigned to each port

    @classmethod
    def identity(cls, ports: int, ids: int = 1024) -> SwitchConfig:
        """Endpoint ``n`` on port ``n``, one partition."""
        route = np.full(ids, -1, dtype=np.int64)
        route[:ports] = np.arange(ports)
        return cls(route, np.zeros(ports, dtype=np.int64), np.arange(ports, dtype=np.int64))


@dataclass
class SwitchResult:
    """Per packet: when it entered, when its first flit crossed, when its tail was delivered
    (each -1 if never) and its output port; counters.

    ``entered`` is the cycle the ingress took the header (dropped packets too); flit ``n`` of a
    packet crosses at ``started + n`` and is seen at the output one cycle later, so the tail is
    delivered at ``started + length``. The error completion of a dropped request leaves at the
    request's input port, a one-flit packet on the completion VC.
    """

    entered: np.ndarray  # int64 cycle the header was taken at the ingress, -1 if never
    started: np.ndarray  # int64 cycle the packet was allocated and its first flit crossed
    delivered: np.ndarray  # int64 cycle the tail was delivered, -1 if never
    output: np.ndarray  # int64 output port, -1 if dropped or not delivered
    drops: np.ndarray  # int64[3]: NO_ROUTE, PARTITION, SPOOFED
    error_completions: np.ndarray  # packet indices that got an error completion
    error_started: np.ndarray  # per error completion: cycle it crossed, -1 if never
    error_delivered: np.ndarray  # per error completion: cycle it was delivered, -1 if never
    cycles: int
    flits_delivered: int


@njit(cache=True, inline="always")
def wrap_index(index, size):
    """``index % size`` for ``0 <= index < 2 * size``, without a division (the compiled
    loops take it millions of times a second)."""
    return index - size if index >= size else index


@njit(cache=True, inline="always")
def islip_match(request, column, iterations, grant_pointer, accept_pointer,
                match_in, match_out, grant, granted):
    """One allocation step of iSLIP; the RTL allocator (hdl/switch/allocator.py) matches it.

    ``request[i, j]``: input ``i`` asks for output ``j``; ``column[j]``: requests to output
    ``j``. ``match_in`` and ``match_out`` enter all -1 and leave the output matched to each
    input and the input matched to each output (-1: none). Each iteration, every unmatched
    output grants the first unmatched requesting input at or after ``grant_pointer[j]``, and
    every unmatched input accepts the first granting output at or after ``accept_pointer[i]``.
    First-iteration matches move both pointers one past the partner, in place. ``grant`` and
    ``granted`` are scratch arrays of length k.
    """
    k = request.shape[0]
    for iteration in range(iterations):
        granted_any = False
        for i in range(k):
            granted[i] = False
        for j in range(k):
            grant[j] = -1
            if match_out[j] >= 0 or column[j] == 0:
                continue
            for offset in range(k):
                i = wrap_index(grant_pointer[j] + offset, k)
                if match_in[i] < 0 and request[i, j]:
                    grant[j] = i
                    granted[i] = True
                    granted_any = True
                    break
        if not granted_any:
            break
        for i in range(k):
            if match_in[i] >= 0 or not granted[i]:
                continue
            for offset in range(k):
                j = wrap_index(accept_pointer[i] + offset, k)
                if grant[j] == i:
                    match_in[i] = j
                    match_out[j] = i
                    if iteration == 0:
                        grant_pointer[j] = wrap_index(i + 1, k)
                        accept_pointer[i] = wrap_index(j + 1, k)
                    break


@njit(cache=True)
def voq_enqueue(t, i, j, v, p, size, voq_next, voq_first, voq_last, voq_count, pair_count,
                queued, ready_at, in_credit):
    """Packet ``p`` of ``size`` flits, taken by input ``i`` at cycle ``t``, joins the virtual
    output queue (i, j, v); it may be allocated from the next cycle. A VOQ is a list linked
    through the packets (``voq_next``), from ``voq_first`` to ``voq_last``: small arrays that
    stay in cache, however deep the input buffers."""
    in_credit[i, v] -= size
    voq_next[p] = -1
    if voq_count[i, j, v] == 0:
        voq_first[i, j, v] = p
    else:
        voq_next[voq_last[i, j, v]] = p
    voq_last[i, j, v] = p
    voq_count[i, j, v] += 1
    pair_count[i, j] += 1
    queued[i] += 1
    ready_at[p] = t + 1


@njit(cache=True, inline="always")
def _head_fits(i, j, v, t, voq_first, voq_count, ready_at, out_credit, length):
    if voq_count[i, j, v] == 0:
        return False
    p = voq_first[i, j, v]
    return ready_at[p] <= t and out_credit[j, v] >= length[p]


@njit(cache=True)
def allocate(t, iterations, in_busy, out_busy, queued, pair_count, voq_first, voq_count, ready_at,
             out_credit, length, grant_pointer, accept_pointer, request,
             requesting, column, match_in, match_out, grant, granted):
    """Step 2, allocation: fills ``match_in``/``match_out`` by iSLIP among inputs and
    outputs not transferring a packet. Input i requests output j when some VC's queue
    (i, j, v) has a ready head packet and output j has credits for all of it.
    ``requesting[i]`` says row i of ``request`` holds a request (only those rows are
    cleared, so an allocation costs what the free inputs ask, not ports squared)."""
    k = in_busy.shape[0]
    vcs = voq_count.shape[2]
    for i in range(k):
        match_in[i] = -1
        match_out[i] = -1
        column[i] = 0
    any_request = False
    for i in range(k):
        if requesting[i]:
            for j in range(k):
                request[i, j] = False
            requesting[i] = False
        if in_busy[i] > 0 or queued[i] == 0:
            continue
        for j in range(k):
            if out_busy[j] > 0 or pair_count[i, j] == 0:
                continue
            for v in range(vcs):
                if _head_fits(i, j, v, t, voq_first, voq_count, ready_at, out_credit,
                              length):
                    request[i, j] = True
                    requesting[i] = True
                    column[j] += 1
                    any_request = True
                    break
    if any_request:
        islip_match(request, column, iterations, grant_pointer, accept_pointer,
                    match_in, match_out, grant, granted)


@njit(cache=True)
def crossbar(t, in_busy, out_busy, in_packet, in_vc, in_output, in_credit, match_in,
             voq_next, voq_first, voq_count, pair_count, queued, ready_at, out_credit, length,
             started, finished):
    """Step 3, the crossbar: each input under way moves one flit, then each matched input
    starts the head packet of its highest ready VC to its output (responses before
    requests) and moves its first flit. Every flit that crosses frees one flit of the input
    buffer. ``finished[i]`` is left the packet whose tail input ``i`` moved this cycle (seen
    at the output at ``t + 1``), or -1."""
    k = in_busy.shape[0]
    vcs = voq_count.shape[2]
    for i in range(k):
        finished[i] = -1
        if in_busy[i] > 0:
            in_busy[i] -= 1
            out_busy[in_output[i]] -= 1
            in_credit[i, in_vc[i]] += 1
            if in_busy[i] == 0:
                finished[i] = in_packet[i]
    for i in range(k):
        j = match_in[i]
        if j < 0:
            continue
        v = vcs - 1
        while not _head_fits(i, j, v, t, voq_first, voq_count, ready_at, out_credit, length):
            v -= 1
        p = voq_first[i, j, v]
        voq_first[i, j, v] = voq_next[p]
        voq_count[i, j, v] -= 1
        pair_count[i, j] -= 1
        queued[i] -= 1
        out_credit[j, v] -= length[p]
        in_packet[i] = p
        started[p] = t
        in_vc[i] = v
        in_output[i] = j
        # The first flit crosses this cycle.
        in_busy[i] = length[p] - 1
        out_busy[j] = length[p] - 1
        in_credit[i, v] += 1
        if in_busy[i] == 0:
            finished[i] = p


class SwitchState:
    """The registers of one switch chip of ``k`` ports, as arrays the compiled phases update in
    place; ``packets`` sizes the per-packet arrays (``ready_at``, ``started``)."""

    def __init__(self, k: int, vcs: int, buffer_flits: int, packets: int) -> None:
        per_vc = buffer_flits // vcs
        self.voq_next = np.full(packets, -1, dtype=np.int64)
        self.voq_first = np.full((k, k, vcs), -1, dtype=np.int64)
        self.voq_last = np.full((k, k, vcs), -1, dtype=np.int64)
        self.voq_count = np.zeros((k, k, vcs), dtype=np.int64)
        self.pair_count = np.zeros((k, k), dtype=np.int64)  # packets queued from i to j
        self.queued = np.zeros(k, dtype=np.int64)  # packets queued at input i
        self.ready_at = np.zeros(packets, dtype=np.int64)
        self.started = np.full(packets, -1, dtype=np.int64)
        self.in_credit = np.full((k, vcs), per_vc, dtype=np.int64)
        self.out_credit = np.full((k, vcs), per_vc, dtype=np.int64)
        self.in_busy = np.zeros(k, dtype=np.int64)
        self.in_packet = np.full(k, -1, dtype=np.int64)
        self.in_vc = np.zeros(k, dtype=np.int64)
        self.in_output = np.zeros(k, dtype=np.int64)
        self.out_busy = np.zeros(k, dtype=np.int64)
        self.grant_pointer = np.zeros(k, dtype=np.int64)
        self.accept_pointer = np.zeros(k, dtype=np.int64)
        self.request = np.zeros((k, k), dtype=np.bool_)
        self.requesting = np.zeros(k, dtype=np.bool_)
        self.grant = np.full(k, -1, dtype=np.int64)
        self.granted = np.zeros(k, dtype=np.bool_)
        self.column = np.zeros(k, dtype=np.int64)
        self.match_in = np.full(k, -1, dtype=np.int64)
        self.match_out = np.full(k, -1, dtype=np.int64)
        self.finished = np.full(k, -1, dtype=np.int64)

    def allocate(self, t: int, iterations: int, length: np.ndarray) -> None:
        allocate(t, iterations, self.in_busy, self.out_busy, self.queued, self.pair_count,
                 self.voq_first, self.voq_count, self.ready_at,
                 self.out_credit, length, self.grant_pointer, self.accept_pointer,
                 self.request, self.requesting, self.column, self.match_in, self.match_out,
                 self.grant, self.granted)

    def crossbar(self, t: int, length: np.ndarray) -> None:
        crossbar(t, self.in_busy, self.out_busy, self.in_packet, self.in_vc, self.in_output,
                 self.in_credit, self.match_in, self.voq_next, self.voq_first,
                 self.voq_count, self.pair_count, self.queued, self.ready_at,
                 self.out_credit, length, self.started, self.finished)


@njit(cache=True)
def _run(k, vcs, iterations, buffer_flits, credit_return, cycles,
         created, source_port, source_id, destination, vc_in, length_in, non_posted,
         delay_in, order, first, route, partition, port_id, completion_vc):
    n = created.shape[0]
    # Packet n + p is the error completion of dropped request p: one flit on the completion VC.
    vc = np.full(2 * n, completion_vc, dtype=np.int64)
    vc[:n] = vc_in
    length = np.ones(2 * n, dtype=np.int64)
    length[:n] = length_in
    sink_delay = np.concatenate((delay_in, delay_in))
    voq_next = np.full(2 * n, -1, dtype=np.int64)
    voq_first = np.full((k, k, vcs), -1, dtype=np.int64)
    voq_last = np.full((k, k, vcs), -1, dtype=np.int64)
    voq_count = np.zeros((k, k, vcs), dtype=np.int64)
    pair_count = np.zeros((k, k), dtype=np.int64)
    queued = np.zeros(k, dtype=np.int64)
    ready_at = np.zeros(2 * n, dtype=np.int64)
    in_credit = np.full((k, vcs), buffer_flits // vcs, dtype=np.int64)
    out_credit = np.full((k, vcs), buffer_flits // vcs, dtype=np.int64)
    ring = credit_return + 1
    for p in range(n):
        ring = max(ring, credit_return + delay_in[p] + 1)
    returns = np.zeros((ring, k, vcs), dtype=np.int64)
    next_packet = first[:k].copy()
    link_busy = np.zeros(k, dtype=np.int64)
    in_busy = np.zeros(k, dtype=np.int64)
    in_packet = np.full(k, -1, dtype=np.int64)
    in_vc = np.zeros(k, dtype=np.int64)
    in_output = np.zeros(k, dtype=np.int64)
    out_busy = np.zeros(k, dtype=np.int64)
    grant_pointer = np.zeros(k, dtype=np.int64)
    accept_pointer = np.zeros(k, dtype=np.int64)
    entered = np.full(n, -1, dtype=np.int64)
    started = np.full(2 * n, -1, dtype=np.int64)
    delivered = np.full(2 * n, -1, dtype=np.int64)
    output = np.full(2 * n, -1, dtype=np.int64)
    drops = np.zeros(3, dtype=np.int64)
    errors = np.full(n, -1, dtype=np.int64)
    error_count = 0
    flits = 0
    request = np.zeros((k, k), dtype=np.bool_)
    requesting = np.zeros(k, dtype=np.bool_)
    grant = np.full(k, -1, dtype=np.int64)
    granted = np.zeros(k, dtype=np.bool_)
    column = np.zeros(k, dtype=np.int64)
    match_in = np.full(k, -1, dtype=np.int64)
    match_out = np.full(k, -1, dtype=np.int64)
    finished = np.full(k, -1, dtype=np.int64)

    for t in range(cycles):
        # Credits coming back from the sinks.
        slot = t % ring
        for j in range(k):
            for v in range(vcs):
                out_credit[j, v] += returns[slot, j, v]
                returns[slot, j, v] = 0

        # 1. Ingress.
        for i in range(k):
            if link_busy[i] > 0:
                link_busy[i] -= 1
                continue
            if next_packet[i] >= first[i + 1]:
                continue
            p = order[next_packet[i]]
            if created[p] > t:
                continue
            v = vc[p]
            if in_credit[i, v] < length[p]:
                continue
            j = route[destination[p]]
            reason = -1
            if j < 0:
                reason = NO_ROUTE
            elif partition[j] != partition[i]:
                reason = PARTITION
            elif source_id[p] != port_id[i]:
                reason = SPOOFED
            answer = reason >= 0 and non_posted[p]
            if answer and in_credit[i, completion_vc] < 1:
                continue  # no room for the error completion yet
            next_packet[i] += 1
            link_busy[i] = length[p] - 1
            entered[p] = t
            if reason >= 0:
                drops[reason] += 1
                if answer:
                    errors[error_count] = p
                    error_count += 1
                    # The error completion goes back out of this port like any packet.
                    p = n + p
                    j = i
                    v = completion_vc
                else:
                    continue
            voq_enqueue(t, i, j, v, p, length[p], voq_next, voq_first, voq_last, voq_count,
                        pair_count, queued, ready_at, in_credit)

        # 2. Allocation: iSLIP.
        allocate(t, iterations, in_busy, out_busy, queued, pair_count, voq_first, voq_count,
                 ready_at, out_credit, length, grant_pointer, accept_pointer,
                 request, requesting, column, match_in, match_out, grant, granted)

        # 3. Crossbar; the sink takes a delivered packet at once and returns its credits
        # ``credit_return`` (plus its ``sink_delay``) cycles later.
        crossbar(t, in_busy, out_busy, in_packet, in_vc, in_output, in_credit, match_in,
                 voq_next, voq_first, voq_count, pair_count, queued, ready_at, out_credit,
                 length, started, finished)
        for i in range(k):
            p = finished[i]
            if p < 0:
                continue
            j = in_output[i]
            delivered[p] = t + 1
            output[p] = j
            flits += length[p]
            returns[(t + 1 + credit_return + sink_delay[p]) % ring, j, vc[p]] += length[p]
    return entered, started, delivered, output, drops, errors[:error_count], flits


class SwitchModel:
    """One switch chip with ``params``; ``run`` takes a stimulus and a cycle count."""

    def __init__(self, params: SwitchParams, config: SwitchConfig | None = None,
                 credit_return_cycles: int = 2) -> None:
        self.params = params
        self.config = config or SwitchConfig.identity(params.ports)
        if credit_return_cycles < 0:
            raise ValueError("credit_return_cycles cannot be negative")
        self.credit_return_cycles = credit_return_cycles
        per_vc = params.input_buffer_flits // params.virtual_channels
        self.max_packet_flits = per_vc

    def run(self, stimulus: SwitchStimulus, cycles: int) -> SwitchResult:
        p = self.params
        if len(stimulus) and int(stimulus.length.max()) > self.max_packet_flits:
            raise ValueError(f"a packet of {int(stimulus.length.max())} flits does not fit the "
                             f"{self.max_packet_flits} flits of buffer per VC")
        if len(stimulus) and int(stimulus.vc.max()) >= p.virtual_channels:
            raise ValueError(f"VC {int(stimulus.vc.max())} on a {p.virtual_channels}-VC switch")
        order = np.lexsort((stimulus.created, stimulus.source_port))
        first = np.searchsorted(stimulus.source_port[order], np.arange(p.ports + 1))
        entered, started, delivered, output, drops, errors, flits = _run(
            p.ports, p.virtual_channels, p.islip_iterations, p.input_buffer_flits,
            self.credit_return_cycles, cycles,
            stimulus.created.astype(np.int64), stimulus.source_port.astype(np.int64),
            stimulus.source_id.astype(np.int64), stimulus.destination.astype(np.int64),
            stimulus.vc.astype(np.int64), stimulus.length.astype(np.int64),
            stimulus.non_posted.astype(np.bool_), stimulus.sink_delay.astype(np.int64),
            order.astype(np.int64),
            first.astype(np.int64), self.config.route.astype(np.int64),
            self.config.partition.astype(np.int64), self.config.port_id.astype(np.int64),
            COMPLETION_VC)
        n = len(stimulus)
        return SwitchResult(entered, started[:n], delivered[:n], output[:n], drops, errors,
                            started[n + errors], delivered[n + errors], cycles, int(flits))
