"""The Fusion chiplet: AXI4 on the ASIC side, one reliable link per switch plane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..layouts import COMPLETION_VC, FLIT_BITS, REQUEST_VC
from ..link.link_end import LinkEnd
from ..link.link_signals import LINK_COUNTERS, WIRE
from ..params import LinkParams
from .axi import AxiSignature
from .completion_split import CompletionSplit
from .packet_merge import PacketMerge
from .packet_queue import PacketQueue
from .read_path import ReadPath
from .responder import Responder
from .striper import COUNTER_BITS, Striper
from .windows import ENDPOINT_BITS
from .write_path import WritePath

if TYPE_CHECKING:
    from emulator.ref.chiplet import AddressMap

#: AXI4 channel signals of the subordinate port driven by the manager, by path.
_WRITE_IN = ("awid", "awaddr", "awlen", "awsize", "awburst", "awlock", "awcache", "awprot",
             "awqos", "awregion", "awvalid", "wdata", "wstrb", "wlast", "wvalid", "bready")
_WRITE_OUT = ("awready", "wready", "bid", "bresp", "bvalid")
_READ_IN = ("arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot",
            "arqos", "arregion", "arvalid", "rready")
_READ_OUT = ("arready", "rid", "rdata", "rresp", "rlast", "rvalid")


class Chiplet(wiring.Component):
    """Write path, read path and far side, joined to ``links`` reliable links by two
    stripers (requests, completions) and two merges (docs/chiplet.md).

    Requests travel on ``REQUEST_VC`` and completions on ``COMPLETION_VC`` of every link;
    each link end has a :class:`PacketQueue` per VC in front of it.

    Members
    -------
    s_axi : In(AxiSignature)
        The ASIC's outgoing reads and writes (AW, W, B to the write path; AR, R to the read
        path).
    m_axi : Out(AxiSignature)
        Remote requests to the ASIC's memory (the far side).
    endpoint : In(ENDPOINT_BITS)
        This chiplet's endpoint ID: the source of its requests.
    memory_bytes : In(axi_address_bits + 1)
        Size of the ASIC memory remote requests may reach.
    planes_up : In(links)
        Planes that take new packets (see :class:`Striper`).
    flit_out : Out(FLIT_BITS).array(links)
        The flit each link sends this cycle.
    flit_in : In(WIRE).array(links)
        What each link's wire from the far end delivers this cycle.
    link_counters : Out(LINK_COUNTERS).array(links)
        Each link end's counters.
    requests_sent, requests_moved, completions_sent, completions_moved : Out(32)
        The stripers' counters.
    stray_write_completions, stray_read_completions : Out(32)
        Completions whose tag was not in use.
    """

    def __init__(self, address_map: AddressMap, link: LinkParams) -> None:
        self.address_map = address_map
        self.params = params = address_map.params
        self.link = link
        if link.virtual_channels <= max(REQUEST_VC, COMPLETION_VC):
            raise ValueError(f"link.virtual_channels={link.virtual_channels}: the chiplet "
                             f"needs VC {REQUEST_VC} for requests and {COMPLETION_VC} for "
                             "completions.")
        links = params.links
        super().__init__({
            "s_axi": In(AxiSignature(params)),
            "m_axi": Out(AxiSignature(params)),
            "endpoint": In(ENDPOINT_BITS),
            "memory_bytes": In(params.axi_address_bits + 1),
            "planes_up": In(links),
            "flit_out": Out(FLIT_BITS).array(links),
            "flit_in": In(WIRE).array(links),
            "link_counters": Out(LINK_COUNTERS).array(links),
            "requests_sent": Out(COUNTER_BITS),
            "requests_moved": Out(COUNTER_BITS),
            "completions_sent": Out(COUNTER_BITS),
            "completions_moved": Out(COUNTER_BITS),
            "stray_write_completions": Out(32),
            "stray_read_completions": Out(32),
        })

        # Built here, not in elaborate, so that tests can watch the parts.
        self.write_path = WritePath(address_map)
        self.read_path = ReadPath(address_map)
        self.responder = Responder(params)
        self.request_merge = PacketMerge(2)
        self.request_striper = Striper(links)
        self.completion_striper = Striper(links)
        self.arriving_requests = PacketMerge(links)
        self.arriving_completions = PacketMerge(links)
        self.completion_split = CompletionSplit()
        self.link_ends = [LinkEnd(link) for _ in range(links)]
        self.queues = [{vc: PacketQueue() for vc in (REQUEST_VC, COMPLETION_VC)}
                       for _ in range(links)]

    def elaborate(self, platform) -> Module:  # noqa: PLR0915 - connections only
        m = Module()
        links = self.params.links
        parts = ("write_path", "read_path", "responder", "request_merge", "request_striper",
                 "completion_striper", "arriving_requests", "arriving_completions",
                 "completion_split")
        for name in parts:
            m.submodules[name] = getattr(self, name)
        write_path, read_path, responder = self.write_path, self.read_path, self.responder
        request_merge, request_striper = self.request_merge, self.request_striper
        completion_striper = self.completion_striper
        arriving_requests = self.arriving_requests
        arriving_completions = self.arriving_completions
        completion_split = self.completion_split

        axi = self.s_axi
        for names, inward in ((_WRITE_IN, True), (_WRITE_OUT, False)):
            for name in names:
                port = getattr(write_path.s_axi, name)
                m.d.comb += (port.eq(getattr(axi, name)) if inward
                             else getattr(axi, name).eq(port))
        for names, inward in ((_READ_IN, True), (_READ_OUT, False)):
            for name in names:
                port = getattr(read_path.s_axi, name)
                m.d.comb += (port.eq(getattr(axi, name)) if inward
                             else getattr(axi, name).eq(port))
        wiring.connect(m, responder.m_axi, wiring.flipped(self.m_axi))
        m.d.comb += [
            write_path.source.eq(self.endpoint),
            read_path.source.eq(self.endpoint),
            responder.memory_bytes.eq(self.memory_bytes),
            self.stray_write_completions.eq(write_path.stray_completions),
            self.stray_read_completions.eq(read_path.stray_completions),
            self.requests_sent.eq(request_striper.sent),
            self.requests_moved.eq(request_striper.moved),
            self.completions_sent.eq(completion_striper.sent),
            self.completions_moved.eq(completion_striper.moved),
        ]

        # Outgoing: requests of both paths, and the far side's completions, striped.
        wiring.connect(m, write_path.request, request_merge.flit_in[0])
        wiring.connect(m, read_path.request, request_merge.flit_in[1])
        wiring.connect(m, request_merge.flit_out, request_striper.flit_in)
        wiring.connect(m, responder.completion, completion_striper.flit_in)
        for striper in (request_striper, completion_striper):
            m.d.comb += striper.planes_up.eq(self.planes_up)

        # Incoming: requests to the far side, completions to the path that asked.
        wiring.connect(m, arriving_requests.flit_out, responder.request)
        wiring.connect(m, arriving_completions.flit_out, completion_split.flit_in)
        wiring.connect(m, completion_split.write, write_path.completion)
        wiring.connect(m, completion_split.read, read_path.completion)

        for index in range(links):
            end = m.submodules[f"link_{index}"] = self.link_ends[index]
            queues = self.queues[index]
            for vc, striper in ((REQUEST_VC, request_striper),
                                (COMPLETION_VC, completion_striper)):
                queue = m.submodules[f"queue_{index}_{vc}"] = queues[vc]
                wiring.connect(m, striper.flit_out[index], queue.flit_in)
                wiring.connect(m, queue.header, end.header_in[vc])
                wiring.connect(m, queue.payload, end.payload_in[vc])
            for vc in range(self.link.virtual_channels):
                if vc not in queues:  # nothing is sent on other VCs; what arrives is taken
                    m.d.comb += end.delivered[vc].ready.eq(1)
            wiring.connect(m, end.delivered[REQUEST_VC], arriving_requests.flit_in[index])
            wiring.connect(m, end.delivered[COMPLETION_VC],
                           arriving_completions.flit_in[index])
            drained = end.idle & queues[REQUEST_VC].empty & queues[COMPLETION_VC].empty
            for striper in (request_striper, completion_striper):
                m.d.comb += striper.drained[index].eq(drained)
            m.d.comb += [self.flit_out[index].eq(end.flit_out),
                         self.link_counters[index].eq(end.counters)]
            wiring.connect(m, wiring.flipped(self.flit_in[index]), end.flit_in)
        return m
