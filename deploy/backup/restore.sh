#!/usr/bin/env bash
# Restore a base backup into a new data directory, replay the WAL archive to its end (recovery target:
# latest), and start PostgreSQL there. It comes up as a primary on a new timeline, not waiting for a
# synchronous archive: start wal-stream.sh against it, then take a new base backup (docs/OPERATIONS.md).
#   usage: restore.sh BACKUP_DIR ARCHIVE_DIR NEW_DATA_DIR [PORT]
set -euo pipefail
backup=${1:?usage: restore.sh BACKUP_DIR ARCHIVE_DIR NEW_DATA_DIR [PORT]}
archive=${2:?archive dir}
data=${3:?new data dir}
port=${4:-5432}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
here=$(cd "$(dirname "$0")" && pwd)
if [ -e "$data" ] && [ -n "$(ls -A "$data")" ]; then
  echo "restore.sh: $data is not empty; restore into a new directory" >&2
  exit 2
fi
mkdir -p "$data"
chmod 700 "$data"
cp -a "$backup/." "$data/"
rm -f "$data/backup_manifest"
cat >> "$data/postgresql.auto.conf" <<CONF
# restore.sh $(date -u +%FT%TZ): replay the archive to its end, then serve.
restore_command = '"$here/restore-wal.sh" "$archive" %f %p'
recovery_target_timeline = 'latest'
synchronous_standby_names = ''
CONF
touch "$data/recovery.signal"
"$bin/pg_ctl" --pgdata="$data" --wait --timeout=300 --log="$data/restore.log" -o "-p $port" start
echo "restored into $data, serving on port $port"
