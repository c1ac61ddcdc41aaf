"""The compiled cycle loop of the rack: chiplets, reliable links and switch planes over arrays.

Everything here runs inside numba; :mod:`emulator.system.rack` owns the arrays and speaks the
network protocol. The rules are those of the verified part models, restated for arrays; the
composition of the part models themselves (:mod:`emulator.system.composition`) must give the
same deliveries on the same cycles, and a test checks that it does.

* **Link ends** follow :class:`emulator.cycle.link.LinkEnd` flit for flit on clean wires: one
  flit per cycle each way; a packet's payload flits follow its header back to back; an IDLE
  control flit carries the running count of flits freed per VC, and goes out before the next
  new packet once a whole packet's worth (``LinkParams.credit_update_flits``) has been freed
  on some VC; every header carries the cumulative acknowledgement, which frees the replay
  buffer one cycle after it arrives; new packets take turns over the VCs that have credits
  for all their flits, within the replay buffer and the go-back-N window; a receiver hands a
  packet with payload to its user when the next header proves it.
* **Switch planes** are :class:`emulator.cycle.switch.SwitchModel`'s compiled phases
  (``voq_enqueue``, ``allocate``, ``crossbar``) on one set of switch registers per plane.
* **Glue** (docs/rack.md): a switch port's ingress takes, among the VCs whose oldest proven
  packet fits the input buffer, the first at or after the VC after the one it took last, and
  drains that packet from its link end a flit per cycle; a packet whose tail crosses the
  crossbar at ``t`` joins the port's transmit queue for ``t + 1``; each flit the port's
  transmitter takes from that queue returns a credit to the switch output in the cycle it is
  taken. A chiplet drains every VC of its link ends a flit per cycle, answers a request whose
  last flit it drained at ``t`` with a one-flit write response queued for ``t + 1`` on the
  same plane, and keeps at most ``ChipletParams.outstanding_tags`` requests unanswered per
  plane.

Order within a cycle: chiplets issue requests; every transmitter picks its flit; chiplets and
switch ingresses drain receive buffers; switch credits come back; switch ingress, allocation
and crossbar; every receiver takes the flit sent ``pipeline_latency_cycles`` cycles before.
"""

from __future__ import annotations

from numba import njit

from emulator.cycle.switch import allocate, crossbar, voq_enqueue, wrap_index

# Wire flit kinds (0: nothing on the wire this cycle).
NOTHING, PAYLOAD, PACKET, IDLE = 0, 1, 2, 3
# Packet kinds.
REQUEST, RESPONSE = 0, 1
#: Width of a running credit count in a control flit; counts wrap at it (a power of two, as
#: the sequence numbers' modulus is: both wrap by masking).
CREDIT_MODULUS = 1 << 16
CREDIT_MASK = CREDIT_MODULUS - 1

# Columns of the configuration vector.
(C_ENDPOINTS, C_PLANES, C_LATENCY, C_MODULUS, C_CREDIT_UPDATE, C_MAX_UNACKED, C_REPLAY_DEPTH,
 C_POOL, C_TAGS, C_ITERATIONS, C_PAGE_PIECES, C_PIECE_BYTES, C_FLIT_BYTES, C_HEADER_ADDRESS_BITS,
 C_REQUEST_VC, C_COMPLETION_VC) = range(16)
CONFIG_FIELDS = 16

# Columns of the per-transfer table.
(T_SOURCE, T_DESTINATION, T_ADDRESS, T_BYTES, T_EARLIEST, T_NEXT, T_PIECES, T_DELIVERED_PIECES,
 T_ACKED_PIECES, T_STARTED, T_DELIVERED, T_ACKED) = range(12)
TRANSFER_FIELDS = 12

# Columns of the per-packet table.
(P_LENGTH, P_VC, P_SOURCE, P_DESTINATION, P_KIND, P_TRANSFER, P_NEXT_FREE) = range(7)
PACKET_FIELDS = 7

# Counters.
(K_PACKETS_SENT, K_PACKET_FLITS, K_CREDIT_UPDATES, K_SWITCH_FLITS, K_REQUESTS, K_RESPONSES,
 K_TAG_STALL_CYCLES, K_LINK_WAKES) = range(8)
COUNTER_FIELDS = 8
COUNTER_NAMES = ("packets_sent", "packet_flits_sent", "credit_updates", "switch_flits",
                 "requests", "responses", "tag_stall_cycles", "link_wakes")


@njit(cache=True, inline="always")
def _push(buffer, head, count, n, v, item):
    capacity = buffer.shape[2]
    if count[n, v] >= capacity:
        return False
    buffer[n, v, wrap_index(head[n, v] + count[n, v], capacity)] = item
    count[n, v] += 1
    return True


@njit(cache=True, inline="always")
def _pop(buffer, head, count, n, v):
    capacity = buffer.shape[2]
    item = buffer[n, v, head[n, v]]
    head[n, v] = wrap_index(head[n, v] + 1, capacity)
    count[n, v] -= 1
    return item


@njit(cache=True, inline="always")
def _new_packet(packets, free, length, vc, source, destination, kind, transfer):
    p = free[0]
    if p < 0:
        return -1
    free[0] = packets[P_NEXT_FREE, p]
    packets[P_LENGTH, p] = length
    packets[P_VC, p] = vc
    packets[P_SOURCE, p] = source
    packets[P_DESTINATION, p] = destination
    packets[P_KIND, p] = kind
    packets[P_TRANSFER, p] = transfer
    return p


@njit(cache=True, inline="always")
def _free_packet(packets, free, p):
    packets[P_NEXT_FREE, p] = free[0]
    free[0] = p


@njit(cache=True, inline="always")
def _first_piece(transfers, tr, plane, planes, page_pieces, piece_bytes):
    """The first piece of transfer ``tr`` on ``plane``, or -1: a transfer starts on a page,
    and page ``m`` of the rack's address space goes on plane ``m mod planes``."""
    page = transfers[tr, T_ADDRESS] // (page_pieces * piece_bytes)
    k = ((plane - page) % planes) * page_pieces
    return k if k * piece_bytes < transfers[tr, T_BYTES] else -1


@njit(cache=True, inline="always")
def _after_piece(transfers, tr, k, planes, page_pieces, piece_bytes):
    k += 1
    if k % page_pieces == 0:
        k += page_pieces * (planes - 1)
    return k if k * piece_bytes < transfers[tr, T_BYTES] else -1


@njit(cache=True)
def _issue(t, config, transfers, src_first, cur_tr, cur_k, tags_used, packets, free,
           q_buf, q_head, q_count, awake, counters):
    """Each chiplet puts the next pieces of its transfers, per plane, into that plane's link
    queue while it has tags: each piece one WRITE packet."""
    endpoints, planes = config[C_ENDPOINTS], config[C_PLANES]
    page_pieces, piece_bytes = config[C_PAGE_PIECES], config[C_PIECE_BYTES]
    flit_bytes, tags = config[C_FLIT_BYTES], config[C_TAGS]
    request_vc = config[C_REQUEST_VC]
    for e in range(endpoints):
        if src_first[e] < 0:
            continue
        for plane in range(planes):
            n = e * planes + plane
            while True:
                tr = cur_tr[n]
                if tr < 0:
                    tr = src_first[e]
                    cur_tr[n] = tr
                    cur_k[n] = _first_piece(transfers, tr, plane, planes, page_pieces,
                                            piece_bytes)
                k = cur_k[n]
                if k < 0:
                    following = transfers[tr, T_NEXT]
                    if following < 0:
                        break
                    cur_tr[n] = following
                    cur_k[n] = _first_piece(transfers, following, plane, planes, page_pieces,
                                            piece_bytes)
                    continue
                if transfers[tr, T_EARLIEST] > t:
                    break
                if tags_used[n] >= tags:
                    counters[K_TAG_STALL_CYCLES] += 1
                    break
                size = min(piece_bytes, transfers[tr, T_BYTES] - k * piece_bytes)
                address = transfers[tr, T_ADDRESS] + k * piece_bytes
                length = 1 + (size + flit_bytes - 1) // flit_bytes
                if address >> config[C_HEADER_ADDRESS_BITS]:
                    length += 1  # the address extension flit
                p = _new_packet(packets, free, length, request_vc, e,
                                transfers[tr, T_DESTINATION], REQUEST, tr)
                if p < 0 or not _push(q_buf, q_head, q_count, n, request_vc, p):
                    if p >= 0:
                        _free_packet(packets, free, p)
                    break
                tags_used[n] += 1
                awake[n] = True
                counters[K_REQUESTS] += 1
                if transfers[tr, T_STARTED] < 0:
                    transfers[tr, T_STARTED] = t
                cur_k[n] = _after_piece(transfers, tr, k, planes, page_pieces, piece_bytes)


@njit(cache=True, inline="always")
def _transmit(n, config, packets, q_buf, q_head, q_count, sending, rr, next_seq, consumed,
              limit, reported, freed, rp_len, rp_head, rp_count, rp_flits, expected, in_ack,
              in_freed_valid, in_freed, tx_kind, tx_ack, tx_pkt, tx_freed, taken, counters):
    """End ``n`` picks its flit for this cycle (:meth:`emulator.cycle.link.LinkEnd.transmit`
    on clean wires). ``taken[n]`` is left the packet taken from the user queue, or -1."""
    vcs = q_count.shape[1]
    wrap = config[C_MODULUS] - 1
    taken[n] = -1
    # What the receiver recorded last cycle: acknowledgement, then credits.
    ack = in_ack[n]
    if ack >= 0:
        in_ack[n] = -1
        if rp_count[n] > 0:
            oldest = (next_seq[n] - rp_count[n]) & wrap
            released = (ack - oldest + 1) & wrap
            if 0 < released <= rp_count[n]:
                capacity = rp_len.shape[1]
                for _ in range(released):
                    rp_flits[n] -= rp_len[n, rp_head[n]]
                    rp_head[n] = wrap_index(rp_head[n] + 1, capacity)
                    rp_count[n] -= 1
    if in_freed_valid[n]:
        in_freed_valid[n] = False
        for v in range(vcs):
            limit[n, v] = (config[C_POOL] + in_freed[n, v]) & CREDIT_MASK
    if sending[n] > 0:
        sending[n] -= 1
        tx_kind[n] = PAYLOAD
        return
    tx_ack[n] = (expected[n] - 1) & wrap
    update = False
    for v in range(vcs):
        if (freed[n, v] - reported[n, v]) & CREDIT_MASK >= config[C_CREDIT_UPDATE]:
            update = True
    chosen = -1
    if not update and rp_count[n] < config[C_MAX_UNACKED]:
        for offset in range(vcs):
            v = wrap_index(rr[n] + offset, vcs)
            if q_count[n, v] == 0:
                continue
            p = q_buf[n, v, q_head[n, v]]
            if packets[P_LENGTH, p] > (limit[n, v] - consumed[n, v]) & CREDIT_MASK:
                continue
            if rp_flits[n] + packets[P_LENGTH, p] > config[C_REPLAY_DEPTH]:
                break
            chosen = v
            break
    if chosen < 0:
        tx_kind[n] = IDLE
        if update:
            counters[K_CREDIT_UPDATES] += 1
        for v in range(vcs):
            reported[n, v] = freed[n, v]
            tx_freed[n, v] = freed[n, v]
        return
    v = chosen
    rr[n] = wrap_index(v + 1, vcs)
    p = _pop(q_buf, q_head, q_count, n, v)
    length = packets[P_LENGTH, p]
    next_seq[n] = (next_seq[n] + 1) & wrap
    capacity = rp_len.shape[1]
    rp_len[n, wrap_index(rp_head[n] + rp_count[n], capacity)] = length
    rp_count[n] += 1
    rp_flits[n] += length
    consumed[n, v] = (consumed[n, v] + length) & CREDIT_MASK
    sending[n] = length - 1
    tx_kind[n] = PACKET
    tx_pkt[n] = p
    taken[n] = p
    counters[K_PACKETS_SENT] += 1
    counters[K_PACKET_FLITS] += length


@njit(cache=True, inline="always")
def _drain_flit(n, v, packets, b_buf, b_head, b_count, drained, freed):
    """Take one flit of VC ``v``'s oldest packet from end ``n``'s receive buffer; return the
    packet when that was its last flit, else -1."""
    p = b_buf[n, v, b_head[n, v]]
    drained[n, v] += 1
    freed[n, v] = (freed[n, v] + 1) & CREDIT_MASK
    if drained[n, v] < packets[P_LENGTH, p]:
        return -1
    drained[n, v] = 0
    _pop(b_buf, b_head, b_count, n, v)
    return p


@njit(cache=True, inline="always")
def _receive(n, sender, slot, config, packets, w_kind, w_ack, w_pkt, w_freed, expected,
             remaining, pending, b_buf, b_head, b_count, in_ack, in_freed_valid, in_freed):
    """End ``n`` takes what end ``sender`` put on the wire ``pipeline_latency_cycles`` ago."""
    kind = w_kind[slot, sender]
    if kind == NOTHING:
        return
    if kind == PAYLOAD:
        remaining[n] -= 1
        return
    wrap = config[C_MODULUS] - 1
    if pending[n] >= 0:
        p = pending[n]
        _push(b_buf, b_head, b_count, n, packets[P_VC, p], p)
        pending[n] = -1
        expected[n] = (expected[n] + 1) & wrap
    in_ack[n] = w_ack[slot, sender]
    if kind == IDLE:
        in_freed_valid[n] = True
        for v in range(w_freed.shape[2]):
            in_freed[n, v] = w_freed[slot, sender, v]
        return
    p = w_pkt[slot, sender]
    remaining[n] = packets[P_LENGTH, p] - 1
    if remaining[n] == 0:
        _push(b_buf, b_head, b_count, n, packets[P_VC, p], p)
        expected[n] = (expected[n] + 1) & wrap
    else:
        pending[n] = p


@njit(cache=True, inline="always")
def _quiet(n, vcs, q_count, sending, rp_count, pending, remaining, b_count, freed, reported):
    """End ``n`` holds nothing, expects nothing and owes no credit update."""
    if sending[n] or rp_count[n] or pending[n] >= 0 or remaining[n]:
        return False
    for v in range(vcs):
        if q_count[n, v] or b_count[n, v] or freed[n, v] != reported[n, v]:
            return False
    return True


@njit(cache=True)
def run(t, until, stop_on_completion, config, transfers, src_first, cur_tr, cur_k, tags_used,
        packets, free, links, wires, switches, ingress, awake, quiet_run, done, done_count,
        counters, log, log_count):
    """Simulate cycles ``t`` to ``until - 1``; with ``stop_on_completion``, stop after the first
    cycle in which some transfer completed. Completed transfers are appended to ``done``
    (``done_count[0]`` of them). Every packet a chiplet takes from a link is appended to
    ``log`` as (cycle, endpoint, plane, kind, transfer) while it has room (``log_count[0]``
    rows used; a log of no rows records nothing). Returns the first cycle not simulated."""
    (q_buf, q_head, q_count, sending, rr, next_seq, consumed, limit, reported, rp_len,
     rp_head, rp_count, rp_flits, expected, remaining, pending, b_buf, b_head, b_count,
     drained, freed, in_ack, in_freed_valid, in_freed, tx_kind, tx_ack, tx_pkt, tx_freed,
     taken, ret_left, ret_vc) = links
    w_kind, w_ack, w_pkt, w_freed = wires
    (voq_next, voq_first, voq_last, voq_count, pair_count, queued, ready_at, started, in_credit,
     out_credit, in_busy, in_packet, in_vc, in_output, out_busy, grant_pointer,
     accept_pointer, request, requesting, column, match_in, match_out, grant, granted,
     finished) = switches
    link_busy, link_vc, ingress_rr = ingress
    endpoints, planes, latency = config[C_ENDPOINTS], config[C_PLANES], config[C_LATENCY]
    completion_vc = config[C_COMPLETION_VC]
    ends = 2 * endpoints * planes
    side = endpoints * planes
    vcs = q_count.shape[1]
    k = in_busy.shape[1]
    while t < until:
        completed = False
        _issue(t, config, transfers, src_first, cur_tr, cur_k, tags_used, packets, free,
               q_buf, q_head, q_count, awake, counters)
        for n in range(ends):
            if not awake[wrap_index(n, side)]:
                continue
            _transmit(n, config, packets, q_buf, q_head, q_count, sending, rr, next_seq,
                      consumed, limit, reported, freed, rp_len, rp_head, rp_count, rp_flits,
                      expected, in_ack, in_freed_valid, in_freed, tx_kind, tx_ack, tx_pkt,
                      tx_freed, taken, counters)
            if n >= side and taken[n] >= 0:
                ret_left[n] = packets[P_LENGTH, taken[n]]
                ret_vc[n] = packets[P_VC, taken[n]]
        # Chiplets drain every VC of their link ends.
        for n in range(side):
            if not awake[n]:
                continue
            e = n // planes
            for v in range(vcs):
                if b_count[n, v] == 0:
                    continue
                p = _drain_flit(n, v, packets, b_buf, b_head, b_count, drained, freed)
                if p < 0:
                    continue
                tr = packets[P_TRANSFER, p]
                if log_count[0] < log.shape[0]:
                    row = log_count[0]
                    log[row, 0] = t
                    log[row, 1] = e
                    log[row, 2] = n % planes
                    log[row, 3] = packets[P_KIND, p]
                    log[row, 4] = tr
                    log_count[0] += 1
                if packets[P_KIND, p] == REQUEST:
                    transfers[tr, T_DELIVERED_PIECES] += 1
                    transfers[tr, T_DELIVERED] = t
                    if transfers[tr, T_DELIVERED_PIECES] == transfers[tr, T_PIECES]:
                        done[done_count[0]] = tr
                        done_count[0] += 1
                        completed = True
                    answer = _new_packet(packets, free, 1, completion_vc, e,
                                         packets[P_SOURCE, p], RESPONSE, tr)
                    if answer < 0 or not _push(q_buf, q_head, q_count, n, completion_vc,
                                               answer):
                        raise RuntimeError("rack model: response queue full")
                    awake[n] = True
                    counters[K_RESPONSES] += 1
                else:
                    tags_used[n] -= 1
                    transfers[tr, T_ACKED_PIECES] += 1
                    if transfers[tr, T_ACKED_PIECES] == transfers[tr, T_PIECES]:
                        transfers[tr, T_ACKED] = t
                _free_packet(packets, free, p)
        for plane in range(planes):
            # Credits for the flits the ports' transmitters took this cycle.
            for e in range(endpoints):
                n = side + e * planes + plane
                if ret_left[n] > 0:
                    ret_left[n] -= 1
                    out_credit[plane, e, ret_vc[n]] += 1
            # Ingress: each port drains the packet it takes a flit per cycle.
            for e in range(endpoints):
                n = side + e * planes + plane
                if link_busy[plane, e] > 0:
                    link_busy[plane, e] -= 1
                    _drain_flit(n, link_vc[plane, e], packets, b_buf, b_head, b_count, drained,
                                freed)
                    continue
                for offset in range(vcs):
                    v = wrap_index(ingress_rr[plane, e] + offset, vcs)
                    if b_count[n, v] == 0:
                        continue
                    p = b_buf[n, v, b_head[n, v]]
                    size = packets[P_LENGTH, p]
                    if in_credit[plane, e, v] < size:
                        continue
                    voq_enqueue(t, e, packets[P_DESTINATION, p], v, p, size, voq_next,
                                voq_first[plane], voq_last[plane], voq_count[plane],
                                pair_count[plane], queued[plane], ready_at, in_credit[plane])
                    ingress_rr[plane, e] = wrap_index(v + 1, vcs)
                    link_busy[plane, e] = size - 1
                    link_vc[plane, e] = v
                    _drain_flit(n, v, packets, b_buf, b_head, b_count, drained, freed)
                    break
            allocate(t, config[C_ITERATIONS], in_busy[plane], out_busy[plane], queued[plane],
                     pair_count[plane], voq_first[plane], voq_count[plane], ready_at,
                     out_credit[plane], packets[P_LENGTH], grant_pointer[plane],
                     accept_pointer[plane], request[plane], requesting[plane], column[plane],
                     match_in[plane], match_out[plane], grant[plane], granted[plane])
            crossbar(t, in_busy[plane], out_busy[plane], in_packet[plane], in_vc[plane],
                     in_output[plane], in_credit[plane], match_in[plane], voq_next,
                     voq_first[plane], voq_count[plane], pair_count[plane], queued[plane],
                     ready_at, out_credit[plane], packets[P_LENGTH], started,
                     finished[plane])
            for i in range(k):
                p = finished[plane, i]
                if p < 0:
                    continue
                counters[K_SWITCH_FLITS] += packets[P_LENGTH, p]
                n = side + in_output[plane, i] * planes + plane
                if not _push(q_buf, q_head, q_count, n, packets[P_VC, p], p):
                    raise RuntimeError("rack model: switch output queue overflow")
                if not awake[n - side]:
                    awake[n - side] = True
                    counters[K_LINK_WAKES] += 1
        # Receivers take what was sent ``latency`` cycles ago, then the wires take this
        # cycle's flits.
        slot = t % latency
        for n in range(ends):
            if not awake[wrap_index(n, side)]:
                continue
            sender = n + side if n < side else n - side
            _receive(n, sender, slot, config, packets, w_kind, w_ack, w_pkt, w_freed,
                     expected, remaining, pending, b_buf, b_head, b_count, in_ack,
                     in_freed_valid, in_freed)
        for n in range(ends):
            if not awake[wrap_index(n, side)]:
                continue
            same = tx_kind[n] == IDLE and w_kind[slot, n] == IDLE and \
                w_ack[slot, n] == tx_ack[n]
            w_kind[slot, n] = tx_kind[n]
            w_ack[slot, n] = tx_ack[n]
            w_pkt[slot, n] = tx_pkt[n]
            for v in range(vcs):
                same = same and w_freed[slot, n, v] == tx_freed[n, v]
                w_freed[slot, n, v] = tx_freed[n, v]
            quiet_run[n] = quiet_run[n] + 1 if same else 0
        # A link both of whose ends have nothing to do and have sent the same IDLE flit for
        # longer than the wire (so the wires hold only that flit and each receiver has taken
        # it) would repeat that cycle unchanged: it sleeps until a packet is queued at it.
        for m in range(side):
            if awake[m] and quiet_run[m] > latency and quiet_run[m + side] > latency and \
                    _quiet(m, vcs, q_count, sending, rp_count, pending, remaining, b_count,
                           freed, reported) and \
                    _quiet(m + side, vcs, q_count, sending, rp_count, pending, remaining,
                           b_count, freed, reported) and \
                    ret_left[m + side] == 0 and link_busy[m % planes, m // planes] == 0:
                awake[m] = False
        t += 1
        if completed and stop_on_completion:
            break
    return t
