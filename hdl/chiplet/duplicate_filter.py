"""The chiplet's table of WRITE keys, shared by its far sides, so that each WRITE is carried
out once however many times it arrives (docs/chiplet.md, "Executing once")."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from ..params import ChipletParams
from .responder_signals import (
    FILTER_ENTRY,
    SOURCE_BITS,
    filter_port_signature,
    plane_bits,
)
from .write_signals import tag_bits


def bank_address_bits(params: ChipletParams) -> int:
    """Width of an entry's address inside its bank: the tag index, then the source."""
    return tag_bits(params) + SOURCE_BITS


def priority_order(bank: int, lanes: int) -> list[int]:
    """The ports in the order a bank serves them: the port of the lane whose own plane the
    bank holds (port ``bank``, when there is one) first, then the others, lowest first."""
    home = [bank] if bank < lanes else []
    return home + [port for port in range(lanes) if port != bank]


class DuplicateFilter(wiring.Component):
    """Per plane, source and tag index, the last ``WRITE`` key seen: its generation, its state
    (none, pending, done) and, once done, whether it succeeded. The chiplet's far sides
    (``lanes`` of them) share it; far side ``i`` uses port ``i``, and its own plane is ``i``.

    **Structure.** One bank per plane (``links`` banks), each an
    ``amaranth.lib.memory.Memory`` of :data:`FILTER_ENTRY` (4 bits) with
    ``2 ** (tag_bits + SOURCE_BITS)`` entries (1,024 sources times the tag indices rounded up
    to a power of two), all none at power-up (a reset does not clear them), with one write
    port and one synchronous read port, transparent for the write port.

    **Arbitration.** Per bank and cycle, one lookup: of the ports asking for the bank, the one
    whose own plane it is first, then the lowest numbered. Per bank and cycle, one write: the
    update of the port whose lookup of the bank was taken in the previous cycle (at most one
    port: one lookup a cycle), else one record, in the lookups' order. In normal operation
    far side ``p`` is the only one to use bank ``p`` and nothing waits: a far side updates
    at most every other cycle, so its record waits at most one cycle.

    **Why a decision is safe.** A far side decides on a key with the entry its lookup
    returned in the previous cycle. That entry includes every write up to the lookup's cycle
    (the read port is transparent), and in the decision's cycle the only write the bank takes
    is the deciding port's own update; the decisions that write (carry out, refuse) are
    therefore made with the value the table has, and two ports never both carry out a key.
    A record changes a pending entry to done, which no decision made on the pending entry
    missed: it waited.

    Members
    -------
    ports : In(filter_port_signature(params)).array(lanes)
        ``lookup.ready`` is the grant above, in the cycle of the request (it depends on
        ``lookup.valid`` and the plane of every port); a lookup of a plane at or beyond
        ``links`` is never taken. ``entry_valid`` is high, and ``entry`` the entry looked
        up, in the cycle after a lookup was taken (latency 1); otherwise ``entry`` shows the
        read data of the bank the port last looked up, which other ports' lookups change.
        ``update`` is written at the entry looked up when ``update_valid`` is high with
        ``entry_valid``, and never waits. ``record.ready`` is the grant above, in the cycle
        of the request; the entry is written at the clock edge. A lookup of an entry in the
        cycle it is written returns the new value.
    """

    def __init__(self, params: ChipletParams, lanes: int) -> None:
        if lanes < 1:
            raise ValueError(f"DuplicateFilter lanes={lanes}: at least one far side is needed.")
        self.params = params
        self.lanes = lanes
        super().__init__({"ports": In(filter_port_signature(params)).array(lanes)})

    def elaborate(self, platform) -> Module:
        m = Module()
        params, lanes, ports = self.params, self.lanes, self.ports
        banks = params.links
        address_bits = bank_address_bits(params)

        # What each port's lookup asks for, and what it was granted in the last cycle.
        addresses = []
        held = [Signal(name=f"held_{port}") for port in range(lanes)]
        held_plane = [Signal(plane_bits(params), name=f"held_plane_{port}")
                      for port in range(lanes)]
        held_address = [Signal(address_bits, name=f"held_address_{port}")
                        for port in range(lanes)]
        for port, interface in enumerate(ports):
            address = Signal(address_bits, name=f"lookup_address_{port}")
            payload = interface.lookup.payload
            m.d.comb += address.eq(Cat(payload.index, payload.source))
            addresses.append(address)

        read_grants = [[Signal(name=f"read_grant_{bank}_{port}") for port in range(lanes)]
                       for bank in range(banks)]
        record_grants = [[Signal(name=f"record_grant_{bank}_{port}") for port in range(lanes)]
                         for bank in range(banks)]
        read_data = []
        for bank in range(banks):
            memory = m.submodules[f"bank_{bank}"] = Memory(shape=FILTER_ENTRY,
                                                           depth=1 << address_bits, init=[])
            write = memory.write_port()
            read = memory.read_port(transparent_for=(write,))
            read_data.append(read.data)
            order = priority_order(bank, lanes)

            # The lookup of this bank, in priority order.
            taken = Const(0)
            for port in order:
                lookup = ports[port].lookup
                wants = Signal(name=f"read_request_{bank}_{port}")
                m.d.comb += [wants.eq(lookup.valid & (lookup.payload.plane == bank)),
                             read_grants[bank][port].eq(wants & ~taken)]
                taken = taken | wants
            m.d.comb += read.en.eq(taken)
            with m.Switch(Cat(read_grants[bank][port] for port in range(lanes))):
                for port in range(lanes):
                    with m.Case(1 << port):
                        m.d.comb += read.addr.eq(addresses[port])

            # The write: the update of the port holding this bank's lookup, else a record.
            updates = []
            for port in range(lanes):
                update = Signal(name=f"update_{bank}_{port}")
                m.d.comb += update.eq(ports[port].update_valid & held[port]
                                      & (held_plane[port] == bank))
                updates.append(update)
            updating = Signal(name=f"updating_{bank}")
            m.d.comb += updating.eq(Cat(updates).any())
            taken = updating
            for port in order:
                record = ports[port].record
                wants = Signal(name=f"record_request_{bank}_{port}")
                m.d.comb += [wants.eq(record.valid & (record.payload.address.plane == bank)),
                             record_grants[bank][port].eq(wants & ~taken)]
                taken = taken | wants
            m.d.comb += write.en.eq(taken)
            with m.Switch(Cat(*updates, *(record_grants[bank][port] for port in range(lanes)))):
                for port in range(lanes):
                    with m.Case(1 << port):
                        m.d.comb += [write.addr.eq(held_address[port]),
                                     write.data.eq(ports[port].update)]
                for port in range(lanes):
                    with m.Case(1 << (lanes + port)):
                        record = ports[port].record.payload
                        m.d.comb += [write.addr.eq(Cat(record.address.index,
                                                       record.address.source)),
                                     write.data.eq(record.entry)]

        for port, interface in enumerate(ports):
            granted = Signal(name=f"lookup_taken_{port}")
            m.d.comb += [
                granted.eq(Cat(read_grants[bank][port] for bank in range(banks)).any()),
                interface.lookup.ready.eq(granted),
                interface.record.ready.eq(
                    Cat(record_grants[bank][port] for bank in range(banks)).any()),
                interface.entry_valid.eq(held[port]),
            ]
            m.d.sync += held[port].eq(granted)
            with m.If(granted):
                m.d.sync += [held_plane[port].eq(interface.lookup.payload.plane),
                             held_address[port].eq(addresses[port])]
            with m.Switch(held_plane[port]):
                for bank in range(banks):
                    with m.Case(bank):
                        m.d.comb += interface.entry.eq(read_data[bank])
        return m
