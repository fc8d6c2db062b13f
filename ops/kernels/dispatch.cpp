// Run-time choice of the kernels' instruction-set path (dispatch.h). Compiled once, for the
// library's baseline, like everything outside the *_isa files.
#include <tapegrad/ops/kernels/dispatch.h>
#include <tapegrad/ops/kernels/denormal.h>
#include <tapegrad/ops/kernels/gemm.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TG_X86 1
#else
#define TG_X86 0
#endif

namespace tg::kernels {

// The tables of the paths this build compiled (CMake defines TAPEGRAD_KERNELS_<path> for each).
namespace v2 {
extern const detail::KernelTable table;
}
#if defined(TAPEGRAD_KERNELS_V3)
namespace v3 {
extern const detail::KernelTable table;
}
#endif
#if defined(TAPEGRAD_KERNELS_V4)
namespace v4 {
extern const detail::KernelTable table;
}
#endif

namespace {

const detail::KernelTable* table_of(Isa isa) {
  switch (isa) {
    case Isa::v2: return &v2::table;
    case Isa::v3:
#if defined(TAPEGRAD_KERNELS_V3)
      return &v3::table;
#else
      return nullptr;
#endif
    case Isa::v4:
#if defined(TAPEGRAD_KERNELS_V4)
      return &v4::table;
#else
      return nullptr;
#endif
  }
  return nullptr;
}

struct CpuInfo {
  unsigned runs = 1u << static_cast<unsigned>(Isa::v2);  // a bit per Isa
  bool zen4 = false;                                     // AMD family 19h with AVX-512
};

#if TG_X86
std::uint64_t xcr0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

CpuInfo read_cpu() {
  CpuInfo info;
  unsigned max_leaf = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &max_leaf, &ebx, &ecx, &edx) == 0) return info;
  const bool amd = ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;  // "AuthenticAMD"
  unsigned eax1 = 0, ebx1 = 0, ecx1 = 0, edx1 = 0;
  __get_cpuid(1, &eax1, &ebx1, &ecx1, &edx1);
  unsigned ebx7 = 0, ecx7 = 0, edx7 = 0, eax7 = 0;
  if (max_leaf >= 7) __cpuid_count(7, 0, eax7, ebx7, ecx7, edx7);
  unsigned eax81 = 0, ebx81 = 0, ecx81 = 0, edx81 = 0;
  __get_cpuid(0x80000001u, &eax81, &ebx81, &ecx81, &edx81);
  auto bit = [](unsigned reg, int b) { return ((reg >> b) & 1u) != 0; };

  // x86-64-v2: CMPXCHG16B, LAHF/SAHF, POPCNT, SSE3, SSE4.1, SSE4.2, SSSE3 (the baseline this build
  // needs anyway: no path below it exists).
  // x86-64-v3: AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, OSXSAVE, and the OS saving the
  // SSE and YMM state (XCR0 bits 1 and 2).
  const bool osxsave = bit(ecx1, 27);
  const std::uint64_t xcr = osxsave ? xcr0() : 0;
  const bool ymm_saved = (xcr & 0x6u) == 0x6u;
  const bool v3 = ymm_saved && bit(ecx1, 28) /*AVX*/ && bit(ebx7, 5) /*AVX2*/ && bit(ebx7, 3) /*BMI1*/ &&
                  bit(ebx7, 8) /*BMI2*/ && bit(ecx1, 29) /*F16C*/ && bit(ecx1, 12) /*FMA*/ && bit(ecx81, 5) /*LZCNT*/ &&
                  bit(ecx1, 22) /*MOVBE*/;
  // x86-64-v4: AVX512F, BW, CD, DQ, VL, and the opmask and ZMM state saved (XCR0 bits 5-7).
  const bool zmm_saved = (xcr & 0xe6u) == 0xe6u;
  const bool v4 = v3 && zmm_saved && bit(ebx7, 16) /*F*/ && bit(ebx7, 30) /*BW*/ && bit(ebx7, 28) /*CD*/ &&
                  bit(ebx7, 17) /*DQ*/ && bit(ebx7, 31) /*VL*/;
  if (v3) info.runs |= 1u << static_cast<unsigned>(Isa::v3);
  if (v4) info.runs |= 1u << static_cast<unsigned>(Isa::v4);
  const unsigned family = ((eax1 >> 8) & 0xfu) + (((eax1 >> 8) & 0xfu) == 0xfu ? (eax1 >> 20) & 0xffu : 0u);
  info.zen4 = amd && family == 0x19 && v4;
  return info;
}
#else
CpuInfo read_cpu() { return {}; }
#endif

const CpuInfo& cpu() {
  static const CpuInfo info = read_cpu();
  return info;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string names_of(unsigned runs) {
  std::string out;
  for (int i = 0; i < kIsaCount; ++i) {
    const auto isa = static_cast<Isa>(i);
    if (((runs >> i) & 1u) == 0 || !isa_compiled(isa)) continue;
    if (!out.empty()) out += ", ";
    out += isa_name(isa);
  }
  return out;
}

Isa best_of(unsigned runs, bool zen4) {
  Isa best = Isa::v2;
  for (int i = 0; i < kIsaCount; ++i) {
    const auto isa = static_cast<Isa>(i);
    if (((runs >> i) & 1u) != 0 && isa_compiled(isa)) best = isa;
  }
  // Zen 4 runs AVX-512 on 256-bit datapaths: its 512-bit kernels lose to the 256-bit ones on the
  // small products of the recurrent steps (docs/performance.md, "Kernels chosen at run time").
  if (best == Isa::v4 && zen4 && isa_compiled(Isa::v3)) best = Isa::v3;
  return best;
}

// The default on a v4 CPU: v4's kernels, but gemm(float) on thin shapes through v3's, which are
// 20-30 % faster there on this project's Xeon (docs/performance.md, "Kernels chosen at run time").
#if defined(TAPEGRAD_KERNELS_V3) && defined(TAPEGRAD_KERNELS_V4)
void gemm_v4_thin_v3(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
                     std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                     const float* bias, std::int64_t ld_bias) {
  (thin_product(m, n, k) ? v3::table : v4::table)
      .f32.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
}
const detail::KernelTable* v4_default_table() {
  static const detail::KernelTable t = [] {
    detail::KernelTable copy = v4::table;
    copy.f32.gemm = &gemm_v4_thin_v3;
    return copy;
  }();
  return &t;
}
#endif

// The table of the default path.
const detail::KernelTable* default_table() {
  const Isa best = best_isa();
#if defined(TAPEGRAD_KERNELS_V3) && defined(TAPEGRAD_KERNELS_V4)
  if (best == Isa::v4) return v4_default_table();
#endif
  return table_of(best);
}

std::mutex& select_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::v2: return "v2";
    case Isa::v3: return "v3";
    case Isa::v4: return "v4";
  }
  return "?";
}

bool isa_compiled(Isa isa) { return table_of(isa) != nullptr; }

bool isa_runs(Isa isa) { return ((cpu().runs >> static_cast<unsigned>(isa)) & 1u) != 0; }

Isa best_isa() { return best_of(cpu().runs, cpu().zen4); }

IsaRequest isa_from_name(std::string_view name, unsigned runs) {
  IsaRequest r;
  const std::string n = lower(name);
  if (n.empty() || n == "auto") {
    r.ok = true;
    r.automatic = true;
    r.isa = best_of(runs, cpu().zen4);
    return r;
  }
  if (n == "v2" || n == "x86-64-v2" || n == "baseline") {
    r.isa = Isa::v2;
  } else if (n == "v3" || n == "x86-64-v3" || n == "avx2") {
    r.isa = Isa::v3;
  } else if (n == "v4" || n == "x86-64-v4" || n == "avx512") {
    r.isa = Isa::v4;
  } else {
    r.error = "unknown kernel path '" + std::string(name) +
              "': expected auto, v2 (baseline), v3 (avx2) or v4 (avx512); this CPU runs " + names_of(runs);
    return r;
  }
  if (!isa_compiled(r.isa)) {
    r.error = "kernel path " + std::string(isa_name(r.isa)) +
              " is not compiled into this build (CMake TAPEGRAD_KERNEL_ISAS); it has " + names_of(~0u);
    return r;
  }
  if (((runs >> static_cast<unsigned>(r.isa)) & 1u) == 0) {
    r.error = "kernel path " + std::string(isa_name(r.isa)) + " needs instructions this CPU or OS does not run; " +
              "it runs " + names_of(runs);
    return r;
  }
  r.ok = true;
  return r;
}

IsaRequest isa_from_name(std::string_view name) { return isa_from_name(name, cpu().runs); }

Isa active_isa() { return detail::active().isa; }

void set_active_isa(Isa isa) {
  const detail::KernelTable* t = table_of(isa);
  if (t == nullptr || !isa_runs(isa)) std::abort();  // a broken precondition, not a user error
  const std::lock_guard<std::mutex> lock(select_mutex());
  detail::g_active.store(t, std::memory_order_release);
}

void set_active_default() {
  const std::lock_guard<std::mutex> lock(select_mutex());
  detail::g_active.store(default_table(), std::memory_order_release);
}

bool uses_thin_v3() {
#if defined(TAPEGRAD_KERNELS_V3) && defined(TAPEGRAD_KERNELS_V4)
  return &detail::active() == v4_default_table();
#else
  return false;
#endif
}

namespace detail {

constinit std::atomic<const KernelTable*> g_active{nullptr};

const KernelTable& init_active() {
  const std::lock_guard<std::mutex> lock(select_mutex());
  if (const KernelTable* t = g_active.load(std::memory_order_acquire)) return *t;
  const KernelTable* t = default_table();
  if (const char* env = std::getenv("TAPEGRAD_ISA"); env != nullptr && *env != '\0') {
    const IsaRequest r = isa_from_name(env);
    if (r.ok && !r.automatic)
      t = table_of(r.isa);
    else if (!r.ok)
      std::fprintf(stderr, "tapegrad: TAPEGRAD_ISA=%s ignored: %s; using %s\n", env, r.error.c_str(),
                   std::string(isa_name(t->isa)).c_str());
  }
  g_active.store(t, std::memory_order_release);
  return *t;
}

}  // namespace detail

// gemm.h's entry points.
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc, const float* bias,
          std::int64_t ld_bias) {
  if (m * n * k < kFlushMinMacs)
    return detail::active().f32.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
  const FlushDenormalScope flush;
  detail::active().f32.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc,
          const double* bias, std::int64_t ld_bias) {
  if (m * n * k < kFlushMinMacs)
    return detail::active().f64.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
  const FlushDenormalScope flush;
  detail::active().f64.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
}

template <class T>
std::int64_t packed_b_size(std::int64_t m, std::int64_t n, std::int64_t k) {
  return detail::active_of<T>().packed_b_size(m, n, k);
}
template std::int64_t packed_b_size<float>(std::int64_t, std::int64_t, std::int64_t);
template std::int64_t packed_b_size<double>(std::int64_t, std::int64_t, std::int64_t);

template <class T>
void pack_b_for(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* b, std::int64_t ldb, T* packed) {
  detail::active_of<T>().pack_b_for(trans_b, m, n, k, b, ldb, packed);
}
template void pack_b_for<float>(bool, std::int64_t, std::int64_t, std::int64_t, const float*, std::int64_t, float*);
template void pack_b_for<double>(bool, std::int64_t, std::int64_t, std::int64_t, const double*, std::int64_t, double*);

template <class T>
void gemm_packed_b(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
                   const T* packed_b, T beta, T* c, std::int64_t ldc, const T* bias, std::int64_t ld_bias) {
  if (m * n * k < kFlushMinMacs)
    return detail::active_of<T>().gemm_packed_b(trans_a, m, n, k, alpha, a, lda, packed_b, beta, c, ldc, bias, ld_bias);
  const FlushDenormalScope flush;
  detail::active_of<T>().gemm_packed_b(trans_a, m, n, k, alpha, a, lda, packed_b, beta, c, ldc, bias, ld_bias);
}

namespace detail {
constinit std::atomic<bool> g_flush_denormal{true};

template <class T>
void gemm_planned_flushed(const PackedPlan<T>& plan, const T* a, std::int64_t lda, const T* packed_b, T beta, T* c,
                          std::int64_t ldc, const T* bias, std::int64_t ld_bias) {
  const FlushDenormalScope flush;
  gemm_planned_here(plan, a, lda, packed_b, beta, c, ldc, bias, ld_bias);
}
template void gemm_planned_flushed<float>(const PackedPlan<float>&, const float*, std::int64_t, const float*, float,
                                          float*, std::int64_t, const float*, std::int64_t);
template void gemm_planned_flushed<double>(const PackedPlan<double>&, const double*, std::int64_t, const double*,
                                           double, double*, std::int64_t, const double*, std::int64_t);
}  // namespace detail
template void gemm_packed_b<float>(bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                                   const float*, float, float*, std::int64_t, const float*, std::int64_t);
template void gemm_packed_b<double>(bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                                    const double*, double, double*, std::int64_t, const double*, std::int64_t);

template <class T>
PackedPlan<T> plan_packed_b(std::int64_t m, std::int64_t n, std::int64_t k) {
  return detail::active_of<T>().plan_packed_b(m, n, k);
}
template PackedPlan<float> plan_packed_b<float>(std::int64_t, std::int64_t, std::int64_t);
template PackedPlan<double> plan_packed_b<double>(std::int64_t, std::int64_t, std::int64_t);

}  // namespace tg::kernels
