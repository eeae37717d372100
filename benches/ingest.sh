#!/usr/bin/env bash
# Usage ingestion into PostgreSQL: wrk posts batches of 1,000 samples with
# fresh ids (benches/ingest.lua builds each body) from several connections
# against the release server, the idempotency check on. Reports samples per
# second, and the same batches sent again (all known) as a second figure.
# Usage: benches/ingest.sh [seconds] [connections]   (needs wrk; DATABASE_URL or a private PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
secs="${1:-10}"
conns="${2:-8}"
bin=target/release/bulkhead
[ -x "$bin" ] || { echo "build first: cargo build --release --features ssr --bin bulkhead" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
ensure_database
db=bulkhead_bench_ingest
psql_admin -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export DATABASE_URL="$(database_url_for $db)"
"$bin" migrate >/dev/null
"$bin" tenant seed --count 1000 >/dev/null
token="$("$bin" token create --name bench --scope ingest)"
port=$(( (RANDOM % 20000) + 30000 ))
LEPTOS_SITE_ADDR="127.0.0.1:$port" BULKHEAD_ENV=development RUST_LOG=warn "$bin" serve &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/livez" -o /dev/null && break; sleep 0.1; done
sleep 1.5  # the routing table's first load (tokens and tenants)

lag() { # the fold's backlog and the age of its oldest sample, mid-run
  sleep $(( secs / 2 ))
  psql "$DATABASE_URL" -tAc "SELECT 'fold lag mid-run: ' || count(*) || ' samples waiting, the oldest ' ||
    coalesce(round(extract(epoch FROM now() - min(received_at))::numeric, 2), 0) || ' s old' FROM usage_raw"
}
run() { # label, run id
  lag & local lag_pid=$!
  local out; out="$(TOKEN="$token" RUN="$2" TENANTS=1000 wrk -t2 -c"$conns" -d"${secs}s" --latency -s benches/ingest.lua "http://127.0.0.1:$port")"
  local rps p50 p99 non2xx
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  printf '%-22s %8s batches/s = %9.0f samples/s  p50 %8s  p99 %8s  non-2xx %s\n' \
    "$1" "$rps" "$(awk -v r="$rps" 'BEGIN {print r * 1000}')" "$p50" "$p99" "${non2xx:-0}"
  wait "$lag_pid"
}
run "fresh ids" "a$RANDOM"
stored="$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM usage_sample_ids")"
echo "samples stored: $stored"
run "fresh ids, again" "b$RANDOM"
sleep 2
echo "after the runs: $(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM usage_raw") samples waiting, $(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM usage_quarantine") set aside"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL $(psql "$DATABASE_URL" -tAc 'SHOW server_version')"
