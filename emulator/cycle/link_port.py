"""Port-level cycle model of a link end (``hdl.link.link_end.LinkEnd``) and of a pair of ends
joined by two wires (``hdl.link.link_pair.LinkPair``).

:class:`LinkEndPortModel` puts the RTL's ports around the packet-level model
:class:`emulator.cycle.link.LinkEnd`, whose rules the link lockstep
(``tests/sim/test_link_lockstep.py``) proves cycle-exact against the RTL:

* Each cycle the header on ``header_in[vc]`` (while valid) is the head of VC ``vc``'s queue,
  as a packet whose payload is not known yet; the packet model's transmitter decides the
  flit, and ``header_in[vc].ready`` is high when it took that packet. The ``link.length``
  payload flits that follow are read from ``payload_in[vc]`` in the next cycles, whatever
  its valid (the RTL's transmitter does not wait), and stored in the replay buffer's copy of
  the packet for replays. Credits are counted on the port's VC; the header goes out as
  given, its ``link.vc`` included.
* ``flit_in`` goes to the packet model's receiver, ``delivered[vc].ready`` drains its buffers.
  The RTL's receive buffers (``CommitFifo``) are mirrored word for word: written as flits
  arrive, committed when a header proves them, rolled back when it does not, and read
  combinationally, so ``delivered[vc].payload`` is the RTL's also while valid is low.
* ``counters`` (``LINK_COUNTERS`` as one integer) and ``idle`` are those of the packet model
  at the start of the cycle: the RTL's are registers.

Same interface as the chiplet's cycle models (:mod:`emulator.cycle.chiplet_write`): ports by
their dotted RTL path (``"header_in.0.valid"``, ``"flit_in.payload"``, ``"flit_out"``);
``comb(inputs)`` gives every output from every input without changing state (it runs the
transmitter on a copy of its state); ``tick(inputs)`` commits the clock edge. Only
``flit_out`` and ``header_in[vc].ready`` depend on inputs of the same cycle (``header_in`` and
``payload_in``); the rest comes from registers.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from collections.abc import Mapping

from hdl.layouts import FLIT_BITS, HEADER_BODY, field_reader, field_slice
from hdl.link.link_signals import COUNTER_BITS, COUNTER_NAMES, DELIVERED_FLIT, LINK_COUNTERS
from hdl.params import LinkParams

from ..ref.framing import Packet
from .link import Delivery, LinkEnd
from .wire import ChannelDelayModel

_LAST = 1 << field_slice(DELIVERED_FLIT, "last")[0]
_ACK_OFFSET, _ACK_BITS = field_slice(HEADER_BODY, "link", "ack")
_NO_ACK = ~(((1 << _ACK_BITS) - 1) << _ACK_OFFSET)
_COUNTER_MASK = (1 << COUNTER_BITS) - 1
_COUNTER_OFFSETS = [(name, field_slice(LINK_COUNTERS, name)[0]) for name in COUNTER_NAMES]
_length = field_reader(HEADER_BODY, "link", "length")


def _buffer_depth(params: LinkParams) -> int:
    """Entries of a receive buffer, as ``LinkReceiver`` sizes its ``CommitFifo``."""
    return 1 << max(0, (params.credit_pool_flits - 1).bit_length())


class _CommitFifo:
    """The memory and pointers of ``hdl.link.commit_fifo.CommitFifo``; pointers count
    without wrapping, addresses are taken modulo the depth."""

    def __init__(self, depth: int) -> None:
        self.memory = [0] * depth
        self.depth = depth
        self.write_pointer = 0
        self.commit_pointer = 0
        self.read_pointer = 0

    def write(self, word: int) -> None:
        self.memory[self.write_pointer % self.depth] = word
        self.write_pointer += 1

    def commit(self) -> None:
        self.commit_pointer = self.write_pointer

    def rollback(self) -> None:
        self.write_pointer = self.commit_pointer

    @property
    def head(self) -> int:
        return self.memory[self.read_pointer % self.depth]


class _PortEnd(LinkEnd):
    """The packet-level end, with the RTL's receive buffers mirrored as its receiver fills,
    proves and drops packets."""

    def __post_init__(self) -> None:
        super().__post_init__()
        depth = _buffer_depth(self.params)
        self.fifos = [_CommitFifo(depth) for _ in range(self.params.virtual_channels)]
        self._proved = False

    def drain(self, cycle: int, ready: list[bool]) -> list[Delivery]:
        for vc, fifo in enumerate(self.fifos):
            if ready[vc] and fifo.read_pointer != fifo.commit_pointer:
                fifo.read_pointer += 1
        return super().drain(cycle, ready)

    def receive(self, flit: int | None) -> None:
        pending, remaining, resyncing = self.pending, self.remaining, self.resyncing
        self._proved = False
        super().receive(flit)
        if flit is None or resyncing:
            return  # nothing is written while resyncing; a REPLAY that ends it finds none
        if remaining:
            if pending is not None:  # payload of the packet being proven
                self.fifos[pending[1]].write(flit | (remaining == 1) * _LAST)
            return
        if pending is not None and self.pending is not pending and not self._proved:
            self.fifos[pending[1]].rollback()  # a bad header, or a REPLAY: not proven
        if self.pending is not None and self.pending is not pending:
            header, vc = self.pending  # accepted; its payload follows
            self.fifos[vc].write(header & _NO_ACK)

    def _deliver(self, header: int, vc: int, payload: tuple[int, ...]) -> None:
        if payload:
            self._proved = True  # written as it came
        else:
            self.fifos[vc].write(header & _NO_ACK | _LAST)  # proven by its own header
        self.fifos[vc].commit()
        super()._deliver(header, vc, payload)

    def scratch(self) -> _PortEnd:
        """A copy on which ``transmit`` may run without changing this end: the containers
        ``transmit`` changes in place are copied, the rest is shared."""
        other = copy.copy(self)
        other.replay = deque(self.replay)
        other.sending = deque(self.sending)
        other.covered = list(self.covered)
        other.consumed = list(self.consumed)
        other.counters = dataclasses.replace(self.counters)
        other.queues = [deque() for _ in self.queues]
        return other


class LinkEndPortModel:
    """``LinkEnd(params)``, cycle for cycle, at its ports: see the module docstring.

    Attributes
    ----------
    end : emulator.cycle.link.LinkEnd
        The packet-level model inside (its counters, queues, replay buffer).
    input_widths, output_widths : dict of str to int
        Every port of ``LinkEnd`` by its dotted path, with its width in bits.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        self.end = _PortEnd(params)
        vcs = range(params.virtual_channels)
        self.header_names = [(f"header_in.{vc}.valid", f"header_in.{vc}.payload") for vc in vcs]
        self.payload_names = [f"payload_in.{vc}.payload" for vc in vcs]
        self.ready_names = [f"delivered.{vc}.ready" for vc in vcs]
        self.input_widths: dict[str, int] = {}
        self.output_widths: dict[str, int] = {}
        for vc in vcs:
            self.input_widths.update({f"header_in.{vc}.valid": 1,
                                      f"header_in.{vc}.payload": HEADER_BODY.size,
                                      f"payload_in.{vc}.valid": 1,
                                      f"payload_in.{vc}.payload": FLIT_BITS,
                                      f"delivered.{vc}.ready": 1})
            self.output_widths.update({f"header_in.{vc}.ready": 1, f"payload_in.{vc}.ready": 1,
                                       f"delivered.{vc}.valid": 1,
                                       f"delivered.{vc}.payload": DELIVERED_FLIT.size})
        self.input_widths.update({"flit_in.valid": 1, "flit_in.payload": FLIT_BITS})
        self.output_widths.update({"flit_out": FLIT_BITS, "counters": LINK_COUNTERS.size,
                                   "idle": 1})
        #: The VC whose ``payload_in`` feeds the packet being sent; None while none does.
        self.payload_vc: int | None = None
        #: The packet being sent from ``payload_in``: its header and the flits sent so far.
        self.building: tuple[int, list[int]] | None = None
        self.cycle = 0
        self._settle()

    def _settle(self) -> None:
        """The outputs that come from registers, and a fresh cache for the cycle."""
        end = self.end
        outputs = {}
        for vc, fifo in enumerate(end.fifos):
            outputs[f"header_in.{vc}.ready"] = 0
            outputs[f"payload_in.{vc}.ready"] = int(vc == self.payload_vc)
            outputs[f"delivered.{vc}.valid"] = int(fifo.read_pointer != fifo.commit_pointer)
            outputs[f"delivered.{vc}.payload"] = fifo.head
        counters = 0
        for name, offset in _COUNTER_OFFSETS:
            counters |= (getattr(end.counters, name) & _COUNTER_MASK) << offset
        outputs["counters"] = counters
        outputs["idle"] = int(not end.replay)
        self._outputs = outputs
        self._cache: dict[tuple, tuple[int, int | None]] = {}

    def _transmit(self, end: _PortEnd, inputs: Mapping[str, int],
                  heads: tuple[int | None, ...]) -> tuple[int, int | None]:
        """Run ``end``'s transmitter for this cycle: (the flit, the VC whose header it took)."""
        for vc, header in enumerate(heads):
            if header is not None:
                end.queues[vc].append(Packet(header, (0,) * _length(header)))
        if self.payload_vc is not None:
            end.sending[0] = inputs[self.payload_names[self.payload_vc]]
        flit = end.transmit()
        taken = None
        for vc, header in enumerate(heads):
            if header is not None and not end.queues[vc]:
                taken = vc
            end.queues[vc].clear()
        return flit, taken

    def _heads(self, inputs: Mapping[str, int]) -> tuple[int | None, ...]:
        return tuple(inputs[payload] if inputs[valid] else None
                     for valid, payload in self.header_names)

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        if self.end.sending:  # payload goes first: the headers offered do not matter
            key = (None if self.payload_vc is None
                   else inputs[self.payload_names[self.payload_vc]],)
        else:
            key = self._heads(inputs)
        result = self._cache.get(key)
        if result is None:
            result = self._cache[key] = self._transmit(self.end.scratch(), inputs,
                                                       self._heads(inputs))
        flit, taken = result
        outputs = dict(self._outputs)
        outputs["flit_out"] = flit
        if taken is not None:
            outputs[f"header_in.{taken}.ready"] = 1
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        end = self.end
        heads = self._heads(inputs)
        from_port = self.payload_vc is not None
        flit, taken = self._transmit(end, inputs, heads)
        if from_port:
            header, flits = self.building
            flits.append(flit)
            if len(flits) == _length(header):
                seq, placeholder = end.replay[-1]  # sent last; acknowledged only later
                assert placeholder.header == header
                end.replay[-1] = (seq, Packet(header, tuple(flits)))
                self.payload_vc = self.building = None
        if taken is not None:
            header = heads[taken]
            if _length(header):
                self.payload_vc = taken
                self.building = (header, [])
        end.drain(self.cycle, [inputs[name] for name in self.ready_names])
        end.receive(inputs["flit_in.payload"] if inputs["flit_in.valid"] else None)
        for vc, fifo in enumerate(end.fifos):
            assert fifo.commit_pointer - fifo.read_pointer == end.buffered_flits[vc], (
                f"cycle {self.cycle}: VC {vc}'s buffer mirror is out of step")
        self.cycle += 1
        self._settle()


class LinkPairModel:
    """``LinkPair(params)``: ends ``a`` and ``b`` (:class:`LinkEndPortModel`) joined by two
    :class:`~emulator.cycle.wire.ChannelDelayModel` wires whose damage (``a_to_b_flip``,
    ``a_to_b_drop``, ...) comes from the inputs. Ports as the RTL's (``a_header_in.0.valid``,
    ``b_flit``, ``a_counters``); same interface as :class:`LinkEndPortModel`.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        self.ends = {end: LinkEndPortModel(params) for end in ("a", "b")}
        latency = params.pipeline_latency_cycles
        self.wires = {"a_to_b": ChannelDelayModel(latency), "b_to_a": ChannelDelayModel(latency)}
        self.input_widths: dict[str, int] = {}
        self.output_widths: dict[str, int] = {}
        self._ports: dict[str, list[tuple[str, str]]] = {}  # end: (pair port, end port)
        for name, end in self.ends.items():
            ports = self._ports[name] = []
            for port, width in end.input_widths.items():
                if not port.startswith("flit_in."):
                    self.input_widths[f"{name}_{port}"] = width
                    ports.append((f"{name}_{port}", port))
            for port, width in end.output_widths.items():
                if port == "flit_out":
                    self.output_widths[f"{name}_flit"] = width
                elif port != "idle":
                    self.output_widths[f"{name}_{port}"] = width
        for wire in self.wires:
            self.input_widths.update({f"{wire}_flip": FLIT_BITS, f"{wire}_drop": 1})

    def _parts(self, inputs: Mapping[str, int]) -> tuple[dict, dict, dict]:
        """Each wire's inputs but its flit, each end's inputs, each wire's outputs."""
        wire_inputs = {wire: {"flip": inputs[f"{wire}_flip"], "drop": inputs[f"{wire}_drop"]}
                       for wire in self.wires}
        wire_outputs = {wire: model.comb(wire_inputs[wire])
                        for wire, model in self.wires.items()}
        end_inputs = {}
        for name in self.ends:
            values = {port: inputs[pair_port] for pair_port, port in self._ports[name]}
            arriving = wire_outputs["b_to_a" if name == "a" else "a_to_b"]
            values["flit_in.valid"] = arriving["flit_out.valid"]
            values["flit_in.payload"] = arriving["flit_out.payload"]
            end_inputs[name] = values
        return wire_inputs, end_inputs, wire_outputs

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        _, end_inputs, _ = self._parts(inputs)
        outputs = {}
        for name, end in self.ends.items():
            for port, value in end.comb(end_inputs[name]).items():
                if port == "flit_out":
                    outputs[f"{name}_flit"] = value
                elif port != "idle":
                    outputs[f"{name}_{port}"] = value
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        wire_inputs, end_inputs, _ = self._parts(inputs)
        for name, end in self.ends.items():
            wire = "a_to_b" if name == "a" else "b_to_a"
            wire_inputs[wire]["flit_in"] = end.comb(end_inputs[name])["flit_out"]
        for name, end in self.ends.items():
            end.tick(end_inputs[name])
        for wire, model in self.wires.items():
            model.tick(wire_inputs[wire])
