#pragma once
/// \file
/// Included first by the files of ops/kernels/ that are compiled once per instruction set
/// (*_isa.h, *_isa.cpp): CMake builds them as one object library per path, each with its own
/// -march and TAPEGRAD_KERNEL_NS (v2, v3, v4), the namespace tg::kernels::<path> that keeps the
/// copies' symbols apart. Nothing else may include them: a baseline file would get the baseline
/// copy, and code inlined from another path's copy could fault on CPUs without its instructions.

#if !defined(TAPEGRAD_KERNEL_NS)
#error "ops/kernels/*_isa files are compiled once per instruction set, with TAPEGRAD_KERNEL_NS set by CMake"
#endif
