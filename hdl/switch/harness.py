"""A switch whose outputs feed sinks that take every flit and return credits: the top the
lockstep test drives, so that no per-cycle credit traffic crosses into the testbench.

Back-pressure comes from the sinks: each holds a packet's credits for
``credit_return_cycles`` plus a delay of 0 to ``2**SINK_DELAY_BITS - 1`` cycles that the
stimulus writes into the low bits of the packet's address, which the cycle model is given as
``SwitchStimulus.sink_delay``.
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import data, wiring

from ..params import SwitchParams
from .signals import (
    LENGTH_BITS,
    credit_return_layout,
    header_field,
    packet_flits,
    packet_vc,
)
from .switch import Switch, switch_signature

#: Cycles from a packet's tail leaving the switch to its credits coming back, at least; the
#: cycle model of the lockstep test is built with the same figure.
SINK_CREDIT_RETURN_CYCLES = 2
#: Low bits of a packet's address that hold the sink's extra delay, in cycles.
SINK_DELAY_BITS = 3
SINK_DELAY_PATH = ("body", "message", "transaction", "address")


class SwitchHarness(wiring.Component):
    """:class:`Switch` with a sink on every output that takes each packet at once and returns
    its credits ``credit_return_cycles`` plus the packet's sink delay after its tail left."""

    def __init__(self, params: SwitchParams,
                 credit_return_cycles: int = SINK_CREDIT_RETURN_CYCLES) -> None:
        if credit_return_cycles < 1:
            raise ValueError("the harness's sinks need at least one cycle to return credits")
        self.params = params
        self.credit_return_cycles = credit_return_cycles
        super().__init__(switch_signature(params, credit_return=False))

    def elaborate(self, platform) -> Module:
        m = Module()
        params = self.params
        vcs = params.virtual_channels
        m.submodules.switch = switch = Switch(params)
        for name in self.signature.members:
            if name == "csr":
                wiring.connect(m, wiring.flipped(self.csr), switch.csr)
            elif self.signature.members[name].flow == wiring.In:
                m.d.comb += getattr(switch, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(switch, name))

        # A ring of credit counts per future cycle, long enough for the longest hold.
        longest = self.credit_return_cycles + (1 << SINK_DELAY_BITS) - 1
        ring_bits = longest.bit_length()
        now = Signal(ring_bits)
        m.d.sync += now.eq(now + 1)
        packet = data.StructLayout({"vc": params.vc_bits, "length": LENGTH_BITS,
                                    "delay": SINK_DELAY_BITS})
        # This cycle's slot of the ring, one-hot, shared by every sink.
        at_slot = Signal(1 << ring_bits)
        m.d.comb += at_slot.eq(1 << now)
        for j in range(params.ports):
            flit = switch.out_flit[j]
            header = Signal(packet, name=f"sink_header_{j}")
            m.d.comb += [header.vc.eq(packet_vc(flit)), header.length.eq(packet_flits(flit)),
                         header.delay.eq(header_field(flit, *SINK_DELAY_PATH))]
            held = Signal(packet, name=f"sink_packet_{j}")
            with m.If(switch.out_valid[j] & switch.out_first[j]):
                m.d.sync += held.eq(header)
            current = Signal(packet, name=f"sink_current_{j}")
            m.d.comb += current.eq(Mux(switch.out_first[j], header.as_value(), held.as_value()))
            tail, due = Signal(name=f"sink_tail_{j}"), Signal(ring_bits, name=f"sink_due_{j}")
            m.d.comb += [tail.eq(switch.out_valid[j] & switch.out_last[j]),
                         due.eq(now + self.credit_return_cycles + current.delay)]
            ring = [Signal(credit_return_layout(params), name=f"sink_ring_{j}_{slot}")
                    for slot in range(1 << ring_bits)]
            m.d.comb += switch.credit_return[j].eq(Array(counts.as_value() for counts in ring)[now])
            for slot, counts in enumerate(ring):
                for v in range(vcs):
                    kept = Mux(at_slot[slot], 0, counts[v])
                    added = Mux(tail & (due == slot) & (current.vc == v), current.length, 0)
                    m.d.sync += counts[v].eq(kept + added)
        return m
