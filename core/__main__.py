"""Command line: python -m core
{migrate,seed,rotate-phone-key,vapid-key,create-admin,enrol-2fa,issue-enrolment-code}."""

from __future__ import annotations

import argparse
import getpass
import io
import os
import time
from collections.abc import Callable

import segno
from sqlmodel import Session, select

from core.bootstrap import bootstrap
from core.config import get_settings
from core.context import Core
from core.demo import seed_if_empty
from core.errors import Conflict, NotFound, ValidationFailed
from core.infra import db
from core.infra.db import make_engine, session_scope
from core.infra.embedded import ensure_urls
from core.models import Technician, UserAccount
from core.phones import PhoneVault, rotate_key
from core.principal import Principal, Role
from core.staff import mfa
from core.staff.auth import new_account
from core.staff.mfa import rotate_secrets
from core.vapid import new_private_key


def _cli_principal() -> Principal:
    """Who acts from the command line: the operator on the server, audited as such."""
    return Principal.system("command line")


def _account_principal(core: Core, username: str) -> Principal:
    with Session(core.engine) as s:
        account = s.exec(select(UserAccount).where(UserAccount.username == username.strip().lower())).first()
        if account is None or not account.active or account.id is None:
            raise SystemExit(f"no active account named {username!r}")
        tech_id = s.exec(select(Technician.id).where(Technician.user_id == account.id)).first()
    return Principal(account.id, account.username, account.display_name, Role(account.role), tech_id)


def enrol_at_terminal(core: Core, username: str, reset: bool = False, ask: Callable[[str], str] = input,
                      say: Callable[[str], None] = print) -> list[str]:
    """Two-factor set-up at the server's terminal: the QR code as text, the code from the app, the recovery codes.

    For the first admin (nobody can issue them an enrolment code) and for an admin who lost their phone."""
    who = _account_principal(core, username)
    if reset:
        mfa.reset(core, _cli_principal(), who.username)
    try:
        enrolment = mfa.begin_enrolment(core, who)
    except Conflict:
        raise SystemExit(f"{who.username} already uses two-factor sign-in; add --reset to replace it") from None
    qr = io.StringIO()
    segno.make(enrolment.uri, error="m").terminal(out=qr, compact=True)
    say(qr.getvalue())
    say(f"Scan this with the authenticator app, or open on the phone: {enrolment.uri}")
    say(f"or type this key into the app: {enrolment.secret}")
    for _ in range(3):
        try:
            codes = mfa.confirm_enrolment(core, who, ask("6-digit code from the app: "), time.time())
        except ValidationFailed as e:
            say(e.errors.get("code", e.message))
            continue
        say(f"Two-factor sign-in is on for {who.username}. Recovery codes (each works once; keep them safe, "
            "they are not shown again):")
        for c in codes:
            say(f"  {c}")
        return codes
    raise SystemExit("no right code given: run the command again")


def issue_at_terminal(core: Core, username: str, say: Callable[[str], None] = print) -> str:
    """An enrolment code for someone who must set up two-factor sign-in, to be passed on in person or by phone."""
    try:
        issued = mfa.issue_enrolment_code(core, _cli_principal(), username)
    except (Conflict, NotFound) as e:
        raise SystemExit(e.message) from None
    say(f"Enrolment code for {issued.username} (works once, until {issued.expires_at:%Y-%m-%d %H:%M} UTC): "
        f"{issued.code}")
    say("They sign in on the staff login page with their password, then this code, and set up their app.")
    return issued.code


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m core", description="TyreHero operations")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    seed = sub.add_parser("seed", help="load demo data if the database has no technicians")
    seed.add_argument("--size", type=int, default=None)
    sub.add_parser("rotate-phone-key", help="re-encrypt phone numbers from PHONE_KEY_PREVIOUS to PHONE_KEY")
    sub.add_parser("vapid-key", help="print a new VAPID_PRIVATE_KEY (the key job offers are pushed with)")
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("username")
    enrol = sub.add_parser("enrol-2fa", help="set up two-factor sign-in for an account at this terminal "
                                             "(the first admin; or an admin who lost their phone, with --reset)")
    enrol.add_argument("username")
    enrol.add_argument("--reset", action="store_true", help="replace a two-factor set-up that already exists")
    issue = sub.add_parser("issue-enrolment-code", help="a one-time code (24 h) with which an account signs in "
                                                        "once to set up two-factor sign-in")
    issue.add_argument("username")
    args = parser.parse_args()
    if args.cmd == "vapid-key":  # before the settings: production refuses to load them without one
        print(new_private_key())
        return

    settings = get_settings()
    db_url, _ = ensure_urls(settings.database_url, settings.redis_url, settings.data_path)
    if args.cmd == "migrate":
        db.migrate(db_url)
        print("database migrated")
    elif args.cmd == "seed":
        db.migrate(db_url)
        core = bootstrap(settings)
        if not seed_if_empty(core, args.size):
            print("database already has technicians: demo data not loaded")
    elif args.cmd == "rotate-phone-key":
        previous = os.environ.get("PHONE_KEY_PREVIOUS")
        if not previous:
            raise SystemExit("set PHONE_KEY_PREVIOUS to the old key and PHONE_KEY to the new one")
        engine = make_engine(db_url)
        n = rotate_key(engine, PhoneVault(previous), PhoneVault(settings.phone_key))
        print(f"{n} phone numbers re-encrypted under the new key")
        n = rotate_secrets(engine, PhoneVault(previous), PhoneVault(settings.phone_key))
        print(f"{n} two-factor secrets re-encrypted under the new key")
    elif args.cmd == "create-admin":
        password = getpass.getpass("password (12+ characters): ")
        if len(password) < 12:
            raise SystemExit("password too short")
        core = bootstrap(settings)
        with session_scope(core.engine) as s:
            s.add(new_account(args.username, args.username, "admin", password))
        print(f"admin {args.username} created")
        print(f"next: python -m core enrol-2fa {args.username}  (two-factor sign-in is required in production)")
    elif args.cmd == "enrol-2fa":
        enrol_at_terminal(bootstrap(settings), args.username, reset=args.reset)
    elif args.cmd == "issue-enrolment-code":
        issue_at_terminal(bootstrap(settings), args.username)


if __name__ == "__main__":
    main()
