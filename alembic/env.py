"""Alembic environment: the core's SQLModel metadata and the configured database."""

from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import core.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from alembic import context
from core.infra.partitions import is_ping_partition  # noqa: E402

config = context.config


def _include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    """Monthly ping partitions are made by core.infra.partitions, not by migrations."""
    return not (type_ == "table" and is_ping_partition(name))
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return url
    from core.config import get_settings
    from core.infra.embedded import ensure_urls

    s = get_settings()
    return ensure_urls(s.database_url, "unused", s.data_path)[0]


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True,
                      include_name=_include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                          include_name=_include_name)
        with context.begin_transaction():
            # One migrator at a time when several processes start together.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(725001)")
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
