#!/usr/bin/env bash
# Open a report in headless Chromium (Debian `chromium`): a full-page PNG screenshot and a PDF
# beside it. Usage: docs/render-report.sh reports/<run-id>/report.html
# No network: the report is self-contained, and the flags keep Chromium from calling home.
set -euo pipefail
html="$(realpath "$1")"
out="${2:-$(dirname "$html")}"
browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
[ -n "$browser" ] || { echo "render-report: no chromium found (Debian: apt-get install chromium)" >&2; exit 2; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile")
"$browser" "${flags[@]}" --window-size=1100,6000 --screenshot="$out/report.png" "file://$html" 2>/dev/null
"$browser" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$out/report.pdf" "file://$html" 2>/dev/null
echo "$out/report.png"
echo "$out/report.pdf"
