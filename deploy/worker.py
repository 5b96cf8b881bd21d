"""One app process of the production shape: the Reflex backend with the already-built pages mounted.

    python -m deploy.worker --port 8001

What `reflex run --env prod --single-port` serves, minus the build: the launcher builds the pages once
(`reflex export --frontend-only`) and every process serves that build, so N processes never race to
rebuild `.web`. Behind PgBouncer in transaction pooling (DATABASE_POOLER=transaction) psycopg's
server-side prepared statements are turned off: PgBouncer 1.18 (Debian 12) hands each transaction to
any server connection, where a statement prepared on another one does not exist.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

TRANSACTION_POOLER = "transaction"


def without_prepared_statements() -> Callable[..., None]:
    """Every new psycopg connection of every SQLAlchemy pool in this process never prepares statements.

    psycopg prepares a query on the server after its 5th execution on a connection (`prepare_threshold`);
    `None` keeps every execution unnamed, which any pooled server connection can run. Applies to the
    core's HotStatements too: they run on the same psycopg connections.
    """
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    def unprepared(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        if hasattr(dbapi_conn, "prepare_threshold"):
            dbapi_conn.prepare_threshold = None

    event.listen(Pool, "connect", unprepared)
    return unprepared  # for `event.remove(Pool, "connect", ...)`


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m deploy.worker", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    if os.environ.get("DATABASE_POOLER", "") == TRANSACTION_POOLER:
        without_prepared_statements()
    os.environ["REFLEX_SKIP_COMPILE"] = "true"
    from reflex.config import environment
    from reflex.utils import exec as rx_exec
    from reflex_base import constants

    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    # Workers fork from this process after the app is imported: the listener above is inherited.
    rx_exec.run_backend_prod(args.host, args.port, constants.LogLevel.WARNING, mount_frontend_compiled_app=True)


if __name__ == "__main__":
    main()
