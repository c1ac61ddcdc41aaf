"""The Fusion chiplet: a lane (AXI4 port pair) per switch plane, one reliable link per plane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..layouts import COMPLETION_VC, FLIT_BITS, REQUEST_VC
from ..link.link_end import LinkEnd
from ..link.link_signals import LINK_COUNTERS, WIRE
from ..params import LinkParams
from .axi import AxiSignature
from .duplicate_filter import DuplicateFilter
from .lane import LANE_COUNTERS, Lane
from .packet_merge import PacketMerge
from .packet_queue import PacketQueue
from .plane_guard import PlaneGuard
from .striper import COUNTER_BITS, Striper
from .tag_translate import TagTranslate
from .windows import ENDPOINT_BITS

if TYPE_CHECKING:
    from .address_map import AddressMap

#: Counters of each plane's ``TagTranslate``, and of its ``PlaneGuard``, each
#: ``COUNTER_BITS`` wide.
TRANSLATE_COUNTERS = ("stray_completions", "abandoned_completions", "retried")
GUARD_COUNTERS = ("dropped_answers",)
PLANE_COUNTERS = (*TRANSLATE_COUNTERS, *GUARD_COUNTERS)


class Chiplet(wiring.Component):
    """``links`` lanes and ``links`` reliable links, one of each per switch plane
    (docs/chiplet.md, "Lanes").

    Lane ``i`` (:class:`Lane`: write path, read path, far side behind an AXI4 port pair)
    sends its requests on plane ``i`` while it is usable. On each plane, the requests of
    every lane that sends there, and the retries a failed plane hands over, are merged a
    packet at a time (:class:`PacketMerge`), their tags are translated into the plane's own
    (:class:`TagTranslate`, which keeps each request until its completion) and they are
    queued for the link on ``REQUEST_VC``. What arrives on plane ``i``: requests go to lane
    ``i``'s far side, whose completions return on plane ``i`` on ``COMPLETION_VC``;
    completions go back, through the plane's tag translation, to the lane that asked. Each
    link end has a :class:`PacketQueue` per VC in front of it. The lanes' far sides share a
    :class:`DuplicateFilter`, so a repeated ``WRITE`` is carried out once whichever plane
    brings it.

    A plane is usable while its bit of ``planes_up`` is set, its completions come in time and
    its link takes what waits for it (:class:`PlaneGuard`; docs/chiplet.md, "End-to-end
    retry"); the far side's completions for a plane that is not are dropped. A plane that is
    not hands every request it keeps over to the next usable plane (a :class:`Striper` per
    plane routes them), oldest first; the lanes homed there follow once it has handed
    everything over (``drained``).

    Members
    -------
    s_axi : In(AxiSignature).array(links)
        The ASIC's outgoing reads and writes, a port per lane; the ASIC sends a burst at
        global address ``a`` to lane :func:`~hdl.chiplet.striper.lane_for` ``(a, links)``.
    m_axi : Out(AxiSignature).array(links)
        Remote requests to the ASIC's memory, a port per lane (the requests that arrived on
        its plane).
    endpoint : In(ENDPOINT_BITS)
        This chiplet's endpoint ID: the source of its requests.
    memory_bytes : In(axi_address_bits + 1)
        Size of the ASIC memory remote requests may reach.
    planes_up : In(links)
        Planes that take new packets (see :class:`~hdl.chiplet.striper.Striper`).
    flit_out : Out(FLIT_BITS).array(links)
        The flit each link sends this cycle.
    flit_in : In(WIRE).array(links)
        What each link's wire from the far end delivers this cycle.
    link_counters : Out(LINK_COUNTERS).array(links)
        Each link end's counters.
    requests_sent, requests_moved, stray_write_completions, stray_read_completions, duplicates
        Out(32).array(links): each lane's counters (:data:`~hdl.chiplet.lane.LANE_COUNTERS`).
    stray_completions : Out(32).array(links)
        Per plane, completions whose plane tag was not in use.
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
        members = {
            "s_axi": In(AxiSignature(params)).array(links),
            "m_axi": Out(AxiSignature(params)).array(links),
            "endpoint": In(ENDPOINT_BITS),
            "memory_bytes": In(params.axi_address_bits + 1),
            "planes_up": In(links),
            "flit_out": Out(FLIT_BITS).array(links),
            "flit_in": In(WIRE).array(links),
            "link_counters": Out(LINK_COUNTERS).array(links),
        }
        members.update({name: Out(COUNTER_BITS).array(links)
                        for name in (*LANE_COUNTERS, *PLANE_COUNTERS)})
        super().__init__(members)

        # Built here, not in elaborate, so that tests can watch the parts.
        self.lanes = [Lane(address_map, index) for index in range(links)]
        self.duplicate_filter = DuplicateFilter(params, links)
        timeout = params.completion_timeout_cycles(link)
        self.request_merges = [PacketMerge(2 * links) for _ in range(links)]
        self.translations = [TagTranslate(params, links, plane, timeout)
                             for plane in range(links)]
        self.retry_routes = [Striper(links, plane) for plane in range(links)]
        self.link_ends = [LinkEnd(link) for _ in range(links)]
        self.queues = [{vc: PacketQueue() for vc in (REQUEST_VC, COMPLETION_VC)}
                       for _ in range(links)]
        self.guards = [PlaneGuard(timeout) for _ in range(links)]

    def elaborate(self, platform) -> Module:
        m = Module()
        links = self.params.links
        m.submodules.duplicate_filter = self.duplicate_filter
        for index, lane in enumerate(self.lanes):
            m.submodules[f"lane_{index}"] = lane
            wiring.connect(m, lane.filter, self.duplicate_filter.ports[index])
            wiring.connect(m, wiring.flipped(self.s_axi[index]), lane.s_axi)
            wiring.connect(m, lane.m_axi, wiring.flipped(self.m_axi[index]))
            m.d.comb += [lane.source.eq(self.endpoint),
                         lane.memory_bytes.eq(self.memory_bytes)]
            m.d.comb += [getattr(self, name)[index].eq(getattr(lane, name))
                         for name in LANE_COUNTERS]

        # A plane is usable while it is up and its completions come in time.
        usable = Signal(links)
        m.d.comb += usable.eq(Cat(translate.usable for translate in self.translations))
        for lane in self.lanes:
            m.d.comb += lane.planes_up.eq(usable)

        for plane in range(links):
            merge = m.submodules[f"request_merge_{plane}"] = self.request_merges[plane]
            translate = m.submodules[f"translate_{plane}"] = self.translations[plane]
            route = m.submodules[f"retry_route_{plane}"] = self.retry_routes[plane]
            end = m.submodules[f"link_{plane}"] = self.link_ends[plane]
            queues = self.queues[plane]
            for vc, queue in queues.items():
                m.submodules[f"queue_{plane}_{vc}"] = queue
                wiring.connect(m, queue.header, end.header_in[vc])
                wiring.connect(m, queue.payload, end.payload_in[vc])

            # A failed plane's retries go to the next usable plane at once.
            wiring.connect(m, translate.retry_out, route.flit_in)
            # A plane whose link has stopped taking anything fails (``PlaneGuard``).
            guard = m.submodules[f"guard_{plane}"] = self.guards[plane]
            m.d.comb += [
                guard.held.eq(Cat(~queue.empty for queue in queues.values()).any()),
                guard.moved.eq(Cat(queue.header.valid & queue.header.ready
                                   for queue in queues.values()).any()),
                guard.usable.eq(translate.usable),
            ]
            m.d.comb += [translate.plane_up.eq(self.planes_up[plane] & ~guard.stuck),
                         route.planes_up.eq(usable),
                         route.drained.eq(-1)]

            # Requests of every lane sending here, and retries handed over, with tags of
            # this plane: inputs 0 to links - 1 of the merge are the lanes, the others the
            # planes' retries.
            for index, lane in enumerate(self.lanes):
                wiring.connect(m, lane.request_out[plane], merge.flit_in[index])
            for index, other in enumerate(self.retry_routes):
                wiring.connect(m, other.flit_out[plane], merge.flit_in[links + index])
            retry_lanes = [other.retry_lane for other in self.translations]
            lane_of = Signal.like(translate.request_lane, name=f"request_lane_{plane}")
            with m.If(merge.chosen < links):
                m.d.comb += lane_of.eq(merge.chosen)
            with m.Else():
                with m.Switch(merge.chosen - links):
                    for index, retry_lane in enumerate(retry_lanes):
                        with m.Case(index):
                            m.d.comb += lane_of.eq(retry_lane)
            wiring.connect(m, merge.flit_out, translate.request_in)
            m.d.comb += [translate.request_lane.eq(lane_of),
                         translate.request_retry.eq(merge.chosen >= links)]
            wiring.connect(m, translate.request_out, queues[REQUEST_VC].flit_in)

            # The far side of lane ``plane`` answers on this plane.
            home = self.lanes[plane]
            wiring.connect(m, end.delivered[REQUEST_VC], home.request_in)
            wiring.connect(m, home.completion_out, guard.flit_in)
            wiring.connect(m, guard.flit_out, queues[COMPLETION_VC].flit_in)

            # Completions back to the lane that asked, with its own tag.
            wiring.connect(m, end.delivered[COMPLETION_VC], translate.completion_in)
            for index, lane in enumerate(self.lanes):
                wiring.connect(m, translate.completion_out[index], lane.completion_in[plane])

            for vc in range(self.link.virtual_channels):
                if vc not in queues:  # nothing is sent on other VCs; what arrives is taken
                    m.d.comb += end.delivered[vc].ready.eq(1)
            # A lane homed here moves on once the plane has handed over all it kept.
            for lane in self.lanes:
                m.d.comb += lane.drained[plane].eq(translate.drained)
            m.d.comb += [self.flit_out[plane].eq(end.flit_out),
                         self.link_counters[plane].eq(end.counters)]
            m.d.comb += [getattr(self, name)[plane].eq(getattr(translate, name))
                         for name in TRANSLATE_COUNTERS]
            m.d.comb += [getattr(self, name)[plane].eq(getattr(guard, name))
                         for name in GUARD_COUNTERS]
            wiring.connect(m, wiring.flipped(self.flit_in[plane]), end.flit_in)
        return m
