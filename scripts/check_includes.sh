#!/usr/bin/env bash
# Checks the include rules of the library's rooms (each folder's README.md says its own):
#   - includes point down only: a file includes tapegrad headers only from the rooms listed
#     for its own room below (core knows no op, kernels know no tape or tensor, optim knows no
#     module, data knows no layer, nothing below nn/dist knows MPI);
#   - tapegrad headers are included as <tapegrad/...>, never by a quoted path, so a user's own
#     core/shape.h can never be taken for tapegrad's;
#   - every public header includes <tapegrad/core/config.h> first (the C++20 check).
# Run by ctest (include_rules) and by hand: bash scripts/check_includes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# room -> the rooms its files may include (besides the standard library and fmt)
declare -A allowed=(
  [core]="core"
  [ops/kernels]="ops/kernels"
  [ops]="core ops ops/kernels"
  [optim]="core optim"
  [data]="core ops data"
  [nn/layers]="core ops ops/kernels nn/layers"
  [nn/training]="core ops ops/kernels optim data nn/layers nn/training"
  [nn/recurrent]="core ops ops/kernels optim data nn/layers nn/training nn/recurrent"
  [nn/dist]="core ops optim data nn/layers nn/training nn/dist"
)
rooms=(ops/kernels core ops optim data nn/layers nn/training nn/recurrent nn/dist)

fail=0
complain() { echo "include rules: $*" >&2; fail=1; }

for room in "${rooms[@]}"; do
  for f in "$room"/*.h "$room"/*.cpp; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do
      n=${line%%:*}
      inc=${line#*:}
      case $inc in
        *'#include "'*)
          complain "$f:$n: quoted include ${inc#*#include }: write <tapegrad/...>" ;;
        *'#include <tapegrad/'*)
          target=${inc#*<tapegrad/}
          target=${target%%>*}
          target_room=$(dirname "$target")
          ok=0
          for a in ${allowed[$room]}; do [ "$target_room" = "$a" ] && ok=1; done
          [ $ok = 1 ] || complain "$f:$n: $room/ may not include <tapegrad/$target> (allowed: ${allowed[$room]})"
          ;;
      esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" || true)
    if [[ $f == *.h && $room != ops/kernels ]]; then
      first=$(grep -m1 '^#include' "$f" || true)
      [ "$first" = "#include <tapegrad/core/config.h>" ] || [ "$f" = core/config.h ] ||
        complain "$f: the first include must be <tapegrad/core/config.h>, found '${first}'"
    fi
  done
done

# The umbrella header hands users everything but the optional MPI target.
while IFS= read -r line; do
  case $line in
    *'<tapegrad/nn/dist/'*) complain "include/tapegrad/tapegrad.h: includes ${line#*#include }, which only tapegrad::dist has" ;;
    *'#include "'*) complain "include/tapegrad/tapegrad.h: quoted include ${line#*#include }" ;;
  esac
done < <(grep '^#include' include/tapegrad/tapegrad.h)
[ "$(grep -m1 '^#include' include/tapegrad/tapegrad.h)" = "#include <tapegrad/core/config.h>" ] ||
  complain "include/tapegrad/tapegrad.h: the first include must be <tapegrad/core/config.h>"

# Every source file of the library lives in a room the rules know.
while IFS= read -r f; do
  room=$(dirname "$f")
  [ -n "${allowed[$room]+x}" ] || complain "$f: room $room/ has no include rule in scripts/check_includes.sh"
done < <(find core ops optim data nn -name '*.h' -o -name '*.cpp' | sort)

if [ $fail = 0 ]; then
  echo "include rules: ${#rooms[@]} rooms checked, every include points down"
fi
exit $fail
