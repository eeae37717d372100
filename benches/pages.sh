#!/usr/bin/env bash
# Pages under load, against the release server, at 100,000 tenants and
# 1,000,000 audit events: wrk (2 threads, 32 connections, 8 s per path) on
# the bare handler, the sign-in page, the session check, the tenant list, a
# search, the audit trail and the dashboard, signed in as a platform admin.
# Prints requests per second, p50 and p99 and each page's ratio to /login
# (POST /api/me to /healthz); then the chain check and the CSV export
# against COPY reading the same rows, and the transactions a page view commits.
# Usage: benches/pages.sh   (needs the release build; DATABASE_URL or a private PostgreSQL)
#        BIN=path/to/another/bulkhead REUSE=1 benches/pages.sh   (another build on the same seed)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bin="${BIN:-target/release/bulkhead}"
[ -x "$bin" ] || { echo "build first: scripts/run --release (or cargo leptos build --release)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
ensure_database
db=bulkhead_bench_pages
export DATABASE_URL="$(database_url_for $db)"
if [ "${REUSE:-}" != 1 ] || ! psql "$DATABASE_URL" -tAc 'SELECT 1' >/dev/null 2>&1; then
  psql_admin -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  started=$(date +%s)
  "$bin" migrate >/dev/null
  # The trail first: its seed asks for an empty one.
  "$bin" audit seed --events 1000000 --tenants 1000 >/dev/null
  "$bin" tenant seed --count 100000 >/dev/null
  psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
  echo "seeded in $(( $(date +%s) - started )) s (REUSE=1 keeps the database for the next run)"
fi
password="pages-bench-$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
email="bench-$RANDOM@example.com"
printf '%s' "$password" | "$bin" admin create --email "$email" --password-stdin >/dev/null
bench_console "$email" "$password"

post_lua="$(mktemp --suffix=.lua)"
printf 'wrk.method = "POST"\nwrk.body = ""\n' > "$post_lua"
# "req/s p50_ms p99_ms" of one wrk run.
load() { # connections, path, [extra wrk arguments…]
  local conns="$1" path="$2"; shift 2
  wrk -t2 -c"$conns" -d8s --latency -H "Cookie: $cookie" -H "Origin: $base" "$@" "$base$path" |
    awk '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
      /Requests\/sec/ { rps = $2 }
      /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
      /Non-2xx/ { bad = $NF }
      END { printf "%.0f %.1f %.1f %s\n", rps, p50, p99, (bad ? bad : 0) }'
}
# Warm every page once (plans, the session held in memory).
for path in / /account /tenants "/tenants?q=seed-4242" /audit; do curl -s -o /dev/null -H "Cookie: $cookie" "$base$path"; done

echo "| path | req/s | p50 | p99 | ratio | non-2xx |"
echo "|---|---|---|---|---|---|"
read -r healthz h50 h99 hbad <<<"$(load 32 /healthz)"
echo "| \`/healthz\` (bare handler) | $healthz | $h50 ms | $h99 ms | | $hbad |"
read -r login l50 l99 lbad <<<"$(load 32 /login -H 'Cookie: ')"
echo "| \`/login\` (no database) | $login | $l50 ms | $l99 ms | 1.00 | $lbad |"
row() { # label, baseline req/s, connections, path, [wrk arguments…]
  local label="$1" baseline="$2"; shift 2
  read -r rps p50 p99 bad <<<"$(load "$@")"
  echo "| $label | $rps | $p50 ms | $p99 ms | $(awk -v a="$rps" -v b="$baseline" 'BEGIN { printf "%.2f", a / b }') | $bad |"
}
row '`POST /api/me` (session check; ratio to /healthz)' "$healthz" 32 /api/me -s "$post_lua"
row '`/account` (the signed-in frame, little data)' "$login" 32 /account
row '`/tenants` (100,000 tenants)' "$login" 32 /tenants
row '`/tenants?q=seed-4242` (trigram search)' "$login" 32 "/tenants?q=seed-4242"
row '`/audit` (1,000,000 events)' "$login" 32 /audit
row '`/` dashboard' "$login" 32 /

# Transactions a page view ends, from the database's own counters (each
# backend reports them within a second of going idle; the sleep waits for it).
ended() { psql "$DATABASE_URL" -tAc "SELECT pg_stat_force_next_flush(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()" | tail -1; }
# Backends that served the load above report its transactions within 10 s of going idle.
sleep 12; idle_start="$(ended)"
# The background work's own transactions (routing flush, fold, senders) over an idle window as long.
sleep 14; before="$(ended)"
codes="$(for _ in $(seq 1 100); do curl -s -o /dev/null -w '%{http_code}\n' -H "Cookie: $cookie" "$base/tenants"; done | sort | uniq -c | tr -s ' \n' ' ')"
sleep 12; after="$(ended)"
echo
echo "transactions per view of /tenants (100 views, answers:$codes): $(awk -v a="$after" -v b="$before" -v i0="$idle_start" 'BEGIN { idle = b - i0 - 2; printf "%.2f (background work over an idle window as long: %d)", (a - b - 2 - idle) / 100, idle }')"

# The chain check and the export, against COPY reading the same rows.
t0=$(date +%s.%N)
psql "$DATABASE_URL" -qc "\\copy (SELECT * FROM audit_events ORDER BY id) TO '/dev/null'"
t1=$(date +%s.%N)
"$bin" audit verify >/dev/null
t2=$(date +%s.%N)
export_answer="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Cookie: $cookie" "$base/audit/export?format=csv")"
t3=$(date +%s.%N)
echo "CSV export answered: $export_answer (status, bytes)"
psql "$DATABASE_URL" -qc "\\copy (SELECT e.*, t.slug FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id ORDER BY e.id DESC) TO '/dev/null' WITH (FORMAT csv)"
t4=$(date +%s.%N)
events="$(psql "$DATABASE_URL" -tAc 'SELECT count(*) FROM audit_events')"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v n="$events" 'BEGIN {
  printf "COPY of the trail in id order: %.2f s; chain check (bulkhead audit verify): %.2f s (%.2f of COPY'"'"'s rate) for %d events\n", b - a, c - b, (b - a) / (c - b), n
  printf "CSV export over HTTP: %.2f s; COPY to CSV of the same rows: %.2f s; export at %.2f of COPY'"'"'s rate\n", d - c, e - d, (e - d) / (d - c)
}'
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL $(psql "$DATABASE_URL" -tAc 'SHOW server_version')"
