"""Request packets in: each decided (carry out, refuse, answer as a duplicate, drop) and
handed to the write or the read channel of the far side's AXI4 manager port."""

from __future__ import annotations

from functools import reduce
from operator import or_

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import (
    ADDRESS_EXTENSION_FLIT,
    BYTE_ENABLE_BITS,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    NON_POSTED,
    TAG_BITS,
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
    EntryState,
    filter_port_signature,
    read_command_layout,
    write_command_layout,
    write_key_layout,
)
from .tag_translate import INDEX_FIELD_BITS
from .write_signals import tag_bits

#: Remote address bits in the header, and in the extension flit above them.
HEADER_ADDRESS_BITS = field_width(TRANSACTION_HEADER, "address")
EXTENSION_ADDRESS_BITS = field_width(ADDRESS_EXTENSION_FLIT, "address_high")
#: The widest remote address a request can carry.
REQUEST_ADDRESS_BITS = HEADER_ADDRESS_BITS + EXTENSION_ADDRESS_BITS


#: What names a WRITE's key as it arrives: the plane and the tag, from the header (the far
#: side's own plane) or from a retry's extension flit; the source is always the header's.
WIRE_KEY = data.StructLayout({"plane": field_width(ADDRESS_EXTENSION_FLIT, "retry_plane"),
                              "tag": TAG_BITS})


class _Flit(enum.Enum, shape=3):
    """What the next flit of the request stream is (or, DECIDE, what the decoder does)."""

    HEADER = 0
    EXTENSION = 1
    ENABLES = 2
    DATA = 3  #: a data flit of a WRITE being carried out: to ``data``
    SKIP = 4  #: the rest of a packet not carried out
    DECIDE = 5  #: a WRITE's header and option flits are in: deciding with its filter entry


class RequestDecoder(wiring.Component):
    """Reads each request packet's header and option flits and decides what becomes of it.

    **Decision** of a ``READ`` or any other packet, once the header and its option flits
    (address extension, byte enables) are in, from the flit that completes them,
    combinationally:

    * ``READ`` that is well formed and inside the memory: carried out, on ``read``.
    * Well formed means: 1 to ``MAX_DATA_BYTES`` bytes, all inside one ``MAX_DATA_BYTES``
      block (no packet crosses one, docs/chiplet.md), and the header's ``link.length`` equal
      to the option flits it announces plus, for a ``WRITE``, the data flits of its byte
      count. Inside the memory means ``remote address + byte_count <= memory_bytes``, the
      rule of :meth:`emulator.ref.chiplet.Fabric.serve`.
    * Any other non-posted request (a ``READ`` that is not, ``ATOMIC_FETCH_ADD``): refused,
      on ``write`` with ``refused`` set; its flits are skipped.
    * Anything else (posted writes, completions, reserved commands): dropped.

    **Decision of a WRITE** (docs/chiplet.md, "Executing once"), in the cycle after the flit
    that completes its header and option flits (the DECIDE state), with its entry in the
    duplicate filter. Its key: the far side's ``plane``, the header's source and the header
    tag's index and generation (``GENERATION_FLAG`` of :mod:`hdl.chiplet.tag_translate`); for
    a retry (an extension flit with ``retry`` set), ``retry_plane`` and the index and
    generation of ``retry_tag`` instead. The key is looked up in the cycle of that flit, and
    again in every cycle of DECIDE; the decision is made with the entry of the last cycle's
    lookup, when it was taken:

    * A key that names no entry (plane at or beyond ``links``, index at or beyond
      ``outstanding_tags``): refused without a lookup; nothing is recorded.
    * The entry holds the key (same generation), pending: wait, and look up again.
    * The entry holds the key, done: a duplicate. On ``write`` with ``refused`` set and
      ``ok`` the entry's: no burst, answered ``WRITE_RESPONSE`` if ok, else
      ``ERROR_RESPONSE``; its data flits are skipped; counted in ``duplicates``.
    * Otherwise well formed and inside the memory: carried out, on ``write`` with its key;
      the entry becomes pending. Else refused, and the entry becomes done, not ok.

    The first flit after the deciding one (a ``WRITE``'s first data flit) is taken in the
    cycle the decision is, so back-to-back ``WRITE``s lose no cycle; the data flits reach
    ``data`` through a register, one cycle later.

    ``refused_requests`` counts ``READ`` and ``WRITE`` requests refused; ``unsupported``
    counts packets with any other command, answered or dropped; ``duplicates`` the
    duplicates answered. Packets are framed by ``last``, which the link sets on the flit
    ``link.length`` says is the final one; a packet that ends before its option flits is
    refused (or dropped); the key of a ``WRITE`` that ends before its extension flit is the
    header's.

    Members
    -------
    request : In(stream.Signature(DELIVERED_FLIT))
        Request packets. Ready every cycle except when the flit that decides a ``READ`` or a
        refusal waits for its channel (``read`` or ``write`` not ready), while a ``WRITE``
        is being decided (in the DECIDE cycle, a flit of its own is taken with the decision,
        a flit of the next packet is not), and while the data register is full and not
        emptying.
    memory_bytes : In(axi_address_bits + 1)
        Size of the memory behind the manager port.
    write : Out(stream.Signature(write_command_layout(params)))
        WRITEs to carry out, duplicates and requests to refuse. A ``WRITE``'s command is
        valid in its DECIDE cycles once decided (not waiting on ``request``); a refusal of
        anything else in the cycle its deciding flit is on ``request``, taken with it.
    read : Out(stream.Signature(read_command_layout(params)))
        READs to carry out; valid in the cycle the deciding flit is on ``request`` and taken
        with it.
    data : Out(stream.Signature(FLIT_BITS))
        The data flits of each ``WRITE`` carried out, after its command, from a register
        (one cycle after they were taken from ``request``).
    lookup, entry_valid, entry, update_valid, update : the members of the same names of
        ``filter_port_signature(params)``, as its far side. A lookup is asked for in the cycle
        a ``WRITE``'s deciding flit is on ``request`` and in every DECIDE cycle; the update is
        valid with the decision to carry out or refuse a ``WRITE`` (its command taken).
    refused_requests, unsupported, duplicates : Out(COUNTER_BITS)
        Counts since reset (they wrap).
    """

    def __init__(self, params: ChipletParams, plane: int = 0) -> None:
        if params.axi_address_bits > REQUEST_ADDRESS_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits} is more "
                             f"than the {REQUEST_ADDRESS_BITS} address bits a request carries; "
                             "use fewer")
        if params.axi_address_bits < BLOCK_BITS:
            raise ValueError(f"chiplet.axi_address_bits = {params.axi_address_bits} cannot "
                             f"address one {MAX_DATA_BYTES}-byte block; use at least "
                             f"{BLOCK_BITS}")
        if not 0 <= plane < params.links:
            raise ValueError(f"far side plane={plane}: the chiplet's planes are 0 to "
                             f"{params.links - 1} (chiplet.links = {params.links})")
        self.params = params
        self.plane = plane
        filter_members = filter_port_signature(params).members
        super().__init__({
            "request": In(stream.Signature(DELIVERED_FLIT)),
            "memory_bytes": In(params.axi_address_bits + 1),
            "write": Out(stream.Signature(write_command_layout(params))),
            "read": Out(stream.Signature(read_command_layout(params))),
            "data": Out(stream.Signature(FLIT_BITS)),
            **{name: filter_members[name] for name in ("lookup", "entry_valid", "entry",
                                                       "update_valid", "update")},
            "refused_requests": Out(COUNTER_BITS),
            "unsupported": Out(COUNTER_BITS),
            "duplicates": Out(COUNTER_BITS),
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
        in_decide = Signal()
        in_data = Signal()
        m.d.comb += [in_header.eq(state == _Flit.HEADER),
                     in_extension.eq(state == _Flit.EXTENSION),
                     in_enables.eq(state == _Flit.ENABLES),
                     in_decide.eq(state == _Flit.DECIDE),
                     in_data.eq(state == _Flit.DATA)]

        # The packet's header: the flit itself in its own cycle, then the saved copy.
        saved = Signal(HEADER_BODY)
        header = Signal(HEADER_BODY)
        m.d.comb += header.eq(Mux(in_header, flit[:HEADER_BODY.size], saved))
        transaction = header.message.transaction
        extension = ADDRESS_EXTENSION_FLIT(flit)
        saved_high = Signal(EXTENSION_ADDRESS_BITS)
        high = Signal(EXTENSION_ADDRESS_BITS)
        m.d.comb += high.eq(Mux(in_extension, extension.address_high,
                                Mux(in_header, 0, saved_high)))
        all_enabled = Const((1 << BYTE_ENABLE_BITS) - 1, BYTE_ENABLE_BITS)
        saved_enables = Signal(BYTE_ENABLE_BITS)
        enables = Signal(BYTE_ENABLE_BITS)
        m.d.comb += enables.eq(Mux(in_enables, flit[:BYTE_ENABLE_BITS],
                                   Mux(in_decide, saved_enables, all_enabled)))

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
        to_decide = Signal()  # a WRITE's deciding flit: the decision follows in DECIDE
        to_write = Signal()  # on ``write`` now: a refusal of anything but a WRITE
        to_read = Signal()
        m.d.comb += [to_decide.eq(decide & is_write),
                     to_write.eq(decide & ~is_write & non_posted & ~carry_out),
                     to_read.eq(decide & carry_out & is_read)]

        # A WRITE's key: the header's tag on this plane, or a retry's names of the first one.
        saved_key = Signal(WIRE_KEY)
        key = Signal(WIRE_KEY)
        with m.If(in_extension & extension.retry):
            m.d.comb += [key.plane.eq(extension.retry_plane), key.tag.eq(extension.retry_tag)]
        with m.Elif(in_header | in_extension):
            m.d.comb += [key.plane.eq(self.plane), key.tag.eq(transaction.tag)]
        with m.Else():
            m.d.comb += key.eq(saved_key)
        in_range = Signal()  # the key names an entry
        m.d.comb += in_range.eq((key.plane < params.links)
                                & (key.tag[:INDEX_FIELD_BITS] < params.outstanding_tags))
        write_key = Signal(write_key_layout(params))
        m.d.comb += [write_key.address.index.eq(key.tag[:tag_bits(params)]),
                     write_key.address.source.eq(transaction.source),
                     write_key.address.plane.eq(key.plane),
                     write_key.generation.eq(key.tag[INDEX_FIELD_BITS])]
        m.d.comb += [
            self.lookup.valid.eq(in_range & (in_decide | (self.request.valid & to_decide))),
            self.lookup.payload.eq(write_key.address),
        ]

        # DECIDE: the entry of the key, looked up in the last cycle.
        saved_carry = Signal()  # well formed and inside the memory
        saved_ended = Signal()  # the deciding flit was the packet's last
        entry = self.entry
        same = Signal()
        waiting = Signal()
        duplicate = Signal()
        carry = Signal()
        decided = Signal()
        m.d.comb += [
            same.eq(in_decide & in_range & self.entry_valid
                    & (entry.generation == write_key.generation)),
            waiting.eq(same & (entry.state == EntryState.PENDING)),
            duplicate.eq(same & (entry.state == EntryState.DONE)),
            carry.eq(in_decide & saved_carry & in_range & ~duplicate),
            decided.eq(in_decide & (~in_range | self.entry_valid) & ~waiting),
        ]
        settled = Signal()  # a WRITE's decision, taken by the write channel
        m.d.comb += [
            settled.eq(decided & self.write.ready),
            self.update_valid.eq(settled & in_range & ~duplicate),
            self.update.generation.eq(write_key.generation),
            self.update.state.eq(Mux(carry, EntryState.PENDING, EntryState.DONE)),
            self.update.ok.eq(0),
        ]

        answer = Signal(ANSWER)
        m.d.comb += [getattr(answer, name).eq(getattr(transaction, name))
                     for name, _ in ANSWER]
        m.d.comb += [
            self.write.valid.eq(decided | (self.request.valid & to_write)),
            self.write.payload.answer.eq(answer),
            self.write.payload.refused.eq(~carry),
            self.write.payload.ok.eq(duplicate & entry.ok),
            self.write.payload.address.eq(remote[:address_bits]),
            self.write.payload.enables.eq(enables),
            self.write.payload.has_byte_enable.eq(has_enables),
            self.write.payload.key.eq(write_key),
            self.read.valid.eq(self.request.valid & to_read),
            self.read.payload.answer.eq(answer),
            self.read.payload.address.eq(remote[:address_bits]),
        ]

        # The data register: a WRITE's data flits, one cycle after they were taken.
        data_free = Signal()
        m.d.comb += data_free.eq(~self.data.valid | self.data.ready)
        with m.If(in_data):
            m.d.comb += self.request.ready.eq(data_free)
        with m.Elif(in_decide):
            m.d.comb += self.request.ready.eq(~saved_ended & settled & (~carry | data_free))
        with m.Elif(to_write):
            m.d.comb += self.request.ready.eq(self.write.ready)
        with m.Elif(to_read):
            m.d.comb += self.request.ready.eq(self.read.ready)
        with m.Else():
            m.d.comb += self.request.ready.eq(1)

        taken = Signal()
        m.d.comb += taken.eq(self.request.valid & self.request.ready)
        with m.If(taken & (in_data | carry)):
            m.d.sync += [self.data.valid.eq(1), self.data.payload.eq(flit)]
        with m.Elif(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.If(settled):
            with m.If(saved_ended | (taken & last)):
                m.d.sync += state.eq(_Flit.HEADER)
            with m.Elif(carry):
                m.d.sync += state.eq(_Flit.DATA)
            with m.Else():
                m.d.sync += state.eq(_Flit.SKIP)
            with m.If(duplicate):
                m.d.sync += self.duplicates.eq(self.duplicates + 1)
            with m.Elif(~carry):
                m.d.sync += self.refused_requests.eq(self.refused_requests + 1)
        with m.Elif(taken & ~in_decide):
            with m.If(in_header):
                m.d.sync += saved.eq(header)
            with m.If(in_header | in_extension):
                m.d.sync += [saved_high.eq(high),  # zero unless the packet has an extension
                             saved_key.eq(key)]
            with m.If(decide):
                with m.If(is_write):
                    m.d.sync += [state.eq(_Flit.DECIDE), saved_enables.eq(enables),
                                 saved_carry.eq(carry_out), saved_ended.eq(last)]
                with m.Elif(last):
                    m.d.sync += state.eq(_Flit.HEADER)
                with m.Else():
                    m.d.sync += state.eq(_Flit.SKIP)
                with m.If(is_read & ~carry_out):
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
