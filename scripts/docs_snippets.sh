#!/usr/bin/env bash
# Keeps the code in the Markdown documentation identical to compiled files. In README.md and
# docs/*.md a code block that follows a marker line
#     <!-- snippet: examples/docs/custom_op/softsign.h -->
# must be exactly that file (a path from the repository root); every ```cpp and ```cmake block
# must have a marker, so no code in the docs escapes the build. The files are built by
# examples/docs/ and examples/readme/ (and tests/consumer/ by the consumer_install test).
# Usage: scripts/docs_snippets.sh          check (ctest: docs_snippets); exit 1 on a difference
#        scripts/docs_snippets.sh --update  rewrite the Markdown from the files
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
update=0
[ "${1:-}" = --update ] && update=1

expected() {  # markdown file -> the same file with every marked block replaced by its snippet
  awk -v md="$1" '
    function fail(msg) { printf "%s:%d: %s\n", md, NR, msg > "/dev/stderr"; bad = 1 }
    /^<!-- snippet: .* -->$/ {
      path = $0; sub(/^<!-- snippet: /, "", path); sub(/ -->$/, "", path)
      print; marked = 1; next
    }
    /^```/ && !inblock {
      inblock = 1; lang = substr($0, 4)
      if (!marked && (lang == "cpp" || lang == "cmake")) fail("```" lang " block without a snippet marker")
      print
      if (marked) {
        r = (getline line < path)
        if (r < 0) fail("no file " path)
        while (r > 0) { print line; r = (getline line < path) }
        close(path)
        skipping = 1
      }
      marked = 0; next
    }
    /^```$/ && inblock { inblock = 0; skipping = 0; print; next }
    marked { fail("snippet marker not followed by a code block"); marked = 0 }
    !skipping { print }
    END { if (inblock) fail("unclosed code block"); exit bad }
  ' "$1"
}

status=0
for md in README.md docs/*.md; do
  tmp=$(mktemp)
  if ! expected "$md" >"$tmp"; then
    status=1
  elif ! cmp -s "$md" "$tmp"; then
    if [ $update = 1 ]; then
      cp "$tmp" "$md"
      echo "updated $md"
    else
      echo "$md: code differs from its snippet files (scripts/docs_snippets.sh --update):"
      diff -u "$md" "$tmp" | head -40 || true
      status=1
    fi
  fi
  rm -f "$tmp"
done
[ $status = 0 ] && [ $update = 0 ] && echo "docs_snippets: every marked block matches its file"
exit $status
