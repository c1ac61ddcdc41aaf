"""READ requests out on the far side's AXI4 manager port (AR, R), READ_RESPONSE packets with
their data back."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS, MAX_DATA_BYTES, Command
from ..link.link_signals import DELIVERED_FLIT
from ..params import ChipletParams
from .axi import BurstType, Response, data_bytes
from .responder_signals import (
    ANSWER,
    BLOCK_BITS,
    BLOCK_CHUNKS,
    FLIT_BYTE_BITS,
    FLIT_BYTES,
    burst_length,
    completion_header,
    lane_bits,
    pending_queue,
    read_channel_members,
    read_command_layout,
)

#: A data buffer holding a whole burst's data: what its completion repeats, whether some beat
#: had an error, and ``full`` from its last beat until its completion's last flit leaves.
GATHERED = data.StructLayout({"full": 1, "error": 1, "answer": ANSWER})


class ManagerReads(wiring.Component):
    """Carries out READ requests as AXI4 read bursts, and answers each with its data.

    **Bursts.** Each READ becomes one INCR burst of full bus width from its remote address
    (unaligned allowed), ARID 0 (so R returns in AR order), ARLEN from its byte span, the
    other AR attributes 0 (:func:`emulator.ref.chiplet.manager_burst`).

    **Flow.** A READ is taken from ``command`` when the AR register is empty or emptying and
    the pending queue has room; its AR is valid the next cycle. As many reads are
    outstanding as the pending queue holds (``outstanding_tags``). R beats are taken one per
    cycle into one of two 256-byte buffers (indexed by address modulo 256) while it is free;
    the other may meanwhile be sending its completion.

    **Store and forward.** A completion leaves only once its whole burst is in: a single
    RRESP that is not OKAY, on any beat, makes it an ``ERROR_RESPONSE`` (header only), which
    could not be known while earlier beats were being sent. The cost is the burst's beats
    (1 to 64 cycles, fewer on wider buses) of latency, not throughput: the header is valid
    the cycle after the last beat is taken, then the data flits follow one per cycle; byte
    ``i`` of the packet is memory byte ``remote address + i``, least significant first in
    each flit, and the bytes past the byte count are zero (:func:`emulator.ref.chiplet.
    completion`).

    Members
    -------
    command : In(stream.Signature(read_command_layout(params)))
        READs to carry out; ready combinationally from the state above and ``arready``.
    ar*, r* : the AR and R members of AxiSignature(params), as a manager
        AR holds valid and payload until ready; RREADY is high while a buffer is free for
        the burst at the head of the queue. RLAST is not needed: the burst's length is known.
    completion : Out(stream.Signature(DELIVERED_FLIT))
        ``READ_RESPONSE`` and ``ERROR_RESPONSE`` packets in the order of ``command``; valid
        and payload hold until ready, combinational from registers.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            "command": In(stream.Signature(read_command_layout(params))),
            **read_channel_members(params),
            "completion": Out(stream.Signature(DELIVERED_FLIT)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        lanes = data_bytes(params)
        lanes_log = lane_bits(params)
        slots = MAX_DATA_BYTES // lanes  # bus words in a buffer
        m.submodules.pending = pending = pending_queue(params, ANSWER.size)

        # Taking a request: its AR, and its answer at the back of the queue.
        command = self.command.payload
        m.d.comb += [
            self.command.ready.eq(pending.w_rdy & (~self.arvalid | self.arready)),
            pending.w_en.eq(self.command.valid & self.command.ready),
            pending.w_data.eq(command.answer),
            self.arid.eq(0),
            self.arsize.eq(lanes_log),
            self.arburst.eq(BurstType.INCR),
        ]
        with m.If(self.arready):
            m.d.sync += self.arvalid.eq(0)
        with m.If(pending.w_en):
            m.d.sync += [
                self.arvalid.eq(1),
                self.araddr.eq(command.address),
                self.arlen.eq(burst_length(params, command.address, command.answer.byte_count)),
            ]

        # Gathering the burst at the head of the queue into buffer ``gather``.
        buffers = [Signal(GATHERED, name=f"buffer_{b}") for b in range(2)]
        contents = [Signal(8 * MAX_DATA_BYTES, name=f"contents_{b}") for b in range(2)]
        head = ANSWER(pending.r_data)
        gather = Signal()
        gather_beat = Signal(range(slots))
        gather_error = Signal()
        slot = Signal(BLOCK_BITS - lanes_log)
        beat_end = Signal(BLOCK_BITS + 1)
        packet_end = Signal(BLOCK_BITS + 1)
        last_beat = Signal()
        m.d.comb += [
            self.rready.eq(pending.r_rdy & ~Mux(gather, buffers[1].full, buffers[0].full)),
            slot.eq(head.address[lanes_log:BLOCK_BITS] + gather_beat),
            beat_end.eq(Cat(Const(0, lanes_log), slot) + lanes),
            packet_end.eq(head.address[:BLOCK_BITS] + head.byte_count),
            last_beat.eq(beat_end >= packet_end),
        ]
        take = Signal()
        beat_error = Signal()
        m.d.comb += [take.eq(self.rvalid & self.rready),
                     beat_error.eq(self.rresp != Response.OKAY),
                     pending.r_en.eq(take & last_beat)]
        with m.If(take):
            for b in range(2):
                with m.If(gather == b):
                    for word in range(slots):
                        with m.If(slot == word):
                            m.d.sync += contents[b].word_select(word, params.axi_data_bits).eq(
                                self.rdata)
            m.d.sync += [gather_beat.eq(gather_beat + 1),
                         gather_error.eq(gather_error | beat_error)]
            with m.If(last_beat):
                for b, buffer in enumerate(buffers):
                    with m.If(gather == b):
                        m.d.sync += [buffer.full.eq(1),
                                     buffer.error.eq(gather_error | beat_error),
                                     buffer.answer.eq(head)]
                m.d.sync += [gather.eq(~gather), gather_beat.eq(0), gather_error.eq(0)]

        # Sending buffer ``send``: the header, then (unless an error) the data flits.
        send = Signal()
        in_data = Signal()
        flit_index = Signal(range(BLOCK_CHUNKS))
        sent = Signal(GATHERED)
        m.d.comb += sent.eq(Mux(send, buffers[1], buffers[0]))
        count = sent.answer.byte_count
        data_flits = Signal(range(BLOCK_CHUNKS + 1))
        response = Signal(Command)
        m.d.comb += [
            data_flits.eq((count + FLIT_BYTES - 1) >> FLIT_BYTE_BITS),
            response.eq(Mux(sent.error, Command.ERROR_RESPONSE, Command.READ_RESPONSE)),
        ]
        header = completion_header(m, sent.answer, response, Mux(sent.error, 0, data_flits))

        # Data flit ``flit_index``: the 16 bytes from position offset + 16 x flit_index, taken
        # from the two chunks they fall in; none past the byte count.
        position = Signal(BLOCK_BITS)
        remaining = Signal.like(count)
        chunk = Signal(BLOCK_BITS - FLIT_BYTE_BITS)
        next_chunk = Signal(BLOCK_BITS - FLIT_BYTE_BITS)
        m.d.comb += [
            position.eq(sent.answer.address[:BLOCK_BITS] + (flit_index << FLIT_BYTE_BITS)),
            remaining.eq(count - (flit_index << FLIT_BYTE_BITS)),
            chunk.eq(position[FLIT_BYTE_BITS:]),
            next_chunk.eq(chunk + 1),
        ]
        pairs = []
        for b in range(2):
            pair = Signal(2 * FLIT_BITS, name=f"pair_{b}")
            m.d.comb += pair.eq(Cat(contents[b].word_select(chunk, FLIT_BITS),
                                    contents[b].word_select(next_chunk, FLIT_BITS)))
            pairs.append(pair)
        shifted = Signal(2 * FLIT_BITS)
        m.d.comb += shifted.eq(Mux(send, pairs[1], pairs[0])
                               >> Cat(Const(0, 3), position[:FLIT_BYTE_BITS]))
        data_flit = Signal(FLIT_BITS)
        for byte in range(FLIT_BYTES):
            m.d.comb += data_flit.word_select(byte, 8).eq(
                shifted.word_select(byte, 8) & (remaining > byte).replicate(8))
        last_data_flit = Signal()
        m.d.comb += last_data_flit.eq(remaining <= FLIT_BYTES)

        m.d.comb += [
            self.completion.valid.eq(sent.full),
            self.completion.payload.flit.eq(Mux(in_data, data_flit, header)),
            self.completion.payload.last.eq(Mux(in_data, last_data_flit, sent.error)),
        ]
        done = Signal()  # the completion's last flit leaves
        with m.If(self.completion.valid & self.completion.ready):
            with m.If(in_data):
                m.d.sync += flit_index.eq(flit_index + 1)
                with m.If(last_data_flit):
                    m.d.comb += done.eq(1)
                    m.d.sync += in_data.eq(0)
            with m.Elif(sent.error):
                m.d.comb += done.eq(1)
            with m.Else():
                m.d.sync += [in_data.eq(1), flit_index.eq(0)]
        with m.If(done):
            m.d.sync += send.eq(~send)
            for b, buffer in enumerate(buffers):
                with m.If(send == b):
                    m.d.sync += buffer.full.eq(0)
        return m
