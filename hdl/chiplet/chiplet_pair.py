"""Two chiplets joined link by link through damaged wires: the cocotb test top."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..link.channel_delay import ChannelDelay
from ..link.link_signals import LINK_COUNTERS
from ..link.wire_faults import RATE_BITS, WireFaults
from ..params import LinkParams
from .axi import AxiSignature
from .chiplet import PLANE_COUNTERS, Chiplet
from .lane import LANE_COUNTERS
from .striper import COUNTER_BITS
from .windows import ENDPOINT_BITS

if TYPE_CHECKING:
    from .address_map import AddressMap

ENDS = ("a", "b")
#: Counters of each chiplet brought out to the top, each an array over lanes or planes.
CHIPLET_COUNTERS = (*LANE_COUNTERS, *PLANE_COUNTERS)


class ChipletPair(wiring.Component):
    """Chiplet ``a`` and chiplet ``b``; link ``i`` of one is joined to link ``i`` of the other,
    so each plane is a pair of wires of ``LinkParams.pipeline_latency_cycles`` cycles.

    Members
    -------
    a_s_axi, b_s_axi : In(AxiSignature).array(links)
        Each ASIC's outgoing reads and writes, a port per lane.
    a_m_axi, b_m_axi : Out(AxiSignature).array(links)
        Each ASIC's memory, for the other's requests, a port per lane.
    a_endpoint, b_endpoint : In(ENDPOINT_BITS)
    memory_bytes : In(axi_address_bits + 1)
        Size of both memories.
    planes_up : In(links)
        Given to both chiplets.
    flip_rate, drop_rate : In(RATE_BITS)
        Damage on every wire (see :class:`~hdl.link.wire_faults.WireFaults`).
    dead : In(links)
        Both wires of a plane deliver nothing.
    a_link_counters, b_link_counters : Out(LINK_COUNTERS).array(links)
    a_requests_sent, ... : Out(32).array(links)
        The counters named in :data:`CHIPLET_COUNTERS`, per chiplet, per lane or plane.
    """

    def __init__(self, address_maps: dict[str, AddressMap], link: LinkParams) -> None:
        self.address_maps = address_maps
        self.params = params = address_maps["a"].params
        if address_maps["b"].params != params:
            raise ValueError("both chiplets of a pair need the same ChipletParams")
        self.link = link
        links = params.links
        members = {}
        for end in ENDS:
            members[f"{end}_s_axi"] = In(AxiSignature(params)).array(links)
            members[f"{end}_m_axi"] = Out(AxiSignature(params)).array(links)
            members[f"{end}_endpoint"] = In(ENDPOINT_BITS)
            members[f"{end}_link_counters"] = Out(LINK_COUNTERS).array(links)
            for name in CHIPLET_COUNTERS:
                members[f"{end}_{name}"] = Out(COUNTER_BITS).array(links)
        members.update({
            "memory_bytes": In(params.axi_address_bits + 1),
            "planes_up": In(links),
            "flip_rate": In(RATE_BITS),
            "drop_rate": In(RATE_BITS),
            "dead": In(links),
        })
        super().__init__(members)
        #: The two chiplets, built here so that tests can watch their parts.
        self.chiplets = {end: Chiplet(address_maps[end], link) for end in ENDS}

    def elaborate(self, platform) -> Module:
        m = Module()
        chiplets = self.chiplets
        for end in ENDS:
            chiplet = m.submodules[end] = chiplets[end]
            m.d.comb += [chiplet.endpoint.eq(getattr(self, f"{end}_endpoint")),
                         chiplet.memory_bytes.eq(self.memory_bytes),
                         chiplet.planes_up.eq(self.planes_up)]
            for index in range(self.params.links):
                wiring.connect(m, wiring.flipped(getattr(self, f"{end}_s_axi")[index]),
                               chiplet.s_axi[index])
                wiring.connect(m, chiplet.m_axi[index],
                               wiring.flipped(getattr(self, f"{end}_m_axi")[index]))
                m.d.comb += [getattr(self, f"{end}_{name}")[index].eq(
                    getattr(chiplet, name)[index]) for name in CHIPLET_COUNTERS]
                m.d.comb += getattr(self, f"{end}_link_counters")[index].eq(
                    chiplet.link_counters[index])
        seed = 1
        for index in range(self.params.links):
            for source, sink in (("a", "b"), ("b", "a")):
                name = f"{source}_to_{sink}_{index}"
                wire = m.submodules[name] = ChannelDelay(self.link.pipeline_latency_cycles)
                faults = m.submodules[f"{name}_faults"] = WireFaults(seed=0x9E3779B1 * seed
                                                                     % (1 << 32) or 1)
                seed += 1
                m.d.comb += [
                    wire.flit_in.eq(chiplets[source].flit_out[index]),
                    faults.flip_rate.eq(self.flip_rate),
                    faults.drop_rate.eq(self.drop_rate),
                    faults.dead.eq(self.dead[index]),
                    wire.flip.eq(faults.flip),
                    wire.drop.eq(faults.drop),
                ]
                wiring.connect(m, wire.flit_out, chiplets[sink].flit_in[index])
        return m
