#!/usr/bin/env bash
# Continuous WAL archiving: stream the primary's WAL into ARCHIVE_DIR with pg_receivewal, as a synchronous
# standby named tyrehero_archive (primary.conf), through a replication slot so no segment is recycled before
# the archive has it. Run it under a supervisor that restarts it (it also retries a lost connection by itself).
# Connection: the usual libpq variables (PGHOST, PGPORT, PGUSER, PGPASSFILE); the role needs REPLICATION.
#   usage: wal-stream.sh ARCHIVE_DIR
set -euo pipefail
archive=${1:?usage: wal-stream.sh ARCHIVE_DIR}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
slot=${WAL_SLOT:-tyrehero_archive}
mkdir -p "$archive"
"$bin/pg_receivewal" --slot="$slot" --create-slot --if-not-exists
# The application name is what synchronous_standby_names matches.
export PGAPPNAME=$slot
exec "$bin/pg_receivewal" --directory="$archive" --slot="$slot" --synchronous --no-password
