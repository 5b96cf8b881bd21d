"""Command line: python -m core {migrate,seed,serve-prep,create-admin}."""

from __future__ import annotations

import argparse
import getpass

from core import db
from core.bootstrap import bootstrap
from core.config import get_settings
from core.embedded import ensure_urls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m core", description="TyreHero operations")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    seed = sub.add_parser("seed", help="load demo data if the database has no technicians")
    seed.add_argument("--size", type=int, default=None)
    sub.add_parser("rotate-phone-key", help="re-encrypt phone numbers from PHONE_KEY_PREVIOUS to PHONE_KEY")
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("username")
    args = parser.parse_args()

    settings = get_settings()
    db_url, _ = ensure_urls(settings.database_url, settings.redis_url, settings.data_path)
    if args.cmd == "migrate":
        db.migrate(db_url)
        print("database migrated")
    elif args.cmd == "seed":
        db.migrate(db_url)
        from core.demo import seed_if_empty

        core = bootstrap(settings)
        if not seed_if_empty(core, args.size):
            print("database already has technicians: demo data not loaded")
    elif args.cmd == "rotate-phone-key":
        import os

        from core.db import make_engine
        from core.phones import PhoneVault, rotate_key

        previous = os.environ.get("PHONE_KEY_PREVIOUS")
        if not previous:
            raise SystemExit("set PHONE_KEY_PREVIOUS to the old key and PHONE_KEY to the new one")
        n = rotate_key(make_engine(db_url), PhoneVault(previous), PhoneVault(settings.phone_key))
        print(f"{n} phone numbers re-encrypted under the new key")
    elif args.cmd == "create-admin":
        from core.auth import new_account
        from core.db import session_scope

        password = getpass.getpass("password (12+ characters): ")
        if len(password) < 12:
            raise SystemExit("password too short")
        core = bootstrap(settings)
        with session_scope(core.engine) as s:
            s.add(new_account(args.username, args.username, "admin", password))
        print(f"admin {args.username} created")


if __name__ == "__main__":
    main()
