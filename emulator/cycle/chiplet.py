"""Cycle model of the whole chiplet (``hdl.chiplet.chiplet.Chiplet``) and of the test top of
two chiplets joined by damaged wires (``hdl.chiplet.chiplet_pair.ChipletPair``).

Both are compositions of the parts' cycle models, wired as ``Chiplet.elaborate``,
``Lane.elaborate`` and ``ChipletPair.elaborate`` wire the RTL parts: the write path, read
path and far side (:mod:`emulator.cycle.chiplet_write`, :mod:`~emulator.cycle.chiplet_read`,
:mod:`~emulator.cycle.chiplet_responder`), the merges (:mod:`~emulator.cycle.packet_merge`),
stripers, packet queues and completion split (:mod:`~emulator.cycle.chiplet_plumbing`), the
planes' tag translation (:mod:`~emulator.cycle.tag_translate`), the link ends
(:mod:`~emulator.cycle.link_port`) and the wires (:mod:`~emulator.cycle.wire`).

Same interface as the parts: ports by their dotted RTL path (``"s_axi.0.awvalid"``,
``"flit_in.0.payload"``, ``"link_counters.1"`` as one integer; ``"a_s_axi.1.awvalid"``,
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
from hdl.chiplet.chiplet import GUARD_COUNTERS, TRANSLATE_COUNTERS
from hdl.chiplet.chiplet_pair import CHIPLET_COUNTERS, ENDS
from hdl.chiplet.lane import LANE_COUNTERS, READ_IN, READ_OUT, WRITE_IN, WRITE_OUT
from hdl.chiplet.packet_merge import index_bits
from hdl.chiplet.striper import COUNTER_BITS
from hdl.chiplet.windows import ENDPOINT_BITS
from hdl.layouts import COMPLETION_VC, FLIT_BITS, REQUEST_VC
from hdl.link.link_signals import DELIVERED_FLIT, LINK_COUNTERS
from hdl.link.wire_faults import RATE_BITS
from hdl.params import LinkParams

from ..ref.chiplet import AddressMap
from .chiplet_plumbing import (
    CompletionSplitModel,
    PacketQueueModel,
    PlaneGuardModel,
    StriperModel,
)
from .chiplet_read import ReadPathModel
from .chiplet_responder import ResponderModel
from .chiplet_write import WritePathModel
from .duplicate_filter import DuplicateFilterModel
from .link_port import LinkEndPortModel
from .packet_merge import PacketMergeModel
from .tag_translate import TagTranslateModel
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
    """A part in a composition: its model, where each input comes from, the inputs it sees
    now, and whether it must be evaluated again in this cycle."""

    __slots__ = ("name", "model", "sources", "inputs", "outputs", "stale")

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model
        self.sources: dict[str, Source] = {}
        self.inputs: dict[str, int] = {}
        self.outputs: dict[str, int] = {}
        self.stale = True


class Composition:
    """Parts joined by nets, settled to a fixed point every cycle.

    Subclasses add parts (:meth:`add`), connect every part input to a top input, another
    part's output or a constant (:meth:`connect`, :meth:`stream`), name the top outputs
    (:meth:`output`) and call :meth:`finish`. A cycle is settled event by event: a part is
    evaluated again only when one of its input nets changed, in passes over the parts in the
    order added; adding them roughly in the direction data flows makes a cycle settle in few
    passes. Every part is evaluated at least once per cycle (its state changed at the edge).
    """

    def __init__(self) -> None:
        self.parts: dict[str, _Part] = {}
        self.input_widths: dict[str, int] = {}
        self.output_widths: dict[str, int] = {}
        self.outputs: dict[str, str] = {}  # top output: net
        self.values: dict[str, int] = {}  # every net, the last settled values
        self.readers: dict[str, list[tuple[_Part, str]]] = {}  # net: (part, its input port)
        self.passes = 0  # passes over the parts, since reset
        self.evaluations = 0  # parts' comb calls, since reset

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
        self.readers = {net: [] for net in nets}
        for part in self.parts.values():
            for port, source in part.sources.items():
                if isinstance(source, str):
                    self.readers[source].append((part, port))
                    part.inputs[port] = 0
                else:
                    part.inputs[port] = source

    def _drive(self, net: str, value: int) -> None:
        """A net takes a new value: the parts reading it see it and are evaluated again."""
        self.values[net] = value
        for part, port in self.readers[net]:
            part.inputs[port] = value
            part.stale = True

    def settle(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every net's value in this cycle: the parts evaluated until none changes."""
        values = self.values
        for name, value in inputs.items():
            if values[name] != value:
                self._drive(name, value)
        parts = list(self.parts.values())
        limit = 2 * len(parts) + 2
        for _ in range(limit):
            self.passes += 1
            changed = False
            for part in parts:
                if not part.stale:
                    continue
                part.stale = False
                changed = True
                self.evaluations += 1
                part.outputs = part.model.comb(dict(part.inputs))
                prefix = f"{part.name}:"
                for port, value in part.outputs.items():
                    net = prefix + port
                    if values[net] != value:
                        self._drive(net, value)
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
            part.model.tick(dict(part.inputs))
        for part in self.parts.values():
            part.stale = True  # the parts' state changed: evaluate them again


def _axi_ports(params, prefix: str, inward: bool) -> tuple[dict[str, int], dict[str, int]]:
    """(inputs, outputs) of an AXI4 port of the chiplet by dotted path, with their widths:
    ``inward`` for a subordinate port (``In(AxiSignature)``)."""
    inputs, outputs = {}, {}
    for name, member in AxiSignature(params).members.items():
        driven_by_manager = member.flow == wiring.Out
        side = inputs if driven_by_manager == inward else outputs
        side[f"{prefix}.{name}"] = Shape.cast(member.shape).width
    return inputs, outputs


def _gather(name: str, count: int) -> Glue:
    """Bits ``name.0`` to ``name.{count - 1}`` into one vector ``name``, as ``Cat`` does."""

    def gather(inputs: Mapping[str, int]) -> dict[str, int]:
        return {name: sum(inputs[f"{name}.{index}"] << index for index in range(count))}

    return Glue(gather, {f"{name}.{index}": 1 for index in range(count)}, {name: count})


def _scatter(name: str, count: int) -> Glue:
    """A vector ``name`` into its bits ``name.0`` to ``name.{count - 1}``."""

    def scatter(inputs: Mapping[str, int]) -> dict[str, int]:
        return {f"{name}.{index}": inputs[name] >> index & 1 for index in range(count)}

    return Glue(scatter, {name: count}, {f"{name}.{index}": 1 for index in range(count)})


class LaneModel(Composition):
    """``Lane(address_map, home)``, cycle for cycle: the parts' models wired as in
    ``Lane.elaborate`` (attributes ``write_path``, ``read_path``, ``responder``,
    ``request_merge``, ``striper``, ``completion_merge``, ``completion_split``).

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``Lane`` by its dotted path, with its width in bits.
    """

    def __init__(self, address_map: AddressMap, home: int) -> None:
        super().__init__()
        self.params = params = address_map.params
        self.home = home
        links = params.links
        s_in, s_out = _axi_ports(params, "s_axi", inward=True)
        m_in, _ = _axi_ports(params, "m_axi", inward=False)
        self.input_widths.update(s_in)
        self.input_widths.update(m_in)
        self.input_widths.update({"source": ENDPOINT_BITS,
                                  "memory_bytes": params.axi_address_bits + 1,
                                  "planes_up": links, "drained": links})
        for name, count in (("request_out", links), ("completion_in", links),
                            ("request_in", None), ("completion_out", None)):
            inward = name.endswith("_in")
            for index in range(count) if count else [None]:
                prefix = name if index is None else f"{name}.{index}"
                forward = self.input_widths if inward else self.output_widths
                forward.update({f"{prefix}.valid": 1, f"{prefix}.payload": DELIVERED_FLIT.size})
                (self.output_widths if inward else self.input_widths)[f"{prefix}.ready"] = 1

        # Parts, in the order a request flows, so that a cycle settles in few passes.
        add = self.add
        self.completion_merge = add("completion_merge", PacketMergeModel(links))
        self.completion_split = add("completion_split", CompletionSplitModel())
        self.responder = add("responder", ResponderModel(params, home))
        self.write_path = add("write_path", WritePathModel(address_map))
        self.read_path = add("read_path", ReadPathModel(address_map))
        self.request_merge = add("request_merge", PacketMergeModel(2))
        self.striper = add("striper", StriperModel(links, home))
        self._wire(links, s_out)
        self.finish()

    def _wire(self, links: int, s_out: dict[str, int]) -> None:
        connect, net, stream = self.connect, self.net, self.stream
        # The AXI4 ports: AW, W, B to the write path, AR, R to the read path; the other
        # channels of each path are left undriven (zero) in the RTL.
        for path, used, unused, outs in (("write_path", WRITE_IN, READ_IN, WRITE_OUT),
                                         ("read_path", READ_IN, WRITE_IN, READ_OUT)):
            for name in used:
                connect(path, f"s_axi.{name}", f"s_axi.{name}")
            for name in unused:
                connect(path, f"s_axi.{name}", 0)
            for name in outs:
                self.output(f"s_axi.{name}", net(path, f"s_axi.{name}"), s_out[f"s_axi.{name}"])
        for port, width in self.responder.input_widths.items():
            if port.startswith(("m_axi.", "filter.")):
                connect("responder", port, port)
                if port.startswith("filter."):
                    self.input_widths[port] = width
        for port, width in self.responder.output_widths.items():
            if port.startswith(("m_axi.", "filter.")):
                self.output(port, net("responder", port), width)
        connect("write_path", "source", "source")
        connect("read_path", "source", "source")
        connect("responder", "memory_bytes", "memory_bytes")
        connect("striper", "planes_up", "planes_up")
        connect("striper", "drained", "drained")
        for name, part, port in (("requests_sent", "striper", "sent"),
                                 ("requests_moved", "striper", "moved"),
                                 ("stray_write_completions", "write_path", "stray_completions"),
                                 ("stray_read_completions", "read_path", "stray_completions"),
                                 ("duplicates", "responder", "duplicates")):
            self.output(name, net(part, port), COUNTER_BITS)

        # Outgoing requests of both paths, a packet at a time, onto the planes.
        stream("write_path", "request", "request_merge", "flit_in.0")
        stream("read_path", "request", "request_merge", "flit_in.1")
        stream("request_merge", "flit_out", "striper", "flit_in")
        for index in range(links):
            self._out_stream("striper", f"flit_out.{index}", f"request_out.{index}")
            self._in_stream(f"completion_in.{index}", "completion_merge", f"flit_in.{index}")

        # The far side, on the lane's own plane both ways.
        self._in_stream("request_in", "responder", "request")
        self._out_stream("responder", "completion", "completion_out")

        # Completions to the path that asked.
        stream("completion_merge", "flit_out", "completion_split", "flit_in")
        stream("completion_split", "write", "write_path", "completion")
        stream("completion_split", "read", "read_path", "completion")

    def _in_stream(self, prefix: str, sink: str, sink_prefix: str) -> None:
        """A stream from the top's inputs into a part."""
        for name in ("valid", "payload"):
            self.connect(sink, f"{sink_prefix}.{name}", f"{prefix}.{name}")
        self.output(f"{prefix}.ready", self.net(sink, f"{sink_prefix}.ready"), 1)

    def _out_stream(self, source: str, source_prefix: str, prefix: str) -> None:
        """A stream from a part out of the top."""
        for name, width in (("valid", 1), ("payload", DELIVERED_FLIT.size)):
            self.output(f"{prefix}.{name}", self.net(source, f"{source_prefix}.{name}"), width)
        self.connect(source, f"{source_prefix}.ready", f"{prefix}.ready")


class ChipletModel(Composition):
    """``Chiplet(address_map, link)``, cycle for cycle: the parts' models wired as in
    ``Chiplet.elaborate``. The parts are attributes named as in the RTL (``lanes[i]``,
    ``request_merges[i]``, ``translations[i]``, ``link_ends[i]``, ``queues[i][vc]``).

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
        for index in range(links):
            for prefix, inward in (("s_axi", True), ("m_axi", False)):
                inputs, _ = _axi_ports(params, f"{prefix}.{index}", inward=inward)
                self.input_widths.update(inputs)
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
        self.planes_up = add("planes_up", _scatter("planes_up", links))
        self.drained = add("drained", _gather("drained", links))
        timeout = params.completion_timeout_cycles(link)
        self.translations = [add(f"translate_{index}",
                                 TagTranslateModel(params, links, index, timeout))
                             for index in range(links)]
        self.usable = add("usable", _gather("usable", links))
        self.guards = [add(f"guard_{index}", PlaneGuardModel(timeout)) for index in range(links)]
        self.plane_checks = [add(f"plane_check_{index}", Glue(
            self._plane_check, {"plane_up": 1, "stuck": 1,
                                **{f"{vc}.{name}": 1 for vc in (REQUEST_VC, COMPLETION_VC)
                                   for name in ("empty", "valid", "ready")}},
            {"plane_up": 1, "held": 1, "moved": 1})) for index in range(links)]
        self.retry_routes = [add(f"retry_route_{index}", StriperModel(links, index))
                             for index in range(links)]
        self.lanes = [add(f"lane_{index}", LaneModel(address_map, index))
                      for index in range(links)]
        self.duplicate_filter = add("duplicate_filter", DuplicateFilterModel(params, links))
        self.request_merges = [add(f"request_merge_{index}", PacketMergeModel(2 * links))
                               for index in range(links)]
        self.request_lanes = [add(f"request_lane_{index}", Glue(
            self._request_lane, {"chosen": index_bits(2 * links),
                                 **{f"retry_lane.{other}": index_bits(links)
                                    for other in range(links)}},
            {"lane": index_bits(links), "retry": 1})) for index in range(links)]
        self._wire(links)
        self.finish()

    @staticmethod
    def _request_lane(inputs: Mapping[str, int]) -> dict[str, int]:
        """The lane of the packet a plane's merge passes, and whether it is a retry: the
        merge's input for a lane's request, else the lane the retry's plane names."""
        chosen, links = inputs["chosen"], len(inputs) - 1
        if chosen < links:
            return {"lane": chosen, "retry": 0}
        return {"lane": inputs[f"retry_lane.{chosen - links}"], "retry": 1}

    @staticmethod
    def _plane_check(inputs: Mapping[str, int]) -> dict[str, int]:
        """What a plane's ``PlaneGuard`` watches (its queues holding flits, a header leaving)
        and the plane's bit for its tag translation (up, and not stuck)."""
        vcs = (REQUEST_VC, COMPLETION_VC)
        return {"plane_up": int(inputs["plane_up"] and not inputs["stuck"]),
                "held": int(any(not inputs[f"{vc}.empty"] for vc in vcs)),
                "moved": int(any(inputs[f"{vc}.valid"] and inputs[f"{vc}.ready"]
                                 for vc in vcs))}

    def _wire(self, links: int) -> None:
        connect, net, stream = self.connect, self.net, self.stream
        connect("planes_up", "planes_up", "planes_up")
        for index, lane in enumerate(self.lanes):
            part = f"lane_{index}"
            for port in lane.input_widths:
                if port.startswith(("s_axi.", "m_axi.")):
                    connect(part, port, f"{port[:5]}.{index}{port[5:]}")
            for port, width in lane.output_widths.items():
                if port.startswith(("s_axi.", "m_axi.")):
                    self.output(f"{port[:5]}.{index}{port[5:]}", net(part, port), width)
            for port in lane.input_widths:
                if port.startswith("filter."):
                    connect(part, port, net("duplicate_filter",
                                            f"ports.{index}.{port[len('filter.'):]}"))
            for port in lane.output_widths:
                if port.startswith("filter."):
                    connect("duplicate_filter", f"ports.{index}.{port[len('filter.'):]}",
                            net(part, port))
            connect(part, "source", "endpoint")
            connect(part, "memory_bytes", "memory_bytes")
            connect(part, "planes_up", net("usable", "usable"))
            connect(part, "drained", net("drained", "drained"))
            for name in LANE_COUNTERS:
                self.output(f"{name}.{index}", net(part, name), COUNTER_BITS)

        for plane in range(links):
            merge, translate = f"request_merge_{plane}", f"translate_{plane}"
            end = f"link_{plane}"
            for vc in (REQUEST_VC, COMPLETION_VC):
                queue = f"queue_{plane}_{vc}"
                stream(queue, "header", end, f"header_in.{vc}")
                stream(queue, "payload", end, f"payload_in.{vc}")

            # A failed plane's retries go to the next usable plane at once.
            route, lane_of = f"retry_route_{plane}", f"request_lane_{plane}"
            stream(translate, "retry_out", route, "flit_in")
            guard, check = f"guard_{plane}", f"plane_check_{plane}"
            connect(check, "plane_up", net("planes_up", f"planes_up.{plane}"))
            connect(check, "stuck", net(guard, "stuck"))
            for vc in (REQUEST_VC, COMPLETION_VC):
                queue = f"queue_{plane}_{vc}"
                connect(check, f"{vc}.empty", net(queue, "empty"))
                connect(check, f"{vc}.valid", net(queue, "header.valid"))
                connect(check, f"{vc}.ready", net(end, f"header_in.{vc}.ready"))
            connect(guard, "held", net(check, "held"))
            connect(guard, "moved", net(check, "moved"))
            connect(guard, "usable", net(translate, "usable"))
            connect(translate, "plane_up", net(check, "plane_up"))
            connect(route, "planes_up", net("usable", "usable"))
            connect(route, "drained", (1 << links) - 1)
            connect("usable", f"usable.{plane}", net(translate, "usable"))

            # Requests of every lane sending here, and retries handed over, with tags of
            # this plane.
            for index in range(links):
                stream(f"lane_{index}", f"request_out.{plane}", merge, f"flit_in.{index}")
                stream(f"retry_route_{index}", f"flit_out.{plane}", merge,
                       f"flit_in.{links + index}")
                connect(lane_of, f"retry_lane.{index}",
                        net(f"translate_{index}", "retry_lane"))
            connect(lane_of, "chosen", net(merge, "chosen"))
            stream(merge, "flit_out", translate, "request_in")
            connect(translate, "request_lane", net(lane_of, "lane"))
            connect(translate, "request_retry", net(lane_of, "retry"))
            stream(translate, "request_out", f"queue_{plane}_{REQUEST_VC}", "flit_in")

            # The far side of lane ``plane`` answers on this plane.
            stream(end, f"delivered.{REQUEST_VC}", f"lane_{plane}", "request_in")
            stream(f"lane_{plane}", "completion_out", guard, "flit_in")
            stream(guard, "flit_out", f"queue_{plane}_{COMPLETION_VC}", "flit_in")

            # Completions back to the lane that asked, with its own tag.
            stream(end, f"delivered.{COMPLETION_VC}", translate, "completion_in")
            for index in range(links):
                stream(translate, f"completion_out.{index}", f"lane_{index}",
                       f"completion_in.{plane}")

            for vc in range(self.link.virtual_channels):
                if vc not in (REQUEST_VC, COMPLETION_VC):
                    # Nothing is sent on other VCs; what arrives is taken.
                    for port in (f"header_in.{vc}", f"payload_in.{vc}"):
                        connect(end, f"{port}.valid", 0)
                        connect(end, f"{port}.payload", 0)
                    connect(end, f"delivered.{vc}.ready", 1)
            connect("drained", f"drained.{plane}", net(translate, "drained"))
            self.output(f"flit_out.{plane}", net(end, "flit_out"), FLIT_BITS)
            self.output(f"link_counters.{plane}", net(end, "counters"), LINK_COUNTERS.size)
            for name in TRANSLATE_COUNTERS:
                self.output(f"{name}.{plane}", net(translate, name), COUNTER_BITS)
            for name in GUARD_COUNTERS:
                self.output(f"{name}.{plane}", net(guard, name), COUNTER_BITS)
            connect(end, "flit_in.valid", f"flit_in.{plane}.valid")
            connect(end, "flit_in.payload", f"flit_in.{plane}.payload")


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
                        port.split(".")[0] in CHIPLET_COUNTERS:
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
