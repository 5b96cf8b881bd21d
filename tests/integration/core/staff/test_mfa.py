"""Two-factor sign-in: required for admins and dispatchers in production, codes that work once."""

from __future__ import annotations

import threading

import pyotp
import pytest
import sqlalchemy as sa

from core.context import Core
from core.errors import Conflict, Forbidden, ValidationFailed
from core.principal import Principal, Role
from core.staff import mfa
from core.staff.auth import AuthFailed, SecondFactorRequired, Throttled, login, principal_for
from tests.factories import add_staff

RIGHT = "correct horse battery"
HOME = "198.51.100.7"
T0 = 1_899_999_990.0  # the start of a 30-second step
NOW = T0


def signed_in(core: Core, username: str, at: float = NOW) -> Principal:
    """The account's principal, through a password-only login (development settings)."""
    return login(core, username, RIGHT, HOME, at=at)[1]


def enrol(core: Core, who: Principal, at: float = NOW) -> tuple[pyotp.TOTP, list[str]]:
    """Set up two-factor sign-in as the app would; returns the app's generator and the recovery codes."""
    started = mfa.begin_enrolment(core, who)
    totp = pyotp.TOTP(started.secret)
    return totp, mfa.confirm_enrolment(core, who, totp.at(at), at)


def rows(core: Core, sql: str, **params: object) -> list[sa.Row]:
    with core.engine.connect() as c:
        return list(c.execute(sa.text(sql), params).all())


def admin_principal(core: Core, username: str = "root") -> Principal:
    uid = add_staff(core, username, "admin")
    return Principal(uid, username, username.title(), Role.ADMIN, None)


def test_an_admin_without_a_second_factor_cannot_sign_in_in_production(prod_core: Core) -> None:
    add_staff(prod_core, "boss", "admin")
    add_staff(prod_core, "dana", "dispatcher")
    for name in ("boss", "dana"):
        with pytest.raises(SecondFactorRequired) as e:
            login(prod_core, name, RIGHT, HOME, at=NOW)
        assert e.value.need == mfa.Need.ENROL
    with pytest.raises(AuthFailed):
        login(prod_core, "boss", RIGHT, HOME, code="123456", at=NOW)


def test_an_enrolment_code_signs_in_once_for_an_hour_to_set_up_the_app(prod_core: Core) -> None:
    root = admin_principal(prod_core)
    add_staff(prod_core, "dana", "dispatcher")
    issued = mfa.issue_enrolment_code(prod_core, root, "dana")
    token, dana = login(prod_core, "dana", RIGHT, HOME, code=issued.code, at=NOW)
    assert principal_for(prod_core.engine, token) == dana
    expires = rows(prod_core, "SELECT expires_at - created_at FROM auth_session WHERE user_id = :u", u=dana.user_id)[0][
        0
    ]
    assert expires.total_seconds() <= 3600
    with pytest.raises(AuthFailed):
        login(prod_core, "dana", RIGHT, HOME, code=issued.code, at=NOW + 5)
    totp, codes = enrol(prod_core, dana, NOW + 10)
    assert len(codes) == 10, "wanted len(codes) == 10"
    assert len(set(codes)) == 10, "wanted len(set(codes)) == 10"
    assert login(prod_core, "dana", RIGHT, HOME, code=totp.at(NOW + 40), at=NOW + 40)[1] == dana


def test_technicians_and_development_accounts_need_no_second_factor_until_they_opt_in(
    prod_core: Core, core: Core
) -> None:
    add_staff(prod_core, "tina", "technician")
    tina = login(prod_core, "tina", RIGHT, HOME, at=NOW)[1]
    add_staff(core, "boss", "admin")
    assert signed_in(core, "boss").role == Role.ADMIN  # `make run` keeps its demo logins
    totp, _ = enrol(prod_core, tina)
    with pytest.raises(SecondFactorRequired) as e:
        login(prod_core, "tina", RIGHT, HOME, at=NOW + 30)
    assert e.value.need == mfa.Need.CODE
    assert login(prod_core, "tina", RIGHT, HOME, code=totp.at(NOW + 30), at=NOW + 30)[1] == tina
    mfa.disable(prod_core, tina, totp.at(NOW + 60), NOW + 60)
    assert login(prod_core, "tina", RIGHT, HOME, at=NOW + 60)[1] == tina


def test_a_wrong_code_is_refused_and_counted_as_a_failed_login(core: Core) -> None:
    add_staff(core, "boss", "admin")
    totp, _ = enrol(core, signed_in(core, "boss"))
    wrong = f"{(int(totp.at(NOW + 30)) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthFailed, match="code is not right"):
        login(core, "boss", RIGHT, HOME, code=wrong, at=NOW + 30)
    with pytest.raises(Throttled):
        login(core, "boss", RIGHT, HOME, code=totp.at(NOW + 30), at=NOW + 30)


def test_a_code_already_used_is_refused_and_so_is_an_older_one(core: Core) -> None:
    add_staff(core, "boss", "admin")
    totp, _ = enrol(core, signed_in(core, "boss"))  # the code of step T0 is spent by the enrolment
    with pytest.raises(AuthFailed):
        login(core, "boss", RIGHT, HOME, code=totp.at(NOW), at=NOW + 2)
    assert login(core, "boss", RIGHT, HOME, code=totp.at(NOW + 60), at=NOW + 60)
    # Within the drift allowed but older than the last accepted step: refused.
    with pytest.raises((AuthFailed, Throttled)):
        login(core, "boss", RIGHT, HOME, code=totp.at(NOW + 30), at=NOW + 61)
    with pytest.raises(AuthFailed):
        login(core, "boss", RIGHT, HOME, code=totp.at(NOW + 60), at=NOW + 90)


def test_of_two_sign_ins_racing_with_one_code_only_one_gets_in(core: Core) -> None:
    add_staff(core, "boss", "admin")
    totp, _ = enrol(core, signed_in(core, "boss"))
    code, results, barrier = totp.at(NOW + 30), [], threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            login(core, "boss", RIGHT, f"192.0.2.{i + 1}", code=code, at=NOW + 30)
            results.append("in")
        except AuthFailed:
            results.append("refused")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["in"] + ["refused"] * 7


def test_a_recovery_code_works_once(core: Core) -> None:
    add_staff(core, "boss", "admin")
    boss = signed_in(core, "boss")
    _, codes = enrol(core, boss)
    assert login(core, "boss", RIGHT, HOME, code=codes[3].upper().replace("-", " "), at=NOW + 1)[1] == boss
    with pytest.raises(AuthFailed):
        login(core, "boss", RIGHT, HOME, code=codes[3], at=NOW + 5)
    assert login(core, "boss", RIGHT, HOME, code=codes[4], at=NOW + 10)[1] == boss
    assert mfa.status(core, boss).recovery_codes_left == 8


def test_new_recovery_codes_replace_the_old_ones(core: Core) -> None:
    add_staff(core, "boss", "admin")
    boss = signed_in(core, "boss")
    totp, old = enrol(core, boss)
    with pytest.raises(ValidationFailed):
        mfa.new_recovery_codes(core, boss, "000000" if totp.at(NOW + 30) != "000000" else "111111", NOW + 30)
    new = mfa.new_recovery_codes(core, boss, totp.at(NOW + 30), NOW + 30)
    assert not set(new) & set(old)
    with pytest.raises(AuthFailed):
        login(core, "boss", RIGHT, HOME, code=old[0], at=NOW + 40)
    assert login(core, "boss", RIGHT, HOME, code=new[0], at=NOW + 45)[1] == boss


def test_the_secret_is_stored_encrypted_and_a_first_wrong_code_does_not_turn_it_on(core: Core) -> None:
    add_staff(core, "boss", "admin")
    boss = signed_in(core, "boss")
    started = mfa.begin_enrolment(core, boss)
    stored = rows(core, "SELECT totp_secret_enc FROM user_account WHERE username = 'boss'")[0][0]
    assert started.secret not in stored, "started.secret should not be in stored"
    assert core.vault.decrypt(stored) == started.secret, "wanted core.vault.decrypt(stored) == started.secret"
    assert started.uri.startswith("otpauth://totp/TyreHero:boss?secret="), "wanted started.uri.startswith('otpauth://totp/TyreHero:boss?secret=')"
    assert "<svg" in started.qr_svg(), "'<svg' missing from started.qr_svg()"
    with pytest.raises(ValidationFailed):
        mfa.confirm_enrolment(core, boss, "12345x", NOW)
    assert mfa.status(core, boss).pending, "wanted mfa.status(core, boss).pending"
    assert not mfa.status(core, boss).enabled, "wanted not mfa.status(core, boss).enabled"
    assert login(core, "boss", RIGHT, HOME, at=NOW)[1] == boss  # still optional in development


def test_enrolment_cannot_restart_over_a_working_one(core: Core) -> None:
    add_staff(core, "boss", "admin")
    boss = signed_in(core, "boss")
    enrol(core, boss)
    with pytest.raises(Conflict):
        mfa.begin_enrolment(core, boss)


def test_an_admin_resets_a_lost_phone_and_the_reset_is_audited(prod_core: Core) -> None:
    root = admin_principal(prod_core)
    add_staff(prod_core, "dana", "dispatcher")
    dana = login(prod_core, "dana", RIGHT, HOME, code=mfa.issue_enrolment_code(prod_core, root, "dana").code, at=NOW)[1]
    totp, codes = enrol(prod_core, dana)
    with pytest.raises(Conflict):
        mfa.issue_enrolment_code(prod_core, root, "dana")
    with pytest.raises(Forbidden, match="another admin"):
        mfa.reset(prod_core, root, "root")
    issued = mfa.reset(prod_core, root, "dana")
    with pytest.raises(AuthFailed):
        login(prod_core, "dana", RIGHT, HOME, code=codes[0], at=NOW + 30)
    with pytest.raises(SecondFactorRequired):
        login(prod_core, "dana", RIGHT, HOME, at=NOW + 40)
    assert login(prod_core, "dana", RIGHT, HOME, code=issued.code, at=NOW + 40)[1] == dana
    actions = rows(prod_core, "SELECT action, target, actor_id, actor_role FROM audit_event ORDER BY id")
    assert [a[0] for a in actions] == ["mfa_enrolment_code_issued", "mfa_enrolled", "mfa_reset"]
    assert tuple(actions[-1]) == ("mfa_reset", "dana", root.user_id, "admin")
    assert tuple(actions[1]) == ("mfa_enrolled", "dana", dana.user_id, "dispatcher")


def test_only_admins_issue_enrolment_codes(prod_core: Core) -> None:
    add_staff(prod_core, "dana", "dispatcher")
    tina = Principal(add_staff(prod_core, "tina", "dispatcher"), "tina", "Tina", Role.DISPATCHER, None)
    with pytest.raises(Forbidden):
        mfa.issue_enrolment_code(prod_core, tina, "dana")
    with pytest.raises(Forbidden):
        mfa.reset(prod_core, tina, "dana")


def test_a_login_challenge_is_sealed_and_expires(core: Core, prod_core: Core) -> None:
    c = mfa.Challenge(7, "dana", mfa.Need.CODE)
    token = mfa.challenge_token(core.settings, c, NOW)
    assert mfa.read_challenge(core.settings, token, NOW + mfa.CHALLENGE_TTL_S - 1) == c
    assert mfa.read_challenge(core.settings, token, NOW + mfa.CHALLENGE_TTL_S + 1) is None
    assert mfa.read_challenge(core.settings, token[:-2] + "AA", NOW) is None
    assert mfa.read_challenge(prod_core.settings, token, NOW) is None  # another key
