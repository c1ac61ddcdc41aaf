"""Request packets in: each decided (carry out, refuse, drop) and handed to the write or the
read channel of the far side's AXI4 manager port."""

from __future__ import annotations

from functools import reduce
from operator import or_

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    NON_POSTED,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_width,
)
from ..link.link_signals import COUNTER_BITS, DELIVERED_FLIT
from ..params import ChipletParams
from .responder_signals import (
    ANSWER,
    BLOCK_BITS,
    FLIT_BYTE_BITS,
    FLIT_BYTES,
    read_command_layout,
    write_command_layout,
)

#: Remote address bits in the header, and in the extension flit above them.
HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
EXTENSION_ADDRESS_BITS = field_width(ADDRESS_EXTENSION_FLIT, "address_high")
#: The widest remote address a request can carry.
REQUEST_ADDRESS_BITS = HEADER_ADDRESS_BITS + EXTENSION_ADDRESS_BITS


class _Flit(enum.Enum, shape=3):
    """What the next flit of the request stream is."""

    HEADER = 0
    EXTENSION = 1
    ENABLES = 2
    DATA = 3  #: a data flit of a WRITE being carried out: to ``data``
    SKIP = 4  #: the rest of a packet not carried out


class RequestDecoder(wiring.Component):
    """Reads each request packet's header and option flits and decides what becomes of it.

    **Decision**, once the header and its option flits (address extension, byte enables) are
    in, from the flit that completes them, combinationally:

    * ``WRITE`` or ``READ`` that is well formed and inside the memory: carried out, on
      ``write`` (with its data flits following on ``data``) or on ``read``.
    * Well formed means: 1 to ``MAX_DATA_BYTES`` bytes, all inside one ``MAX_DATA_BYTES``
      block (no packet crosses one, docs/chiplet.md), and the header's ``link.length`` equal
      to the option flits it announces plus, for a ``WRITE``, the data flits of its byte
      count. Inside the memory means ``remote address + byte_count <= memory_bytes``, the
      rule of :meth:`emulator.ref.chiplet.Fabric.serve`.
    * Any other non-posted request (a ``READ`` or ``WRITE`` that is not, ``ATOMIC_FETCH_ADD``):
      refused, on ``write`` with ``refused`` set; its flits are skipped.
    * Anything else (posted writes, completions, reserved commands): dropped.

    ``refused_requests`` counts ``READ`` and ``WRITE`` requests refused; ``unsupported``
    counts packets with any other command, answered or dropped. Packets are framed by
    ``last``, which the link sets on the flit ``link.length`` says is the final one; a
    packet that ends before its option flits is refused (or dropped).

    Members
    -------
    request : In(stream.Signature(DELIVERED_FLIT))
        Request packets. Ready every cycle except when the flit that decides a packet waits
        for its channel (``write`` or ``read`` not ready) and while a ``WRITE``'s data flits
        wait for ``data``.
    memory_bytes : In(axi_address_bits + 1)
        Size of the memory behind the manager port.
    write : Out(stream.Signature(write_command_layout(params)))
        WRITEs to carry out and requests to refuse; valid in the cycle the deciding flit is
        on ``request`` and taken with it.
    read : Out(stream.Signature(read_command_layout(params)))
        READs to carry out, likewise.
    data : Out(stream.Signature(FLIT_BITS))
        The data flits of each WRITE on ``write``, after it, passed through combinationally.
    refused_requests, unsupported : Out(COUNTER_BITS)
        Counts since reset (they wrap).
    """

    def __init__(self, params: ChipletParams) -> None:
        if params.axi_address_bits > REQUEST_ADDRESS_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits} is more "
                             f"than the {REQUEST_ADDRESS_BITS} address bits a request carries; "
                             "use fewer")
        if params.axi_address_bits < BLOCK_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits} cannot "
                             f"address one {MAX_DATA_BYTES}-byte block; use at least "
                             f"{BLOCK_BITS}")
        self.params = params
        super().__init__({
            "request": In(stream.Signature(DELIVERED_FLIT)),
            "memory_bytes": In(params.axi_address_bits + 1),
            "write": Out(stream.Signature(write_command_layout(params))),
            "read": Out(stream.Signature(read_command_layout(params))),
            "data": Out(stream.Signature(FLIT_BITS)),
            "refused_requests": Out(COUNTER_BITS),
            "unsupported": Out(COUNTER_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        address_bits = params.axi_address_bits
        flit = self.request.payload.flit
        last = self.request.payload.last
        state = Signal(_Flit)
        in_header = Signal()
        in_extension = Signal()
        in_enables = Signal()
        m.d.comb += [in_header.eq(state == _Flit.HEADER),
                     in_extension.eq(state == _Flit.EXTENSION),
                     in_enables.eq(state == _Flit.ENABLES)]

        # The packet's header: the flit itself in its own cycle, then the saved copy.
        saved = Signal(HEADER_BODY)
        header = Signal(HEADER_BODY)
        m.d.comb += header.eq(Mux(in_header, flit[:HEADER_BODY.size], saved))
        transaction = header.message.transaction
        saved_high = Signal(EXTENSION_ADDRESS_BITS)
        high = Signal(EXTENSION_ADDRESS_BITS)
        m.d.comb += high.eq(Mux(in_extension, ADDRESS_EXTENSION_FLIT(flit).address_high,
                                Mux(in_header, 0, saved_high)))
        all_enabled = Const((1 << BYTE_ENABLE_BITS) - 1, BYTE_ENABLE_BITS)
        enables = Signal(BYTE_ENABLE_BITS)
        m.d.comb += enables.eq(Mux(in_enables, flit[:BYTE_ENABLE_BITS], all_enabled))

        command = transaction.command
        is_packet = Signal()
        is_write = Signal()
        is_read = Signal()
        non_posted = Signal()
        m.d.comb += [
            is_packet.eq(header.link.kind == FlitKind.PACKET),
            is_write.eq(is_packet & (command == Command.WRITE)),
            is_read.eq(is_packet & (command == Command.READ)),
            non_posted.eq(is_packet & reduce(or_, (command == kind for kind in
                                                   sorted(NON_POSTED, key=lambda c: c.value)))),
        ]
        supported = is_write | is_read

        # Option flits still to come after this one (none for a packet not carried out).
        has_extension = transaction.has_address_extension
        has_enables = transaction.has_byte_enable
        options_left = Signal()
        m.d.comb += options_left.eq((in_header & supported & (has_extension | has_enables))
                                    | (in_extension & has_enables))
        decide = Signal()
        m.d.comb += decide.eq((in_header | in_extension | in_enables) & (~options_left | last))

        count = transaction.byte_count
        data_flits = Signal(range(MAX_DATA_BYTES // FLIT_BYTES + 1))
        m.d.comb += data_flits.eq(Mux(is_write, (count + FLIT_BYTES - 1) >> FLIT_BYTE_BITS, 0))
        well_formed = Signal()
        m.d.comb += well_formed.eq(
            (count != 0) & (count <= MAX_DATA_BYTES)
            & (transaction.address[:BLOCK_BITS] + count <= MAX_DATA_BYTES)
            & (header.link.length == has_extension + has_enables + data_flits)
            & ~options_left & (is_read | ~last))
        remote = Signal(REQUEST_ADDRESS_BITS)
        m.d.comb += remote.eq(Cat(transaction.address, high))
        end = Signal(address_bits + 1)
        m.d.comb += end.eq(remote[:address_bits] + count)
        inside = Signal()
        beyond_space = remote[address_bits:].any() if address_bits < REQUEST_ADDRESS_BITS else 0
        m.d.comb += inside.eq(~beyond_space & (end <= self.memory_bytes))
        carry_out = Signal()
        m.d.comb += carry_out.eq(supported & well_formed & inside)
        to_write = Signal()  # on ``write``: a WRITE carried out, or a request refused
        to_read = Signal()
        m.d.comb += [to_write.eq(decide & Mux(carry_out, is_write, non_posted)),
                     to_read.eq(decide & carry_out & is_read)]

        answer = Signal(ANSWER)
        m.d.comb += [getattr(answer, name).eq(getattr(transaction, name))
                     for name, _ in ANSWER]
        m.d.comb += [
            self.write.valid.eq(self.request.valid & to_write),
            self.write.payload.answer.eq(answer),
            self.write.payload.refused.eq(~carry_out),
            self.write.payload.address.eq(remote[:address_bits]),
            self.write.payload.enables.eq(enables),
            self.write.payload.has_byte_enable.eq(has_enables),
            self.read.valid.eq(self.request.valid & to_read),
            self.read.payload.answer.eq(answer),
            self.read.payload.address.eq(remote[:address_bits]),
            self.data.payload.eq(flit),
        ]

        with m.If(state == _Flit.DATA):
            m.d.comb += [self.data.valid.eq(self.request.valid),
                         self.request.ready.eq(self.data.ready)]
        with m.Elif(to_write):
            m.d.comb += self.request.ready.eq(self.write.ready)
        with m.Elif(to_read):
            m.d.comb += self.request.ready.eq(self.read.ready)
        with m.Else():
            m.d.comb += self.request.ready.eq(1)

        taken = Signal()
        m.d.comb += taken.eq(self.request.valid & self.request.ready)
        with m.If(taken):
            with m.If(in_header):
                m.d.sync += saved.eq(header)
            with m.If(in_header | in_extension):
                m.d.sync += saved_high.eq(high)  # zero unless the packet has an extension
            with m.If(decide):
                with m.If(last):
                    m.d.sync += state.eq(_Flit.HEADER)
                with m.Elif(carry_out & is_write):
                    m.d.sync += state.eq(_Flit.DATA)
                with m.Else():
                    m.d.sync += state.eq(_Flit.SKIP)
                with m.If(supported & ~carry_out):
                    m.d.sync += self.refused_requests.eq(self.refused_requests + 1)
                with m.If(~supported):
                    m.d.sync += self.unsupported.eq(self.unsupported + 1)
            with m.Elif(in_header & has_extension):
                m.d.sync += state.eq(_Flit.EXTENSION)
            with m.Elif(in_header | in_extension):
                m.d.sync += state.eq(_Flit.ENABLES)
            with m.Elif(last):  # DATA or SKIP
                m.d.sync += state.eq(_Flit.HEADER)
        return m
