"""The read bursts under way: which one returns the next R beat, in AR order per ARID."""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import ChipletParams
from .axi import LEN_BITS, BurstType
from .read_signals import (
    BYTE_COUNT_BITS,
    beat_signature,
    burst_entries,
    piece_signature,
    read_burst_layout,
)
from .windows import PAGE_BITS
from .write_responses import count_ones
from .write_signals import tag_bits


class ReadBursts(wiring.Component):
    """A table of the read bursts under way, each walking its own beats; offers the next beat
    of one of them, keeping AXI4's order per ARID and nothing more.

    **Table.** :func:`~hdl.chiplet.read_signals.burst_entries` entries. A burst taken goes
    into the lowest free entry with the number of older bursts of its ARID still in the
    table. An entry keeps the burst as AR gave it, with ``address`` moved on to its next beat
    (as AXI4 defines the beats: FIXED, INCR, WRAP), the beats returned, and the list of its
    pieces not yet read out: a piece joins the list of the last burst taken when its header
    leaves (``sent``; pieces leave in beat order, and a beat lies in exactly one piece). The
    lists are linked by tag: each tag's byte count and the tag of the next piece of its burst.

    **Choice.** A burst may return a beat when no older burst of its ARID is in the table and
    the beat's piece has arrived (``arrived``; a DECERR burst's beats at once). The burst that
    returned the last beat goes on while it may; otherwise the lowest entry that may wins.
    So each ARID's beats leave in AR order, a burst waiting for a piece holds back only the
    younger bursts of its ARID, and R goes from one burst to another in the middle of a
    burst only where that burst waits for a piece. Such a switch comes at a piece boundary,
    so one register counts the bytes of the current piece read out, for all bursts.

    **Leaving.** When its last beat is taken a burst leaves the table, and the younger bursts
    of its ARID move up one place.

    Members
    -------
    burst : In(stream.Signature(read_burst_layout(params)))
        A burst taken on AR; ready while an entry is free (from registers).
    sent : In(piece_signature(params))
        A request header left with this tag and byte count, for the last burst taken.
    arrived : In(outstanding_tags)
        A bit per tag: its completion is here and its piece not yet read out.
    beat : Out(beat_signature(params))
        The next beat of the burst chosen, combinational from registers and ``arrived``;
        ``beat.take`` moves it on (one beat per cycle). ``ends_piece`` marks the beat that
        reads its piece's last byte: its tag is free once the beat is taken.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            "burst": In(stream.Signature(read_burst_layout(params))),
            "sent": In(piece_signature(params)),
            "arrived": In(params.outstanding_tags),
            "beat": Out(beat_signature(params)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        tags = params.outstanding_tags
        index_bits = tag_bits(params)
        depth = burst_entries(params)
        entry_layout = data.StructLayout({
            "burst": read_burst_layout(params),  # ``address`` is that of the next beat
            "beat": LEN_BITS,  # beats returned
            "older": range(depth),  # older bursts of its ARID still in the table
            "piece": index_bits,  # the tag of its oldest piece not yet read out
            "has_piece": 1,  # ``piece`` is valid: a piece has been sent and not read out
        })
        entries = [Signal(entry_layout, name=f"entry_{n}") for n in range(depth)]
        live = Signal(depth)
        free_entries = Signal(depth)
        lowest_free = Signal(depth)
        opening = Signal()
        m.d.comb += [free_entries.eq(~live), lowest_free.eq(free_entries & -free_entries),
                     self.burst.ready.eq(free_entries.any()),
                     opening.eq(self.burst.valid & self.burst.ready)]
        # The piece lists: each tag's byte count and successor.
        piece_bytes = Array(Signal(BYTE_COUNT_BITS, name=f"piece_bytes_{t}") for t in range(tags))
        next_piece = Array(Signal(index_bits, name=f"next_piece_{t}") for t in range(tags))
        linked = Signal(tags)  # the tag's piece has a successor in ``next_piece``
        tail = Signal(index_bits)  # the last piece sent
        sending = Signal(range(depth))  # the entry of the last burst taken: pieces are its

        # The bursts that may return a beat, and the one chosen.
        eligible = Signal(depth)
        for n, item in enumerate(entries):
            m.d.comb += eligible[n].eq(
                live[n] & (item.older == 0)
                & (item.burst.decerr | (item.has_piece & self.arrived.bit_select(item.piece, 1))))
        lowest = Signal(range(depth))
        for n in reversed(range(depth)):
            with m.If(eligible[n]):
                m.d.comb += lowest.eq(n)
        holding = Signal()  # ``current`` returned the last beat and has more
        current = Signal(range(depth))
        chosen = Signal(range(depth))
        head = Signal(entry_layout)
        m.d.comb += [
            chosen.eq(Mux(holding & eligible.bit_select(current, 1), current, lowest)),
            head.eq(Array(item.as_value() for item in entries)[chosen]),
        ]

        # Its next beat: the end of the beat's Number_Bytes container, the next address.
        burst = head.burst
        beat_address = burst.address
        size_mask = Signal(PAGE_BITS)  # Number_Bytes - 1
        wrap_mask = Signal(PAGE_BITS)  # WRAP: Number_Bytes x Burst_Length - 1
        beat_end = Signal(PAGE_BITS + 1)
        m.d.comb += [
            size_mask.eq((Const(1, PAGE_BITS) << burst.size) - 1),
            wrap_mask.eq((burst.length << burst.size) | size_mask),
            beat_end.eq((beat_address & ~size_mask) + size_mask + 1),
        ]
        next_address = Signal(PAGE_BITS)
        with m.Switch(burst.kind):
            with m.Case(BurstType.FIXED):
                m.d.comb += next_address.eq(beat_address)
            with m.Case(BurstType.WRAP):
                m.d.comb += next_address.eq((beat_address & ~wrap_mask) | (beat_end & wrap_mask))
            with m.Default():
                m.d.comb += next_address.eq(beat_end)

        # Its piece: the bytes read out so far, with this beat's.
        used = Signal(BYTE_COUNT_BITS)
        consumed = Signal(BYTE_COUNT_BITS + 1)
        piece_done = Signal()
        last_beat = Signal()
        m.d.comb += [
            consumed.eq(used + (beat_end - beat_address)),
            piece_done.eq(consumed == piece_bytes[head.piece]),
            last_beat.eq(head.beat == burst.length),
            self.beat.valid.eq(eligible.any()),
            self.beat.payload.id.eq(burst.id),
            self.beat.payload.address.eq(beat_address),
            self.beat.payload.size.eq(burst.size),
            self.beat.payload.decerr.eq(burst.decerr),
            self.beat.payload.last.eq(last_beat),
            self.beat.payload.tag.eq(head.piece),
            self.beat.payload.ends_piece.eq(~burst.decerr & piece_done),
        ]
        taken = Signal()
        finishing = Signal()  # the beat taken reads the last byte of its piece
        m.d.comb += [taken.eq(self.beat.valid & self.beat.take),
                     finishing.eq(taken & self.beat.payload.ends_piece)]
        with m.If(taken):
            m.d.sync += [holding.eq(~last_beat), current.eq(chosen)]
            with m.If(~burst.decerr):
                m.d.sync += used.eq(Mux(piece_done, 0, consumed))

        # A header sent: its piece joins the list of the last burst taken, as its oldest piece
        # if the burst has none left after this cycle's beat.
        chosen_linked = Signal()
        keeps_piece = Signal()  # the sending burst still has a piece after this cycle
        has_pieces = Signal(depth)
        m.d.comb += [
            chosen_linked.eq(linked.bit_select(head.piece, 1)),
            keeps_piece.eq(has_pieces.bit_select(sending, 1)
                           & ~(finishing & (chosen == sending) & ~chosen_linked)),
        ]
        with m.If(self.sent.valid):
            m.d.sync += [piece_bytes[self.sent.tag].eq(self.sent.byte_count),
                         linked.bit_select(self.sent.tag, 1).eq(0),
                         tail.eq(self.sent.tag)]
            with m.If(keeps_piece):
                m.d.sync += [next_piece[tail].eq(self.sent.tag),
                             linked.bit_select(tail, 1).eq(1)]

        # The table: the chosen burst moves to its next beat and piece, and leaves at its
        # last beat; a burst taken goes behind the bursts of its ARID that stay.
        retiring = Signal()
        m.d.comb += retiring.eq(taken & last_beat)
        staying = Signal(depth)
        same_id = Signal(depth)
        for n, item in enumerate(entries):
            m.d.comb += [has_pieces[n].eq(item.has_piece),
                         staying[n].eq(live[n] & ~(retiring & (chosen == n))),
                         same_id[n].eq(staying[n] & (item.burst.id == self.burst.payload.id))]
        older = Signal(range(depth))
        m.d.comb += older.eq(count_ones([same_id[n] for n in range(depth)]))
        for n, item in enumerate(entries):
            with m.If(taken & (chosen == n)):
                m.d.sync += [item.burst.address.eq(next_address), item.beat.eq(item.beat + 1)]
                with m.If(finishing):
                    with m.If(chosen_linked):
                        m.d.sync += item.piece.eq(next_piece[head.piece])
                    with m.Else():
                        m.d.sync += item.has_piece.eq(0)
            with m.If(self.sent.valid & (sending == n) & ~keeps_piece):
                m.d.sync += [item.piece.eq(self.sent.tag), item.has_piece.eq(1)]
            with m.If(retiring & staying[n] & (item.burst.id == burst.id) & (item.older != 0)):
                m.d.sync += item.older.eq(item.older - 1)
            with m.If(opening & lowest_free[n]):
                m.d.sync += [item.burst.eq(self.burst.payload), item.beat.eq(0),
                             item.older.eq(older), item.has_piece.eq(0), sending.eq(n)]
        m.d.sync += live.eq(staying | (lowest_free & opening.replicate(depth)))
        return m
