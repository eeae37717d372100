# Shared by scripts/run, scripts/test and scripts/sqlx-prepare (sourced, not run).
# Installs what a fresh machine lacks and finds or starts PostgreSQL.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"
PG_PORT="${BULKHEAD_PG_PORT:-55432}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# binaryen's wasm-opt, which optimises the release wasm. Debian's (108) is too
# old for wasm-bindgen's output: the page then fails to hydrate. The npm
# package is a Node build of the same tool, installed once per version.
BINARYEN_VERSION=132.0.0
ensure_wasm_opt() {
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead/binaryen-$BINARYEN_VERSION"
  if [ ! -x "$dir/node_modules/.bin/wasm-opt" ]; then
    command -v npm >/dev/null 2>&1 || { echo "npm is needed to install wasm-opt (Debian: apt-get install npm)" >&2; exit 1; }
    log "installing wasm-opt $BINARYEN_VERSION (npm package binaryen, once)"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

# Python tools of the tests, in a venv under target/: kubernetes-validate
# (the Kubernetes schemas, bundled) checks deploy/kubernetes.
ensure_venv() {
  local venv="$ROOT/target/venv"
  if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/aiosmtpd" ] ||
    ! "$venv/bin/python" -c 'import dnslib, cloudevents.core, securesystemslib.dsse' 2>/dev/null; then
    log "installing kubernetes-validate, aiosmtpd (the tests' SMTP server), dnslib (the browser tests' name server) cloudevents (the official SDK, the usage tests' sender) and securesystemslib (DSSE's own verifier) in target/venv (once)"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" "aiosmtpd==1.4.6" \
      "dnslib==0.9.25" "cloudevents==2.2.0" "securesystemslib[crypto]==1.6.0"
  fi
  # The policy checkers of rendered manifests and deploy/: checkov (the Pod
  # Security Standards and hardening rules) and check-jsonschema (its vendored
  # Compose specification), in a venv of their own: checkov pins many libraries.
  local policy="$ROOT/target/venv-policy"
  if [ ! -x "$policy/bin/checkov" ] || [ ! -x "$policy/bin/check-jsonschema" ]; then
    log "installing checkov and check-jsonschema in target/venv-policy (once)"
    [ -x "$policy/bin/pip" ] || python3 -m venv "$policy"
    "$policy/bin/pip" install --quiet --disable-pip-version-check "checkov==3.3.30" "check-jsonschema==0.39.0"
  fi
}

# The wasm target, cargo-leptos, the wasm-bindgen CLI matching Cargo.lock and wasm-opt.
ensure_toolchain() {
  if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! command -v cargo-leptos >/dev/null 2>&1; then
    log "installing cargo-leptos 0.3.10 (takes a while, once)"
    cargo install cargo-leptos --locked --version 0.3.10
  fi
  local want
  want="$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p')"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    log "installing wasm-bindgen-cli $want (matches Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  ensure_wasm_opt
}

# Builds the console as operators run it: optimised, file names hashed,
# brotli and gzip copies of every static file.
build_release() {
  cargo leptos build --release --precompress --split
}

# Directory holding initdb and pg_ctl, or nothing.
pg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d="$(pg_config --bindir 2>/dev/null)"
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  d="$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"
  [ -x "$d/initdb" ] && echo "$d"
}

# Starts (once) a private PostgreSQL cluster under target/ on $PG_PORT.
start_private_postgres() {
  local bindir dir as=()
  bindir="$(pg_bindir)"
  if [ -z "$bindir" ]; then
    echo "PostgreSQL server binaries (initdb, pg_ctl) were not found." >&2
    echo "Install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL." >&2
    exit 1
  fi
  dir="$ROOT/target/postgres"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    # initdb and postgres refuse to run as root: run them as the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      dir="/tmp/bulkhead-postgres-$(echo "$ROOT" | md5sum | cut -c1-8)"
      mkdir -p "$dir" && chown postgres "$dir"
    fi
    as=(runuser -u postgres --)
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $dir/data"
    "${as[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-instructions >/dev/null
  fi
  if "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    PG_PORT="$(cat "$dir/port" 2>/dev/null || echo "$PG_PORT")"
  else
    # Another cluster (another checkout) may hold the port: take the next free one.
    while (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; do PG_PORT=$((PG_PORT + 1)); done
    echo "$PG_PORT" > "$dir/port"
    log "starting the private PostgreSQL on 127.0.0.1:$PG_PORT"
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir" start >/dev/null \
      || { echo "PostgreSQL did not start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
  fi
  PRIVATE_PG_BINDIR="$bindir"
  PRIVATE_PG_DIR="$dir"
}

# Sets ADMIN_DATABASE_URL (a server where databases may be created) and,
# unless given, DATABASE_URL (the console's database, created if missing).
ensure_database() {
  if [ -n "${DATABASE_URL:-}" ]; then
    ADMIN_DATABASE_URL="${BULKHEAD_ADMIN_DATABASE_URL:-${DATABASE_URL%/*}/postgres}"
  else
    start_private_postgres
    ADMIN_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/bulkhead"
    if ! psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'bulkhead'" | grep -q 1; then
      psql_admin -q -c "CREATE DATABASE bulkhead"
    fi
  fi
  export ADMIN_DATABASE_URL
}

psql_admin() { psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 "$@"; }

# The URL of database NAME on the admin server.
database_url_for() { echo "${ADMIN_DATABASE_URL%/*}/$1"; }

# For the benches: serves the release build ($bin) on a random loopback port
# (development profile), stops it when the script ends, and signs in as
# $1 with password $2. Sets base, pid, jar (curl's cookie file) and cookie
# (the session as a Cookie header's value).
bench_console() {
  local email="$1" password="$2" port=$(( (RANDOM % 20000) + 30000 ))
  LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site BULKHEAD_ENV=development RUST_LOG=warn \
    BULKHEAD_LOGIN_IP_LIMIT=1000 "$bin" serve &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -fs "$base/livez" -o /dev/null && break; sleep 0.1; done
  jar="$(mktemp)"
  curl -fs -c "$jar" -o /dev/null -H "Origin: $base" -H 'Accept: text/html' \
    --data-urlencode "email=$email" --data-urlencode "password=$password" --data-urlencode next= "$base/api/login"
  cookie="$(awk '$6 ~ /session/ { print $6 "=" $7 }' "$jar")"
  [ -n "$cookie" ] || { echo "sign-in failed" >&2; exit 1; }
}
