"""The switch chip's control and status registers: the bus and the address map.

A small synchronous bus: a write takes effect at the clock edge of the cycle in which
``write`` is high; a read returns ``read_data`` in the cycle after ``read`` was high. Software
(the testbench, a management processor) and the RTL both import the map from here.

=====================  ==============================================================
Address                Register
=====================  ==============================================================
``ROUTE + id``         routing table entry of endpoint ``id``: :data:`ROUTE_ENTRY`
``PARTITION + port``   partition of ``port`` (``PARTITION_BITS`` bits; reset 0)
``PORT_ID + port``     endpoint ID assigned to ``port`` (reset: the port's number)
``DROPS + n``          read only: packets dropped for ``DROP_REASONS[n]``
=====================  ==============================================================

Every routing table entry is invalid after reset: nothing is forwarded until software writes
the table.
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .signals import DROP_REASONS, ENDPOINT_IDS

#: Width of a CSR address and of a CSR word.
ADDRESS_BITS = 16
DATA_BITS = 32

#: Base address of each register block. Each block has room for ``BLOCK`` registers.
BLOCK = 0x1000
ROUTE = 0x0000
PARTITION = 0x2000
PORT_ID = 0x3000
DROPS = 0x4000

#: A routing table entry as software writes it: the output port, and whether it is valid.
ROUTE_ENTRY = data.StructLayout({"port": 16, "reserved": 15, "valid": 1})

#: The bus, seen from the switch.
CSR_BUS = wiring.Signature({
    "address": In(ADDRESS_BITS),
    "write": In(1),
    "write_data": In(DATA_BITS),
    "read": In(1),
    "read_data": Out(DATA_BITS),
})


def _check() -> None:
    assert ROUTE_ENTRY.size == DATA_BITS
    assert ENDPOINT_IDS <= BLOCK
    assert len(DROP_REASONS) <= BLOCK


_check()
