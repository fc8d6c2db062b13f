#pragma once
/// \file
/// GEMM over plain row-major buffers: C = alpha * op(A) * op(B) + beta * C, where op(A) is
/// [M,K] (A stored [M,K] with leading dimension lda, or [K,M] when trans_a) and op(B) is [K,N]
/// (B stored [K,N] with leading dimension ldb, or [N,K] when trans_b). No tensors, no tape.
///
/// - beta = 0 overwrites C without reading it (NaN in C is ignored); beta = 1 accumulates in
///   place (weight gradients over time steps). alpha = 0 or K = 0 only scales C by beta.
/// - Any M, N, K >= 0; leading dimensions at least the row length. C must not overlap A or B.
/// - Single-threaded and thread-safe: packing buffers are thread-local and reused, so a warm call
///   allocates nothing.
/// - Register-blocked kernels for AVX-512 (F, DQ, VL, path v4) or AVX2 + FMA (v3), a portable
///   one-lane loop on the baseline (v2): the path is chosen at run time (dispatch.h). Design and
///   figures: docs/performance.md, sections "GEMM" and "Kernels chosen at run time".

#include <cstdint>

namespace tg::kernels {

/// Single precision; the fast path of the library. `bias` (optional) is added as the tiles are
/// written: C = alpha * op(A) op(B) + bias + beta * C in one pass over C. With ld_bias = 0 it is
/// one row [N] added to every row of C (a linear layer's bias); with ld_bias > 0 it is an [M,N]
/// matrix with rows ld_bias apart (an RNN step's projected input, xw[:, t, :]). It must not
/// overlap C.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc,
          const float* bias = nullptr, std::int64_t ld_bias = 0);

/// Double precision (gradient checks, users who need it), same kernels at half the lanes.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc,
          const double* bias = nullptr, std::int64_t ld_bias = 0);

/// op(B) packed ahead of time, for many products with the same B and different A (an RNN's
/// recurrent kernel, multiplied at every time step of a sequence): the packing is paid once
/// instead of at every call. The layout depends on M (the tile shape is chosen from M and N), so
/// the packed buffer serves products whose op(A) has exactly `m` rows.
///
///     std::vector<float> p(packed_b_size<float>(m, n, k));
///     pack_b_for(false, m, n, k, u, n, p.data());
///     gemm_packed_b(false, m, n, k, 1.0f, h, k, p.data(), 1.0f, c, n);  // c += h u
///
/// The layout also depends on the kernel path (dispatch.h): a packed buffer is read by the path
/// that was active when it was packed, and plan_packed_b's plan calls that path's kernels.
///
/// Elements of the buffer pack_b_for writes for op(B) [K,N] and products with M rows.
template <class T>
std::int64_t packed_b_size(std::int64_t m, std::int64_t n, std::int64_t k);
/// Packs op(B) (B stored [K,N], or [N,K] when trans_b) into `packed` (packed_b_size elements).
template <class T>
void pack_b_for(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* b, std::int64_t ldb, T* packed);
/// C = alpha * op(A) * B + bias + beta * C with B packed by pack_b_for for the same m, n, k;
/// otherwise exactly `gemm`.
template <class T>
void gemm_packed_b(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
                   const T* packed_b, T beta, T* c, std::int64_t ldc, const T* bias = nullptr,
                   std::int64_t ld_bias = 0);

namespace detail {
/// A run of `tiles` register tiles down one panel of columns (the GEMM's micro-kernel).
/// `b_groups` (may be null) is what the kernel would otherwise derive from B at every call,
/// made once when B was packed (PackedPlan::groups).
template <class T>
using TileRun = void (*)(std::int64_t tiles, std::int64_t a_tile, std::int64_t k, const T* a, std::int64_t a_stride,
                         const T* b, std::int64_t ldb, const T* b_groups, T* c, std::int64_t ldc, T alpha, T beta,
                         int last_lanes, const T* bias, std::int64_t ld_bias);
}  // namespace detail

/// gemm_packed_b for one shape, planned once: for the same product repeated many times (a
/// recurrent scan's steps, 32 x 20 x 20 fifty times a sequence), the driver's choices (tile,
/// blocking, kernel) are made by plan_packed_b, and gemm_planned calls the kernels directly.
/// Products of more than one block of the driver (N wider than one panel of the tile, K or M
/// past a block) keep the driver: the plan then only forwards to gemm_packed_b.
template <class T>
struct PackedPlan {
  std::int64_t m = 0, n = 0, k = 0;
  bool direct = false;  // one block: the kernels below, with B read from the packed buffer
  detail::TileRun<T> full = nullptr, rest = nullptr;  // full_tiles tiles of mr rows, then `rests` rows
  std::int64_t mr = 0, full_tiles = 0, rests = 0, b_stride = 0;
  int last_lanes = 0;
  /// Where in the packed buffer the kernels find what pack_b_for derived from B for them (the
  /// AVX-512 tiles with a quarter-register last vector: its values by groups of four k), or -1.
  std::int64_t groups = -1;
  /// The gemm_packed_b of the path that made the plan (the one whose layout pack_b_for wrote).
  void (*packed)(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
                 const T* packed_b, T beta, T* c, std::int64_t ldc, const T* bias, std::int64_t ld_bias) = nullptr;
};

/// Plans C = op(A) B + bias + beta * C (A not transposed, alpha = 1) for B packed by
/// pack_b_for(trans_b, m, n, k, ...) under the same kernel path.
template <class T>
PackedPlan<T> plan_packed_b(std::int64_t m, std::int64_t n, std::int64_t k);

/// Products of at least this many multiply-adds run with subnormal floats flushed to zero
/// (ops/kernels/denormal.h); smaller ones run in the caller's floating-point mode.
inline constexpr std::int64_t kFlushMinMacs = std::int64_t{1} << 16;

namespace detail {
template <class T>
void gemm_planned_here(const PackedPlan<T>& plan, const T* a, std::int64_t lda, const T* packed_b, T beta, T* c,
                       std::int64_t ldc, const T* bias, std::int64_t ld_bias);
/// gemm_planned_here inside a FlushDenormalScope (defined with the dispatch, built once).
template <class T>
void gemm_planned_flushed(const PackedPlan<T>& plan, const T* a, std::int64_t lda, const T* packed_b, T beta, T* c,
                          std::int64_t ldc, const T* bias, std::int64_t ld_bias);
}  // namespace detail

/// gemm_packed_b(false, m, n, k, 1, a, lda, packed_b, beta, c, ldc, bias, ld_bias) for the
/// plan's m, n and k, with the same results.
template <class T>
void gemm_planned(const PackedPlan<T>& plan, const T* a, std::int64_t lda, const T* packed_b, T beta, T* c,
                  std::int64_t ldc, const T* bias = nullptr, std::int64_t ld_bias = 0) {
  if (plan.m * plan.n * plan.k >= kFlushMinMacs) {  // large: with subnormals flushed (denormal.h)
    detail::gemm_planned_flushed(plan, a, lda, packed_b, beta, c, ldc, bias, ld_bias);
    return;
  }
  detail::gemm_planned_here(plan, a, lda, packed_b, beta, c, ldc, bias, ld_bias);
}

namespace detail {
/// gemm_planned's work, on the calling thread's floating-point mode.
template <class T>
void gemm_planned_here(const PackedPlan<T>& plan, const T* a, std::int64_t lda, const T* packed_b, T beta, T* c,
                       std::int64_t ldc, const T* bias, std::int64_t ld_bias) {
  if (!plan.direct) {
    plan.packed(false, plan.m, plan.n, plan.k, T(1), a, lda, packed_b, beta, c, ldc, bias, ld_bias);
    return;
  }
  const T* groups = plan.groups >= 0 ? packed_b + plan.groups : nullptr;
  if (plan.full_tiles > 0)
    plan.full(plan.full_tiles, plan.mr * lda, plan.k, a, lda, packed_b, plan.b_stride, groups, c, ldc, T(1), beta,
              plan.last_lanes, bias, ld_bias);
  if (plan.rests > 0) {
    const std::int64_t ir = plan.full_tiles * plan.mr;
    plan.rest(1, 0, plan.k, a + ir * lda, lda, packed_b, plan.b_stride, groups, c + ir * ldc, ldc, T(1), beta,
              plan.last_lanes, bias ? bias + ir * ld_bias : nullptr, ld_bias);
  }
}
}  // namespace detail

}  // namespace tg::kernels
