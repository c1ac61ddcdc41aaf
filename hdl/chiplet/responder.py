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
from .responder_signals import filter_port_signature


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

    Each ``WRITE`` is carried out once (docs/chiplet.md, "Executing once"): its key (this far
    side's ``plane``, or a retry's ``retry_plane``; the source; the tag's index and
    generation) is looked up in the chiplet's :class:`~hdl.chiplet.duplicate_filter.
    DuplicateFilter` through ``filter``. A key pending waits; a key done is a duplicate,
    answered with the recorded outcome without a burst; any other is carried out (the entry
    pending, then done when its B is valid) or refused (done, not ok). ``READ``s are carried
    out every time.

    Members
    -------
    request : In(stream.Signature(DELIVERED_FLIT))
        Request packets (header flit first, ``last`` on the final flit). Taken one flit per
        cycle while the manager port and ``completion`` keep up, and no ``WRITE`` waits for
        its key.
    m_axi : Out(AxiSignature(params))
        The AXI4 manager port: AW/W/B for writes, AR/R for reads, several bursts of each
        outstanding (up to ``outstanding_tags``); AWID and ARID are 0.
    completion : Out(stream.Signature(DELIVERED_FLIT))
        Completion packets: write-side answers (``WRITE_RESPONSE``, refusals, duplicates) in
        request order, read answers in request order, merged a whole packet at a time, round
        robin.
    memory_bytes : In(axi_address_bits + 1)
        Size of the memory behind ``m_axi``: requests must end at or below it.
    filter : Out(filter_port_signature(params))
        This far side's port of the chiplet's duplicate filter (port ``plane``; one
        ``wiring.connect``). A lookup is asked for in the cycle a ``WRITE``'s header and
        option flits are complete and in each cycle it is being decided; ``update`` with the
        decision to carry out or refuse it; ``record`` while the B of a ``WRITE`` is valid
        (B returns in AW order, so it is the oldest ``WRITE`` whose B is to come). BREADY is
        ``record.ready``: B is taken as its key is recorded, whatever ``completion`` does.
    refused_requests : Out(COUNTER_BITS)
        ``READ`` and ``WRITE`` requests answered ``ERROR_RESPONSE`` without a burst (not the
        duplicates).
    unsupported : Out(COUNTER_BITS)
        Packets with any other command, answered (non-posted) or dropped.
    duplicates : Out(COUNTER_BITS)
        ``WRITE``s answered as duplicates, without a burst.
    """

    def __init__(self, params: ChipletParams, plane: int = 0) -> None:
        self.params = params
        self.plane = plane
        # Checks ``plane`` (and the address width) before anything is built.
        self.decoder = RequestDecoder(params, plane)
        super().__init__({
            "request": In(stream.Signature(DELIVERED_FLIT)),
            "m_axi": Out(AxiSignature(params)),
            "completion": Out(stream.Signature(DELIVERED_FLIT)),
            "memory_bytes": In(params.axi_address_bits + 1),
            "filter": Out(filter_port_signature(params)),
            "refused_requests": Out(COUNTER_BITS),
            "unsupported": Out(COUNTER_BITS),
            "duplicates": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        m.submodules.decoder = decoder = self.decoder
        m.submodules.writes = writes = ManagerWrites(params)
        m.submodules.reads = reads = ManagerReads(params)
        m.submodules.merge = merge = PacketMerge(2)
        wiring.connect(m, wiring.flipped(self.request), decoder.request)
        wiring.connect(m, decoder.write, writes.command)
        wiring.connect(m, decoder.data, writes.data)
        wiring.connect(m, decoder.read, reads.command)
        for channel in (writes, reads):
            for name, member in channel.signature.members.items():
                if name in ("command", "data", "completion", "record"):
                    continue
                ours, theirs = getattr(self.m_axi, name), getattr(channel, name)
                m.d.comb += ours.eq(theirs) if member.flow == Out else theirs.eq(ours)
        wiring.connect(m, decoder.lookup, wiring.flipped(self.filter.lookup))
        wiring.connect(m, writes.record, wiring.flipped(self.filter.record))
        m.d.comb += [
            decoder.entry_valid.eq(self.filter.entry_valid),
            decoder.entry.eq(self.filter.entry),
            self.filter.update_valid.eq(decoder.update_valid),
            self.filter.update.eq(decoder.update),
        ]
        wiring.connect(m, reads.completion, merge.flit_in[0])
        wiring.connect(m, writes.completion, merge.flit_in[1])
        wiring.connect(m, merge.flit_out, wiring.flipped(self.completion))
        m.d.comb += [
            decoder.memory_bytes.eq(self.memory_bytes),
            self.refused_requests.eq(decoder.refused_requests),
            self.unsupported.eq(decoder.unsupported),
            self.duplicates.eq(decoder.duplicates),
        ]
        return m
