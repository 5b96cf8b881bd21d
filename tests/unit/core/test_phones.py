"""core.phones: how staff lists mask a number, and the tel: link a driver's phone dials."""

from __future__ import annotations

from core.phones import masked, tel_link


def test_a_masked_number_keeps_the_first_five_and_last_three_digits_only() -> None:
    assert masked("+447911123456") == "07911 ••• 456"
    assert "123" not in masked("+447911123456"), "the middle digits are hidden"


def test_a_tel_link_holds_the_e164_number_only() -> None:
    assert tel_link("+447911123456") == "tel:+447911123456"
    assert tel_link("+44 7911 123456") == "tel:+447911123456"
