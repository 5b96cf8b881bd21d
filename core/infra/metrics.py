"""Prometheus metrics: counters and histograms the core updates, gauges read from the database at scrape time.

The alerting rules in deploy/prometheus/alerts.yml read these names; promtool's tests there pin them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import h3
import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core.states import OPEN, sql_list

HTTP_LATENCY = Histogram(
    "tyrehero_http_request_seconds", "HTTP request latency by route", ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5),  # 2: the p95 alert's line
)
DISPATCH_LATENCY = Histogram(
    "tyrehero_dispatch_seconds", "Time to find and claim a technician for one request",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
REQUESTS_ACCEPTED = Counter("tyrehero_requests_accepted_total", "Requests accepted (stored)")
LOGIN_FAILURES = Counter("tyrehero_login_failures_total", "Failed staff logins")
RATE_LIMITED = Counter("tyrehero_rate_limited_total", "Calls refused by a rate limit", ["limit"])


class LookupCounts(Protocol):
    """What the collector reads of the technician index: its lookup counters."""

    lookups: int
    fallbacks: int


class StateCollector(Collector):
    """Queue length, technicians by status, today's SLA compliance and index lookups, read when scraped."""

    def __init__(self, engine: sa.Engine, sla_minutes: int, index: LookupCounts, coarse_resolution: int = 4) -> None:
        self.engine, self.sla_minutes, self.index = engine, sla_minutes, index
        self.coarse_resolution = coarse_resolution

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        queue = GaugeMetricFamily("tyrehero_requests_open", "Open requests by status", labels=["status"])
        techs = GaugeMetricFamily("tyrehero_technicians", "Active technicians by status", labels=["status"])
        sla = GaugeMetricFamily("tyrehero_sla_compliance_ratio", "Share of requests reached within the SLA, last 24 h")
        on_call = _OnCallGauges()
        try:
            with self.engine.connect() as c:
                for status, n in c.execute(sa.text(
                        "SELECT status, count(*) FROM service_request"
                        f" WHERE status IN ({sql_list(OPEN)}) GROUP BY status")):
                    queue.add_metric([status], n)
                for status, n in c.execute(sa.text(
                        "SELECT status, count(*) FROM technician WHERE active GROUP BY status")):
                    techs.add_metric([status], n)
                ratio = c.execute(sa.text(
                    "SELECT avg(CASE WHEN on_site_at - created_at <= make_interval(mins => :m) THEN 1.0 ELSE 0.0 END)"
                    " FROM service_request WHERE on_site_at >= now() - interval '24 hours'"),
                    {"m": self.sla_minutes}).scalar()
                if ratio is not None:
                    sla.add_metric([], float(ratio))
                on_call.read(c, self.sla_minutes, self.coarse_resolution)
            database_up = 1.0
        except sa.exc.SQLAlchemyError:
            database_up = 0.0  # the scrape itself must not fail: the gauge and /health say it
        yield queue
        yield techs
        yield sla
        yield from on_call.families()
        up = GaugeMetricFamily("tyrehero_database_up", "1 when this process's scrape could read PostgreSQL, else 0")
        up.add_metric([], database_up)
        yield up
        lookups = CounterMetricFamily("tyrehero_index_lookups", "Nearest-technician lookups", labels=["backend"])
        lookups.add_metric(["redis"], self.index.lookups - self.index.fallbacks)
        lookups.add_metric(["postgres_fallback"], self.index.fallbacks)
        yield lookups


class _OnCallGauges:
    """What the on-call alerts need beyond the queue: the least SLA time left, the longest silence of a van on a
    job, available vans around each region with waiting requests, and the last hour's mean response."""

    def __init__(self) -> None:
        self.sla_left = GaugeMetricFamily(
            "tyrehero_sla_least_remaining_seconds",
            "Least time left on the SLA promise among requests not yet reached (negative: broken); absent when none")
        self.silence = GaugeMetricFamily(
            "tyrehero_on_job_position_age_max_seconds",
            "Age of the oldest last position among technicians on a job (+Inf: none yet); absent when none on a job")
        self.available = GaugeMetricFamily(
            "tyrehero_region_available_technicians",
            "Available technicians in and around an H3 region (coarse cell and its ring) where requests wait",
            labels=["region"])
        self.response = GaugeMetricFamily(
            "tyrehero_response_avg_seconds",
            "Mean time from request to technician on site, requests reached in the last hour; absent when none")

    def read(self, c: sa.Connection, sla_minutes: int, coarse_resolution: int) -> None:
        left = c.execute(sa.text(
            "SELECT min(extract(epoch FROM created_at + make_interval(mins => :m) - now())) FROM service_request"
            " WHERE status IN ('pending','assigned','en_route')"), {"m": sla_minutes}).scalar()
        if left is not None:
            self.sla_left.add_metric([], float(left))
        on_job, never, oldest = c.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE position_at IS NULL), max(extract(epoch FROM now() - position_at))"
            " FROM technician WHERE active AND status IN ('assigned','en_route','on_site')")).one()
        if on_job:
            self.silence.add_metric([], float("inf") if never else float(oldest))
        response = c.execute(sa.text(
            "SELECT avg(extract(epoch FROM on_site_at - created_at)) FROM service_request"
            " WHERE on_site_at >= now() - interval '1 hour'")).scalar()
        if response is not None:
            self.response.add_metric([], float(response))
        waiting = {h3.cell_to_parent(cell, coarse_resolution) for (cell,) in c.execute(sa.text(
            "SELECT DISTINCT h3_cell FROM service_request WHERE status = 'pending'"))}
        if waiting:
            by_parent: dict[str, int] = dict(c.execute(sa.text(
                "SELECT h3_parent, count(*) FROM technician WHERE active AND status = 'available'"
                " AND h3_parent IS NOT NULL GROUP BY h3_parent")).all())
            for region in sorted(waiting):
                self.available.add_metric([region], sum(by_parent.get(r, 0) for r in h3.grid_disk(region, 1)))

    def families(self) -> Iterator[GaugeMetricFamily]:
        yield from (self.sla_left, self.silence, self.available, self.response)
