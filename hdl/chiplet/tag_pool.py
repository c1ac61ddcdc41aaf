"""The free list of request tags."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import ChipletParams
from .write_signals import tag_bits


class TagPool(wiring.Component):
    """A first-in first-out free list of the ``outstanding_tags`` tags.

    It starts full with the tags in order 0, 1, ..., ``outstanding_tags - 1``; a freed tag goes
    to the back. So while completions come back in request order, tags are handed out
    round-robin, as :class:`emulator.ref.chiplet.Fabric` numbers them.

    Members
    -------
    allocate : Out(stream.Signature(tag_bits))
        The next free tag; valid while one is free. Taking it removes it.
    free : In(stream.Signature(tag_bits))
        A tag given back; always ready (a pool never holds more tags than exist). A tag freed
        in one cycle can be allocated from the next cycle on.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        tag = stream.Signature(tag_bits(params))
        super().__init__({"allocate": Out(tag), "free": In(tag)})

    def elaborate(self, platform) -> Module:
        m = Module()
        count = self.params.outstanding_tags
        m.submodules.free_list = free_list = Memory(shape=tag_bits(self.params), depth=count,
                                                    init=list(range(count)))
        read = free_list.read_port(domain="comb")
        write = free_list.write_port()
        head = Signal(range(count))
        tail = Signal(range(count))
        free_count = Signal(range(count + 1), init=count)

        take = Signal()
        give = Signal()
        m.d.comb += [
            read.addr.eq(head),
            self.allocate.payload.eq(read.data),
            self.allocate.valid.eq(free_count != 0),
            self.free.ready.eq(1),
            take.eq(self.allocate.valid & self.allocate.ready),
            give.eq(self.free.valid),
            write.addr.eq(tail),
            write.data.eq(self.free.payload),
            write.en.eq(give),
        ]
        with m.If(take):
            m.d.sync += head.eq(_next(head, count))
        with m.If(give):
            m.d.sync += tail.eq(_next(tail, count))
        m.d.sync += free_count.eq(free_count + give - take)
        return m



def _next(pointer: Signal, count: int) -> Value:
    """``pointer + 1`` modulo ``count``."""
    return Mux(pointer == count - 1, 0, pointer + 1)
