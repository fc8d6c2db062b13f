#!/usr/bin/env bash
# Installs what the build and the tests need, with apt-get, only when it is missing.
# Usage: scripts/setup.sh [extra Debian packages...]
set -euo pipefail

packages=(cmake ninja-build g++ libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev pkg-config doxygen
  libopenmpi-dev openmpi-bin libcli11-dev clang-format "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install packages (run as root or with sudo)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Optional: clang and libFuzzer for scripts/fuzz.sh (which skips, saying so, when they are missing).
fuzz_packages=(clang libclang-rt-14-dev)
fuzz_missing=()
for p in "${fuzz_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || fuzz_missing+=("$p")
done
if [ ${#fuzz_missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${fuzz_missing[*]} (for fuzzing)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${fuzz_missing[@]}" >/dev/null; } ||
    echo "setup: could not install ${fuzz_missing[*]}: scripts/fuzz.sh will skip" >&2
fi
