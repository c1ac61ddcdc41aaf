"""Packet-level drivers for a header stream plus a payload stream (framer in, deframer out)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from emulator.ref.framing import Packet
from hdl.layouts import HEADER_BODY, unpack

from .scoreboard import Scoreboard
from .stream import StreamBus, StreamSink, StreamSource


class PacketSource:
    """Sends each packet's header on one stream and its payload flits on another."""

    def __init__(self, dut: Any, header_prefix: str, payload_prefix: str, clock: Any,
                 header_pause: Iterator[bool] | None = None,
                 payload_pause: Iterator[bool] | None = None) -> None:
        self.headers = StreamSource(StreamBus.from_prefix(dut, header_prefix), clock, header_pause)
        self.payloads = StreamSource(StreamBus.from_prefix(dut, payload_prefix), clock,
                                     payload_pause)

    def send_nowait(self, packet: Packet) -> None:
        self.headers.send_nowait(packet.header)
        for flit in packet.payload:
            self.payloads.send_nowait(flit)

    async def wait_idle(self) -> None:
        await self.headers.wait_idle()
        await self.payloads.wait_idle()


class PacketSink:
    """Reassembles packets from a header stream and a payload stream."""

    def __init__(self, dut: Any, header_prefix: str, payload_prefix: str, clock: Any,
                 header_pause: Iterator[bool] | None = None,
                 payload_pause: Iterator[bool] | None = None) -> None:
        self.headers = StreamSink(StreamBus.from_prefix(dut, header_prefix), clock, header_pause)
        self.payloads = StreamSink(StreamBus.from_prefix(dut, payload_prefix), clock,
                                   payload_pause)

    async def recv(self) -> tuple[Packet, int]:
        """The next packet and the cycle stamp of its last flit."""
        header, stamp = await self.headers.recv()
        flits = []
        for _ in range(unpack(HEADER_BODY, header).link.length):
            flit, stamp = await self.payloads.recv()
            flits.append(flit)
        return Packet(header, tuple(flits)), stamp

    async def check(self, board: Scoreboard, count: int) -> None:
        """Receive ``count`` packets and hand each to ``board`` in order."""
        for _ in range(count):
            packet, _ = await self.recv()
            board.observe(packet)

    @property
    def pending(self) -> int:
        """Words taken but not yet assembled into packets."""
        return len(self.headers.queue) + len(self.payloads.queue)
