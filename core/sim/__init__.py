"""Surge simulator: one UK day of calls and vans in simulated time, driving the real dispatch code.

`python -m core.sim` runs a normal day and a winter storm under both dispatch policies and
prints a Markdown table; see docs/PERFORMANCE.md for the figures and what they mean.
"""

from core.sim.demand import SCENARIOS, Scenario
from core.sim.engine import SimConfig, SimResult, simulate
from core.sim.report import Summary, markdown_table, summarise

__all__ = ["SCENARIOS", "Scenario", "SimConfig", "SimResult", "Summary", "markdown_table", "simulate", "summarise"]
