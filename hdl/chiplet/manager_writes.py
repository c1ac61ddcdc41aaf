"""WRITE requests out on the far side's AXI4 manager port (AW, W, B), completions without data
back."""

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
    EntryState,
    burst_length,
    completion_header,
    lane_bits,
    pending_queue,
    record_layout,
    write_channel_members,
    write_command_layout,
    write_key_layout,
)

#: What waits in the pending queue for each request, in order: what its completion repeats,
#: whether it is answered without a burst (``refused``) and then whether with
#: ``WRITE_RESPONSE`` (``ok``: a duplicate of a WRITE that succeeded).
PENDING = data.StructLayout({"answer": ANSWER, "refused": 1, "ok": 1})


#: One data buffer's bookkeeping, in byte positions inside the block (address modulo 256):
#: the packet's first byte and the end of its bytes, the end of the bytes written so far, the
#: first byte of the beat to send next; ``busy`` from the WRITE's acceptance to its last beat.
BUFFER = data.StructLayout({"busy": 1, "offset": BLOCK_BITS, "end": BLOCK_BITS + 1,
                            "written_end": BLOCK_BITS + 1, "beat_start": BLOCK_BITS})


class ManagerWrites(wiring.Component):
    """Carries out WRITE requests as AXI4 write bursts, and answers them in order.

    **Bursts.** Each WRITE becomes one INCR burst of full bus width from its remote address
    (unaligned allowed), AWID 0 (so B returns in AW order), AxLEN from its byte span, the
    other AW attributes 0 (:func:`emulator.ref.chiplet.manager_burst`). WSTRB enables the
    packet's bytes whose byte-enable bit is set (every byte when it has no byte-enable flit;
    bytes past the flit's 128 bits are not enabled, as in the reference).

    **Flow.** Two 256-byte data buffers, each indexed by address modulo 256. A WRITE is
    taken from ``command`` when the next buffer is free, the AW register is empty or
    emptying, and the pending queue has room; its AW is valid the next cycle. Its data flits
    are then taken from ``data``, one per cycle, each written at its 16 byte positions. W
    beats leave from the buffers in turn as soon as every byte of the beat that belongs to
    the packet has been written (cut-through), one beat per cycle; the buffer is free again
    with its last beat. So data flits of the next WRITE fill the other buffer while this
    one's beats leave, and AW of the next WRITE may be issued before B of this one returns:
    as many writes are outstanding as the pending queue holds (``outstanding_tags``). W beats
    may come before their AW is taken, as AXI4 allows.

    **Recording.** B returns in AW order; the keys of the WRITEs whose B is to come wait in
    that order in a queue (``in_flight``). B is taken in the cycle it is valid, as its key is
    recorded done in the duplicate filter (``record``, ok when BRESP is OKAY), unless the
    filter makes the record wait; the outcome then waits in a queue (``outcomes``) until
    its WRITE is answered. B does not wait for the completion output: a far side whose
    completions are stuck (its plane dead) still takes every B and records every key, so a
    retry of any of its WRITEs finishes on another far side.

    **Completions.** A refused request (or a duplicate) needs no burst: it is queued with the
    WRITEs and answered when it reaches the head of the queue, ``ERROR_RESPONSE`` (or, a
    duplicate of a WRITE that succeeded, ``WRITE_RESPONSE``). A WRITE at the head is answered
    once its B has been taken (in the same cycle, if no earlier outcome waits):
    ``WRITE_RESPONSE`` when OKAY, else ``ERROR_RESPONSE``. Each completion is a header-only
    packet in a register, valid the cycle after its B is taken when the register is free.

    Members
    -------
    command : In(stream.Signature(write_command_layout(params)))
        Requests to carry out or refuse; ready combinationally from the state above and
        ``awready``.
    data : In(stream.Signature(FLIT_BITS))
        The data flits of each WRITE taken on ``command``, in order; ready while a WRITE has
        flits to come.
    aw*, w*, b* : the AW, W and B members of AxiSignature(params), as a manager
        AW and W hold valid and payload until ready; BREADY is ``record.ready`` while a
        WRITE's B is to come (combinationally from BVALID, through ``record``).
    record : Out(stream.Signature(record_layout(params)))
        The key of the WRITE whose B is next and its entry {generation, done, ok}: valid
        with BVALID while a B is to come; the payload combinationally from BRESP.
    completion : Out(stream.Signature(DELIVERED_FLIT))
        ``WRITE_RESPONSE`` and ``ERROR_RESPONSE`` packets, one flit each, in the order of
        ``command``; a register.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        super().__init__({
            "command": In(stream.Signature(write_command_layout(params))),
            "data": In(stream.Signature(FLIT_BITS)),
            **write_channel_members(params),
            "record": Out(stream.Signature(record_layout(params))),
            "completion": Out(stream.Signature(DELIVERED_FLIT)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        lanes = data_bytes(params)
        lanes_log = lane_bits(params)
        chunk_bits = BLOCK_BITS - FLIT_BYTE_BITS
        m.submodules.pending = pending = pending_queue(params, PENDING.size)
        # The keys of the WRITEs whose B is to come, in AW order (so in B order), and the
        # outcomes of those whose B came before they could be answered.
        m.submodules.in_flight = in_flight = pending_queue(params,
                                                           write_key_layout(params).size)
        m.submodules.outcomes = outcomes = pending_queue(params, 1)

        buffers = [Signal(BUFFER, name=f"buffer_{b}") for b in range(2)]
        contents = [Signal(8 * MAX_DATA_BYTES, name=f"contents_{b}") for b in range(2)]
        strobes = [Signal(MAX_DATA_BYTES, name=f"strobes_{b}") for b in range(2)]

        # Taking a request.
        command = self.command.payload
        next_fill = Signal()  # the buffer the next WRITE goes into
        fill_free = Signal()
        m.d.comb += fill_free.eq(~Mux(next_fill, buffers[1].busy, buffers[0].busy))
        m.d.comb += self.command.ready.eq(
            pending.w_rdy & (command.refused | (fill_free & (~self.awvalid | self.awready))))
        accept = Signal()
        m.d.comb += [
            accept.eq(self.command.valid & self.command.ready),
            pending.w_en.eq(accept),
        ]
        queued = PENDING(pending.w_data)
        m.d.comb += [queued.answer.eq(command.answer), queued.refused.eq(command.refused),
                     queued.ok.eq(command.ok),
                     in_flight.w_en.eq(accept & ~command.refused),
                     in_flight.w_data.eq(command.key)]
        m.d.comb += [self.awid.eq(0), self.awsize.eq(lanes_log), self.awburst.eq(BurstType.INCR)]
        with m.If(self.awready):
            m.d.sync += self.awvalid.eq(0)

        # Filling: the data flits of the WRITE last accepted go into buffer ``fill``.
        fill = Signal()
        filling = Signal()  # the WRITE in ``fill`` has data flits to come
        fill_chunk = Signal(chunk_bits)  # 16-byte chunk where the next flit's first byte goes
        fill_shift = Signal(FLIT_BYTE_BITS)  # and that byte's place in the chunk
        fill_enables = Signal.like(command.enables)  # the next flit's enable bits first
        fill_pad = Signal()  # the enable bit of bytes past the byte-enable flit
        offset = command.address[:BLOCK_BITS]
        with m.If(accept & ~command.refused):
            m.d.sync += [
                self.awvalid.eq(1),
                self.awaddr.eq(command.address),
                self.awlen.eq(burst_length(params, command.address, command.answer.byte_count)),
                next_fill.eq(~next_fill),
                fill.eq(next_fill),
                filling.eq(1),
                fill_chunk.eq(offset[FLIT_BYTE_BITS:]),
                fill_shift.eq(offset[:FLIT_BYTE_BITS]),
                fill_enables.eq(command.enables),
                fill_pad.eq(~command.has_byte_enable),
            ]
            for b, buffer in enumerate(buffers):
                with m.If(next_fill == b):
                    m.d.sync += [
                        buffer.busy.eq(1),
                        buffer.offset.eq(offset),
                        buffer.end.eq(offset + command.answer.byte_count),
                        buffer.written_end.eq(offset),
                        buffer.beat_start.eq(Cat(Const(0, lanes_log), offset[lanes_log:])),
                    ]

        filled = Signal(BUFFER)
        m.d.comb += [filled.eq(Mux(fill, buffers[1], buffers[0])),
                     self.data.ready.eq(filling)]
        store = Signal()
        m.d.comb += store.eq(self.data.valid & filling)
        # The flit and its enable bits moved to their place in two consecutive chunks.
        pair = Signal(2 * FLIT_BITS)
        pair_enables = Signal(2 * FLIT_BYTES)
        m.d.comb += [
            pair.eq(Cat(self.data.payload, Const(0, FLIT_BITS))
                    << Cat(Const(0, 3), fill_shift)),
            pair_enables.eq(Cat(fill_enables[:FLIT_BYTES], Const(0, FLIT_BYTES)) << fill_shift),
        ]
        low_lane = Signal(FLIT_BYTES)  # lanes of the first chunk the flit reaches
        for lane in range(FLIT_BYTES):
            m.d.comb += low_lane[lane].eq(fill_shift <= lane if lane < FLIT_BYTES - 1
                                          else Const(1))
        next_chunk = Signal(chunk_bits)
        m.d.comb += next_chunk.eq(fill_chunk + 1)
        for b in range(2):
            with m.If(store & (fill == b)):
                for chunk in range(BLOCK_CHUNKS):
                    for lane in range(FLIT_BYTES):
                        position = chunk * FLIT_BYTES + lane
                        byte = contents[b].word_select(position, 8)
                        with m.If((fill_chunk == chunk) & low_lane[lane]):
                            m.d.sync += [byte.eq(pair.word_select(lane, 8)),
                                         strobes[b][position].eq(pair_enables[lane])]
                        with m.Elif((next_chunk == chunk) & ~low_lane[lane]):
                            m.d.sync += [
                                byte.eq(pair.word_select(FLIT_BYTES + lane, 8)),
                                strobes[b][position].eq(pair_enables[FLIT_BYTES + lane])]
                m.d.sync += buffers[b].written_end.eq(filled.written_end + FLIT_BYTES)
        with m.If(store):
            m.d.sync += [fill_chunk.eq(next_chunk),
                         fill_enables.eq(Cat(fill_enables[FLIT_BYTES:],
                                             fill_pad.replicate(FLIT_BYTES)))]
            with m.If(filled.written_end + FLIT_BYTES >= filled.end):
                m.d.sync += filling.eq(0)

        # Draining: W beats from buffer ``drain``, as soon as their bytes are written.
        drain = Signal()
        drained = Signal(BUFFER)
        beat_end = Signal(BLOCK_BITS + 1)
        needed_end = Signal(BLOCK_BITS + 1)  # the end of the packet's bytes in this beat
        m.d.comb += [
            drained.eq(Mux(drain, buffers[1], buffers[0])),
            beat_end.eq(drained.beat_start + lanes),
            needed_end.eq(Mux(beat_end < drained.end, beat_end, drained.end)),
            self.wvalid.eq(drained.busy & (needed_end <= drained.written_end)),
            self.wlast.eq(beat_end >= drained.end),
        ]
        slot = drained.beat_start[lanes_log:]
        words = []
        word_strobes = []
        for b in range(2):
            word = Signal(params.axi_data_bits, name=f"word_{b}")
            word_strobe = Signal(lanes, name=f"word_strobes_{b}")
            m.d.comb += [word.eq(contents[b].word_select(slot, params.axi_data_bits)),
                         word_strobe.eq(strobes[b].word_select(slot, lanes))]
            words.append(word)
            word_strobes.append(word_strobe)
        first_beat = Signal()
        lower = drained.offset[:lanes_log]
        upper = Signal(lanes_log)  # the lane of the packet's last byte
        m.d.comb += [first_beat.eq(slot == drained.offset[lanes_log:]),
                     upper.eq(drained.end - 1)]
        in_packet = Signal(lanes)
        for lane in range(lanes):
            from_lower = lower <= lane if lane < lanes - 1 else Const(1)
            to_upper = upper >= lane if lane > 0 else Const(1)
            m.d.comb += in_packet[lane].eq((~first_beat | from_lower)
                                           & (~self.wlast | to_upper))
        strobe = Signal(lanes)
        m.d.comb += [
            strobe.eq(Mux(drain, word_strobes[1], word_strobes[0]) & in_packet),
            self.wstrb.eq(strobe),
            # Lanes not written carry zeros: bytes gathered for the next packet may land in
            # the word of a waiting beat, and WDATA must hold still until WREADY.
            self.wdata.eq(Mux(drain, words[1], words[0])
                          & Cat(bit.replicate(8) for bit in strobe)),
        ]
        with m.If(self.wvalid & self.wready):
            for b, buffer in enumerate(buffers):
                with m.If(drain == b):
                    m.d.sync += buffer.beat_start.eq(drained.beat_start + lanes)
                    with m.If(self.wlast):
                        m.d.sync += buffer.busy.eq(0)
            with m.If(self.wlast):
                m.d.sync += drain.eq(~drain)

        # B, taken as soon as it is valid and its key recorded done: whatever the completion
        # output does, the outcome waits in ``outcomes`` until its request is answered.
        in_flight_key = write_key_layout(params)(in_flight.r_data)
        b_taken = Signal()
        m.d.comb += [
            self.record.valid.eq(in_flight.r_rdy & self.bvalid),
            self.record.payload.address.eq(in_flight_key.address),
            self.record.payload.entry.generation.eq(in_flight_key.generation),
            self.record.payload.entry.state.eq(EntryState.DONE),
            self.record.payload.entry.ok.eq(self.bresp == Response.OKAY),
            self.bready.eq(in_flight.r_rdy & outcomes.w_rdy & self.record.ready),
            b_taken.eq(self.bvalid & self.bready),
            in_flight.r_en.eq(b_taken),
        ]

        # Answering, in order: the head of the pending queue, once its outcome is known (a
        # write's B taken before, or now while no other outcome waits).
        head = PENDING(pending.r_data)
        outcome_known = Signal()
        outcome_ok = Signal()
        m.d.comb += [
            outcome_known.eq(outcomes.r_rdy | b_taken),
            outcome_ok.eq(Mux(outcomes.r_rdy, outcomes.r_data, self.bresp == Response.OKAY)),
        ]
        out_free = Signal()
        answer_now = Signal()
        error = Signal()
        m.d.comb += [
            out_free.eq(~self.completion.valid | self.completion.ready),
            answer_now.eq(pending.r_rdy & out_free & (head.refused | outcome_known)),
            error.eq(Mux(head.refused, ~head.ok, ~outcome_ok)),
            pending.r_en.eq(answer_now),
            outcomes.r_en.eq(answer_now & ~head.refused),
            outcomes.w_en.eq(b_taken & ~(answer_now & ~head.refused & ~outcomes.r_rdy)),
            outcomes.w_data.eq(self.bresp == Response.OKAY),
        ]
        response = Signal(Command)
        m.d.comb += response.eq(Mux(error, Command.ERROR_RESPONSE, Command.WRITE_RESPONSE))
        header = completion_header(m, head.answer, response, 0)
        m.d.comb += self.completion.payload.last.eq(1)
        with m.If(self.completion.ready):
            m.d.sync += self.completion.valid.eq(0)
        with m.If(answer_now):
            m.d.sync += [self.completion.valid.eq(1), self.completion.payload.flit.eq(header)]
        return m
