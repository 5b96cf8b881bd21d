"""The discrete-event simulation of one day of dispatch, in simulated minutes.

Events (a heapq): calls arrive, shifts start and end, vans reach customers and finish
jobs, drivers give up after 4 hours, and every minute a dispatch round runs the app's own
policies (`core.dispatch.batch.greedy_round` / `batch_round`) over candidates from the app's own
index search. A claim is a compare-and-set on the technician, as in the app.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.dispatch.batch import (
    BATCH_CANDIDATES,
    DEFAULT_WEIGHTS,
    Assignment,
    WaitingRequest,
    Weights,
    batch_round,
    greedy_order,
    greedy_round,
    window,
)
from core.sim.cells import MemoryCellSource
from core.sim.demand import Scenario, SimRequest, generate_requests
from core.sim.fleet import SimTech, make_fleet
from core.sim.lookup import CachedLookup
from core.states import TechStatus

GREEDY_WINDOW = 100  # sweep_pending's default limit
# Same-minute order: vans free up and shifts change before a round looks at the queue.
_DONE, _ON_SITE, _SHIFT_ON, _SHIFT_OFF, _ARRIVE, _ABANDON, _TICK = range(7)


@dataclass(frozen=True)
class SimConfig:
    scenario: Scenario
    policy: str = "batch"  # "batch" | "greedy"
    seed: int = 1
    fleet_size: int = 400
    hours: float = 24.0  # calls arrive during [0, hours); the run goes on until all are settled
    tick_min: float = 1.0
    abandon_min: float = 240.0
    sla_min: float = 90.0
    weights: Weights = DEFAULT_WEIGHTS
    # Check every invariant each round, and every n-th look-up against a fresh search (0: never).
    audit_every: int = 0


@dataclass
class Outcome:
    assigned_t: float | None = None
    on_site_t: float | None = None
    technician_id: int | None = None
    abandoned_t: float | None = None


@dataclass
class SimResult:
    config: SimConfig
    requests: list[SimRequest]
    outcomes: dict[int, Outcome]
    queue: list[int] = field(default_factory=list)  # waiting requests at each round of the day
    busy: list[int] = field(default_factory=list)  # technicians on a job at each round
    on_duty: list[int] = field(default_factory=list)  # technicians on shift at each round
    jobs: list[tuple[int, int, float, float]] = field(default_factory=list)  # (tech, request, claimed, done)
    unsettled: list[int] = field(default_factory=list)  # still waiting when the run ended
    searches: int = 0
    claims_lost: int = 0
    seconds: float = 0.0


@dataclass
class _Tech:
    spec: SimTech
    on_shift: bool = False
    job: int | None = None
    claimed_t: float = 0.0


class Simulation:
    def __init__(self, config: SimConfig, progress: Callable[[float], None] | None = None) -> None:
        self.cfg = config
        self.progress = progress
        self.requests = generate_requests(config.scenario, config.seed, config.hours)
        self.by_id = {r.id: r for r in self.requests}
        self.techs = {t.id: _Tech(t) for t in make_fleet(config.fleet_size, config.seed)}
        self.source = MemoryCellSource()
        self.lookup = CachedLookup(self.source, BATCH_CANDIDATES, audit_every=config.audit_every)
        self.waiting: dict[int, SimRequest] = {}
        self.result = SimResult(config, self.requests, {r.id: Outcome() for r in self.requests})
        self.horizon = config.hours * 60.0
        self.end_t = self.horizon + config.abandon_min
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = itertools.count()

    def _at(self, t: float, kind: int, ref: int) -> None:
        heapq.heappush(self._heap, (t, kind, next(self._seq), ref))

    def run(self) -> SimResult:
        started = time.perf_counter()
        for r in self.requests:
            self._at(r.t, _ARRIVE, r.id)
        for tech in self.techs.values():
            for start, end in tech.spec.on_duty:
                if start < self.end_t:
                    self._at(start, _SHIFT_ON, tech.spec.id)
                if end < self.end_t:
                    self._at(end, _SHIFT_OFF, tech.spec.id)
        self._at(0.0, _TICK, 0)
        last = 0.0
        while self._heap:
            t, kind, _seq, ref = heapq.heappop(self._heap)
            self.source.now = t * 60.0
            if self.progress and t > last:
                self.progress(min(t, self.end_t) - last)
                last = min(t, self.end_t)
            self._handle(t, kind, ref)
        if self.progress and last < self.end_t:
            self.progress(self.end_t - last)
        self.result.unsettled = sorted(self.waiting)
        self.result.searches = self.lookup.searches
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _handle(self, t: float, kind: int, ref: int) -> None:
        if kind == _ARRIVE:
            self.waiting[ref] = self.by_id[ref]
            self._at(t + self.cfg.abandon_min, _ABANDON, ref)
        elif kind == _ABANDON:
            if self.waiting.pop(ref, None) is not None:
                self.result.outcomes[ref].abandoned_t = t
                self.lookup.forget(ref)
        elif kind == _ON_SITE:
            self._on_site(t, ref)
        elif kind == _DONE:
            self._done(t, ref)
        elif kind == _SHIFT_ON:
            tech = self.techs[ref]
            tech.on_shift = True
            if tech.job is None:
                self._free(tech, tech.spec.home_lat, tech.spec.home_lng)
        elif kind == _SHIFT_OFF:
            tech = self.techs[ref]
            tech.on_shift = False
            if tech.job is None and ref in self.source:  # busy ones finish their job first
                self.source.remove(ref)
                self.lookup.taken(ref)
        elif kind == _TICK:
            self._round(t)
            if self.cfg.audit_every:
                self.audit()
            if t < self.horizon:
                self.result.queue.append(len(self.waiting))
                self.result.busy.append(sum(1 for x in self.techs.values() if x.job is not None))
                self.result.on_duty.append(len(self.source))
            nxt = t + self.cfg.tick_min
            if nxt < self.end_t and (nxt < self.horizon or self.waiting):
                self._at(nxt, _TICK, 0)

    def _free(self, tech: _Tech, lat: float, lng: float) -> None:
        """On shift and without a job: available where it stands."""
        self.source.upsert(tech.spec.id, lat, lng, TechStatus.AVAILABLE, tech.spec.capabilities)
        self.lookup.freed(tech.spec.id, lat, lng, tech.spec.capabilities)

    def _round(self, t: float) -> None:
        """One dispatch round: the app's policy over the waiting requests, then a claim per pair."""
        if not self.waiting or self.source.available == 0:
            return
        reqs = [WaitingRequest(r.id, r.lat, r.lng, r.priority, t - r.t, r.capabilities) for r in self.waiting.values()]
        pairs: list[Assignment]
        if self.cfg.policy == "batch" and len(reqs) >= 2:
            pairs = batch_round(window(reqs, self.cfg.sla_min), self.lookup, self.cfg.sla_min, self.cfg.weights)
        else:
            pairs = greedy_round(greedy_order(reqs)[:GREEDY_WINDOW], self.lookup)
        for a in pairs:
            self._claim(t, a)

    def _claim(self, t: float, a: Assignment) -> None:
        tech = self.techs[a.technician_id]
        took = a.request_id in self.waiting and self.source.set_status(
            tech.spec.id, TechStatus.ASSIGNED, TechStatus.AVAILABLE)
        if not took:
            self.result.claims_lost += 1  # stays pending for the next round, as in the app
            return
        assert tech.job is None, f"technician {tech.spec.id} already has job {tech.job}"
        self.lookup.taken(tech.spec.id)
        self.waiting.pop(a.request_id)
        self.lookup.forget(a.request_id)
        tech.job, tech.claimed_t = a.request_id, t
        out = self.result.outcomes[a.request_id]
        out.assigned_t, out.technician_id = t, tech.spec.id
        self._at(t + a.eta_minutes, _ON_SITE, tech.spec.id)

    def _on_site(self, t: float, tech_id: int) -> None:
        tech = self.techs[tech_id]
        assert tech.job is not None  # this event was scheduled when the job was claimed
        req = self.by_id[tech.job]
        self.result.outcomes[req.id].on_site_t = t
        # The van is where the customer is; it stays out of the offers until the job is done.
        self.source.upsert(tech_id, req.lat, req.lng, TechStatus.ON_SITE, tech.spec.capabilities)
        self._at(t + req.service_min, _DONE, tech_id)

    def _done(self, t: float, tech_id: int) -> None:
        tech = self.techs[tech_id]
        assert tech.job is not None  # this event was scheduled when the job was claimed
        req = self.by_id[tech.job]
        self.result.jobs.append((tech_id, req.id, tech.claimed_t, t))
        tech.job = None
        if tech.on_shift:
            self._free(tech, req.lat, req.lng)
        else:
            self.source.remove(tech_id)

    def audit(self) -> None:
        """Every technician in one place with at most one job; every request in one state."""
        self.source.audit()
        jobs = [x.job for x in self.techs.values() if x.job is not None]
        assert len(jobs) == len(set(jobs)), "two technicians on one job"
        assert not set(jobs) & set(self.waiting), "a request both waiting and assigned"
        for x in self.techs.values():
            snap = self.source.get(x.spec.id)
            if x.job is not None:
                assert snap is not None and snap.status != TechStatus.AVAILABLE
            elif x.on_shift:
                assert snap is not None and snap.status == TechStatus.AVAILABLE
            else:
                assert snap is None, f"technician {x.spec.id} off shift but in the index"


def simulate(config: SimConfig, progress: Callable[[float], None] | None = None) -> SimResult:
    return Simulation(config, progress).run()
