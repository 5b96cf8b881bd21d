"""Prometheus metrics: counters and histograms the core updates, gauges read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core.states import OPEN, sql_list

HTTP_LATENCY = Histogram(
    "tyrehero_http_request_seconds", "HTTP request latency by route", ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
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

    def __init__(self, engine: sa.Engine, sla_minutes: int, index: LookupCounts) -> None:
        self.engine, self.sla_minutes, self.index = engine, sla_minutes, index

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        queue = GaugeMetricFamily("tyrehero_requests_open", "Open requests by status", labels=["status"])
        techs = GaugeMetricFamily("tyrehero_technicians", "Active technicians by status", labels=["status"])
        sla = GaugeMetricFamily("tyrehero_sla_compliance_ratio", "Share of requests reached within the SLA, last 24 h")
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
        except sa.exc.SQLAlchemyError:
            pass  # the database being down shows in /health; the scrape itself must not fail
        yield queue
        yield techs
        yield sla
        lookups = CounterMetricFamily("tyrehero_index_lookups", "Nearest-technician lookups", labels=["backend"])
        lookups.add_metric(["redis"], self.index.lookups - self.index.fallbacks)
        lookups.add_metric(["postgres_fallback"], self.index.fallbacks)
        yield lookups
