"""What a run cost: total time, per-engine utilisation, FLOP/s, a Perfetto trace and a plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdl.params import TileParams

from .core import NeuronCore
from .schedule import Instruction

COMPUTE_ENGINES = ("tensor", "vector", "scalar", "gpsimd")


@dataclass
class Report:
    """Figures of one kernel run on one NeuronCore.

    Attributes
    ----------
    total_seconds : float
        From the first instruction's start to the last one's end.
    utilisation : dict[str, float]
        Busy fraction of each compute engine, of the DMA queues on average (``dma``) and of
        the HBM channel (``hbm``).
    flops : float
        Floating-point operations of the Tensor engine (2 per multiply-accumulate).
    """

    params: TileParams
    total_seconds: float
    utilisation: dict[str, float]
    busy_seconds: dict[str, float]
    flops: float
    instruction_count: int
    dma_bytes: int
    instructions: list[Instruction]

    @classmethod
    def from_core(cls, core: NeuronCore) -> Report:
        scheduler = core.scheduler
        total = scheduler.end_time
        busy = {name: scheduler.busy[name] for name in COMPUTE_ENGINES}
        queues = [scheduler.busy[name] for name in scheduler.queues]
        busy["dma"] = sum(queues) / max(1, len(queues))
        busy["hbm"] = scheduler.channel.busy
        utilisation = {name: (value / total if total else 0.0) for name, value in busy.items()}
        flops = sum(item.flops for item in scheduler.instructions)
        moved = sum(item.nbytes for item in scheduler.instructions)
        return cls(core.params, total, utilisation, busy, flops, len(scheduler.instructions),
                   moved, scheduler.instructions)

    @property
    def total_cycles(self) -> float:
        """Total time in Tensor-engine clock cycles."""
        return self.total_seconds * self.params.clock_hz

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.total_seconds if self.total_seconds else 0.0

    @property
    def peak_flops(self) -> float:
        return self.params.tensor_peak_flops

    @property
    def fraction_of_peak(self) -> float:
        return self.achieved_flops / self.peak_flops

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.params.generation,
            "extrapolated": self.params.extrapolated,
            "total_seconds": self.total_seconds,
            "total_cycles": self.total_cycles,
            "instructions": self.instruction_count,
            "utilisation": self.utilisation,
            "flops": self.flops,
            "achieved_flops_per_second": self.achieved_flops,
            "tensor_peak_flops_per_second": self.peak_flops,
            "fraction_of_tensor_peak": self.fraction_of_peak,
            "dma_bytes": self.dma_bytes,
        }

    def table(self, title: str = "NeuronCore run"):
        """A rich table of the figures."""
        from rich.table import Table

        table = Table(title=title)
        table.add_column("figure")
        table.add_column("value", justify="right")
        generation = self.params.generation + (" (extrapolated)" if self.params.extrapolated
                                               else "")
        table.add_row("generation", generation)
        table.add_row("total time", f"{self.total_seconds * 1e6:.3f} us")
        table.add_row("total cycles", f"{self.total_cycles:,.0f} @ "
                      f"{self.params.clock_hz / 1e9:g} GHz")
        table.add_row("instructions", f"{self.instruction_count:,}")
        for name, value in self.utilisation.items():
            label = {"dma": "DMA queues (mean)", "hbm": "HBM channel"}.get(name, name)
            table.add_row(f"utilisation: {label}", f"{100 * value:.1f} %")
        table.add_row("Tensor FLOPs", f"{self.flops:.4g}")
        table.add_row("achieved", f"{self.achieved_flops / 1e12:.2f} TFLOP/s")
        table.add_row("Tensor-engine peak", f"{self.peak_flops / 1e12:.2f} TFLOP/s")
        table.add_row("fraction of peak", f"{100 * self.fraction_of_peak:.2f} %")
        table.add_row("DMA bytes", f"{self.dma_bytes:,}")
        return table

    # -- outputs ------------------------------------------------------------------------

    def trace(self) -> dict[str, Any]:
        """Chrome trace JSON (loads in Perfetto): one track per engine and DMA queue."""
        names = list(COMPUTE_ENGINES) + sorted({item.engine for item in self.instructions
                                                if item.engine.startswith("dma")},
                                               key=lambda name: int(name[3:]))
        tracks = {name: index for index, name in enumerate(names)}
        events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": 0,
             "args": {"name": f"NeuronCore ({self.params.generation})"}}]
        for name, index in tracks.items():
            events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": index,
                           "args": {"name": name}})
        for item in self.instructions:
            event = {"name": item.name, "ph": "X", "pid": 0, "tid": tracks[item.engine],
                     "ts": item.start * 1e6, "dur": (item.end - item.start) * 1e6,
                     "args": {"line": item.line}}
            if item.flops:
                event["args"]["flops"] = item.flops
            if item.nbytes:
                event["args"]["bytes"] = item.nbytes
            events.append(event)
        return {"traceEvents": events, "displayTimeUnit": "ns"}

    def write_trace(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.trace()))
        return path

    def write_utilisation_png(self, path: str | Path, bins: int = 100) -> Path:
        """Busy fraction of each compute engine and the DMA queues over time, plus totals."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        total = self.total_seconds or 1.0
        edges = np.linspace(0.0, total, bins + 1)
        width = edges[1] - edges[0]
        groups = {name: np.zeros(bins) for name in (*COMPUTE_ENGINES, "dma")}
        queue_count = max(1, len({item.engine for item in self.instructions
                                  if item.engine.startswith("dma")}))
        for item in self.instructions:
            group = "dma" if item.engine.startswith("dma") else item.engine
            first = min(bins - 1, int(item.start / width))
            last = min(bins - 1, int(item.end / width))
            for index in range(first, last + 1):
                overlap = min(item.end, edges[index + 1]) - max(item.start, edges[index])
                if overlap > 0:
                    groups[group][index] += overlap / width
        groups["dma"] /= queue_count
        figure, (timeline, totals) = plt.subplots(
            1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 1]})
        centres = (edges[:-1] + edges[1:]) / 2 * 1e6
        for name, values in groups.items():
            timeline.plot(centres, 100 * values, label=name)
        timeline.set_xlabel("time (us)")
        timeline.set_ylabel("busy (%)")
        timeline.set_ylim(0, 105)
        timeline.legend(loc="lower right", fontsize="small")
        labels = list(self.utilisation)
        totals.barh(labels, [100 * self.utilisation[name] for name in labels])
        totals.set_xlim(0, 100)
        totals.set_xlabel("utilisation (%)")
        figure.suptitle(f"{self.params.generation}: {100 * self.fraction_of_peak:.1f} % of "
                        "Tensor-engine peak")
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return path
