"""The ingress checks of every input port, and the registers they read."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import COMPLETION_VC, FLIT_BITS, HEADER_FLIT, NON_POSTED, Command, FlitKind
from ..params import SwitchParams
from . import csr
from .signals import (
    COUNTER_BITS,
    DROP_REASONS,
    ID_BITS,
    PARTITION_BITS,
    Drop,
    header_field,
)


def _transaction(flit, name: str):
    return header_field(flit, "body", "message", "transaction", name)


class Router(wiring.Component):
    """Routing table, partitions and port IDs (written through the CSR bus); per input port,
    the output a header goes to or the reason it is dropped; drop counters; error completions.

    For the header on ``header[i]``, combinationally: ``port[i]`` is the routing table's output
    for the destination and ``drop[i]`` is ``Drop.NONE``, or the first reason that applies of
    ``NO_ROUTE`` (no valid entry, or an entry naming a port the switch does not have),
    ``PARTITION`` (that output is in another partition than port ``i``) and ``SPOOFED`` (the
    source ID is not the one assigned to port ``i``). When the input unit takes the header
    (``take[i]``) and it is dropped, its counter goes up. A dropped non-posted request must be
    answered (``answer[i]``): ``completion[i]`` is the answer, an ``ERROR_RESPONSE`` header to
    the requester on the completion VC, with the request's tag and address, from the endpoint
    it was sent to; the input unit sends it back out of port ``i``.

    The routing table is one memory with a combinational read port per input, which is what a
    port-replicated table looks like to a simulator.
    """

    def __init__(self, params: SwitchParams) -> None:
        self.params = params
        k = params.ports
        super().__init__({
            "csr": Out(csr.CSR_BUS),
            "header": In(data.ArrayLayout(FLIT_BITS, k)),
            "take": In(k),
            "port": Out(data.ArrayLayout(params.port_bits, k)),
            "drop": Out(data.ArrayLayout(Drop, k)),
            "answer": Out(k),
            "completion": Out(data.ArrayLayout(FLIT_BITS, k)),
            "drops": Out(data.ArrayLayout(COUNTER_BITS, len(DROP_REASONS))),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        k = params.ports
        entry_layout = data.StructLayout({"port": params.port_bits, "valid": 1})
        m.submodules.table = table = Memory(shape=entry_layout, depth=1 << ID_BITS, init=[])
        partition = Signal(data.ArrayLayout(PARTITION_BITS, k))
        port_id = Signal(data.ArrayLayout(ID_BITS, k), init=list(range(k)))
        drops = Signal(data.ArrayLayout(COUNTER_BITS, len(DROP_REASONS)))
        m.d.comb += self.drops.eq(drops)

        for i in range(k):
            header = self.header[i]
            lookup = table.read_port(domain="comb")
            m.d.comb += lookup.addr.eq(_transaction(header, "destination"))
            output = lookup.data.port
            no_route = ~lookup.data.valid | (output >= k)
            other_partition = partition[output] != partition[i]
            spoofed = _transaction(header, "source") != port_id[i]
            m.d.comb += [
                self.port[i].eq(output),
                self.drop[i].eq(Mux(no_route, Drop.NO_ROUTE,
                                    Mux(other_partition, Drop.PARTITION,
                                        Mux(spoofed, Drop.SPOOFED, Drop.NONE)))),
            ]
            command = _transaction(header, "command")
            non_posted = Cat(command == c for c in NON_POSTED).any()
            m.d.comb += self.answer[i].eq((self.drop[i] != Drop.NONE) & non_posted)
            completion = Signal(HEADER_FLIT, name=f"completion_{i}")
            transaction = completion.body.message.transaction
            m.d.comb += [
                completion.body.link.kind.eq(FlitKind.PACKET),
                completion.body.link.vc.eq(COMPLETION_VC),
                transaction.command.eq(Command.ERROR_RESPONSE),
                transaction.destination.eq(_transaction(header, "source")),
                transaction.source.eq(_transaction(header, "destination")),
                transaction.tag.eq(_transaction(header, "tag")),
                transaction.address.eq(_transaction(header, "address")),
            ]
            m.d.comb += self.completion[i].eq(completion)

        for n, reason in enumerate(DROP_REASONS):
            count = sum(self.take[i] & (self.drop[i] == reason) for i in range(k))
            m.d.sync += drops[n].eq(drops[n] + count)

        self._csr(m, table, partition, port_id, drops)
        return m

    def _csr(self, m: Module, table: Memory, partition, port_id, drops) -> None:
        k = self.params.ports
        bus = self.csr
        block = bus.address >> (csr.BLOCK.bit_length() - 1)
        index = bus.address[:csr.BLOCK.bit_length() - 1]
        written = data.View(csr.ROUTE_ENTRY, bus.write_data)

        write = table.write_port()
        m.d.comb += [write.addr.eq(index),
                     write.data.port.eq(written.port),
                     write.data.valid.eq(written.valid),
                     write.en.eq(bus.write & (block == csr.ROUTE // csr.BLOCK)
                                 & (index < table.depth))]
        with m.If(bus.write):
            for port in range(k):
                with m.If(index == port):
                    with m.If(block == csr.PARTITION // csr.BLOCK):
                        m.d.sync += partition[port].eq(bus.write_data)
                    with m.If(block == csr.PORT_ID // csr.BLOCK):
                        m.d.sync += port_id[port].eq(bus.write_data)

        read = table.read_port()
        m.d.comb += read.addr.eq(index)
        read_route = Signal()
        value = Signal(csr.DATA_BITS)
        m.d.sync += [read_route.eq(block == csr.ROUTE // csr.BLOCK), value.eq(0)]
        with m.If(bus.read):
            for port in range(k):
                with m.If(index == port):
                    with m.If(block == csr.PARTITION // csr.BLOCK):
                        m.d.sync += value.eq(partition[port])
                    with m.If(block == csr.PORT_ID // csr.BLOCK):
                        m.d.sync += value.eq(port_id[port])
            for n in range(len(DROP_REASONS)):
                with m.If((block == csr.DROPS // csr.BLOCK) & (index == n)):
                    m.d.sync += value.eq(drops[n])
        entry = Signal(csr.ROUTE_ENTRY)
        m.d.comb += [entry.port.eq(read.data.port), entry.valid.eq(read.data.valid),
                     bus.read_data.eq(Mux(read_route, entry.as_value(), value))]
