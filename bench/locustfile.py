"""The users of the load test, for Locust; `python -m bench.load` writes their plan and runs them.

Every user keeps a constant pace (an open-loop schedule as long as answers come back within the
pace) and starts at a random phase inside its first period, so arrivals are spread evenly from
the first second instead of landing in bursts. Users of a kind share one keep-alive connection
pool, as the app would see them behind a load balancer.

Kept free of the app's own imports (only `bench.pacing`): the driver process stays small and fast.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import random
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
from geventhttpclient.client import HTTPClientPool
from locust import FastHttpUser, events, task

from bench.pacing import Pacing

PLAN: dict[str, Any] = json.loads(Path(os.environ["TH_LOAD_PLAN"]).read_text())
OUT = Path(PLAN["out_dir"])
TIMEOUTS = {"network_timeout": PLAN["timeout_s"], "connection_timeout": PLAN["timeout_s"]}

POST_REQUEST = "POST /api/v1/requests"
GET_TRACK = "GET /api/v1/requests/track/{token}"
POST_LOCATION = "POST /api/v1/technicians/me/location"
GET_JOB = "GET /api/v1/technicians/me/job"
JOB_STEP = "POST /api/v1/jobs/{id}/"  # + accept, en-route, arrived, complete
GET_LIVE = "GET /api/v1/dispatch/live.geojson"
GET_HEXES = "GET /api/v1/dispatch/hexes.geojson"

_rng = random.Random()
_recent_tokens: deque[str] = deque(maxlen=2000)  # tracking tokens this process was given
_customer_seq = itertools.count()
_tech_seq = itertools.count()
_files: dict[str, Any] = {}


def _out(kind: str) -> Any:
    """This process's file of one kind (opened after any fork)."""
    f = _files.get(kind)
    if f is None:
        f = _files[kind] = open(OUT / f"{kind}-{os.getpid()}.txt", "a")  # noqa: SIM115
    return f


def _record_accepted(request_id: int) -> None:
    _out("accepted").write(f"{request_id}\n")


@events.request.add_listener
def _record_call(name: str, response_time: float, exception: BaseException | None, start_time: float,
                 **_: Any) -> None:
    """Every call with its time, start and outcome: the driver computes the figures from these, all of them."""
    error = "" if exception is None else " ".join(str(exception).split())[:160] or exception.__class__.__name__
    _out("calls").write(f"{name}\t{response_time:.3f}\t{start_time:.3f}\t{error}\n")


@events.spawning_complete.add_listener
def _freeze_heap(**_: Any) -> None:
    """Every user is up: the driver's own long-lived objects (users, pools, the plan) are taken out
    of the garbage collector's sweeps, so a full collection in the driver does not stall every call
    in flight and show up as the server's latency."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, *gc.get_threshold()[1:])


@events.quit.add_listener
def _close(**_: Any) -> None:
    for f in _files.values():
        f.close()
    _files.clear()


def _slot(user: FastHttpUser, seq: itertools.count) -> int:
    """A number unique across the driver's processes."""
    runner = user.environment.runner
    return next(seq) * PLAN["driver_processes"] + getattr(runner, "worker_index", 0)


def _pool(concurrency: int) -> HTTPClientPool:
    return HTTPClientPool(concurrency=max(1, concurrency), **TIMEOUTS)


class _Paced(FastHttpUser):
    """One task every `period_s`, from a random phase inside the first period (`bench.pacing`)."""

    abstract = True
    period_s = 1.0

    def on_start(self) -> None:
        gevent.sleep(_rng.uniform(0, self.period_s))
        self.pacing = Pacing(self.period_s, time.perf_counter())

    def wait_time(self) -> float:
        return self.pacing.wait(time.perf_counter())


class Customer(_Paced):
    """Asks for help: one new request (new phone number) per period."""

    fixed_count = PLAN["customers"]["users"]
    period_s = PLAN["customers"]["period_s"]
    client_pool = _pool(PLAN["customers"]["users"])

    @task
    def submit(self) -> None:
        n = _slot(self, _customer_seq)
        lat, lng = _rng.choice(PLAN["points"])
        body = {
            "customer_name": f"{PLAN['name_prefix']} {n}",
            "phone": f"07400{n:06d}",  # every number of the 07400 block is a valid UK mobile
            "location": {"lat": lat, "lng": lng},
            "vehicle": "Ford Focus",
            "issue": _rng.choice(("puncture", "puncture", "puncture", "flat", "blowout")),
            "on_motorway": _rng.random() < 0.1,
        }
        with self.client.post("/api/v1/requests", json=body, name=POST_REQUEST, catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:120]}")
                return
            data = r.json()
            if data.get("duplicate"):
                r.failure("answered as a duplicate of an earlier request")
                return
            _record_accepted(int(data["id"]))
            _recent_tokens.append(data["tracking_token"])


class Tracker(_Paced):
    """A customer's tracking page polling the request's view."""

    fixed_count = PLAN["trackers"]["users"]
    period_s = PLAN["trackers"]["period_s"]
    client_pool = _pool(PLAN["trackers"]["users"])

    @task
    def track(self) -> None:
        if not _recent_tokens:
            return
        token = _rng.choice(_recent_tokens)
        self.client.get(f"/api/v1/requests/track/{token}", name=GET_TRACK)


class Technician(_Paced):
    """A technician's phone on shift: its position every `ping_every_s`, and its job worked as the app does.

    A position report's answer names the technician's job; when it names one and the phone is free,
    the app reads the job (`GET /api/v1/technicians/me/job`). An offer is accepted after a
    moment, then the van goes en route, arrives and completes, with the job's length drawn from
    `job_s` (offer to completion) and spent as on the road: read the offer, set off, drive, fit. Steps run in their
    own greenlet so the position reports keep their pace; on site, the van reports the job's point.
    """

    fixed_count = len(PLAN["technicians"])
    period_s = PLAN["ping_every_s"]
    client_pool = _pool(min(200, len(PLAN["technicians"])))

    def on_start(self) -> None:
        techs = PLAN["technicians"]
        _tid, token, self.lat, self.lng = techs[_slot(self, _tech_seq) % len(techs)]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.working = False
        super().on_start()

    @task
    def ping(self) -> None:
        body = {
            "lat": self.lat + _rng.uniform(-0.002, 0.002),
            "lng": self.lng + _rng.uniform(-0.002, 0.002),
            "accuracy_m": 8,
            "recorded_at": datetime.now(UTC).isoformat(),
        }
        with self.client.post("/api/v1/technicians/me/location", json=body, headers=self.headers, name=POST_LOCATION,
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:120]}")
                return
            job_id = r.json().get("job_id")
        # The answer names the technician's job: the phone asks for the job itself only when it has one.
        if PLAN["jobs"] and not self.working and job_id is not None:
            self.check_job()

    def check_job(self) -> None:
        with self.client.get("/api/v1/technicians/me/job", headers=self.headers, name=GET_JOB,
                             catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:120]}")
                return
            job = r.json()["job"]
        if job is not None:
            self.working = True
            gevent.spawn(self.work, job)

    def work(self, job: dict[str, Any]) -> None:
        try:
            lo, hi = PLAN["job_s"]
            total = _rng.uniform(lo, hi)
            # Read the offer and accept (5-30 s), set off (2-10 s), then drive and fit: a short job
            # (a test's) is split by the same shares instead.
            accept = min(_rng.uniform(5, 30), 0.08 * total)
            set_off = min(_rng.uniform(2, 10), 0.05 * total)
            rest = total - accept - set_off
            steps = [("accept", accept), ("en-route", set_off), ("arrived", 0.52 * rest), ("complete", 0.48 * rest)]
            if job["accepted"] or job["status"] != "assigned":
                steps = [s for s in steps if s[0] != "accept"]
            if job["status"] in ("en_route", "on_site"):
                steps = [s for s in steps if s[0] != "en-route"]
            if job["status"] == "on_site":
                steps = [s for s in steps if s[0] != "arrived"]
            for action, wait_s in steps:
                gevent.sleep(wait_s)
                body = {"fitted": "1 x 205/55 R16", "note": ""} if action == "complete" else None
                with self.client.post(f"/api/v1/jobs/{job['id']}/{action}", json=body, headers=self.headers,
                                      name=JOB_STEP + action, catch_response=True) as r:
                    if r.status_code != 200:
                        r.failure(f"HTTP {r.status_code}: {(r.text or '')[:120]}")
                        return
                if action == "arrived":
                    self.lat, self.lng = job["lat"], job["lng"]
        finally:
            self.working = False


class _ConsoleLayer(_Paced):
    """A dispatcher console polling one map layer, as the map's Realtime layer does."""

    abstract = True
    fixed_count = PLAN["consoles"]
    path = ""
    label = ""

    @task
    def poll(self) -> None:
        self.client.get(self.path, headers={"Authorization": f"Bearer {PLAN['dispatcher_token']}"}, name=self.label)


class LiveLayer(_ConsoleLayer):
    """The live layer (vans and requests)."""

    period_s = PLAN["live_every_s"]
    client_pool = _pool(PLAN["consoles"])
    path, label = "/api/v1/dispatch/live.geojson", GET_LIVE


class HexLayer(_ConsoleLayer):
    """The H3 supply/demand layer."""

    period_s = PLAN["hexes_every_s"]
    client_pool = _pool(PLAN["consoles"])
    path, label = "/api/v1/dispatch/hexes.geojson", GET_HEXES
