"""One input port of the switch: ingress, the shared input buffer and its virtual output queues."""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..layouts import COMPLETION_VC, FLIT_BITS
from ..params import SwitchParams
from .allocator import encode
from .signals import (
    LENGTH_BITS,
    Drop,
    credit_bits,
    match_layout,
    packet_flits,
    packet_vc,
    start_layout,
)


class InputUnit(wiring.Component):
    """Takes packets from one input link, keeps them in one buffer memory, and offers the head
    packet of each virtual output queue (output, VC) to the allocator.

    **Ingress.** A header on ``flit_in`` is taken (``ready``) when its VC has credits for the
    whole packet; the upstream's credits are kept here as the buffer space each VC may still
    fill (``credits``). The router checks the header in the same cycle (``header``, ``drop``,
    ``output``); a dropped packet's flits are taken and discarded. A dropped request that must
    be answered (``answer``) is taken only when the completion VC has a credit, and its answer
    (``completion``) joins the queue back to this input's own port as a one-flit packet. The
    payload flits must follow the header one per cycle (``ready`` stays high for them); a gap
    sets ``underrun``, which stays set, since the packet's flits may then be read before they
    were written.

    **Buffer.** One memory of ``input_buffer_flits + 1`` flits holds the flits of all VOQs. A
    free-slot bitmap hands out slots lowest first; the slot of the next flit to arrive is
    taken one flit ahead, so that each flit is written together with the slot of the flit after
    it (a link memory), and a reader following the links one cycle behind always finds them
    written: this is what lets a packet leave while it arrives (cut-through). The extra slot is
    that look-ahead.

    **Virtual output queues.** Per (output, VC): a packet count and the head packet's first slot
    and length in registers, and the tail's first slot; the packets of a queue are chained in a
    second memory indexed by first slot. After a dequeue the new head is read from that memory
    and used from the next cycle, so a queue of one-flit packets can send one per cycle.

    **Allocation.** ``request[j]`` is high when the input is not sending and output ``j`` is free
    (``output_free``) and has credits (``output_credit``) for the head packet of some VC's
    queue to it. On ``grant`` the highest such VC's head packet starts: its VC and length are on
    ``start`` in this cycle, its first flit is read from the buffer, and one flit per cycle
    after it; each appears on ``flit`` the cycle after it is read, and each read returns one
    credit and frees its slot.
    """

    def __init__(self, params: SwitchParams, port: int) -> None:
        self.params = params
        self.port = port
        k, vcs = params.ports, params.virtual_channels
        credits = data.ArrayLayout(credit_bits(params), vcs)
        super().__init__({
            "flit_in": In(FLIT_BITS),
            "valid": In(1),
            "ready": Out(1),
            "header": Out(FLIT_BITS),
            "take": Out(1),
            "output": In(params.port_bits),
            "drop": In(Drop),
            "answer": In(1),
            "completion": In(FLIT_BITS),
            "output_free": In(k),
            "output_credit": In(data.ArrayLayout(credits, k)),
            "request": Out(k),
            "grant": In(match_layout(params)),
            "start": Out(start_layout(params)),
            "flit": Out(FLIT_BITS),
            "credits": Out(credits),
            "underrun": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        k, vcs = params.ports, params.virtual_channels
        slots = params.input_buffer_flits + 1
        slot_bits = (slots - 1).bit_length()
        count_bits = credit_bits(params)
        packet = data.StructLayout({"slot": slot_bits, "length": LENGTH_BITS})

        m.submodules.flits = flits = Memory(shape=FLIT_BITS, depth=slots, init=[])
        m.submodules.links = links = Memory(shape=slot_bits, depth=slots, init=[])
        m.submodules.packets = packets = Memory(shape=packet, depth=slots, init=[])
        flit_write, flit_read = flits.write_port(), flits.read_port()
        link_write, link_read = links.write_port(), links.read_port()
        packet_write, packet_read = packets.write_port(), packets.read_port()

        credits = Signal(data.ArrayLayout(count_bits, vcs), init=[params.credits_per_vc] * vcs)
        m.d.comb += self.credits.eq(credits)

        # Ingress.
        to_come = Signal(LENGTH_BITS)  # payload flits of the current packet still to arrive
        discarding = Signal()
        at_header = Signal()
        m.d.comb += at_header.eq(to_come == 0)
        # Signals rather than expressions: each use of an expression repeats its logic.
        vc_in = Signal(params.vc_bits)
        length_in = Signal(LENGTH_BITS)
        m.d.comb += [vc_in.eq(packet_vc(self.flit_in)), length_in.eq(packet_flits(self.flit_in))]
        m.d.comb += [
            self.header.eq(self.flit_in),
            self.ready.eq(~at_header | ((credits[vc_in] >= length_in)
                                        & (~self.answer | (credits[COMPLETION_VC] != 0)))),
            self.take.eq(self.valid & at_header & self.ready),
        ]
        take, keep, write = Signal(), Signal(), Signal()
        m.d.comb += [take.eq(self.valid & self.ready),
                     keep.eq(self.take & ((self.drop == Drop.NONE) | self.answer)),
                     write.eq(keep | (take & ~at_header & ~discarding))]
        # What joins a queue: the packet, or for a dropped request its one-flit answer back to
        # this port on the completion VC.
        queue_output = Signal(params.port_bits)
        queue_vc = Signal(params.vc_bits)
        queue_length = Signal(LENGTH_BITS)
        m.d.comb += [queue_output.eq(Mux(self.answer, self.port, self.output)),
                     queue_vc.eq(Mux(self.answer, COMPLETION_VC, vc_in)),
                     queue_length.eq(Mux(self.answer, 1, length_in))]
        with m.If(self.take):
            m.d.sync += [to_come.eq(length_in - 1), discarding.eq(self.drop != Drop.NONE)]
        with m.Elif(take):
            m.d.sync += to_come.eq(to_come - 1)
        with m.If(~at_header & ~self.valid):
            m.d.sync += self.underrun.eq(1)

        # Free slots, lowest first; ``write_slot`` is taken ahead for the next flit to arrive.
        free = Signal(slots, init=(1 << (slots - 1)) - 1)
        write_slot = Signal(slot_bits, init=slots - 1)
        lowest = Signal(slots)
        m.d.comb += lowest.eq(free & ~(free - 1)[:slots])
        next_slot = Signal(slot_bits)
        m.d.comb += next_slot.eq(encode([lowest[n] for n in range(slots)], list(range(slots)),
                                        slot_bits))
        m.d.comb += [flit_write.addr.eq(write_slot),
                     flit_write.data.eq(Mux(at_header & self.answer, self.completion,
                                            self.flit_in)),
                     flit_write.en.eq(write),
                     link_write.addr.eq(write_slot), link_write.data.eq(next_slot),
                     link_write.en.eq(write)]
        with m.If(write):
            m.d.sync += write_slot.eq(next_slot)

        # Virtual output queues.
        head = [[Signal(packet, name=f"head_{j}_{v}") for v in range(vcs)] for j in range(k)]
        tail = [[Signal(slot_bits, name=f"tail_{j}_{v}") for v in range(vcs)] for j in range(k)]
        count = [[Signal(count_bits, name=f"count_{j}_{v}") for v in range(vcs)]
                 for j in range(k)]
        pending = Signal()  # the queue below was dequeued last cycle: its head is being read
        pending_output = Signal(params.port_bits)
        pending_vc = Signal(params.vc_bits)
        current = [[Signal(packet, name=f"current_{j}_{v}") for v in range(vcs)]
                   for j in range(k)]
        eligible = [Signal(vcs, name=f"eligible_{j}") for j in range(k)]
        sending = Signal(LENGTH_BITS)  # flits of the packet under way still to read
        sending_vc = Signal(params.vc_bits)
        for j in range(k):
            for v in range(vcs):
                fresh = pending & (pending_output == j) & (pending_vc == v)
                m.d.comb += [
                    current[j][v].eq(Mux(fresh, packet_read.data, head[j][v])),
                    eligible[j][v].eq((count[j][v] != 0) & (self.output_credit[j][v]
                                                            >= current[j][v].length)),
                ]
            m.d.comb += self.request[j].eq((sending == 0) & self.output_free[j]
                                           & eligible[j].any())

        # The grant: the highest eligible VC of the granted output.
        granted = self.grant.valid
        row = Signal(vcs)
        m.d.comb += row.eq(Array(eligible)[self.grant.port])
        chosen = Signal(params.vc_bits)
        for v in range(vcs):
            with m.If(row[v]):
                m.d.comb += chosen.eq(v)
        starting = Signal(packet)
        m.d.comb += starting.eq(Array(Array(c.as_value() for c in current[j]) for j in range(k))
                                [self.grant.port][chosen])
        m.d.comb += [self.start.vc.eq(chosen), self.start.length.eq(starting.length),
                     packet_read.addr.eq(starting.slot)]

        for j in range(k):
            for v in range(vcs):
                enqueue = keep & (queue_output == j) & (queue_vc == v)
                dequeue = granted & (self.grant.port == j) & (chosen == v)
                m.d.sync += count[j][v].eq(count[j][v] + enqueue - dequeue)
                becomes_head = enqueue & ((count[j][v] == 0) | ((count[j][v] == 1) & dequeue))
                with m.If(becomes_head):
                    m.d.sync += [head[j][v].slot.eq(write_slot),
                                 head[j][v].length.eq(queue_length)]
                with m.Else():
                    m.d.sync += head[j][v].eq(current[j][v])
                with m.If(enqueue):
                    m.d.sync += tail[j][v].eq(write_slot)
                with m.If(enqueue & ~becomes_head):
                    m.d.comb += [packet_write.addr.eq(tail[j][v]), packet_write.en.eq(1)]
        m.d.comb += [packet_write.data.slot.eq(write_slot),
                     packet_write.data.length.eq(queue_length)]
        with m.If(granted):
            m.d.sync += [pending.eq(Array(Array(count[j]) for j in range(k))
                                    [self.grant.port][chosen] >= 2),
                         pending_output.eq(self.grant.port), pending_vc.eq(chosen)]
        with m.Else():
            m.d.sync += pending.eq(0)

        # Reading: the first flit on a grant, then one per cycle along the links.
        reading, read_slot, read_vc = Signal(), Signal(slot_bits), Signal(params.vc_bits)
        m.d.comb += [reading.eq(granted | (sending != 0)),
                     read_slot.eq(Mux(granted, starting.slot, link_read.data)),
                     read_vc.eq(Mux(granted, chosen, sending_vc))]
        m.d.comb += [flit_read.addr.eq(read_slot), link_read.addr.eq(read_slot),
                     self.flit.eq(flit_read.data)]
        with m.If(granted):
            m.d.sync += [sending.eq(starting.length - 1), sending_vc.eq(chosen)]
        with m.Elif(sending != 0):
            m.d.sync += sending.eq(sending - 1)

        freed = Mux(reading, Const(1, slots) << read_slot, 0)[:slots]
        taken = Mux(write, lowest, 0)
        m.d.sync += free.eq(free & ~taken | freed)
        for v in range(vcs):
            m.d.sync += credits[v].eq(credits[v]
                                      - Mux(keep & (queue_vc == v), queue_length, 0)
                                      + (reading & (read_vc == v)))
        return m
