#!/usr/bin/env bash
# Lighthouse (mobile profile, the default) on a running console's page, with
# Debian's Chromium. Prints performance score, largest contentful paint, time
# to interactive and bytes transferred on a first visit.
# Usage: benches/lighthouse.sh http://127.0.0.1:3000/login [runs]
# A signed-in page: LIGHTHOUSE_COOKIE='bulkhead_session=…' benches/lighthouse.sh …/tenants
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:?a page address}"
runs="${2:-3}"
tools=target/tools
if [ ! -x "$tools/node_modules/.bin/lighthouse" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error lighthouse@12 >/dev/null
fi
chrome="$(command -v chromium || command -v chromium-browser)"
extra=()
if [ -n "${LIGHTHOUSE_COOKIE:-}" ]; then extra=(--extra-headers "{\"Cookie\": \"$LIGHTHOUSE_COOKIE\"}"); fi
for i in $(seq 1 "$runs"); do
  out="$tools/lighthouse-$i.json"
  "$tools/node_modules/.bin/lighthouse" "$url" --quiet --only-categories=performance \
    --chrome-path="$chrome" --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
    --output=json --output-path="$out" "${extra[@]}"
  node -e '
    const r = require(process.argv[1]);
    const a = r.audits;
    console.log([
      "score", r.categories.performance.score,
      "lcp_ms", Math.round(a["largest-contentful-paint"].numericValue),
      "tti_ms", Math.round(a["interactive"].numericValue),
      "transferred_kib", Math.round(a["total-byte-weight"].numericValue / 1024),
    ].join(" "));
  ' "$(realpath "$out")"
done
