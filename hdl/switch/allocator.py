"""Packet-mode iSLIP allocator: one match of inputs to outputs per cycle."""

from amaranth import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import SwitchParams
from .signals import match_layout


def round_robin_pick(requests: Value, pointer: Value) -> Value:
    """One-hot of the first set bit of ``requests`` at or after ``pointer``, wrapping round.

    Zero when no bit is set. An expression, so that a chain of picks settles in one pass.
    """
    width = len(requests)
    at_or_after = requests & (Const((1 << width) - 1, width) << pointer)[:width]
    # Wrap round: with nothing at or after the pointer, the lowest request wins.
    candidates = Mux(at_or_after.any(), at_or_after, requests)
    return candidates & ~(candidates - 1)[:width]


def encode(one_hot: list[Value], values: list[int], width: int) -> Value:
    """``values[n]`` for the set bit ``n`` of ``one_hot`` (at most one set), else 0."""
    return Cat(*(Cat(*(bit for bit, value in zip(one_hot, values, strict=True)
                       if value >> b & 1), Const(0, 1)).any() for b in range(width)))


class IslipAllocator(wiring.Component):
    """iSLIP (McKeown, 1999) over ``params.ports`` inputs and outputs, with
    ``params.islip_iterations`` iterations, as in the cycle model's allocation step
    (:func:`emulator.cycle.switch.islip_match`).

    Each iteration, every output not yet matched grants the first input at or after its grant
    pointer that requests it and is not yet matched; every input not yet matched that received
    grants accepts the first granting output at or after its accept pointer. A match of the
    first iteration moves the output's grant pointer to one past the input and the input's
    accept pointer to one past the output; later iterations leave the pointers alone. Packet
    mode is the caller's part: it leaves out of ``request`` every input and output still
    transferring a packet.

    Members
    -------
    request : In(data.ArrayLayout(unsigned(ports), ports))
        ``request[i]`` bit ``j``: input ``i`` asks for output ``j`` in this cycle.
    input_match : Out(data.ArrayLayout(match_layout(params), ports))
        Per input: matched, and to which output. Combinational, same cycle as ``request``.
    output_match : Out(data.ArrayLayout(match_layout(params), ports))
        Per output: matched, and to which input; the same match seen from the outputs.
    grant_pointer, accept_pointer : Out(data.ArrayLayout(unsigned(port_bits), ports))
        The round-robin pointers per output and per input; registered, all 0 after reset, and
        updated at the clock edge that ends the cycle of the match that moves them.
    """

    def __init__(self, params: SwitchParams) -> None:
        self.params = params
        ports = params.ports
        pointers = data.ArrayLayout(params.port_bits, ports)
        super().__init__({
            "request": In(data.ArrayLayout(ports, ports)),
            "input_match": Out(data.ArrayLayout(match_layout(params), ports)),
            "output_match": Out(data.ArrayLayout(match_layout(params), ports)),
            "grant_pointer": Out(pointers),
            "accept_pointer": Out(pointers),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        ports = self.params.ports
        bits = self.params.port_bits
        grant_pointer = Signal(data.ArrayLayout(bits, ports))
        accept_pointer = Signal(data.ArrayLayout(bits, ports))
        m.d.comb += [self.grant_pointer.eq(grant_pointer),
                     self.accept_pointer.eq(accept_pointer)]

        # accepted[i][j]: input i and output j matched in some iteration so far.
        input_free = Cat(Const(1, 1) for _ in range(ports))
        output_free = Cat(Const(1, 1) for _ in range(ports))
        accepted_rows = [Const(0, ports) for _ in range(ports)]
        first_rows = None
        for iteration in range(self.params.islip_iterations):
            grants = []
            for j in range(ports):
                column = Cat(self.request[i][j] & input_free[i] for i in range(ports))
                pick = Signal(ports, name=f"grant_{iteration}_{j}")
                m.d.comb += pick.eq(round_robin_pick(column & output_free[j].replicate(ports),
                                                     grant_pointer[j]))
                grants.append(pick)
            rows = []
            for i in range(ports):
                granted = Cat(grants[j][i] for j in range(ports))
                row = Signal(ports, name=f"accept_{iteration}_{i}")
                m.d.comb += row.eq(round_robin_pick(granted, accept_pointer[i]))
                rows.append(row)
            if iteration == 0:
                first_rows = rows
            accepted_rows = [accepted | row for accepted, row in zip(accepted_rows, rows,
                                                                      strict=True)]
            # Signals, not expressions: each iteration would otherwise repeat all before it.
            still_free = Signal(ports, name=f"input_free_{iteration}")
            m.d.comb += still_free.eq(Cat(~row.any() & free
                                          for row, free in zip(rows, input_free, strict=True)))
            input_free = still_free
            still_free = Signal(ports, name=f"output_free_{iteration}")
            m.d.comb += still_free.eq(Cat(~Cat(row[j] for row in rows).any() & output_free[j]
                                          for j in range(ports)))
            output_free = still_free

        for i in range(ports):
            row = [accepted_rows[i][j] for j in range(ports)]
            m.d.comb += [self.input_match[i].valid.eq(Cat(*row).any()),
                         self.input_match[i].port.eq(encode(row, list(range(ports)), bits))]
        for j in range(ports):
            column = [accepted_rows[i][j] for i in range(ports)]
            m.d.comb += [self.output_match[j].valid.eq(Cat(*column).any()),
                         self.output_match[j].port.eq(encode(column, list(range(ports)), bits))]

        # Pointers move one past the partner of a first-iteration match.
        after = [(port + 1) % ports for port in range(ports)]
        for i in range(ports):
            row = [first_rows[i][j] for j in range(ports)]
            with m.If(Cat(*row).any()):
                m.d.sync += accept_pointer[i].eq(encode(row, after, bits))
        for j in range(ports):
            column = [first_rows[i][j] for i in range(ports)]
            with m.If(Cat(*column).any()):
                m.d.sync += grant_pointer[j].eq(encode(column, after, bits))
        return m
