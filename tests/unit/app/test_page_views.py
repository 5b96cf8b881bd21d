"""The pages' view models: display-ready fields derived from the core's read models."""

from __future__ import annotations

from typing import Any

from core.dispatch.console import EventOut, Figures, HourFigure, QueueItem, RequestDetail, Suggestion
from tyrehero_app.pages.dispatch import Drawer, FigureCards, QueueRow


def _item(**over: Any) -> QueueItem:
    base: dict[str, Any] = dict(
        id=7, reference="TH-7", status="assigned", priority=2, effective_priority=1.5, issue="Puncture",
        customer_name="Jane Roadside", location_label="Reading", approximate=False, lat=51.45, lng=-0.97,
        created_at="2026-01-01T10:00:00+00:00", waited_min=5, sla_left_min=85, sla_state="ok", technician_id=3,
        technician="Kirsty")
    return QueueItem(**base | over)


def test_a_queue_row_carries_the_colour_of_its_sla_state() -> None:
    colours = {state: QueueRow.of(_item(sla_state=state)).color for state in ("ok", "amber", "red")}
    assert colours == {"ok": "green", "amber": "amber", "red": "red"}


def test_a_queue_row_keeps_every_field_of_the_item() -> None:
    item = _item()
    assert QueueRow.of(item).model_dump(exclude={"color"}) == item.model_dump()


def test_figure_cards_print_a_dash_where_there_is_no_figure_yet() -> None:
    f = Figures(pending=3, assigned=1, in_progress=0, completed_today=9, cancelled_today=0, avg_response_min=None,
                sla_compliance_pct=97.5, on_shift=4, busy=1, utilisation_pct=None,
                per_hour=[HourFigure(hour="00", requests=0, response_min=0)])
    cards = FigureCards.of(f)
    assert cards.avg_response_min == "–", "no response time yet reads as a dash"
    assert cards.pending == "3", f"cards.pending is {cards.pending!r}, wanted '3'"
    assert cards.sla_compliance_pct == "97.5", (
        f"cards.sla_compliance_pct is {cards.sla_compliance_pct!r}, wanted '97.5'"
    )


def _detail(**over: Any) -> RequestDetail:
    base: dict[str, Any] = dict(
        request=_item(), vehicle="Ford Focus", vehicle_reg="AB12 CDE", vehicle_type="car", on_motorway=False,
        vulnerable=False, notes="", quote_pence=8900, phone="+447911123456",
        timeline=[EventOut(at="2026-01-01T10:00:05+00:00", kind="created", actor="driver", data={}),
                  EventOut(at="2026-01-01T10:01:06+00:00", kind="note", actor="ada", data={"text": "called"}),
                  EventOut(at="2026-01-01T10:02:07+00:00", kind="assigned", actor="system", data={"technician": 3})],
        suggestions=[Suggestion(technician_id=4, name="Bob", van="Transit", distance_km=2.5, eta_minutes=9)])
    return RequestDetail(**base | over)


def test_the_drawer_shows_the_timeline_newest_first_with_its_words() -> None:
    lines = Drawer.of(_detail()).timeline
    assert [line.time for line in lines] == ["10:02:07", "10:01:06", "10:00:05"]
    assert [line.text for line in lines] == ["3", "called", ""], "text, else reason, else technician, else nothing"


def test_the_drawer_spaces_the_phone_for_reading_aloud() -> None:
    assert Drawer.of(_detail()).phone == "07911 123456"


def test_the_drawer_knows_whether_a_technician_holds_the_request() -> None:
    assert Drawer.of(_detail()).assigned
    assert not Drawer.of(_detail(request=_item(technician_id=None, technician=None))).assigned
