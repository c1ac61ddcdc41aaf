"""What the parts of the chiplet's far side (the responder) pass between them.

The packet format lives in :mod:`hdl.layouts` and the AXI4 signature in
:mod:`hdl.chiplet.axi`; this module holds the shapes the request decoder and the two manager
channels (writes, reads) exchange, the AXI4 members each channel drives, the two pieces of
logic both channels need (a burst's AxLEN and a completion's header), and what a far side and
the chiplet's duplicate filter (:mod:`hdl.chiplet.duplicate_filter`) exchange: a ``WRITE``'s
key, a table entry, and the port between them (:func:`filter_port_signature`).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..layouts import (
    BYTE_ENABLE_BITS,
    COMPLETION_VC,
    FLIT_BITS,
    HEADER_BODY,
    MAX_DATA_BYTES,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_width,
)
from ..params import ChipletParams
from .axi import AxiSignature, data_bytes
from .packet_merge import index_bits
from .write_signals import tag_bits

#: Bytes in a flit, and their log2.
FLIT_BYTES = FLIT_BITS // 8
FLIT_BYTE_BITS = FLIT_BYTES.bit_length() - 1
#: Log2 of the largest packet's data: a well-formed request lies inside one block of this
#: many address bits, so its data are held in buffers indexed by address modulo 256.
BLOCK_BITS = MAX_DATA_BYTES.bit_length() - 1
#: Flits that hold a block: a buffer's 16-byte chunks.
BLOCK_CHUNKS = MAX_DATA_BYTES // FLIT_BYTES

#: The fields of a request that its completion repeats (source and destination swapped).
ANSWER = data.StructLayout({name: TRANSACTION_HEADER[name].shape
                            for name in ("destination", "source", "tag", "address",
                                         "byte_count")})


#: Width of a requester's endpoint ID (a header's ``source``).
SOURCE_BITS = field_width(TRANSACTION_HEADER, "source")


class EntryState(enum.Enum, shape=2):
    """What the duplicate filter knows of a ``WRITE`` key (docs/chiplet.md, "Executing
    once")."""

    NONE = 0  #: never seen (every entry at power-up; a reset does not clear the table)
    PENDING = 1  #: carried out, its B not yet valid
    DONE = 2  #: its B was valid, or it was refused


#: One entry of the duplicate filter: the generation of the last key recorded for a plane,
#: source and tag index, its state, and (when done) whether it succeeded.
FILTER_ENTRY = data.StructLayout({"generation": 1, "state": EntryState, "ok": 1})


def plane_bits(params: ChipletParams) -> int:
    """Width of a plane number below ``links``."""
    return index_bits(params.links)


def entry_address_layout(params: ChipletParams) -> data.StructLayout:
    """Where a ``WRITE`` key's entry lies in the duplicate filter: the plane (the bank), and
    in it the source and the tag index (``index`` lowest: the bank's address is the first
    ``tag_bits + SOURCE_BITS`` bits)."""
    return data.StructLayout({"index": tag_bits(params), "source": SOURCE_BITS,
                              "plane": plane_bits(params)})


def write_key_layout(params: ChipletParams) -> data.StructLayout:
    """A ``WRITE`` key: its entry's address and the tag's generation."""
    return data.StructLayout({"address": entry_address_layout(params), "generation": 1})


def record_layout(params: ChipletParams) -> data.StructLayout:
    """What a far side writes into the filter when a ``WRITE``'s B is valid: the entry's
    address and its new contents."""
    return data.StructLayout({"address": entry_address_layout(params), "entry": FILTER_ENTRY})


def filter_port_signature(params: ChipletParams) -> wiring.Signature:
    """One far side's port of the duplicate filter, as the far side sees it.

    ``lookup``: a read of the entry at ``lookup.payload`` (plane below ``links``), taken when
    ``ready`` (the filter's grant; it may depend on ``valid``). In the next cycle
    ``entry_valid`` is high and ``entry`` holds that entry as the table has it after the
    writes of the lookup's cycle; ``update_valid`` then writes ``update`` over it, and
    nothing else writes the entry's bank in that cycle. An update in any other cycle is
    ignored. ``record``: a write of ``record.payload.entry`` at ``record.payload.address``,
    taken when ``ready`` (the filter's grant, which may depend on ``valid``).
    """
    return wiring.Signature({
        "lookup": Out(stream.Signature(entry_address_layout(params))),
        "entry_valid": In(1),
        "entry": In(FILTER_ENTRY),
        "update_valid": Out(1),
        "update": Out(FILTER_ENTRY),
        "record": Out(stream.Signature(record_layout(params))),
    })


def lane_bits(params: ChipletParams) -> int:
    """Log2 of the byte lanes of the AXI4 data bus."""
    return data_bytes(params).bit_length() - 1


def write_command_layout(params: ChipletParams) -> data.StructLayout:
    """A request the write channel answers: a ``WRITE`` to carry out, or (``refused``) a
    request to answer without touching the memory: with ``ERROR_RESPONSE``, or with
    ``WRITE_RESPONSE`` when ``ok`` (a duplicate of a ``WRITE`` that succeeded).

    ``address`` is the remote address, ``enables`` the byte-enable flit (all ones when the
    packet has none, ``has_byte_enable`` clear) and ``key`` the ``WRITE``'s key, recorded done
    when its B is valid; they matter only when not refused.
    """
    return data.StructLayout({
        "answer": ANSWER, "refused": 1, "ok": 1, "address": params.axi_address_bits,
        "enables": BYTE_ENABLE_BITS, "has_byte_enable": 1, "key": write_key_layout(params)})


def read_command_layout(params: ChipletParams) -> data.StructLayout:
    """A ``READ`` to carry out: what its completion repeats, and the remote address."""
    return data.StructLayout({"answer": ANSWER, "address": params.axi_address_bits})


def _channel_members(params: ChipletParams, prefixes: tuple[str, ...]) -> dict:
    return {name: member for name, member in AxiSignature(params).members.items()
            if name.startswith(prefixes)}


def write_channel_members(params: ChipletParams) -> dict[str, wiring.Member]:
    """The AW, W and B members of :class:`AxiSignature`, as its manager sees them."""
    return _channel_members(params, ("aw", "w", "b"))


def read_channel_members(params: ChipletParams) -> dict[str, wiring.Member]:
    """The AR and R members of :class:`AxiSignature`, as its manager sees them."""
    return _channel_members(params, ("ar", "r"))


def pending_queue(params: ChipletParams, width: int) -> SyncFIFO | SyncFIFOBuffered:
    """The queue of requests under way on one channel of the manager port, in order:
    ``outstanding_tags`` entries of ``width`` bits. An entry written is readable the next
    cycle. (A one-entry queue is a register: Amaranth's ``SyncFIFO`` of depth 1 has
    zero-width pointers, which Verilog cannot declare.)"""
    depth = params.outstanding_tags
    return (SyncFIFOBuffered if depth == 1 else SyncFIFO)(width=width, depth=depth)


def burst_length(params: ChipletParams, address: Value, byte_count: Value) -> Value:
    """AxLEN of the full-width INCR burst that covers ``byte_count`` (at least 1) bytes from
    ``address``: the beats from the address's bus word to the word of its last byte, minus
    one (:func:`emulator.ref.chiplet.manager_burst`)."""
    lanes = lane_bits(params)
    return (address[:lanes] + byte_count - 1) >> lanes


def completion_header(m: Module, answer: data.View, command: Value, length: Value,
                      name: str = "completion_header") -> data.View:
    """A completion's header flit body for the request ``answer`` (an :data:`ANSWER` view),
    as :func:`emulator.ref.chiplet.completion` builds it: source and destination swapped,
    the tag and address kept, the byte count repeated except in an ``ERROR_RESPONSE``, on
    ``COMPLETION_VC``, ``length`` payload flits. Combinational."""
    header = Signal(HEADER_BODY, name=name)
    transaction = header.message.transaction
    m.d.comb += [
        header.link.kind.eq(FlitKind.PACKET),
        header.link.vc.eq(COMPLETION_VC),
        header.link.length.eq(length),
        transaction.command.eq(command),
        transaction.destination.eq(answer.source),
        transaction.source.eq(answer.destination),
        transaction.tag.eq(answer.tag),
        transaction.address.eq(answer.address),
        transaction.byte_count.eq(Mux(command == Command.ERROR_RESPONSE, 0,
                                      answer.byte_count)),
    ]
    return header
