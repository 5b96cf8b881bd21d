"""Rating a completed visit through its rating link: once, only when completed, for a week."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from core.context import Core
from core.errors import Forbidden, IllegalTransition, LinkExpired, NotFound
from core.models import utcnow
from core.principal import Role
from core.privacy.retention import apply_retention
from core.requests import rating
from core.requests.intake import submit_request
from core.requests.public import tracking_token
from core.requests.rating import AlreadyRated, RatingIn, rate, rating_token, rating_view
from core.schemas import RequestCreate
from core.technicians.jobs import job_action
from tests.factories import add_principal, add_technicians, as_technician, request_body


def _request(core: Core, steps: tuple[str, ...] = ("accept", "en-route", "arrived", "complete")) -> tuple[int, str]:
    """A request taken through `steps` by its technician; its id and its rating token."""
    add_technicians(core, 1, seed=uuid.uuid4().int % 1000, spread=0.01)
    answer = submit_request(core, RequestCreate.model_validate(request_body(
        location={"lat": 51.4545, "lng": -0.9781})))
    with core.engine.connect() as c:
        public_id, tid = c.execute(sa.text("SELECT public_id, technician_id FROM service_request WHERE id = :i"),
                                   {"i": answer.id}).one()
    for step in steps:
        job_action(core, as_technician(tid), answer.id, step)
    return answer.id, rating_token(core, public_id)


def _ratings(core: Core, request_id: int) -> list[tuple]:
    with core.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.text("SELECT stars, comment FROM rating WHERE request_id = :i"),
                                            {"i": request_id})]


def test_a_completed_visit_is_rated_once_with_its_stars_and_cleaned_comment(core: Core) -> None:
    rid, token = _request(core)
    before = rating_view(core, token)
    assert before.can_rate, "a completed, unrated visit should offer rating"
    view = rate(core, token, RatingIn(stars=4, comment="  Quick and kind\u202e  "))
    assert (view.stars, view.comment, view.can_rate) == (4, "Quick and kind", False), "the stored rating is shown"
    assert _ratings(core, rid) == [(4, "Quick and kind")], "one row, comment cleaned like other text"
    with core.engine.connect() as c:
        kinds = c.execute(sa.text("SELECT kind, data FROM request_event WHERE request_id = :i AND kind = 'rated'"),
                          {"i": rid}).all()
    assert [(k, d) for k, d in kinds] == [("rated", {"stars": 4})], "the timeline records the stars, not the comment"


def test_a_second_rating_is_refused_and_repeats_the_first(core: Core) -> None:
    rid, token = _request(core)
    rate(core, token, RatingIn(stars=2, comment="late"))
    with pytest.raises(AlreadyRated) as e:
        rate(core, token, RatingIn(stars=5))
    assert "already rated 2 of 5" in e.value.message, e.value.message
    assert _ratings(core, rid) == [(2, "late")], "the first rating stands"


def test_ten_taps_at_once_store_one_rating(core: Core) -> None:
    rid, token = _request(core)
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def tap(stars: int) -> None:
        barrier.wait()
        try:
            rate(core, token, RatingIn(stars=stars))
            outcomes.append("stored")
        except AlreadyRated:
            outcomes.append("already")

    threads = [threading.Thread(target=tap, args=(1 + i % 5,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["already"] * 9 + ["stored"], outcomes
    assert len(_ratings(core, rid)) == 1, "exactly one row"


@pytest.mark.parametrize(("steps", "words"), [
    ((), "once the job is completed"),
    (("accept", "en-route"), "once the job is completed"),
])
def test_an_open_request_cannot_be_rated_yet(core: Core, steps: tuple[str, ...], words: str) -> None:
    rid, token = _request(core, steps)
    assert not rating_view(core, token).can_rate, "an open request offers no rating"
    with pytest.raises(IllegalTransition, match=words):
        rate(core, token, RatingIn(stars=5))
    assert _ratings(core, rid) == [], "nothing stored"


def test_a_cancelled_request_says_there_is_nothing_to_rate(core: Core) -> None:
    rid, token = _request(core, ())
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET status = 'cancelled', cancelled_at = now() WHERE id = :i"),
                  {"i": rid})
    with pytest.raises(IllegalTransition, match="was cancelled"):
        rate(core, token, RatingIn(stars=1))


def test_the_rating_link_lives_a_week_after_completion(core: Core) -> None:
    rid, token = _request(core)
    with core.engine.connect() as c:
        done = c.execute(sa.text("SELECT completed_at FROM service_request WHERE id = :i"), {"i": rid}).scalar_one()
    assert rating_view(core, token, now=done + timedelta(days=6, hours=23)).can_rate, "still open on day 7"
    with pytest.raises(LinkExpired, match="7 days"):
        rate(core, token, RatingIn(stars=5), now=done + timedelta(days=7))
    assert _ratings(core, rid) == [], "nothing stored after expiry"


def test_forged_and_tracking_tokens_are_unknown_links(core: Core) -> None:
    rid, token = _request(core)
    with core.engine.connect() as c:
        public_id = c.execute(sa.text("SELECT public_id FROM service_request WHERE id = :i"), {"i": rid}).scalar_one()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, tracking_token(core, public_id), "", "x" * 65, "!!!", rating_token(core, uuid.uuid4())):
        with pytest.raises(NotFound):
            rate(core, bad, RatingIn(stars=5))
    assert _ratings(core, rid) == [], "no token but the rating link's rates"


@pytest.mark.parametrize("body", [{"stars": 0}, {"stars": 6}, {"stars": "5"}, {"stars": True}, {"stars": 4.5}, {},
                                  {"stars": 3, "comment": "x" * 501}, {"stars": 3, "extra": 1}])
def test_bad_ratings_are_refused_with_a_message(body: dict) -> None:
    with pytest.raises(ValidationError) as e:
        RatingIn.model_validate(body)
    assert e.value.errors()[0]["msg"], body


def test_the_summary_averages_recent_ratings_and_lists_the_lowest(core: Core) -> None:
    stars = [5, 5, 4, 1, 3, 5]
    for s in stars:
        _, token = _request(core)
        rate(core, token, RatingIn(stars=s, comment=f"gave {s}"))
    who = add_principal(core, Role.DISPATCHER)
    got = rating.summary(core, who)
    assert got.average == round(sum(stars) / len(stars), 2), got
    assert got.count == len(stars), got
    assert [r.stars for r in got.lowest] == [1, 3, 4], "lowest first, five-star ratings left out"
    assert got.lowest[0].comment == "gave 1", "the comment comes with it"
    assert rating.summary(core, who, now=utcnow() + timedelta(days=31)).count == 0, "only the last 30 days count"
    with pytest.raises(Forbidden):
        rating.summary(core, as_technician(1))


def test_retention_clears_the_comment_and_keeps_the_stars(core: Core) -> None:
    rid, token = _request(core)
    rate(core, token, RatingIn(stars=2, comment="Ask for Jo Bloggs on 07911 123456"))
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET completed_at = now() - interval '40 days' WHERE id = :i"),
                  {"i": rid})
    apply_retention(core, days=30)
    assert _ratings(core, rid) == [(2, "")], "comment cleared, stars kept"


def test_the_demo_seeds_a_week_of_ratings_that_the_console_shows_as_4_5(core: Core) -> None:
    from core.demo import seed_if_empty
    from core.dispatch.console import snapshot

    assert seed_if_empty(core, size=8, quiet=True), "seeded"
    who = add_principal(core, Role.DISPATCHER)
    snap = snapshot(core, who, with_figures=True)
    assert snap.ratings is not None, "the console's figures tick carries the ratings"
    assert (snap.ratings.average, snap.ratings.count) == (4.5, 40), snap.ratings
    assert [r.stars for r in snap.ratings.lowest][:3] == [1, 2, 3], "the lowest recent ones, worst first"
    assert snap.ratings.lowest[0].comment, "low demo ratings say why"
    assert snapshot(core, who).ratings is None, "ticks without the figures skip the ratings' queries"
