"""The switch chip: input units, router, allocator, crossbar and output units, connected."""

from __future__ import annotations

from amaranth import Cat, Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import FLIT_BITS
from ..params import SwitchParams
from . import csr
from .allocator import IslipAllocator
from .crossbar import Crossbar
from .input_unit import InputUnit
from .output_unit import OutputUnit
from .route import Router
from .signals import COUNTER_BITS, DROP_REASONS, credit_return_layout


def switch_signature(params: SwitchParams, credit_return: bool = True) -> wiring.Signature:
    """The switch's ports, one bit or one flit per port in each vector.

    Inputs: ``in_flit[i]`` with ``in_valid[i]``, taken when ``in_ready[i]`` (a header only when
    its VC has room for the whole packet; the payload must follow one flit per cycle).
    Outputs: ``out_flit[j]`` when ``out_valid[j]``, framed by ``out_first``/``out_last``; there
    is no ready: the next hop's credits (``credit_return``) say what it can take.
    A dropped non-posted request is answered with an error completion that leaves at the
    request's own port like any packet. ``credit_return=False`` leaves the credit inputs out
    (for a harness that returns them itself).
    """
    k = params.ports
    flits = data.ArrayLayout(FLIT_BITS, k)
    members = {
        "in_flit": In(flits), "in_valid": In(k), "in_ready": Out(k),
        "out_flit": Out(flits), "out_valid": Out(k), "out_first": Out(k), "out_last": Out(k),
        "csr": Out(csr.CSR_BUS),
        "drops": Out(data.ArrayLayout(COUNTER_BITS, len(DROP_REASONS))),
        "underrun": Out(k),
    }
    if credit_return:
        members["credit_return"] = In(data.ArrayLayout(credit_return_layout(params), k))
    return wiring.Signature(members)


class Switch(wiring.Component):
    """One switch chip of ``params.ports`` ports (docs/switch.md, docs/switch-rtl.md).

    A packet taken at cycle ``t`` can be allocated at ``t + 1``; a flit that crosses at cycle
    ``u`` leaves on ``out_flit`` at ``u + 1``. With no contention a one-flit packet taken at
    ``t`` leaves at ``t + 2``, as in the cycle model.
    """

    def __init__(self, params: SwitchParams) -> None:
        self.params = params
        super().__init__(switch_signature(params))

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        k = params.ports
        m.submodules.router = router = Router(params)
        m.submodules.allocator = allocator = IslipAllocator(params)
        m.submodules.crossbar = crossbar = Crossbar(params)
        inputs = [InputUnit(params, port) for port in range(k)]
        outputs = [OutputUnit(params) for _ in range(k)]
        for n in range(k):
            m.submodules[f"input_{n}"] = inputs[n]
            m.submodules[f"output_{n}"] = outputs[n]

        wiring.connect(m, wiring.flipped(self.csr), router.csr)
        m.d.comb += self.drops.eq(router.drops)
        for i, unit in enumerate(inputs):
            m.d.comb += [
                unit.flit_in.eq(self.in_flit[i]), unit.valid.eq(self.in_valid[i]),
                self.in_ready[i].eq(unit.ready), self.underrun[i].eq(unit.underrun),
                router.header[i].eq(unit.header), router.take[i].eq(unit.take),
                unit.output.eq(router.port[i]), unit.drop.eq(router.drop[i]),
                unit.answer.eq(router.answer[i]), unit.completion.eq(router.completion[i]),
                unit.output_free.eq(Cat(output.free for output in outputs)),
                allocator.request[i].eq(unit.request), unit.grant.eq(allocator.input_match[i]),
                crossbar.flit_in[i].eq(unit.flit), crossbar.start_in[i].eq(unit.start),
            ]
            for j, output in enumerate(outputs):
                m.d.comb += unit.output_credit[j].eq(output.credit)
        m.d.comb += crossbar.match.eq(allocator.output_match)
        for j, output in enumerate(outputs):
            m.d.comb += [
                output.match.eq(allocator.output_match[j]),
                output.start.eq(crossbar.start_out[j]),
                output.credit_return.eq(self.credit_return[j]),
                crossbar.select[j].eq(output.select),
                self.out_flit[j].eq(crossbar.flit_out[j]), self.out_valid[j].eq(output.valid),
                self.out_first[j].eq(output.first), self.out_last[j].eq(output.last),
            ]
        return m
