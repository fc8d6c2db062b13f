#!/usr/bin/env bash
# The kernels' per-path copies (ops/kernels/*_isa.cpp, one OBJECT library per path, see
# cmake/kernels.cmake) define no symbol outside their own namespace tg::kernels::<path>. A
# function they emitted under a shared name (an inline function or a template of a header, kept
# out of line) would be one definition among the copies and the baseline code, and the linker
# could keep the AVX-512 one for every caller: SIGILL on a CPU without it.
# Usage: scripts/check_isa_symbols.sh BUILD_DIR  (run by ctest as isa_symbols)
set -euo pipefail
dir=${1:?usage: check_isa_symbols.sh BUILD_DIR}
fail=0
found=0
for objdir in "$dir"/CMakeFiles/tapegrad_kernels_v*.dir; do
  [ -d "$objdir" ] || continue
  name=$(basename "$objdir" .dir)
  isa=${name#tapegrad_kernels_}
  isa=${isa%_pic}
  while IFS= read -r -d '' obj; do
    found=1
    # Defined symbols visible to the linker: global (T D B R V) or weak (W V u i).
    # AddressSanitizer's ODR indicators (__odr_asan.<mangled name>) are its own, one per global;
    # DW.ref.__gxx_personality_v0 is the compiler's pointer to the C++ unwinder's personality
    # routine, the same data in every object with unwind tables (no code of any path).
    bad=$(nm -C --defined-only "$obj" | awk '$2 ~ /^[TDBRWVui]$/' | grep -v " tg::kernels::${isa}::" |
      grep -v " __odr_asan\." | grep -v " DW\.ref\.__gxx_personality_v0$" || true)
    if [ -n "$bad" ]; then
      echo "check_isa_symbols: $obj defines symbols outside tg::kernels::${isa}:" >&2
      echo "$bad" >&2
      fail=1
    fi
  done < <(find "$objdir" -name '*.o' -print0)
done
[ $found = 1 ] || { echo "check_isa_symbols: no kernel objects under $dir (build the library first)" >&2; exit 1; }
[ $fail = 0 ] && echo "check_isa_symbols: every per-path symbol is in its namespace"
exit $fail
