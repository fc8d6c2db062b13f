#pragma once
/// \file
/// One instruction set's copy of the kernels of rows.h (compiled once per path, see
/// ops/kernels/README.md).
///
/// Copies and sums of row blocks between buffers with different row strides (a time step's rows
/// inside a [batch, time, features] tensor). No tensors, no tape.
///
/// The rows are short (a hidden size of 20 is 80 bytes): written as plain loops, GCC would turn
/// each row's copy into a call to memcpy, which costs more than the copy itself at these sizes,
/// hence the attribute.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <tapegrad/ops/kernels/isa_ns.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

#if defined(__GNUC__) && !defined(__clang__)
#define TAPEGRAD_NO_MEMCPY_IDIOM [[gnu::optimize("no-tree-loop-distribute-patterns")]]
#else
#define TAPEGRAD_NO_MEMCPY_IDIOM  // clang has no such attribute (only the fuzzing build uses clang)
#endif

/// Row i of dst = row idx[i] of src, for i < count (rows of `row_bytes` bytes, dst dense): a
/// minibatch gathered from a dataset. Rows picked at random from a dataset larger than the caches
/// each begin with a miss; the lines of row i + 2 (its first 4 KiB, after which the hardware's
/// stream prefetch runs on) are requested while row i is copied, so those misses overlap instead
/// of following one another (seq2seq's targets: 32 rows of 2000 bytes from 14 MB).
inline void gather_rows(const void* src, std::size_t row_bytes, const std::int64_t* idx, std::int64_t count,
                        void* dst) {
  constexpr std::int64_t kAhead = 2;
  constexpr std::size_t kPrefetchBytes = 4096;
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  auto row = [&](std::int64_t i) { return s + static_cast<std::size_t>(idx[i]) * row_bytes; };
  auto prefetch = [&](std::int64_t i) {
    const unsigned char* p = row(i);
    const std::size_t n = row_bytes < kPrefetchBytes ? row_bytes : kPrefetchBytes;
    for (std::size_t o = 0; o < n; o += 64) __builtin_prefetch(p + o);
  };
  for (std::int64_t i = 0; i < kAhead && i < count; ++i) prefetch(i);
  for (std::int64_t i = 0; i < count; ++i) {
    if (i + kAhead < count) prefetch(i + kAhead);
    std::memcpy(d + static_cast<std::size_t>(i) * row_bytes, row(i), row_bytes);
  }
}

/// dst[i * dst_stride + j] = src[i * src_stride + j] for i < rows, j < cols.
template <class T>
TAPEGRAD_NO_MEMCPY_IDIOM inline void copy_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride,
                                               std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* s = src + i * src_stride;
    T* d = dst + i * dst_stride;
    for (std::int64_t j = 0; j < cols; ++j) d[j] = s[j];
  }
}

#if defined(__AVX2__)
namespace detail {
/// Stores the first `lanes` (< 8) values of x: in halves, quarters and one, since a masked store
/// (vmaskmovps) is microcoded and slow on AMD Zen.
inline void store_first_lanes(float* p, __m256 x, int lanes) {
  __m128 part = _mm256_castps256_ps128(x);
  if (lanes >= 4) {
    _mm_storeu_ps(p, part);
    part = _mm256_extractf128_ps(x, 1);
    p += 4;
    lanes -= 4;
  }
  if (lanes >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
    part = _mm_movehl_ps(part, part);
    p += 2;
    lanes -= 2;
  }
  if (lanes >= 1) _mm_store_ss(p, part);
}
/// The same for the first `lanes` (< 4) doubles.
inline void store_first_lanes(double* p, __m256d x, int lanes) {
  __m128d part = _mm256_castpd256_pd128(x);
  if (lanes >= 2) {
    _mm_storeu_pd(p, part);
    part = _mm256_extractf128_pd(x, 1);
    p += 2;
    lanes -= 2;
  }
  if (lanes >= 1) _mm_store_sd(p, part);
}
}  // namespace detail
#endif

namespace detail {
/// Eight and sixteen floats in one vector (GCC's vector extension, which clang shares): code
/// written for float can run on them lane by lane (tanh's, in unary.h).
using f32x8 = float __attribute__((vector_size(32)));
using f32x16 = float __attribute__((vector_size(64)));
}  // namespace detail

#if defined(__AVX2__)
namespace detail {
// The spread of a dense block into rows, vector by vector, each vector mapped by f; the mapped
// block also goes to `out` unless it is null.
template <class F>
inline void spread_vectors(const float* src, float* out, float* dst, std::int64_t dst_stride, std::int64_t rows,
                           std::int64_t cols, F f) {
  constexpr std::int64_t L = 8;
  // lane i of the shifted vector is lane i + k of the source: indices k, k + 1, ..., 7, 7, ...
  alignas(32) static constexpr std::int32_t kShift[16] = {0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7};
  const std::int64_t total = rows * cols;
  std::int64_t i = 0, r = 0, c = 0;  // flat source index, and the row and column it lands on
  for (; i + L <= total; i += L) {
    const __m256 v = reinterpret_cast<__m256>(f(reinterpret_cast<f32x8>(_mm256_loadu_ps(src + i))));
    if (out != nullptr) _mm256_storeu_ps(out + i, v);
    float* d = dst + r * dst_stride + c;
    const std::int64_t left = cols - c;  // lanes that still belong to row r
    if (left > L) {
      _mm256_storeu_ps(d, v);
      c += L;
    } else if (left == L) {
      _mm256_storeu_ps(d, v);
      c = 0;
      ++r;
    } else {
      const int k = static_cast<int>(left);
      store_first_lanes(d, v, k);
      const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kShift + k));
      store_first_lanes(dst + (r + 1) * dst_stride, _mm256_permutevar8x32_ps(v, idx), static_cast<int>(L) - k);
      ++r;
      c = L - left;
    }
  }
  const int rest = static_cast<int>(total - i);  // the last values, fewer than a vector
  for (int j = 0; j < rest; ++j, ++i) {
    const float y = f(src[i]);
    if (out != nullptr) out[i] = y;
    dst[r * dst_stride + c] = y;
    if (++c == cols) {
      c = 0;
      ++r;
    }
  }
}
}  // namespace detail
#endif

#if defined(__AVX2__)
namespace detail {
// map_spread_rows for rows narrower than a vector (a recurrent layer of a few units): f on whole
// vectors of the dense block, a chunk at a time, then the values to their rows one by one. Row by
// row, f would run on one value at a time (a SimpleRNN(1) step spent 3 ns per value there).
template <class F>
inline void map_narrow_rows(const float* src, float* out, float* dst, std::int64_t dst_stride, std::int64_t total,
                            std::int64_t cols, F f) {
  constexpr std::int64_t L = 8, kChunk = 256;
  alignas(32) float mapped[kChunk];
  std::int64_t r = 0, c = 0;  // the row and column of the next value
  for (std::int64_t base = 0; base < total; base += kChunk) {
    const std::int64_t n = std::min(kChunk, total - base);
    std::int64_t j = 0;
    for (; j + L <= n; j += L)
      _mm256_store_ps(mapped + j,
                      reinterpret_cast<__m256>(f(reinterpret_cast<f32x8>(_mm256_loadu_ps(src + base + j)))));
    for (; j < n; ++j) mapped[j] = f(src[base + j]);
    for (j = 0; j < n; ++j) {
      if (out != nullptr) out[base + j] = mapped[j];
      dst[r * dst_stride + c] = mapped[j];
      if (++c == cols) {
        c = 0;
        ++r;
      }
    }
  }
}
}  // namespace detail
#endif

#if defined(__AVX512F__)
namespace detail {
// spread_vectors by sixteen (cols >= 16), each vector the value of get(i, mask) for the flat
// index i (mask: the lanes that exist, all but in the last vector). A vector that crosses into
// the next row is stored twice under complementary masks, its first lanes at the end of row r and
// the rest at the start of row r + 1 (the second store's address is that row's start less the
// lanes before).
template <class Get>
inline void spread_vectors16(float* dst, std::int64_t dst_stride, std::int64_t rows, std::int64_t cols, Get get) {
  constexpr std::int64_t L = 16;
  const std::int64_t total = rows * cols;
  std::int64_t r = 0, c = 0;  // the row and column of flat index i
  for (std::int64_t i = 0; i < total; i += L) {
    const auto m = static_cast<__mmask16>(total - i >= L ? 0xffffu : (1u << (total - i)) - 1u);
    const __m512 v = get(i, m);
    float* d = dst + r * dst_stride + c;
    const std::int64_t left = cols - c;  // lanes that still belong to row r
    if (left > L) {
      _mm512_mask_storeu_ps(d, m, v);
      c += L;
    } else if (left == L) {
      _mm512_mask_storeu_ps(d, m, v);
      c = 0;
      ++r;
    } else {
      const auto first = static_cast<__mmask16>((1u << left) - 1u);
      _mm512_mask_storeu_ps(d, m & first, v);
      ++r;
      if (static_cast<__mmask16>(m & ~first) != 0)
        _mm512_mask_storeu_ps(dst + r * dst_stride - left, static_cast<__mmask16>(m & ~first), v);
      c = L - left;
    }
  }
}

// spread_vectors16 of f(src) (f on vectors of sixteen), the mapped block also written to `out`
// unless it is null.
template <class F>
inline void map_spread_vectors16(const float* src, float* out, float* dst, std::int64_t dst_stride, std::int64_t rows,
                                 std::int64_t cols, F f) {
  spread_vectors16(dst, dst_stride, rows, cols, [&](std::int64_t i, __mmask16 m) {
    const __m512 v = reinterpret_cast<__m512>(f(reinterpret_cast<f32x16>(_mm512_maskz_loadu_ps(m, src + i))));
    if (out != nullptr) _mm512_mask_storeu_ps(out + i, m, v);
    return v;
  });
}
}  // namespace detail
#endif

/// spread_rows of f(src), f applied to each value on the way; the mapped block is also written
/// densely to `out` (which may be `src`) unless `out` is null. `f` takes a T and, for float where
/// AVX2 is on, an f32x8 (and an f32x16 where AVX-512 is).
/// One pass instead of two (f in place, then the spread): the stores into the rows, which miss
/// the cache, overlap with f's arithmetic (tanh_forward_spread, a recurrent step's output).
template <class T, class F>
TAPEGRAD_NO_MEMCPY_IDIOM inline void map_spread_rows(const T* src, T* out, T* dst, std::int64_t dst_stride,
                                                     std::int64_t rows, std::int64_t cols, F f) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (cols >= 16) {
      detail::map_spread_vectors16(src, out, dst, dst_stride, rows, cols, f);
      return;
    }
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    if (cols >= 8) {  // otherwise a vector would span more than two rows
      detail::spread_vectors(src, out, dst, dst_stride, rows, cols, f);
      return;
    }
    detail::map_narrow_rows(src, out, dst, dst_stride, rows * cols, cols, f);
    return;
  }
#endif
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      const T y = f(src[i * cols + j]);
      if (out != nullptr) out[i * cols + j] = y;
      dst[i * dst_stride + j] = y;
    }
}

/// copy_rows from a dense block: dst[i * dst_stride + j] = src[i * cols + j]. The source is read
/// in whole vectors from its start, each stored to the one or two rows it covers. A block that a
/// vector loop has just written is then read back load for store: row by row, a row of 20 floats
/// starting mid-vector, most loads would cover parts of two stores, and such a load waits for
/// both to reach the cache instead of taking its value from the store queue.
template <class T>
inline void spread_rows(const T* src, T* dst, std::int64_t dst_stride, std::int64_t rows, std::int64_t cols) {
  map_spread_rows(src, static_cast<T*>(nullptr), dst, dst_stride, rows, cols, [](auto v) { return v; });
}

/// Row i of dst = f(a, b) over row i of the dense block a [rows, cols] and row i of b, value by
/// value, the rows of b and dst both `stride` apart: f takes two T and, for float where AVX-512
/// is on, two f32x16 (each row as whole vectors and one masked tail). A recurrent step's
/// dz_t = dh_t (1 - h_t^2), dh_t dense, h_t read back from the [B,T,H] sequence buffer and dz_t
/// written into its twin.
template <class T, class F>
inline void map2_rows(const T* a, const T* b, T* dst, std::int64_t stride, std::int64_t rows, std::int64_t cols, F f) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (cols >= 16) {
      constexpr std::int64_t L = 16;
      const auto tail = static_cast<__mmask16>((1u << (cols % L)) - 1u);
      auto at = [&](const float* p, __mmask16 m) {
        return reinterpret_cast<detail::f32x16>(_mm512_maskz_loadu_ps(m, p));
      };
      for (std::int64_t i = 0; i < rows; ++i) {
        const float* ai = a + i * cols;
        const float* bi = b + i * stride;
        float* di = dst + i * stride;
        std::int64_t j = 0;
        for (; j + L <= cols; j += L)
          _mm512_storeu_ps(di + j, reinterpret_cast<__m512>(f(at(ai + j, 0xffff), at(bi + j, 0xffff))));
        if (tail != 0)
          _mm512_mask_storeu_ps(di + j, tail, reinterpret_cast<__m512>(f(at(ai + j, tail), at(bi + j, tail))));
      }
      return;
    }
  }
#endif
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) dst[i * stride + j] = f(a[i * cols + j], b[i * stride + j]);
}

/// dst[i * dst_stride + j] += src[i * src_stride + j] for i < rows, j < cols.
template <class T>
inline void add_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
                     std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* s = src + i * src_stride;
    T* d = dst + i * dst_stride;
    for (std::int64_t j = 0; j < cols; ++j) d[j] += s[j];
  }
}

/// copy_rows for a gradient's first contribution (`add` false: the destination is not yet
/// initialised), add_rows for the later ones (BackwardContext::grad_target's `first`, negated).
template <class T>
inline void copy_or_add_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
                             std::int64_t cols, bool add) {
  if (add)
    add_rows(src, src_stride, dst, dst_stride, rows, cols);
  else
    copy_rows(src, src_stride, dst, dst_stride, rows, cols);
}

namespace detail {
/// Column sums of a block exactly W wide. A fixed width keeps the sums in registers (a runtime
/// width left them in memory, a store and a reload per row), and R rows at a time, into R
/// partial sums, keep R additions in flight instead of one chain as long as the column. The
/// columns past the last whole 16-byte vector are summed apart, so that the vector part stays
/// vectorised (10 floats as one block of 10 ran scalar).
template <int W, class T>
inline void add_column_sums_block(const T* src, std::int64_t src_stride, std::int64_t rows, T* dst) {
  constexpr int R = W >= 32 ? 2 : 4;
  constexpr int V = W / (16 / sizeof(T)) * (16 / sizeof(T)), E = W - V;  // whole 16-byte vectors, the rest
  T acc[R][V > 0 ? V : 1] = {}, rest[R][E > 0 ? E : 1] = {};
  auto add_row = [&](int r, const T* s) {
    for (int j = 0; j < V; ++j) acc[r][j] += s[j];
    for (int j = 0; j < E; ++j) rest[r][j] += s[V + j];
  };
  std::int64_t i = 0;
  for (; i + R <= rows; i += R)
    for (int r = 0; r < R; ++r) add_row(r, src + (i + r) * src_stride);
  for (; i < rows; ++i) add_row(0, src + i * src_stride);
  for (int j = 0; j < W; ++j) {
    T sum = j < V ? acc[0][j] : rest[0][j - V];
    for (int r = 1; r < R; ++r) sum += j < V ? acc[r][j] : rest[r][j - V];
    dst[j] += sum;
  }
}

template <class T, int... W>
constexpr std::array<void (*)(const T*, std::int64_t, std::int64_t, T*), sizeof...(W)> column_sums_table(
    std::integer_sequence<int, W...>) {
  return {&add_column_sums_block<W + 1, T>...};
}
}  // namespace detail

/// dst[j] += sum_i src[i * src_stride + j] for j < cols (a bias gradient: the column sums of dY;
/// linear, conv1d, the gated steps, layer norm).
/// - Up to 32 columns: one pass over the rows with the sums in registers, R partial sums per
///   column (rows i, i + R, ... to the same one), added up at the end, rather than one running
///   sum per column kept in memory.
/// - Wider: 64 columns at a time, the sums in a local buffer, row by row in order. Each row is
///   then a long vectorised loop, and the passes over the rows are as few as the chunks.
template <class T>
inline void add_column_sums(const T* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, T* dst) {
  static constexpr auto kBlocks = detail::column_sums_table<T>(std::make_integer_sequence<int, 32>{});
  if (cols <= 0) return;
  if (cols <= 32) {
    kBlocks[static_cast<std::size_t>(cols - 1)](src, src_stride, rows, dst);
    return;
  }
  constexpr std::int64_t kChunk = 64;
  for (std::int64_t j0 = 0; j0 < cols; j0 += kChunk) {
    const std::int64_t w = cols - j0 < kChunk ? cols - j0 : kChunk;
    T acc[kChunk] = {};
    for (std::int64_t i = 0; i < rows; ++i) {
      const T* s = src + i * src_stride + j0;
      for (std::int64_t j = 0; j < w; ++j) acc[j] += s[j];
    }
    for (std::int64_t j = 0; j < w; ++j) dst[j0 + j] += acc[j];
  }
}

/// The sum of (p[i] - t[i])^2 over i < n, in double: eight partial sums (value i to sum i % 8,
/// so that the additions do not wait on each other), then added in order. float's squares are
/// rounded before their addition (no fused multiply-add, and the last values through the same
/// vectors, masked), so every path gives the bits of the baseline's plain loop.
template <class T>
inline double squared_error_sum(const T* p, const T* t, std::int64_t n) {
  double part[8] = {};
  std::int64_t i = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    __m512d acc = _mm512_setzero_pd();
    for (; i < n; i += 8) {
      const auto m = static_cast<__mmask8>(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1u);
      const __m512d e = _mm512_sub_pd(_mm512_maskz_cvtps_pd(0xff, _mm256_maskz_loadu_ps(m, p + i)),
                                      _mm512_maskz_cvtps_pd(0xff, _mm256_maskz_loadu_ps(m, t + i)));
      acc = _mm512_add_pd(acc, _mm512_mul_pd(e, e));
    }
    _mm512_storeu_pd(part, acc);
  }
#elif defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    alignas(16) static constexpr std::int32_t kLanes[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    auto first = [](std::int64_t lanes) {  // a mask of the first `lanes` (0 to 4) of four
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(kLanes + 4 - lanes));
    };
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (; i < n; i += 8) {
      const std::int64_t left = n - i;
      const __m128i m0 = first(std::min<std::int64_t>(left, 4)), m1 = first(std::clamp<std::int64_t>(left - 4, 0, 4));
      const __m256d e0 =
          _mm256_sub_pd(_mm256_cvtps_pd(_mm_maskload_ps(p + i, m0)), _mm256_cvtps_pd(_mm_maskload_ps(t + i, m0)));
      const __m256d e1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_maskload_ps(p + i + 4, m1)),
                                       _mm256_cvtps_pd(_mm_maskload_ps(t + i + 4, m1)));
      lo = _mm256_add_pd(lo, _mm256_mul_pd(e0, e0));
      hi = _mm256_add_pd(hi, _mm256_mul_pd(e1, e1));
    }
    _mm256_storeu_pd(part, lo);
    _mm256_storeu_pd(part + 4, hi);
  }
#endif
  for (; i + 8 <= n; i += 8)
    for (std::int64_t j = 0; j < 8; ++j) {
      const double e = static_cast<double>(p[i + j]) - static_cast<double>(t[i + j]);
      part[j] += e * e;
    }
  for (std::int64_t j = 0; i < n; ++i, ++j) {
    const double e = static_cast<double>(p[i]) - static_cast<double>(t[i]);
    part[j] += e * e;
  }
  double sum = 0.0;
  for (double v : part) sum += v;
  return sum;
}

/// d[i] = s (p[i] - t[i]), or d[i] += s (p[i] - t[i]) with `add`, for i < n: the gradient of a
/// squared error.
template <class T>
inline void scaled_difference(T s, const T* p, const T* t, T* d, std::int64_t n, bool add) {
  if (add)
    for (std::int64_t i = 0; i < n; ++i) d[i] += s * (p[i] - t[i]);
  else
    for (std::int64_t i = 0; i < n; ++i) d[i] = s * (p[i] - t[i]);
}

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS

#undef TAPEGRAD_NO_MEMCPY_IDIOM
