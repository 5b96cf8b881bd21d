#!/usr/bin/env bash
# A base backup of the whole cluster into BACKUP_DIR (new or empty), checked with pg_verifybackup.
# Plain format with the WAL of its own duration, so it restores by copying and is consistent on its own;
# the archive (wal-stream.sh) carries everything after it. Connection as for wal-stream.sh.
#   usage: base-backup.sh BACKUP_DIR
set -euo pipefail
dest=${1:?usage: base-backup.sh BACKUP_DIR}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
"$bin/pg_basebackup" --pgdata="$dest" --format=plain --wal-method=stream --checkpoint=fast --no-password
"$bin/pg_verifybackup" --quiet "$dest"
echo "base backup in $dest ($(du -sh "$dest" | cut -f1)), verified"
