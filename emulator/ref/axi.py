"""AXI4 burst semantics as an untimed reference, and a byte-exact reference memory.

Everything here is public: ARM IHI 0022, *AMBA AXI and ACE Protocol Specification* (AXI4),
section A3.4 (burst length, size and type, the address and byte-lane equations and their
pseudocode, write strobes). Names follow the specification: ``Number_Bytes = 2**size``,
``Burst_Length = length``, ``Data_Bus_Bytes = bus_bytes``.

Per beat ``N`` (from 0 here) of a burst starting at ``address``:

* FIXED: every beat is at ``address`` with the first beat's byte lanes.
* INCR: beat 0 at ``address``, beat N at ``Aligned_Address + N * Number_Bytes``.
* WRAP: as INCR, but an address that reaches ``Wrap_Boundary + Number_Bytes * length`` goes
  back to ``Wrap_Boundary`` (the start rounded down to the burst's total size).
* The active byte lanes run from ``address mod bus_bytes`` up to the end of the
  ``Number_Bytes``-aligned container that holds the address: a narrow beat uses part of the
  bus, an unaligned first beat (or every beat of an unaligned FIXED burst) starts late.
* A write writes exactly the bytes whose lane is active and whose WSTRB bit is set; a strobe
  outside the active lanes is a protocol error.

Legality (:func:`burst_errors`): AxBURST 0b11 is reserved; ``Number_Bytes`` at most the bus
width; INCR 1 to 256 beats, FIXED 1 to 16, WRAP 2, 4, 8 or 16 with an address aligned to
``Number_Bytes``; an INCR burst does not cross a 4 KiB boundary. Exclusive accesses and the
cache, protection, QoS and region attributes are not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hdl.chiplet.axi import LEN_BITS, SIZE_BITS, BurstType

#: No INCR burst may cross a boundary of this many bytes.
PAGE_BYTES = 4096
#: Most beats of an INCR burst, and of a FIXED or WRAP burst.
MAX_INCR_BEATS = 1 << LEN_BITS
MAX_FIXED_BEATS = 16
WRAP_BEATS = (2, 4, 8, 16)
#: Widest data bus the AxSIZE field can describe, in bytes.
MAX_BUS_BYTES = 1 << ((1 << SIZE_BITS) - 1)


class AxiBurstError(ValueError):
    """A burst, or the data of a write burst, that breaks the AXI4 rules."""


@dataclass(frozen=True)
class Burst:
    """One AXI4 burst as its address channel describes it.

    Attributes
    ----------
    address : int
        AxADDR, the start address in bytes.
    length : int
        Beats in the burst, ``AxLEN + 1``.
    size : int
        AxSIZE: each beat carries up to ``2**size`` bytes.
    burst : int
        AxBURST, a :class:`BurstType` value (kept as an int so that the reserved 0b11 can be
        described and refused).
    """

    address: int
    length: int
    size: int
    burst: int = BurstType.INCR.value

    @property
    def number_bytes(self) -> int:
        return 1 << self.size

    @property
    def axlen(self) -> int:
        return self.length - 1

    @property
    def kind(self) -> BurstType:
        return BurstType(self.burst)

    @classmethod
    def from_fields(cls, axaddr: int, axlen: int, axsize: int, axburst: int) -> Burst:
        """The burst an address channel beat describes (``AxLEN`` is beats minus one)."""
        return cls(axaddr, axlen + 1, axsize, axburst)


@dataclass(frozen=True)
class Beat:
    """One data transfer of a burst: its address and its active byte lanes.

    Attributes
    ----------
    address : int
        ``Address_N`` of the specification (unaligned only for a first beat, or every beat
        of a FIXED burst, that starts unaligned).
    lower_lane, upper_lane : int
        The first and last active byte lanes, inclusive, counted from lane 0 of the bus.
    bus_bytes : int
        Byte lanes of the data bus.
    """

    address: int
    lower_lane: int
    upper_lane: int
    bus_bytes: int

    @property
    def lanes(self) -> int:
        """The active byte lanes as a WSTRB-shaped mask."""
        return ((1 << (self.upper_lane + 1)) - 1) & ~((1 << self.lower_lane) - 1)

    @property
    def word_address(self) -> int:
        """Address of byte lane 0 in this beat."""
        return self.address - self.address % self.bus_bytes

    @property
    def byte_addresses(self) -> range:
        """The addresses this beat reads or writes, in lane order."""
        return range(self.word_address + self.lower_lane, self.word_address + self.upper_lane + 1)


def _check_bus(bus_bytes: int) -> None:
    if bus_bytes < 1 or bus_bytes & (bus_bytes - 1) or bus_bytes > MAX_BUS_BYTES:
        raise ValueError(f"a data bus of {bus_bytes} bytes is not an AXI4 bus: it must be a "
                         f"power of two from 1 to {MAX_BUS_BYTES} bytes")


def burst_errors(burst: Burst, bus_bytes: int, address_bits: int | None = None) -> list[str]:
    """Every AXI4 rule ``burst`` breaks on a bus of ``bus_bytes`` lanes; empty when legal."""
    _check_bus(bus_bytes)
    errors = []
    if burst.burst not in {kind.value for kind in BurstType}:
        errors.append(f"AxBURST = {burst.burst:#04b} is reserved")
        return errors
    if not 0 <= burst.size < 1 << SIZE_BITS:
        errors.append(f"AxSIZE = {burst.size} does not fit {SIZE_BITS} bits")
        return errors
    if burst.number_bytes > bus_bytes:
        errors.append(f"AxSIZE = {burst.size} ({burst.number_bytes} bytes) is wider than the "
                      f"{bus_bytes}-byte data bus")
    if address_bits is not None and not 0 <= burst.address < 1 << address_bits:
        errors.append(f"address {burst.address:#x} does not fit {address_bits} bits")
    kind = burst.kind
    if kind == BurstType.INCR and not 1 <= burst.length <= MAX_INCR_BEATS:
        errors.append(f"an INCR burst has 1 to {MAX_INCR_BEATS} beats, not {burst.length}")
    if kind == BurstType.FIXED and not 1 <= burst.length <= MAX_FIXED_BEATS:
        errors.append(f"a FIXED burst has 1 to {MAX_FIXED_BEATS} beats, not {burst.length}")
    if kind == BurstType.WRAP:
        if burst.length not in WRAP_BEATS:
            errors.append(f"a WRAP burst has 2, 4, 8 or 16 beats, not {burst.length}")
        if burst.address % burst.number_bytes:
            errors.append(f"a WRAP burst starts aligned to its {burst.number_bytes}-byte beats; "
                          f"{burst.address:#x} is not")
    if kind == BurstType.INCR and burst.length >= 1:
        aligned = burst.address - burst.address % burst.number_bytes
        last = aligned + burst.length * burst.number_bytes - 1
        if last // PAGE_BYTES != burst.address // PAGE_BYTES:
            errors.append(f"the INCR burst from {burst.address:#x} to {last:#x} crosses a "
                          f"{PAGE_BYTES}-byte boundary")
    return errors


def check_burst(burst: Burst, bus_bytes: int, address_bits: int | None = None) -> None:
    """Raise :class:`AxiBurstError` naming every rule ``burst`` breaks."""
    if errors := burst_errors(burst, bus_bytes, address_bits):
        raise AxiBurstError(f"illegal AXI4 burst {burst}: " + "; ".join(errors))


def beats(burst: Burst, bus_bytes: int) -> list[Beat]:
    """The beats of a legal ``burst`` in order (the pseudocode of ARM IHI 0022, A3.4)."""
    check_burst(burst, bus_bytes)
    number_bytes = burst.number_bytes
    total = number_bytes * burst.length
    wrap_boundary = burst.address - burst.address % total
    address = burst.address
    result = []
    for _ in range(burst.length):
        word = address - address % bus_bytes
        aligned = address - address % number_bytes
        result.append(Beat(address, address - word, aligned + number_bytes - 1 - word, bus_bytes))
        if burst.kind == BurstType.FIXED:
            continue
        address = aligned + number_bytes
        if burst.kind == BurstType.WRAP and address >= wrap_boundary + total:
            address = wrap_boundary
    return result


def strobe_errors(beat: Beat, strobe: int) -> list[str]:
    """Why WSTRB ``strobe`` is not allowed on ``beat``; empty when it is."""
    if strobe >> beat.bus_bytes:
        return [f"WSTRB {strobe:#x} is wider than the {beat.bus_bytes}-lane bus"]
    if outside := strobe & ~beat.lanes:
        return [(f"WSTRB {strobe:#x} enables lanes {outside:#x} outside the active lanes "
                 f"{beat.lanes:#x} of the beat at {beat.address:#x}")]
    return []


def lane_bytes(word: int, beat: Beat) -> list[int]:
    """The bytes of data word ``word`` on ``beat``'s active lanes, in lane order."""
    return [(word >> (8 * lane)) & 0xFF for lane in range(beat.lower_lane, beat.upper_lane + 1)]


class ReferenceMemory:
    """A sparse byte-addressed memory behind an AXI4 bus of ``bus_bytes`` lanes.

    Bytes never written read as zero, as a RAM model cleared at start does.
    """

    def __init__(self, bus_bytes: int) -> None:
        _check_bus(bus_bytes)
        self.bus_bytes = bus_bytes
        self.contents: dict[int, int] = {}

    def write(self, burst: Burst, data: Sequence[int], strobes: Sequence[int] | None = None,
              ) -> None:
        """Apply a write burst: ``data`` and ``strobes`` hold one bus word and one WSTRB per
        beat (all active lanes when ``strobes`` is not given). Beats apply in order, so a
        later beat of a FIXED burst overwrites an earlier one."""
        burst_beats = beats(burst, self.bus_bytes)
        if len(data) != len(burst_beats):
            raise AxiBurstError(f"{burst} has {len(burst_beats)} beats, {len(data)} data words "
                                "given")
        if strobes is None:
            strobes = [beat.lanes for beat in burst_beats]
        if len(strobes) != len(burst_beats):
            raise AxiBurstError(f"{burst} has {len(burst_beats)} beats, {len(strobes)} strobes "
                                "given")
        for number, (beat, strobe) in enumerate(zip(burst_beats, strobes, strict=True)):
            if errors := strobe_errors(beat, strobe):
                raise AxiBurstError(f"beat {number} of {burst}: {errors[0]}")
        for beat, word, strobe in zip(burst_beats, data, strobes, strict=True):
            for lane in range(beat.lower_lane, beat.upper_lane + 1):
                if strobe >> lane & 1:
                    self.contents[beat.word_address + lane] = (word >> (8 * lane)) & 0xFF

    def read(self, burst: Burst) -> list[int]:
        """The data words of a read burst: active lanes from memory, the other lanes zero."""
        words = []
        for beat in beats(burst, self.bus_bytes):
            word = 0
            for lane in range(beat.lower_lane, beat.upper_lane + 1):
                word |= self.contents.get(beat.word_address + lane, 0) << (8 * lane)
            words.append(word)
        return words

    def peek(self, address: int, length: int) -> bytes:
        return bytes(self.contents.get(address + offset, 0) for offset in range(length))

    def poke(self, address: int, data: Iterable[int]) -> None:
        for offset, value in enumerate(data):
            self.contents[address + offset] = value
