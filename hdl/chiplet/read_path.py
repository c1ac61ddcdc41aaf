"""The chiplet's read path: AXI4 reads in, request packets out, completions in, R out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import DELIVERED_FLIT
from .axi import AxiSignature
from .read_packetizer import ReadPacketizer
from .read_responses import ReadResponses
from .tag_pool import TagPool
from .windows import ENDPOINT_BITS

if TYPE_CHECKING:
    from .address_map import AddressMap

#: The AR signals the packetizer takes from the subordinate port.
READ_REQUEST_SIGNALS = ("arid", "araddr", "arlen", "arsize", "arburst", "arvalid")


class ReadPath(wiring.Component):
    """Read packetizer, its own tag pool and read responses, connected; writes are not
    served here.

    Members
    -------
    s_axi : In(AxiSignature(params))
        The AXI4 subordinate port. AR and R as :class:`ReadPacketizer` and
        :class:`ReadResponses` say (R beats in AR order per ARID; bursts of different ARIDs
        pass each other and may interleave); AW and W are never ready and B never valid.
    source : In(ENDPOINT_BITS)
        This chiplet's endpoint ID.
    request : Out(stream.Signature(DELIVERED_FLIT))
        ``READ`` request packets (a header, and an address extension flit when needed), one
        flit per cycle at most, ``last`` on each packet's final flit; tags carry
        ``READ_TAG_FLAG``.
    completion : In(stream.Signature(DELIVERED_FLIT))
        Completion packets of read requests (tags with ``READ_TAG_FLAG``); always ready.
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
        m.submodules.packetizer = packetizer = ReadPacketizer(self.address_map)
        m.submodules.tags = tags = TagPool(self.params)
        m.submodules.responses = responses = ReadResponses(self.params)
        axi = self.s_axi
        m.d.comb += [getattr(packetizer, name).eq(getattr(axi, name))
                     for name in READ_REQUEST_SIGNALS]
        m.d.comb += [
            axi.arready.eq(packetizer.arready),
            packetizer.source.eq(self.source),
            axi.rid.eq(responses.rid),
            axi.rdata.eq(responses.rdata),
            axi.rresp.eq(responses.rresp),
            axi.rlast.eq(responses.rlast),
            axi.rvalid.eq(responses.rvalid),
            responses.rready.eq(axi.rready),
            self.stray_completions.eq(responses.stray_completions),
        ]
        wiring.connect(m, tags.allocate, packetizer.tag)
        wiring.connect(m, responses.free, tags.free)
        wiring.connect(m, packetizer.burst, responses.burst)
        wiring.connect(m, packetizer.sent, responses.sent)
        wiring.connect(m, packetizer.flit, wiring.flipped(self.request))
        wiring.connect(m, wiring.flipped(self.completion), responses.completion)
        return m
