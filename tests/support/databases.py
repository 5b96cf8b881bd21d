"""The servers of a test or benchmark run and the scratch databases made on them.

`servers()` takes DATABASE_URL / REDIS_URL when both are set, else starts embedded ones in a temp folder;
`scratch_database()` is the one way a throw-away database is made (and dropped, even if the run fails).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.config import Settings
from core.infra import db, embedded


@contextmanager
def servers(temp_prefix: str = "tyrehero-") -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL, Redis URL): the system servers when DATABASE_URL and REDIS_URL are set, else embedded
    servers in a temporary folder, stopped at the end."""
    db_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    tmp: Path | None = None
    if not (db_url and redis_url):
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix))
        os.chmod(tmp, 0o755)  # the embedded PostgreSQL runs as its own user when we are root
    try:
        pg = Settings(database_url=db_url).database_url
        if not pg:
            assert tmp is not None
            pg = embedded.start_postgres(tmp)
        if not redis_url:
            assert tmp is not None
            redis_url = embedded.start_redis(tmp)
        yield pg, redis_url
    finally:
        if tmp is not None:
            embedded.stop_embedded(tmp)


@contextmanager
def scratch_database(server_url: str, prefix: str = "th_scratch", migrate: bool = False) -> Iterator[str]:
    """A new database named `<prefix>_<random>` on the server at `server_url`, migrated with Alembic when
    `migrate`; its URL is yielded and the database dropped afterwards (WITH FORCE: a leaked connection
    does not keep it)."""
    base = make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        try:
            if migrate:
                db.migrate(url)
            yield url
        finally:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def scratch_servers(temp_prefix: str = "th-bench-") -> Iterator[tuple[str, str]]:
    """(URL of a fresh migrated database, Redis URL) for a benchmark run."""
    with servers(temp_prefix) as (pg, redis_url), scratch_database(pg, "th_bench", migrate=True) as url:
        yield url, redis_url
