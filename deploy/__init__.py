"""The production shape on one machine: nginx, PgBouncer, several app processes (`python -m deploy.prod`)."""
