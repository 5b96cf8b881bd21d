"""Embedded servers from an empty data folder: migrate, seed, read back, stop, start again."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from core.bootstrap import bootstrap
from core.config import Settings
from core.demo import seed_if_empty
from core.infra import db, embedded


def test_empty_folder_to_seeded_and_kept_across_restarts() -> None:
    data = Path(tempfile.mkdtemp(prefix="th-embedded-"))
    os.chmod(data, 0o755)
    try:
        db_url, redis_url = embedded.ensure_urls(None, None, data)
        db.migrate(db_url)
        core = bootstrap(Settings(data_dir=data), database_url=db_url, redis_url=redis_url)
        assert seed_if_empty(core, size=25, quiet=True)
        assert not seed_if_empty(core, size=25, quiet=True)  # second run keeps the data
        with core.engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM technician")).scalar_one() == 25
            roles = {r[0] for r in c.execute(sa.text("SELECT role FROM user_account"))}
        assert roles == {"admin", "dispatcher", "technician"}
        assert core.redis.scard("th:ix:all") == sum(1 for _ in core.redis.scan_iter("th:ix:t:*"))
        core.close()
        embedded.stop_embedded(data)
        assert not (data / "postgres" / "postmaster.pid").exists()

        db_url2, redis_url2 = embedded.ensure_urls(None, None, data)
        engine = db.make_engine(db_url2)
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM technician")).scalar_one() == 25
        engine.dispose()
        import redis

        from core.index.redis_index import RedisTechnicianIndex

        again = RedisTechnicianIndex(redis.Redis.from_url(redis_url2), prefix="th:ix:")
        assert again.is_built()  # Redis kept its data too
        assert again.get(1) is not None
    finally:
        embedded.stop_embedded(data)
        shutil.rmtree(data, ignore_errors=True)
