"""The chiplet's far side: request packets in, an AXI4 manager port to the ASIC's memory,
completion packets back."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..link.link_signals import COUNTER_BITS, DELIVERED_FLIT
from ..params import ChipletParams
from .axi import AxiSignature
from .manager_reads import ManagerReads
from .manager_writes import ManagerWrites
from .packet_merge import PacketMerge
from .request_decoder import RequestDecoder


class Responder(wiring.Component):
    """Request decoder, write and read channels of the manager port, and a merge of their
    completions (docs/chiplet.md, "RTL: the far side").

    Each ``WRITE`` or ``READ`` becomes one INCR burst of full bus width (ID 0) on ``m_axi``
    and is answered with ``WRITE_RESPONSE`` or ``READ_RESPONSE`` as
    :meth:`emulator.ref.chiplet.Fabric.serve` answers it, or ``ERROR_RESPONSE`` when BRESP or
    any RRESP is not OKAY. A request that is malformed or reaches at or beyond
    ``memory_bytes`` is answered ``ERROR_RESPONSE`` without a burst; other non-posted
    commands too; posted and unknown packets are dropped. Writes and reads are independent:
    a read is not ordered after an earlier write to the same bytes (a requester waits for
    the ``WRITE_RESPONSE`` first).

    Members
    -------
    request : In(stream.Signature(DELIVERED_FLIT))
        Request packets (header flit first, ``last`` on the final flit). Taken one flit per
        cycle while the manager port and ``completion`` keep up.
    m_axi : Out(AxiSignature(params))
        The AXI4 manager port: AW/W/B for writes, AR/R for reads, several bursts of each
        outstanding (up to ``outstanding_tags``); AWID and ARID are 0.
    completion : Out(stream.Signature(DELIVERED_FLIT))
        Completion packets: write-side answers (``WRITE_RESPONSE``, refusals) in request
        order, read answers in request order, merged a whole packet at a time, round robin.
    memory_bytes : In(axi_address_bits + 1)
        Size of the memory behind ``m_axi``: requests must end at or below it.
    refused_requests : Out(COUNTER_BITS)
        ``READ`` and ``WRITE`` requests answered ``ERROR_RESPONSE`` without a burst.
    unsupported : Out(COUNTER_BITS)
        Packets with any other command, answered (non-posted) or dropped.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            "request": In(stream.Signature(DELIVERED_FLIT)),
            "m_axi": Out(AxiSignature(params)),
            "completion": Out(stream.Signature(DELIVERED_FLIT)),
            "memory_bytes": In(params.axi_address_bits + 1),
            "refused_requests": Out(COUNTER_BITS),
            "unsupported": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        m.submodules.decoder = decoder = RequestDecoder(params)
        m.submodules.writes = writes = ManagerWrites(params)
        m.submodules.reads = reads = ManagerReads(params)
        m.submodules.merge = merge = PacketMerge(2)
        wiring.connect(m, wiring.flipped(self.request), decoder.request)
        wiring.connect(m, decoder.write, writes.command)
        wiring.connect(m, decoder.data, writes.data)
        wiring.connect(m, decoder.read, reads.command)
        for channel in (writes, reads):
            for name, member in channel.signature.members.items():
                if name in ("command", "data", "completion"):
                    continue
                ours, theirs = getattr(self.m_axi, name), getattr(channel, name)
                m.d.comb += ours.eq(theirs) if member.flow == Out else theirs.eq(ours)
        wiring.connect(m, reads.completion, merge.flit_in[0])
        wiring.connect(m, writes.completion, merge.flit_in[1])
        wiring.connect(m, merge.flit_out, wiring.flipped(self.completion))
        m.d.comb += [
            decoder.memory_bytes.eq(self.memory_bytes),
            self.refused_requests.eq(decoder.refused_requests),
            self.unsupported.eq(decoder.unsupported),
        ]
        return m
