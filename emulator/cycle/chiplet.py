"""Cycle model of the whole chiplet (``hdl.chiplet.chiplet.Chiplet``) and of the test top of
two chiplets joined by damaged wires (``hdl.chiplet.chiplet_pair.ChipletPair``).

Both are compositions of the parts' cycle models, wired as ``Chiplet.elaborate`` and
``ChipletPair.elaborate`` wire the RTL parts: the write path, read path and far side
(:mod:`emulator.cycle.chiplet_write`, :mod:`~emulator.cycle.chiplet_read`,
:mod:`~emulator.cycle.chiplet_responder`), the merges (:mod:`~emulator.cycle.packet_merge`),
stripers, packet queues and completion split (:mod:`~emulator.cycle.chiplet_plumbing`), the
link ends (:mod:`~emulator.cycle.link_port`) and the wires (:mod:`~emulator.cycle.wire`).

Same interface as the parts: ports by their dotted RTL path (``"s_axi.awvalid"``,
``"flit_in.0.payload"``, ``"link_counters.1"`` as one integer; ``"a_s_axi.awvalid"``,
``"dead"`` for the pair); ``comb(inputs)`` gives every output from every input without
changing state; ``tick(inputs)`` commits the clock edge. The parts' handshakes are
combinational, so a cycle is settled by evaluating the parts' ``comb`` until no net changes
(a fixed point: the RTL has no combinational loop, so it is reached and unique), then every
part ticks with the inputs it settled on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hdl.chiplet.axi import AxiSignature
from hdl.chiplet.chiplet import _READ_IN, _READ_OUT, _WRITE_IN, _WRITE_OUT
from hdl.chiplet.chiplet_pair import CHIPLET_COUNTERS, ENDS
from hdl.chiplet.striper import COUNTER_BITS
from hdl.chiplet.windows import ENDPOINT_BITS
from hdl.layouts import COMPLETION_VC, FLIT_BITS, REQUEST_VC
from hdl.link.link_signals import LINK_COUNTERS
from hdl.link.wire_faults import RATE_BITS
from hdl.params import LinkParams

from ..ref.chiplet import AddressMap
from .chiplet_plumbing import CompletionSplitModel, PacketQueueModel, StriperModel
from .chiplet_read import ReadPathModel
from .chiplet_responder import ResponderModel
from .chiplet_write import WritePathModel
from .link_port import LinkEndPortModel
from .packet_merge import PacketMergeModel
from .wire import ChannelDelayModel, WireFaultsModel

#: A net: a port of the top (its name) or a part's output (``"part:port"``), or a constant.
Source = str | int


class Glue:
    """Combinational logic between parts in the RTL's ``elaborate`` (``end.idle &
    queue.empty``, a bit of a vector), as a part without state."""

    def __init__(self, function: Callable[[Mapping[str, int]], dict[str, int]],
                 input_widths: dict[str, int], output_widths: dict[str, int]) -> None:
        self.function = function
        self.input_widths, self.output_widths = input_widths, output_widths

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        return self.function(inputs)

    def tick(self, inputs: Mapping[str, int]) -> None:
        pass


class _Part:
    """A part in a composition: its model, where each input comes from, and what it was last
    evaluated on in this cycle."""

    __slots__ = ("name", "model", "sources", "inputs", "outputs")

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model
        self.sources: dict[str, Source] = {}
        self.inputs: dict[str, int] | None = None
        self.outputs: dict[str, int] = {}


class Composition:
    """Parts joined by nets, settled to a fixed point every cycle.

    Subclasses add parts (:meth:`add`), connect every part input to a top input, another
    part's output or a constant (:meth:`connect`, :meth:`stream`), name the top outputs
    (:meth:`output`) and call :meth:`finish`. Parts are evaluated in the order added: adding
    them roughly in the direction data flows makes a cycle settle in few passes.
    """

    def __init__(self) -> None:
        self.parts: dict[str, _Part] = {}
        self.input_widths: dict[str, int] = {}
        self.output_widths: dict[str, int] = {}
        self.outputs: dict[str, str] = {}  # top output: net
        self.values: dict[str, int] = {}  # every net, the last settled values
        self.passes = 0  # evaluation passes over all parts, since reset

    def add(self, name: str, model: Any) -> Any:
        self.parts[name] = _Part(name, model)
        return model

    @staticmethod
    def net(part: str, port: str) -> str:
        """The net of a part's output."""
        return f"{part}:{port}"

    def connect(self, part: str, port: str, source: Source) -> None:
        """Drive input ``port`` of ``part`` from ``source``."""
        if port not in self.parts[part].model.input_widths:
            raise KeyError(f"{part} has no input {port}")
        if port in self.parts[part].sources:
            raise ValueError(f"{part}.{port} is driven twice")
        self.parts[part].sources[port] = source

    def stream(self, source: str, source_prefix: str, sink: str, sink_prefix: str) -> None:
        """``wiring.connect`` of a stream: valid and payload forward, ready back."""
        for name in ("valid", "payload"):
            self.connect(sink, f"{sink_prefix}.{name}",
                         self.net(source, f"{source_prefix}.{name}"))
        self.connect(source, f"{source_prefix}.ready", self.net(sink, f"{sink_prefix}.ready"))

    def output(self, name: str, net: str, width: int) -> None:
        self.outputs[name] = net
        self.output_widths[name] = width

    def finish(self) -> None:
        """Check that every part input is driven from a net that exists; zero every net."""
        nets = set(self.input_widths)
        for part in self.parts.values():
            nets.update(self.net(part.name, port) for port in part.model.output_widths)
        for part in self.parts.values():
            if missing := set(part.model.input_widths) - set(part.sources):
                raise ValueError(f"{part.name}: inputs {sorted(missing)} are not driven")
            for port, source in part.sources.items():
                if isinstance(source, str) and source not in nets:
                    raise ValueError(f"{part.name}.{port}: no net {source}")
        for net in self.outputs.values():
            if net not in nets:
                raise ValueError(f"output from no net {net}")
        self.values = dict.fromkeys(nets, 0)

    def settle(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every net's value in this cycle: the parts evaluated until none changes."""
        values = self.values
        values.update(inputs)
        limit = 2 * len(self.parts) + 2
        for _ in range(limit):
            self.passes += 1
            changed = False
            for part in self.parts.values():
                part_inputs = {port: values[source] if isinstance(source, str) else source
                               for port, source in part.sources.items()}
                if part_inputs == part.inputs:
                    continue
                part.inputs = part_inputs
                part.outputs = part.model.comb(part_inputs)
                prefix = f"{part.name}:"
                for port, value in part.outputs.items():
                    net = prefix + port
                    if values[net] != value:
                        values[net] = value
                        changed = True
            if not changed:
                return values
        raise RuntimeError(f"the parts did not settle in {limit} passes: a combinational loop")

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        values = self.settle(inputs)
        return {name: values[net] for name, net in self.outputs.items()}

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        self.settle(inputs)
        for part in self.parts.values():
            part.model.tick(part.inputs)
        for part in self.parts.values():
            part.inputs = None  # the parts' state changed: evaluate them again


def _axi_ports(params, prefix: str, inward: bool) -> tuple[dict[str, int], dict[str, int]]:
    """(inputs, outputs) of an AXI4 port of the chiplet by dotted path, with their widths:
    ``inward`` for a subordinate port (``In(AxiSignature)``)."""
    inputs, outputs = {}, {}
    for name, member in AxiSignature(params).members.items():
        driven_by_manager = member.flow == wiring.Out
        side = inputs if driven_by_manager == inward else outputs
        side[f"{prefix}.{name}"] = Shape.cast(member.shape).width
    return inputs, outputs


class ChipletModel(Composition):
    """``Chiplet(address_map, link)``, cycle for cycle: the parts' models wired as in
    ``Chiplet.elaborate``. The parts are attributes named as in the RTL (``write_path``,
    ``read_path``, ``responder``, ``request_merge``, ``request_striper``, ...,
    ``link_ends[i]``, ``queues[i][vc]``).

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``Chiplet`` by its dotted path, with its width in bits.
    """

    def __init__(self, address_map: AddressMap, link: LinkParams) -> None:
        super().__init__()
        self.address_map = address_map
        self.params = params = address_map.params
        self.link = link
        if link.virtual_channels <= max(REQUEST_VC, COMPLETION_VC):
            raise ValueError(f"link.virtual_channels={link.virtual_channels}: the chiplet "
                             f"needs VC {REQUEST_VC} for requests and {COMPLETION_VC} for "
                             "completions.")
        links = params.links
        s_in, s_out = _axi_ports(params, "s_axi", inward=True)
        m_in, _ = _axi_ports(params, "m_axi", inward=False)
        self.input_widths.update(s_in)
        self.input_widths.update(m_in)
        self.input_widths.update({"endpoint": ENDPOINT_BITS,
                                  "memory_bytes": params.axi_address_bits + 1,
                                  "planes_up": links})
        for index in range(links):
            self.input_widths.update({f"flit_in.{index}.valid": 1,
                                      f"flit_in.{index}.payload": FLIT_BITS})

        # Parts, in the order a request flows, so that a cycle settles in few passes.
        add = self.add
        self.queues = [{vc: add(f"queue_{index}_{vc}", PacketQueueModel())
                        for vc in (REQUEST_VC, COMPLETION_VC)} for index in range(links)]
        self.link_ends = [add(f"link_{index}", LinkEndPortModel(link))
                          for index in range(links)]
        self.drained = add("drained", Glue(self._drained, {
            f"{part}.{index}": 1 for part in ("idle", "requests_empty", "completions_empty")
            for index in range(links)}, {"drained": links}))
        self.arriving_requests = add("arriving_requests", PacketMergeModel(links))
        self.arriving_completions = add("arriving_completions", PacketMergeModel(links))
        self.completion_split = add("completion_split", CompletionSplitModel())
        self.responder = add("responder", ResponderModel(params))
        self.completion_striper = add("completion_striper", StriperModel(links))
        self.write_path = add("write_path", WritePathModel(address_map))
        self.read_path = add("read_path", ReadPathModel(address_map))
        self.request_merge = add("request_merge", PacketMergeModel(2))
        self.request_striper = add("request_striper", StriperModel(links))
        self._wire(links, s_out)
        self.finish()

    @staticmethod
    def _drained(inputs: Mapping[str, int]) -> dict[str, int]:
        drained, index = 0, 0
        while f"idle.{index}" in inputs:
            drained |= (inputs[f"idle.{index}"] & inputs[f"requests_empty.{index}"]
                        & inputs[f"completions_empty.{index}"]) << index
            index += 1
        return {"drained": drained}

    def _wire(self, links: int, s_out: dict[str, int]) -> None:
        connect, net, stream = self.connect, self.net, self.stream
        # The AXI4 ports: AW, W, B to the write path, AR, R to the read path; the other
        # channels of each path are left undriven (zero) in the RTL.
        for path, used, unused, outs in (("write_path", _WRITE_IN, _READ_IN, _WRITE_OUT),
                                         ("read_path", _READ_IN, _WRITE_IN, _READ_OUT)):
            for name in used:
                connect(path, f"s_axi.{name}", f"s_axi.{name}")
            for name in unused:
                connect(path, f"s_axi.{name}", 0)
            for name in outs:
                self.output(f"s_axi.{name}", net(path, f"s_axi.{name}"), s_out[f"s_axi.{name}"])
        for port in self.responder.input_widths:
            if port.startswith("m_axi."):
                connect("responder", port, port)
        for port, width in self.responder.output_widths.items():
            if port.startswith("m_axi."):
                self.output(port, net("responder", port), width)
        connect("write_path", "source", "endpoint")
        connect("read_path", "source", "endpoint")
        connect("responder", "memory_bytes", "memory_bytes")
        for name, part, port in (("stray_write_completions", "write_path", "stray_completions"),
                                 ("stray_read_completions", "read_path", "stray_completions"),
                                 ("requests_sent", "request_striper", "sent"),
                                 ("requests_moved", "request_striper", "moved"),
                                 ("completions_sent", "completion_striper", "sent"),
                                 ("completions_moved", "completion_striper", "moved")):
            self.output(name, net(part, port), COUNTER_BITS)

        # Outgoing: requests of both paths, and the far side's completions, striped.
        stream("write_path", "request", "request_merge", "flit_in.0")
        stream("read_path", "request", "request_merge", "flit_in.1")
        stream("request_merge", "flit_out", "request_striper", "flit_in")
        stream("responder", "completion", "completion_striper", "flit_in")
        for striper in ("request_striper", "completion_striper"):
            connect(striper, "planes_up", "planes_up")
            connect(striper, "drained", net("drained", "drained"))

        # Incoming: requests to the far side, completions to the path that asked.
        stream("arriving_requests", "flit_out", "responder", "request")
        stream("arriving_completions", "flit_out", "completion_split", "flit_in")
        stream("completion_split", "write", "write_path", "completion")
        stream("completion_split", "read", "read_path", "completion")

        for index in range(links):
            end = f"link_{index}"
            for vc, striper in ((REQUEST_VC, "request_striper"),
                                (COMPLETION_VC, "completion_striper")):
                queue = f"queue_{index}_{vc}"
                stream(striper, f"flit_out.{index}", queue, "flit_in")
                stream(queue, "header", end, f"header_in.{vc}")
                stream(queue, "payload", end, f"payload_in.{vc}")
            for vc in range(self.link.virtual_channels):
                if vc not in (REQUEST_VC, COMPLETION_VC):
                    # Nothing is sent on other VCs; what arrives is taken.
                    for port in (f"header_in.{vc}", f"payload_in.{vc}"):
                        connect(end, f"{port}.valid", 0)
                        connect(end, f"{port}.payload", 0)
                    connect(end, f"delivered.{vc}.ready", 1)
            stream(end, f"delivered.{REQUEST_VC}", "arriving_requests", f"flit_in.{index}")
            stream(end, f"delivered.{COMPLETION_VC}", "arriving_completions",
                   f"flit_in.{index}")
            connect("drained", f"idle.{index}", net(end, "idle"))
            connect("drained", f"requests_empty.{index}", net(f"queue_{index}_{REQUEST_VC}",
                                                              "empty"))
            connect("drained", f"completions_empty.{index}",
                    net(f"queue_{index}_{COMPLETION_VC}", "empty"))
            self.output(f"flit_out.{index}", net(end, "flit_out"), FLIT_BITS)
            self.output(f"link_counters.{index}", net(end, "counters"), LINK_COUNTERS.size)
            connect(end, "flit_in.valid", f"flit_in.{index}.valid")
            connect(end, "flit_in.payload", f"flit_in.{index}.payload")


def wire_seeds(links: int) -> dict[str, int]:
    """The ``WireFaults`` seed of each wire (``"a_to_b_0"``), as ``ChipletPair`` picks them."""
    seeds, seed = {}, 1
    for index in range(links):
        for source, sink in (("a", "b"), ("b", "a")):
            seeds[f"{source}_to_{sink}_{index}"] = 0x9E3779B1 * seed % (1 << 32) or 1
            seed += 1
    return seeds


class ChipletPairModel(Composition):
    """``ChipletPair(address_maps, link)``, cycle for cycle: chiplets ``a`` and ``b``
    (:class:`ChipletModel`), link ``i`` of one joined to link ``i`` of the other by a
    :class:`~emulator.cycle.wire.ChannelDelayModel` damaged by a
    :class:`~emulator.cycle.wire.WireFaultsModel` each way, seeded as the RTL seeds them.

    Attributes
    ----------
    chiplets : dict of str to ChipletModel
    input_widths, output_widths : dict of str to int
        Every port of ``ChipletPair`` by its dotted path, with its width in bits.
    """

    def __init__(self, address_maps: dict[str, AddressMap], link: LinkParams) -> None:
        super().__init__()
        self.params = params = address_maps["a"].params
        if address_maps["b"].params != params:
            raise ValueError("both chiplets of a pair need the same ChipletParams")
        self.link = link
        links = params.links
        self.input_widths.update({"memory_bytes": params.axi_address_bits + 1,
                                  "planes_up": links, "flip_rate": RATE_BITS,
                                  "drop_rate": RATE_BITS, "dead": links})
        self.add("dead", Glue(lambda inputs: {f"dead.{index}": inputs["dead"] >> index & 1
                                              for index in range(links)},
                              {"dead": links}, {f"dead.{index}": 1 for index in range(links)}))
        self.wires: dict[str, ChannelDelayModel] = {}
        self.faults: dict[str, WireFaultsModel] = {}
        for name, seed in wire_seeds(links).items():
            self.faults[name] = self.add(f"{name}_faults", WireFaultsModel(seed))
            self.wires[name] = self.add(name, ChannelDelayModel(link.pipeline_latency_cycles))
        self.chiplets = {end: self.add(end, ChipletModel(address_maps[end], link))
                         for end in ENDS}
        for end, chiplet in self.chiplets.items():
            for port, width in chiplet.input_widths.items():
                if port.startswith(("s_axi.", "m_axi.")):
                    self.input_widths[f"{end}_{port}"] = width
                    self.connect(end, port, f"{end}_{port}")
            self.input_widths[f"{end}_endpoint"] = ENDPOINT_BITS
            self.connect(end, "endpoint", f"{end}_endpoint")
            for port in ("memory_bytes", "planes_up"):
                self.connect(end, port, port)
            for port, width in chiplet.output_widths.items():
                if port.startswith(("s_axi.", "m_axi.", "link_counters.")) or \
                        port in CHIPLET_COUNTERS:
                    self.output(f"{end}_{port}", self.net(end, port), width)
        for index in range(links):
            for source, sink in (("a", "b"), ("b", "a")):
                name = f"{source}_to_{sink}_{index}"
                faults = f"{name}_faults"
                self.connect(faults, "flip_rate", "flip_rate")
                self.connect(faults, "drop_rate", "drop_rate")
                self.connect(faults, "dead", self.net("dead", f"dead.{index}"))
                self.connect(name, "flit_in", self.net(source, f"flit_out.{index}"))
                self.connect(name, "flip", self.net(faults, "flip"))
                self.connect(name, "drop", self.net(faults, "drop"))
                for port in ("valid", "payload"):
                    self.connect(sink, f"flit_in.{index}.{port}",
                                 self.net(name, f"flit_out.{port}"))
        self.connect("dead", "dead", "dead")
        self.finish()
