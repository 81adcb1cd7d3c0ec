#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up: PostgreSQL on 127.0.0.1:5432 (trust auth, database
# `test`). Sourced by scripts/test.sh; starts a server that is down, fails if it cannot.
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "services: starting PostgreSQL" >&2
  service postgresql start >/dev/null 2>&1 || sudo -n service postgresql start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi
