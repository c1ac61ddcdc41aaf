"""A FIFO whose entries become readable only when committed, and can be taken back until then."""

from amaranth import Module, Mux, Signal
from amaranth.hdl import ShapeLike
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out


class CommitFifo(wiring.Component):
    """FIFO with speculative writes: a receiver stores what it cannot check yet, then keeps it
    (commit) or drops it (rollback) once the check is done.

    Parameters
    ----------
    shape : ShapeLike
        Shape of one entry.
    depth : int
        Entries; a power of two so that pointers wrap for free.

    Members
    -------
    write : In(stream.Signature(shape, always_ready=True))
        Stores one entry per cycle while valid. There is no ready: the writer checks ``free``
        first. A write in a rollback cycle is dropped.
    commit : In(1)
        Entries written before this cycle become readable from the next cycle on.
    commit_write : In(1)
        With ``commit``: this cycle's write is committed too.
    rollback : In(1)
        Entries not committed (this cycle's write included) are discarded. Never together with
        ``commit``.
    read : Out(stream.Signature(shape))
        Committed entries in write order. Payload is read combinationally from the memory.
    free : Out(range(depth + 1))
        Entries that can still be written, counting uncommitted ones as used.
    """

    def __init__(self, shape: ShapeLike, depth: int) -> None:
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"CommitFifo depth={depth} must be a power of two, at least 2.")
        self.shape = shape
        self.depth = depth
        super().__init__({
            "write": In(stream.Signature(shape, always_ready=True)),
            "commit": In(1),
            "commit_write": In(1),
            "rollback": In(1),
            "read": Out(stream.Signature(shape)),
            "free": Out(range(depth + 1)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        address_bits = (self.depth - 1).bit_length()
        m.submodules.storage = storage = memory.Memory(shape=self.shape, depth=self.depth, init=[])
        write_port = storage.write_port()
        read_port = storage.read_port(domain="comb")

        # One wrap bit above the address tells a full FIFO from an empty one.
        write_pointer = Signal(address_bits + 1)
        commit_pointer = Signal(address_bits + 1)
        read_pointer = Signal(address_bits + 1)

        stored = self.write.valid & ~self.rollback
        write_after = write_pointer + stored
        m.d.comb += [
            write_port.addr.eq(write_pointer[:address_bits]),
            write_port.data.eq(self.write.payload),
            write_port.en.eq(stored),
            read_port.addr.eq(read_pointer[:address_bits]),
            self.read.payload.eq(read_port.data),
            self.read.valid.eq(read_pointer != commit_pointer),
            self.free.eq(self.depth - (write_pointer - read_pointer)[:address_bits + 1]),
        ]
        with m.If(self.rollback):
            m.d.sync += write_pointer.eq(commit_pointer)
        with m.Else():
            m.d.sync += write_pointer.eq(write_after)
        with m.If(self.commit):
            m.d.sync += commit_pointer.eq(Mux(self.commit_write, write_after, write_pointer))
        with m.If(self.read.valid & self.read.ready):
            m.d.sync += read_pointer.eq(read_pointer + 1)
        return m
