#!/usr/bin/env bash
# Runs the commands of docs/forecasting-your-data.md: every line of a ```sh block that starts with
# `build/examples/forecast ` runs, in order, with the forecast binary given as the first argument,
# in a temporary directory where `data/` is the repository's (files the commands write go there).
# Each must exit with status 0 and print something. ctest: docs_forecasting.
# Usage: scripts/check_forecasting_doc.sh path/to/forecast
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
doc="$root/docs/forecasting-your-data.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$root/data" "$work/data"
commands=$(awk '/^```sh$/ { inblock = 1; next } /^```/ { inblock = 0; next }
                inblock && /^build\/examples\/forecast / { print }' "$doc")
[ -n "$commands" ] || { echo "$doc: no forecast command found"; exit 1; }
count=0
while IFS= read -r line; do
  args=${line#build/examples/forecast }
  echo "+ forecast $args"
  # shellcheck disable=SC2086  # the arguments are split as the shell of the guide would
  out=$(cd "$work" && "$bin" $args) || { echo "failed (status $?): $line"; exit 1; }
  [ -n "$out" ] || { echo "no output: $line"; exit 1; }
  echo "$out" | tail -3
  count=$((count + 1))
done <<<"$commands"
echo "docs_forecasting: the guide's $count commands ran"
