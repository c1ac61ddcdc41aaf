"""Per-engine instruction streams with dependencies through buffers.

Each engine executes its instructions in program order. An instruction starts when its engine
is free and every earlier access it conflicts with has finished: reads wait for overlapping
writes (RAW), writes wait for overlapping reads and writes (WAR, WAW). A conflicting access
from the same engine is finished when that engine is done with it; one from another engine
when its result is visible (``costs.visibility_seconds``). DMA instructions go to the queue
that frees up first; their transfers share one HBM channel per NeuronCore, which a transfer
may use in any idle gap, so a prefetch issued late in program order still overlaps compute.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from .memory import Access, AccessLog, Box, contains, overlaps

#: One access of an instruction: the allocation's log and the box it touches.
Region = tuple[AccessLog, Box]


@dataclass
class Instruction:
    """One executed instruction, as the timeline and the trace show it."""

    engine: str
    name: str
    start: float
    end: float
    line: int
    flops: float = 0.0
    nbytes: int = 0


class Channel:
    """A resource used by one transfer at a time, in the earliest idle gap that fits."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.busy = 0.0

    def reserve(self, ready: float, duration: float) -> float:
        """Book ``duration`` at or after ``ready``; returns the start."""
        self.busy += duration
        index = bisect.bisect_right(self.ends, ready)
        start = ready
        while index < len(self.starts) and start + duration > self.starts[index]:
            start = max(start, self.ends[index])
            index += 1
        end = start + duration
        self.starts.insert(index, start)
        self.ends.insert(index, end)
        # Merge with touching neighbours to keep the lists short.
        if index > 0 and self.ends[index - 1] >= self.starts[index]:
            self.ends[index - 1] = max(self.ends[index - 1], self.ends[index])
            del self.starts[index]
            del self.ends[index]
            index -= 1
        while index + 1 < len(self.starts) and self.starts[index + 1] <= self.ends[index]:
            self.ends[index] = max(self.ends[index], self.ends[index + 1])
            del self.starts[index + 1]
            del self.ends[index + 1]
        return start


class Scheduler:
    """Places instructions on the timeline of one NeuronCore.

    Parameters
    ----------
    dma_queues : int
        Number of DMA queues.
    progress : callable, optional
        Called as ``progress(count, time)`` every ``progress_every`` instructions.
    """

    def __init__(self, dma_queues: int, progress: Callable[[int, float], None] | None = None,
                 progress_every: int = 4096) -> None:
        self.engine_free: dict[str, float] = {name: 0.0 for name in
                                              ("tensor", "vector", "scalar", "gpsimd")}
        self.queues = [f"dma{index}" for index in range(dma_queues)]
        for queue in self.queues:
            self.engine_free[queue] = 0.0
        self.busy: dict[str, float] = dict.fromkeys(self.engine_free, 0.0)
        self.channel = Channel()
        self.instructions: list[Instruction] = []
        self.end_time = 0.0
        self.progress = progress
        self.progress_every = progress_every

    # -- dependencies ---------------------------------------------------------------------

    @staticmethod
    def _ready_after(engine: str, reads: list[Region], writes: list[Region],
                     ready: float) -> float:
        """The earliest start at or after ``ready`` that respects every hazard."""
        for log, box in reads:
            if log.latest_write <= ready:
                continue
            for access in log.writes:
                if overlaps(access.box, box):
                    ready = max(ready, access.busy_end if access.engine == engine
                                else access.done)
        for log, box in writes:
            ready = max(ready, log.floor)
            if log.latest <= ready:
                continue
            for access in log.writes:
                if overlaps(access.box, box):
                    ready = max(ready, access.busy_end if access.engine == engine
                                else access.done)
            for access in log.reads.values():
                if overlaps(access.box, box):
                    ready = max(ready, access.busy_end if access.engine == engine
                                else access.done)
        return ready

    @staticmethod
    def _record(engine: str, reads: list[Region], writes: list[Region], busy_end: float,
                done: float) -> None:
        for log, box in reads:
            log.reads[(engine, box)] = Access(box, engine, busy_end, done)
            log.latest = max(log.latest, done)
        for log, box in writes:
            log.writes = [access for access in log.writes if not contains(box, access.box)]
            if log.reads:
                log.reads = {key: access for key, access in log.reads.items()
                             if not contains(box, access.box)}
            log.writes.append(Access(box, engine, busy_end, done))
            log.latest_write = max(log.latest_write, done)
            log.latest = max(log.latest, done)

    # -- issue ----------------------------------------------------------------------------

    def issue(self, engine: str, name: str, reads: list[Region], writes: list[Region],
              busy: float, latency: float, line: int, flops: float = 0.0) -> Instruction:
        """Place a compute instruction; ``busy`` and ``latency`` are in seconds."""
        start = self._ready_after(engine, reads, writes, self.engine_free[engine])
        end = start + busy
        self.engine_free[engine] = end
        self.busy[engine] += busy
        self._record(engine, reads, writes, end, end + latency)
        return self._log(Instruction(engine, name, start, end, line, flops=flops))

    def issue_dma(self, name: str, reads: list[Region], writes: list[Region], nbytes: int,
                  transfer: float, fixed: float, line: int,
                  remote: Callable[[float], float] | None = None) -> Instruction:
        """Place a DMA: ``fixed`` seconds of queue time around ``transfer`` seconds on the HBM
        channel, or, for a transfer through the port, until ``remote(start)`` says it is
        done."""
        queue = min(self.queues, key=lambda item: self.engine_free[item])
        start = self._ready_after(queue, reads, writes, self.engine_free[queue])
        if remote is not None:
            end = max(start + fixed, remote(start))
        else:
            transfer_start = self.channel.reserve(start, transfer)
            end = transfer_start + transfer + fixed
        self.engine_free[queue] = end
        self.busy[queue] += end - start
        self._record(queue, reads, writes, end, end)
        return self._log(Instruction(queue, name, start, end, line, nbytes=nbytes))

    def _log(self, instruction: Instruction) -> Instruction:
        self.instructions.append(instruction)
        self.end_time = max(self.end_time, instruction.end)
        if self.progress is not None and len(self.instructions) % self.progress_every == 0:
            self.progress(len(self.instructions), self.end_time)
        return instruction
