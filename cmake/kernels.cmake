# The kernels compiled once per instruction-set path (ops/kernels/*_isa.cpp; see
# ops/kernels/README.md and docs/performance.md, "Kernels chosen at run time"). Each path is an
# OBJECT library with its own -march and its own namespace tg::kernels::<path>; the library holds
# every copy and ops/kernels/dispatch.cpp picks one at run time.
#
#   TAPEGRAD_KERNEL_ISAS  the paths to compile (x86-64: v2;v3;v4 by default; v2 always, the
#                         baseline). Elsewhere only v2, built for the target's default.
#
# Included from the top-level CMakeLists.txt after tapegrad_common_flags is defined; sets
# TAPEGRAD_KERNEL_ISA_SOURCES and defines tapegrad_add_kernel_objects().

file(GLOB TAPEGRAD_KERNEL_ISA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/ops/kernels/*_isa.cpp)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(TAPEGRAD_X86_64 ON)
  set(TAPEGRAD_KERNEL_ISAS_DEFAULT "v2;v3;v4")
else()
  set(TAPEGRAD_X86_64 OFF)
  set(TAPEGRAD_KERNEL_ISAS_DEFAULT "v2")
endif()
set(TAPEGRAD_KERNEL_ISAS "${TAPEGRAD_KERNEL_ISAS_DEFAULT}" CACHE STRING
  "Instruction-set paths of the kernels to compile (v2 is the baseline and always built; x86-64: v3, v4)")
if(NOT "v2" IN_LIST TAPEGRAD_KERNEL_ISAS)
  list(PREPEND TAPEGRAD_KERNEL_ISAS v2)
endif()
foreach(isa IN LISTS TAPEGRAD_KERNEL_ISAS)
  if(NOT isa MATCHES "^v[234]$" OR (NOT TAPEGRAD_X86_64 AND NOT isa STREQUAL "v2"))
    message(FATAL_ERROR "TAPEGRAD_KERNEL_ISAS: '${isa}' is no kernel path here (x86-64: v2, v3, v4; elsewhere v2)")
  endif()
endforeach()

# Each path's flags. v4 keeps auto-vectorised loops at 256 bits as GCC tunes every AVX-512 Intel
# core (-march=native on them): the 512-bit code is the written-out kernels'. GCC 12's SLP
# vectorizer miscompiles for AVX-512 (the top-level CMakeLists.txt says how): off for v4.
set(TAPEGRAD_KERNEL_FLAGS_v2 "")
set(TAPEGRAD_KERNEL_FLAGS_v3 -march=x86-64-v3)
set(TAPEGRAD_KERNEL_FLAGS_v4 -march=x86-64-v4 -mprefer-vector-width=256)
if(TAPEGRAD_X86_64)
  set(TAPEGRAD_KERNEL_FLAGS_v2 -march=x86-64-v2)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND TAPEGRAD_KERNEL_FLAGS_v4 -fno-tree-slp-vectorize)
endif()
# A native build (TAPEGRAD_NATIVE) tunes every copy for the building CPU too; the instruction
# sets stay per path, so it still runs anywhere a path runs.
if(TAPEGRAD_NATIVE)
  foreach(isa v2 v3 v4)
    list(APPEND TAPEGRAD_KERNEL_FLAGS_${isa} -mtune=native)
  endforeach()
endif()

# tapegrad_add_kernel_objects(<out-var> <suffix> [PIC]): one OBJECT library per path
# (tapegrad_kernels_<path><suffix>); <out-var> gets their $<TARGET_OBJECTS:...>.
function(tapegrad_add_kernel_objects out suffix)
  set(objects "")
  foreach(isa IN LISTS TAPEGRAD_KERNEL_ISAS)
    set(target tapegrad_kernels_${isa}${suffix})
    add_library(${target} OBJECT ${TAPEGRAD_KERNEL_ISA_SOURCES})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include)
    target_compile_definitions(${target} PRIVATE TAPEGRAD_KERNEL_NS=${isa})
    target_compile_options(${target} PRIVATE -O3 ${TAPEGRAD_KERNEL_FLAGS_${isa}})
    target_link_libraries(${target} PRIVATE tapegrad_common_flags)
    if("PIC" IN_LIST ARGN)
      set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
      target_compile_options(${target} PRIVATE -fno-semantic-interposition)
    endif()
    list(APPEND objects $<TARGET_OBJECTS:${target}>)
  endforeach()
  set(${out} ${objects} PARENT_SCOPE)
endfunction()

# Which tables ops/kernels/dispatch.cpp may point to.
set(TAPEGRAD_KERNEL_DEFINITIONS "")
foreach(isa IN LISTS TAPEGRAD_KERNEL_ISAS)
  string(TOUPPER ${isa} upper)
  list(APPEND TAPEGRAD_KERNEL_DEFINITIONS TAPEGRAD_KERNELS_${upper})
endforeach()
message(STATUS "tapegrad: kernel paths ${TAPEGRAD_KERNEL_ISAS}")
