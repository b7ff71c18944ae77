#!/usr/bin/env bash
# Starts the already-built floh binary for the Playwright suite (playwright.config.ts runs it
# as its webServer) on a fresh, empty data dir: every run begins with initdb + migrations, the
# seeded demo users and, with --demo, the demo directory, its connector and the Floh users it
# is matched against (the sync journey's data).
#
# The embedded PostgreSQL runs as the `postgres` OS user when we are root, so the data dir and
# all of its parents must be searchable by that user: a 0711 dir straight under /tmp.
# The server's log goes to e2e/server.log; it is printed here if the server fails to start.
set -uo pipefail
cd "$(dirname "$0")"
port="${E2E_PORT:-18181}"
bin="../bin/floh"
log="$PWD/server.log"
if [ ! -x "$bin" ]; then
  echo "serve.sh: $bin is missing; build it first: (cd .. && go build -o bin/floh ./cmd/floh)" >&2
  exit 1
fi
# Data dirs left by an earlier run that was killed (a normal stop removes its own below).
# One whose PostgreSQL still runs may belong to a suite running on another E2E_PORT: kept.
for old in /tmp/floh-e2e-*; do
  [ -e "$old" ] || continue
  pidfile="$old/data/pg/postmaster.pid"
  if [ -f "$pidfile" ] && kill -0 "$(head -n 1 "$pidfile")" 2>/dev/null; then
    echo "serve.sh: keeping $old: its PostgreSQL (pid $(head -n 1 "$pidfile")) is still running" >&2
    continue
  fi
  rm -rf "$old"
done
d=$(mktemp -d /tmp/floh-e2e-XXXXXX) || exit 1
chmod 0711 "$d"
echo "serve.sh: floh on 127.0.0.1:$port, data dir $d/data, log $log" >&2

export FLOH_ADDR="127.0.0.1:$port"
export FLOH_DATA_DIR="$d/data"
# Development mode with the built-in OpenID provider at /dev/oidc.
unset FLOH_ENV FLOH_BASE_URL OIDC_ISSUER OIDC_CLIENT_ID OIDC_CLIENT_SECRET DATABASE_URL SMTP_URL

"$bin" serve --demo >"$log" 2>&1 &
pid=$!
stopping=0
# Playwright sends SIGTERM to the whole process group, floh included; wait for floh to stop
# its PostgreSQL before this script exits. Forwarding is for a plain `kill` of this script.
trap 'stopping=1; kill -TERM "$pid" 2>/dev/null; wait "$pid"' TERM INT
wait "$pid"
rc=$?
if [ "$stopping" = 0 ] && [ "$rc" -ne 0 ]; then
  echo "serve.sh: floh exited with status $rc; the end of $log:" >&2
  tail -n 40 "$log" >&2
fi
# floh has stopped its PostgreSQL by now; E2E_KEEP_DATA=1 keeps the database to look at.
if [ "${E2E_KEEP_DATA:-}" != 1 ]; then
  rm -rf "$d"
fi
exit "$rc"
