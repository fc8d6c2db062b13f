#!/usr/bin/env bash
# A rank that dies must end the whole job with a non-zero status within a bounded time, not hang.
# Usage: dist_failure_test.sh MPIEXEC DIST_CRASH_BINARY MODE
set -uo pipefail
mpiexec=$1 binary=$2 mode=$3
limit=60
start=$(date +%s)
timeout "$limit" "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$binary" "$mode" >/tmp/dist_failure_$$.log 2>&1
status=$?
elapsed=$(($(date +%s) - start))
tail -n 20 /tmp/dist_failure_$$.log
rm -f /tmp/dist_failure_$$.log
echo "dist_failure_test: mode $mode: mpirun exited with $status after ${elapsed}s"
if [ "$status" -eq 124 ] || [ "$elapsed" -ge "$limit" ]; then
  echo "dist_failure_test: FAILED: the job hung until the ${limit}s timeout" >&2
  exit 1
fi
if [ "$status" -eq 0 ]; then
  echo "dist_failure_test: FAILED: the job exited 0 although a rank failed" >&2
  exit 1
fi
echo "dist_failure_test: passed"
