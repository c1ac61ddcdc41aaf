"""Cycle model of the reliable link layer: go-back-N replay, ACK/NAK, time-out, per-VC credits.

One :class:`LinkEnd` is a transmitter and a receiver; two ends joined by two
:class:`~emulator.cycle.channel.Channel` objects make a link. Every cycle each transmitter
sends exactly one flit (an IDLE header when it has nothing else), and each receiver takes what
its channel delivers, possibly nothing. The rules are those of docs/link-layer.md:

* Packets carry implicit sequence numbers (modulo ``LinkParams.sequence_modulus``); a PACKET
  header's CRC is computed with its sequence number in place of the CRC field, so a lost,
  repeated or reordered packet fails the check.
* Every header carries the cumulative acknowledgement of its end's receiver; control flits
  (IDLE, NAK, REPLAY) also carry the running count of flits freed per virtual channel, which
  the far transmitter turns into credits.
* A receiver that sees a CRC error drops the unproven packet, asks its transmitter to send a
  NAK, and ignores everything until a REPLAY header whose CRC covers only itself.
* A transmitter replays from its oldest unacknowledged packet, after a REPLAY header, when a
  NAK arrives or when acknowledgements stop progressing for ``LinkParams.ack_timeout``.

Coupling between an end's receiver and transmitter goes through registers: the transmitter
reads what the receiver recorded in the previous cycle.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hdl.layouts import CRC_TAG, HEADER_BODY, FlitKind, field_reader, field_slice, field_writer
from hdl.params import LinkParams

from ..ref.framing import Packet, crc_field, header_crc, with_crc
from ..ref.link import delivered_form

_CREDIT_MODULUS = 1 << 16  # width of a running credit count in a control flit
_BODY_MASK = (1 << HEADER_BODY.size) - 1
_PACKET, _IDLE, _NAK, _REPLAY = (kind.value for kind in (FlitKind.PACKET, FlitKind.IDLE,
                                                        FlitKind.NAK, FlitKind.REPLAY))
_kind = field_reader(HEADER_BODY, "link", "kind")
_length = field_reader(HEADER_BODY, "link", "length")
_vc = field_reader(HEADER_BODY, "link", "vc")
_ack = field_reader(HEADER_BODY, "link", "ack")
_control_seq = field_reader(HEADER_BODY, "message", "control", "seq")
_set_kind = field_writer(HEADER_BODY, "link", "kind")
_set_ack = field_writer(HEADER_BODY, "link", "ack")
_set_control_seq = field_writer(HEADER_BODY, "message", "control", "seq")
_tag_seq = field_writer(CRC_TAG, "seq")
_tag_covered = field_writer(CRC_TAG, "covered_seq")


def crc_tag(seq: int, covered_seq: int) -> int:
    """The CRC tag (``layouts.CRC_TAG``) of a header."""
    return _tag_covered(_tag_seq(0, seq), covered_seq)


_credit_fields = [(field_reader(HEADER_BODY, "message", "control", "credits", vc),
                   field_writer(HEADER_BODY, "message", "control", "credits", vc))
                  for vc in range(4)]


@dataclass
class LinkCounters:
    """Counters visible to software."""

    packets_sent: int = 0
    packets_replayed: int = 0
    replays: int = 0
    timeouts: int = 0
    naks_sent: int = 0
    crc_errors: int = 0
    duplicates_dropped: int = 0
    flits_discarded_resyncing: int = 0
    credit_stall_cycles: int = 0
    packets_delivered: int = 0


@dataclass
class Delivery:
    """A packet handed to the user on ``vc`` at ``cycle`` (when its last flit was taken)."""

    packet: Packet
    vc: int
    cycle: int


@dataclass
class _Inbox:
    """What the receiver recorded for the transmitter of the same end, one cycle late."""

    far_ack: int | None = None
    far_nak: bool = False
    far_freed: list[int] | None = None


@dataclass
class LinkEnd:
    """Transmitter and receiver of one end of a link."""

    params: LinkParams
    name: str = "end"
    counters: LinkCounters = field(default_factory=LinkCounters)

    def __post_init__(self) -> None:
        p = self.params
        vcs = p.virtual_channels
        modulus = p.sequence_modulus
        # Transmit side.
        self.queues: list[deque[Packet]] = [deque() for _ in range(vcs)]
        self.replay: deque[tuple[int, Packet]] = deque()  # (seq, packet), oldest first
        self.replay_flits = 0
        self.next_seq = 0
        self.consumed = [0] * vcs  # running flits sent per VC (credit use)
        self.limit = [p.credit_pool_flits] * vcs  # running credit limit per VC
        self.sending: deque[int] = deque()  # payload flits of the packet being sent
        self.covered: list[int] = []  # payload flits sent since the last header
        self.replay_cursor: int | None = None
        self.replay_wanted = False
        self.timer = 0
        self.round_robin = 0
        self.reported = [0] * vcs
        self.last_sent_seq = modulus - 1  # sequence number of the last PACKET header sent
        # Receive side.
        self.expected = 0  # next sequence number to accept
        self.incoming_seq = 0  # sequence number of the next PACKET header on the wire
        self.last_seq = modulus - 1  # sequence number of the last PACKET header taken
        self.resyncing = False
        self.rx_covered: list[int] = []
        self.remaining = 0
        self.pending: tuple[int, int] | None = None  # (header, vc) accepted, payload unproven
        self.collecting: list[int] = []
        self.buffers: list[deque[Packet]] = [deque() for _ in range(vcs)]
        self.buffered_flits = [0] * vcs
        self.drained = [0] * vcs  # flits of the head packet already taken, per VC
        self.freed = [0] * vcs  # running flits freed per VC
        self.nak_wanted = False
        self.nak_timer = 0
        self.inbox = _Inbox()
        self._modulus = modulus

    # -- user side ----------------------------------------------------------------------

    def offer(self, packet: Packet) -> None:
        """Queue a packet for sending on its header's virtual channel."""
        vc = _vc(packet.header)
        if vc >= self.params.virtual_channels:
            raise ValueError(f"packet on VC {vc}, the link has {self.params.virtual_channels}")
        self.queues[vc].append(packet)

    def drain(self, cycle: int, ready: list[bool]) -> list[Delivery]:
        """Take one flit from each VC whose ``ready`` is set; return completed packets."""
        done = []
        for vc, buffer in enumerate(self.buffers):
            if not (ready[vc] and buffer):
                continue
            self.drained[vc] += 1
            self.freed[vc] = (self.freed[vc] + 1) % _CREDIT_MODULUS
            self.buffered_flits[vc] -= 1
            if self.drained[vc] == buffer[0].flits:
                done.append(Delivery(buffer.popleft(), vc, cycle))
                self.drained[vc] = 0
                self.counters.packets_delivered += 1
        return done

    # -- transmitter ----------------------------------------------------------------------

    def transmit(self) -> int:
        """The flit sent this cycle."""
        self._take_inbox()
        p = self.params
        if self.replay:
            self.timer += 1
            if self.timer >= p.ack_timeout and not self.replay_wanted:
                self.replay_wanted = True
                self.counters.timeouts += 1
        if self.sending:
            flit = self.sending.popleft()
            self.covered.append(flit)
            return flit
        ack = (self.expected - 1) % self._modulus
        if self.replay_wanted:
            self.replay_wanted = False
            self.timer = 0
            self.counters.replays += 1
            self.replay_cursor = 0 if self.replay else None
            first = self.replay[0][0] if self.replay else self.next_seq
            self.covered = []  # a REPLAY header's CRC covers only itself
            flit = self._control(FlitKind.REPLAY, ack, first)
            self.last_sent_seq = (first - 1) % self._modulus
            return flit
        if self.nak_wanted:
            self.nak_wanted = False
            self.counters.naks_sent += 1
            return self._control(FlitKind.NAK, ack, self.expected)
        if self.replay_cursor is not None:
            seq, packet = self.replay[self.replay_cursor]
            self.replay_cursor += 1
            if self.replay_cursor == len(self.replay):
                self.replay_cursor = None
            self.counters.packets_replayed += 1
            return self._packet(packet, seq, ack)
        if any((self.freed[vc] - self.reported[vc]) % _CREDIT_MODULUS >= p.credit_update_flits
               for vc in range(p.virtual_channels)):
            return self._control(FlitKind.IDLE, ack, 0)
        chosen = self._next_new_packet()
        if chosen is None:
            return self._control(FlitKind.IDLE, ack, 0)
        vc, packet = chosen
        seq = self.next_seq
        self.next_seq = (seq + 1) % self._modulus
        if not self.replay:
            self.timer = 0
        self.replay.append((seq, packet))
        self.replay_flits += packet.flits
        self.consumed[vc] = (self.consumed[vc] + packet.flits) % _CREDIT_MODULUS
        self.counters.packets_sent += 1
        return self._packet(packet, seq, ack)

    def _next_new_packet(self) -> tuple[int, Packet] | None:
        """The VC and packet sent next, taken from its queue; None when none may go."""
        p = self.params
        if len(self.replay) >= p.max_unacknowledged_packets:
            return None
        stalled = False
        for offset in range(p.virtual_channels):
            vc = (self.round_robin + offset) % p.virtual_channels
            if not self.queues[vc]:
                continue
            packet = self.queues[vc][0]
            credits = (self.limit[vc] - self.consumed[vc]) % _CREDIT_MODULUS
            if packet.flits > credits:
                stalled = True
                continue
            if self.replay_flits + packet.flits > p.replay_buffer_depth:
                return None
            self.round_robin = (vc + 1) % p.virtual_channels
            return vc, self.queues[vc].popleft()
        if stalled:
            self.counters.credit_stall_cycles += 1
        return None

    def _packet(self, packet: Packet, seq: int, ack: int) -> int:
        header = _with_ack(delivered_form(packet).header, ack)
        tag = crc_tag(seq, self.last_sent_seq)
        flit = with_crc(header, header_crc(self.params, self.covered, header, tag))
        self.last_sent_seq = seq
        self.covered = []
        self.sending.extend(packet.payload)
        return flit

    def _control(self, kind: FlitKind, ack: int, seq: int) -> int:
        self.reported = list(self.freed)
        header = _set_control_seq(_set_ack(_set_kind(0, kind.value), ack), seq)
        for (_, write), freed in zip(_credit_fields, self.freed, strict=False):
            header = write(header, freed)
        tag = 0 if kind == FlitKind.REPLAY else crc_tag(0, self.last_sent_seq)
        flit = with_crc(header, header_crc(self.params, self.covered, header, tag))
        self.covered = []
        return flit

    def _take_inbox(self) -> None:
        inbox, self.inbox = self.inbox, _Inbox()
        if inbox.far_ack is not None:
            self._acknowledge(inbox.far_ack)
        if inbox.far_nak:
            self.replay_wanted = True
        if inbox.far_freed is not None:
            pool = self.params.credit_pool_flits
            self.limit = [(pool + freed) % _CREDIT_MODULUS for freed in inbox.far_freed]

    def _acknowledge(self, ack: int) -> None:
        if not self.replay:
            return
        released = (ack - self.replay[0][0] + 1) % self._modulus
        if released == 0 or released > len(self.replay):
            return  # stale: acknowledges nothing still held
        for _ in range(released):
            _, packet = self.replay.popleft()
            self.replay_flits -= packet.flits
        if self.replay_cursor is not None:
            self.replay_cursor -= released
            if self.replay_cursor <= 0:
                self.replay_cursor = 0 if self.replay else None
        self.timer = 0

    # -- receiver ---------------------------------------------------------------------------

    def receive(self, flit: int | None) -> None:
        """Take the flit the channel delivers this cycle (None: nothing arrived)."""
        p = self.params
        if self.resyncing:
            self.nak_timer += 1
            if self.nak_timer >= p.ack_timeout:
                self.nak_timer = 0
                self.nak_wanted = True
        if flit is None:
            return
        if self.resyncing:
            if self._is_replay(flit):
                self.resyncing = False
                self._header(flit)
            else:
                self.counters.flits_discarded_resyncing += 1
            return
        if self.remaining:
            self.remaining -= 1
            self.rx_covered.append(flit)
            if self.pending is not None:
                self.collecting.append(flit)
            return
        kind = _kind(flit)
        if kind == _REPLAY:
            good = self._is_replay(flit)
        else:
            tag = crc_tag(self.incoming_seq if kind == _PACKET else 0, self.last_seq)
            good = crc_field(flit) == header_crc(p, self.rx_covered, flit, tag)
        if not good:
            self.counters.crc_errors += 1
            self.pending = None
            self.resyncing = True
            self.nak_wanted = True
            self.nak_timer = 0
            return
        self._header(flit)

    def _is_replay(self, flit: int) -> bool:
        return _kind(flit) == _REPLAY and crc_field(flit) == header_crc(self.params, [], flit)

    def _header(self, flit: int) -> None:
        """A header that passed its check."""
        header = flit & _BODY_MASK
        kind = _kind(header)
        self.rx_covered = []
        if kind == _REPLAY:
            self.pending = None  # its payload is not covered by this header
        elif self.pending is not None:
            self._deliver(*self.pending, tuple(self.collecting))
            self.pending = None
        self.inbox.far_ack = _ack(header)
        if kind != _PACKET:
            self.inbox.far_freed = [read(header) for read, _ in
                                    _credit_fields[:self.params.virtual_channels]]
            if kind == _REPLAY:
                self.incoming_seq = _control_seq(header)
                self.last_seq = (self.incoming_seq - 1) % self._modulus
            if kind == _NAK:
                self.inbox.far_nak = True
            return
        self.remaining = _length(header)
        seq, self.incoming_seq = self.incoming_seq, (self.incoming_seq + 1) % self._modulus
        self.last_seq = seq
        if seq != self.expected:
            self.counters.duplicates_dropped += 1
            return
        vc = _vc(header)
        if self.remaining == 0:
            self._deliver(header, vc, ())
        else:
            self.pending = (header, vc)
            self.collecting = []

    def _deliver(self, header: int, vc: int, payload: tuple[int, ...]) -> None:
        packet = Packet(_with_ack(header, 0), payload)  # the user sees no link-layer fields
        self.buffers[vc].append(packet)
        self.buffered_flits[vc] += packet.flits
        assert self.buffered_flits[vc] <= self.params.credit_pool_flits, "credit overrun"
        self.expected = (self.expected + 1) % self._modulus


_ACK_OFFSET, _ACK_BITS = field_slice(HEADER_BODY, "link", "ack")
_ACK_MASK = ((1 << _ACK_BITS) - 1) << _ACK_OFFSET


def _with_ack(header: int, ack: int) -> int:
    return (header & ~_ACK_MASK) | ack << _ACK_OFFSET
