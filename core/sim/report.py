"""Figures of a simulated day: SLA compliance, time to site, utilisation, unserved; table and charts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.sim.engine import SimResult


@dataclass(frozen=True)
class Summary:
    scenario: str
    policy: str
    requests: int
    served: int
    sla_pct: float  # on site within the SLA, of all calls (an unserved call is a miss)
    mean_min: float  # call to on site, served calls
    p90_min: float
    utilisation_pct: float  # on a job (travel + fix) / on shift, over the day
    abandoned: int
    unsettled: int  # still waiting when the run ended
    seconds: float

    @property
    def unserved(self) -> int:
        return self.abandoned + self.unsettled


def summarise(res: SimResult) -> Summary:
    cfg = res.config
    waits = np.array([o.on_site_t - r.t for r in res.requests
                      if (o := res.outcomes[r.id]).on_site_t is not None])
    n = len(res.requests)
    hits = int((waits <= cfg.sla_min).sum()) if waits.size else 0
    return Summary(
        scenario=cfg.scenario.name, policy=cfg.policy, requests=n, served=int(waits.size),
        sla_pct=100.0 * hits / n if n else 100.0,
        mean_min=float(waits.mean()) if waits.size else float("nan"),
        p90_min=float(np.percentile(waits, 90)) if waits.size else float("nan"),
        utilisation_pct=100.0 * sum(res.busy) / max(1, sum(res.on_duty)),
        abandoned=sum(1 for o in res.outcomes.values() if o.abandoned_t is not None),
        unsettled=len(res.unsettled), seconds=res.seconds,
    )


def sla_by_hour(res: SimResult) -> np.ndarray:
    """SLA compliance (%) of the calls made in each hour of the day (NaN for an hour without calls)."""
    hours = int(np.ceil(res.config.hours))
    calls, hits = np.zeros(hours), np.zeros(hours)
    for r in res.requests:
        h = int(r.t // 60)
        calls[h] += 1
        o = res.outcomes[r.id]
        hits[h] += o.on_site_t is not None and o.on_site_t - r.t <= res.config.sla_min
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(calls > 0, 100.0 * hits / calls, np.nan)


def markdown_table(summaries: list[Summary]) -> str:
    head = ("| scenario | policy | calls | SLA met (≤ 90 min) | mean to site | p90 to site | utilisation "
            "| never served (abandoned + waiting) | run time |")
    lines = [head, "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for s in summaries:
        lines.append(
            f"| {s.scenario} | {s.policy} | {s.requests:,} | {s.sla_pct:.1f}% | {s.mean_min:.0f} min "
            f"| {s.p90_min:.0f} min | {s.utilisation_pct:.0f}% | {s.unserved} ({s.abandoned} + {s.unsettled}) "
            f"| {s.seconds:.1f} s |"
        )
    return "\n".join(lines)


def write_charts(results: list[SimResult], out_dir: Path) -> list[Path]:
    """sla_by_hour.png and queue_length.png: one panel per scenario, one line per policy."""
    # Imported here: matplotlib is slow to import and only the charts need it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    scenarios = list(dict.fromkeys(r.config.scenario.name for r in results))
    paths = []
    for name, ylabel, series in (
        ("sla_by_hour", "SLA met, % of the hour's calls",
         lambda r: (np.arange(len(sla_by_hour(r))) + 0.5, sla_by_hour(r))),
        ("queue_length", "requests waiting for a van", lambda r: (np.arange(len(r.queue)) * r.config.tick_min / 60,
                                                                  np.array(r.queue))),
    ):
        fig, axes = plt.subplots(1, len(scenarios), figsize=(6 * len(scenarios), 3.8), squeeze=False,
                                 sharey=name == "sla_by_hour")
        for ax, scenario in zip(axes[0], scenarios, strict=True):
            for r in results:
                if r.config.scenario.name == scenario:
                    x, y = series(r)
                    # Greedy drawn wide underneath, so it still shows where the two policies coincide.
                    wide = r.config.policy == "greedy"
                    ax.plot(x, y, label=r.config.policy, drawstyle="steps-mid" if name == "sla_by_hour" else "default",
                            linewidth=3.5 if wide else 1.6, alpha=0.55 if wide else 1.0, zorder=1 if wide else 2)
            surge = next(r.config.scenario for r in results if r.config.scenario.name == scenario)
            if surge.surge_factor != 1:
                ax.axvspan(*surge.surge_hours, color="tab:red", alpha=0.08, label=f"{surge.surge_factor:g}× demand")
            ax.set_title(f"{scenario} day")
            ax.set_xlabel("hour of the day (call time)" if name == "sla_by_hour" else "hour of the day")
            ax.set_xlim(0, 24)
            ax.set_xticks(range(0, 25, 3))
            ax.grid(alpha=0.3)
            ax.legend()
        axes[0][0].set_ylabel(ylabel)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
