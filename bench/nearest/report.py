"""The benchmark's Markdown report and its raw figures as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.nearest.methods import H3Method
from bench.nearest.workload import INGEST_BATCH, N_NEAREST


def md_table(headers: list[str], rows: list[list]) -> str:
    def fmt(x) -> str:
        if isinstance(x, float):
            if math.isnan(x):
                return "–"
            return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"
        if isinstance(x, int):
            return f"{x:,}"
        return str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: list[dict], args) -> str:
    out = [f"## Nearest technician benchmark (n = {N_NEAREST}, {args.queries:,} queries, seed {args.seed})", ""]
    out.append("### Load (pipelined, into one Redis)")
    out.append(
        md_table(
            ["fleet", "H3 upsert_many s", "H3 techs/s", "H3 Redis MB", "GEOADD+HSET s", "GEO techs/s", "GEO Redis MB"],
            [
                [
                    r["size"],
                    r["h3_load_s"],
                    r["size"] / r["h3_load_s"],
                    r["h3_mem_mb"],
                    r["geo_load_s"],
                    r["size"] / r["geo_load_s"],
                    r["geo_mem_mb"],
                ]
                for r in results
            ],
        )
    )
    out += ["", "### Nearest-5 latency (one client, sequential lookups)"]
    rows = []
    for r in results:
        for t in r["timings"]:
            rows.append(
                [
                    r["size"],
                    t.method,
                    t.count,
                    t.pct(50),
                    t.pct(99),
                    float(t.lat_ms.mean()),
                    t.count / t.total_s,
                    "yes" if t.budget_hit else "",
                ]
            )
    out.append(
        md_table(["fleet", "method", "queries", "p50 ms", "p99 ms", "mean ms", "lookups/s", "time-capped"], rows)
    )
    out += ["", "### H3 p50 against GEOSEARCH p50 (ratio < 1: ours faster)"]
    rows = []
    for r in results:
        by = {t.method: t for t in r["timings"]}
        h3p = by[H3Method.name].pct(50)
        row = [r["size"], h3p]
        for name in ("GEOSEARCH, radius doubling from 2 km", "GEOSEARCH BYRADIUS 250 km"):
            g = by.get(name)
            row += [g.pct(50) if g else float("nan"), h3p / g.pct(50) if g else float("nan")]
        rows.append(row)
    out.append(
        md_table(
            ["fleet", "H3 p50 ms", "GEO doubling p50 ms", "H3 / GEO doubling", "GEO 250 km p50 ms", "H3 / GEO 250 km"],
            rows,
        )
    )
    out += ["", "### H3 index detail"]
    rows = []
    for r in results:
        t = next(t for t in r["timings"] if t.method == H3Method.name)
        rows.append(
            [
                r["size"],
                t.extra["round_trips"],
                t.extra["cells_read"],
                t.extra["max_cells"],
                t.pct(50, t.town),
                t.pct(99, t.town),
                t.pct(50, ~t.town),
                t.pct(99, ~t.town),
            ]
        )
    out.append(
        md_table(
            [
                "fleet",
                "round trips / lookup",
                "cells read / lookup",
                "most cells in one lookup",
                "town p50 ms",
                "town p99 ms",
                "countryside p50 ms",
                "countryside p99 ms",
            ],
            rows,
        )
    )
    out += ["", f"### Correctness against brute force (first {args.verify} queries; distances equal within 1 mm)"]
    rows = []
    for r in results:
        for name, v in r["verify"].items():
            rows.append([r["size"], name, v["dist"], v["ids"]])
    out.append(md_table(["fleet", "method", "distance mismatches", "same distances, other ids (ties)"], rows))
    out += ["", "### Machine load (1-min load average; 2 cores, shared)"]
    out.append(
        md_table(
            ["fleet", "at start", "at end"], [[r["size"], r["load_avg_start"], r["load_avg_end"]] for r in results]
        )
    )
    out += ["", f"### Location-update ingest (moves of existing technicians, batches of {INGEST_BATCH})"]
    out.append(
        md_table(
            [
                "fleet",
                "single upserts",
                "single upserts/s",
                "single p50 ms",
                "single p99 ms",
                "pipelined updates",
                "pipelined updates/s",
            ],
            [
                [
                    r["size"],
                    r["ingest"]["single_n"],
                    r["ingest"]["single_per_s"],
                    r["ingest"]["single_p50_ms"],
                    r["ingest"]["single_p99_ms"],
                    r["ingest"]["pipe_n"],
                    r["ingest"]["pipe_per_s"],
                ]
                for r in results
            ],
        )
    )
    return "\n".join(out)


def write_json(results: list[dict], path: Path) -> None:
    """The raw figures of every size, each method's timing summarised."""
    path.write_text(
        json.dumps(
            [
                {
                    **{k: v for k, v in res.items() if k != "timings"},
                    "timings": [
                        {
                            "method": t.method,
                            "count": t.count,
                            "p50_ms": t.pct(50),
                            "p99_ms": t.pct(99),
                            "mean_ms": float(t.lat_ms.mean()),
                            "per_s": t.count / t.total_s,
                            "capped": t.budget_hit,
                            **t.extra,
                        }
                        for t in res["timings"]
                    ],
                }
                for res in results
            ],
            indent=1,
            default=str,
        )
    )
