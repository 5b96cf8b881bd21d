"""The production shape's own PostgreSQL (Debian's postgresql-15, pg_stat_statements loaded), and its top statements.

Used when DATABASE_URL is not set: a cluster in `<DATA_DIR>/prod/postgres`, kept between runs. With
DATABASE_URL the operator's server is used as it is; `top-statements` then works if that server loads
`pg_stat_statements` (shared_preload_libraries), and says what to set if not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "tyrehero"


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user the Debian package created."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def start(folder: Path, port: int) -> str:
    """Initialise (first time) and start the cluster in `folder`; return the URL of its `tyrehero` database."""
    folder.mkdir(parents=True, exist_ok=True)
    _give_to_postgres(folder)
    data = folder / "data"
    if not (data / "PG_VERSION").exists():
        subprocess.run(_as_postgres([str(DEBIAN_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                     "--encoding=UTF8", "--no-instructions"]), check=True, stdout=subprocess.DEVNULL)
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements"
               " -c pg_stat_statements.track=top -c max_connections=200")
    subprocess.run(_as_postgres([str(DEBIAN_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "postgres.log"),
                                 "-o", options, "-w", "-t", "60", "start"]), check=True, stdout=subprocess.DEVNULL)
    admin = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            if not c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}).first():
                c.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    finally:
        admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"


def stop(folder: Path) -> None:
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(_as_postgres([str(DEBIAN_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def enable_statements(url: str) -> bool:
    """Create the pg_stat_statements extension where the server loads it; False when it does not."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            loaded = c.execute(sa.text("SELECT current_setting('shared_preload_libraries')")).scalar_one()
            if "pg_stat_statements" not in loaded:
                return False
            c.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return True
    finally:
        engine.dispose()


TOP_SQL = sa.text(
    "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,"
    " rows, regexp_replace(query, '\\s+', ' ', 'g') AS query"
    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " ORDER BY total_exec_time DESC LIMIT :n")


def top_statements(url: str, n: int = 15) -> list[dict]:
    """The statements that took the most server time in this database since the statistics were reset."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return [dict(r) for r in c.execute(TOP_SQL, {"n": n}).mappings()]
    finally:
        engine.dispose()


def format_top(rows: list[dict], width: int = 110) -> str:
    lines = [f"{'calls':>9} {'total ms':>11} {'mean ms':>9} {'rows':>9}  statement"]
    for r in rows:
        q = r["query"] if len(r["query"]) <= width else r["query"][: width - 3] + "..."
        total, mean = float(r["total_ms"]), float(r["mean_ms"])
        lines.append(f"{r['calls']:>9,} {total:>11,.1f} {mean:>9.3f} {r['rows']:>9,}  {q}")
    return "\n".join(lines)
