"""Cycle model of ``hdl.chiplet.tag_translate.TagTranslate``: a plane's own request tags, the
lanes' tags swapped for them on requests and restored on completions.

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
from hdl.chiplet.tag_translate import COUNTER_BITS, INDEX_FIELD_BITS
from hdl.chiplet.write_signals import tag_bits
from hdl.layouts import HEADER_BODY, field_slice
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams

from .chiplet_parts import TagPoolModel

_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_OFFSET, _ = field_slice(DELIVERED_FLIT, "flit")
_TAG_OFFSET, _TAG_WIDTH = field_slice(HEADER_BODY, "message", "transaction", "tag")
_TAG_SHIFT = _FLIT_OFFSET + _TAG_OFFSET
_TAG_MASK = (1 << _TAG_WIDTH) - 1
_INDEX_MASK = (1 << INDEX_FIELD_BITS) - 1
_COUNTER_MASK = (1 << COUNTER_BITS) - 1


def _tag(word: int) -> int:
    """The header tag field of a ``DELIVERED_FLIT`` word."""
    return word >> _TAG_SHIFT & _TAG_MASK


def _with_tag(word: int, tag: int) -> int:
    """``word`` with its header tag field replaced by ``tag``."""
    return word & ~(_TAG_MASK << _TAG_SHIFT) | tag << _TAG_SHIFT


class Completion(NamedTuple):
    """What the completion side decides in a cycle, from its inputs and state."""

    header: int  #: a header is due on ``completion_in``
    read: int  #: the header's tag has ``READ_TAG_FLAG``
    index: int  #: the table row and in-use bit looked up (and freed)
    stray: int  #: the header's plane tag is not in use
    drop: int  #: the flit on ``completion_in`` is dropped
    lane: int  #: the lane the flit goes to
    payload: int  #: what every ``completion_out`` shows


class TagTranslateModel:
    """``TagTranslate(params, lanes)``, cycle for cycle.

    The state, one for one with the RTL's: the write and read :class:`TagPoolModel`, a table
    per direction (``outstanding_tags`` rows of (lane, lane's tag), zero at reset, read
    combinationally, written at the edge), an in-use bit per plane tag and direction, and the
    registers ``request_in_packet``, ``completion_in_packet``, ``packet_lane``,
    ``packet_dropped`` and ``stray_completions``. The looked-up row is the tag's low
    ``tag_bits`` bits, or row 0 for an index past the pool when ``outstanding_tags`` is not a
    power of two (as the RTL keeps the address inside the table).

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``TagTranslate(params, lanes)`` by its dotted path, with its width.
    """

    def __init__(self, params: ChipletParams, lanes: int) -> None:
        if lanes < 1:
            raise ValueError(f"TagTranslateModel lanes={lanes}: at least one lane is needed.")
        self.params = params
        self.lanes = lanes
        self.tags = params.outstanding_tags
        self.bits = tag_bits(params)
        self._index_mask = (1 << self.bits) - 1
        self._clamp = self.tags != 1 << self.bits
        self.valid_names = [f"completion_out.{lane}.valid" for lane in range(lanes)]
        self.payload_names = [f"completion_out.{lane}.payload" for lane in range(lanes)]
        self.ready_names = [f"completion_out.{lane}.ready" for lane in range(lanes)]
        flit = DELIVERED_FLIT.size
        self.input_widths = {"request_in.valid": 1, "request_in.payload": flit,
                             "request_lane": index_bits(lanes), "request_out.ready": 1,
                             "completion_in.valid": 1, "completion_in.payload": flit}
        self.input_widths.update(dict.fromkeys(self.ready_names, 1))
        self.output_widths = {"request_in.ready": 1, "request_out.valid": 1,
                              "request_out.payload": flit, "completion_in.ready": 1}
        for lane in range(lanes):
            self.output_widths[self.valid_names[lane]] = 1
            self.output_widths[self.payload_names[lane]] = flit
        self.output_widths["stray_completions"] = COUNTER_BITS
        # Index 0: writes, 1: reads, as the header's READ_TAG_FLAG says.
        self.pools = [TagPoolModel(params), TagPoolModel(params)]
        self.tables = [[(0, 0)] * self.tags, [(0, 0)] * self.tags]
        self.in_use = [0, 0]
        self.request_in_packet = 0
        self.completion_in_packet = 0
        self.packet_lane = 0
        self.packet_dropped = 0
        self.stray_completions = 0

    def _request(self, inputs: Mapping[str, int]) -> tuple[int, int, int, int]:
        """(read, plane tag, go, request_out payload) of this cycle."""
        payload = inputs["request_in.payload"]
        tag = _tag(payload)
        read = int(bool(tag & READ_TAG_FLAG))
        pool = self.pools[read]
        go = 1 if self.request_in_packet else pool.valid
        if not self.request_in_packet:
            payload = _with_tag(payload, tag & READ_TAG_FLAG | pool.payload)
        return read, pool.payload, go, payload

    def _completion(self, inputs: Mapping[str, int]) -> Completion:
        """What the completion side does with the flit on ``completion_in`` this cycle."""
        payload = inputs["completion_in.payload"]
        tag = _tag(payload)
        read = int(bool(tag & READ_TAG_FLAG))
        beyond = (tag & _INDEX_MASK) >= self.tags
        index = 0 if self._clamp and beyond else tag & self._index_mask
        lane, lane_tag = self.tables[read][index]
        stray = int(beyond or not self.in_use[read] >> index & 1)
        header = 1 - self.completion_in_packet
        if header:
            payload = _with_tag(payload, tag & READ_TAG_FLAG | lane_tag)
            return Completion(header, read, index, stray, stray, lane, payload)
        return Completion(header, read, index, stray, self.packet_dropped, self.packet_lane,
                          payload)

    def _lane_ready(self, inputs: Mapping[str, int], lane: int) -> int:
        """``completion_out[lane].ready``; 0 for a lane number past the last, as the RTL's
        case statement has no such case."""
        return inputs[self.ready_names[lane]] if lane < self.lanes else 0

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        _, _, go, request_payload = self._request(inputs)
        completion = self._completion(inputs)
        outputs = {
            "request_in.ready": inputs["request_out.ready"] & go,
            "request_out.valid": inputs["request_in.valid"] & go,
            "request_out.payload": request_payload,
            "completion_in.ready": int(completion.drop
                                       or self._lane_ready(inputs, completion.lane)),
        }
        valid = inputs["completion_in.valid"] & (1 - completion.drop)
        for lane in range(self.lanes):
            outputs[self.valid_names[lane]] = valid & int(lane == completion.lane)
            outputs[self.payload_names[lane]] = completion.payload
        outputs["stray_completions"] = self.stray_completions
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        request_read, plane_tag, go, _ = self._request(inputs)
        request_taken = inputs["request_in.valid"] and inputs["request_out.ready"] and go
        header_taken = request_taken and not self.request_in_packet
        completion = self._completion(inputs)
        completion_taken = inputs["completion_in.valid"] and (
            completion.drop or self._lane_ready(inputs, completion.lane))
        freed = completion_taken and completion.header and not completion.stray
        for direction in (0, 1):
            take = header_taken and request_read == direction
            give = freed and completion.read == direction
            self.pools[direction].tick(take, give, completion.index)
            if take:
                lane_tag = _tag(inputs["request_in.payload"]) & self._index_mask
                self.tables[direction][plane_tag] = (inputs["request_lane"], lane_tag)
                self.in_use[direction] |= 1 << plane_tag
            if give:
                self.in_use[direction] &= ~(1 << completion.index)
        if request_taken:
            self.request_in_packet = 1 - (inputs["request_in.payload"] >> _LAST_OFFSET & 1)
        if completion_taken:
            self.completion_in_packet = 1 - (inputs["completion_in.payload"] >> _LAST_OFFSET
                                             & 1)
            self.packet_lane = completion.lane
            self.packet_dropped = completion.drop
            if completion.header and completion.stray:
                self.stray_completions = (self.stray_completions + 1) & _COUNTER_MASK
