"""Chiplets joined through switch chips, one per plane: the cocotb test top of the fabric."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..link.channel_delay import ChannelDelay
from ..link.wire_faults import RATE_BITS, WireFaults
from ..params import SystemParams
from ..switch.csr import CSR_BUS
from ..switch.switch import Switch
from ..tray.port_link import SwitchPortLink
from .axi import AxiSignature
from .chiplet import Chiplet
from .chiplet_pair import CHIPLET_COUNTERS
from .striper import COUNTER_BITS
from .windows import ENDPOINT_BITS

if TYPE_CHECKING:
    from .address_map import AddressMap


class ChipletFabric(wiring.Component):
    """``len(address_maps)`` chiplets and ``system.switch_chips`` switch chips: link ``p`` of
    chiplet ``n`` goes through a pair of wires (``LinkParams.pipeline_latency_cycles``, with
    damage drawn in hardware) to a link end on port ``n`` of switch ``p``.

    Members
    -------
    s_axi, m_axi : In / Out(AxiSignature).array(chiplets, links)
        Each ASIC's outgoing ports, and its memory's ports, one of each per lane.
    endpoint : In(ENDPOINT_BITS).array(chiplets)
    memory_bytes : In(axi_address_bits + 1)
    planes_up : In(links)
        Given to every chiplet.
    csr : Out(CSR_BUS).array(planes)
        Each switch chip's CSR bus (routes, partitions, port IDs are loaded through it).
    flip_rate, drop_rate : In(RATE_BITS)
        Damage on every wire.
    dead : In(links)
        Every wire of a plane delivers nothing.
    <counter> : Out(32).array(chiplets, links)
        The counters named in :data:`~hdl.chiplet.chiplet_pair.CHIPLET_COUNTERS`.
    """

    def __init__(self, address_maps: list[AddressMap], system: SystemParams) -> None:
        self.system = system
        params = address_maps[0].params
        if any(address_map.params != params for address_map in address_maps):
            raise ValueError("every chiplet of a fabric needs the same ChipletParams")
        if params.links != system.switch_chips:
            raise ValueError(f"chiplet links ({params.links}) must equal the planes "
                             f"({system.switch_chips})")
        if len(address_maps) > system.switch.ports:
            raise ValueError(f"{len(address_maps)} chiplets need {len(address_maps)} ports; "
                             f"the switch has {system.switch.ports}")
        self.params = params
        count = len(address_maps)
        links = params.links
        members = {
            "s_axi": In(AxiSignature(params)).array(count, links),
            "m_axi": Out(AxiSignature(params)).array(count, links),
            "endpoint": In(ENDPOINT_BITS).array(count),
            "memory_bytes": In(params.axi_address_bits + 1),
            "planes_up": In(links),
            "csr": Out(CSR_BUS).array(links),
            "flip_rate": In(RATE_BITS),
            "drop_rate": In(RATE_BITS),
            "dead": In(links),
        }
        for name in CHIPLET_COUNTERS:
            members[name] = Out(COUNTER_BITS).array(count, links)
        super().__init__(members)
        self.chiplets = [Chiplet(address_map, system.link) for address_map in address_maps]
        self.switches = [Switch(system.switch) for _ in range(links)]
        self.ports = [[SwitchPortLink(system.link, system.switch) for _ in range(count)]
                      for _ in range(links)]

    def elaborate(self, platform) -> Module:
        m = Module()
        latency = self.system.link.pipeline_latency_cycles
        for n, chiplet in enumerate(self.chiplets):
            m.submodules[f"chiplet_{n}"] = chiplet
            m.d.comb += [chiplet.endpoint.eq(self.endpoint[n]),
                         chiplet.memory_bytes.eq(self.memory_bytes),
                         chiplet.planes_up.eq(self.planes_up)]
            for lane in range(self.params.links):
                wiring.connect(m, wiring.flipped(self.s_axi[n][lane]), chiplet.s_axi[lane])
                wiring.connect(m, chiplet.m_axi[lane], wiring.flipped(self.m_axi[n][lane]))
                m.d.comb += [getattr(self, name)[n][lane].eq(getattr(chiplet, name)[lane])
                             for name in CHIPLET_COUNTERS]
        seed = 1
        for p, switch in enumerate(self.switches):
            m.submodules[f"switch_{p}"] = switch
            wiring.connect(m, wiring.flipped(self.csr[p]), switch.csr)
            for n, port in enumerate(self.ports[p]):
                m.submodules[f"port_{p}_{n}"] = port
                m.d.comb += [
                    switch.in_flit[n].eq(port.in_flit), switch.in_valid[n].eq(port.in_valid),
                    port.in_ready.eq(switch.in_ready[n]),
                    port.out_flit.eq(switch.out_flit[n]), port.out_valid.eq(switch.out_valid[n]),
                    port.out_first.eq(switch.out_first[n]), port.out_last.eq(switch.out_last[n]),
                    switch.credit_return[n].eq(port.credit_return),
                ]
                chiplet = self.chiplets[n]
                for name, source, sink in ((f"up_{p}_{n}", chiplet.flit_out[p], port.flit_in),
                                           (f"down_{p}_{n}", port.flit_out, chiplet.flit_in[p])):
                    wire = m.submodules[name] = ChannelDelay(latency)
                    faults = m.submodules[f"{name}_faults"] = WireFaults(
                        seed=0x9E3779B1 * seed % (1 << 32) or 1)
                    seed += 1
                    m.d.comb += [wire.flit_in.eq(source), faults.flip_rate.eq(self.flip_rate),
                                 faults.drop_rate.eq(self.drop_rate),
                                 faults.dead.eq(self.dead[p]),
                                 wire.flip.eq(faults.flip), wire.drop.eq(faults.drop)]
                    wiring.connect(m, wire.flit_out, sink)
            for n in range(len(self.chiplets), self.system.switch.ports):
                m.d.comb += switch.credit_return[n].eq(0)  # unused ports take nothing
        return m
