"""Clock, reset and bounded waiting shared by the cocotb tests."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

T = TypeVar("T")

#: Clock period of every simulation, in ns: one flit cycle.
PERIOD_NS = 1


async def start(dut: Any, reset_cycles: int = 2) -> None:
    """Start ``dut.clk`` and hold ``dut.rst`` for a few cycles (Amaranth's synchronous reset)."""
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, reset_cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def within(cycles: int, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` but fail after ``cycles`` clock cycles rather than hang."""
    return await with_timeout(awaitable, cycles * PERIOD_NS, "ns")
