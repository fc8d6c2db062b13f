#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the forecasting walkthrough (all
# fourteen models of the ch. 15 notebook, 20 epochs each). Extra arguments go to `forecast`
# (e.g. --plots plots --summary); see `build/examples/forecast --help`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh build -DTAPEGRAD_BUILD_TESTS=OFF >/dev/null
exec ./build/examples/forecast "$@"
