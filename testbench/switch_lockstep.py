"""One stimulus for the switch RTL (``hdl.switch.harness.SwitchHarness``) and its cycle model.

:class:`SwitchLockstep` is simulator-neutral. The cycle model runs the whole stimulus first;
then, cycle by cycle, :meth:`~SwitchLockstep.drive` gives the values of the RTL's input ports
(each source offers its next packet from its creation cycle on and sends the payload right
behind the header) and :meth:`~SwitchLockstep.check` reads the output ports once they have
settled and fails on the first difference: a header taken in another cycle than the model's,
a flit that leaves at another cycle, port or with other bits (error completions included).
Independently of the model, every packet the RTL delivers is scoreboarded against
:mod:`emulator.ref.switch` (:meth:`~SwitchLockstep.finish`): right output, right payload,
nothing lost, duplicated or reordered within a (source, destination, VC) flow, drops exactly
as the reference says.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emulator.cycle.switch import SwitchConfig, SwitchModel, SwitchResult, SwitchStimulus
from emulator.ref.switch import expected_outputs, flows_in_order
from hdl.layouts import (
    COMPLETION_VC,
    FLIT_BITS,
    HEADER_FLIT,
    MAX_DATA_BYTES,
    MAX_PACKET_FLITS,
    Command,
    FlitKind,
    field_reader,
    pack,
)
from hdl.params import SwitchParams
from hdl.switch import csr
from hdl.switch.harness import SINK_CREDIT_RETURN_CYCLES, SINK_DELAY_BITS
from hdl.switch.signals import DROP_REASONS

_address = field_reader(HEADER_FLIT, "body", "message", "transaction", "address")
_command = field_reader(HEADER_FLIT, "body", "message", "transaction", "command")


class Mismatch(AssertionError):
    """The RTL did something the cycle model or the reference did not."""


@dataclass
class Scenario:
    """What a lockstep run offers the switch."""

    load: float = 0.5  # flits per cycle per port
    cycles: int = 2000  # cycles during which packets are created
    max_length: int = MAX_PACKET_FLITS  # flits, header included
    short_fraction: float = 0.6  # share of packets of 1 to 2 flits
    max_sink_delay: int = (1 << SINK_DELAY_BITS) - 1
    partitions: int = 1
    unrouted_fraction: float = 0.0  # share of endpoint IDs left out of the routing table
    spoof_fraction: float = 0.0


def make_stimulus(params: SwitchParams, scenario: Scenario,
                  rng: np.random.Generator) -> tuple[SwitchStimulus, SwitchConfig]:
    """Random packets (mixed lengths, VCs, destinations, sink delays) and a routing config."""
    k = params.ports
    config = SwitchConfig.identity(k)
    config.partition[:] = np.arange(k) * scenario.partitions // k
    unrouted = rng.permutation(k)[:round(scenario.unrouted_fraction * k)]
    config.route[unrouted] = -1
    short = rng.random(1 << 20) < scenario.short_fraction
    lengths = np.where(short, rng.integers(1, 3, size=short.size),
                       rng.integers(1, scenario.max_length + 1, size=short.size))
    mean = float(lengths[:4096].mean())
    created, source = np.nonzero(rng.random((scenario.cycles, k)) < scenario.load / mean)
    length = lengths[:created.size]
    count = created.size
    destination = (source + rng.integers(1, k, size=count)) % k
    source_id = source.copy()
    spoofed = rng.random(count) < scenario.spoof_fraction
    source_id[spoofed] = (source_id[spoofed] + rng.integers(1, k, size=spoofed.sum())) % k
    stimulus = SwitchStimulus(
        created=created.astype(np.int64), source_port=source.astype(np.int64),
        source_id=source_id.astype(np.int64), destination=destination.astype(np.int64),
        vc=rng.integers(0, params.virtual_channels, size=count).astype(np.int64),
        length=length.astype(np.int64), non_posted=rng.random(count) < 0.5,
        sink_delay=rng.integers(0, scenario.max_sink_delay + 1, size=count).astype(np.int64))
    return stimulus, config


def header_flit(stimulus: SwitchStimulus, p: int) -> int:
    """The header flit of packet ``p``: its index and sink delay in the address."""
    length = int(stimulus.length[p])
    return pack(HEADER_FLIT, {"body": {
        "link": {"kind": FlitKind.PACKET, "length": length - 1, "vc": int(stimulus.vc[p])},
        "message": {"transaction": {
            "command": Command.WRITE if stimulus.non_posted[p] else Command.POSTED_WRITE,
            "destination": int(stimulus.destination[p]), "source": int(stimulus.source_id[p]),
            "tag": p & 0xFF, "address": p << SINK_DELAY_BITS | int(stimulus.sink_delay[p]),
            "byte_count": min(MAX_DATA_BYTES, (length - 1) * FLIT_BITS // 8)}}}})


def error_completion(stimulus: SwitchStimulus, p: int) -> int:
    """The error completion the switch owes the requester of dropped packet ``p``."""
    return pack(HEADER_FLIT, {"body": {
        "link": {"kind": FlitKind.PACKET, "vc": COMPLETION_VC},
        "message": {"transaction": {
            "command": Command.ERROR_RESPONSE, "destination": int(stimulus.source_id[p]),
            "source": int(stimulus.destination[p]), "tag": p & 0xFF,
            "address": p << SINK_DELAY_BITS | int(stimulus.sink_delay[p])}}}})


def csr_writes(config: SwitchConfig, ports: int) -> list[tuple[int, int]]:
    """(address, data) CSR writes that load ``config``: every valid routing table entry, and
    the entries of endpoint IDs below ``ports`` even when invalid (the table is a memory that
    reset does not clear, and several tests may run one after another in one simulation)."""
    writes = [(csr.ROUTE + d, pack(csr.ROUTE_ENTRY, {"port": max(0, int(port)),
                                                     "valid": int(port >= 0)}))
              for d, port in enumerate(config.route) if port >= 0 or d < ports]
    writes += [(csr.PARTITION + n, int(config.partition[n])) for n in range(ports)]
    writes += [(csr.PORT_ID + n, int(config.port_id[n])) for n in range(ports)]
    return writes


class SwitchLockstep:
    """The RTL against the cycle model (cycle for cycle) and against the reference."""

    def __init__(self, params: SwitchParams, stimulus: SwitchStimulus, config: SwitchConfig,
                 seed: int = 0, credit_return_cycles: int = SINK_CREDIT_RETURN_CYCLES) -> None:
        self.params = params
        self.stimulus = stimulus
        self.config = config
        k = params.ports
        limit = (int(stimulus.created.max(initial=0)) + 1000
                 + 4 * int(stimulus.length.sum()) // k)
        model = SwitchModel(params, config, credit_return_cycles)
        self.model: SwitchResult = model.run(stimulus, limit)
        self.expected = expected_outputs(config, stimulus)
        kept = self.expected >= 0
        if (not np.all(self.model.delivered[kept] >= 0)
                or not np.all(self.model.error_delivered >= 0)):
            raise ValueError(f"the stimulus does not drain in {limit} cycles")
        #: Cycles the RTL runs: to the last delivery or error completion, and a few more.
        self.cycles = int(max(self.model.delivered.max(initial=0),
                              self.model.error_delivered.max(initial=0),
                              self.model.entered.max(initial=0) + 1)) + 8
        rng = random.Random(seed)
        self.flits = [[header_flit(stimulus, p)]
                      + [rng.getrandbits(FLIT_BITS) for _ in range(int(stimulus.length[p]) - 1)]
                      for p in range(len(stimulus))]
        order = np.lexsort((stimulus.created, stimulus.source_port))
        self.queues = [[int(p) for p in order[stimulus.source_port[order] == i]]
                       for i in range(k)]
        self.next = [0] * k  # index into queues[i] of the packet offered next
        self.sending = [-1] * k  # packet whose payload is being sent, or -1
        self.flit_index = [0] * k
        self.offered = [-1] * k  # what each port offers this cycle: packet, or -1
        # Flits leaving, per cycle: {port: (packet, flit index)}.
        self.leaving: dict[int, dict[int, tuple[int, int]]] = {}
        for p in np.flatnonzero(self.model.delivered >= 0):
            for n in range(int(stimulus.length[p])):
                cycle = int(self.model.started[p]) + 1 + n
                self.leaving.setdefault(cycle, {})[int(self.model.output[p])] = (int(p), n)
        # Error completions: "packet" len(stimulus) + p answers dropped request p.
        n = len(stimulus)
        self.answers = {int(p): [error_completion(stimulus, int(p))]
                        for p in self.model.error_completions}
        for p, started in zip(self.model.error_completions, self.model.error_started,
                              strict=True):
            if started >= 0:
                port = int(stimulus.source_port[p])
                self.leaving.setdefault(int(started) + 1, {})[port] = (n + int(p), 0)
        self.rtl_answered = np.full(len(stimulus), -1, dtype=np.int64)
        self.rtl_delivered = np.full(len(stimulus), -1, dtype=np.int64)
        self.rtl_output = np.full(len(stimulus), -1, dtype=np.int64)
        self.rtl_entered = np.full(len(stimulus), -1, dtype=np.int64)
        self._collecting: dict[int, list[int]] = {}
        self.flits_out = 0

    def drive(self, cycle: int) -> tuple[int, int]:
        """``(in_valid, in_flit)`` for this cycle."""
        valid = 0
        vector = 0
        for i in range(self.params.ports):
            p = self.sending[i]
            if p >= 0:
                flit = self.flits[p][self.flit_index[i]]
            else:
                self.offered[i] = -1
                if self.next[i] == len(self.queues[i]):
                    continue
                p = self.queues[i][self.next[i]]
                if self.stimulus.created[p] > cycle:
                    continue
                self.offered[i] = p
                flit = self.flits[p][0]
            valid |= 1 << i
            vector |= flit << (FLIT_BITS * i)
        return valid, vector

    def check(self, cycle: int, ready: int, out_valid: int, read: Callable[[str], str]) -> None:
        """Compare this cycle's outputs. ``ready`` says which inputs took the flit they were
        offered; ``read(name)`` gives any other port as a string of bits, least significant
        first (bits of idle ports may be X; those of busy ports are checked)."""
        k = self.params.ports
        for i in range(k):
            taken = ready >> i & 1
            p = self.sending[i]
            if p >= 0:
                if not taken:
                    raise Mismatch(f"cycle {cycle}: input {i} refused payload flit "
                                   f"{self.flit_index[i]} of packet {p}")
                self.flit_index[i] += 1
                if self.flit_index[i] == self.stimulus.length[p]:
                    self.sending[i] = -1
                continue
            p = self.offered[i]
            model_takes = p >= 0 and self.model.entered[p] == cycle
            if p >= 0 and bool(taken) != model_takes:
                raise Mismatch(f"cycle {cycle}: input {i} {'took' if taken else 'refused'} the "
                               f"header of packet {p}; the model takes it at cycle "
                               f"{self.model.entered[p]}")
            if p >= 0 and taken:
                self.rtl_entered[p] = cycle
                self.next[i] += 1
                if self.stimulus.length[p] > 1:
                    self.sending[i], self.flit_index[i] = p, 1

        expected = self.leaving.pop(cycle, {})
        expected_valid = sum(1 << j for j in expected)
        if out_valid != expected_valid:
            raise Mismatch(f"cycle {cycle}: flits leave at outputs {_ports(out_valid)}; the "
                           f"model has them at {_ports(expected_valid)} "
                           f"({_describe(expected)})")
        if out_valid:
            flits, first, last = read("out_flit"), read("out_first"), read("out_last")
            for j, (p, n) in expected.items():
                flit = _slice(flits, j, FLIT_BITS, f"cycle {cycle}: output {j}")
                length = len(self._flits(p))
                framing = first[j] + last[j]
                if framing != f"{int(n == 0)}{int(n == length - 1)}":
                    raise Mismatch(f"cycle {cycle}: output {j} frames flit {n} of the "
                                   f"{length}-flit packet {p} as first={first[j]} "
                                   f"last={last[j]}")
                self._collect(cycle, j, flit, n == 0, n == length - 1)
            self.flits_out += len(expected)


    def _flits(self, key: int) -> list[int]:
        """The flits of packet ``key``, or of the answer to request ``key - len(stimulus)``."""
        n = len(self.stimulus)
        return self.flits[key] if key < n else self.answers[key - n]

    def _explain(self, packets) -> str:
        reasons = ("no route", "other partition", "spoofed source")
        return ", ".join(
            f"packet {p} from port {self.stimulus.source_port[p]} (source ID "
            f"{self.stimulus.source_id[p]}) to endpoint {self.stimulus.destination[p]}: "
            + (reasons[-1 - self.expected[p]] if self.expected[p] < 0
               else f"routed to port {self.expected[p]}") for p in packets)

    def _collect(self, cycle: int, port: int, flit: int, first: bool, last: bool) -> None:
        """Scoreboard: rebuild each packet from the flits seen and check it."""
        if first:
            self._collecting[port] = []
        packet = self._collecting[port]
        packet.append(flit)
        if not last:
            return
        p = _address(packet[0]) >> SINK_DELAY_BITS
        if _command(packet[0]) == Command.ERROR_RESPONSE.value:
            if p not in self.answers or packet != self.answers[p]:
                raise Mismatch(f"cycle {cycle}: output {port} sent an error completion for "
                               f"packet {p} that the reference does not expect or that differs")
            if port != self.stimulus.source_port[p] or self.rtl_answered[p] >= 0:
                raise Mismatch(f"cycle {cycle}: the error completion for packet {p} left at "
                               f"port {port}, not once at its requester's port "
                               f"{self.stimulus.source_port[p]}")
            self.rtl_answered[p] = cycle
            return
        if not 0 <= p < len(self.stimulus) or packet != self.flits[p]:
            raise Mismatch(f"cycle {cycle}: output {port} delivered a packet that was not sent "
                           f"or was corrupted (address field says packet {p})")
        if self.rtl_delivered[p] >= 0:
            raise Mismatch(f"cycle {cycle}: packet {p} delivered twice")
        self.rtl_delivered[p] = cycle
        self.rtl_output[p] = port

    def finish(self, drops: list[int]) -> dict[str, int]:
        """After the last cycle: everything the reference expects, nothing else; counters."""
        if self.leaving:
            raise Mismatch(f"the model has flits leaving at cycles {sorted(self.leaving)[:5]} "
                           "after the run ended")
        kept = self.expected >= 0
        lost = np.flatnonzero(kept & (self.rtl_delivered < 0))
        if lost.size:
            raise Mismatch(f"{lost.size} packets never delivered, e.g. {lost[:5].tolist()}")
        leaked = np.flatnonzero(~kept & (self.rtl_delivered >= 0))
        if leaked.size:
            raise Mismatch(f"{leaked.size} packets that must be dropped were delivered, e.g. "
                           f"{leaked[:5].tolist()}")
        wrong = np.flatnonzero(kept & (self.rtl_output != self.expected))
        if wrong.size:
            raise Mismatch(f"{wrong.size} packets left at the wrong port, e.g. packet "
                           f"{wrong[0]} at {self.rtl_output[wrong[0]]}, routed to "
                           f"{self.expected[wrong[0]]}")
        if not flows_in_order(self.stimulus, self.rtl_delivered):
            raise Mismatch("packets of one (source, destination, VC) flow were reordered")
        owed = np.flatnonzero((self.expected < 0) & self.stimulus.non_posted)
        unanswered = owed[self.rtl_answered[owed] < 0]
        if unanswered.size:
            raise Mismatch(f"{unanswered.size} dropped requests never answered, e.g. "
                           f"{self._explain(unanswered[:2])}")
        if np.any(self.rtl_answered[~((self.expected < 0) & self.stimulus.non_posted)] >= 0):
            raise Mismatch("an error completion for a packet that needed none")
        expected_drops = [int(np.sum(self.expected == -1 - (reason.value - 1)))
                          for reason in DROP_REASONS]
        if drops != expected_drops:
            raise Mismatch(f"drop counters {drops}; the reference says {expected_drops}")
        if not np.array_equal(self.rtl_entered, self.model.entered):
            raise Mismatch("some packet was never offered or taken")
        return {"packets": len(self.stimulus), "delivered": int(kept.sum()),
                "dropped": int((~kept).sum()), "flits_out": self.flits_out,
                "error_completions": len(self.model.error_completions)}


def _slice(bits: str, index: int, width: int, what: str) -> int:
    """Element ``index`` of a vector given as bits least significant first; X is an error."""
    element = bits[index * width:(index + 1) * width][::-1]
    try:
        return int(element, 2)
    except ValueError:
        raise Mismatch(f"{what} is not fully driven: {element}") from None


def _ports(bits: int) -> list[int]:
    return [n for n in range(bits.bit_length()) if bits >> n & 1]


def _describe(leaving: dict[int, tuple[int, int]]) -> str:
    return ", ".join(f"port {j}: packet {p} flit {n}" for j, (p, n) in sorted(leaving.items()))
