"""A plane's own request tags: the lanes' tags swapped for the plane's, and back again."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import HEADER_BODY, TRANSACTION_HEADER, field_width
from ..link.link_signals import DELIVERED_FLIT
from ..params import ChipletParams
from .packet_merge import index_bits
from .read_signals import READ_TAG_FLAG
from .tag_pool import TagPool
from .write_signals import tag_bits

#: Width of a tag count: the stray counter, like the other counters, wraps.
COUNTER_BITS = 32
#: Width of the header's tag below ``READ_TAG_FLAG``: where a stray's pool index may reach.
INDEX_FIELD_BITS = field_width(TRANSACTION_HEADER, "tag") - 1


def entry_layout(params: ChipletParams, lanes: int) -> data.StructLayout:
    """A plane tag's record: the lane that sent the request and the lane's own tag."""
    return data.StructLayout({"lane": index_bits(lanes), "tag": tag_bits(params)})


class TagTranslate(wiring.Component):
    """One plane's tag translation: each request header leaving on the plane gets a tag of
    the plane's own, and each completion arriving on it goes back to the lane that asked,
    with that lane's tag.

    Lanes share planes (a lane whose plane is down sends on the next plane up), so two lanes'
    requests on one plane may carry the same tag. The plane hands out its own tags from two
    :class:`TagPool` free lists (writes, reads; ``outstanding_tags`` each) and records for
    each plane tag the lane and the lane's tag, in one table per direction (a memory read
    combinationally) beside an in-use bit per tag (registers). ``READ_TAG_FLAG`` is kept as
    it came, in both directions, so the far side and the lane's completion split still tell
    reads from writes.

    Members
    -------
    request_in : In(stream.Signature(DELIVERED_FLIT))
        Request packets, header first, ``last`` on the final flit; every header is a request
        (``WRITE`` or ``READ``) carrying the lane's tag: ``READ_TAG_FLAG`` and a pool index
        below ``outstanding_tags``. A header is ready only while its direction's pool has a
        tag free (then as ``request_out`` is); a payload flit is ready as ``request_out`` is.
    request_lane : In(index_bits(lanes))
        The lane of the header on ``request_in``, below ``lanes``; read only when a header
        is taken.
    request_out : Out(stream.Signature(DELIVERED_FLIT))
        The same packets in the same order, latency 0, one flit per cycle. A header's tag is
        ``READ_TAG_FLAG`` as it came with the plane tag (the pool's next free tag) below it;
        the plane tag is taken in the cycle the header is. ``valid`` is ``request_in.valid``,
        but low on a header while its pool is empty. Every other bit passes unchanged; the
        tag is replaced whenever a header is due, valid or not.
    completion_in : In(stream.Signature(DELIVERED_FLIT))
        Completion packets arriving on the plane, header first, with a plane tag. A header
        whose plane tag is in use is ready as its lane's ``completion_out`` is; one whose tag
        is not (the index below ``READ_TAG_FLAG`` is ``outstanding_tags`` or more, or the tag
        is free) is a stray, always ready; payload flits go as their header went.
    completion_out : Out(stream.Signature(DELIVERED_FLIT)).array(lanes)
        Each completion packet whole, in the order they arrive, latency 0, to the lane
        recorded for its plane tag (chosen at the header and kept to the ``last`` flit), with
        the header's tag restored: ``READ_TAG_FLAG`` as it came and the lane's tag below it.
        A plane tag is freed in the cycle its header is taken and can be handed out again
        from the next cycle. Every lane sees the same payload (the tag restored while a
        header is due, from whatever the table holds for the tag); only the chosen lane's
        ``valid`` is high. Strays go nowhere: every flit is taken, none sent.
    stray_completions : Out(32)
        Stray completion packets dropped since reset; wraps.

    A request and a completion may move in one cycle: a pool may then hand out one tag and
    take back another.
    """

    def __init__(self, params: ChipletParams, lanes: int) -> None:
        if lanes < 1:
            raise ValueError(f"TagTranslate lanes={lanes}: at least one lane is needed.")
        self.params = params
        self.lanes = lanes
        flits = stream.Signature(DELIVERED_FLIT)
        super().__init__({
            "request_in": In(flits),
            "request_lane": In(index_bits(lanes)),
            "request_out": Out(flits),
            "completion_in": In(flits),
            "completion_out": Out(flits).array(lanes),
            "stray_completions": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params, lanes = self.params, self.lanes
        tags = params.outstanding_tags
        bits = tag_bits(params)
        layout = entry_layout(params, lanes)
        pools, tables, in_use = {}, {}, {}
        for direction in ("write", "read"):
            pools[direction] = m.submodules[f"{direction}_pool"] = TagPool(params)
            tables[direction] = m.submodules[f"{direction}_table"] = Memory(
                shape=layout, depth=tags, init=[])
            in_use[direction] = Signal(tags, name=f"{direction}_in_use")

        # Requests: a header takes a tag from its direction's pool as it leaves.
        request = data.View(HEADER_BODY, self.request_in.payload.flit[:HEADER_BODY.size])
        request_tag = request.message.transaction.tag
        request_out = data.View(HEADER_BODY, self.request_out.payload.flit[:HEADER_BODY.size])
        request_in_packet = Signal()  # the flit on ``request_in`` follows a header
        request_read = Signal()
        plane_tag = Signal(bits)
        tag_free = Signal()
        go = Signal()
        m.d.comb += [
            request_read.eq((request_tag & READ_TAG_FLAG) != 0),
            plane_tag.eq(Mux(request_read, pools["read"].allocate.payload,
                             pools["write"].allocate.payload)),
            tag_free.eq(Mux(request_read, pools["read"].allocate.valid,
                            pools["write"].allocate.valid)),
            go.eq(request_in_packet | tag_free),
            self.request_out.valid.eq(self.request_in.valid & go),
            self.request_in.ready.eq(self.request_out.ready & go),
            self.request_out.payload.eq(self.request_in.payload),
        ]
        with m.If(~request_in_packet):
            m.d.comb += request_out.message.transaction.tag.eq(
                (request_tag & READ_TAG_FLAG) | plane_tag)
        header_taken = Signal()  # which implies its pool had a tag free
        m.d.comb += header_taken.eq(self.request_in.valid & self.request_in.ready
                                    & ~request_in_packet)
        with m.If(self.request_in.valid & self.request_in.ready):
            m.d.sync += request_in_packet.eq(~self.request_in.payload.last)
        for direction, chosen in (("write", ~request_read), ("read", request_read)):
            record = tables[direction].write_port()
            m.d.comb += [
                pools[direction].allocate.ready.eq(header_taken & chosen),
                record.addr.eq(plane_tag),
                record.data.lane.eq(self.request_lane),
                record.data.tag.eq(request_tag[:bits]),
                record.en.eq(header_taken & chosen),
            ]
            with m.If(record.en):
                m.d.sync += in_use[direction].bit_select(plane_tag, 1).eq(1)

        # Completions: a header's plane tag, looked up, names the lane and the lane's tag.
        completion = data.View(HEADER_BODY, self.completion_in.payload.flit[:HEADER_BODY.size])
        completion_tag = completion.message.transaction.tag
        completion_read = Signal()
        beyond = Signal()  # the index is past the pool
        index = Signal(bits)
        m.d.comb += [
            completion_read.eq((completion_tag & READ_TAG_FLAG) != 0),
            beyond.eq(completion_tag[:INDEX_FIELD_BITS] >= tags
                      if tags < 1 << INDEX_FIELD_BITS else Const(0)),
        ]
        if tags == 1 << bits:
            m.d.comb += index.eq(completion_tag[:bits])
        else:
            # Low bits past the pool would read outside the table (X in Verilog).
            m.d.comb += index.eq(Mux(beyond, 0, completion_tag[:bits]))
        entry = Signal(layout)
        tag_in_use = Signal()
        lookups = {}
        for direction in ("write", "read"):
            lookups[direction] = tables[direction].read_port(domain="comb")
            m.d.comb += lookups[direction].addr.eq(index)
        m.d.comb += [
            entry.eq(Mux(completion_read, lookups["read"].data, lookups["write"].data)),
            tag_in_use.eq(Mux(completion_read, in_use["read"].bit_select(index, 1),
                              in_use["write"].bit_select(index, 1))),
        ]

        completion_in_packet = Signal()  # the flit on ``completion_in`` follows a header
        packet_lane = Signal(index_bits(lanes))  # of the packet under way
        packet_dropped = Signal()
        lane = Signal(index_bits(lanes))
        drop = Signal()
        stray = Signal()
        m.d.comb += [
            stray.eq(beyond | ~tag_in_use),
            lane.eq(Mux(completion_in_packet, packet_lane, entry.lane)),
            drop.eq(Mux(completion_in_packet, packet_dropped, stray)),
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
        m.d.comb += completion_taken.eq(self.completion_in.valid & self.completion_in.ready)
        with m.If(completion_taken):
            m.d.sync += [completion_in_packet.eq(~self.completion_in.payload.last),
                         packet_lane.eq(lane), packet_dropped.eq(drop)]
        freed = Signal()
        m.d.comb += freed.eq(completion_taken & ~completion_in_packet & ~stray)
        for direction, chosen in (("write", ~completion_read), ("read", completion_read)):
            m.d.comb += [pools[direction].free.valid.eq(freed & chosen),
                         pools[direction].free.payload.eq(index)]
            with m.If(freed & chosen):
                # A tag handed out in this cycle is another: it was free, this one in use.
                m.d.sync += in_use[direction].bit_select(index, 1).eq(0)
        with m.If(completion_taken & ~completion_in_packet & stray):
            m.d.sync += self.stray_completions.eq(self.stray_completions + 1)
        return m
