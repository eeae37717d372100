#!/usr/bin/env bash
# The usage page and /metrics at scale, against the release server:
#  - a tenant's 30-day usage page when it has a year of hourly data for five
#    metrics (and 99 other tenants have as much): server time p50/p95 over
#    300 requests, with /login (no database) timed the same way as baseline;
#  - /metrics with 100,000 tenants (every one with current usage, a third of
#    them from 50 % of a quota): time per scrape p50/p95 over 100 scrapes, its
#    size, the background snapshot's own time, with /healthz as baseline.
# Usage: benches/usage.sh   (needs the release build; DATABASE_URL or a private PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bin=target/release/bulkhead
[ -x "$bin" ] || { echo "build first: cargo leptos build --release" >&2; exit 1; }
ensure_database
db=bulkhead_bench_usage
psql_admin -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export DATABASE_URL="$(database_url_for $db)"
"$bin" migrate >/dev/null
"$bin" tenant seed --count 100000 >/dev/null
password="usage-page-$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
printf '%s' "$password" | "$bin" admin create --email bench@example.com --password-stdin >/dev/null
started=$(date +%s)
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
-- A year of hourly buckets, five metrics, for 100 tenants (4.4 million rows).
CREATE TEMP TABLE heavy AS SELECT id, slug FROM tenants WHERE status <> 'deleted' ORDER BY created_at LIMIT 100;
INSERT INTO usage_hourly (tenant_id, metric, hour, last_value, last_at, max_value, sum_value, samples)
SELECT h.id, m, t, v, t, v * 1.2, v * 60, 60
  FROM heavy h, unnest(ARRAY['storage_bytes','memory_bytes','cpu_millicores','users','db_connections']) AS m,
       generate_series(date_trunc('hour', now()) - interval '365 days', date_trunc('hour', now()), interval '1 hour') AS t,
       LATERAL (SELECT (1000 + 500 * sin(extract(epoch FROM t) / 86400.0))::float8 AS v) x;
INSERT INTO api_calls_daily (tenant_id, day, calls)
SELECT h.id, d::date, 5000 FROM heavy h, generate_series(now() - interval '365 days', now(), interval '1 day') AS d;
-- Current usage for every tenant: users from 0 to 3 times a third of the tier's maximum.
INSERT INTO usage_current (tenant_id, metric, value, recorded_at)
SELECT t.id, 'users', (random() * tr.max_users * 0.9)::bigint, now() FROM tenants t JOIN tiers tr ON tr.id = t.tier_id;
INSERT INTO usage_current (tenant_id, metric, value, recorded_at)
SELECT t.id, 'storage', (random() * tr.storage_bytes * 0.6)::bigint, now() FROM tenants t JOIN tiers tr ON tr.id = t.tier_id;
ANALYZE;
SQL
heavy_slug="$(psql "$DATABASE_URL" -tAc "SELECT slug FROM tenants WHERE status <> 'deleted' ORDER BY created_at LIMIT 1")"
echo "seeded in $(( $(date +%s) - started )) s: $(psql "$DATABASE_URL" -tAc 'SELECT count(*) FROM usage_hourly') hourly buckets"
token="$("$bin" token create --name bench --scope metrics)"
bench_console bench@example.com "$password"

# p50 and p95 of `n` requests' time to first byte, in ms.
timed() { # n, curl arguments…
  local n="$1"; shift
  for _ in $(seq 1 "$n"); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$@"; done |
    sort -n | awk '{ v[NR] = $1 * 1000 } END { printf "p50 %6.1f ms  p95 %6.1f ms", v[int(NR * 0.5)], v[int(NR * 0.95)] }'
}
for _ in 1 2 3; do curl -s -o /dev/null -b "$jar" "$base/tenants/$heavy_slug/usage"; done
echo "/login (baseline)            $(timed 300 "$base/login")"
echo "/tenants/$heavy_slug/usage   $(timed 300 -b "$jar" "$base/tenants/$heavy_slug/usage")"
echo "usage page size: $(curl -s -b "$jar" "$base/tenants/$heavy_slug/usage" | wc -c) bytes"

# The first snapshot is read at start; wait until it is there.
for _ in $(seq 1 300); do
  curl -s -H "Authorization: Bearer $token" "$base/metrics" | grep -q '^bulkhead_tenants_labelled' && break; sleep 0.2
done
echo "/healthz (baseline)          $(timed 100 "$base/healthz")"
echo "/metrics, 100,000 tenants    $(timed 100 -H "Authorization: Bearer $token" "$base/metrics")"
body="$(curl -s -H "Authorization: Bearer $token" "$base/metrics")"
echo "/metrics size: $(printf '%s' "$body" | wc -c) bytes, $(printf '%s\n' "$body" | grep -vc '^#') series lines,"\
" $(printf '%s\n' "$body" | grep -c '^bulkhead_tenant_usage{') tenant usage series"
echo "snapshot: $(printf '%s\n' "$body" | awk '/^bulkhead_metrics_snapshot_duration_seconds / {printf "%.0f ms", $2 * 1000}') to read and encode"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL $(psql "$DATABASE_URL" -tAc 'SHOW server_version')"
