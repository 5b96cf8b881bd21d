"""The dispatcher's view: queue, fleet, request detail, alerts and today's figures (read side).

Each read names who asks and refuses anyone but a dispatcher or an admin: they carry drivers' names,
phone numbers and positions, and technicians' whereabouts. `snapshot` is the page's read model: one
call a tick. (Over 300 lines: the reads and the snapshot that combines them share private helpers.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import h3
import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from core import labels
from core.context import Core
from core.dispatch.auto import reach_minutes, suggestions
from core.errors import NotFound
from core.geo.places import nearest_place
from core.infra.db import translates_outages
from core.models import RequestEvent, ServiceRequest, Technician, stored_id, utcnow
from core.notify.outbox import MessageLine, read_messages
from core.principal import Principal, Role
from core.requests.pricing import LONDON
from core.requests.priority import effective_priority
from core.requests.promise import best_eta, in_reach
from core.requests.rating import RatingSummary, rating_summary
from core.requests.tracking import link_expired, remaining_eta
from core.schemas import ISSUE_LABELS, Issue
from core.states import ON_A_JOB, OPEN, TECH_ON_A_JOB, RequestStatus, TechStatus, sql_list

AMBER_MIN, RED_MIN = 30, 10
NOT_YET_REACHED = (RequestStatus.PENDING, RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE)  # no van on site yet
READERS = (Role.DISPATCHER, Role.ADMIN)


class QueueItem(BaseModel):
    id: int
    reference: str
    status: str
    priority: int
    effective_priority: float
    issue: str
    customer_name: str
    location_label: str
    approximate: bool
    postcode: str | None = None
    capabilities: list[str] = []
    lat: float
    lng: float
    created_at: str
    waited_min: int
    sla_left_min: int
    sla_state: str  # ok | amber | red
    technician_id: int | None
    technician: str | None
    # The promise projected: the van's remaining ETA (None while nobody is on the way), waiting + ETA, and
    # whether that misses the promise; the SLA column shows `sla_text`, red when `will_breach`.
    eta_min: int | None = None
    projected_min: int | None = None
    will_breach: bool = False
    sla_text: str = ""
    status_label: str = ""
    closed: bool = False  # completed or cancelled: nothing left to assign, unassign or cancel


class FleetItem(BaseModel):
    id: int
    name: str
    van: str
    status: str
    capabilities: list[str]
    lat: float | None
    lng: float | None
    position_age_s: int | None
    job_reference: str | None


class Suggestion(BaseModel):
    technician_id: int
    name: str
    van: str
    distance_km: float
    eta_minutes: int


class EventOut(BaseModel):
    at: str
    kind: str
    actor: str
    data: dict[str, Any]


class RequestDetail(BaseModel):
    request: QueueItem
    vehicle: str
    vehicle_reg: str | None
    vehicle_type: str
    on_motorway: bool
    vulnerable: bool
    notes: str
    quote_pence: int
    phone: str
    timeline: list[EventOut]
    suggestions: list[Suggestion]
    messages: list[MessageLine] = []  # the texts about this request, newest first, with their delivery status
    link_works: bool = False  # the driver's tracking link still opens and the number is held: it can be resent


class Alert(BaseModel):
    kind: str  # backlog | low_availability | sla_risk | no_van_in_reach | silent_technician
    severity: str  # warning | critical
    text: str
    request_id: int | None = None
    technician_id: int | None = None
    region: str | None = None  # low_availability: the coarse H3 cell, which names the episode for paging


def _sla_state(left: float) -> str:
    return "red" if left < RED_MIN else "amber" if left < AMBER_MIN else "ok"


@dataclass(frozen=True)
class _Van:
    name: str | None
    lat: float | None
    lng: float | None


def _promise(sla: int, status: str, waited: float, eta: int | None) -> tuple[int | None, bool, str, str]:
    """(projected minutes, will it be missed, the SLA column's words, its colour) for one request."""
    left = sla - waited
    if status not in OPEN:
        return None, False, labels.request_status(status), "ok"
    if status == RequestStatus.ON_SITE:
        return None, False, "on site", "ok"
    if eta is None:  # nobody on the way yet: the clock alone
        if left < 0:
            return None, True, f"{int(-left)} min over, no van yet", "red"
        return None, False, f"{int(left)} min left, no van yet", _sla_state(left)
    projected = int(waited) + eta
    late = projected - sla
    if late > 0:
        return projected, True, f"arrives at {projected} min: {late} late", "red"
    return projected, False, f"arrives at {projected} min: {-late} spare", "amber" if -late < RED_MIN else "ok"


def _queue_item(core: Core, r: ServiceRequest, van: _Van | None, now: datetime) -> QueueItem:
    waited = (now - r.created_at).total_seconds() / 60
    left = core.settings.sla_minutes - waited
    eta = remaining_eta(core, r, van, now) if van is not None else None
    projected, breach, text, state = _promise(core.settings.sla_minutes, r.status, waited, eta)
    return QueueItem(
        id=stored_id(r.id), reference=r.reference, status=r.status, priority=r.priority,
        effective_priority=round(effective_priority(r.priority, waited, core.settings.sla_minutes), 2),
        issue=ISSUE_LABELS[Issue(r.issue)], customer_name=r.customer_name, location_label=r.location_label,
        approximate=r.location_approximate, postcode=r.postcode, capabilities=list(r.required_capabilities),
        lat=r.lat, lng=r.lng, created_at=r.created_at.isoformat(),
        waited_min=int(waited), sla_left_min=int(left), sla_state=state,
        technician_id=r.technician_id, technician=van.name if van else None,
        eta_min=eta, projected_min=projected, will_breach=breach, sla_text=text,
        status_label=labels.request_status(r.status), closed=r.status not in OPEN,
    )


def queue(core: Core, who: Principal) -> list[QueueItem]:
    """Open requests, most urgent first: priority aged by waiting time."""
    who.require(*READERS)
    return _queue(core)


def _queue(core: Core) -> list[QueueItem]:
    now = utcnow()
    with Session(core.engine) as s:
        rows = s.exec(
            select(ServiceRequest, Technician.name, Technician.lat, Technician.lng)
            .join(Technician, col(Technician.id) == ServiceRequest.technician_id, isouter=True)
            .where(col(ServiceRequest.status).in_(OPEN))
        ).all()
    items = [_queue_item(core, r, _Van(name, lat, lng) if r.technician_id else None, now)
             for r, name, lat, lng in rows]
    # Waiting requests first, then by effective priority.
    items.sort(key=lambda q: (q.status != RequestStatus.PENDING, q.effective_priority, q.created_at))
    return items


def fleet(core: Core, who: Principal) -> list[FleetItem]:
    who.require(*READERS)
    now = utcnow()
    with Session(core.engine) as s:
        rows = s.exec(
            select(Technician, ServiceRequest.reference)
            .join(ServiceRequest, sa.and_(col(ServiceRequest.technician_id) == Technician.id,
                                          col(ServiceRequest.status).in_(ON_A_JOB)),
                  isouter=True)
            .where(col(Technician.active))
            .order_by(col(Technician.name))
        ).all()
    return [
        FleetItem(id=stored_id(t.id), name=t.name, van=t.van_label or t.van_reg, status=t.status,
                  capabilities=list(t.capabilities), lat=t.lat, lng=t.lng, job_reference=ref,
                  position_age_s=int((now - t.position_at).total_seconds()) if t.position_at else None)
        for t, ref in rows
    ]


def request_detail(core: Core, who: Principal, request_id: int) -> RequestDetail:
    who.require(*READERS)
    return _request_detail(core, request_id)


def _request_detail(core: Core, request_id: int) -> RequestDetail:
    now = utcnow()
    with Session(core.engine) as s:
        r = s.get(ServiceRequest, request_id)
        if r is None:
            raise NotFound("no such request")
        tech = s.get(Technician, r.technician_id) if r.technician_id else None
        events = s.exec(select(RequestEvent).where(RequestEvent.request_id == request_id)
                        .order_by(col(RequestEvent.at), col(RequestEvent.id))).all()
    sugg: list[Suggestion] = []
    if r.status in NOT_YET_REACHED:
        cands = [c for c in suggestions(core, request_id, n=6) if c.technician_id != r.technician_id][:5]
        with Session(core.engine) as s:
            names = {t.id: t for t in s.exec(select(Technician).where(
                col(Technician.id).in_([c.technician_id for c in cands]))).all()}
        sugg = [Suggestion(technician_id=c.technician_id, name=names[c.technician_id].name,
                           van=names[c.technician_id].van_label, distance_km=round(c.distance_km, 1),
                           eta_minutes=round(c.eta_minutes)) for c in cands if c.technician_id in names]
    return RequestDetail(
        request=_queue_item(core, r, _Van(tech.name, tech.lat, tech.lng) if tech else None, now),
        vehicle=r.vehicle, vehicle_reg=r.vehicle_reg,
        vehicle_type=r.vehicle_type, on_motorway=r.on_motorway, vulnerable=r.vulnerable, notes=r.notes,
        quote_pence=r.quote_pence, phone=core.vault.decrypt(r.phone_enc),
        timeline=[EventOut(at=e.at.isoformat(), kind=e.kind, actor=e.actor, data=e.data) for e in events],
        suggestions=sugg, messages=read_messages(core, 20, request_id),
        link_works=bool(r.phone_enc) and not link_expired(r.status, r.completed_at or r.cancelled_at, now),
    )


def alerts(core: Core, who: Principal, backlog: int = 10, min_available: int = 5, silent_min: int = 5) -> list[Alert]:
    """What needs a dispatcher now."""
    who.require(*READERS)
    return _alerts(core, _queue(core), backlog, min_available, silent_min)


def _alerts(core: Core, q: list[QueueItem], backlog: int = 10, min_available: int = 5,
            silent_min: int = 5) -> list[Alert]:
    out: list[Alert] = []
    pending = [i for i in q if i.status == RequestStatus.PENDING]
    if len(pending) > backlog:
        out.append(Alert(kind="backlog", severity="critical", text=f"{len(pending)} requests are waiting for a van"))
    for i in q:
        if i.sla_state == "red" and i.status in NOT_YET_REACHED:
            sla = core.settings.sla_minutes
            if i.projected_min is not None:
                text = (f"{i.reference} ({i.location_label}): the van arrives at {i.projected_min} min,"
                        f" {i.projected_min - sla} min past the {sla}-minute promise")
            else:
                text = (f"{i.reference} ({i.location_label}): {i.sla_left_min} min left on the {sla}-minute"
                        " promise, no van yet")
            out.append(Alert(kind="sla_risk", severity="critical" if i.will_breach else "warning", text=text,
                             request_id=i.id))
    out.extend(_out_of_reach(core, pending))
    with Session(core.engine) as s:
        avail = s.exec(select(Technician.h3_parent, sa.func.count())
                       .where(Technician.status == TechStatus.AVAILABLE, col(Technician.active))
                       .group_by(col(Technician.h3_parent))).all()
        cutoff = utcnow() - timedelta(minutes=silent_min)
        silent = s.exec(select(Technician).where(col(Technician.status).in_(TECH_ON_A_JOB),
                                                 sa.or_(col(Technician.position_at).is_(None),
                                                        col(Technician.position_at) < cutoff))).all()
    by_region = dict(avail)
    warned: set[str] = set()
    for i in pending:
        region = h3.cell_to_parent(h3.latlng_to_cell(i.lat, i.lng, core.settings.h3_resolution),
                                   core.settings.h3_coarse_resolution)
        near = sum(by_region.get(c, 0) for c in h3.grid_disk(region, 1))
        if near < min_available and region not in warned:
            warned.add(region)
            place, _ = nearest_place(i.lat, i.lng)
            out.append(Alert(kind="low_availability", severity="warning",
                             text=f"Only {near} technicians available around {place.name}", request_id=i.id,
                             region=region))
    for t in silent:
        out.append(Alert(kind="silent_technician", severity="warning",
                         text=f"{t.name} has sent no position for over {silent_min} minutes while on a job",
                         technician_id=t.id))
    return out


def system_alerts(core: Core, who: Principal) -> list[Alert]:
    """The alerts as the process itself reads them to page someone (core.dispatch.alerting): the system only."""
    who.require(Role.SYSTEM)
    return _alerts(core, _queue(core))


# Waiting requests checked for a van within reach per console tick (one index lookup each), oldest first.
REACH_CHECKS = 20


def _out_of_reach(core: Core, pending: list[QueueItem]) -> list[Alert]:
    """Waiting requests no free van can reach within the SLA plus the auto-dispatch margin: only a dispatcher
    can help them now (assign a farther van by hand, or call the driver)."""
    reach = reach_minutes(core)
    out = []
    for i in sorted(pending, key=lambda q: q.created_at)[:REACH_CHECKS]:
        if not in_reach(core, best_eta(core, i.lat, i.lng, i.capabilities)):
            out.append(Alert(kind="no_van_in_reach", severity="critical", request_id=i.id,
                             text=f"{i.reference} ({i.location_label}): no van within reach ({reach:.0f} min) — "
                                  "assign one by hand or call the driver"))
    return out


class HourFigure(BaseModel):
    """One bar of the day's chart: requests created in that UK hour and their mean response."""

    hour: str  # "00".."23"
    requests: int
    response_min: float


class Figures(BaseModel):
    pending: int
    assigned: int
    in_progress: int
    completed_today: int
    cancelled_today: int
    avg_response_min: float | None
    sla_compliance_pct: float | None
    on_shift: int
    busy: int
    utilisation_pct: float | None
    per_hour: list[HourFigure]


def figures(core: Core, who: Principal) -> Figures:
    """Today's figures (UK day), with requests and mean response per hour."""
    who.require(*READERS)
    return _figures(core)


def _figures(core: Core) -> Figures:
    local_midnight = datetime.now(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    sla = core.settings.sla_minutes
    with core.read_engine.connect() as c:
        counts: dict[str, int] = dict(c.execute(sa.text(
            f"SELECT status, count(*) FROM service_request WHERE status IN ({sql_list(OPEN)})"
            " OR created_at >= :m OR completed_at >= :m OR cancelled_at >= :m GROUP BY status"),
            {"m": local_midnight}).all())
        reached = c.execute(sa.text(
            "SELECT avg(extract(epoch FROM on_site_at - created_at)) / 60,"
            " avg(CASE WHEN on_site_at - created_at <= make_interval(mins => :sla) THEN 1.0 ELSE 0.0 END) * 100"
            " FROM service_request WHERE on_site_at >= :m"), {"m": local_midnight, "sla": sla}).one()
        hours = c.execute(sa.text(
            "SELECT extract(hour FROM created_at AT TIME ZONE 'Europe/London')::int AS h, count(*),"
            " avg(extract(epoch FROM on_site_at - created_at)) / 60"
            " FROM service_request WHERE created_at >= :m GROUP BY h ORDER BY h"), {"m": local_midnight}).all()
        shift: dict[str, int] = dict(c.execute(sa.text(
            f"SELECT status, count(*) FROM technician WHERE active AND status <> '{TechStatus.OFFLINE.value}'"
            " GROUP BY status")).all())
    on_shift = sum(shift.values())
    busy = sum(v for k, v in shift.items() if k in TECH_ON_A_JOB)
    by_hour = {int(h): (n, avg) for h, n, avg in hours}
    return Figures(
        pending=counts.get(RequestStatus.PENDING, 0), assigned=counts.get(RequestStatus.ASSIGNED, 0),
        in_progress=counts.get(RequestStatus.EN_ROUTE, 0) + counts.get(RequestStatus.ON_SITE, 0),
        completed_today=counts.get(RequestStatus.COMPLETED, 0),
        cancelled_today=counts.get(RequestStatus.CANCELLED, 0),
        avg_response_min=round(float(reached[0]), 1) if reached[0] is not None else None,
        sla_compliance_pct=round(float(reached[1]), 1) if reached[1] is not None else None,
        on_shift=on_shift, busy=busy, utilisation_pct=round(100 * busy / on_shift, 1) if on_shift else None,
        per_hour=[HourFigure(hour=f"{h:02d}", requests=by_hour.get(h, (0, None))[0],
                             response_min=round(float(by_hour[h][1]), 1)
                             if h in by_hour and by_hour[h][1] is not None else 0)
                  for h in range(24)],
    )


class ConsoleSnapshot(BaseModel):
    """Everything one tick of the console shows, read by one call."""

    queue: list[QueueItem]
    alerts: list[Alert]
    figures: Figures | None = None  # only when asked: the figures' queries cost more than the rest together
    detail: RequestDetail | None = None  # the selected request; None when none is selected or it is gone
    ratings: RatingSummary | None = None  # with the figures: drivers' average rating and the lowest recent ones


@translates_outages
def snapshot(core: Core, who: Principal, selected_id: int | None = None, with_figures: bool = False) -> ConsoleSnapshot:
    """The console's read model: the queue (read once, for the alerts too), the alerts, today's figures when
    asked, and the selected request's detail. A database outage comes out as `Unavailable`."""
    who.require(*READERS)
    q = _queue(core)
    detail = None
    if selected_id:
        try:
            detail = _request_detail(core, selected_id)
        except NotFound:
            detail = None
    return ConsoleSnapshot(queue=q, alerts=_alerts(core, q), figures=_figures(core) if with_figures else None,
                           detail=detail, ratings=rating_summary(core) if with_figures else None)
