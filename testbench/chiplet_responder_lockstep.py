"""One stimulus for the chiplet's far side RTL (``Responder``) and its cycle model.

:class:`ResponderLockstep` is simulator-neutral. Each cycle :meth:`~ResponderLockstep.inputs`
gives the value of every input port (named by its dotted RTL path, ``"m_axi.awready"``); once
the simulator has settled, :meth:`~ResponderLockstep.check` reads every output port and fails
on the first that differs from :class:`emulator.cycle.chiplet_responder.ResponderModel`,
naming the cycle, the port and both values; it then follows the handshakes and steps the
model over the edge.

The stimulus: random READ and WRITE requests from ``testbench.chiplet_responder`` (1 to 256
bytes, unaligned, with and without byte enables and extension flits, some beyond
``memory_bytes`` or the address space), mixed with malformed and unsupported packets (no
bytes, too many, crossing a block, a wrong ``link.length``, ending before their option flits
or a WRITE before its data flits, ``ATOMIC_FETCH_ADD``, posted writes, completions, reserved
commands, control flits, a READ with a byte-enable flit), some headers with noise in the
bits above the header body; random gaps on the request stream, random back-pressure on the
completions; on ``m_axi`` the AXI4 memory model of ``testbench.chiplet_responder`` (random
AWREADY, WREADY, ARREADY, B and R after a random latency with pauses, SLVERR on some
bursts), with random values on B and R payloads while their valid is low. Independently of
the model, the completions are scoreboarded against ``emulator.ref.chiplet``, the bursts
against ``manager_burst``, the memory at the end against the reference's, and the two
counters against the packets sent.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.cycle.chiplet_responder import ResponderModel
from emulator.ref.axi import ReferenceMemory
from emulator.ref.chiplet import Piece, Request, completion
from emulator.ref.framing import Packet
from hdl.chiplet.axi import data_bytes
from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    BYTE_ENABLE_FLIT,
    FLIT_BITS,
    HEADER_BODY,
    LINK_HEADER,
    MAX_DATA_BYTES,
    MAX_PAYLOAD_FLITS,
    REQUEST_VC,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_slice,
    field_width,
    field_writer,
    pack,
    unpack,
)
from hdl.link.link_signals import DELIVERED_FLIT
from hdl.params import ChipletParams
from testbench.chiplet_responder import (
    AR_FIELDS,
    AW_FIELDS,
    EDGE_BYTES,
    W_FIELDS,
    AxiMemoryModel,
    Case,
    CompletionScoreboard,
    RequestMaker,
    ResponderReference,
    memory_size,
    read_preload,
)

_FLIT_MASK = (1 << FLIT_BITS) - 1
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_BYTES = FLIT_BITS // 8
_HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
_COUNT_LIMIT = 1 << field_width(TRANSACTION_HEADER, "byte_count")
_COMMAND_VALUES = 1 << field_width(TRANSACTION_HEADER, "command")
_LENGTH_LIMIT = 1 << field_width(LINK_HEADER, "length")
#: Bits of a delivered header flit above the header body (the link's CRC field).
_NOISE_BITS = FLIT_BITS - HEADER_BODY.size
#: Sets a header's command field, reserved encodings too (``pack`` takes only members).
_with_command = field_writer(HEADER_BODY, "message", "transaction", "command")
#: Commands the far side drops without an answer, with reserved encodings.
_DROPPED = [command.value for command in Command
            if command not in (Command.READ, Command.WRITE, Command.ATOMIC_FETCH_ADD)] \
    + [value for value in range(_COMMAND_VALUES) if value not in {c.value for c in Command}]
#: Requesters' (source, tag) pairs: each request gets its own while it is outstanding.
_KEYS = 1 << (field_width(TRANSACTION_HEADER, "source") + field_width(TRANSACTION_HEADER, "tag"))
_MEMORY_INPUTS = ("awready", "wready", "arready", "bvalid", "bid", "bresp", "rvalid", "rid",
                  "rdata", "rresp", "rlast")
#: Cycles compared after the stimulus has drained.
TAIL_CYCLES = 4


class Mismatch(AssertionError):
    """The RTL and the cycle model disagree on an output."""


@dataclass
class LockstepScenario:
    """What a lockstep run offers the far side."""

    cycles: int = 2000  # new requests start until this cycle; then the run drains
    pause: float = 0.3  # chance per cycle that no request flit is offered
    completion_pause: float = 0.3  # chance per cycle that the completion sink holds off
    memory_pause: float = 0.3  # chance per cycle that a memory channel holds off
    latency: tuple[int, int] = (1, 20)  # cycles from a burst's address or data to B or R
    fail_rate: float = 0.1  # bursts the memory answers with SLVERR
    malformed_rate: float = 0.15  # packets that are malformed or not READ or WRITE
    read_share: float = 0.5  # of the READ and WRITE requests
    noise_rate: float = 0.1  # headers with random bits above the header body


class _Requests(RequestMaker):
    """The random requests of ``testbench.chiplet_responder``, but writes into the block the
    memory ends in write zeros: reads of that block may pass the writes (the channels are
    not ordered), and the memory there stays zero whichever comes first."""

    def piece(self, kind: str) -> Piece:
        piece = super().piece(kind)
        edge = memory_size(self.params) - EDGE_BYTES
        if piece.data is not None and edge <= piece.remote_address < edge + MAX_DATA_BYTES:
            piece = dataclasses.replace(piece, data=bytes(piece.byte_count))
        return piece


class _Scoreboard(CompletionScoreboard):
    """The completion scoreboard of ``testbench.chiplet_responder``, told of each request as
    it is made."""

    def expect(self, case: Case) -> None:
        if case.answer is None:
            return
        transaction = unpack(HEADER_BODY, case.answer.header).message.transaction
        key = (transaction.destination, transaction.tag)
        assert key not in self.expected, f"two requests answer to {key}"
        self.expected[key] = case.answer
        self.channels[key] = case.channel
        self.order[case.channel].append(key)


class ResponderLockstep:
    """The RTL against the cycle model, cycle for cycle, and against the reference."""

    def __init__(self, params: ChipletParams, rng: random.Random,
                 scenario: LockstepScenario | None = None,
                 model: ResponderModel | None = None) -> None:
        self.params = params
        self.rng = rng
        self.scenario = scenario = scenario or LockstepScenario()
        self.model = model or ResponderModel(params)
        self.memory_bytes = memory_size(params)
        preload = read_preload(rng, params)
        self.reference = ResponderReference(params, self.memory_bytes, preload)
        self.requests = _Requests(params, rng, scenario.fail_rate)
        memory = ReferenceMemory(data_bytes(params))
        memory.contents.update(preload)
        self.axi = AxiMemoryModel(params, memory, deque(), deque(), rng, scenario.memory_pause,
                                  scenario.latency)
        self.scoreboard = _Scoreboard([])
        self.values = dict.fromkeys(self.model.input_widths, 0)
        self.values["memory_bytes"] = self.memory_bytes
        self.cycle = 0
        self.expected: dict[str, int] = {}
        self.flits: deque[int] = deque()  # DELIVERED_FLIT words of the packet being sent
        self.counts = Counter()  # packets by what they exercise
        self.refusals = 0  # READ and WRITE requests the far side must refuse
        self.unsupported = 0  # packets with any other command
        self.idle = 0
        self.drained_at: int | None = None
        self._w_waiting: tuple[int, int] | None = None  # a W beat waiting: (WDATA, WSTRB)
        self._lane_masks: dict[int, int] = {}

    @property
    def done(self) -> bool:
        """Drained, and compared for a few idle cycles more."""
        return self.drained_at is not None and self.cycle >= self.drained_at + TAIL_CYCLES

    def _drained(self) -> bool:
        axi = self.axi
        return (self.cycle >= self.scenario.cycles and not self.flits
                and not self.values["request.valid"] and not self.scoreboard.expected
                and not axi.writes and not axi.reads and not axi.aw_waiting
                and not axi.w_groups and not axi.b_queue and not axi.b_valid
                and not axi.r_bursts and not axi.r_valid)

    # -- stimulus --------------------------------------------------------------------------

    def inputs(self) -> dict[str, int]:
        """The value of every input port in this cycle (the returned dict is reused: copy it
        to keep it)."""
        rng, scenario, values = self.rng, self.scenario, self.values
        if not values["request.valid"] and rng.random() >= scenario.pause:
            if not self.flits and self.cycle < scenario.cycles:
                self._new_packet()
            if self.flits:
                values["request.payload"] = self.flits.popleft()
                values["request.valid"] = 1
        if not values["request.valid"] and rng.random() < 0.5:
            # Whatever lies on the payload while valid is low changes no state.
            values["request.payload"] = rng.getrandbits(DELIVERED_FLIT.size)
        values["completion.ready"] = int(rng.random() >= scenario.completion_pause)
        for name, value in self.axi.drive().items():
            values[f"m_axi.{name}"] = value
        widths = self.model.input_widths
        for channel, names in (("b", ("bid", "bresp")), ("r", ("rid", "rdata", "rresp",
                                                                  "rlast"))):
            if not values[f"m_axi.{channel}valid"] and rng.random() < 0.5:
                for name in names:
                    values[f"m_axi.{name}"] = rng.getrandbits(widths[f"m_axi.{name}"])
        self.expected = self.model.comb(values)
        return values

    def _new_packet(self) -> None:
        maker, rng = self.requests, self.rng
        maker.count %= _KEYS
        if rng.random() < self.scenario.malformed_rate:
            case, counted = self._malformed(maker.count)
            maker.count += 1
        else:
            kind = "read" if rng.random() < self.scenario.read_share else "write"
            case = self.reference.case(*maker.packet(kind))
            counted = "refused" if case.burst is None else None
            self._features(case)
        if counted == "refused":
            self.refusals += 1
        elif counted == "unsupported":
            self.unsupported += 1
        if case.burst is not None:
            (self.axi.reads if case.is_read else self.axi.writes).append((case.burst, case.fail))
        self.scoreboard.expect(case)
        flits = list(case.flits)
        if rng.random() < self.scenario.noise_rate:
            flits[0] |= rng.getrandbits(_NOISE_BITS) << HEADER_BODY.size
        for index, flit in enumerate(flits):
            self.flits.append(flit | int(index == len(flits) - 1) << _LAST_OFFSET)

    def _features(self, case: Case) -> None:
        transaction = unpack(HEADER_BODY, case.flits[0]).message.transaction
        if case.burst is None:
            self.counts["refused"] += 1
            return
        self.counts[case.channel] += 1
        self.counts["SLVERR" if case.fail else "OKAY"] += 1
        self.counts["extension"] += transaction.has_address_extension
        self.counts["byte enables"] += transaction.has_byte_enable
        self.counts["unaligned"] += bool(transaction.address % _FLIT_BYTES)
        self.counts["256 bytes"] += transaction.byte_count == MAX_DATA_BYTES

    def _malformed(self, number: int) -> tuple[Case, str | None]:
        """A packet the far side must refuse or drop (or, a READ with a byte-enable flit,
        serve), and which counter it moves."""
        rng = self.rng
        source, tag = number >> 8, number & 0xFF
        destination = rng.randrange(1 << field_width(TRANSACTION_HEADER, "destination"))
        # Mostly inside the memory, so that only the rule under test is broken.
        address = rng.randrange(1 << _HEADER_ADDRESS_BITS)
        if rng.random() < 0.8:
            address %= self.memory_bytes
        kind = rng.choice(["no bytes", "too many", "crossing", "length", "short", "truncated",
                           "atomic", "dropped", "control", "read with enables"])
        self.counts[kind] += 1
        if kind == "read with enables":
            piece = self.requests.piece("read")
            high = piece.remote_address >> _HEADER_ADDRESS_BITS
            payload = [pack(ADDRESS_EXTENSION_FLIT, {"address_high": high})] if high else []
            payload.append(pack(BYTE_ENABLE_FLIT,
                                {"byte_enable": rng.getrandbits(BYTE_ENABLE_BITS)}))
            packet = Packet.build(payload, link={"vc": REQUEST_VC}, transaction={
                "command": Command.READ, "destination": destination, "source": source,
                "tag": tag, "address": piece.remote_address % (1 << _HEADER_ADDRESS_BITS),
                "byte_count": piece.byte_count, "has_address_extension": int(bool(high)),
                "has_byte_enable": 1})
            case = self.reference.case(packet, rng.random() < self.scenario.fail_rate)
            return case, "refused" if case.burst is None else None
        command = rng.choice([Command.READ.value, Command.WRITE.value])
        has_extension = has_enables = 0
        count = rng.randint(1, MAX_DATA_BYTES)
        flits = None  # payload flits: data flits of ``count`` bytes unless set
        length = None  # link.length: the payload's unless set
        if kind == "no bytes":
            count = 0
        elif kind == "too many":
            count = rng.randrange(MAX_DATA_BYTES + 1, _COUNT_LIMIT)
            flits = rng.randint(0, MAX_PAYLOAD_FLITS)
        elif kind == "crossing":
            count = rng.randint(2, MAX_DATA_BYTES)
            address = address - address % MAX_DATA_BYTES + rng.randint(
                MAX_DATA_BYTES - count + 1, MAX_DATA_BYTES - 1)
        elif kind == "length":
            flits = rng.randint(0, MAX_PAYLOAD_FLITS)
            data_flits = -(-count // _FLIT_BYTES) if command == Command.WRITE.value else 0
            length = rng.choice([value for value in range(_LENGTH_LIMIT) if value != data_flits])
        elif kind == "short":
            # Announces option flits, and ends before (some of) them.
            has_extension, has_enables = rng.choice([(1, 0), (0, 1), (1, 1)])
            flits = rng.randint(0, has_extension + has_enables - 1)
        elif kind == "truncated":
            # A WRITE whose link.length counts its data flits, but which ends with its
            # option flits.
            command = Command.WRITE.value
            has_extension, has_enables = rng.getrandbits(1), rng.getrandbits(1)
            flits = has_extension + has_enables
            length = flits + -(-count // _FLIT_BYTES)
        elif kind == "atomic":
            command = Command.ATOMIC_FETCH_ADD.value
            flits = rng.randint(0, 2)
            has_extension, has_enables = rng.getrandbits(1), rng.getrandbits(1)
        elif kind in ("dropped", "control"):
            command = rng.choice(_DROPPED) if kind == "dropped" else rng.randrange(
                _COMMAND_VALUES)
            flits = rng.randint(0, 3)
            has_extension, has_enables = rng.getrandbits(1), rng.getrandbits(1)
        if flits is None:
            flits = -(-count // _FLIT_BYTES) if command == Command.WRITE.value else 0
        payload = [rng.getrandbits(FLIT_BITS) for _ in range(flits)]
        if has_extension and payload:
            # Inside the address space, so that only the rule under test is broken.
            payload[0] = 0
        link = {"vc": REQUEST_VC, "length": len(payload) if length is None else length}
        if kind == "control":
            link["kind"] = rng.choice([kind for kind in FlitKind if kind != FlitKind.PACKET])
        header = _with_command(pack(HEADER_BODY, {"link": link, "message": {"transaction": {
            "destination": destination, "source": source, "tag": tag, "address": address,
            "byte_count": count, "has_address_extension": has_extension,
            "has_byte_enable": has_enables}}}), command)
        if kind in ("dropped", "control"):
            return Case([header, *payload], None), "unsupported"
        answer = completion(Request(Command(command), destination, source, tag, address, count,
                                    None, None), Command.ERROR_RESPONSE)
        return Case([header, *payload], answer), "unsupported" if kind == "atomic" \
            else "refused"

    # -- checking --------------------------------------------------------------------------

    def check(self, read: Callable[[str], int]) -> None:
        """Compare every settled output with the model's; follow the handshakes; step the
        model over the clock edge. ``read(name)`` gives an output port's value."""
        cycle, expected, values = self.cycle, self.expected, self.values
        for name, value in expected.items():
            got = read(name)
            if got != value:
                raise Mismatch(f"cycle {cycle}: {name} is {got:#x} in the RTL, {value:#x} in "
                               "the model")
        self.model.tick(values)

        progress = False
        if values["request.valid"] and expected["request.ready"]:
            values["request.valid"] = 0
            progress = True
        out = {name: expected[f"m_axi.{name}"]
               for name in ("awvalid", "wvalid", "arvalid", "bready", "rready")}
        for channel, names in (("aw", AW_FIELDS), ("w", W_FIELDS), ("ar", AR_FIELDS)):
            if out[f"{channel}valid"]:
                out.update((name, expected[f"m_axi.{name}"]) for name in names)
        axi = self.axi
        if out["wvalid"]:
            out["wdata"] = self._strobed_wdata(out["wdata"], out["wstrb"])
        progress |= any(out[f"{channel}valid"] and axi.ready[channel]
                        for channel in ("aw", "w", "ar"))
        progress |= bool(axi.b_valid and out["bready"]) or bool(axi.r_valid and out["rready"])
        axi.observe(out)
        if values["completion.ready"] and expected["completion.valid"]:
            word = expected["completion.payload"]
            self.scoreboard.flit(word & _FLIT_MASK, bool(word >> _LAST_OFFSET & 1))
            progress = True
        self.idle = 0 if progress else self.idle + 1
        if self.idle > 10_000:
            raise Mismatch(f"cycle {cycle}: no flit, beat or response for {self.idle} cycles")
        self.cycle += 1
        if self.drained_at is None and self._drained():
            self.drained_at = self.cycle

    def _strobed_wdata(self, wdata: int, wstrb: int) -> int:
        """WDATA on the strobed lanes only, for the memory model, which checks that WDATA
        holds while a beat waits: the RTL may change lanes not strobed meanwhile (the last
        data flit of a packet that wraps round its 256-byte buffer writes below the packet's
        first byte, into its first beat's word). AXI4 gives those lanes no meaning, and
        ARM's protocol checker (AXI4_ERRM_WDATA_STABLE) compares WDATA masked by WSTRB. Such
        changes are counted."""
        mask = self._lane_masks.get(wstrb)
        if mask is None:
            mask = sum(0xFF << 8 * lane for lane in range(wstrb.bit_length())
                       if wstrb >> lane & 1)
            self._lane_masks[wstrb] = mask
        waiting = self._w_waiting
        if waiting is not None and waiting[1] == wstrb and waiting[0] != wdata:
            self.counts["unstrobed W lanes changed while waiting"] += 1
        self._w_waiting = (wdata, wstrb) if not self.axi.ready["w"] else None
        return wdata & mask

    def finish(self) -> dict[str, object]:
        """After the last cycle: everything answered, memory and counters as the reference
        says; a summary."""
        self.scoreboard.assert_drained()
        self.axi.assert_drained()
        assert self.axi.memory.contents == self.reference.memory.contents, "memory differs"
        for name, sent in (("refused_requests", self.refusals),
                           ("unsupported", self.unsupported)):
            if self.expected[name] != sent:
                raise Mismatch(f"{name} is {self.expected[name]}, {sent} such packets sent")
        return {"cycles": self.cycle, "completions": self.scoreboard.checked,
                "commands": {command.name: count for command, count in
                             sorted(self.scoreboard.commands.items(),
                                    key=lambda item: item[0].value)},
                "refused": self.refusals, "unsupported": self.unsupported,
                "most outstanding": dict(self.axi.most_outstanding),
                "features": dict(self.counts)}
