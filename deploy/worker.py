"""One app process of the production shape: the Reflex backend with the already-built pages mounted.

    python -m deploy.worker --port 8001

What `reflex run --env prod --single-port` serves, minus the build: the launcher builds the pages once
(`reflex export --frontend-only`) and every process serves that build, so N processes never race to
rebuild `.web`. Behind PgBouncer (DATABASE_POOLER=transaction) the core's engines prepare no statements
on the server and send no startup options (`core.infra.db.make_engine`).
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m deploy.worker", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    os.environ["REFLEX_SKIP_COMPILE"] = "true"
    from reflex.config import environment
    from reflex.utils import exec as rx_exec
    from reflex_base import constants

    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    rx_exec.run_backend_prod(args.host, args.port, constants.LogLevel.WARNING, mount_frontend_compiled_app=True)


if __name__ == "__main__":
    main()
