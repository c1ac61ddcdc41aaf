"""The AXI4 interface of the chiplet, defined once.

The ASIC side of the chiplet is AXI4 (a modelling choice: the real interface is not public).
Widths fixed by the AXI4 specification (ARM IHI 0022, AMBA AXI and ACE Protocol
Specification, sections A2 and A3.4) are constants here; the data, ID and address widths come
from :class:`hdl.params.ChipletParams`. The user signals are left out.

Signal names are the specification's, in lower case (``awaddr``, ``wstrb``, ``rlast``), so a
port named ``s_axi`` appears in Verilog as ``s_axi__awaddr``: cocotbext-axi finds it with
``AxiBus.from_prefix(dut, "s_axi", bus_separator="__")``.
"""

from __future__ import annotations

from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from ..params import ChipletParams

#: AxLEN: beats in a burst minus one.
LEN_BITS = 8
#: AxSIZE: log2 of the bytes in one beat.
SIZE_BITS = 3
#: AxBURST, xRESP, AxLOCK, AxCACHE, AxPROT, AxQOS, AxREGION.
BURST_BITS = 2
RESP_BITS = 2
LOCK_BITS = 1
CACHE_BITS = 4
PROT_BITS = 3
QOS_BITS = 4
REGION_BITS = 4


def data_bytes(params: ChipletParams) -> int:
    """Byte lanes of the data bus: the width of WSTRB."""
    return params.axi_data_bits // 8


class BurstType(enum.Enum, shape=BURST_BITS):
    """AxBURST. The encoding 0b11 is reserved."""

    FIXED = 0  #: every beat at the same address
    INCR = 1  #: each beat at the next address
    WRAP = 2  #: incrementing, wrapping at a boundary of the burst's total size


class Response(enum.Enum, shape=RESP_BITS):
    """BRESP and RRESP."""

    OKAY = 0
    EXOKAY = 1  #: exclusive access succeeded (the chiplet makes no exclusive accesses)
    SLVERR = 2  #: the access reached a slave, which reported an error
    DECERR = 3  #: no slave at that address


def _address_channel(prefix: str, params: ChipletParams) -> dict[str, wiring.Member]:
    return {
        f"{prefix}id": Out(params.axi_id_bits),
        f"{prefix}addr": Out(params.axi_address_bits),
        f"{prefix}len": Out(LEN_BITS),
        f"{prefix}size": Out(SIZE_BITS),
        f"{prefix}burst": Out(BURST_BITS),
        f"{prefix}lock": Out(LOCK_BITS),
        f"{prefix}cache": Out(CACHE_BITS),
        f"{prefix}prot": Out(PROT_BITS),
        f"{prefix}qos": Out(QOS_BITS),
        f"{prefix}region": Out(REGION_BITS),
        f"{prefix}valid": Out(1),
        f"{prefix}ready": In(1),
    }


class AxiSignature(wiring.Signature):
    """One AXI4 interface as its manager (master) sees it: ``Out`` members are driven by the
    manager. A subordinate (slave) port is ``In(AxiSignature(params))``.

    The five channels each hand over a beat in a cycle where both VALID and READY are high.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            **_address_channel("aw", params),
            "wdata": Out(params.axi_data_bits),
            "wstrb": Out(data_bytes(params)),
            "wlast": Out(1),
            "wvalid": Out(1),
            "wready": In(1),
            "bid": In(params.axi_id_bits),
            "bresp": In(Response),
            "bvalid": In(1),
            "bready": Out(1),
            **_address_channel("ar", params),
            "rid": In(params.axi_id_bits),
            "rdata": In(params.axi_data_bits),
            "rresp": In(Response),
            "rlast": In(1),
            "rvalid": In(1),
            "rready": Out(1),
        })

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AxiSignature) and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.params)
