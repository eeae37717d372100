#!/usr/bin/env bash
# The routing check against the process's own liveness handler, in the same
# run: wrk on loopback against the release server, 64 connections.
#   GET /livez                      the baseline: a bare 204 that touches nothing
#   GET /route/check (allowed)      a tenant's key verified, its host checked, counted
#   GET /route/check (429)          a tenant whose month is spent
#   GET /route/check (no key)       401: a stranger naming a tenant, nothing counted
# Then exactness (counted calls after a graceful stop against wrk's 200s),
# the loss after kill -9 mid-load, the resident size with TENANTS tenants and
# three keys each, and two consoles sharing one tenant's second (through
# Redis, and without) and month.
# Usage: benches/routing.sh [seconds] [tenants]   (needs wrk; DATABASE_URL or a private PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
secs="${1:-8}"
tenants="${2:-100000}"
bin="${BIN:-target/release/bulkhead}"
# BASELINE_BIN: an earlier build whose check knew no tenant keys (the proxy's
# token and the host alone), measured in the same rounds for comparison.
baseline="${BASELINE_BIN:-}"
[ -x "$bin" ] || { echo "build first: cargo build --release --features ssr --bin bulkhead" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
ensure_database
db=bulkhead_bench_routing
psql_admin -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export DATABASE_URL="$(database_url_for $db)"
"$bin" migrate >/dev/null
"$bin" tenant seed --count "$tenants" >/dev/null
psql "$DATABASE_URL" -q -c "UPDATE tiers SET api_rate_per_second = 1000000, api_burst = 1000000" \
  -c "INSERT INTO quota_overrides (tenant_id, metric, value, reason) SELECT id, 'api_calls', 1, 'bench: spent' FROM tenants WHERE slug = 'seed-2'" \
  -c "INSERT INTO quota_overrides (tenant_id, metric, value, reason) SELECT id, 'api_calls', 1000000000000, 'bench: allowed all along' FROM tenants WHERE slug IN ('seed-1', 'seed-5')"
# Three keys per tenant held in memory (their hashes only; nobody presents these).
psql "$DATABASE_URL" -q -c "INSERT INTO tenant_api_keys (tenant_id, name, hint, key_hash)
  SELECT id, 'bulk-' || g, 'bk_live_bulk', sha256(convert_to(id::text || g, 'UTF8')) FROM tenants, generate_series(1, 3) AS g"
token="$("$bin" token create --name bench --scope routing)"
declare -A key=()
for n in 1 2 4 5 6; do key[$n]="$("$bin" key create --tenant "seed-$n" --name bench)"; done
port=$(( (RANDOM % 20000) + 30000 ))

start() { # [port]: sets pid
  local p="${1:-$port}"
  BULKHEAD_BASE_DOMAIN=tenants.bench BULKHEAD_SHARED_UPSTREAM=http://pool:8080 LEPTOS_SITE_ADDR="127.0.0.1:$p" \
    BULKHEAD_ENV=development RUST_LOG=warn "$bin" serve &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$p/livez" -o /dev/null && break; sleep 0.1; done
  sleep 1  # the routing table's first load
}
run() { # label, wrk arguments...
  local label="$1"; shift
  local out; out="$(wrk -t2 -c64 -d"${secs}s" --latency "$@")"
  local rps p50 p99 total non2xx
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  total="$(awk '/requests in/ {print $1}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  printf '%-28s %10s req/s  p50 %8s  p99 %8s  requests %s  non-2xx %s\n' "$label" "$rps" "$p50" "$p99" "$total" "${non2xx:-0}"
  LAST_OK=$(( total - ${non2xx:-0} ))
  RPS="$rps"
  P99_US="$(to_us "$p99")"
}
to_us() { # wrk's 812.00us, 3.42ms or 1.02s, in microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else print n * 1000000 }'
}
counted() { psql "$DATABASE_URL" -tAc "SELECT coalesce(sum(calls), 0) FROM api_calls"; }

if [ -n "$baseline" ]; then
  base_port=$(( port + 10 ))
  BULKHEAD_BASE_DOMAIN=tenants.bench BULKHEAD_SHARED_UPSTREAM=http://pool:8080 LEPTOS_SITE_ADDR="127.0.0.1:$base_port" \
    BULKHEAD_ENV=development RUST_LOG=warn "$baseline" serve &
  base_pid=$!
  trap 'kill $base_pid 2>/dev/null || true' EXIT
  sleep 3
fi
start
auth=(-H "X-Bulkhead-Token: $token")
# The machine is shared and noisy: the four paths run in turns, ROUNDS times,
# and each ratio is the median of the rounds' ratios (each against the
# baseline measured just before it).
rounds="${ROUNDS:-3}"
allowed_ok=0
declare -A ratios=()
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds"
  run "GET /livez" "http://127.0.0.1:$port/livez"; base=$RPS; base_p99=$P99_US
  run "route check, allowed" "${auth[@]}" -H "X-API-Key: ${key[1]}" -H "X-Forwarded-Host: seed-1.tenants.bench" "http://127.0.0.1:$port/route/check"
  allowed_ok=$(( allowed_ok + LAST_OK )); ratios[allowed]+="$(awk -v a="$RPS" -v b="$base" 'BEGIN {printf "%.3f ", a / b}')"
  ratios[allowed_p99]+="$(awk -v a="$P99_US" -v b="$base_p99" 'BEGIN {printf "%.3f ", a / b}')"
  if [ -n "$baseline" ]; then
    run "baseline build, token only" -H "Authorization: Bearer $token" -H "X-Forwarded-Host: seed-5.tenants.bench" "http://127.0.0.1:$base_port/route/check"
    ratios[baseline]+="$(awk -v a="$RPS" -v b="$base" 'BEGIN {printf "%.3f ", a / b}')"
  fi
  run "route check, month spent" "${auth[@]}" -H "X-API-Key: ${key[2]}" -H "X-Forwarded-Host: seed-2.tenants.bench" "http://127.0.0.1:$port/route/check"
  ratios[spent]+="$(awk -v a="$RPS" -v b="$base" 'BEGIN {printf "%.3f ", a / b}')"
  run "route check, no key" "${auth[@]}" -H "X-Forwarded-Host: seed-1.tenants.bench" "http://127.0.0.1:$port/route/check"
  ratios[nokey]+="$(awk -v a="$RPS" -v b="$base" 'BEGIN {printf "%.3f ", a / b}')"
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for path in allowed spent nokey ${baseline:+baseline}; do
  echo "÷ /livez, $path: rounds ${ratios[$path]}-> median $(median "${ratios[$path]}")"
done
echo "p99 ÷ /livez's p99, allowed: rounds ${ratios[allowed_p99]}-> median $(median "${ratios[allowed_p99]}")"
rss_kib="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
[ -n "$baseline" ] && { kill "$base_pid" 2>/dev/null || true; }
kill -TERM "$pid" || true; wait "$pid" || true
echo "resident size with $tenants tenants and $(( tenants * 3 )) keys cached: $(( rss_kib / 1024 )) MiB"
counted_12="$(psql "$DATABASE_URL" -tAc "SELECT coalesce(sum(calls), 0) FROM api_calls JOIN tenants t ON t.id = tenant_id WHERE t.slug IN ('seed-1', 'seed-2')")"
echo "exactness after a graceful stop: wrk saw $(( allowed_ok + 1 )) allowed (the spent tenant's one included), the database counted $counted_12"

# kill -9 mid-load: the calls admitted since the last flush are lost.
psql "$DATABASE_URL" -q -c "TRUNCATE api_calls"
start
(sleep $(( secs / 2 )); kill -9 "$pid") &
out="$(wrk -t2 -c64 -d"${secs}s" "${auth[@]}" -H "X-API-Key: ${key[5]}" -H "X-Forwarded-Host: seed-5.tenants.bench" "http://127.0.0.1:$port/route/check" 2>&1 || true)"
wait "$pid" 2>/dev/null || true
total="$(awk '/requests in/ {print $1}' <<<"$out")"
non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
echo "after kill -9 mid-load: wrk saw ${total:-0} answers ($non2xx non-2xx), the database counted $(counted)"

# Two consoles behind one proxy share a tenant's month through PostgreSQL:
# each learns the other's calls at its flush, so together they can admit more
# than the allowance by what one admits between two flushes.
psql "$DATABASE_URL" -q -c "TRUNCATE api_calls" \
  -c "INSERT INTO quota_overrides (tenant_id, metric, value, reason) SELECT id, 'api_calls', 20000, 'bench: shared' FROM tenants WHERE slug = 'seed-4'"
sleep 1
port_a=$(( port + 2 )); port_b=$(( port + 3 ))
start "$port_a"; pid_a=$pid
start "$port_b"; pid_b=$pid
check4=(-H "X-Bulkhead-Token: $token" -H "X-API-Key: ${key[4]}" -H "X-Forwarded-Host: seed-4.tenants.bench")
out_a="$(mktemp)"; out_b="$(mktemp)"
wrk -t1 -c32 -d"${secs}s" "${check4[@]}" "http://127.0.0.1:$port_a/route/check" > "$out_a" &
wrk_a=$!
wrk -t1 -c32 -d"${secs}s" "${check4[@]}" "http://127.0.0.1:$port_b/route/check" > "$out_b"
wait "$wrk_a"
ok() { local t n; t="$(awk '/requests in/ {print $1}' "$1")"; n="$(awk '/Non-2xx/ {print $NF}' "$1")"; echo $(( t - ${n:-0} )); }
admitted=$(( $(ok "$out_a") + $(ok "$out_b") ))
kill -TERM "$pid_a" "$pid_b" || true; wait "$pid_a" "$pid_b" 2>/dev/null || true
echo "two consoles, allowance 20000: admitted $admitted (overshoot $(( admitted - 20000 ))), the database counted $(counted)"

# Two consoles, one tenant's second: seed-6 (premium) may call 2,000 times a
# second with a burst of 200. Each console loaded by its own wrk; admitted
# calls against what one bucket allows over the run (rate × seconds + burst).
redis_port=$(( port + 4 ))
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
redis_pid=$!
psql "$DATABASE_URL" -q -c "UPDATE tiers SET api_rate_per_second = 2000, api_burst = 200 WHERE id = 'premium'"
check6=(-H "X-Bulkhead-Token: $token" -H "X-API-Key: ${key[6]}" -H "X-Forwarded-Host: seed-6.tenants.bench")
second() { # label
  local ok_a ok_b admitted allowed
  wrk -t1 -c32 -d"${secs}s" "${check6[@]}" "http://127.0.0.1:$port_a/route/check" > "$out_a" &
  wrk_a=$!
  wrk -t1 -c32 -d"${secs}s" "${check6[@]}" "http://127.0.0.1:$port_b/route/check" > "$out_b"
  wait "$wrk_a"
  admitted=$(( $(ok "$out_a") + $(ok "$out_b") ))
  allowed=$(( 2000 * secs + 200 ))
  echo "two consoles, $1: admitted $admitted in ${secs} s where one bucket allows $allowed:" \
    "overshoot $(awk -v a="$admitted" -v b="$allowed" -v s="$secs" 'BEGIN {printf "%.1f %% of the rate", (a - b) / s / 2000 * 100}')"
}
for mode in local redis; do
  if [ "$mode" = redis ]; then export BULKHEAD_REDIS_URL="redis://127.0.0.1:$redis_port"; fi
  start "$port_a"; pid_a=$pid
  start "$port_b"; pid_b=$pid
  sleep 1  # every bucket full again
  second "buckets $mode"
  kill -TERM "$pid_a" "$pid_b" || true; wait "$pid_a" "$pid_b" 2>/dev/null || true
done
unset BULKHEAD_REDIS_URL
kill "$redis_pid" 2>/dev/null || true
