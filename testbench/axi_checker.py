"""A passive AXI4 protocol checker for cocotb: watches one interface every clock cycle.

It finds the signals as cocotbext-axi does, from an ``AxiBus`` (``AxiBus.from_prefix(dut,
"s_axi", bus_separator="__")`` for an Amaranth port named ``s_axi``), drives nothing, and works
the same on a subordinate-facing port (the chiplet's AXI4 slave) and on a manager-facing port
(its AXI4 master). Handshakes are sampled at the rising edge, as the cocotbext-axi drivers do.

Every violation is recorded with its cycle (rising edges since the checker started), its
channel and one of these rules (ARM IHI 0022, AXI4, sections A3.2 to A3.4 and the ordering
chapter; see docs/chiplet.md):

``valid-held``   VALID fell before READY took the beat.
``stable``       The payload changed while VALID was high and READY low.
``x-valid``      VALID (or READY while VALID is high) is X or Z after reset.
``x-payload``    A control field (ID, address, length, size, burst, strobes, last, response)
                 is X or Z while VALID is high.
``burst``        An illegal burst (``emulator.ref.axi.burst_errors``).
``wstrb``        WSTRB enables a lane outside the beat's active lanes.
``wlast``        WLAST not on exactly the last beat of a write burst.
``write-data``   A write burst that did not get exactly AWLEN + 1 data beats.
``b-early``      A write response before the write's address and last data beat.
``r-early``      Read data before the read's address.
``rlast``        RLAST not on exactly the last beat of a read burst.
``order``        Read data of one ID that fit a younger burst of that ID, not the oldest.
                 Read data of different IDs may come in any order and interleave (each ID's
                 bursts are followed on their own), as the ordering chapter allows.
``unknown-id``   A response for an ID with nothing outstanding.
``outstanding``  At the end, a burst never answered (only when the test says it drained).

A checker sees IDs, not addresses, in responses: it catches a reordering within one ID when
it changes beat counts (reads) or answers a write before its data; a scoreboard comparing
data against ``emulator.ref`` catches the rest. X and Z exist only on four-state simulators
(Icarus); Verilator has two states.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus

from emulator.ref.axi import Beat, Burst, beats, burst_errors, strobe_errors

#: Channel name -> fields that must be known while VALID is high (without the prefix).
CONTROL_FIELDS = {
    "aw": ("id", "addr", "len", "size", "burst"),
    "w": ("strb", "last"),
    "b": ("id", "resp"),
    "ar": ("id", "addr", "len", "size", "burst"),
    "r": ("id", "resp", "last"),
}


def _known(bits: str) -> bool:
    return not any(symbol in bits for symbol in "xXzZuUwW-")


@dataclass(frozen=True)
class Violation:
    cycle: int
    channel: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"cycle {self.cycle} {self.channel.upper()} {self.rule}: {self.message}"


@dataclass
class _Channel:
    name: str
    valid: Any
    ready: Any
    payload: dict[str, Any]  # field name without prefix -> handle
    previous: tuple[bool, bool, dict[str, str]] | None = None
    valid_since: int = 0  # cycle at which the current VALID period started
    x_reported: bool = False


@dataclass
class _WriteBurst:
    id: int
    address: int
    length: int
    beats: list[Beat] | None  # None for an illegal burst: lanes are not checked
    aw_cycle: int
    data_beats: int = 0
    data_done_cycle: int | None = None


@dataclass
class _ReadBurst:
    id: int
    address: int
    length: int
    ar_cycle: int
    data_beats: int = 0


@dataclass
class AxiProtocolChecker:
    """Watch ``bus`` on ``clock``; ``reset`` (active high) clears the state while it is high.

    Use :meth:`from_prefix` to build one from a port name, then :meth:`assert_clean` at the
    end of a test.
    """

    bus: AxiBus
    clock: Any
    reset: Any = None
    name: str = "axi"
    violations: list[Violation] = field(default_factory=list)
    cycle: int = 0

    def __post_init__(self) -> None:
        self.bus_bytes = len(self.bus.write.w.wdata) // 8
        self.address_bits = len(self.bus.write.aw.awaddr)
        self._channels = [self._channel(name, getattr(self.bus.write, name))
                          for name in ("aw", "w", "b")]
        self._channels += [self._channel(name, getattr(self.bus.read, name))
                           for name in ("ar", "r")]
        self._clear()
        self._task = cocotb.start_soon(self._run())

    @classmethod
    def from_prefix(cls, dut: Any, prefix: str, clock: Any, reset: Any = None,
                    bus_separator: str = "__") -> AxiProtocolChecker:
        bus = AxiBus.from_prefix(dut, prefix, bus_separator=bus_separator)
        return cls(bus, clock, reset, prefix)

    # Results.

    def rules(self) -> Counter[str]:
        """How many violations of each rule were recorded."""
        return Counter(violation.rule for violation in self.violations)

    def finish(self, drained: bool = True) -> list[Violation]:
        """Record what is still open: write bursts short of data, data with no address and,
        when ``drained``, bursts never answered. Returns every violation."""
        for write in self._awaiting_data:
            self._flag("w", "write-data", f"write burst at {write.address:#x} (ID {write.id}) "
                       f"got {write.data_beats} of its {write.length} data beats")
        if self._early_data:
            self._flag("w", "write-data", f"{len(self._early_data)} write data beats have no "
                       "write address")
        if drained:
            for queue in self._writes.values():
                for write in queue:
                    self._flag("b", "outstanding", f"write at {write.address:#x} (ID {write.id},"
                               f" address at cycle {write.aw_cycle}) never got a response")
            for queue in self._reads.values():
                for read in queue:
                    self._flag("r", "outstanding", f"read at {read.address:#x} (ID {read.id}, "
                               f"address at cycle {read.ar_cycle}) got {read.data_beats} of "
                               f"{read.length} beats")
        self._awaiting_data.clear()
        self._early_data.clear()
        self._writes.clear()
        self._reads.clear()
        return self.violations

    def assert_clean(self, drained: bool = True) -> None:
        """Raise ``AssertionError`` listing the violations, if there are any."""
        self._task.cancel()
        violations = self.finish(drained)
        if violations:
            shown = "\n  ".join(str(violation) for violation in violations[:20])
            more = f"\n  ... and {len(violations) - 20} more" if len(violations) > 20 else ""
            raise AssertionError(f"{len(violations)} AXI4 protocol violation(s) on {self.name} "
                                 f"({dict(self.rules())}):\n  {shown}{more}")

    # Sampling.

    def _channel(self, name: str, bus: Any) -> _Channel:
        signals = [*type(bus)._signals, *type(bus)._optional_signals]
        payload = {signal[len(name):]: getattr(bus, signal) for signal in signals
                   if hasattr(bus, signal) and signal not in (f"{name}valid", f"{name}ready")}
        return _Channel(name, getattr(bus, f"{name}valid"), getattr(bus, f"{name}ready"),
                        payload)

    def _clear(self) -> None:
        self._awaiting_data: deque[_WriteBurst] = deque()
        self._early_data: deque[tuple[int, int, int]] = deque()  # (cycle, strb, last)
        self._writes: dict[int, deque[_WriteBurst]] = {}
        self._reads: dict[int, deque[_ReadBurst]] = {}
        for channel in getattr(self, "_channels", []):
            channel.previous = None
            channel.x_reported = False

    def _flag(self, channel: str, rule: str, message: str, cycle: int | None = None) -> None:
        self.violations.append(Violation(self.cycle if cycle is None else cycle, channel, rule,
                                         message))

    async def _run(self) -> None:
        while True:
            await RisingEdge(self.clock)
            self.cycle += 1
            if self.reset is not None:
                reset = self.reset.value
                if not reset.is_resolvable or int(reset):
                    self._clear()
                    continue
            for channel in self._channels:
                beat = self._sample(channel)
                if beat is not None:
                    getattr(self, f"_on_{channel.name}")(beat)

    def _sample(self, channel: _Channel) -> dict[str, int] | None:
        """Check one channel's handshake rules; return the beat taken at this edge, if any."""
        name = channel.name.upper()
        valid_value = channel.valid.value
        if not valid_value.is_resolvable:
            if not channel.x_reported:
                self._flag(channel.name, "x-valid", f"{name}VALID is {valid_value}")
                channel.x_reported = True
            channel.previous = None
            return None
        channel.x_reported = False
        valid = bool(int(valid_value))
        ready_value = channel.ready.value
        if valid and not ready_value.is_resolvable:
            self._flag(channel.name, "x-valid", f"{name}READY is {ready_value} while "
                       f"{name}VALID is high")
            ready = False
        else:
            ready = bool(ready_value.is_resolvable and int(ready_value))
        payload = {key: str(handle.value) for key, handle in channel.payload.items()} \
            if valid else {}
        if channel.previous is not None:
            was_valid, was_ready, was_payload = channel.previous
            if was_valid and not was_ready:
                changed = [name + key.upper() for key in payload
                           if payload[key] != was_payload[key]]
                if not valid:
                    self._flag(channel.name, "valid-held", f"{name}VALID fell before "
                               f"{name}READY; it rose at cycle {channel.valid_since}")
                elif changed:
                    self._flag(channel.name, "stable", f"{', '.join(changed)} changed while "
                               f"{name}VALID waited for {name}READY")
        if valid and (channel.previous is None or not channel.previous[0] or channel.previous[1]):
            channel.valid_since = self.cycle
        channel.previous = (valid, ready, payload)
        if not (valid and ready):
            return None
        unknown = [key for key in CONTROL_FIELDS[channel.name]
                   if key in payload and not _known(payload[key])]
        if unknown:
            # Recorded, then read as zero so that beat counting goes on.
            self._flag(channel.name, "x-payload", ", ".join(
                f"{name}{key.upper()} = {payload[key]}" for key in unknown) + " while VALID")
        return {key: int(value, 2) if _known(value) else 0 for key, value in payload.items()}

    # Beats taken, per channel.

    def _address_beat(self, channel: str, beat: dict[str, int]) -> tuple[Burst, list[Beat] | None]:
        burst = Burst.from_fields(beat["addr"], beat["len"], beat["size"], beat["burst"])
        if errors := burst_errors(burst, self.bus_bytes, self.address_bits):
            self._flag(channel, "burst", f"ID {beat['id']} at {burst.address:#x}, "
                       f"AxLEN {beat['len']}, AxSIZE {beat['size']}, AxBURST {beat['burst']}: "
                       + "; ".join(errors))
            return burst, None
        return burst, beats(burst, self.bus_bytes)

    def _on_aw(self, beat: dict[str, int]) -> None:
        burst, burst_beats = self._address_beat("aw", beat)
        write = _WriteBurst(beat["id"], burst.address, burst.length, burst_beats, self.cycle)
        self._awaiting_data.append(write)
        self._writes.setdefault(write.id, deque()).append(write)
        while self._early_data and self._awaiting_data:
            self._write_data(*self._early_data.popleft())

    def _on_w(self, beat: dict[str, int]) -> None:
        strobe = beat.get("strb", (1 << self.bus_bytes) - 1)
        if self._awaiting_data:
            self._write_data(self.cycle, strobe, beat["last"])
        else:
            self._early_data.append((self.cycle, strobe, beat["last"]))

    def _write_data(self, cycle: int, strobe: int, last: int) -> None:
        write = self._awaiting_data[0]
        index = write.data_beats
        final = index == write.length - 1
        where = (f"beat {index + 1} of {write.length} of the write at {write.address:#x} "
                 f"(ID {write.id})")
        if last and not final:
            self._flag("w", "wlast", f"WLAST on {where}", cycle)
        if final and not last:
            self._flag("w", "wlast", f"WLAST missing on {where}", cycle)
        if write.beats is not None:
            for error in strobe_errors(write.beats[index], strobe):
                self._flag("w", "wstrb", f"{where}: {error}", cycle)
        write.data_beats += 1
        if final:
            write.data_done_cycle = cycle
            self._awaiting_data.popleft()

    def _on_b(self, beat: dict[str, int]) -> None:
        queue = self._writes.get(beat["id"])
        if not queue:
            self._flag("b", "unknown-id", f"write response for ID {beat['id']}, which has no "
                       "write outstanding")
            return
        write = queue.popleft()
        started = self._channels[2].valid_since
        if write.data_done_cycle is None:
            self._flag("b", "b-early", f"write response for the write at {write.address:#x} "
                       f"(ID {write.id}), whose last data beat has not come")
        elif started <= max(write.data_done_cycle, write.aw_cycle):
            self._flag("b", "b-early", f"BVALID at cycle {started} for the write at "
                       f"{write.address:#x} (ID {write.id}), not after its address (cycle "
                       f"{write.aw_cycle}) and last data beat (cycle {write.data_done_cycle})")
        if write in self._awaiting_data:
            self._awaiting_data.remove(write)

    def _on_ar(self, beat: dict[str, int]) -> None:
        burst, _ = self._address_beat("ar", beat)
        self._reads.setdefault(beat["id"], deque()).append(
            _ReadBurst(beat["id"], burst.address, burst.length, self.cycle))

    def _on_r(self, beat: dict[str, int]) -> None:
        queue = self._reads.get(beat["id"])
        if not queue:
            self._flag("r", "unknown-id", f"read data for ID {beat['id']}, which has no read "
                       "outstanding")
            return
        read = queue[0]
        started = self._channels[4].valid_since
        if read.data_beats == 0 and started <= read.ar_cycle:
            self._flag("r", "r-early", f"RVALID at cycle {started} for the read at "
                       f"{read.address:#x} (ID {read.id}) before its address (cycle "
                       f"{read.ar_cycle})")
        read.data_beats += 1
        final = read.data_beats == read.length
        where = (f"beat {read.data_beats} of {read.length} of the read at {read.address:#x} "
                 f"(ID {read.id})")
        if beat["last"] and not final:
            younger = next((other for other in list(queue)[1:]
                            if other.length == read.data_beats), None)
            if younger is not None:
                self._flag("r", "order", f"RLAST on {where}: the beats fit the younger read "
                           f"at {younger.address:#x}, answered before the older one")
                read.data_beats = 0
                queue.remove(younger)
                return
            self._flag("r", "rlast", f"RLAST on {where}")
            queue.popleft()
        elif final:
            if not beat["last"]:
                self._flag("r", "rlast", f"RLAST missing on {where}")
            queue.popleft()
