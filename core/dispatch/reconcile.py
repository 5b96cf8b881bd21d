"""Start-up reconciliation: make technicians' states agree with their jobs after a crash."""

from __future__ import annotations

import sqlalchemy as sa
import structlog

from core.context import Core
from core.infra.db import session_scope
from core.infra.rows import rowcount
from core.states import ON_A_JOB, TECH_ON_A_JOB, TechStatus, sql_list

log = structlog.get_logger("tyrehero.reconcile")


def reconcile(core: Core) -> dict[str, int]:
    """Free technicians marked busy without an active job; mark busy those who hold one. Idempotent."""
    with session_scope(core.engine) as s:
        freed = rowcount(s.execute(sa.text(
            f"UPDATE technician t SET status = '{TechStatus.AVAILABLE.value}', version = version + 1"
            f" WHERE t.status IN ({sql_list(TECH_ON_A_JOB)}) AND NOT EXISTS ("
            "   SELECT 1 FROM service_request r WHERE r.technician_id = t.id"
            f"   AND r.status IN ({sql_list(ON_A_JOB)}))")))
        aligned = rowcount(s.execute(sa.text(
            "UPDATE technician t SET status = r.status, version = t.version + 1"
            " FROM service_request r WHERE r.technician_id = t.id"
            f" AND r.status IN ({sql_list(ON_A_JOB)}) AND t.status <> r.status")))
    result = {"technicians_freed": freed, "technicians_aligned": aligned}
    if freed or aligned:
        log.warning("reconciled", **result)
        core.index.ensure_built(force=True)
    return result
