#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the registry tests and print its URL.
#
#   export TAILORLM_TEST_PG_URL=$(scripts/start_test_postgres.sh)
#   pytest tests/unit/test_registry_*.py tests/unit/test_audit_*.py
#
# Installs Debian's `postgresql` package when no server binaries are found (needs root and the
# package mirror), creates a cluster in $TAILORLM_PG_DIR (default /tmp/tailorlm-pg) with trust
# auth, fsync off (test data only) and starts it on 127.0.0.1:$TAILORLM_PG_PORT (default 54329).
# Idempotent: if the server already answers, it only prints the URL. Stop it with
#   pg_ctl -D /tmp/tailorlm-pg/data stop   (as the postgres user when run as root)
# Diagnostics go to stderr; stdout carries only the URL.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # runuser, pg tools: not on a minimal PATH

PGDIR="${TAILORLM_PG_DIR:-/tmp/tailorlm-pg}"
PORT="${TAILORLM_PG_PORT:-54329}"
DB="${TAILORLM_PG_DB:-tailorlm_test}"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/${DB}"
log() { echo "start_test_postgres: $*" >&2; }

find_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

BIN="$(find_bindir || true)"
if [ -z "$BIN" ]; then
  log "no PostgreSQL server binaries; installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  BIN="$(find_bindir)"
fi

# The server refuses to run as root: run it as the postgres user (created by the package).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  log "server already running on port $PORT"
else
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
  if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$PGDIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  fi
  as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
    -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2
fi

if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi

python -c "import psycopg" 2>/dev/null || log "warning: the psycopg driver is missing: pip install 'psycopg[binary]'"
echo "$URL"
