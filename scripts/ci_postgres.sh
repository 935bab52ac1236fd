#!/usr/bin/env bash
# Installs (Debian `postgresql`) and starts a throwaway PostgreSQL server on 127.0.0.1 for the
# registry tests. On success the last line is
#   ADAPTLAB_TEST_POSTGRES_URL=postgresql+psycopg://adaptlab:adaptlab@127.0.0.1:PORT/adaptlab_test
# On failure it says why, that the PostgreSQL registry tests will be skipped, and exits 0.
# Settings: ADAPTLAB_PG_DIR (data folder, default /tmp/adaptlab-postgres), ADAPTLAB_PG_PORT (default 54329).
set -uo pipefail

DATA_DIR="${ADAPTLAB_PG_DIR:-/tmp/adaptlab-postgres}"
PORT="${ADAPTLAB_PG_PORT:-54329}"
URL="postgresql+psycopg://adaptlab:adaptlab@127.0.0.1:${PORT}/adaptlab_test"
LOG="$(mktemp -t adaptlab-postgres-XXXX.log)"

fail() {
    echo "PostgreSQL could not be installed/started: $1; registry tests on PostgreSQL will be skipped"
    exit 0
}

find_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN="$(find_bindir)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    [ "$(id -u)" = 0 ] || fail "the postgresql package is not installed and installing it needs root"
    echo "installing postgresql (apt-get) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >>"$LOG" 2>&1 || fail "apt-get update failed (see $LOG)"
    apt-get install -y -qq postgresql >>"$LOG" 2>&1 || fail "apt-get install postgresql failed (see $LOG)"
    BIN="$(find_bindir)"
    [ -n "$BIN" ] && [ -x "$BIN/initdb" ] || fail "initdb not found after installing postgresql"
fi

# initdb and postgres refuse to run as root: run them as the `postgres` system user then.
as_db_user() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || fail "no 'postgres' system user to run the server as"
    mkdir -p "$DATA_DIR" && chown postgres "$DATA_DIR" || fail "cannot create $DATA_DIR"
else
    mkdir -p "$DATA_DIR" || fail "cannot create $DATA_DIR"
fi

if ! as_db_user "$BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
    if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
        as_db_user "$BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust --encoding=UTF8 >>"$LOG" 2>&1 \
            || fail "initdb failed (see $LOG)"
    fi
    as_db_user "$BIN/pg_ctl" -D "$DATA_DIR" -l "$DATA_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA_DIR -c fsync=off -c synchronous_commit=off -c max_connections=200" \
        start >>"$LOG" 2>&1 || fail "the server did not start (see $DATA_DIR/server.log)"
fi

psql_admin() {
    as_db_user "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"
}
psql_admin "SELECT 1" >/dev/null 2>>"$LOG" || fail "cannot connect to the server on 127.0.0.1:$PORT (see $LOG)"
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'adaptlab'")" != 1 ]; then
    psql_admin "CREATE ROLE adaptlab LOGIN PASSWORD 'adaptlab'" >>"$LOG" 2>&1 || fail "cannot create role adaptlab (see $LOG)"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'adaptlab_test'")" != 1 ]; then
    psql_admin "CREATE DATABASE adaptlab_test OWNER adaptlab" >>"$LOG" 2>&1 || fail "cannot create database adaptlab_test (see $LOG)"
fi

echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') running on 127.0.0.1:$PORT (data in $DATA_DIR)"
echo "ADAPTLAB_TEST_POSTGRES_URL=$URL"
