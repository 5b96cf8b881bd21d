"""The first admin sets up two-factor sign-in at the server's terminal; operators issue enrolment codes there."""

from __future__ import annotations

import time
import urllib.parse

import pyotp
import pytest

from core.__main__ import enrol_at_terminal, issue_at_terminal
from core.context import Core
from core.phones import PhoneVault
from core.staff import mfa
from core.staff.auth import SecondFactorRequired, login
from tests.factories import add_staff
from tests.integration.core.staff.test_mfa import RIGHT


def secret_in(lines: list[str]) -> str:
    uri = next(line for line in lines if "otpauth://" in line).split(": ", 1)[1]
    return urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]


def test_the_first_admin_enrols_at_the_terminal_and_then_signs_in_with_a_code(prod_core: Core) -> None:
    add_staff(prod_core, "root", "admin")
    lines: list[str] = []
    answers = iter(["000000x", "CODE"])

    def ask(_: str) -> str:
        answer = next(answers)
        return pyotp.TOTP(secret_in(lines)).now() if answer == "CODE" else answer

    codes = enrol_at_terminal(prod_core, "root", ask=ask, say=lines.append)
    assert "█" in lines[0], "'█' missing from lines[0]"
    assert len(codes) == 10, "wanted len(codes) == 10"
    assert all(c in "\n".join(lines) for c in codes), "wanted all(c in '\\n'.join(lines) for c in codes)"
    assert any("not right" in line for line in lines)
    totp = pyotp.TOTP(secret_in(lines))
    at = time.time() + 30
    assert login(prod_core, "root", RIGHT, "192.0.2.1", code=totp.at(at), at=at)[1].username == "root"
    with pytest.raises(SystemExit, match="--reset"):
        enrol_at_terminal(prod_core, "root", ask=ask, say=lines.append)


def test_a_lost_phone_is_replaced_at_the_terminal_with_reset(prod_core: Core) -> None:
    add_staff(prod_core, "root", "admin")
    first: list[str] = []
    enrol_at_terminal(prod_core, "root", ask=lambda _: pyotp.TOTP(secret_in(first)).now(), say=first.append)
    second: list[str] = []
    enrol_at_terminal(
        prod_core, "root", reset=True, ask=lambda _: pyotp.TOTP(secret_in(second)).now(), say=second.append
    )
    assert secret_in(first) != secret_in(second)


def test_an_enrolment_code_from_the_terminal_lets_a_dispatcher_in_once(prod_core: Core) -> None:
    add_staff(prod_core, "dana", "dispatcher")
    code = issue_at_terminal(prod_core, "dana", say=lambda _: None)
    with pytest.raises(SecondFactorRequired):
        login(prod_core, "dana", RIGHT, "192.0.2.1", at=1_900_000_000)
    assert login(prod_core, "dana", RIGHT, "192.0.2.1", code=code, at=1_900_000_001)[1].username == "dana"
    with pytest.raises(SystemExit, match="No active account"):
        issue_at_terminal(prod_core, "nobody", say=lambda _: None)


def test_rotating_the_phone_key_keeps_two_factor_secrets_readable(prod_core: Core) -> None:
    add_staff(prod_core, "root", "admin")
    lines: list[str] = []
    enrol_at_terminal(prod_core, "root", ask=lambda _: pyotp.TOTP(secret_in(lines)).now(), say=lines.append)
    new_vault = PhoneVault("a brand new phone key of thirty-two chars")
    assert mfa.rotate_secrets(prod_core.engine, prod_core.vault, new_vault) == 1
    assert mfa.rotate_secrets(prod_core.engine, prod_core.vault, new_vault) == 0  # idempotent
    prod_core.vault = new_vault
    at = time.time() + 30
    assert login(prod_core, "root", RIGHT, "192.0.2.1", code=pyotp.TOTP(secret_in(lines)).at(at), at=at)
