"""Demo data (a fleet spread over UK towns by population) and a small fleet simulator."""

from __future__ import annotations

import logging
import random
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import h3
import sqlalchemy as sa
from sqlmodel import Session, col, func, select
from tqdm import tqdm

from core.bootstrap import tech_to_indexed
from core.config import Environment
from core.context import Core
from core.geo import places
from core.geo.sphere import haversine_km
from core.infra.db import session_scope
from core.models import ACTIVE_JOB_STATUSES, Rating, ServiceRequest, Technician, UserAccount, utcnow
from core.principal import Principal
from core.requests.public import tracking_token
from core.staff.auth import new_account
from core.states import RequestStatus, TechStatus
from core.technicians.jobs import job_action
from core.tokens import token_hash

FIRST = ["Amir", "Beth", "Callum", "Dev", "Ellie", "Fraser", "Gwen", "Harj", "Isla", "Jamal", "Kerry", "Liam", "Megan",
         "Niall", "Owen", "Priya", "Rhys", "Sian", "Tom", "Uma", "Wes", "Zara"]
LAST = ["Patel", "Jones", "Smith", "Evans", "Khan", "Murphy", "Taylor", "Brown", "Wilson", "Hughes", "Walker",
        "Roberts", "Clarke", "Ahmed", "Davies", "Reid"]
VANS = ["Ford Transit Custom", "VW Transporter", "Vauxhall Vivaro", "Renault Trafic", "Mercedes Vito"]
DEMO_LOGINS = [("admin", "Admin", "admin", "admin-demo-1"),
               ("dispatch", "Dana Dispatcher", "dispatcher", "dispatch-demo-1"),
               ("tech", "Toby Technician", "technician", "tech-demo-1")]


_jitter = places.random_point_near
log = logging.getLogger(__name__)


def seed_if_empty(core: Core, size: int | None = None, seed: int = 7, quiet: bool = False) -> bool:
    """Create the demo fleet and logins when there are no technicians; return True if seeded.

    Never in production, whoever calls it: the logins' passwords are published (README, `make run`), and
    made-up vans would be offered real customers' jobs.
    """
    if core.settings.environment == Environment.production:
        log.warning("demo data is never created in production; nothing seeded")
        return False
    with Session(core.engine) as s:
        if s.exec(select(func.count()).select_from(Technician)).one() > 0:
            return False
    size = core.settings.demo_fleet_size if size is None else size
    rng = random.Random(seed)
    towns = places.uk_places()
    weights = [p.population for p in towns]
    now = utcnow()
    rows = []
    for i in tqdm(range(size), desc="demo fleet", unit="van", disable=quiet, file=sys.stdout):
        town = rng.choices(towns, weights)[0]
        lat, lng = _jitter(rng, town.lat, town.lng, 4.0)
        cell = h3.latlng_to_cell(lat, lng, core.settings.h3_resolution)
        kit = (("run_flat", 0.5), ("suv_4x4", 0.35), ("van", 0.25), ("locking_nut", 0.6))
        caps = [c for c, p in kit if rng.random() < p]
        status = rng.choices([TechStatus.AVAILABLE, TechStatus.OFFLINE, TechStatus.BREAK], [0.8, 0.15, 0.05])[0].value
        rows.append(Technician(
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            van_reg=f"TH{i % 100:02d} {''.join(rng.choices('ABCDEFGHJKLMNPRSTUVWXYZ', k=3))}",
            van_label=rng.choice(VANS), capabilities=caps, home_base=town.name, status=status,
            lat=lat, lng=lng, h3_cell=cell, h3_parent=h3.cell_to_parent(cell, core.settings.h3_coarse_resolution),
            position_at=now, phone_enc=core.vault.encrypt(_drama_mobile(i)),
        ))
    with session_scope(core.engine) as s:
        for username, display, role, password in DEMO_LOGINS:
            if not s.exec(select(UserAccount).where(UserAccount.username == username)).first():
                s.add(new_account(username, display, role, password))
        s.flush()
        tech_user = s.exec(select(UserAccount).where(UserAccount.username == "tech")).one()
        if rows:
            rows[0].user_id = tech_user.id
            rows[0].name = tech_user.display_name
        s.add_all(rows)
        s.flush()
        _seed_rated_jobs(core, s, rows, rng)
    core.index.ensure_built(force=True)
    if not quiet:
        print(f"Seeded {size} technicians. Demo logins (change them before real use):")
        for username, _d, role, password in DEMO_LOGINS:
            print(f"  {role:<11} {username} / {password}")
    return True


def _drama_mobile(i: int) -> str:
    """Ofcom's drama range (07700 900000-900999): numbers that reach no one, so `make run` shows offers going
    by text in the admin's Messages tab without texting a stranger. Set here, not through the admin form:
    libphonenumber, and so our validation, refuses them for the same reason."""
    return f"+447700900{i % 1000:03d}"


# Last week's rated jobs: 40 ratings averaging 4.5 of 5 (the KPI the console shows), the low ones with words.
DEMO_STARS = [5] * 26 + [4] * 11 + [3, 2, 1]
DEMO_LOW_COMMENTS = {3: "Friendly, but later than the ETA we were given", 2: "Hard to reach by phone while waiting",
                     1: "Waited over two hours on the hard shoulder"}


def _seed_rated_jobs(core: Core, s: Session, techs: list[Technician], rng: random.Random) -> None:
    """Completed requests of the past six days, each with its rating, so the console's rating figure has data."""
    if not techs:
        return
    now = utcnow()
    stars = DEMO_STARS[:]
    rng.shuffle(stars)
    for i, n in enumerate(stars):
        tech = rng.choice(techs)
        created = now - timedelta(days=1 + i % 6, hours=rng.uniform(0, 20))
        on_site = created + timedelta(minutes=rng.uniform(35, 85))
        done = on_site + timedelta(minutes=rng.uniform(20, 45))
        public_id = uuid.uuid4()
        phone = f"+4477009{i:05d}"  # Ofcom's range for drama: no real person's number
        req = ServiceRequest(
            public_id=public_id, reference=f"TH-DEMO{i:02d}",
            tracking_token_hash=token_hash(tracking_token(core, public_id)), customer_name="Demo Driver",
            phone_enc=core.vault.encrypt(phone), phone_hash=core.vault.lookup_hash(phone),
            lat=tech.lat or 51.5, lng=tech.lng or -0.1, h3_cell=tech.h3_cell or "",
            location_label=f"near {tech.home_base}",
            vehicle="Demo car", issue="puncture", status=RequestStatus.COMPLETED.value, quote_pence=8900,
            technician_id=tech.id, created_at=created, assigned_at=created + timedelta(minutes=2),
            accepted_at=created + timedelta(minutes=3), en_route_at=created + timedelta(minutes=4), on_site_at=on_site,
            completed_at=done, version=5,
        )
        s.add(req)
        s.flush()
        assert req.id is not None  # flushed
        s.add(Rating(request_id=req.id, technician_id=tech.id, stars=n, comment=DEMO_LOW_COMMENTS.get(n, ""),
                     created_at=done + timedelta(minutes=rng.uniform(5, 120))))


# The demo's vans are driven by the process, not by their technicians: the timeline says so.
SIMULATOR = Principal.system("demo fleet simulator")


@dataclass
class FleetSimulator:
    """Keeps on-shift positions fresh and drives assigned vans to their customers (demo mode only)."""

    core: Core
    interval_s: float = 5.0
    speed_kmh: float = 60.0
    on_site_s: float = 60.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    def tick(self) -> None:
        now = utcnow()
        with Session(self.core.engine) as s:
            techs = s.exec(select(Technician).where(Technician.active, Technician.status != TechStatus.OFFLINE)).all()
            jobs = {r.technician_id: r for r in s.exec(
                select(ServiceRequest).where(col(ServiceRequest.status).in_(ACTIVE_JOB_STATUSES))
            ).all()}
        moved: list[tuple[int, float, float]] = []
        for t in techs:
            if t.id is None or t.lat is None or t.lng is None:
                continue
            job = jobs.get(t.id)
            lat, lng = t.lat, t.lng
            if job is None or job.id is None:  # (a stored job always has an id)
                lat, lng = _jitter(self.rng, lat, lng, 0.05)  # idling around the base
            elif job.status == RequestStatus.ASSIGNED:
                job_action(self.core, SIMULATOR, job.id, "en-route", tech_id=t.id)
            elif job.status == RequestStatus.EN_ROUTE:
                step = self.speed_kmh * self.interval_s / 3600.0
                dist = haversine_km(lat, lng, job.lat, job.lng)
                if dist <= step:
                    lat, lng = job.lat, job.lng
                    job_action(self.core, SIMULATOR, job.id, "arrived", tech_id=t.id)
                else:
                    f = step / dist
                    lat, lng = lat + (job.lat - lat) * f, lng + (job.lng - lng) * f
            elif (job.status == RequestStatus.ON_SITE and job.on_site_at
                  and now - job.on_site_at > timedelta(seconds=self.on_site_s)):
                job_action(self.core, SIMULATOR, job.id, "complete", {"fitted": "1 tyre"}, tech_id=t.id)
            moved.append((t.id, lat, lng))
        self._store_positions(moved, now)

    def _store_positions(self, moved: list[tuple[int, float, float]], now: datetime) -> None:
        if not moved:
            return
        res, cres = self.core.settings.h3_resolution, self.core.settings.h3_coarse_resolution
        params = []
        for tid, lat, lng in moved:
            cell = h3.latlng_to_cell(lat, lng, res)
            params.append({"i": tid, "lat": lat, "lng": lng, "c": cell, "p": h3.cell_to_parent(cell, cres), "at": now})
        with session_scope(self.core.engine) as s:
            s.execute(sa.text(
                "UPDATE technician SET lat=:lat, lng=:lng, h3_cell=:c, h3_parent=:p, position_at=:at WHERE id=:i"
            ), params)
            fresh = s.exec(select(Technician).where(col(Technician.id).in_([m[0] for m in moved]))).all()
        self.core.index.upsert_many([tech_to_indexed(t) for t in fresh if t.status != TechStatus.OFFLINE])
