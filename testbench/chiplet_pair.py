"""Two chiplets in a cocotb test: address maps, monitors on every AXI4 port, the reference.

Each ASIC's subordinate port is watched: a write burst is applied to the reference fabric
(:class:`emulator.ref.chiplet.Fabric`) when its last W beat is taken, which gives the BRESP the
port must return; a read burst is read from the reference when its AR is taken, which gives
every R beat. BRESPs and R beats are matched per ID, in order. The stimulus keeps at most one
transaction under way per page, so the reference's one-at-a-time order and the fabric's
concurrency give the same memory.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

from cocotb.triggers import RisingEdge

from emulator.ref.axi import PAGE_BYTES, Burst
from emulator.ref.chiplet import AddressMap, Endpoint, Fabric, Window
from hdl.chiplet.axi import Response
from hdl.params import ChipletParams

#: Endpoint IDs of the two chiplets (not neighbours, so their home planes differ).
ENDPOINTS = {"a": 3, "b": 12}
#: Bytes of each ASIC's memory behind its manager port.
MEMORY_BYTES = 16 * PAGE_BYTES
#: Global pages of each ASIC's map: the other's whole memory, a gap (DECERR), and two pages
#: mapped beyond the other's memory (the far side answers ERROR_RESPONSE: SLVERR).
MEMORY_BASE = 0x10_0000
GAP_BASE = 0x30_0000
BEYOND_BASE = 0x40_0000
OKAY_PAGES = [MEMORY_BASE + page * PAGE_BYTES for page in range(MEMORY_BYTES // PAGE_BYTES)]
SLVERR_PAGES = [BEYOND_BASE, BEYOND_BASE + PAGE_BYTES]
DECERR_PAGES = [GAP_BASE]


def other(end: str) -> str:
    return "b" if end == "a" else "a"


def pair_address_maps(params: ChipletParams) -> dict[str, AddressMap]:
    """Each chiplet's windows onto the other's memory."""
    return {end: AddressMap(params, [
        Window(MEMORY_BASE, MEMORY_BYTES, ENDPOINTS[other(end)], 0),
        Window(BEYOND_BASE, len(SLVERR_PAGES) * PAGE_BYTES, ENDPOINTS[other(end)],
               MEMORY_BYTES)]) for end in ENDPOINTS}


def pair_fabric(params: ChipletParams) -> Fabric:
    maps = pair_address_maps(params)
    return Fabric(params, {ENDPOINTS[end]: Endpoint(maps[end], MEMORY_BYTES) for end in maps})


@dataclass
class _Read:
    burst: Burst
    responses: tuple[Response, ...]
    data: tuple[int | None, ...]
    beat: int = 0


@dataclass
class PortScoreboard:
    """Everything one subordinate port must answer, and what it did answer."""

    writes: dict[int, deque[Response]] = field(default_factory=lambda: defaultdict(deque))
    reads: dict[int, deque[_Read]] = field(default_factory=lambda: defaultdict(deque))
    responses: Counter = field(default_factory=Counter)
    writes_checked: int = 0
    reads_checked: int = 0
    beats_checked: int = 0

    @property
    def outstanding(self) -> int:
        return sum(map(len, self.writes.values())) + sum(map(len, self.reads.values()))


class PairScoreboard:
    """Watches ``{end}_s_axi`` of both chiplets of a ``ChipletPair`` against the reference."""

    def __init__(self, dut, params: ChipletParams) -> None:
        self.dut = dut
        self.params = params
        self.fabric = pair_fabric(params)
        self.ports = {end: PortScoreboard() for end in ENDPOINTS}

    async def monitor(self, end: str) -> None:
        dut, port = self.dut, self.ports[end]
        source = ENDPOINTS[end]

        def signal(name: str):
            return getattr(dut, f"{end}_s_axi__{name}").value

        def burst(prefix: str) -> Burst:
            return Burst.from_fields(*(signal(f"{prefix}{name}").to_unsigned()
                                       for name in ("addr", "len", "size", "burst")))

        addresses: deque[tuple[Burst, int]] = deque()
        words: list[int] = []
        strobes: list[int] = []
        while True:
            await RisingEdge(dut.clk)
            if signal("awvalid") and signal("awready"):
                addresses.append((burst("aw"), signal("awid").to_unsigned()))
            if signal("wvalid") and signal("wready"):
                words.append(signal("wdata").to_unsigned())
                strobes.append(signal("wstrb").to_unsigned())
                if signal("wlast"):
                    assert addresses, f"{end}: write data taken before any write address"
                    write, awid = addresses.popleft()
                    result = self.fabric.write(source, write, words, strobes)
                    port.writes[awid].append(result.response)
                    words, strobes = [], []
            if signal("bvalid") and signal("bready"):
                bid, bresp = signal("bid").to_unsigned(), Response(signal("bresp").to_unsigned())
                assert port.writes[bid], f"{end}: BRESP for AWID {bid} with no write pending"
                expected = port.writes[bid].popleft()
                assert bresp == expected, (f"{end}: AWID {bid} got {bresp.name}, "
                                           f"expected {expected.name}")
                port.writes_checked += 1
                port.responses[f"B {bresp.name}"] += 1
            if signal("arvalid") and signal("arready"):
                read = burst("ar")
                result = self.fabric.read(source, read)
                port.reads[signal("arid").to_unsigned()].append(
                    _Read(read, result.responses, result.data))
            if signal("rvalid") and signal("rready"):
                self._beat(end, port, signal("rid").to_unsigned(),
                           Response(signal("rresp").to_unsigned()),
                           signal("rdata").to_unsigned(), int(signal("rlast")))

    def _beat(self, end: str, port: PortScoreboard, rid: int, rresp: Response, rdata: int,
              rlast: int) -> None:
        assert port.reads[rid], f"{end}: read data for ARID {rid} with no read pending"
        read = port.reads[rid][0]
        number = read.beat
        where = f"{end}: ARID {rid}, beat {number} of {read.burst}"
        assert rresp == read.responses[number], \
            f"{where}: RRESP {rresp.name}, expected {read.responses[number].name}"
        if rresp == Response.OKAY:
            assert rdata == read.data[number], \
                f"{where}: data {rdata:#x}, expected {read.data[number]:#x}"
        assert rlast == (number == read.burst.length - 1), f"{where}: RLAST {rlast}"
        port.beats_checked += 1
        port.responses[f"R {rresp.name}"] += 1
        read.beat += 1
        if rlast:
            port.reads[rid].popleft()
            port.reads_checked += 1

    def memory_of(self, end: str) -> dict[int, int]:
        """The reference's bytes of ``end``'s memory (address: byte), written ones only."""
        return self.fabric.endpoints[ENDPOINTS[end]].memory.contents

    def assert_drained(self) -> None:
        for end, port in self.ports.items():
            assert port.outstanding == 0, f"{end}: {port.outstanding} transactions unanswered"
