"""Go-back-N replay buffer: every packet sent, kept until acknowledged."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS
from ..params import LinkParams
from .link_signals import SEQ_BITS


def pointer_bits(params: LinkParams) -> int:
    """Flit pointers into the replay buffer: the address and one wrap bit, so that a full
    buffer differs from an empty one."""
    return (params.replay_buffer_depth - 1).bit_length() + 1


def replay_port(params: LinkParams) -> wiring.Signature:
    """The transmitter's side of the replay buffer (directions as the transmitter sees them)."""
    depth = params.replay_buffer_depth
    return wiring.Signature({
        "append_valid": Out(1),
        "append_flit": Out(FLIT_BITS),
        "append_header": Out(1),
        "append_seq": Out(SEQ_BITS),
        "release_valid": Out(1),
        "release_oldest": Out(SEQ_BITS),
        "release_empty": Out(1),
        "flits": In(range(depth + 1)),
        "start_seq": Out(SEQ_BITS),
        "start": In(pointer_bits(params)),
        "read_address": Out(pointer_bits(params)),
        "read_data": In(FLIT_BITS),
    })


class ReplayBuffer(wiring.Component):
    """The flits of the unacknowledged packets, oldest first, and where each packet starts.

    Packets are stored back to back in a ring of ``LinkParams.replay_buffer_depth`` flits (a
    header with its link-owned fields zero, then its payload); a second memory, indexed by
    sequence number, holds the pointer to each packet's header. The transmitter appends new
    packets, releases acknowledged ones from the old end and reads packets back to replay
    them; it never appends more than fits.

    Members
    -------
    port : In(replay_port(params))
        ``append_*``: while ``append_valid``, one flit is stored at the write pointer at the
        clock edge; with ``append_header`` the pointer is also recorded as the start of packet
        ``append_seq``.
        ``release_*``: while ``release_valid``, every packet before ``release_oldest`` is
        dropped at the clock edge; ``release_empty`` says none is left (``release_oldest`` is
        the next sequence number to be sent).
        ``flits``: flits held once this cycle's release is done, before this cycle's append.
        Combinational.
        ``start``: pointer to the header of packet ``start_seq``; combinational.
        ``read_data``: the flit at ``read_address``; combinational, and the flit stored
        before this cycle's append.
    """

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        super().__init__({"port": In(replay_port(params))})

    def elaborate(self, platform) -> Module:
        m = Module()
        port = self.port
        depth = self.params.replay_buffer_depth
        address_bits = (depth - 1).bit_length()
        bits = pointer_bits(self.params)

        m.submodules.flits = flits = memory.Memory(shape=FLIT_BITS, depth=depth, init=[])
        m.submodules.starts = starts = memory.Memory(
            shape=bits, depth=self.params.sequence_modulus, init=[])
        flit_write = flits.write_port()
        flit_read = flits.read_port(domain="comb")
        start_write = starts.write_port()
        start_read = starts.read_port(domain="comb")
        oldest_read = starts.read_port(domain="comb")

        write_pointer = Signal(bits)
        tail = Signal(bits)  # header of the oldest packet held
        tail_after = Signal(bits)
        m.d.comb += [
            flit_write.addr.eq(write_pointer[:address_bits]),
            flit_write.data.eq(port.append_flit),
            flit_write.en.eq(port.append_valid),
            start_write.addr.eq(port.append_seq),
            start_write.data.eq(write_pointer),
            start_write.en.eq(port.append_valid & port.append_header),
            oldest_read.addr.eq(port.release_oldest),
            tail_after.eq(Mux(port.release_valid,
                              Mux(port.release_empty, write_pointer, oldest_read.data), tail)),
            port.flits.eq((write_pointer - tail_after)[:bits]),
            start_read.addr.eq(port.start_seq),
            port.start.eq(start_read.data),
            flit_read.addr.eq(port.read_address[:address_bits]),
            port.read_data.eq(flit_read.data),
        ]
        m.d.sync += [tail.eq(tail_after), write_pointer.eq(write_pointer + port.append_valid)]
        return m
