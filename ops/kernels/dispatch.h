#pragma once
/// \file
/// Kernels chosen at run time. The kernels (gemm_isa.cpp and the *_isa.h loops) are compiled once
/// per instruction-set path, each copy in its own namespace tg::kernels::v2, v3, v4 with its own
/// -march; each copy fills a KernelTable (table_isa.cpp). The entry points of gemm.h, rows.h,
/// unary.h, gated.h and conv.h call through the table of the active path, an indirect call.
///
/// Paths (x86-64 micro-architecture levels, as in the psABI):
/// - v2: x86-64-v2 (SSE4.2, POPCNT): the portable baseline, what the rest of the library is
///   built for. On other architectures the only path, built without -march.
/// - v3: x86-64-v3 (AVX2, FMA, BMI1/2, F16C, MOVBE): the 256-bit kernels.
/// - v4: x86-64-v4 (AVX-512 F, DQ, VL, BW, CD): the 512-bit kernels.
///
/// The CPU is read once, at the first kernel call (cpuid, and XGETBV for the OS's saving of the
/// YMM and ZMM state); the default is best_isa(), or the path named by the environment variable
/// TAPEGRAD_ISA (see isa_from_name; a path the CPU cannot run is refused with a warning on
/// stderr and the default taken instead). docs/performance.md, "Kernels chosen at run time".
/// The public face is ops/isa.h (tg::set_kernel_isa, tg::kernel_isa).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include <tapegrad/ops/kernels/gemm.h>

namespace tg::kernels {

struct Conv1dGeometry;  // conv.h

/// An instruction-set path of the kernels, in increasing order of what it needs.
enum class Isa : std::uint8_t { v2 = 0, v3 = 1, v4 = 2 };
inline constexpr int kIsaCount = 3;

/// "v2", "v3" or "v4".
std::string_view isa_name(Isa isa);
/// Whether this build holds a copy of the kernels for the path (CMake's TAPEGRAD_KERNEL_ISAS).
bool isa_compiled(Isa isa);
/// Whether this CPU and OS can run the path: its instructions (cpuid) and, for v3 and v4, the
/// YMM / ZMM and mask registers saved by the OS (XCR0 through XGETBV).
bool isa_runs(Isa isa);
/// The path taken by default: the widest one compiled that runs, except on AMD Zen 4 (family
/// 19h with AVX-512, 256-bit datapaths), where v3 is taken. Where it is v4 (and v3 is compiled),
/// the default also sends the thin float products (gemm with M, N or K equal to 1, but not
/// M = N = 1) to v3's kernels: uses_thin_v3(). Measurements: docs/performance.md, "Kernels chosen
/// at run time".
Isa best_isa();
/// Whether gemm(float) of this shape goes to v3 on the default v4 path (the rule above).
constexpr bool thin_product(std::int64_t m, std::int64_t n, std::int64_t k) {
  return (m == 1 || n == 1 || k == 1) && !(m == 1 && n == 1);
}
/// The path the kernels run now.
Isa active_isa();
/// Makes `isa` the active path, exactly its kernels (forced: TAPEGRAD_ISA, set_kernel_isa).
/// Precondition: isa_compiled(isa) && isa_runs(isa). Packed B buffers (gemm.h) belong to the
/// path that packed them: switch while no kernel runs.
void set_active_isa(Isa isa);
/// Makes the default the active path: best_isa(), with the thin products on v3 where that is v4.
void set_active_default();
/// Whether the active path sends thin float products to v3 (the default on a v4 CPU).
bool uses_thin_v3();

/// A path named by a user (TAPEGRAD_ISA, tg::set_kernel_isa): "v2", "v3", "v4", also
/// "x86-64-v2/v3/v4", "baseline", "avx2", "avx512", any case; "auto" or "" is best_isa().
struct IsaRequest {
  bool ok = false;
  bool automatic = false;  ///< "auto": the default, set_active_default()
  Isa isa = Isa::v2;
  std::string error;  ///< why not, when !ok: the name is unknown, not compiled, or cannot run
};
/// Resolves `name` against the paths compiled and the paths that run (`runs`, a bit per Isa,
/// the CPU's by default): the function behind the environment variable and set_kernel_isa.
IsaRequest isa_from_name(std::string_view name, unsigned runs);
IsaRequest isa_from_name(std::string_view name);

namespace detail {

/// One element type's kernels of one path.
template <class T>
struct TypedKernels {
  void (*gemm)(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*, std::int64_t,
               T, T*, std::int64_t, const T*, std::int64_t);
  std::int64_t (*packed_b_size)(std::int64_t, std::int64_t, std::int64_t);
  void (*pack_b_for)(bool, std::int64_t, std::int64_t, std::int64_t, const T*, std::int64_t, T*);
  void (*gemm_packed_b)(bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*, T, T*,
                        std::int64_t, const T*, std::int64_t);
  PackedPlan<T> (*plan_packed_b)(std::int64_t, std::int64_t, std::int64_t);
  // rows.h
  void (*copy_rows)(const T*, std::int64_t, T*, std::int64_t, std::int64_t, std::int64_t);
  void (*add_rows)(const T*, std::int64_t, T*, std::int64_t, std::int64_t, std::int64_t);
  void (*spread_rows)(const T*, T*, std::int64_t, std::int64_t, std::int64_t);
  void (*add_column_sums)(const T*, std::int64_t, std::int64_t, std::int64_t, T*);
  double (*squared_error_sum)(const T*, const T*, std::int64_t);
  void (*scaled_difference)(T, const T*, const T*, T*, std::int64_t, bool);
  // unary.h
  void (*tanh_forward)(const T*, T*, std::int64_t);
  void (*tanh_forward_spread)(const T*, T*, T*, std::int64_t, std::int64_t, std::int64_t);
  void (*tanh_grad_rows)(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t);
  void (*tanh_backward)(const T*, const T*, T*, std::int64_t);
  void (*tanh_grad_inplace)(const T*, T*, std::int64_t);
  void (*sigmoid_forward)(const T*, T*, std::int64_t);
  void (*sigmoid_backward)(const T*, const T*, T*, std::int64_t);
  void (*sigmoid_grad_inplace)(const T*, T*, std::int64_t);
  // gated.h
  void (*lstm_gates_forward)(T*, const T*, T*, T*, std::int64_t, std::int64_t);
  void (*lstm_gates_backward)(const T*, const T*, const T*, const T*, T*, T*, std::int64_t, std::int64_t, std::int64_t);
  void (*gru_gates_forward)(const T*, std::int64_t, T*, const T*, T*, std::int64_t, std::int64_t);
  void (*gru_gates_backward)(const T*, const T*, const T*, T*, T*, T*, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t);
  // conv.h
  void (*im2col_1d)(const Conv1dGeometry&, const T*, T*);
  void (*col2im_1d_add)(const Conv1dGeometry&, const T*, T*);
};

/// Every kernel of one path.
struct KernelTable {
  Isa isa;
  TypedKernels<float> f32;
  TypedKernels<double> f64;
  void (*gather_rows)(const void*, std::size_t, const std::int64_t*, std::int64_t, void*);

  template <class T>
  const TypedKernels<T>& of() const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "kernels exist for float and double");
    if constexpr (std::is_same_v<T, float>)
      return f32;
    else
      return f64;
  }
};

/// The active table; null until the first kernel call picks one (init_active).
extern std::atomic<const KernelTable*> g_active;
const KernelTable& init_active();

inline const KernelTable& active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  return t != nullptr ? *t : init_active();
}
template <class T>
inline const TypedKernels<T>& active_of() {
  return active().of<T>();
}

}  // namespace detail

}  // namespace tg::kernels
