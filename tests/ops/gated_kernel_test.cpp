// The float32 gate kernels of ops/kernels/gated.h on every instruction-set path, bit for bit
// against a scalar reference written here: per element, the same operations in the same order,
// with sigmoid and tanh taken one value at a time from the same path (sigmoid_forward and
// tanh_forward on one float run that path's scalar code). The v3 and v4 builds contract
// a * b + c into one FMA (GCC does for C++ even in ISO mode) where a product feeds only a sum or
// difference; the reference does the same there with std::fma, and rounds every other product
// apart. Shapes cover tails of every length against vectors of 8 and 16, one and many rows (odd
// counts, for the kernels that take two rows at a time), every null state or gradient, and row
// strides wider than the rows (whose gaps must stay untouched).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/gated.h>
#include <tapegrad/ops/kernels/unary.h>

#include "support/keep_isa.h"

namespace tg {
namespace {

using testing::KeepIsa;

// The element math of the active path.
struct Ref {
  bool fused;  // the path contracts a * b + c

  static float sig(float x) {
    float y;
    kernels::sigmoid_forward(&x, &y, 1);
    return y;
  }
  static float tnh(float x) {
    float y;
    kernels::tanh_forward(&x, &y, 1);
    return y;
  }
  static float rounded(float x) {  // a product rounded on its own, whatever this file's flags
    volatile float v = x;
    return v;
  }
  float mad(float a, float b, float c) const { return fused ? std::fma(a, b, c) : rounded(a * b) + c; }
  float one_minus_sq(float a) const { return fused ? std::fma(-a, a, 1.0f) : 1.0f - rounded(a * a); }
};

const std::vector<std::int64_t> kUnits = {1, 5, 8, 16, 20, 33};
const std::vector<std::int64_t> kBatches = {1, 3, 32};

// Every buffer has kGuard floats of kSentinel before and after its n values, which must stay as
// they are (the comparisons take the whole buffer): a lane read or written out of its row
// shows up there or in a neighbouring row.
constexpr std::size_t kGuard = 24;
constexpr float kSentinel = -1234.5f;

// n values in [lo, hi] between the guards, with now and then one of infinity, zero of either sign or a large value.
std::vector<float> values(std::mt19937& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::uniform_int_distribution<int> pick(0, 99);
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {inf, -inf, 0.0f, -0.0f, 40.0f, -40.0f, 1e-30f};
  std::vector<float> v(n + 2 * kGuard, kSentinel);
  for (std::size_t k = kGuard; k < kGuard + n; ++k) {
    const int p = pick(rng);
    v[k] = p < 7 ? special[p] : d(rng);
  }
  return v;
}

std::vector<float> maybe(bool present, std::vector<float> v) { return present ? v : std::vector<float>(); }
float* ptr(std::vector<float>& v) { return v.empty() ? nullptr : v.data() + kGuard; }
const float* ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data() + kGuard; }

void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t k = 0; k < got.size(); ++k)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(got[k]), std::bit_cast<std::uint32_t>(want[k]))
        << what << ", element " << k << ": " << got[k] << " vs " << want[k];
}

std::string where(std::string_view path, std::int64_t b, std::int64_t u) {
  return std::string(path) + " b=" + std::to_string(b) + " u=" + std::to_string(u);
}

template <class F>
void for_each_path(F f) {
  KeepIsa keep;
  for (std::string_view path : kernel_isas_available()) {
    set_kernel_isa(path);
    f(path, Ref{path != "v2"});
  }
}

TEST(GatedKernels, LstmForwardMatchesScalarBitForBit) {
  std::mt19937 rng(11);
  for_each_path([&](std::string_view path, Ref ref) {
    for (std::int64_t u : kUnits)
      for (std::int64_t b : kBatches)
        for (bool has_prev : {false, true}) {
          const auto n = static_cast<std::size_t>(b * u);
          std::vector<float> gates = values(rng, 5 * n, -6, 6);
          const std::vector<float> c_prev = maybe(has_prev, values(rng, n, -3, 3));
          std::vector<float> c = values(rng, n, -1, 1), h = values(rng, n, -1, 1);
          std::vector<float> want_gates = gates, want_c = c, want_h = h;
          for (std::int64_t r = 0; r < b; ++r)
            for (std::int64_t j = 0; j < u; ++j) {
              float* z = ptr(want_gates) + r * 5 * u + j;
              const float i = Ref::sig(z[0]), f = Ref::sig(z[u]), g = Ref::tnh(z[2 * u]), o = Ref::sig(z[3 * u]);
              const float cj = has_prev ? ref.mad(i, g, Ref::rounded(f * ptr(c_prev)[r * u + j])) : i * g;
              const float t = Ref::tnh(cj);
              z[0] = i, z[u] = f, z[2 * u] = g, z[3 * u] = o, z[4 * u] = t;
              ptr(want_c)[r * u + j] = cj;
              ptr(want_h)[r * u + j] = o * t;
            }
          kernels::lstm_gates_forward(ptr(gates), ptr(c_prev), ptr(c), ptr(h), b, u);
          const std::string at = where(path, b, u) + (has_prev ? " c_prev" : "");
          expect_bits(gates, want_gates, at + " gates");
          expect_bits(c, want_c, at + " c");
          expect_bits(h, want_h, at + " h");
        }
  });
}

TEST(GatedKernels, LstmBackwardMatchesScalarBitForBit) {
  std::mt19937 rng(12);
  for_each_path([&](std::string_view path, Ref ref) {
    for (std::int64_t u : kUnits)
      for (std::int64_t b : kBatches)
        for (int nulls = 0; nulls < 16; ++nulls)
          for (std::int64_t pad : {0, 3}) {
            const bool has_cp = nulls & 1, has_dh = nulls & 2, has_dc = nulls & 4, has_dcp = nulls & 8;
            const auto n = static_cast<std::size_t>(b * u);
            // Activations as lstm_gates_forward leaves them (in [0, 1] or [-1, 1]).
            const std::vector<float> gates = values(rng, 5 * n, -1, 1);
            const std::vector<float> c_prev = maybe(has_cp, values(rng, n, -3, 3));
            const std::vector<float> dh = maybe(has_dh, values(rng, n, -2, 2));
            const std::vector<float> dc = maybe(has_dc, values(rng, n, -2, 2));
            std::vector<float> dc_prev = maybe(has_dcp, values(rng, n, -2, 2));
            const std::int64_t ldz = 4 * u + pad;
            std::vector<float> dz = values(rng, static_cast<std::size_t>(b * ldz), -9, 9);
            std::vector<float> want_dz = dz, want_dcp = dc_prev;
            for (std::int64_t r = 0; r < b; ++r)
              for (std::int64_t j = 0; j < u; ++j) {
                const std::int64_t e = r * u + j;
                const float* a = ptr(gates) + r * 5 * u + j;
                const float i = a[0], f = a[u], g = a[2 * u], o = a[3 * u], tc = a[4 * u];
                float dout = 0.0f, dct = 0.0f;
                if (has_dh) {
                  dout = ptr(dh)[e] * tc * o * (1.0f - o);
                  dct = Ref::rounded(ptr(dh)[e] * o * ref.one_minus_sq(tc));
                }
                if (has_dc) dct += ptr(dc)[e];
                if (has_dcp) ptr(want_dcp)[e] = ref.mad(dct, f, ptr(want_dcp)[e]);
                float* d = ptr(want_dz) + r * ldz + j;
                d[0] = dct * g * i * (1.0f - i);
                d[u] = has_cp ? dct * ptr(c_prev)[e] * f * (1.0f - f) : 0.0f;
                d[2 * u] = dct * i * ref.one_minus_sq(g);
                d[3 * u] = dout;
              }
            kernels::lstm_gates_backward(ptr(gates), ptr(c_prev), ptr(dh), ptr(dc), ptr(dz), ptr(dc_prev), b, u,
                                         pad == 0 ? 0 : ldz);
            const std::string at =
                where(path, b, u) + " nulls=" + std::to_string(nulls) + " pad=" + std::to_string(pad);
            expect_bits(dz, want_dz, at + " dz");
            expect_bits(dc_prev, want_dcp, at + " dc_prev");
          }
  });
}

TEST(GatedKernels, GruForwardMatchesScalarBitForBit) {
  std::mt19937 rng(13);
  for_each_path([&](std::string_view path, Ref ref) {
    for (std::int64_t u : kUnits)
      for (std::int64_t b : kBatches)
        for (bool has_prev : {false, true})
          for (std::int64_t pad : {0, 5}) {
            const auto n = static_cast<std::size_t>(b * u);
            const std::int64_t ldx = 3 * u + pad;
            const std::vector<float> xw = values(rng, static_cast<std::size_t>(b * ldx), -4, 4);
            std::vector<float> gates = values(rng, 4 * n, -4, 4);
            const std::vector<float> h_prev = maybe(has_prev, values(rng, n, -1, 1));
            std::vector<float> h = values(rng, n, -1, 1);
            std::vector<float> want_gates = gates, want_h = h;
            for (std::int64_t r = 0; r < b; ++r)
              for (std::int64_t j = 0; j < u; ++j) {
                const float* x = ptr(xw) + r * ldx + j;
                float* g = ptr(want_gates) + r * 4 * u + j;
                const float z = Ref::sig(x[0] + g[0]), rr = Ref::sig(x[u] + g[u]), hc = g[2 * u];
                const float nn = Ref::tnh(ref.mad(rr, hc, x[2 * u]));
                g[0] = z, g[u] = rr, g[2 * u] = nn, g[3 * u] = hc;
                ptr(want_h)[r * u + j] =
                    has_prev ? ref.mad(z, ptr(h_prev)[r * u + j], Ref::rounded((1.0f - z) * nn)) : (1.0f - z) * nn;
              }
            kernels::gru_gates_forward(ptr(xw), ldx, ptr(gates), ptr(h_prev), ptr(h), b, u);
            const std::string at = where(path, b, u) + (has_prev ? " h_prev" : "") + " pad=" + std::to_string(pad);
            expect_bits(gates, want_gates, at + " gates");
            expect_bits(h, want_h, at + " h");
          }
  });
}

TEST(GatedKernels, GruBackwardMatchesScalarBitForBit) {
  std::mt19937 rng(14);
  for_each_path([&](std::string_view path, Ref ref) {
    for (std::int64_t u : kUnits)
      for (std::int64_t b : kBatches)
        for (int nulls = 0; nulls < 4; ++nulls)
          for (std::int64_t pad : {0, 2}) {
            const bool has_hp = nulls & 1, has_dhp = nulls & 2;
            const auto n = static_cast<std::size_t>(b * u);
            const std::int64_t ld = 3 * u + pad, ld_h = u + pad;  // padded: h_prev read as from a sequence buffer
            const std::vector<float> gates = values(rng, 4 * n, -1, 1);
            const std::vector<float> h_prev = maybe(has_hp, values(rng, static_cast<std::size_t>(b * ld_h), -1, 1));
            const std::vector<float> dh = values(rng, n, -2, 2);
            std::vector<float> dh_prev = maybe(has_dhp, values(rng, n, -2, 2));
            std::vector<float> dx = values(rng, static_cast<std::size_t>(b * ld), -9, 9);
            std::vector<float> dhu = values(rng, static_cast<std::size_t>(b * ld), -9, 9);
            std::vector<float> want_dx = dx, want_dhu = dhu, want_dhp = dh_prev;
            for (std::int64_t r = 0; r < b; ++r)
              for (std::int64_t j = 0; j < u; ++j) {
                const std::int64_t e = r * u + j;
                const float* g = ptr(gates) + r * 4 * u + j;
                const float z = g[0], rr = g[u], nn = g[2 * u], hn = g[3 * u];
                const float hp = has_hp ? ptr(h_prev)[r * ld_h + j] : 0.0f;
                const float an = ptr(dh)[e] * (1.0f - z) * ref.one_minus_sq(nn);
                const float az = ptr(dh)[e] * (hp - nn) * z * (1.0f - z);
                const float ar = an * hn * rr * (1.0f - rr);
                float* x = ptr(want_dx) + r * ld + j;
                float* hu = ptr(want_dhu) + r * ld + j;
                x[0] = az, x[u] = ar, x[2 * u] = an;
                hu[0] = az, hu[u] = ar, hu[2 * u] = an * rr;
                if (has_dhp) ptr(want_dhp)[e] = ref.mad(ptr(dh)[e], z, ptr(want_dhp)[e]);
              }
            kernels::gru_gates_backward(ptr(gates), ptr(h_prev), ptr(dh), ptr(dx), ptr(dhu), ptr(dh_prev), b, u,
                                        pad == 0 ? 0 : ld, pad == 0 ? 0 : ld_h);
            const std::string at =
                where(path, b, u) + " nulls=" + std::to_string(nulls) + " pad=" + std::to_string(pad);
            expect_bits(dx, want_dx, at + " dx");
            expect_bits(dhu, want_dhu, at + " dhu");
            expect_bits(dh_prev, want_dhp, at + " dh_prev");
          }
  });
}

}  // namespace
}  // namespace tg
