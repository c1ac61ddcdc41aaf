"""A plane's own request tags: the lanes' tags swapped for the plane's, and back again; every
request kept until its completion, and handed over as a retry when the plane fails."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import (
    ADDRESS_EXTENSION_FLIT,
    HEADER_BODY,
    MAX_DATA_FLITS,
    MAX_PACKET_FLITS,
    field_width,
)
from ..link.link_signals import DELIVERED_FLIT
from ..params import ChipletParams
from .packet_merge import index_bits
from .read_signals import READ_TAG_FLAG
from .tag_pool import TagPool
from .write_signals import tag_bits

#: Width of each counter; the counters wrap.
COUNTER_BITS = 32
#: The header tag's bit below ``READ_TAG_FLAG``: a plane tag's generation, flipped each time
#: the plane hands its index out, so two uses of one index differ on the wire.
GENERATION_FLAG = READ_TAG_FLAG >> 1
#: Width of the header's tag below ``GENERATION_FLAG``: where a pool index (or a stray's) lies.
INDEX_FIELD_BITS = GENERATION_FLAG.bit_length() - 1
#: Flits kept per plane tag, by direction (0: writes, 1: reads): the longest packet; a read
#: carries no data, so at most a header and an address extension flit.
SLOT_FLITS = (MAX_PACKET_FLITS, MAX_PACKET_FLITS - MAX_DATA_FLITS)
#: Width of the retry extension flit's plane field.
RETRY_PLANE_BITS = field_width(ADDRESS_EXTENSION_FLIT, "retry_plane")


class RetryPhase(enum.Enum, shape=2):
    """Which flit of the retry under way ``retry_out`` shows."""

    HEADER = 0  #: the header, its tag restored to the lane's
    ADD_EXTENSION = 1  #: an extension flit added (the request had none)
    EXTENSION = 2  #: the request's own extension flit, named unless it already was a retry
    BODY = 3  #: the request's other payload flits, unchanged


def entry_layout(params: ChipletParams, lanes: int) -> data.StructLayout:
    """A plane tag's record: the lane that sent the request and the lane's own tag."""
    return data.StructLayout({"lane": index_bits(lanes), "tag": tag_bits(params)})


def entry_bits(params: ChipletParams) -> int:
    """Width of a kept request's name in the send-order list: its pool index, and above it
    whether it is a read (``Cat(index, read)``)."""
    return tag_bits(params) + 1


def clock_bits(timeout: int) -> int:
    """Width of the cycle counter and the send times: a wait of ``timeout + 1`` cycles (the
    first that fails the plane) must not wrap."""
    return (timeout + 1).bit_length()


class TagTranslate(wiring.Component):
    """Plane ``plane``'s tag translation and end-to-end retry (docs/chiplet.md, "Lanes, tag
    translation and end-to-end retry"): each request header leaving on the plane gets a tag of
    the plane's own, each completion arriving on it goes back to the lane that asked with that
    lane's tag; every request is kept until its completion, and handed over, oldest first, as
    a retry when the plane fails.

    Tags. The plane hands out its own tag indices from two :class:`TagPool` free lists
    (writes, reads; ``outstanding_tags`` each) and records for each the lane and the lane's
    tag (a table per direction, a memory read combinationally) beside an in-use bit and a
    generation bit per index (registers). The generation bit of an index is that of its latest
    use: it is flipped as the index is handed out, so the first use of every index has
    generation 1. A plane tag on the wire is ``READ_TAG_FLAG`` as the request came, then
    ``GENERATION_FLAG`` if the generation is 1, then the index.

    Keeping. Every request packet taken is written, flit by flit with its ``last`` bit, as it
    left on ``request_out`` (plane tag and all), into the slot of its plane tag: a memory per
    direction of ``outstanding_tags x SLOT_FLITS`` flits (18 for writes, 2 for reads). The kept
    requests are also in a doubly linked list in send order (``next`` and ``previous``
    memories indexed by ``Cat(index, read)``, a head, a tail and an empty flag), so that a
    completion anywhere unlinks its request in one cycle, and a memory holds the cycle each
    was sent (a free-running counter ``clock_bits(timeout)`` wide).

    Failure. The plane is *failed* while ``plane_up`` is low; from the cycle after the oldest
    kept request has waited more than ``timeout`` cycles (counted from the cycle its header
    was taken, whether the plane is up or not; this latch holds until reset, since the
    completions that plane dropped may belong to requests still kept); and while a retry is
    on ``retry_out``, from its header shown to its last flit taken (so ``retry_out`` holds
    ``valid`` until its packet ends, even if ``plane_up`` rises). While failed, no request
    header is taken (a packet part-way in is let finish and kept as usual), and completion
    packets are taken and dropped whole. A completion packet already going to a lane, or a
    request packet already part-way in, goes on as it started. Management should keep
    ``plane_up`` low until ``drained``: a request kept when the plane comes back had its
    completion dropped, and will time out.

    Hand-over. While failed and no request packet is part-way in, the kept requests leave on
    ``retry_out``, oldest first, one flit per cycle, each freed (its tag back to the pool,
    unlinked) as its last flit is taken. Each is a retry: the header's tag restored to the
    lane's, ``has_address_extension`` set and ``length`` one more if it had no extension
    flit; then that added flit (``address_high`` 0), or its own extension flit, with
    ``retry`` 1, ``retry_plane`` this plane and ``retry_tag`` the plane tag it carried here,
    unless it already was a retry (``retry`` set: it keeps its first names); then its other
    flits unchanged.

    Parameters
    ----------
    params : ChipletParams
        ``outstanding_tags`` tags per direction.
    lanes : int
        Lanes that send on the plane (at least one).
    plane : int
        This plane's index, written into ``retry_plane``.
    timeout : int
        Cycles a kept request may wait for its completion (at least 1): the chiplet passes
        ``params.completion_timeout_cycles(link)``.

    Members
    -------
    request_in : In(stream.Signature(DELIVERED_FLIT))
        Request packets, header first, ``last`` on the final flit, each at most ``SLOT_FLITS``
        flits of its direction (a read: a header and at most an address extension flit; a
        request without an extension flit at most ``MAX_PACKET_FLITS - 1``, so that its retry
        fits); every header is a request carrying the lane's tag: ``READ_TAG_FLAG`` and a
        pool index below ``outstanding_tags``. A header is ready while the plane is not failed
        and its direction's pool has a tag free (then as ``request_out`` is); a payload flit
        is ready as ``request_out`` is, failed or not. ``has_address_extension``, the link
        header's ``length`` and an extension flit's ``retry`` are read only for the retry.
    request_lane : In(index_bits(lanes))
        The lane of the header on ``request_in``, below ``lanes``; read only when a header
        is taken.
    request_retry : In(1)
        The header on ``request_in`` is a retry handed over by a failed plane; read only when
        a header is taken. Its index keeps its generation: a retry is known at the far side
        by the names it carries, so only a first sending counts as a use of this plane's tag
        there, and the next first sending of the index must differ from the last.
    request_out : Out(stream.Signature(DELIVERED_FLIT))
        The same packets in the same order, latency 0, one flit per cycle. A header's tag is
        the plane tag (``READ_TAG_FLAG`` as it came, the generation the index gets, the
        pool's next free index), taken in the cycle the header is. ``valid`` is
        ``request_in.valid``, but low on a header while the plane is failed or the pool
        empty. Every other bit passes unchanged; the tag is replaced whenever a header is due,
        valid or not.
    completion_in : In(stream.Signature(DELIVERED_FLIT))
        Completion packets arriving on the plane, header first, with a plane tag. While the
        plane is failed a header is *abandoned*: always ready, the packet dropped. Otherwise
        one whose index is in use with the generation it carries is ready as its lane's
        ``completion_out`` is, and any other (an index field at ``outstanding_tags`` or
        more, a free index, or the other generation) is a stray, always ready, dropped.
        Payload flits go as their header went.
    completion_out : Out(stream.Signature(DELIVERED_FLIT)).array(lanes)
        Each completion packet whole, in the order they arrive, latency 0, to the lane
        recorded for its plane tag (chosen at the header and kept to the ``last`` flit), with
        the header's tag restored: ``READ_TAG_FLAG`` as it came and the lane's tag below it.
        The plane tag is freed (the request no longer kept) in the cycle the header is taken
        and can be handed out again from the next cycle. Every lane sees the same payload (the
        tag restored while a header is due, from whatever the table holds for the index);
        only the chosen lane's ``valid`` is high.
    plane_up : In(1)
        This plane's bit of the chiplet's ``planes_up``: low fails the plane.
    usable : Out(1)
        The plane is not failed (see above): it takes new requests and completions.
    retry_out : Out(stream.Signature(DELIVERED_FLIT))
        The retries, oldest kept request first, one flit per cycle, ``last`` on the final
        flit. ``valid`` while failed, no request packet part-way in and a request kept; once
        high it stays high to the packet's last flit. The payload is the retry's flit at the
        send-order list's head whether valid or not.
    retry_lane : Out(index_bits(lanes))
        The lane of the request on ``retry_out`` (its recorded lane), valid with it.
    drained : Out(1)
        Nothing is kept and no request packet is part-way in (a lane homed here may move on).
    stray_completions, abandoned_completions, retried : Out(32)
        Since reset: stray completion packets dropped; completion packets dropped while the
        plane was failed; requests handed over whole on ``retry_out``. Each wraps.

    A request and a completion may move in one cycle: a pool may then hand out one tag and
    take back another, the list append one request and unlink another. While failed no header
    is taken and no completion frees a tag, so only ``retry_out`` unlinks.
    """

    def __init__(self, params: ChipletParams, lanes: int, plane: int, timeout: int) -> None:
        if lanes < 1:
            raise ValueError(f"TagTranslate lanes={lanes}: at least one lane is needed.")
        if not 0 <= plane < 1 << RETRY_PLANE_BITS:
            raise ValueError(f"TagTranslate plane={plane}: a retry names its plane in "
                             f"{RETRY_PLANE_BITS} bits; use 0 to {(1 << RETRY_PLANE_BITS) - 1}.")
        if timeout < 1:
            raise ValueError(f"TagTranslate timeout={timeout}: a request needs at least one "
                             "cycle to be answered; pass completion_timeout_cycles(link).")
        self.params = params
        self.lanes = lanes
        self.plane = plane
        self.timeout = timeout
        flits = stream.Signature(DELIVERED_FLIT)
        super().__init__({
            "request_in": In(flits),
            "request_lane": In(index_bits(lanes)),
            "request_retry": In(1),
            "request_out": Out(flits),
            "completion_in": In(flits),
            "completion_out": Out(flits).array(lanes),
            "plane_up": In(1),
            "usable": Out(1),
            "retry_out": Out(flits),
            "retry_lane": Out(index_bits(lanes)),
            "drained": Out(1),
            "stray_completions": Out(COUNTER_BITS),
            "abandoned_completions": Out(COUNTER_BITS),
            "retried": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params, lanes = self.params, self.lanes
        tags = params.outstanding_tags
        bits = tag_bits(params)
        layout = entry_layout(params, lanes)
        pools, tables, in_use, generation, stores = [], [], [], [], []
        for direction, name in enumerate(("write", "read")):
            pools.append(TagPool(params))
            m.submodules[f"{name}_pool"] = pools[-1]
            tables.append(Memory(shape=layout, depth=tags, init=[]))
            m.submodules[f"{name}_table"] = tables[-1]
            stores.append(Memory(shape=DELIVERED_FLIT, depth=tags * SLOT_FLITS[direction],
                                 init=[]))
            m.submodules[f"{name}_store"] = stores[-1]
            in_use.append(Signal(tags, name=f"{name}_in_use"))
            generation.append(Signal(tags, name=f"{name}_generation"))

        # The send-order list and the send times.
        names = 1 << entry_bits(params)
        m.submodules.next_entry = next_entry = Memory(shape=entry_bits(params), depth=names,
                                                      init=[])
        m.submodules.previous_entry = previous_entry = Memory(shape=entry_bits(params),
                                                              depth=names, init=[])
        m.submodules.sent_at = sent_at = Memory(shape=clock_bits(self.timeout), depth=names,
                                                init=[])
        head = Signal(entry_bits(params))
        tail = Signal(entry_bits(params))
        empty = Signal(init=1)
        clock = Signal(clock_bits(self.timeout))
        m.d.sync += clock.eq(clock + 1)

        timed_out = Signal()
        retry_busy = Signal()  # a retry is on ``retry_out``, header shown, last not taken
        failed = Signal()
        m.d.comb += [failed.eq(~self.plane_up | timed_out | retry_busy),
                     self.usable.eq(~failed)]

        # Requests: a header takes a tag from its direction's pool as it leaves; every flit is
        # kept in that tag's slot.
        request = data.View(HEADER_BODY, self.request_in.payload.flit[:HEADER_BODY.size])
        request_tag = request.message.transaction.tag
        request_out = data.View(HEADER_BODY, self.request_out.payload.flit[:HEADER_BODY.size])
        request_in_packet = Signal()  # the flit on ``request_in`` follows a header
        request_offset = Signal(range(MAX_PACKET_FLITS))  # of that flit in its packet
        request_slot = Signal(bits)  # the plane index of the packet part-way in
        request_slot_read = Signal()
        request_read = Signal()
        plane_index = Signal(bits)
        plane_generation = Signal()  # the one ``plane_index`` gets now
        # The generation of each index's last first sending to each destination: a far side
        # sees only the uses of a tag that come to it, and those must alternate.
        destination = request.message.transaction.destination
        destination_bits = len(destination)
        last_generations = [Memory(shape=1, depth=tags << destination_bits, init=[])
                            for _ in range(2)]
        for direction, memory in enumerate(last_generations):
            m.submodules[f"last_generation_{direction}"] = memory
        last_reads = [memory.read_port(domain="comb") for memory in last_generations]
        last_address = Signal(bits + destination_bits)
        m.d.comb += last_address.eq(Cat(destination, plane_index))
        for port in last_reads:
            m.d.comb += port.addr.eq(last_address)
        tag_free = Signal()
        go = Signal()
        m.d.comb += [
            request_read.eq((request_tag & READ_TAG_FLAG) != 0),
            plane_index.eq(Mux(request_read, pools[1].allocate.payload,
                               pools[0].allocate.payload)),
            plane_generation.eq(self.request_retry
                                ^ ~Mux(request_read, last_reads[1].data, last_reads[0].data)),
            tag_free.eq(Mux(request_read, pools[1].allocate.valid, pools[0].allocate.valid)),
            go.eq(request_in_packet | (tag_free & ~failed)),
            self.request_out.valid.eq(self.request_in.valid & go),
            self.request_in.ready.eq(self.request_out.ready & go),
            self.request_out.payload.eq(self.request_in.payload),
        ]
        with m.If(~request_in_packet):
            m.d.comb += request_out.message.transaction.tag.eq(
                (request_tag & READ_TAG_FLAG) | Mux(plane_generation, GENERATION_FLAG, 0)
                | plane_index)
        request_taken = Signal()
        header_taken = Signal()  # which implies its pool had a tag free
        m.d.comb += [request_taken.eq(self.request_in.valid & self.request_in.ready),
                     header_taken.eq(request_taken & ~request_in_packet)]
        with m.If(request_taken):
            m.d.sync += [request_in_packet.eq(~self.request_in.payload.last),
                         request_offset.eq(Mux(self.request_in.payload.last, 0,
                                               request_offset + 1))]
        with m.If(header_taken):
            m.d.sync += [request_slot.eq(plane_index), request_slot_read.eq(request_read)]
        slot = Signal(bits)
        slot_read = Signal()
        m.d.comb += [slot.eq(Mux(request_in_packet, request_slot, plane_index)),
                     slot_read.eq(Mux(request_in_packet, request_slot_read, request_read))]
        for direction, chosen in enumerate((~request_read, request_read)):
            record = tables[direction].write_port()
            m.d.comb += [
                pools[direction].allocate.ready.eq(header_taken & chosen),
                record.addr.eq(plane_index),
                record.data.lane.eq(self.request_lane),
                record.data.tag.eq(request_tag[:bits]),
                record.en.eq(header_taken & chosen),
            ]
            last_write = last_generations[direction].write_port()
            m.d.comb += [last_write.addr.eq(last_address), last_write.data.eq(plane_generation),
                         last_write.en.eq(record.en)]
            with m.If(record.en):
                m.d.sync += [in_use[direction].bit_select(plane_index, 1).eq(1),
                             generation[direction].bit_select(plane_index, 1).eq(
                                 plane_generation)]
            keep = stores[direction].write_port()
            m.d.comb += [
                keep.addr.eq(slot * SLOT_FLITS[direction] + request_offset),
                keep.data.eq(self.request_out.payload),
                keep.en.eq(request_taken & (slot_read == direction)
                           & (request_offset < SLOT_FLITS[direction])),
            ]

        # Completions: a header's plane tag, looked up, names the lane and the lane's tag.
        completion = data.View(HEADER_BODY, self.completion_in.payload.flit[:HEADER_BODY.size])
        completion_tag = completion.message.transaction.tag
        completion_read = Signal()
        completion_generation = Signal()
        beyond = Signal()  # the index is past the pool
        index = Signal(bits)
        m.d.comb += [
            completion_read.eq((completion_tag & READ_TAG_FLAG) != 0),
            completion_generation.eq((completion_tag & GENERATION_FLAG) != 0),
            beyond.eq(completion_tag[:INDEX_FIELD_BITS] >= tags
                      if tags < 1 << INDEX_FIELD_BITS else Const(0)),
        ]
        if tags == 1 << bits:
            m.d.comb += index.eq(completion_tag[:bits])
        else:
            # Low bits past the pool would read outside the table (X in Verilog).
            m.d.comb += index.eq(Mux(beyond, 0, completion_tag[:bits]))
        entry = Signal(layout)
        matched = Signal()  # the index is in use with the generation the completion carries
        lookups = []
        for direction in (0, 1):
            lookups.append(tables[direction].read_port(domain="comb"))
            m.d.comb += lookups[direction].addr.eq(index)
        m.d.comb += [
            entry.eq(Mux(completion_read, lookups[1].data, lookups[0].data)),
            matched.eq(~beyond
                       & Mux(completion_read, in_use[1].bit_select(index, 1),
                             in_use[0].bit_select(index, 1))
                       & (Mux(completion_read, generation[1].bit_select(index, 1),
                              generation[0].bit_select(index, 1)) == completion_generation)),
        ]

        completion_in_packet = Signal()  # the flit on ``completion_in`` follows a header
        packet_lane = Signal(index_bits(lanes))  # of the packet under way
        packet_dropped = Signal()
        lane = Signal(index_bits(lanes))
        drop = Signal()
        m.d.comb += [
            lane.eq(Mux(completion_in_packet, packet_lane, entry.lane)),
            drop.eq(Mux(completion_in_packet, packet_dropped, failed | ~matched)),
        ]
        restored = Signal.like(self.completion_in.payload)
        restored_header = data.View(HEADER_BODY, restored.flit[:HEADER_BODY.size])
        m.d.comb += restored.eq(self.completion_in.payload)
        with m.If(~completion_in_packet):
            m.d.comb += restored_header.message.transaction.tag.eq(
                (completion_tag & READ_TAG_FLAG) | entry.tag)
        lane_ready = Signal()
        with m.Switch(lane):
            for number, port in enumerate(self.completion_out):
                with m.Case(number):
                    m.d.comb += lane_ready.eq(port.ready)
        for number, port in enumerate(self.completion_out):
            m.d.comb += [port.payload.eq(restored),
                         port.valid.eq(self.completion_in.valid & ~drop & (lane == number))]
        m.d.comb += self.completion_in.ready.eq(drop | lane_ready)
        completion_taken = Signal()
        header_arrived = Signal()
        m.d.comb += [completion_taken.eq(self.completion_in.valid & self.completion_in.ready),
                     header_arrived.eq(completion_taken & ~completion_in_packet)]
        with m.If(completion_taken):
            m.d.sync += [completion_in_packet.eq(~self.completion_in.payload.last),
                         packet_lane.eq(lane), packet_dropped.eq(drop)]
        completed = Signal()
        m.d.comb += completed.eq(header_arrived & ~failed & matched)
        with m.If(header_arrived & ~failed & ~matched):
            m.d.sync += self.stray_completions.eq(self.stray_completions + 1)
        with m.If(header_arrived & failed):
            m.d.sync += self.abandoned_completions.eq(self.abandoned_completions + 1)

        # Hand-over: the list's head leaves on ``retry_out`` as a retry.
        head_index = Signal(bits)
        head_read = Signal()
        m.d.comb += Cat(head_index, head_read).eq(head)
        phase = Signal(RetryPhase)
        retry_offset = Signal(range(MAX_PACKET_FLITS))  # of the kept flit read
        stored = Signal(DELIVERED_FLIT)
        fetches = []
        for direction in (0, 1):
            fetches.append(stores[direction].read_port(domain="comb"))
            within = Mux(retry_offset < SLOT_FLITS[direction], retry_offset, 0)
            m.d.comb += fetches[direction].addr.eq(head_index * SLOT_FLITS[direction] + within)
        m.d.comb += stored.eq(Mux(head_read, fetches[1].data, fetches[0].data))
        head_entry = Signal(layout)
        head_lookups = []
        for direction in (0, 1):
            head_lookups.append(tables[direction].read_port(domain="comb"))
            m.d.comb += head_lookups[direction].addr.eq(head_index)
        head_generation = Signal()
        head_plane_tag = Signal(range(READ_TAG_FLAG << 1))
        m.d.comb += [
            head_entry.eq(Mux(head_read, head_lookups[1].data, head_lookups[0].data)),
            head_generation.eq(Mux(head_read, generation[1].bit_select(head_index, 1),
                                   generation[0].bit_select(head_index, 1))),
            head_plane_tag.eq(Mux(head_read, READ_TAG_FLAG, 0)
                              | Mux(head_generation, GENERATION_FLAG, 0) | head_index),
        ]
        stored_header = data.View(HEADER_BODY, stored.flit[:HEADER_BODY.size])
        stored_transaction = stored_header.message.transaction
        stored_extension = data.View(ADDRESS_EXTENSION_FLIT, stored.flit)
        had_extension = stored_transaction.has_address_extension
        retry = Signal(DELIVERED_FLIT)
        retry_header = data.View(HEADER_BODY, retry.flit[:HEADER_BODY.size])
        retry_transaction = retry_header.message.transaction
        retry_extension = data.View(ADDRESS_EXTENSION_FLIT, retry.flit)
        m.d.comb += retry.eq(stored)
        with m.Switch(phase):
            with m.Case(RetryPhase.HEADER):
                m.d.comb += [
                    retry_transaction.tag.eq((stored_transaction.tag & READ_TAG_FLAG)
                                             | head_entry.tag),
                    retry_transaction.has_address_extension.eq(1),
                    retry_header.link.length.eq(stored_header.link.length + ~had_extension),
                    retry.last.eq(stored.last & had_extension),
                ]
            with m.Case(RetryPhase.ADD_EXTENSION):
                # ``stored`` is still the header: its ``last`` ends the retry here.
                m.d.comb += [retry.flit.eq(0), retry_extension.retry.eq(1),
                             retry_extension.retry_plane.eq(self.plane),
                             retry_extension.retry_tag.eq(head_plane_tag)]
            with m.Case(RetryPhase.EXTENSION):
                with m.If(~stored_extension.retry):
                    m.d.comb += [retry_extension.retry.eq(1),
                                 retry_extension.retry_plane.eq(self.plane),
                                 retry_extension.retry_tag.eq(head_plane_tag)]
        handing = Signal()
        retry_taken = Signal()
        retry_done = Signal()
        m.d.comb += [
            handing.eq(failed & ~request_in_packet & ~empty),
            self.retry_out.valid.eq(handing),
            self.retry_out.payload.eq(retry),
            self.retry_lane.eq(head_entry.lane),
            retry_taken.eq(handing & self.retry_out.ready),
            retry_done.eq(retry_taken & retry.last),
        ]
        m.d.sync += retry_busy.eq(handing & ~retry_done)
        with m.If(retry_done):
            m.d.sync += [phase.eq(RetryPhase.HEADER), retry_offset.eq(0),
                         self.retried.eq(self.retried + 1)]
        with m.Elif(retry_taken):
            with m.Switch(phase):
                with m.Case(RetryPhase.HEADER):
                    m.d.sync += [phase.eq(Mux(had_extension, RetryPhase.EXTENSION,
                                              RetryPhase.ADD_EXTENSION)),
                                 retry_offset.eq(had_extension)]
                with m.Case(RetryPhase.ADD_EXTENSION):
                    m.d.sync += [phase.eq(RetryPhase.BODY), retry_offset.eq(1)]
                with m.Default():
                    m.d.sync += [phase.eq(RetryPhase.BODY), retry_offset.eq(retry_offset + 1)]

        # Freeing: by a completion while up, by the end of a retry while failed, never both.
        freed = Signal()
        freed_read = Signal()
        freed_index = Signal(bits)
        m.d.comb += [freed.eq(completed | retry_done),
                     freed_read.eq(Mux(failed, head_read, completion_read)),
                     freed_index.eq(Mux(failed, head_index, index))]
        for direction, chosen in enumerate((~freed_read, freed_read)):
            m.d.comb += [pools[direction].free.valid.eq(freed & chosen),
                         pools[direction].free.payload.eq(freed_index)]
            with m.If(freed & chosen):
                # A tag handed out in this cycle is another: it was free, this one in use.
                m.d.sync += in_use[direction].bit_select(freed_index, 1).eq(0)

        # The send-order list: append the header taken, unlink the request freed. Both may
        # happen in one cycle; the two writes to each memory then go to different rows.
        new = Signal(entry_bits(params))
        gone = Signal(entry_bits(params))
        m.d.comb += [new.eq(Cat(plane_index, request_read)),
                     gone.eq(Cat(freed_index, freed_read))]
        after_lookup = next_entry.read_port(domain="comb")
        before_lookup = previous_entry.read_port(domain="comb")
        after = Signal(entry_bits(params))
        before = Signal(entry_bits(params))
        gone_head = Signal()
        gone_tail = Signal()
        m.d.comb += [after_lookup.addr.eq(gone), before_lookup.addr.eq(gone),
                     after.eq(after_lookup.data), before.eq(before_lookup.data),
                     gone_head.eq(gone == head), gone_tail.eq(gone == tail)]
        link_before = next_entry.write_port()  # the one before ``gone`` skips it
        link_tail = next_entry.write_port()  # the tail points to the new request
        back_after = previous_entry.write_port()  # the one after ``gone`` skips it back
        back_new = previous_entry.write_port()  # the new request points back to the tail
        m.d.comb += [
            link_before.addr.eq(before),
            link_before.data.eq(Mux(header_taken & gone_tail, new, after)),
            link_before.en.eq(freed & ~gone_head),
            link_tail.addr.eq(tail),
            link_tail.data.eq(new),
            link_tail.en.eq(header_taken & ~empty & ~(freed & gone_tail)),
            back_after.addr.eq(after),
            back_after.data.eq(before),
            back_after.en.eq(freed & ~gone_tail),
            back_new.addr.eq(new),
            back_new.data.eq(Mux(freed & gone_tail, before, tail)),
            back_new.en.eq(header_taken),
        ]
        with m.If(header_taken):
            m.d.sync += [tail.eq(new), empty.eq(0)]
        with m.Elif(freed & gone_tail):
            m.d.sync += tail.eq(before)
        with m.If(freed & gone_head):
            m.d.sync += head.eq(Mux(gone_tail, new, after))
            with m.If(gone_tail & ~header_taken):
                m.d.sync += empty.eq(1)
        with m.Elif(header_taken & empty):
            m.d.sync += head.eq(new)

        # The time-out: the head is the oldest kept request.
        stamp = sent_at.write_port()
        since = sent_at.read_port(domain="comb")
        waited = Signal(clock_bits(self.timeout))
        m.d.comb += [stamp.addr.eq(new), stamp.data.eq(clock), stamp.en.eq(header_taken),
                     since.addr.eq(head), waited.eq(clock - since.data)]
        with m.If(~empty & (waited > self.timeout)):
            m.d.sync += timed_out.eq(1)
        m.d.comb += self.drained.eq(empty & ~request_in_packet)
        return m
