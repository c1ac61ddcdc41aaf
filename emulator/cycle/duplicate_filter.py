"""Cycle model of the chiplet's duplicate filter (``hdl.chiplet.duplicate_filter.
DuplicateFilter``).

The model holds the RTL's state one for one: per bank (plane) its memory of entries and its
read port's data register; per port whether its lookup was taken in the last cycle, of which
bank and address. Given the values of all input ports in a cycle it gives the values of all
output ports in that cycle, bit for bit the RTL's: ``lookup.ready`` and ``record.ready``
depend on the inputs of the same cycle (the grants), ``entry_valid`` and ``entry`` on the
state only (``entry`` shows the data register of the bank last read by the port, also while
``entry_valid`` is low).

The interface is that of the chiplet's other cycle models (:mod:`emulator.cycle.
chiplet_write`): ports by their dotted RTL path (``"ports.0.lookup.valid"``; a struct payload
as one integer), ``comb(inputs)`` without side effects, ``tick(inputs)`` for the clock edge.
The model starts as the RTL at power-up: every entry none (zero).
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hdl.chiplet.duplicate_filter import bank_address_bits, priority_order
from hdl.chiplet.responder_signals import (
    entry_address_layout,
    filter_port_signature,
    record_layout,
)
from hdl.layouts import field_slice
from hdl.params import ChipletParams


class DuplicateFilterModel:
    """``DuplicateFilter(params, lanes)``, cycle for cycle.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``DuplicateFilter`` by its dotted path, with its width in bits.
    banks : list of bytearray
        Each plane's entries (a ``FILTER_ENTRY`` value per byte), by bank address.
    """

    def __init__(self, params: ChipletParams, lanes: int) -> None:
        if lanes < 1:
            raise ValueError(f"DuplicateFilterModel lanes={lanes}: at least one far side is "
                             "needed.")
        self.params = params
        self.lanes = lanes
        self.links = params.links
        address_bits = bank_address_bits(params)
        self.address_mask = (1 << address_bits) - 1
        self.plane_offset, plane_width = field_slice(entry_address_layout(params), "plane")
        assert self.plane_offset == address_bits
        self.plane_mask = (1 << plane_width) - 1
        self.entry_offset, entry_width = field_slice(record_layout(params), "entry")
        self.entry_mask = (1 << entry_width) - 1
        self.orders = [priority_order(bank, lanes) for bank in range(self.links)]
        self.input_widths: dict[str, int] = {}
        self.output_widths: dict[str, int] = {}
        signature = filter_port_signature(params)
        for path, member, _ in signature.flatten(signature.create()):
            name = ".".join(map(str, path))
            width = Shape.cast(member.shape).width
            # The far side drives the Out members: they are the filter's inputs.
            side = self.input_widths if member.flow == wiring.Out else self.output_widths
            for port in range(lanes):
                side[f"ports.{port}.{name}"] = width
        self._names = [{name: f"ports.{port}.{name}" for name in (
            "lookup.valid", "lookup.payload", "lookup.ready", "entry_valid", "entry",
            "update_valid", "update", "record.valid", "record.payload", "record.ready")}
            for port in range(lanes)]
        depth = 1 << address_bits
        self.banks = [bytearray(depth) for _ in range(self.links)]
        self.read_data = [0] * self.links
        self.held = [0] * lanes
        self.held_plane = [0] * lanes
        self.held_address = [0] * lanes

    def _grants(self, inputs: Mapping[str, int]) -> tuple[list[int | None], list[int | None],
                                                          list[int | None]]:
        """Per bank: the port whose lookup is taken, the port whose update is written, the
        port whose record is taken (None: no such port)."""
        links = self.links
        lookups: list[list[int]] = [[] for _ in range(links)]
        records: list[list[int]] = [[] for _ in range(links)]
        updates: list[int | None] = [None] * links
        for port, names in enumerate(self._names):
            if inputs[names["lookup.valid"]]:
                plane = inputs[names["lookup.payload"]] >> self.plane_offset & self.plane_mask
                if plane < links:
                    lookups[plane].append(port)
            if inputs[names["record.valid"]]:
                plane = inputs[names["record.payload"]] >> self.plane_offset & self.plane_mask
                if plane < links:
                    records[plane].append(port)
            if inputs[names["update_valid"]] and self.held[port] \
                    and self.held_plane[port] < links:
                updates[self.held_plane[port]] = port
        read_grants: list[int | None] = [None] * links
        record_grants: list[int | None] = [None] * links
        for bank in range(links):
            if lookups[bank]:
                read_grants[bank] = self._first(bank, lookups[bank])
            if records[bank] and updates[bank] is None:
                record_grants[bank] = self._first(bank, records[bank])
        return read_grants, updates, record_grants

    def _first(self, bank: int, ports: list[int]) -> int:
        """The port of ``ports`` first in the bank's order."""
        return bank if bank in ports else min(ports)

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        read_grants, _, record_grants = self._grants(inputs)
        outputs = {}
        for port, names in enumerate(self._names):
            outputs[names["lookup.ready"]] = int(port in read_grants)
            outputs[names["record.ready"]] = int(port in record_grants)
            outputs[names["entry_valid"]] = self.held[port]
            plane = self.held_plane[port]
            outputs[names["entry"]] = self.read_data[plane] if plane < self.links else 0
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        read_grants, updates, record_grants = self._grants(inputs)
        names = self._names
        for bank in range(self.links):
            port = updates[bank]
            if port is not None:
                self.banks[bank][self.held_address[port]] = inputs[names[port]["update"]]
            elif (port := record_grants[bank]) is not None:
                record = inputs[names[port]["record.payload"]]
                self.banks[bank][record & self.address_mask] = \
                    record >> self.entry_offset & self.entry_mask
        held = [0] * self.lanes
        for bank in range(self.links):
            port = read_grants[bank]
            if port is None:
                continue
            address = inputs[names[port]["lookup.payload"]] & self.address_mask
            # Transparent: a lookup sees the write of its own cycle.
            self.read_data[bank] = self.banks[bank][address]
            held[port] = 1
            self.held_plane[port] = bank
            self.held_address[port] = address
        self.held = held
