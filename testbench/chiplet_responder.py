"""A test top, stimulus, an AXI4 memory model and a scoreboard for the chiplet's far side
(the responder).

:class:`FarSide` joins one or more ``Responder``s and the ``DuplicateFilter`` they share, as
the chiplet does. The rest is simulator-agnostic: the test drives the model's outputs and
hands it the design's outputs each cycle. Everything is checked against
:mod:`emulator.ref.chiplet`: each request packet is a :class:`Case` with the completion
``Fabric.serve`` gives (``ERROR_RESPONSE`` when the memory answers its burst with an error)
and the burst ``manager_burst`` says the manager port must issue for it (none for a request
refused, dropped or answered as a duplicate).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from emulator.cycle.chiplet_responder import ResponderModel
from emulator.cycle.duplicate_filter import DuplicateFilterModel
from emulator.ref.axi import Burst, ReferenceMemory, beats, burst_errors, strobe_errors
from emulator.ref.chiplet import (
    FLIT_BYTES,
    AddressMap,
    Endpoint,
    Fabric,
    Piece,
    Request,
    completion,
    decode_request,
    manager_burst,
    request_packet,
    retry_packet,
)
from emulator.ref.framing import Packet
from hdl.chiplet.axi import AxiSignature, BurstType, Response, data_bytes
from hdl.chiplet.duplicate_filter import DuplicateFilter
from hdl.chiplet.responder import Responder
from hdl.chiplet.tag_translate import GENERATION_FLAG
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    Command,
    FlitKind,
    unpack,
)
from hdl.link.link_signals import COUNTER_BITS, DELIVERED_FLIT
from hdl.params import ChipletParams

#: Bytes of each memory region the random requests use; reads and writes use alternate
#: 256-byte blocks, so that no read depends on the order of the two channels.
REGION_BYTES = 16 * 1024
#: Base of the second region, above the header's 40 address bits (extension flits), when the
#: address space has room for it.
HIGH_BASE = 1 << 44
#: The memory ends this far into the block after its last region: requests in that block
#: straddle the end or not. A multiple of the widest bus, so no burst reaches past it.
EDGE_BYTES = 128

AW_FIELDS = ("awid", "awaddr", "awlen", "awsize", "awburst")
W_FIELDS = ("wdata", "wstrb", "wlast")
AR_FIELDS = ("arid", "araddr", "arlen", "arsize", "arburst")


#: The far side's counters.
COUNTERS = ("refused_requests", "unsupported", "duplicates")


class FarSide(wiring.Component):
    """A test top: ``lanes`` far sides, ``Responder(params, plane=i)``, sharing one
    ``DuplicateFilter(params, lanes)``, far side ``i`` on the filter's port ``i``, as the
    chiplet joins them.

    Members
    -------
    request, m_axi, completion, refused_requests, unsupported, duplicates
        Each far side's members of the same names: with one lane as ``Responder`` has them,
        with more an array, by lane.
    memory_bytes : In(axi_address_bits + 1)
        Every far side's.
    """

    def __init__(self, params: ChipletParams, lanes: int = 1) -> None:
        self.params = params
        self.lanes = lanes
        self.responders = [Responder(params, plane) for plane in range(lanes)]
        self.filter = DuplicateFilter(params, lanes)
        flits = stream.Signature(DELIVERED_FLIT)

        def each(member: wiring.Member) -> wiring.Member:
            return member if lanes == 1 else member.array(lanes)

        super().__init__({
            "request": each(In(flits)),
            "m_axi": each(Out(AxiSignature(params))),
            "completion": each(Out(flits)),
            "memory_bytes": In(params.axi_address_bits + 1),
            **{name: each(Out(COUNTER_BITS)) for name in COUNTERS},
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.filter = self.filter
        for lane, responder in enumerate(self.responders):
            m.submodules[f"responder_{lane}"] = responder

            def ours(name: str, lane: int = lane) -> object:
                member = getattr(self, name)
                return member if self.lanes == 1 else member[lane]

            wiring.connect(m, responder.filter, self.filter.ports[lane])
            wiring.connect(m, wiring.flipped(ours("request")), responder.request)
            wiring.connect(m, responder.m_axi, wiring.flipped(ours("m_axi")))
            wiring.connect(m, responder.completion, wiring.flipped(ours("completion")))
            m.d.comb += responder.memory_bytes.eq(self.memory_bytes)
            m.d.comb += [ours(name).eq(getattr(responder, name)) for name in COUNTERS]
        return m


class FarSideModel:
    """:class:`FarSide`, cycle for cycle: each far side's ``ResponderModel`` and the
    ``DuplicateFilterModel`` joined as the RTL joins them, in the models' convention
    (``input_widths``, ``output_widths``, ``comb``, ``tick``); other model classes may be
    given, for faults planted in them. A cycle settles in two passes:
    the filter's entry comes from its registers, its grants from the far sides' requests, and
    of a far side's outputs only BREADY depends on a grant."""

    def __init__(self, params: ChipletParams, lanes: int = 1,
                 responder_model: type[ResponderModel] = ResponderModel,
                 filter_model: type[DuplicateFilterModel] = DuplicateFilterModel) -> None:
        self.params = params
        self.lanes = lanes
        self.responders = [responder_model(params, plane) for plane in range(lanes)]
        self.filter = filter_model(params, lanes)
        self.input_widths: dict[str, int] = {}
        self.output_widths: dict[str, int] = {}
        self._inputs: list[dict[str, str]] = []  # per lane: the responder's port, the top's
        self._outputs: list[dict[str, str]] = []
        self._to_filter: list[dict[str, str]] = []  # responder output: filter input
        self._from_filter: list[dict[str, str]] = []  # responder input: filter output
        for lane, responder in enumerate(self.responders):
            inputs, outputs, to_filter, from_filter = {}, {}, {}, {}
            for port, width in responder.input_widths.items():
                if port.startswith("filter."):
                    from_filter[port] = f"ports.{lane}.{port[len('filter.'):]}"
                else:
                    inputs[port] = self._top(port, lane)
                    self.input_widths[inputs[port]] = width
            for port, width in responder.output_widths.items():
                if port.startswith("filter."):
                    to_filter[port] = f"ports.{lane}.{port[len('filter.'):]}"
                else:
                    outputs[port] = self._top(port, lane)
                    self.output_widths[outputs[port]] = width
            self._inputs.append(inputs)
            self._outputs.append(outputs)
            self._to_filter.append(to_filter)
            self._from_filter.append(from_filter)
        # The last cycle settled: its inputs, and what they settled to (``tick`` usually
        # follows ``comb`` with the same inputs).
        self._settled: tuple[dict[str, int], tuple] | None = None

    def _top(self, port: str, lane: int) -> str:
        """The top's name of a far side's port (``memory_bytes`` is every lane's)."""
        if self.lanes == 1 or port == "memory_bytes":
            return port
        head, _, rest = port.partition(".")
        return f"{head}.{lane}.{rest}" if rest else f"{head}.{lane}"

    def _settle(self, inputs: Mapping[str, int]
                ) -> tuple[list[dict[str, int]], list[dict[str, int]], dict[str, int]]:
        """Each far side's inputs and outputs, and the filter's inputs, in this cycle."""
        if self._settled is not None and self._settled[0] == inputs:
            return self._settled[1]
        result = self._settle_anew(inputs)
        self._settled = (dict(inputs), result)
        return result

    def _settle_anew(self, inputs: Mapping[str, int]
                     ) -> tuple[list[dict[str, int]], list[dict[str, int]], dict[str, int]]:
        filter_inputs = dict.fromkeys(self.filter.input_widths, 0)
        lane_inputs = [{port: inputs[top] for port, top in names.items()}
                       for names in self._inputs]
        lane_outputs: list[dict[str, int]] = []
        for _ in range(3):
            filter_outputs = self.filter.comb(filter_inputs)
            lane_outputs = []
            for lane, responder in enumerate(self.responders):
                for port, name in self._from_filter[lane].items():
                    lane_inputs[lane][port] = filter_outputs[name]
                lane_outputs.append(responder.comb(lane_inputs[lane]))
            settled = {name: lane_outputs[lane][port]
                       for lane in range(self.lanes)
                       for port, name in self._to_filter[lane].items()}
            if settled == filter_inputs:
                return lane_inputs, lane_outputs, filter_inputs
            filter_inputs = settled
        raise AssertionError("the far sides and the filter did not settle")

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        _, lane_outputs, _ = self._settle(inputs)
        return {top: lane_outputs[lane][port]
                for lane, names in enumerate(self._outputs) for port, top in names.items()}

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        lane_inputs, _, filter_inputs = self._settle(inputs)
        self._settled = None
        for responder, values in zip(self.responders, lane_inputs, strict=True):
            responder.tick(values)
        self.filter.tick(filter_inputs)


def has_high_region(params: ChipletParams) -> bool:
    return params.axi_address_bits > HIGH_BASE.bit_length()


def memory_size(params: ChipletParams) -> int:
    """``memory_bytes`` of the tests: the low region, the high one when there is room, and
    ``EDGE_BYTES`` into the next block."""
    top = HIGH_BASE + REGION_BYTES if has_high_region(params) else REGION_BYTES
    return top + EDGE_BYTES


@dataclass
class Case:
    """One request packet and what must become of it.

    Attributes
    ----------
    flits : list of int
        The packet: header flit, then payload flits.
    answer : Packet or None
        The completion expected (None: the packet is dropped).
    channel : str
        ``"read"`` when a READ is carried out (its answer comes in read order), else
        ``"write"`` (write answers and refusals come in their own order).
    burst : tuple or None
        ``(Burst, words, strobes)`` of :func:`manager_burst` when a burst must be issued.
    fail : bool
        The memory answers the burst with SLVERR.
    duplicate : bool
        A ``WRITE`` whose key was seen done: answered with the recorded outcome, no burst.
    """

    flits: list[int]
    answer: Packet | None
    channel: str = "write"
    burst: tuple[Burst, list[int], list[int]] | None = None
    fail: bool = False
    duplicate: bool = False

    @property
    def is_read(self) -> bool:
        return self.burst is not None and self.channel == "read"


#: A WRITE's key: (plane, source, tag index, generation).
Key = tuple[int, int, int, int]


def write_key(flits: list[int], plane: int) -> Key | None:
    """The key of the request ``flits`` arriving at far side ``plane``, if it is a ``WRITE``
    (docs/chiplet.md, "Executing once"): the header's source; the plane and the tag's index
    and generation from a retry's extension flit (when it arrived), else ``plane`` and the
    header's tag."""
    header = unpack(HEADER_BODY, flits[0])
    transaction = header.message.transaction
    if header.link.kind != FlitKind.PACKET or transaction.command != Command.WRITE:
        return None
    tag = transaction.tag
    if transaction.has_address_extension and len(flits) > 1:
        extension = unpack(ADDRESS_EXTENSION_FLIT, flits[1])
        if extension.retry:
            plane, tag = extension.retry_plane, extension.retry_tag
    return plane, transaction.source, tag % GENERATION_FLAG, int(bool(tag & GENERATION_FLAG))


def header_request(flits: list[int]) -> Request:
    """What a completion repeats of the request ``flits``, from its header alone."""
    transaction = unpack(HEADER_BODY, flits[0]).message.transaction
    return Request(transaction.command, transaction.destination, transaction.source,
                   transaction.tag, transaction.address, transaction.byte_count, None, None)


@dataclass
class KeyBook:
    """The duplicate filter's rule, untimed, for the ``WRITE``s in the order they are decided
    (docs/chiplet.md, "Executing once"): per plane, source and tag index, the last
    generation seen and whether it succeeded. A key seen is a duplicate, answered with the
    recorded outcome; a key that names no entry is refused and not recorded; any other is
    decided as without the filter, and recorded (ok when carried out and not failed).

    The waiting of a key seen pending is timing: it is answered as a duplicate once the
    first is done. A ``WRITE`` that reuses an entry with the other generation while the
    entry's last key is still under way is not allowed (a requester reuses a tag only once
    its completion is in); the stimuli keep to that.
    """

    params: ChipletParams
    plane: int = 0
    entries: dict[tuple[int, int, int], tuple[int, bool]] = field(default_factory=dict)
    carried_out: dict[Key, int] = field(default_factory=dict)  # keys carried out: bursts

    def in_range(self, key: Key) -> bool:
        return key[0] < self.params.links and key[2] < self.params.outstanding_tags

    def seen(self, key: Key) -> tuple[int, bool] | None:
        """The entry of ``key`` if it holds ``key``."""
        entry = self.entries.get(key[:3])
        return entry if entry is not None and entry[0] == key[3] else None

    def judge(self, flits: list[int], decide: Callable[[], Case], plane: int | None = None
              ) -> Case:
        """The case of request ``flits`` arriving at far side ``plane`` (the book's own by
        default): ``decide()`` gives it as it would be without the filter, and is called
        only if the request is decided so (not a duplicate, not refused for its key)."""
        key = write_key(flits, self.plane if plane is None else plane)
        if key is None:
            return decide()
        if not self.in_range(key):
            return Case(list(flits), completion(header_request(flits),
                                                Command.ERROR_RESPONSE))
        entry = self.seen(key)
        if entry is not None:
            response = Command.WRITE_RESPONSE if entry[1] else Command.ERROR_RESPONSE
            return Case(list(flits), completion(header_request(flits), response),
                        duplicate=True)
        case = decide()
        self.entries[key[:3]] = (key[3], case.burst is not None and not case.fail)
        if case.burst is not None:
            self.carried_out[key] = self.carried_out.get(key, 0) + 1
        return case


class ResponderReference:
    """The far side of :class:`emulator.ref.chiplet.Fabric`, with its memory, serving requests
    in order; a request whose burst the memory fails is answered ``ERROR_RESPONSE`` and
    changes nothing (the memory refused it). ``WRITE``s pass the duplicate filter's rule
    first (:class:`KeyBook`, far side ``plane``)."""

    def __init__(self, params: ChipletParams, memory_bytes: int,
                 preload: dict[int, int] | None = None, plane: int = 0) -> None:
        self.params = params
        self.bus_bytes = data_bytes(params)
        self.memory_bytes = memory_bytes
        self.endpoint = Endpoint(AddressMap(params, []), memory_bytes)
        self.endpoint.memory.contents.update(preload or {})
        self.book = KeyBook(params, plane)

    @property
    def memory(self) -> ReferenceMemory:
        return self.endpoint.memory

    def case(self, packet: Packet, fail: bool = False, plane: int | None = None) -> Case:
        """The case of ``packet`` arriving now at far side ``plane`` (the book's own by
        default)."""
        return self.book.judge(flits(packet), lambda: self._served(packet, fail), plane)

    def _served(self, packet: Packet, fail: bool) -> Case:
        request = decode_request(packet)
        fabric = Fabric(self.params, {request.destination: self.endpoint})
        inside = request.remote_address + request.byte_count <= self.memory_bytes
        if not inside:
            return Case(flits(packet), fabric.serve(packet))
        burst = manager_burst(request, self.bus_bytes)
        channel = "read" if request.command == Command.READ else "write"
        if fail:
            return Case(flits(packet), completion(request, Command.ERROR_RESPONSE), channel,
                        burst, fail)
        answer = fabric.serve(packet)
        if request.command == Command.READ:
            # ``Fabric.serve`` puts every byte of the burst's beats from the remote address in
            # a READ_RESPONSE, past the byte count when the last beat reaches beyond it; the
            # packet carries the bytes asked for (docs/chiplet.md), the first ``byte_count``.
            data = b"".join(flit.to_bytes(FLIT_BYTES, "little") for flit in answer.payload)
            answer = completion(request, Command.READ_RESPONSE, data[:request.byte_count])
        return Case(flits(packet), answer, channel, burst, fail)


def flits(packet: Packet) -> list[int]:
    return [packet.header, *packet.payload]


def retried(packet: Packet, plane: int, plane_tag: int, tag: int) -> Packet:
    """``packet`` sent again after plane ``plane``, where it had tag ``plane_tag``, failed,
    with ``tag`` in its header (:func:`emulator.ref.chiplet.retry_packet`)."""
    header, *payload = retry_packet(flits(packet), plane, plane_tag, tag)
    return Packet(header, tuple(payload))


@dataclass
class RequestMaker:
    """Random well-formed READ and WRITE requests, each with its own (source, tag)."""

    params: ChipletParams
    rng: random.Random
    fail_rate: float = 0.1
    count: int = 0

    def _base(self, kind: str) -> int:
        """A block for ``kind`` ("read" blocks are odd, "write" even) somewhere the test
        wants it: a region, the block the memory ends in, beyond the memory, or beyond the
        address space (``alias``: the bits the port has would fall inside the memory)."""
        rng = self.rng
        blocks = REGION_BYTES // MAX_DATA_BYTES
        parity = int(kind == "read")
        address_bits = self.params.axi_address_bits
        places = (["low"] * 4 + ["high"] * 3 * has_high_region(self.params) + ["edge", "beyond"]
                  + ["alias"] * (address_bits < 64))
        place = rng.choice(places)
        if place == "low":
            return (rng.randrange(blocks // 2) * 2 + parity) * MAX_DATA_BYTES
        if place == "high":
            return HIGH_BASE + (rng.randrange(blocks // 2) * 2 + parity) * MAX_DATA_BYTES
        if place == "edge":
            return memory_size(self.params) - EDGE_BYTES
        if place == "alias":
            # Beyond the address space, where the address bits the port has fall inside the
            # memory.
            return (rng.randint(1, (1 << (64 - address_bits)) - 1) << address_bits
                    | rng.randrange(blocks) * MAX_DATA_BYTES)
        top = 1 << rng.choice([address_bits, 64])
        return rng.randrange(memory_size(self.params), top) & ~(MAX_DATA_BYTES - 1)

    def piece(self, kind: str) -> Piece:
        rng = self.rng
        base = self._base(kind)
        offset = rng.choice([0, rng.randrange(MAX_DATA_BYTES)])
        room = MAX_DATA_BYTES - offset
        count = rng.choice([room, rng.randint(1, room), rng.randint(1, min(room, 20))])
        if base == memory_size(self.params) - EDGE_BYTES and offset < EDGE_BYTES:
            # Ending exactly at the end of the memory, or one byte beyond it.
            count = EDGE_BYTES - offset + rng.choice([0, 0, 1])
        if kind == "read":
            return Piece(base + offset, count, ())
        data = bytes(rng.getrandbits(8) for _ in range(count))
        enables = None
        if rng.random() < 0.35:
            enabled = min(count, BYTE_ENABLE_BITS)
            enables = rng.getrandbits(enabled) if rng.random() < 0.8 else 0
            if count <= BYTE_ENABLE_BITS and enables == (1 << count) - 1:
                enables = None
        return Piece(base + offset, count, (), data, enables)

    def names(self, kind: str, number: int) -> tuple[int, int]:
        """The source and tag of request ``number``: one of its own. A ``WRITE``'s tag is a
        tag index below ``outstanding_tags`` of generation 0, so each names its own entry of
        the duplicate filter; a ``READ``'s has the top bit set."""
        if kind == "write":
            tags = self.params.outstanding_tags
            return number // tags % 1024, number % tags
        return number >> 7 & 0x3FF, 0x80 | number & 0x7F

    def packet(self, kind: str | None = None) -> tuple[Packet, bool]:
        """A random request packet, and whether its burst is to fail."""
        kind = kind or self.rng.choice(["read", "write"])
        number, self.count = self.count, self.count + 1
        packet = request_packet(self.piece(kind), self.rng.randrange(1024),
                                *self.names(kind, number))
        return packet, self.rng.random() < self.fail_rate


def read_preload(rng: random.Random, params: ChipletParams) -> dict[int, int]:
    """Random contents for every read block of the regions (the odd blocks)."""
    contents = {}
    bases = [0, HIGH_BASE] if has_high_region(params) else [0]
    for base in bases:
        for block in range(1, REGION_BYTES // MAX_DATA_BYTES, 2):
            start = base + block * MAX_DATA_BYTES
            for address, value in enumerate(rng.randbytes(MAX_DATA_BYTES), start):
                contents[address] = value
    return contents


@dataclass
class _WriteBurst:
    burst: Burst
    expected: tuple[Burst, list[int], list[int]]
    fail: bool


@dataclass
class _ReadBurst:
    burst: Burst
    words: list[int]
    error_beat: int | None
    due: int
    sent: int = 0


@dataclass
class AxiMemoryModel:
    """An AXI4 subordinate in front of a :class:`ReferenceMemory`, one cycle at a time.

    :meth:`drive` gives its outputs for the cycle, decided from its own state (registered
    outputs); :meth:`observe` takes the manager's outputs of the same cycle, records the
    handshakes and checks the protocol: VALID held until READY with a stable payload on AW, W
    and AR; legal bursts (no 4 KiB crossing); WLAST on exactly the last beat; WSTRB only on
    active lanes; each burst equal to the next one expected on its channel, strobes equal and
    data equal on strobed lanes. W beats may come before their AW. B and R come after a
    random latency; a failing burst gets SLVERR (a write then changes nothing, a read has one
    SLVERR beat).
    """

    params: ChipletParams
    memory: ReferenceMemory
    writes: deque[tuple[tuple[Burst, list[int], list[int]], bool]]
    reads: deque[tuple[tuple[Burst, list[int], list[int]], bool]]
    rng: random.Random
    pause: float = 0.3
    latency: tuple[int, int] = (1, 20)
    cycle: int = 0
    # What the last cycle showed on AW, W and AR: (valid, ready, payload).
    previous: dict[str, tuple[bool, bool, tuple]] = field(default_factory=dict)
    aw_waiting: deque[_WriteBurst] = field(default_factory=deque)
    w_groups: deque[list[tuple[int, int]]] = field(default_factory=deque)
    w_current: list[tuple[int, int]] = field(default_factory=list)
    b_queue: deque[tuple[int, Response]] = field(default_factory=deque)
    r_bursts: deque[_ReadBurst] = field(default_factory=deque)
    ready: dict[str, bool] = field(default_factory=dict)
    b_valid: bool = False
    b_resp: Response = Response.OKAY
    r_valid: bool = False
    r_beat: tuple[int, Response, bool] = (0, Response.OKAY, False)
    # Cycles of events, for timing: AW and AR taken, B taken, last R beat taken.
    aw_cycles: list[int] = field(default_factory=list)
    ar_cycles: list[int] = field(default_factory=list)
    b_cycles: list[int] = field(default_factory=list)
    r_last_cycles: list[int] = field(default_factory=list)
    first_valid: dict[str, list[int]] = field(default_factory=dict)
    # The most bursts seen outstanding (address taken, response not all taken), per channel.
    most_outstanding: dict[str, int] = field(default_factory=lambda: {"aw": 0, "ar": 0})

    @property
    def bus_bytes(self) -> int:
        return data_bytes(self.params)

    def _go(self) -> bool:
        return self.rng.random() >= self.pause

    def drive(self) -> dict[str, int]:
        """The subordinate's outputs in this cycle."""
        self.ready = {name: self._go() for name in ("aw", "w", "ar")}
        if not self.b_valid and self.b_queue and self.b_queue[0][0] <= self.cycle and self._go():
            self.b_valid, self.b_resp = True, self.b_queue.popleft()[1]
        if (not self.r_valid and self.r_bursts and self.r_bursts[0].due <= self.cycle
                and self._go()):
            burst = self.r_bursts[0]
            number = burst.sent
            if number == burst.error_beat:
                beat = (self.rng.getrandbits(8 * self.bus_bytes), Response.SLVERR)
            else:
                beat = (burst.words[number], Response.OKAY)
            self.r_valid, self.r_beat = True, (*beat, number == burst.burst.length - 1)
        rdata, rresp, rlast = self.r_beat
        return {"awready": self.ready["aw"], "wready": self.ready["w"],
                "arready": self.ready["ar"], "bvalid": self.b_valid, "bid": 0,
                "bresp": self.b_resp.value, "rvalid": self.r_valid, "rid": 0, "rdata": rdata,
                "rresp": rresp.value, "rlast": rlast}

    def observe(self, out: dict[str, int]) -> None:
        """The manager's outputs in this cycle: ``awvalid``, ``wvalid``, ``arvalid``,
        ``bready``, ``rready``, and the payload fields of each channel that is valid."""
        for channel, names in (("aw", AW_FIELDS), ("w", W_FIELDS), ("ar", AR_FIELDS)):
            valid = bool(out[f"{channel}valid"])
            payload = tuple(out[name] for name in names) if valid else ()
            if channel in self.previous:
                was_valid, was_ready, was_payload = self.previous[channel]
                if was_valid and not was_ready:
                    assert valid, f"cycle {self.cycle}: {channel.upper()}VALID fell before READY"
                    assert payload == was_payload, (
                        f"cycle {self.cycle}: {channel.upper()} payload changed while waiting "
                        f"for READY: {was_payload} -> {payload}")
                if valid and not (was_valid and not was_ready):
                    self.first_valid.setdefault(channel, []).append(self.cycle)
            elif valid:
                self.first_valid.setdefault(channel, []).append(self.cycle)
            self.previous[channel] = (valid, self.ready[channel], payload)
        if out["awvalid"] and self.ready["aw"]:
            self._address("aw", out)
        if out["wvalid"] and self.ready["w"]:
            self._write_beat(out)
        if out["arvalid"] and self.ready["ar"]:
            self._address("ar", out)
        if self.b_valid and out["bready"]:
            self.b_valid = False
            self.b_cycles.append(self.cycle)
        for channel, taken, answered in (("aw", self.aw_cycles, self.b_cycles),
                                         ("ar", self.ar_cycles, self.r_last_cycles)):
            self.most_outstanding[channel] = max(self.most_outstanding[channel],
                                                 len(taken) - len(answered))
        if self.r_valid and out["rready"]:
            self.r_valid = False
            burst = self.r_bursts[0]
            burst.sent += 1
            if burst.sent == burst.burst.length:
                self.r_bursts.popleft()
                self.r_last_cycles.append(self.cycle)
        self.cycle += 1

    def _address(self, channel: str, out: dict[str, int]) -> None:
        burst = Burst.from_fields(out[f"{channel}addr"], out[f"{channel}len"],
                                  out[f"{channel}size"], out[f"{channel}burst"])
        errors = burst_errors(burst, self.bus_bytes, self.params.axi_address_bits)
        assert not errors, f"cycle {self.cycle}: illegal {channel.upper()} burst: {errors}"
        assert out[f"{channel}id"] == 0, f"{channel.upper()}ID {out[f'{channel}id']} is not 0"
        queue = self.writes if channel == "aw" else self.reads
        assert queue, f"cycle {self.cycle}: {channel.upper()} {burst} for no request"
        expected, fail = queue.popleft()
        assert burst == expected[0], (
            f"cycle {self.cycle}: {channel.upper()} {burst}, the reference's {expected[0]}")
        assert burst.kind == BurstType.INCR
        if channel == "aw":
            self.aw_cycles.append(self.cycle)
            self.aw_waiting.append(_WriteBurst(burst, expected, fail))
            self._check_open_group()
            self._match_writes()
        else:
            self.ar_cycles.append(self.cycle)
            error_beat = self.rng.randrange(burst.length) if fail else None
            self.r_bursts.append(_ReadBurst(burst, self.memory.read(burst), error_beat,
                                            self.cycle + 1 + self.rng.randint(*self.latency)))

    def _write_beat(self, out: dict[str, int]) -> None:
        self.w_current.append((out["wdata"], out["wstrb"]))
        last = bool(out["wlast"])
        self._check_open_group(last)
        if last:
            self.w_groups.append(self.w_current)
            self.w_current = []
            self._match_writes()

    def _check_open_group(self, last: bool | None = None) -> None:
        """WLAST on exactly the last beat, once the open group's AW is known."""
        index = len(self.w_groups)
        if index < len(self.aw_waiting) and self.w_current:
            length = self.aw_waiting[index].burst.length
            beats_in = len(self.w_current)
            assert beats_in <= length, f"cycle {self.cycle}: more W beats than AWLEN + 1"
            if last is not None:
                assert last == (beats_in == length), (
                    f"cycle {self.cycle}: WLAST {int(last)} on beat {beats_in} of {length}")

    def _match_writes(self) -> None:
        while self.aw_waiting and self.w_groups:
            write = self.aw_waiting.popleft()
            group = self.w_groups.popleft()
            burst = write.burst
            assert len(group) == burst.length, (
                f"{burst}: {len(group)} W beats for {burst.length}")
            _, words, strobes = write.expected
            for number, (beat, (wdata, wstrb)) in enumerate(
                    zip(beats(burst, self.bus_bytes), group, strict=True)):
                assert not strobe_errors(beat, wstrb), strobe_errors(beat, wstrb)
                assert wstrb == strobes[number], (
                    f"{burst} beat {number}: WSTRB {wstrb:#x}, reference {strobes[number]:#x}")
                mask = sum(0xFF << (8 * lane) for lane in range(self.bus_bytes)
                           if wstrb >> lane & 1)
                assert wdata & mask == words[number] & mask, (
                    f"{burst} beat {number}: WDATA {wdata & mask:#x}, reference "
                    f"{words[number] & mask:#x}")
            if not write.fail:
                self.memory.write(burst, [data for data, _ in group], strobes)
            response = Response.SLVERR if write.fail else Response.OKAY
            self.b_queue.append((self.cycle + 1 + self.rng.randint(*self.latency), response))

    def assert_drained(self) -> None:
        assert not self.writes and not self.reads, (
            f"{len(self.writes)} write and {len(self.reads)} read bursts never issued")
        assert not self.aw_waiting and not self.w_groups and not self.w_current, (
            "write bursts left without their data or address")
        assert not self.b_queue and not self.b_valid and not self.r_bursts


@dataclass
class KeyedMemoryModel(AxiMemoryModel):
    """:class:`AxiMemoryModel` for several far sides that share a memory and a duplicate
    filter: which far side carries out a WRITE depends on timing, so each write burst is
    looked up by its address in ``bursts`` (one burst per address, shared by the far sides'
    models) and taken from it; a second burst to an address, a WRITE carried out twice,
    fails."""

    bursts: dict[int, tuple[tuple[Burst, list[int], list[int]], bool]] = field(
        default_factory=dict)

    def _address(self, channel: str, out: dict[str, int]) -> None:
        if channel == "aw":
            address = out["awaddr"]
            assert address in self.bursts, (
                f"cycle {self.cycle}: AW at {address:#x}: no WRITE is to be carried out there "
                "(carried out twice?)")
            self.writes.append(self.bursts.pop(address))
        super()._address(channel, out)


@dataclass
class CompletionScoreboard:
    """Every completion packet must be the expected one for its (destination, tag), in the
    order of its channel (read answers; write answers and refusals)."""

    cases: list[Case]
    expected: dict[tuple[int, int], Packet] = field(default_factory=dict)
    order: dict[str, deque[tuple[int, int]]] = field(default_factory=dict)
    channels: dict[tuple[int, int], str] = field(default_factory=dict)
    flits: list[int] = field(default_factory=list)
    checked: int = 0
    commands: dict[Command, int] = field(default_factory=dict)
    last_key: tuple[int, int] | None = None  # (destination, tag) of the last packet checked

    def __post_init__(self) -> None:
        self.order = {"read": deque(), "write": deque()}
        for case in self.cases:
            self.expect(case)

    def flit(self, flit: int, last: bool) -> None:
        self.flits.append(flit)
        if last:
            header, *payload = self.flits
            self.flits = []
            self.last_key = _key(header)
            assert not header >> HEADER_BODY.size, f"header flit {header:#x} has bits above"
            packet = Packet(header, tuple(payload))
            key = _key(header)
            assert key in self.expected, f"completion for {key}, which expects none: {packet}"
            expected = self.expected.pop(key)
            assert packet == expected, (
                f"completion for {key} differs from the reference:\n"
                f"  got       {[hex(f) for f in flits(packet)]}\n"
                f"  reference {[hex(f) for f in flits(expected)]}")
            channel = self.channels[key]
            assert self.order[channel][0] == key, (
                f"{channel} completion for {key} came before the one for "
                f"{self.order[channel][0]}, an earlier request")
            self.order[channel].popleft()
            command = packet.fields.message.transaction.command
            self.commands[command] = self.commands.get(command, 0) + 1
            self.checked += 1

    def expect(self, case: Case) -> None:
        """One more request, after those expected so far."""
        if case.answer is None:
            return
        key = _key(case.answer.header)
        assert key not in self.expected, f"two requests answer to {key}"
        self.expected[key] = case.answer
        self.channels[key] = case.channel
        self.order[case.channel].append(key)

    def assert_drained(self) -> None:
        assert not self.flits, f"a completion was left unfinished: {self.flits}"
        assert not self.expected, f"{len(self.expected)} requests never answered"


def _key(header: int) -> tuple[int, int]:
    transaction = unpack(HEADER_BODY, header).message.transaction
    return transaction.destination, transaction.tag
