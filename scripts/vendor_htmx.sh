#!/usr/bin/env bash
# Re-vendor htmx 4 and its SSE extension from the npm registry into static/htmx/.
#
#   scripts/vendor_htmx.sh [version]      (default: the version in static/htmx/VERSION)
#
# Writes htmx.min.js, hx-sse.min.js, LICENSE, VERSION and SHA256SUMS. The
# tests check that the files match SHA256SUMS, so a hand edit is caught.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=static/htmx
version=${1:-$(cat "$dest/VERSION" 2>/dev/null || echo 4.0.1)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$version" >/dev/null && tar xzf htmx.org-*.tgz)
cp "$work/package/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$work/package/dist/ext/hx-sse.min.js" "$dest/hx-sse.min.js"
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "$version" > "$dest/VERSION"
(cd "$dest" && sha256sum htmx.min.js hx-sse.min.js LICENSE > SHA256SUMS)
echo "vendored htmx.org@$version into $dest"
