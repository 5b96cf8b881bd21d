#!/usr/bin/env bash
# Bounds how long commits wait for the WAL archive. With the archive as a synchronous standby (primary.conf),
# a commit waits for it without limit (statement_timeout does not cover that wait): if wal-stream.sh is gone
# for ARCHIVE_GRACE_S (30), this stops requiring it, so writes go on (RPO is then no longer 0: page someone),
# and requires it again as soon as it streams. Run it beside the primary, under the same supervisor.
# Connection as for wal-stream.sh; the role must be allowed ALTER SYSTEM (a superuser, or GRANT ALTER SYSTEM).
#   usage: archive-watchdog.sh
set -uo pipefail
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
name=${WAL_SLOT:-tyrehero_archive}
grace=${ARCHIVE_GRACE_S:-30}
every=${ARCHIVE_CHECK_S:-2}
q() { "$bin/psql" -X -A -t -q -v ON_ERROR_STOP=1 --no-password -d "${PGDATABASE:-postgres}" -c "$1"; }
require() {
  q "ALTER SYSTEM SET synchronous_standby_names = '$1'" && q "SELECT pg_reload_conf()" >/dev/null
}
missing_since=""
while true; do
  if streaming=$(q "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$name' AND state = 'streaming'") \
     && required=$(q "SHOW synchronous_standby_names"); then
    now=$(date +%s)
    if [ "$streaming" -ge 1 ]; then
      missing_since=""
      if [ "$required" != "$name" ] && require "$name"; then
        echo "$(date -u +%FT%TZ) archive $name streams: commits wait for it again"
      fi
    else
      missing_since=${missing_since:-$now}
      if [ -n "$required" ] && [ $((now - missing_since)) -ge "$grace" ] && require ""; then
        echo "$(date -u +%FT%TZ) ARCHIVE LOST: $name gone for ${grace}s; commits no longer wait for it (RPO > 0)" >&2
      fi
    fi
  fi
  sleep "$every"
done
