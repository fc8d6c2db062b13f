#!/usr/bin/env bash
# Installs a tapegrad build to a prefix and uses it as other projects do, through the CMake
# package and through pkg-config, with the static and with the shared library (static only when
# the build has no shared library, as the sanitizer build by default). Every consumer compiles
# with -std=c++20 -Wall -Wextra -Wpedantic -Wshadow -Werror and has only <prefix>/include for
# tapegrad on its include path. One section per check:
#   - the installed headers: the public rooms only, nothing in them decided by build flags, each
#     compiles alone without a warning;
#   - main.cpp (a custom op and module, trained), built both ways; find_package(tapegrad) without
#     components must not look for MPI (no_mpi/FindMPI.cmake fails any lookup); a newer major
#     version is refused;
#   - clash/: a program with its own core/shape.h, nn/module.h and ops/matmul.h first on its
#     include path and tapegrad's headers not taken as system headers, trained with fit;
#   - the plain library and its programs know no MPI (readelf, nm, pkg-config --print-requires);
#   - compiled as C++17, the first error says that tapegrad needs C++20;
#   - the dist component (tapegrad::dist, tapegrad-dist.pc) both ways when the build has it, or
#     refused when it has not.
# Run by ctest (test consumer_install); by hand:
#   bash tests/consumer/run.sh build /tmp/consumer [CXX] [extra CXXFLAGS] [compiler launcher]
set -euo pipefail
build=$(cd "$1" && pwd)
work=$2
cxx=${3:-c++}
extra_flags=${4:-}
launcher=${5:-}
src=$(cd "$(dirname "$0")" && pwd)
flags="-std=c++20 -O1 -Wall -Wextra -Wpedantic -Wshadow -Werror $extra_flags"

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
inc=$prefix/include/tapegrad
shared=0
[ -n "$(find "$prefix" -name 'libtapegrad.so*')" ] && shared=1
[ $shared = 1 ] || echo "(no shared library in this build: static only)"
dist=0
[ -n "$(find "$prefix" -name libtapegrad_dist.a)" ] && dist=1
[ $dist = 1 ] || echo "(no tapegrad::dist in this build: its check is that it is refused)"
pc=$(find "$prefix" -name tapegrad.pc)
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir tapegrad)

fail() { echo "FAIL: $*" >&2; exit 1; }
# The static programs must not need libtapegrad.so; the shared ones must.
check_linkage() {  # program, static|shared
  if readelf -d "$1" | grep 'NEEDED.*libtapegrad\.so' >/dev/null; then
    [ "$2" = shared ] || fail "$1 needs libtapegrad.so"
  else
    [ "$2" = static ] || fail "$1 does not need libtapegrad.so"
  fi
}
# (grep without -q in pipes: an early exit would fail the pipe under pipefail)
needs_mpi() { readelf -d "$1" | grep -iE 'NEEDED.*(mpi|open-(pal|rte))' >/dev/null; }
plain_programs=()
run() {  # program, static|shared
  check_linkage "$1" "$2"
  echo "== $1"
  "$1"
  plain_programs+=("$1")
}
# Compiles one source against tapegrad.pc and links it twice: static and (when built) shared.
pc_build() {  # source, output stem, extra compile flags
  # shellcheck disable=SC2046,SC2086
  ${launcher} "$cxx" $flags $3 $(pkg-config --cflags tapegrad) -c "$1" -o "$2.o"
  local libs
  libs=$(pkg-config --libs tapegrad)
  # The linker takes libtapegrad.so for -ltapegrad; -Bstatic around it picks libtapegrad.a.
  # shellcheck disable=SC2086
  "$cxx" $extra_flags "$2.o" -o "$2_static" ${libs/-ltapegrad/-Wl,-Bstatic -ltapegrad -Wl,-Bdynamic}
  if [ $shared = 1 ]; then
    # shellcheck disable=SC2086
    "$cxx" $extra_flags "$2.o" -o "$2_shared" $libs -Wl,-rpath,"$libdir"
  fi
}
cmake_configure() {  # source dir, build dir, extra arguments
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
    ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} "${@:3}"
}
# Runs a command with its output appended to a log, which is shown when the command fails.
logged() {  # log, command...
  "${@:2}" >>"$1" 2>&1 || { tail -n 40 "$1" >&2; fail "$(basename "$2") failed (log: $1)"; }
}

echo "== installed headers: the public rooms, nothing decided by build flags"
[ -f "$inc/tapegrad.h" ] || fail "no tapegrad/tapegrad.h in $prefix/include"
[ ! -e "$inc/ops/kernels" ] || fail "ops/kernels/ was installed: it is internal"
if [ $dist = 1 ]; then
  [ -f "$inc/nn/dist/dist.h" ] || fail "tapegrad::dist is installed without nn/dist/dist.h"
else
  [ ! -e "$inc/nn/dist" ] || fail "nn/dist/ was installed without tapegrad::dist"
fi
# The library is built with -march=native, -O3, and TAPEGRAD_ definitions of its own; a header
# that tested them (__AVX2__, NDEBUG through assert, TAPEGRAD_NO_POOL) would show a consumer
# other declarations than the library was built with. A header may test the language version
# (core/config.h's C++20 check) and the compiler (__GNUC__, __has_include), nothing a build
# chooses, and includes no intrinsics or MPI header.
allowed_in_if='defined|__cplusplus|__GNUC__|__clang__|_MSC_VER'
allowed_in_if+='|__has_(include|cpp_attribute|attribute|builtin)'
while IFS= read -r line; do
  # the names in the condition, without the directive, file:line and numbers (202002L)
  names=$(sed -E 's/^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*[a-z]+//; s/\b[0-9][[:alnum:]]*//g' \
            <<<"$line" | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | grep -vxE "$allowed_in_if" |
            tr '\n' ' ' || true)
  [ -z "$names" ] || fail "${line#"$inc"/}: a public header tests $names"
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*(if|ifdef|ifndef|elif)\b' "$inc" || true)
if found=$(grep -rnE -e '\bassert[[:space:]]*\(' \
    -e '#[[:space:]]*include[[:space:]]*<([a-z]*intrin|arm_neon|mpi)\.h>' "$inc"); then
  fail "a public header depends on build flags or MPI: ${found//"$inc"\//}"
fi

echo "== installed headers: each compiles alone, with the consumer's own headers, warning-free"
count=0
while IFS= read -r header; do
  # shellcheck disable=SC2046,SC2086
  if ! printf '#include <tapegrad/%s>\n' "${header#"$inc"/}" |
      "$cxx" $flags -I"$src/clash/include" $(pkg-config --cflags tapegrad) -x c++ -fsyntax-only -
  then
    fail "<tapegrad/${header#"$inc"/}> does not compile alone"
  fi
  count=$((count + 1))
done < <(find "$inc" -name '*.h' | sort)
echo "   $count headers"

echo "== CMake package: find_package(tapegrad CONFIG), which looks for no MPI"
logged "$work/cmake.log" cmake_configure "$src" "$work/cmake" -DCMAKE_MODULE_PATH="$src/no_mpi"
logged "$work/cmake.log" cmake --build "$work/cmake" -j2
run "$work/cmake/consumer_static" static
if [ $shared = 1 ]; then run "$work/cmake/consumer_shared" shared; fi

echo "== CMake package: a newer major version is refused"
if cmake -S "$src/newer_major" -B "$work/newer_major" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$work/newer_major.log" 2>&1; then
  fail "find_package(tapegrad 1.0) accepted the installed version"
fi
grep -q 'considered but not accepted' "$work/newer_major.log" ||
  fail "find_package(tapegrad 1.0) failed for another reason: see $work/newer_major.log"

echo "== pkg-config: tapegrad.pc, which requires fmt only"
requires=$(pkg-config --print-requires tapegrad; pkg-config --print-requires-private tapegrad)
[ "$(awk '{print $1}' <<<"$requires")" = fmt ] || fail "tapegrad.pc requires: $requires"
line=$(pkg-config --static --cflags --libs tapegrad)
line=${line//"$prefix"/<prefix>}  # the prefix's own name may hold anything
if grep -iE 'mpi|open-(pal|rte)' <<<"$line" >/dev/null; then
  fail "tapegrad.pc mentions MPI: $line"
fi
mkdir -p "$work/pc"
pc_build "$src/main.cpp" "$work/pc/consumer" ""
run "$work/pc/consumer_static" static
if [ $shared = 1 ]; then run "$work/pc/consumer_shared" shared; fi

echo "== own core/shape.h, nn/module.h, ops/matmul.h first on the path: CMake package"
logged "$work/clash.log" cmake_configure "$src/clash" "$work/clash_cmake" \
  -DCMAKE_MODULE_PATH="$src/no_mpi"
logged "$work/clash.log" cmake --build "$work/clash_cmake" -j2
run "$work/clash_cmake/clash_static" static
if [ $shared = 1 ]; then run "$work/clash_cmake/clash_shared" shared; fi

echo "== own core/shape.h, nn/module.h, ops/matmul.h first on the path: pkg-config"
mkdir -p "$work/clash_pc"
pc_build "$src/clash/main.cpp" "$work/clash_pc/clash" "-I$src/clash/include"
run "$work/clash_pc/clash_static" static
if [ $shared = 1 ]; then run "$work/clash_pc/clash_shared" shared; fi

echo "== no MPI in the plain library or in the ${#plain_programs[@]} programs built on it"
if nm -u "$libdir/libtapegrad.a" 2>/dev/null | grep -E ' U (P?MPI_|ompi_)' >/dev/null; then
  fail "libtapegrad.a calls MPI"
fi
if [ $shared = 1 ] && needs_mpi "$libdir/libtapegrad.so"; then fail "libtapegrad.so needs MPI"; fi
for program in "${plain_programs[@]}"; do
  if needs_mpi "$program"; then
    fail "$program needs MPI: $(readelf -d "$program" | grep NEEDED)"
  fi
done

echo "== C++17: the first error says that tapegrad needs C++20"
for header in tapegrad.h nn/layers/dense.h; do
  log=$work/cxx17_${header//\//_}.log
  # shellcheck disable=SC2086
  if printf '#include <tapegrad/%s>\nint main() {}\n' "$header" |
      "$cxx" ${flags/-std=c++20/-std=c++17} -I"$prefix/include" -x c++ -fsyntax-only - \
        2>"$log"; then
    fail "<tapegrad/$header> compiled as C++17"
  fi
  first=$(grep -m1 'error:' "$log" || true)
  case $first in
    *C++20*) echo "   <tapegrad/$header>: ${first#*error: }" ;;
    *) fail "<tapegrad/$header> as C++17: the first error is not about C++20: ${first:-none}" ;;
  esac
done

if [ $dist = 1 ]; then
  echo "== dist component: find_package(tapegrad COMPONENTS dist), tapegrad::dist"
  logged "$work/dist_cmake.log" cmake_configure "$src/dist" "$work/dist_cmake"
  logged "$work/dist_cmake.log" cmake --build "$work/dist_cmake" -j2
  # Started without an MPI launcher: a world of one.
  env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK "$work/dist_cmake/consumer_dist"
  needs_mpi "$work/dist_cmake/consumer_dist" || fail "consumer_dist does not need MPI"

  echo "== dist component: it does look for MPI (the no-MPI check above would see it)"
  if cmake_configure "$src/dist" "$work/dist_no_mpi" -DCMAKE_MODULE_PATH="$src/no_mpi" \
      >"$work/dist_no_mpi.log" 2>&1; then
    fail "find_package(tapegrad COMPONENTS dist) configured without looking for MPI"
  fi
  grep -q 'find_package(MPI) was called' "$work/dist_no_mpi.log" ||
    fail "the dist consumer failed for another reason: see $work/dist_no_mpi.log"

  echo "== dist component: pkg-config --cflags --libs [--static] tapegrad-dist"
  mkdir -p "$work/dist_pc"
  for static in "" --static; do  # --static: the line docs/getting-started.md gives
    program=$work/dist_pc/consumer_dist${static:+_static}
    # shellcheck disable=SC2046,SC2086
    ${launcher} "$cxx" $flags "$src/dist/main.cpp" -o "$program" \
      $(pkg-config --cflags --libs $static tapegrad-dist) -Wl,-rpath,"$libdir"
    env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK "$program"
    needs_mpi "$program" || fail "$program does not need MPI"
  done
else
  echo "== dist component: not built, so not installed and refused"
  ! pkg-config --exists tapegrad-dist || fail "tapegrad-dist.pc installed without the library"
  if cmake_configure "$src/dist" "$work/dist_cmake" >"$work/dist_cmake.log" 2>&1; then
    fail "find_package(tapegrad REQUIRED COMPONENTS dist) succeeded without tapegrad::dist"
  fi
  grep -q 'built without its dist component' "$work/dist_cmake.log" ||
    fail "find_package(tapegrad COMPONENTS dist) did not say why: see $work/dist_cmake.log"
fi

if [ $dist = 1 ]; then
  echo "consumer_install: ${#plain_programs[@]} programs ran, and 3 on tapegrad::dist"
else
  echo "consumer_install: ${#plain_programs[@]} programs ran"
fi
