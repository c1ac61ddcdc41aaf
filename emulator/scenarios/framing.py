"""The link framing RTL (framer -> deframer) in Amaranth's simulator, with a waveform.

No external simulator is needed, so this is what ``fusion-emu run`` shows until the system
scenario exists. The same random packets go through the reference model; the run fails if the
RTL delivers anything else.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth import Value
from amaranth.sim import Simulator

from hdl.layouts import HEADER_BODY, unpack
from hdl.link.framing_loopback import FramingLoopback
from hdl.params import LinkParams

from ..ref.framing import Packet, deframe, frame

#: Clock period in Amaranth's simulator: a flit cycle, in seconds (time stamps only).
PERIOD = 1e-9


@dataclass
class FramingResult:
    packets_sent: int
    packets_delivered: int
    flits_sent: int
    cycles: int
    crc_errors: int
    matches_reference: bool
    waveform: Path | None
    gtkw: Path | None

    @property
    def flits_per_cycle(self) -> float:
        return self.flits_sent / self.cycles if self.cycles else 0.0


def simulate_framing(link: LinkParams, packets: list[Packet], *, seed: int = 1,
                     pause_probability: float = 0.0, waveform: Path | None = None,
                     progress: Callable[[int, int], None] | None = None) -> FramingResult:
    """Send ``packets`` through a framer and a deframer; compare with the reference.

    ``pause_probability`` applies random back-pressure at both ends; ``waveform`` names a VCD
    file to write, with a GTKWave save file beside it.
    """
    dut = FramingLoopback(link)
    rng = random.Random(seed)
    delivered: list[Packet] = []
    expected, _ = deframe(link, frame(link, packets))
    finish = {"cycle": 0, "crc_errors": 0}

    def pause() -> bool:
        return pause_probability > 0 and rng.random() < pause_probability

    async def send(ctx, stream, words) -> None:
        target = Value.cast(stream.payload)  # a layout's view, written as plain bits
        for word in words:
            while pause():
                await ctx.tick()
            ctx.set(target, word)
            ctx.set(stream.valid, 1)
            await ctx.tick().until(stream.ready)
            ctx.set(stream.valid, 0)

    async def send_headers(ctx) -> None:
        await send(ctx, dut.packet_in, [packet.header for packet in packets])

    async def send_payloads(ctx) -> None:
        await send(ctx, dut.payload_in, [flit for packet in packets for flit in packet.payload])

    async def receive(ctx) -> None:
        cycle = 0
        headers: list[int] = []
        payload: list[int] = []
        while len(delivered) < len(expected):
            ready_header, ready_payload = not pause(), not pause()
            ctx.set(dut.packet_out.ready, ready_header)
            ctx.set(dut.payload_out.ready, ready_payload)
            *_, header_valid, header_word, payload_valid, payload_word = await ctx.tick().sample(
                dut.packet_out.valid, Value.cast(dut.packet_out.payload),
                dut.payload_out.valid, dut.payload_out.payload)
            cycle += 1
            if header_valid and ready_header:
                headers.append(header_word)
            if payload_valid and ready_payload:
                payload.append(payload_word)
            while headers and len(payload) >= unpack(HEADER_BODY, headers[0]).link.length:
                length = unpack(HEADER_BODY, headers[0]).link.length
                delivered.append(Packet(headers.pop(0), tuple(payload[:length])))
                del payload[:length]
                finish["cycle"] = cycle
                if progress:
                    progress(len(delivered), len(expected))
        finish["crc_errors"] = ctx.get(dut.crc_errors)

    simulator = Simulator(dut)
    simulator.add_clock(PERIOD)
    simulator.add_testbench(send_headers)
    simulator.add_testbench(send_payloads)
    simulator.add_testbench(receive)
    gtkw = waveform.with_suffix(".gtkw") if waveform else None
    if waveform:
        waveform.parent.mkdir(parents=True, exist_ok=True)
        traces = [dut.packet_in, dut.payload_in, dut.packet_out, dut.payload_out, dut.crc_errors]
        with simulator.write_vcd(str(waveform), str(gtkw), traces=traces):
            simulator.run()
    else:
        simulator.run()
    return FramingResult(
        packets_sent=len(packets), packets_delivered=len(delivered),
        flits_sent=sum(packet.flits for packet in packets), cycles=finish["cycle"],
        crc_errors=finish["crc_errors"], matches_reference=delivered == expected,
        waveform=waveform, gtkw=gtkw)
