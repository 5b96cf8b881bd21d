"""Every text fits one GSM-7 segment with the longest realistic values, and stays in the GSM-7 alphabet."""

from __future__ import annotations

import dataclasses

import pytest

from core.notify.templates import TEMPLATES, Facts, gsm7, gsm7_length, pounds, render, segments

BASE = "https://www.tyrehero.co.uk"  # a realistic production address; tokens are 38 characters
TOKEN = "Q" * 38
LONGEST = Facts(
    reference="TH-WWWWWW", tracking_url=f"{BASE}/track/{TOKEN}", home_url=BASE, support_phone="0800 123 4567",
    technician="Christopher", van="Mercedes-Benz Sprinter 314 CDI LWB", eta_minutes=120, price_pence=123_450,
    rating_url=f"{BASE}/rate/{TOKEN}", issue="Locking wheel nut lost",
    place="M4 J11-J12 eastbound, hard shoulder near Theale, Reading, Berkshire", offer_minutes=2,
    tech_url=f"{BASE}/tech",
)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("by_customer", [False, True])
def test_every_template_is_one_segment_with_the_longest_values(template: str, by_customer: bool) -> None:
    text = render(template, dataclasses.replace(LONGEST, by_customer=by_customer))
    assert gsm7_length(text) <= 160, (gsm7_length(text), text)
    assert segments(text) == 1, f"{segments(text)} segments: {text}"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_reads_without_the_optional_facts(template: str) -> None:
    bare = Facts(reference="TH-ABCDEF", tracking_url=f"{BASE}/track/{TOKEN}", home_url=BASE,
                 support_phone="0800 123 4567", rating_url=f"{BASE}/rate/{TOKEN}", tech_url=f"{BASE}/tech")
    text = render(template, bare)
    assert "None" not in text, f"a missing fact shows as None: {text}"
    assert "  " not in text, f"a missing fact leaves a gap: {text!r}"


def test_names_outside_gsm7_are_folded_so_the_text_never_becomes_ucs2() -> None:
    text = render("assigned", dataclasses.replace(LONGEST, technician="Zoë", van="Škoda Octavia “Estate”"))
    assert "Zoe" in text, f"the name is not folded: {text}"
    assert 'Skoda Octavia "Estate"' in text, f"the van is not folded: {text}"


def test_emoji_and_extension_characters_in_values_never_reach_the_text() -> None:
    assert gsm7("Dev 🚐 {van} [x] €5") == "Dev ? van x 5", gsm7("Dev 🚐 {van} [x] €5")


def test_extension_characters_count_two_septets() -> None:
    assert gsm7_length("€[]") == 6, "the euro sign and brackets take an escape each"
    assert gsm7_length("£") == 1, "the pound sign is in the basic set"


def test_a_character_outside_gsm7_is_named() -> None:
    with pytest.raises(ValueError, match=r"U\+1F690"):
        gsm7_length("van 🚐")


def test_a_long_text_counts_153_septets_per_part() -> None:
    counts = [segments("a" * n) for n in (160, 161, 306, 307)]
    assert counts == [1, 2, 2, 3], f"segments of 160, 161, 306, 307 septets: {counts}"


def test_the_completion_text_is_a_receipt_with_the_rating_link() -> None:
    text = render("completed", dataclasses.replace(LONGEST, price_pence=8950))
    assert "£89.50" in text, f"no price in {text}"
    assert f"/rate/{TOKEN}" in text, f"no rating link in {text}"


def test_prices_read_as_pounds() -> None:
    got = (pounds(8900), pounds(8950), pounds(123_450))
    assert got == ("£89", "£89.50", "£1,234.50"), got


def test_texts_hold_no_customer_personal_data() -> None:
    facts = dataclasses.replace(LONGEST)
    for template in TEMPLATES:
        text = render(template, facts)
        assert "07" not in text.replace("0800", ""), (template, text)  # no mobile number


def test_staff_previews_mask_the_tracking_and_rating_tokens() -> None:
    from core.notify.templates import masked

    for template in ("received", "completed"):
        preview = masked(render(template, LONGEST))
        assert "QQQQ****" in preview, f"the token is not masked: {preview}"
