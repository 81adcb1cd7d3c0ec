#!/usr/bin/env bash
# Vendors the web UI's third-party files from the npm registry at pinned versions into
# host/src/ui/assets/, where the binary embeds them (no build step, no network at run time).
# Run it only to change a version; its output is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOT=1.6.32
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$UPLOT" >/dev/null && tar xzf "uplot-$UPLOT.tgz")
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" host/src/ui/assets/
cp "$work/package/LICENSE" host/src/ui/assets/uPlot.LICENSE
echo "uplot $UPLOT" > host/src/ui/assets/VERSIONS
