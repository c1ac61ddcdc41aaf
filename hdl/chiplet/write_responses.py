"""Completions of write requests in, one AXI4 write response per burst out."""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import HEADER_BODY, Command
from ..link.link_signals import DELIVERED_FLIT
from ..params import ChipletParams
from .axi import Response
from .write_signals import burst_layout, entry_bits, sent_signature, tag_bits


class WriteResponses(wiring.Component):
    """Tracks each write burst until all its packets are answered, then sends its BRESP.

    **Bursts.** A table of ``outstanding_tags`` entries holds the bursts under way: AWID,
    DECERR, "some packet failed", the packets sent and not yet answered, whether the burst
    has sent all it will (``sent.last`` or ``sent.dropped``), and how many older bursts of
    the same AWID are still in the table. ``burst`` takes a burst into the lowest free entry,
    whose number is on ``burst_entry``; ``sent`` events name the entry they belong to.

    **Completions.** A completion's header (``WRITE_RESPONSE`` or ``ERROR_RESPONSE``) is looked
    up by tag; its burst has one packet fewer to wait for, and is marked failed on
    ``ERROR_RESPONSE``; the tag goes back to the pool on ``free``. Flits after a header
    (completions of writes carry none) are skipped. A header whose tag is not in use is
    dropped and counted in ``stray_completions``.

    **Order.** A burst may answer when it has sent everything, nothing it sent is unanswered,
    and no older burst of its AWID is still in the table: so responses of one AWID leave in
    AW order, while a burst of another AWID may pass. Of the bursts that may answer, the
    lowest entry goes into the B register when it is empty or being emptied; the entry is
    freed then, and younger bursts of that AWID move up one place.

    Members
    -------
    burst : In(stream.Signature(burst_layout(params)))
        A burst starts; ready while an entry is free.
    burst_entry : Out(entry_bits(params))
        The entry a burst taken in this cycle goes into.
    sent : In(sent_signature(params))
        The packetizer's events, each naming its burst's entry.
    completion : In(stream.Signature(DELIVERED_FLIT))
        Completion packets; always ready.
    free : Out(stream.Signature(tag_bits(params)))
        A tag whose completion arrived, one cycle after it; the pool is always ready.
    bid, bresp, bvalid : Out; bready : In
        The B channel of the AXI4 subordinate port: a register; BRESP is DECERR for a burst
        in no window, else SLVERR when a packet got ``ERROR_RESPONSE``, else OKAY.
    stray_completions : Out(32)
        Completion headers whose tag was not in use, since reset (wraps).
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            "burst": In(stream.Signature(burst_layout(params))),
            "burst_entry": Out(entry_bits(params)),
            "sent": In(sent_signature(params)),
            "completion": In(stream.Signature(DELIVERED_FLIT)),
            "free": Out(stream.Signature(tag_bits(params))),
            "bid": Out(params.axi_id_bits),
            "bresp": Out(Response),
            "bvalid": Out(1),
            "bready": In(1),
            "stray_completions": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        depth = params.outstanding_tags
        tags = params.outstanding_tags
        entry_width = entry_bits(params)
        count = range(tags + 1)
        entry = data.StructLayout({
            "id": params.axi_id_bits, "decerr": 1, "failed": 1, "closed": 1,
            "pending": count, "older": range(depth)})
        entries = [Signal(entry, name=f"entry_{n}") for n in range(depth)]
        live = Signal(depth)
        tag_entry = Array(Signal(entry_width, name=f"tag_entry_{t}") for t in range(tags))
        busy = Signal(tags)

        # Open: the lowest free entry.
        free_entries = Signal(depth)
        lowest_free = Signal(depth)
        m.d.comb += [free_entries.eq(~live), lowest_free.eq(free_entries & -free_entries)]
        opening = Signal()
        m.d.comb += [self.burst.ready.eq(free_entries.any()),
                     opening.eq(self.burst.valid & self.burst.ready)]
        for n in reversed(range(depth)):
            with m.If(lowest_free[n]):
                m.d.comb += self.burst_entry.eq(n)

        # Completions: only headers count; skip the flits after them.
        in_packet = Signal()
        with m.If(self.completion.valid):
            m.d.sync += in_packet.eq(~self.completion.payload.last)
        completion_header = Signal(HEADER_BODY)
        m.d.comb += [self.completion.ready.eq(1),
                     completion_header.eq(self.completion.payload.flit)]
        completed_tag = Signal(tag_bits(params))
        answered = Signal()
        m.d.comb += [
            completed_tag.eq(completion_header.message.transaction.tag),
            answered.eq(self.completion.valid & ~in_packet & busy.bit_select(completed_tag, 1)
                        & (completion_header.message.transaction.tag < tags)),
        ]
        with m.If(self.completion.valid & ~in_packet & ~answered):
            m.d.sync += self.stray_completions.eq(self.stray_completions + 1)
        failed = Signal()
        m.d.comb += failed.eq(completion_header.message.transaction.command
                              == Command.ERROR_RESPONSE)
        answered_entry = Signal(entry_width)
        m.d.comb += answered_entry.eq(tag_entry[completed_tag])
        m.d.sync += [self.free.valid.eq(answered), self.free.payload.eq(completed_tag)]

        # Responses: which entries may answer, and the lowest of them.
        can_answer = Signal(depth)
        for n, item in enumerate(entries):
            m.d.comb += can_answer[n].eq(live[n] & item.closed & (item.pending == 0)
                                         & (item.older == 0))
        load = Signal()
        chosen = Signal(depth)
        m.d.comb += [load.eq((~self.bvalid | self.bready) & can_answer.any()),
                     chosen.eq(can_answer & -can_answer)]
        retiring = Signal(depth)
        m.d.comb += retiring.eq(Cat(*(chosen[n] & load for n in range(depth))))
        retired_id = Signal(params.axi_id_bits)
        for n, item in enumerate(entries):
            with m.If(chosen[n]):
                m.d.comb += retired_id.eq(item.id)
                with m.If(load):
                    m.d.sync += [self.bid.eq(item.id),
                                 self.bresp.eq(Mux(item.decerr, Response.DECERR,
                                                   Mux(item.failed, Response.SLVERR,
                                                       Response.OKAY)))]
        with m.If(load):
            m.d.sync += self.bvalid.eq(1)
        with m.Elif(self.bready):
            m.d.sync += self.bvalid.eq(0)

        # A new burst waits for every older burst of its AWID that stays in the table.
        same_id = Signal(depth)
        for n, item in enumerate(entries):
            m.d.comb += same_id[n].eq(live[n] & ~retiring[n] & (item.id == self.burst.payload.id))
        older = Signal(range(depth))
        m.d.comb += older.eq(count_ones([same_id[n] for n in range(depth)]))

        with m.If(self.sent.valid):
            m.d.sync += [tag_entry[self.sent.tag].eq(self.sent.entry),
                         busy.bit_select(self.sent.tag, 1).eq(1)]
        with m.If(answered):
            m.d.sync += busy.bit_select(completed_tag, 1).eq(0)

        for n, item in enumerate(entries):
            here_sent = Signal(name=f"sent_{n}")
            here_answered = Signal(name=f"answered_{n}")
            m.d.comb += [here_sent.eq(self.sent.valid & (self.sent.entry == n)),
                         here_answered.eq(answered & (answered_entry == n))]
            m.d.sync += item.pending.eq(item.pending + here_sent - here_answered)
            with m.If(here_answered & failed):
                m.d.sync += item.failed.eq(1)
            with m.If((here_sent & self.sent.last)
                      | (self.sent.dropped & (self.sent.dropped_entry == n))):
                m.d.sync += item.closed.eq(1)
            with m.If(live[n] & ~retiring[n] & (item.id == retired_id) & load
                      & (item.older != 0)):
                m.d.sync += item.older.eq(item.older - 1)
            with m.If(opening & lowest_free[n]):
                m.d.sync += [item.id.eq(self.burst.payload.id),
                             item.decerr.eq(self.burst.payload.decerr),
                             item.failed.eq(0), item.closed.eq(0), item.pending.eq(0),
                             item.older.eq(older)]
        m.d.sync += live.eq((live & ~retiring) | (lowest_free & opening.replicate(depth)))
        return m


def count_ones(bits: list[Value]) -> Value:
    """The number of set bits, as a balanced tree of adders (a chain of 256 nests too deep)."""
    while len(bits) > 1:
        bits = [bits[n] + bits[n + 1] if n + 1 < len(bits) else bits[n]
                for n in range(0, len(bits), 2)]
    return bits[0]
