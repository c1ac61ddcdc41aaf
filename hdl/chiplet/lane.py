"""One lane of the Fusion chiplet: an AXI4 port pair with its write path, read path and far
side, homed on one switch plane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import DELIVERED_FLIT
from .axi import AxiSignature
from .completion_split import CompletionSplit
from .packet_merge import PacketMerge
from .read_path import ReadPath
from .responder import Responder
from .responder_signals import filter_port_signature
from .striper import COUNTER_BITS, Striper
from .windows import ENDPOINT_BITS
from .write_path import WritePath

if TYPE_CHECKING:
    from .address_map import AddressMap

#: AXI4 channel signals of the subordinate port driven by the manager, by path.
WRITE_IN = ("awid", "awaddr", "awlen", "awsize", "awburst", "awlock", "awcache", "awprot",
            "awqos", "awregion", "awvalid", "wdata", "wstrb", "wlast", "wvalid", "bready")
WRITE_OUT = ("awready", "wready", "bid", "bresp", "bvalid")
READ_IN = ("arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot",
           "arqos", "arregion", "arvalid", "rready")
READ_OUT = ("arready", "rid", "rdata", "rresp", "rlast", "rvalid")
#: Counters of a lane, each ``COUNTER_BITS`` wide.
LANE_COUNTERS = ("requests_sent", "requests_moved", "stray_write_completions",
                 "stray_read_completions", "duplicates")


class Lane(wiring.Component):
    """Lane ``home`` of a chiplet of ``links`` links (docs/chiplet.md, "Lanes").

    The write path and the read path take the ASIC's bursts on ``s_axi``; their requests are
    merged a packet at a time and sent whole to plane ``home``, or, while it is down, to the
    next plane up once ``home`` has drained (:class:`Striper`). The far side serves the
    requests that arrive on plane ``home`` through ``m_axi`` and sends its completions back on
    the same plane. Completions for this lane's requests may come from any plane (the planes'
    tag translation sends each to the lane that asked); they are merged a packet at a time and
    split between the write and the read path by their tag.

    Members
    -------
    s_axi : In(AxiSignature)
        The ASIC's outgoing reads and writes for this lane (AW, W, B to the write path; AR, R
        to the read path).
    m_axi : Out(AxiSignature)
        Remote requests arriving on plane ``home``, to the ASIC's memory.
    source : In(ENDPOINT_BITS)
        The chiplet's endpoint ID: the source of its requests.
    memory_bytes : In(axi_address_bits + 1)
        Size of the ASIC memory remote requests may reach.
    planes_up, drained : In(links)
        Planes that take new packets, and planes with nothing under way (see :class:`Striper`).
    request_out : Out(stream.Signature(DELIVERED_FLIT)).array(links)
        This lane's request packets, each whole on one plane.
    request_in : In(stream.Signature(DELIVERED_FLIT))
        Request packets that arrived on plane ``home``, to the far side.
    completion_out : Out(stream.Signature(DELIVERED_FLIT))
        The far side's completions, for plane ``home``.
    completion_in : In(stream.Signature(DELIVERED_FLIT)).array(links)
        Completions of this lane's requests, from each plane, with the lane's own tags.
    filter : Out(filter_port_signature(params))
        The far side's port of the chiplet's duplicate filter (port ``home`` of
        :class:`~hdl.chiplet.duplicate_filter.DuplicateFilter`).
    requests_sent, requests_moved, stray_write_completions, stray_read_completions : Out(32)
        The striper's counters, and completions whose tag was not in use.
    duplicates : Out(32)
        Repeated ``WRITE``s the far side answered without carrying them out.
    """

    def __init__(self, address_map: AddressMap, home: int) -> None:
        self.address_map = address_map
        self.params = params = address_map.params
        self.home = home
        links = params.links
        flits = stream.Signature(DELIVERED_FLIT)
        members = {
            "s_axi": In(AxiSignature(params)),
            "m_axi": Out(AxiSignature(params)),
            "source": In(ENDPOINT_BITS),
            "memory_bytes": In(params.axi_address_bits + 1),
            "planes_up": In(links),
            "drained": In(links),
            "request_out": Out(flits).array(links),
            "request_in": In(flits),
            "completion_out": Out(flits),
            "completion_in": In(flits).array(links),
            "filter": Out(filter_port_signature(params)),
        }
        members.update({name: Out(COUNTER_BITS) for name in LANE_COUNTERS})
        super().__init__(members)
        # Built here, not in elaborate, so that tests can watch the parts.
        self.write_path = WritePath(address_map)
        self.read_path = ReadPath(address_map)
        self.responder = Responder(params, plane=home)
        self.request_merge = PacketMerge(2)
        self.striper = Striper(links, home)
        self.completion_merge = PacketMerge(links)
        self.completion_split = CompletionSplit()

    def elaborate(self, platform) -> Module:
        m = Module()
        for name in ("write_path", "read_path", "responder", "request_merge", "striper",
                     "completion_merge", "completion_split"):
            m.submodules[name] = getattr(self, name)
        write_path, read_path, responder = self.write_path, self.read_path, self.responder
        striper, merge, split = self.striper, self.completion_merge, self.completion_split

        # The AXI4 subordinate port: write channels to the write path, read to the read path.
        for path, inward, outward in ((write_path, WRITE_IN, WRITE_OUT),
                                      (read_path, READ_IN, READ_OUT)):
            m.d.comb += [getattr(path.s_axi, name).eq(getattr(self.s_axi, name))
                         for name in inward]
            m.d.comb += [getattr(self.s_axi, name).eq(getattr(path.s_axi, name))
                         for name in outward]
        wiring.connect(m, responder.m_axi, wiring.flipped(self.m_axi))
        wiring.connect(m, responder.filter, wiring.flipped(self.filter))
        m.d.comb += [
            write_path.source.eq(self.source),
            read_path.source.eq(self.source),
            responder.memory_bytes.eq(self.memory_bytes),
            striper.planes_up.eq(self.planes_up),
            striper.drained.eq(self.drained),
            self.requests_sent.eq(striper.sent),
            self.requests_moved.eq(striper.moved),
            self.stray_write_completions.eq(write_path.stray_completions),
            self.stray_read_completions.eq(read_path.stray_completions),
            self.duplicates.eq(responder.duplicates),
        ]

        # Outgoing requests of both paths, a packet at a time, onto the planes.
        wiring.connect(m, write_path.request, self.request_merge.flit_in[0])
        wiring.connect(m, read_path.request, self.request_merge.flit_in[1])
        wiring.connect(m, self.request_merge.flit_out, striper.flit_in)
        for index in range(self.params.links):
            wiring.connect(m, striper.flit_out[index], wiring.flipped(self.request_out[index]))
            wiring.connect(m, wiring.flipped(self.completion_in[index]), merge.flit_in[index])

        # The far side, on plane ``home`` both ways.
        wiring.connect(m, wiring.flipped(self.request_in), responder.request)
        wiring.connect(m, responder.completion, wiring.flipped(self.completion_out))

        # Completions to the path that asked.
        wiring.connect(m, merge.flit_out, split.flit_in)
        wiring.connect(m, split.write, write_path.completion)
        wiring.connect(m, split.read, read_path.completion)
        return m
