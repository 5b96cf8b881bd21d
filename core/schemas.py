"""Input and output shapes of the request service (shared by the API and the pages)."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ValidationFailed
from core.phones import normalise_uk_mobile


class Issue(StrEnum):
    PUNCTURE = "puncture"
    BLOWOUT = "blowout"
    FLAT = "flat"
    DAMAGED_WHEEL = "damaged_wheel"
    LOCKING_NUT_LOST = "locking_nut_lost"
    OTHER = "other"


ISSUE_LABELS = {
    Issue.PUNCTURE: "Puncture",
    Issue.BLOWOUT: "Blow-out",
    Issue.FLAT: "Flat tyre",
    Issue.DAMAGED_WHEEL: "Damaged wheel",
    Issue.LOCKING_NUT_LOST: "Locking wheel nut lost",
    Issue.OTHER: "Something else",
}


class VehicleType(StrEnum):
    CAR = "car"
    SUV_4X4 = "suv_4x4"
    VAN = "van"


CAPABILITY_FOR_VEHICLE = {VehicleType.SUV_4X4: "suv_4x4", VehicleType.VAN: "van"}
CAPABILITIES = ("run_flat", "suv_4x4", "van", "locking_nut")

# Control characters, zero-width and bidi overrides, and lone surrogates (which cannot be stored).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_REG = re.compile(r"^[A-Z0-9 ]{2,8}$")


def clean_text(value: Any) -> Any:
    """NFC-normalise, drop control and bidi-override characters, trim."""
    if isinstance(value, str):
        return _CONTROL.sub("", unicodedata.normalize("NFC", value)).strip()
    return value


class LocationIn(BaseModel):
    """A GPS point, a UK postcode, or a Plus Code; or a point with the postcode it was placed near (a pin)."""

    model_config = ConfigDict(extra="forbid")

    lat: float | None = Field(None, ge=-90, le=90, description="WGS84 latitude")
    lng: float | None = Field(None, ge=-180, le=180, description="WGS84 longitude")
    postcode: Annotated[str, Field(max_length=10)] | None = None
    plus_code: Annotated[str, Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> LocationIn:
        has_point = self.lat is not None or self.lng is not None
        if has_point and (self.lat is None or self.lng is None):
            raise ValueError("give both lat and lng")
        if not has_point and not (self.postcode or self.plus_code):
            raise ValueError("share your location, or enter a postcode or a Plus Code")
        return self


class RequestCreate(BaseModel):
    """What a driver sends to ask for help."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    customer_name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=32)
    location: LocationIn
    vehicle: str = Field(min_length=1, max_length=80, description="make and model")
    issue: Issue
    vehicle_type: VehicleType = VehicleType.CAR
    vehicle_reg: str | None = Field(None, max_length=10)
    tyre_size: str | None = Field(None, max_length=24)
    run_flat: bool = False
    on_motorway: bool = False
    vulnerable: bool = False
    notes: str = Field("", max_length=500)

    _clean = field_validator("customer_name", "vehicle", "notes", "tyre_size", mode="before")(clean_text)

    @field_validator("customer_name", "vehicle")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v:
            raise ValueError("this field is required")
        return v

    @field_validator("phone")
    @classmethod
    def _uk_mobile(cls, v: str) -> str:
        try:
            return normalise_uk_mobile(v)
        except ValidationFailed as e:
            raise ValueError(e.errors["phone"]) from None

    @field_validator("vehicle_reg", mode="before")
    @classmethod
    def _reg(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = clean_text(v).upper()
            if not v:
                return None
            if not _REG.match(v):
                raise ValueError("a UK registration is 2-8 letters and numbers, e.g. AB12 CDE")
        return v

    def canonical_json(self) -> str:
        """The validated body as one string: two bodies that mean the same request (a number written
        with or without spaces, a default sent or left out, keys in another order) give the same text."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def required_capabilities(self) -> list[str]:
        return required_capabilities(self.issue, self.vehicle_type, self.run_flat)


def required_capabilities(issue: Issue, vehicle_type: VehicleType, run_flat: bool = False) -> list[str]:
    """What a van must carry for a request: the vehicle's kind, run-flat tyres, a locking-nut kit."""
    caps = []
    if vehicle_type in CAPABILITY_FOR_VEHICLE:
        caps.append(CAPABILITY_FOR_VEHICLE[vehicle_type])
    if run_flat:
        caps.append("run_flat")
    if issue == Issue.LOCKING_NUT_LOST:
        caps.append("locking_nut")
    return caps


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as {"location.lat": "message"}, first message per field."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "this field is required"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.setdefault(loc, msg)
    return out


class TechnicianPublic(BaseModel):
    first_name: str
    van: str
    registration: str = ""  # the van's number plate: what the driver looks for at the roadside


class RequestPublic(BaseModel):
    """The answer to a submission."""

    id: int
    reference: str
    tracking_token: str
    status: str
    priority: int
    quote_pence: int
    eta_minutes: int | None
    technician: TechnicianPublic | None
    duplicate: bool = False  # a replay: the same Idempotency-Key and body as the submission that made it
    location_label: str = ""
    location_approximate: bool = False
    postcode: str | None = None  # as the driver typed it, normalised ("SW1A 1AA"); None for a shared point


class TimelineEntry(BaseModel):
    at: str
    kind: str
    text: str


class Position(BaseModel):
    lat: float
    lng: float


class TrackingView(BaseModel):
    """What the holder of a tracking token sees."""

    reference: str
    status: str
    status_text: str
    eta_minutes: int | None
    quote_pence: int
    technician: TechnicianPublic | None
    technician_position: Position | None
    customer_position: Position
    location_label: str
    location_approximate: bool
    postcode: str | None = None
    cancellable: bool
    queue_position: int | None = None
    created_at: str
    timeline: list[TimelineEntry]
    # Honest promises (issue 20): when the van is due as a clock time, whether that breaks the promise and why;
    # while waiting, whether any van could reach the driver within the promise plus the dispatch margin.
    arrive_by: str | None = None  # ISO time (UTC) the van is due, while one is on its way
    sla_minutes: int = 90
    late_reason: str | None = None  # set when the van is due after the promise
    no_van_in_reach: bool = False  # waiting, and no free van can be sent automatically
    phone: str = ""  # TyreHero's number, for the call buttons
    # The technician's mobile as a tel: link, only while the job is live (assigned, en route, on site) and
    # they have one on file; otherwise None and the driver calls TyreHero (`phone`).
    technician_tel: str | None = None
    fitted: str | None = None  # what the technician fitted, once completed
    cancel_reason: str | None = None


class PositionReport(BaseModel):
    """One GPS fix from a technician's phone."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)
    recorded_at: AwareDatetime

    @field_validator("recorded_at")
    @classmethod
    def _not_future(cls, v: datetime) -> datetime:
        if v > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError("recorded_at is in the future: check the phone's clock")
        return v


class StatusIn(BaseModel):
    status: Literal["available", "offline", "break"]


class JobView(BaseModel):
    """A technician's current job, as their phone shows it."""

    id: int
    reference: str
    status: str
    accepted: bool
    customer_first_name: str
    customer_phone: str
    issue: str
    vehicle: str
    vehicle_reg: str | None
    vehicle_type: str
    tyre_size: str | None
    on_motorway: bool
    vulnerable: bool
    notes: str
    location_label: str
    location_approximate: bool
    postcode: str | None = None
    lat: float
    lng: float
    distance_km: float | None
    eta_minutes: int | None
    navigate_url: str
    offer_expires_at: str | None
