"""A throw-away migrated database (and Redis) for a benchmark run."""

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
def scratch_servers() -> Iterator[tuple[str, str]]:
    """(database URL of a fresh migrated database, Redis URL): from DATABASE_URL / REDIS_URL when set,
    else embedded servers in a temporary folder; the database is dropped afterwards."""
    tmp = None
    db_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not (db_url and redis_url):
        tmp = Path(tempfile.mkdtemp(prefix="th-bench-"))
        os.chmod(tmp, 0o755)
    db_url = Settings(database_url=db_url).database_url or embedded.start_postgres(tmp)  # type: ignore[arg-type]
    redis_url = redis_url or embedded.start_redis(tmp)  # type: ignore[arg-type]
    name = f"th_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(make_url(db_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    try:
        db.migrate(url)
        yield url, redis_url
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        if tmp is not None:
            embedded.stop_embedded(tmp)
