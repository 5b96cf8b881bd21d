"""python -m core.sim: both scenarios x both policies, a Markdown table and PNG charts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from core.config import get_settings
from core.sim.demand import SCENARIOS
from core.sim.engine import SimConfig, SimResult, simulate
from core.sim.report import markdown_table, summarise, write_charts

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sim"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.sim", description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scenario", nargs="+", choices=sorted(SCENARIOS), default=["normal", "storm"])
    p.add_argument("--policy", nargs="+", choices=["greedy", "batch"], default=["greedy", "batch"])
    p.add_argument("--fleet", type=int, default=400, help="technicians (default 400)")
    p.add_argument("--hours", type=float, default=24.0, help="hours of calls to simulate (default a whole day)")
    p.add_argument("--charts", type=Path, default=DOCS, help="folder for the PNG charts (default docs/sim)")
    p.add_argument("--no-charts", action="store_true")
    p.add_argument("--audit", type=int, default=0, metavar="N",
                   help="check invariants every round and every N-th look-up against a fresh search (slow)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    sla = get_settings().sla_minutes
    results: list[SimResult] = []
    for scenario in args.scenario:
        for policy in args.policy:
            cfg = SimConfig(SCENARIOS[scenario], policy, seed=args.seed, fleet_size=args.fleet, hours=args.hours,
                            sla_min=sla, audit_every=args.audit)
            total = cfg.hours * 60 + cfg.abandon_min
            with tqdm(total=total, desc=f"{scenario:>6} {policy:<6}", unit="sim-min", disable=args.quiet,
                      file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} sim-min [{elapsed}]") as bar:
                results.append(simulate(cfg, bar.update))
    print(markdown_table([summarise(r) for r in results]))
    if not args.no_charts:
        for path in write_charts(results, args.charts):
            print(f"chart: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
