"""An AXI4 register slice from a subordinate port to a manager port: a testbench-only top.

It gives the AXI4 protocol checker (``testbench/axi_checker.py``) and the cocotbext-axi drivers
a real clocked design to run on, on both simulators, before the chiplet exists: the two ports
see the same transactions one cycle apart, so a checker on each port has registered outputs
to sample, as it will on the chiplet.
"""

from __future__ import annotations

from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import ChipletParams
from .axi import AxiSignature

#: The five channels: their VALID/READY prefix and whether the manager drives them.
CHANNELS = {"aw": True, "w": True, "ar": True, "b": False, "r": False}


class AxiPassthrough(wiring.Component):
    """One register stage on each of the five AXI4 channels, nothing else.

    Members
    -------
    s_axi : In(AxiSignature(params))
        Subordinate port: a manager (the testbench's AxiMaster) drives it.
    m_axi : Out(AxiSignature(params))
        Manager port. AW, W and AR beats of ``s_axi`` appear here, and B and R beats of
        ``m_axi`` appear on ``s_axi``, with latency 1 and the payload unchanged. A stage
        takes a beat while it is empty or its beat leaves in the same cycle, so each channel
        moves one beat per cycle without back-pressure; VALID and payload hold until READY;
        order is kept on every channel.
    """

    def __init__(self, params: ChipletParams) -> None:
        self.params = params
        signature = AxiSignature(params)
        super().__init__({"s_axi": In(signature), "m_axi": Out(signature)})

    def elaborate(self, platform) -> Module:
        m = Module()
        members = self.m_axi.signature.members
        for prefix, forward in CHANNELS.items():
            source, sink = (self.s_axi, self.m_axi) if forward else (self.m_axi, self.s_axi)
            payload = [name for name in members
                       if name.startswith(prefix) and name[len(prefix):] not in ("valid", "ready")]
            self._stage(m, source, sink, prefix, payload)
        return m

    @staticmethod
    def _stage(m: Module, source, sink, prefix: str, payload: list[str]) -> None:
        def signal(port, name: str) -> Value:
            return getattr(port, f"{prefix}{name}")

        # Free slot, or its beat leaves now: either way one may enter.
        m.d.comb += signal(source, "ready").eq(~signal(sink, "valid") | signal(sink, "ready"))
        with m.If(signal(source, "ready")):
            m.d.sync += signal(sink, "valid").eq(signal(source, "valid"))
            m.d.sync += [getattr(sink, name).eq(getattr(source, name)) for name in payload]
