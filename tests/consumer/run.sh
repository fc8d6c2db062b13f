#!/usr/bin/env bash
# Installs a tapegrad build to a prefix and builds and runs the program beside this script
# against it four ways: through the CMake package and through pkg-config, each with the static
# and with the shared library (static only when the build has no shared library, as the
# sanitizer build by default). Run by ctest (test consumer_install); by hand:
#   bash tests/consumer/run.sh build /tmp/consumer [CXX] [extra CXXFLAGS] [compiler launcher]
set -euo pipefail
build=$(cd "$1" && pwd)
work=$2
cxx=${3:-c++}
extra_flags=${4:-}
launcher=${5:-}
src=$(cd "$(dirname "$0")" && pwd)
flags="-std=c++20 -O1 -Wall -Wextra -Wpedantic -Werror $extra_flags"

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
shared=0
[ -n "$(find "$prefix" -name 'libtapegrad.so*')" ] && shared=1
[ $shared = 1 ] || echo "(no shared library in this build: static only)"

# The static programs must not need libtapegrad.so; the shared ones must.
check_linkage() {  # program, static|shared
  if readelf -d "$1" | grep -q 'NEEDED.*libtapegrad\.so'; then
    [ "$2" = shared ] || { echo "FAIL: $1 needs libtapegrad.so" >&2; exit 1; }
  else
    [ "$2" = static ] || { echo "FAIL: $1 does not need libtapegrad.so" >&2; exit 1; }
  fi
}
run() {  # program, static|shared
  check_linkage "$1" "$2"
  echo "== $1"
  "$1"
}

echo "== CMake package: find_package(tapegrad CONFIG)"
cmake -S "$src" -B "$work/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
  ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} >"$work/cmake.log"
cmake --build "$work/cmake" -j2 >>"$work/cmake.log"
run "$work/cmake/consumer_static" static
if [ $shared = 1 ]; then run "$work/cmake/consumer_shared" shared; fi

echo "== CMake package: a newer major version is refused"
if cmake -S "$src/newer_major" -B "$work/newer_major" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$work/newer_major.log" 2>&1; then
  echo "FAIL: find_package(tapegrad 1.0) accepted the installed version" >&2
  exit 1
fi
grep -q 'considered but not accepted' "$work/newer_major.log"

echo "== pkg-config: tapegrad.pc"
pc=$(find "$prefix" -name tapegrad.pc)
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir tapegrad)
mkdir -p "$work/pc"
# shellcheck disable=SC2046,SC2086
${launcher} "$cxx" $flags $(pkg-config --cflags tapegrad) -c "$src/main.cpp" -o "$work/pc/main.o"
# The linker takes libtapegrad.so for -ltapegrad; -Bstatic around it picks libtapegrad.a.
libs=$(pkg-config --libs tapegrad)
if [ $shared = 1 ]; then
  # shellcheck disable=SC2086
  "$cxx" $extra_flags "$work/pc/main.o" -o "$work/pc/consumer_shared" $libs -Wl,-rpath,"$libdir"
fi
# shellcheck disable=SC2086
"$cxx" $extra_flags "$work/pc/main.o" -o "$work/pc/consumer_static" \
  ${libs/-ltapegrad/-Wl,-Bstatic -ltapegrad -Wl,-Bdynamic}
run "$work/pc/consumer_static" static
if [ $shared = 1 ]; then
  run "$work/pc/consumer_shared" shared
  echo "consumer_install: all four builds ran"
else
  echo "consumer_install: both static builds ran"
fi
