"""Cycle model of ``hdl.chiplet.tag_translate.TagTranslate``: a plane's own request tags, the
lanes' tags swapped for them on requests and restored on completions; every request kept until
its completion, and handed over as a retry when the plane fails.

Same interface as the chiplet's other cycle models (:mod:`emulator.cycle.chiplet_write`):
ports by their dotted RTL path (``"request_in.valid"``, ``"completion_out.0.ready"``,
``"stray_completions"``), a ``DELIVERED_FLIT`` payload as one integer (the flit in its low
bits, ``last`` above); :meth:`TagTranslateModel.comb` gives every output from every input
without changing state; :meth:`TagTranslateModel.tick` commits the clock edge. The model
starts as the RTL leaves reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from hdl.chiplet.packet_merge import index_bits
from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.tag_translate import (
    COUNTER_BITS,
    GENERATION_FLAG,
    INDEX_FIELD_BITS,
    RETRY_PLANE_BITS,
    SLOT_FLITS,
    RetryPhase,
    clock_bits,
    entry_bits,
)
from hdl.chiplet.write_signals import tag_bits
from hdl.layouts import ADDRESS_EXTENSION_FLIT, HEADER_BODY, MAX_PACKET_FLITS, field_slice
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams

from .chiplet_parts import TagPoolModel


class _Field:
    """One field of a header or extension flit inside a ``DELIVERED_FLIT`` word."""

    __slots__ = ("shift", "mask")

    def __init__(self, layout, *path: str) -> None:
        offset, width = field_slice(layout, *path)
        self.shift = field_slice(DELIVERED_FLIT, "flit")[0] + offset
        self.mask = (1 << width) - 1

    def get(self, word: int) -> int:
        return word >> self.shift & self.mask

    def put(self, word: int, value: int) -> int:
        """``word`` with this field replaced by ``value`` (cut to the field's width, as an
        assignment in the RTL is)."""
        return word & ~(self.mask << self.shift) | (value & self.mask) << self.shift


_TRANSACTION = ("message", "transaction")
_TAG = _Field(HEADER_BODY, *_TRANSACTION, "tag")
_DESTINATION = _Field(HEADER_BODY, *_TRANSACTION, "destination")
_HAS_EXTENSION = _Field(HEADER_BODY, *_TRANSACTION, "has_address_extension")
_LENGTH = _Field(HEADER_BODY, "link", "length")
_RETRY = _Field(ADDRESS_EXTENSION_FLIT, "retry")
_RETRY_PLANE = _Field(ADDRESS_EXTENSION_FLIT, "retry_plane")
_RETRY_TAG = _Field(ADDRESS_EXTENSION_FLIT, "retry_tag")
_LAST = field_slice(DELIVERED_FLIT, "last")[0]
_FLIT_MASK = ((1 << field_slice(DELIVERED_FLIT, "flit")[1]) - 1) << field_slice(
    DELIVERED_FLIT, "flit")[0]
_INDEX_MASK = (1 << INDEX_FIELD_BITS) - 1
_COUNTER_MASK = (1 << COUNTER_BITS) - 1
#: ``request_offset`` and ``retry_offset`` are registers of ``range(MAX_PACKET_FLITS)``.
_OFFSET_MASK = (1 << (MAX_PACKET_FLITS - 1).bit_length()) - 1


class Request(NamedTuple):
    """What the request side decides in a cycle."""

    read: int  #: the header's tag has ``READ_TAG_FLAG``
    index: int  #: the pool's next free index in that direction
    generation: int  #: the generation that index gets
    go: int  #: a flit may pass
    payload: int  #: ``request_out.payload``


class Completion(NamedTuple):
    """What the completion side decides in a cycle, from its inputs and state."""

    header: int  #: a header is due on ``completion_in``
    read: int  #: the header's tag has ``READ_TAG_FLAG``
    index: int  #: the table row, in-use and generation bit looked up (and freed)
    matched: int  #: the index is in use with the generation the header carries
    drop: int  #: the flit on ``completion_in`` is dropped
    lane: int  #: the lane the flit goes to
    payload: int  #: what every ``completion_out`` shows


class Retry(NamedTuple):
    """What ``retry_out`` shows in a cycle (from state alone)."""

    read: int  #: of the request at the list's head
    index: int
    lane: int  #: ``retry_lane``
    payload: int  #: ``retry_out.payload``


class TagTranslateModel:
    """``TagTranslate(params, lanes, plane, timeout)``, cycle for cycle.

    The state, one for one with the RTL's: the write and read :class:`TagPoolModel`, and per
    direction (index 0 writes, 1 reads) a table (``outstanding_tags`` rows of (lane, lane's
    tag)), in-use and generation bits and a store (``outstanding_tags x SLOT_FLITS`` words);
    the send-order list (``next_entry``, ``previous_entry``, ``sent_at``, each indexed by
    ``read << tag_bits | index``, and ``head``, ``tail``, ``empty``); the registers
    ``clock``, ``timed_out``, ``retry_busy``, ``phase``, ``retry_offset``,
    ``request_in_packet``, ``request_offset``, ``request_slot``, ``request_slot_read``,
    ``completion_in_packet``, ``packet_lane``, ``packet_dropped`` and the three counters.
    Memories start at zero, as Amaranth's do. The looked-up row is the tag's low
    ``tag_bits`` bits, or row 0 for an index past the pool when ``outstanding_tags`` is not a
    power of two (as the RTL keeps the address inside the table).

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``TagTranslate(params, lanes, plane, timeout)`` by its dotted path,
        with its width.
    """

    def __init__(self, params: ChipletParams, lanes: int, plane: int, timeout: int) -> None:
        if lanes < 1:
            raise ValueError(f"TagTranslateModel lanes={lanes}: at least one lane is needed.")
        if not 0 <= plane < 1 << RETRY_PLANE_BITS or timeout < 1:
            raise ValueError(f"TagTranslateModel plane={plane}, timeout={timeout}: the plane "
                             f"must fit {RETRY_PLANE_BITS} bits and the time-out be at least 1.")
        self.params = params
        self.lanes = lanes
        self.plane = plane
        self.timeout = timeout
        self.tags = params.outstanding_tags
        self.bits = tag_bits(params)
        self._index_mask = (1 << self.bits) - 1
        self._clamp = self.tags != 1 << self.bits
        self._clock_mask = (1 << clock_bits(timeout)) - 1
        self.valid_names = [f"completion_out.{lane}.valid" for lane in range(lanes)]
        self.payload_names = [f"completion_out.{lane}.payload" for lane in range(lanes)]
        self.ready_names = [f"completion_out.{lane}.ready" for lane in range(lanes)]
        flit = DELIVERED_FLIT.size
        self.input_widths = {"request_in.valid": 1, "request_in.payload": flit,
                             "request_lane": index_bits(lanes), "request_retry": 1,
                             "request_out.ready": 1,
                             "completion_in.valid": 1, "completion_in.payload": flit}
        self.input_widths.update(dict.fromkeys(self.ready_names, 1))
        self.input_widths.update({"plane_up": 1, "retry_out.ready": 1})
        self.output_widths = {"request_in.ready": 1, "request_out.valid": 1,
                              "request_out.payload": flit, "completion_in.ready": 1}
        for lane in range(lanes):
            self.output_widths[self.valid_names[lane]] = 1
            self.output_widths[self.payload_names[lane]] = flit
        self.output_widths.update({
            "usable": 1, "retry_out.valid": 1, "retry_out.payload": flit,
            "retry_lane": index_bits(lanes), "drained": 1,
            "stray_completions": COUNTER_BITS, "abandoned_completions": COUNTER_BITS,
            "retried": COUNTER_BITS})
        self.pools = [TagPoolModel(params), TagPoolModel(params)]
        self.tables = [[(0, 0)] * self.tags, [(0, 0)] * self.tags]
        self.in_use = [0, 0]
        self.generation = [0, 0]
        #: Per direction, (index, destination): the generation of that index's last first
        #: sending to that destination (absent: 0).
        self.last_generation: list[dict[tuple[int, int], int]] = [{}, {}]
        self.stores = [[0] * (self.tags * SLOT_FLITS[0]), [0] * (self.tags * SLOT_FLITS[1])]
        names = 1 << entry_bits(params)
        self.next_entry = [0] * names
        self.previous_entry = [0] * names
        self.sent_at = [0] * names
        self.head = 0
        self.tail = 0
        self.empty = 1
        self.clock = 0
        self.timed_out = 0
        self.retry_busy = 0
        self.phase = RetryPhase.HEADER
        self.retry_offset = 0
        self.request_in_packet = 0
        self.request_offset = 0
        self.request_slot = 0
        self.request_slot_read = 0
        self.completion_in_packet = 0
        self.packet_lane = 0
        self.packet_dropped = 0
        self.stray_completions = 0
        self.abandoned_completions = 0
        self.retried = 0

    def _failed(self, inputs: Mapping[str, int]) -> int:
        return int(not inputs["plane_up"] or self.timed_out or self.retry_busy)

    def _request(self, inputs: Mapping[str, int], failed: int) -> Request:
        payload = inputs["request_in.payload"]
        tag = _TAG.get(payload)
        read = int(bool(tag & READ_TAG_FLAG))
        pool = self.pools[read]
        index = pool.payload
        destination = _DESTINATION.get(payload)
        generation = self.last_generation[read].get((index, destination), 0) \
            ^ (1 - inputs["request_retry"])
        go = 1 if self.request_in_packet else pool.valid & (1 - failed)
        if not self.request_in_packet:
            payload = _TAG.put(payload, tag & READ_TAG_FLAG | GENERATION_FLAG * generation
                               | index)
        return Request(read, index, generation, go, payload)

    def _completion(self, inputs: Mapping[str, int], failed: int) -> Completion:
        """What the completion side does with the flit on ``completion_in`` this cycle."""
        payload = inputs["completion_in.payload"]
        tag = _TAG.get(payload)
        read = int(bool(tag & READ_TAG_FLAG))
        beyond = (tag & _INDEX_MASK) >= self.tags
        index = 0 if self._clamp and beyond else tag & self._index_mask
        lane, lane_tag = self.tables[read][index]
        matched = int(not beyond and self._matched(read, index, tag))
        header = 1 - self.completion_in_packet
        if header:
            payload = _TAG.put(payload, tag & READ_TAG_FLAG | lane_tag)
            return Completion(header, read, index, matched, int(failed or not matched), lane,
                              payload)
        return Completion(header, read, index, matched, self.packet_dropped, self.packet_lane,
                          payload)

    def _matched(self, read: int, index: int, tag: int) -> bool:
        """Whether a completion's ``tag`` (its index within the pool) names a kept request:
        its index is in use with the generation the tag carries."""
        return bool(self.in_use[read] >> index & 1) and (
            self.generation[read] >> index & 1) == bool(tag & GENERATION_FLAG)

    def _retry_entry(self) -> int:
        """The kept request ``retry_out`` shows: the send-order list's head."""
        return self.head

    def _fetch(self, read: int, index: int) -> int:
        """The kept word the hand-over reads, at ``retry_offset`` of the request's slot."""
        slot = SLOT_FLITS[read]
        within = self.retry_offset if self.retry_offset < slot else 0
        return self.stores[read][index * slot + within]

    def _retry(self) -> Retry:
        entry = self._retry_entry()
        read, index = entry >> self.bits, entry & self._index_mask
        stored = self._fetch(read, index)
        lane, lane_tag = self.tables[read][index]
        plane_tag = (READ_TAG_FLAG * read | GENERATION_FLAG * (self.generation[read] >> index & 1)
                     | index)
        return Retry(read, index, lane, self._retry_word(stored, lane_tag, plane_tag))

    def _retry_word(self, stored: int, lane_tag: int, plane_tag: int) -> int:
        """The flit of the retry under way, from the kept word read for it."""
        phase = self.phase
        if phase == RetryPhase.HEADER:
            had_extension = _HAS_EXTENSION.get(stored)
            word = _TAG.put(stored, _TAG.get(stored) & READ_TAG_FLAG | lane_tag)
            word = _HAS_EXTENSION.put(word, 1)
            word = _LENGTH.put(word, _LENGTH.get(stored) + 1 - had_extension)
            if not had_extension:
                word &= ~(1 << _LAST)
            return word
        if phase == RetryPhase.ADD_EXTENSION:
            return self._named(stored & ~_FLIT_MASK, plane_tag)
        if phase == RetryPhase.EXTENSION and not _RETRY.get(stored):
            return self._named(stored, plane_tag)
        return stored

    def _named(self, word: int, plane_tag: int) -> int:
        """``word`` as an extension flit naming this plane and ``plane_tag``."""
        word = _RETRY.put(word, 1)
        word = _RETRY_PLANE.put(word, self.plane)
        return _RETRY_TAG.put(word, plane_tag)

    def _lane_ready(self, inputs: Mapping[str, int], lane: int) -> int:
        """``completion_out[lane].ready``; 0 for a lane number past the last, as the RTL's
        case statement has no such case."""
        return inputs[self.ready_names[lane]] if lane < self.lanes else 0

    def _handing(self, failed: int) -> int:
        return int(failed and not self.request_in_packet and not self.empty)

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        failed = self._failed(inputs)
        request = self._request(inputs, failed)
        completion = self._completion(inputs, failed)
        retry = self._retry()
        outputs = {
            "request_in.ready": inputs["request_out.ready"] & request.go,
            "request_out.valid": inputs["request_in.valid"] & request.go,
            "request_out.payload": request.payload,
            "completion_in.ready": int(completion.drop
                                       or self._lane_ready(inputs, completion.lane)),
        }
        valid = inputs["completion_in.valid"] & (1 - completion.drop)
        for lane in range(self.lanes):
            outputs[self.valid_names[lane]] = valid & int(lane == completion.lane)
            outputs[self.payload_names[lane]] = completion.payload
        outputs.update({
            "usable": 1 - failed,
            "retry_out.valid": self._handing(failed),
            "retry_out.payload": retry.payload,
            "retry_lane": retry.lane,
            "drained": int(self.empty and not self.request_in_packet),
            "stray_completions": self.stray_completions,
            "abandoned_completions": self.abandoned_completions,
            "retried": self.retried,
        })
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        failed = self._failed(inputs)
        request = self._request(inputs, failed)
        completion = self._completion(inputs, failed)
        retry = self._retry()
        handing = self._handing(failed)

        request_taken = inputs["request_in.valid"] and inputs["request_out.ready"] and request.go
        header_taken = bool(request_taken and not self.request_in_packet)
        completion_taken = inputs["completion_in.valid"] and (
            completion.drop or self._lane_ready(inputs, completion.lane))
        arrived = completion_taken and completion.header
        completed = bool(arrived and not failed and completion.matched)
        retry_taken = handing and inputs["retry_out.ready"]
        retry_done = bool(retry_taken and retry.payload >> _LAST & 1)
        freed = completed or retry_done
        freed_read, freed_index = ((retry.read, retry.index) if failed
                                   else (completion.read, completion.index))
        had_extension = _HAS_EXTENSION.get(self._fetch(retry.read, retry.index))
        waited = (self.clock - self.sent_at[self.head]) & self._clock_mask
        if not self.empty and waited > self.timeout:
            self.timed_out = 1

        # Keep the flit taken, in its slot.
        if request_taken:
            if self.request_in_packet:
                slot, slot_read = self.request_slot, self.request_slot_read
            else:
                slot, slot_read = request.index, request.read
            if self.request_offset < SLOT_FLITS[slot_read]:
                self.stores[slot_read][slot * SLOT_FLITS[slot_read] + self.request_offset] = \
                    request.payload
        # The send-order list, from the state before the edge.
        self._relink(header_taken, request.read << self.bits | request.index, freed,
                     freed_read << self.bits | freed_index)
        for direction in (0, 1):
            take = header_taken and request.read == direction
            give = freed and freed_read == direction
            self.pools[direction].tick(take, give, freed_index)
            if take:
                lane_tag = _TAG.get(inputs["request_in.payload"]) & self._index_mask
                self.tables[direction][request.index] = (inputs["request_lane"], lane_tag)
                self.in_use[direction] |= 1 << request.index
                bit = 1 << request.index
                self.generation[direction] = (self.generation[direction] & ~bit
                                              | request.generation * bit)
                destination = _DESTINATION.get(inputs["request_in.payload"])
                self.last_generation[direction][(request.index, destination)] = \
                    request.generation
            if give:
                self.in_use[direction] &= ~(1 << freed_index)

        if request_taken:
            last = inputs["request_in.payload"] >> _LAST & 1
            self.request_in_packet = 1 - last
            self.request_offset = 0 if last else (self.request_offset + 1) & _OFFSET_MASK
        if header_taken:
            self.request_slot, self.request_slot_read = request.index, request.read
        if completion_taken:
            self.completion_in_packet = 1 - (inputs["completion_in.payload"] >> _LAST & 1)
            self.packet_lane = completion.lane
            self.packet_dropped = completion.drop
            if arrived and not failed and not completion.matched:
                self.stray_completions = (self.stray_completions + 1) & _COUNTER_MASK
            if arrived and failed:
                self.abandoned_completions = (self.abandoned_completions + 1) & _COUNTER_MASK

        self.retry_busy = int(handing and not retry_done)
        if retry_done:
            self.phase, self.retry_offset = RetryPhase.HEADER, 0
            self.retried = (self.retried + 1) & _COUNTER_MASK
        elif retry_taken:
            if self.phase == RetryPhase.HEADER:
                self.phase = RetryPhase.EXTENSION if had_extension else RetryPhase.ADD_EXTENSION
                self.retry_offset = had_extension
            elif self.phase == RetryPhase.ADD_EXTENSION:
                self.phase, self.retry_offset = RetryPhase.BODY, 1
            else:
                self.phase = RetryPhase.BODY
                self.retry_offset = (self.retry_offset + 1) & _OFFSET_MASK

        if header_taken:
            self.sent_at[request.read << self.bits | request.index] = self.clock
        self.clock = (self.clock + 1) & self._clock_mask

    def _relink(self, append: bool, new: int, unlink: bool, gone: int) -> None:
        """The list's edge: ``new`` appended, ``gone`` unlinked, either or both."""
        after, before = self.next_entry[gone], self.previous_entry[gone]
        gone_head, gone_tail = gone == self.head, gone == self.tail
        tail, empty = self.tail, self.empty
        if unlink and not gone_head:
            self.next_entry[before] = new if append and gone_tail else after
        if append and not empty and not (unlink and gone_tail):
            self.next_entry[tail] = new
        if unlink and not gone_tail:
            self.previous_entry[after] = before
        if append:
            self.previous_entry[new] = before if unlink and gone_tail else tail
            self.tail, self.empty = new, 0
        elif unlink and gone_tail:
            self.tail = before
        if unlink and gone_head:
            self.head = new if gone_tail else after
            if gone_tail and not append:
                self.empty = 1
        elif append and empty:
            self.head = new
