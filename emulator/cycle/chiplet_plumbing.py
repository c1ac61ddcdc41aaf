"""Cycle models of the chiplet's small parts between its paths and its links.

:class:`PacketQueueModel` (``hdl.chiplet.packet_queue.PacketQueue``), :class:`StriperModel`
(``hdl.chiplet.striper.Striper``) and :class:`CompletionSplitModel`
(``hdl.chiplet.completion_split.CompletionSplit``) hold the RTL's registers one for one and
give every output port bit for bit, whether or not a valid is high.

Same interface as the chiplet's other cycle models (:mod:`emulator.cycle.chiplet_write`):
ports by their dotted RTL path (``"flit_in.valid"``, ``"flit_out.1.payload"``), a
``DELIVERED_FLIT`` payload as one integer (the flit in its low bits, ``last`` above);
``comb(inputs)`` gives every output from every input without changing state; ``tick(inputs)``
commits the clock edge. Each model starts as its RTL leaves reset.
"""

from __future__ import annotations

from collections.abc import Mapping

from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.chiplet.striper import COUNTER_BITS, chosen_plane
from hdl.layouts import FLIT_BITS, HEADER_BODY, MAX_PACKET_FLITS, field_slice
from hdl.link.link_signals import DELIVERED_FLIT

_TRANSACTION = ("message", "transaction")
_LAST_OFFSET, _ = field_slice(DELIVERED_FLIT, "last")
_FLIT_OFFSET, _ = field_slice(DELIVERED_FLIT, "flit")
_FLIT_MASK = (1 << FLIT_BITS) - 1
_HEADER_MASK = (1 << HEADER_BODY.size) - 1
_COUNTER_MASK = (1 << COUNTER_BITS) - 1


def _reader(*path: str) -> tuple[int, int]:
    """(offset in a ``DELIVERED_FLIT`` word, mask) of a header field."""
    offset, width = field_slice(HEADER_BODY, *path)
    return _FLIT_OFFSET + offset, (1 << width) - 1


_TAG = _reader(*_TRANSACTION, "tag")


class PacketQueueModel:
    """``PacketQueue(depth)``, cycle for cycle, with its ``SyncFIFO`` modelled exactly.

    The FIFO: a memory of ``depth`` words read combinationally at ``consume`` (so the head
    word, and the header and payload outputs made from it, show a stale word while the FIFO
    is empty), ``produce``, and ``level``; ``w_rdy`` is ``level != depth`` (a full FIFO takes
    nothing even in a cycle it is read), ``r_rdy`` is ``level != 0``. Around it the queue's
    ``whole`` (packets whose last flit is stored) and ``at_start`` (the head flit is a header).

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``PacketQueue`` by its dotted path, with its width in bits.
    """

    def __init__(self, depth: int = 2 * MAX_PACKET_FLITS,
                 header_room: int = MAX_PACKET_FLITS) -> None:
        if depth < MAX_PACKET_FLITS:
            raise ValueError(f"PacketQueueModel depth={depth} cannot hold a "
                             f"{MAX_PACKET_FLITS}-flit packet.")
        self.depth = depth
        self.header_room = header_room
        self.input_widths = {"flit_in.valid": 1, "flit_in.payload": DELIVERED_FLIT.size,
                             "header.ready": 1, "payload.ready": 1}
        self.output_widths = {"flit_in.ready": 1, "header.valid": 1,
                              "header.payload": HEADER_BODY.size, "payload.valid": 1,
                              "payload.payload": FLIT_BITS, "empty": 1}
        self.memory = [0] * depth
        self.produce = 0
        self.consume = 0
        self.level = 0
        self.whole = 0
        self.at_start = 1
        self.in_start = 1  # the next flit written is a header

    @property
    def empty(self) -> bool:
        """No flit is held (the ``empty`` output)."""
        return self.level == 0

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        head = self.memory[self.consume]
        flit = head >> _FLIT_OFFSET & _FLIT_MASK
        readable = self.level != 0
        return {
            "flit_in.ready": int(self._writable()),
            "header.valid": int(readable and self.at_start and self.whole != 0),
            "header.payload": flit & _HEADER_MASK,
            "payload.valid": int(readable and not self.at_start),
            "payload.payload": flit,
            "empty": int(not readable),
        }

    def _writable(self) -> bool:
        """A flit may be written: a header only with ``header_room`` flits free."""
        if self.in_start:
            return self.depth - self.level >= self.header_room
        return self.level != self.depth

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        readable = self.level != 0
        head_last = self.memory[self.consume] >> _LAST_OFFSET & 1
        read = readable and (
            (self.at_start and self.whole != 0 and inputs["header.ready"])
            or (not self.at_start and inputs["payload.ready"]))
        write = inputs["flit_in.valid"] and self._writable()
        written_last = 0
        if write:
            word = inputs["flit_in.payload"]
            written_last = word >> _LAST_OFFSET & 1
            self.in_start = written_last
            self.memory[self.produce] = word
            self.produce = 0 if self.produce == self.depth - 1 else self.produce + 1
        if read:
            self.at_start = head_last
            self.consume = 0 if self.consume == self.depth - 1 else self.consume + 1
        self.level += bool(write) - bool(read)
        self.whole += written_last - (head_last if read else 0)


class StriperModel:
    """``Striper(links, home)``, cycle for cycle: the plane rule of :func:`chosen_plane` from
    the lane's own plane ``home``, and the registers ``in_packet``, ``current``, ``sent``,
    ``moved``.

    With every plane down the RTL's choice is the home plane (its rotation finds no plane up),
    though nothing is let through then.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``Striper`` by its dotted path, with its width in bits.
    """

    def __init__(self, links: int, home: int = 0) -> None:
        if links < 1:
            raise ValueError(f"StriperModel links={links}: at least one link is needed.")
        self.links = links
        self.home = home
        self.valid_names = [f"flit_out.{index}.valid" for index in range(links)]
        self.payload_names = [f"flit_out.{index}.payload" for index in range(links)]
        self.ready_names = [f"flit_out.{index}.ready" for index in range(links)]
        self.input_widths = {"flit_in.valid": 1, "flit_in.payload": DELIVERED_FLIT.size,
                             "planes_up": links, "drained": links}
        self.input_widths.update(dict.fromkeys(self.ready_names, 1))
        self.output_widths = {"flit_in.ready": 1}
        for index in range(links):
            self.output_widths[self.valid_names[index]] = 1
            self.output_widths[self.payload_names[index]] = DELIVERED_FLIT.size
        self.output_widths.update({"sent": COUNTER_BITS, "moved": COUNTER_BITS})
        self.in_packet = 0
        self.current = 0
        self.sent = 0
        self.moved = 0

    def _decide(self, inputs: Mapping[str, int]) -> tuple[int, int, int, int]:
        """(home, choice, target, go) of this cycle."""
        links, home = self.links, self.home
        planes_up = inputs["planes_up"]
        choice = chosen_plane(home, planes_up, links)
        if choice is None:
            choice = home
        if self.in_packet:
            return home, choice, self.current, 1
        allowed = planes_up != 0 and bool((planes_up | inputs["drained"]) >> home & 1)
        return home, choice, choice, int(allowed)

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        _, _, target, go = self._decide(inputs)
        payload = inputs["flit_in.payload"]
        outputs = dict.fromkeys(self.valid_names, 0)
        outputs.update(dict.fromkeys(self.payload_names, payload))
        outputs[self.valid_names[target]] = inputs["flit_in.valid"] & go
        outputs["flit_in.ready"] = inputs[self.ready_names[target]] & go
        outputs["sent"] = self.sent
        outputs["moved"] = self.moved
        return outputs

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        home, choice, target, go = self._decide(inputs)
        if not (inputs["flit_in.valid"] and inputs[self.ready_names[target]] and go):
            return
        if not self.in_packet:
            self.current = choice
            self.sent = (self.sent + 1) & _COUNTER_MASK
            if choice != home:
                self.moved = (self.moved + 1) & _COUNTER_MASK
        self.in_packet = 1 - (inputs["flit_in.payload"] >> _LAST_OFFSET & 1)


class CompletionSplitModel:
    """``CompletionSplit()``, cycle for cycle: a packet goes to ``read`` when its header's tag
    has ``READ_TAG_FLAG``, else to ``write``; the registers ``in_packet`` and ``to_read`` keep
    the choice until its last flit.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``CompletionSplit`` by its dotted path, with its width in bits.
    """

    def __init__(self) -> None:
        self.input_widths = {"flit_in.valid": 1, "flit_in.payload": DELIVERED_FLIT.size,
                             "write.ready": 1, "read.ready": 1}
        self.output_widths = {"flit_in.ready": 1, "write.valid": 1,
                              "write.payload": DELIVERED_FLIT.size, "read.valid": 1,
                              "read.payload": DELIVERED_FLIT.size}
        self.in_packet = 0
        self.to_read = 0

    def _read_now(self, payload: int) -> int:
        if self.in_packet:
            return self.to_read
        return int(bool(payload >> _TAG[0] & _TAG[1] & READ_TAG_FLAG))

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        """Every output port's value in this cycle, given every input port's."""
        payload, valid = inputs["flit_in.payload"], inputs["flit_in.valid"]
        read_now = self._read_now(payload)
        return {
            "flit_in.ready": inputs["read.ready" if read_now else "write.ready"],
            "write.valid": valid & (1 - read_now),
            "write.payload": payload,
            "read.valid": valid & read_now,
            "read.payload": payload,
        }

    def tick(self, inputs: Mapping[str, int]) -> None:
        """Commit the clock edge at the end of the cycle whose inputs are ``inputs``."""
        payload = inputs["flit_in.payload"]
        read_now = self._read_now(payload)
        if inputs["flit_in.valid"] and inputs["read.ready" if read_now else "write.ready"]:
            self.in_packet = 1 - (payload >> _LAST_OFFSET & 1)
            self.to_read = read_now


class PlaneGuardModel:
    """``PlaneGuard(timeout)``, cycle for cycle: the wait counter and ``stuck`` latch, and the
    completion gate with its ``in_packet``, ``dropping`` and ``dropped_answers`` registers.

    Attributes
    ----------
    input_widths, output_widths : dict of str to int
        Every port of ``PlaneGuard`` by its dotted path, with its width in bits.
    """

    def __init__(self, timeout: int) -> None:
        if timeout < 1:
            raise ValueError(f"PlaneGuardModel timeout={timeout}: at least one cycle.")
        self.timeout = timeout
        self.input_widths = {"held": 1, "moved": 1, "usable": 1, "flit_in.valid": 1,
                             "flit_in.payload": DELIVERED_FLIT.size, "flit_out.ready": 1}
        self.output_widths = {"flit_in.ready": 1, "flit_out.valid": 1,
                              "flit_out.payload": DELIVERED_FLIT.size, "stuck": 1,
                              "dropped_answers": COUNTER_BITS}
        self.waited = 0
        self.stuck = 0
        self.in_packet = 0
        self.dropping = 0
        self.dropped_answers = 0

    def _drop(self, inputs: Mapping[str, int]) -> int:
        return self.dropping if self.in_packet else int(not inputs["usable"])

    def comb(self, inputs: Mapping[str, int]) -> dict[str, int]:
        drop = self._drop(inputs)
        return {"flit_in.ready": int(drop or inputs["flit_out.ready"]),
                "flit_out.valid": int(inputs["flit_in.valid"] and not drop),
                "flit_out.payload": inputs["flit_in.payload"], "stuck": self.stuck,
                "dropped_answers": self.dropped_answers}

    def tick(self, inputs: Mapping[str, int]) -> None:
        if not inputs["held"] or inputs["moved"]:
            self.waited = 0
        elif self.waited <= self.timeout:
            self.waited += 1
        else:
            self.stuck = 1
        drop = self._drop(inputs)
        if inputs["flit_in.valid"] and (drop or inputs["flit_out.ready"]):
            if drop and not self.in_packet:
                self.dropped_answers = (self.dropped_answers + 1) & _COUNTER_MASK
            self.in_packet = int(not inputs["flit_in.payload"] >> _LAST_OFFSET & 1)
            self.dropping = drop
