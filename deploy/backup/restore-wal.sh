#!/usr/bin/env bash
# restore_command: copy WAL segment NAME from ARCHIVE_DIR to PATH. The segment pg_receivewal was still
# writing when the primary died is NAME.partial: recovery replays what it holds and ends there.
#   usage (from restore.sh): restore-wal.sh ARCHIVE_DIR %f %p
set -eu
archive=$1 name=$2 path=$3
if [ -f "$archive/$name" ]; then
  exec cp "$archive/$name" "$path"
elif [ -f "$archive/$name.partial" ]; then
  exec cp "$archive/$name.partial" "$path"
fi
exit 1
