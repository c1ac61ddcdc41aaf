"""The chiplet's write path: AXI4 writes in, request packets out, completions in, BRESP out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import DELIVERED_FLIT
from .axi import AxiSignature
from .tag_pool import TagPool
from .windows import ENDPOINT_BITS
from .write_packetizer import WritePacketizer
from .write_responses import WriteResponses

if TYPE_CHECKING:
    from .address_map import AddressMap

#: The AW and W signals the packetizer takes from the subordinate port.
WRITE_REQUEST_SIGNALS = ("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid",
                         "wdata", "wstrb", "wlast", "wvalid")


class WritePath(wiring.Component):
    """Write packetizer, tag pool and write responses, connected; reads are not served yet.

    Members
    -------
    s_axi : In(AxiSignature(params))
        The AXI4 subordinate port. AW, W and B as :class:`WritePacketizer` and
        :class:`WriteResponses` say; AR is never ready and R never valid.
    source : In(ENDPOINT_BITS)
        This chiplet's endpoint ID.
    request : Out(stream.Signature(DELIVERED_FLIT))
        Request packets, one flit per cycle at most, ``last`` on each packet's final flit.
    completion : In(stream.Signature(DELIVERED_FLIT))
        Completion packets; always ready.
    stray_completions : Out(32)
        Completions whose tag was not in use, since reset.
    """

    def __init__(self, address_map: AddressMap) -> None:
        self.address_map = address_map
        self.params = address_map.params
        super().__init__({
            "s_axi": In(AxiSignature(self.params)),
            "source": In(ENDPOINT_BITS),
            "request": Out(stream.Signature(DELIVERED_FLIT)),
            "completion": In(stream.Signature(DELIVERED_FLIT)),
            "stray_completions": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.packetizer = packetizer = WritePacketizer(self.address_map)
        m.submodules.tags = tags = TagPool(self.params)
        m.submodules.responses = responses = WriteResponses(self.params)
        axi = self.s_axi
        m.d.comb += [getattr(packetizer, name).eq(getattr(axi, name))
                     for name in WRITE_REQUEST_SIGNALS]
        m.d.comb += [
            axi.awready.eq(packetizer.awready),
            axi.wready.eq(packetizer.wready),
            packetizer.source.eq(self.source),
            axi.bid.eq(responses.bid),
            axi.bresp.eq(responses.bresp),
            axi.bvalid.eq(responses.bvalid),
            responses.bready.eq(axi.bready),
            self.stray_completions.eq(responses.stray_completions),
        ]
        wiring.connect(m, tags.allocate, packetizer.tag)
        wiring.connect(m, responses.free, tags.free)
        wiring.connect(m, packetizer.burst, responses.burst)
        m.d.comb += packetizer.burst_entry.eq(responses.burst_entry)
        wiring.connect(m, packetizer.sent, responses.sent)
        wiring.connect(m, packetizer.flit, wiring.flipped(self.request))
        wiring.connect(m, wiring.flipped(self.completion), responses.completion)
        return m
