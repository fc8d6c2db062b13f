#pragma once
/// \file
/// The instruction-set path of the kernels (GEMM, fast tanh and sigmoid, the gate and row loops),
/// chosen at run time. The kernels are compiled once per path; at the first kernel call the CPU is
/// read and the best path it runs is taken, unless the environment variable TAPEGRAD_ISA names
/// another. docs/performance.md, "Kernels chosen at run time".
///
/// | path | instructions                         | TAPEGRAD_ISA and set_kernel_isa names |
/// |------|--------------------------------------|---------------------------------------|
/// | v2   | x86-64-v2 (SSE4.2): portable baseline | v2, x86-64-v2, baseline               |
/// | v3   | x86-64-v3 (AVX2, FMA)                 | v3, x86-64-v3, avx2                   |
/// | v4   | x86-64-v4 (AVX-512 F/BW/CD/DQ/VL)     | v4, x86-64-v4, avx512                 |
///
/// "auto" (or an empty TAPEGRAD_ISA) is the default choice. A TAPEGRAD_ISA this CPU cannot run,
/// or that names no path, is ignored with a warning on stderr (the default is taken); the
/// function throws instead.
///
///     tg::set_kernel_isa("avx2");       // the 256-bit kernels from here on
///     std::string_view p = tg::kernel_isa();  // "v3"

#include <tapegrad/core/config.h>

#include <string_view>
#include <vector>

namespace tg {

/// The path the kernels run now: "v2", "v3" or "v4".
std::string_view kernel_isa();

/// Makes the named path the kernels' path (names above, any case; "auto" for the default). Throws
/// ValueError when the name is unknown, or the path is not compiled into this build or needs
/// instructions this CPU (or its OS) does not run; the path is then unchanged. Call it while no
/// kernel runs on another thread: packed operands made on one path are not read by another.
void set_kernel_isa(std::string_view name);

/// The paths this build holds and this CPU runs, narrowest first ("v2" always).
std::vector<std::string_view> kernel_isas_available();

/// Whether the kernels flush subnormal floats to zero (the MXCSR's FTZ and DAZ) while they run a
/// product of at least 65536 multiply-adds: on by default, as in TensorFlow's CPU runtime, since
/// an operation on a subnormal operand takes a microcode assist (SimpleRNN(512) trained 10x
/// slower once its gradients reached them). The caller's floating-point mode is put back after
/// each product. Results change only where a value below the smallest normal number (1.2e-38
/// in float, 2.2e-308 in double) would have been read or written. Returns the previous setting;
/// without an MXCSR (not x86-64) it does nothing and returns false.
bool set_flush_denormal(bool on);
/// The setting set_flush_denormal last made (true at start on x86-64).
bool flush_denormal();

}  // namespace tg
