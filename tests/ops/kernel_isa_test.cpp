// The kernels' instruction-set paths chosen at run time (ops/isa.h, ops/kernels/dispatch.h):
// forcing a path by name or environment, refusing what cannot run, and every path giving the
// same results as the baseline within the kernels' documented tolerances.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/conv.h>
#include <tapegrad/ops/kernels/dispatch.h>
#include <tapegrad/ops/kernels/gated.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/ops/kernels/unary.h>

#include "support/keep_isa.h"

namespace tg {
namespace {

using testing::KeepIsa;

TEST(KernelIsa, TheBaselineAlwaysRunsAndTheDefaultIsAvailable) {
  const auto paths = kernel_isas_available();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), "v2");
  EXPECT_NE(std::find(paths.begin(), paths.end(), kernels::isa_name(kernels::best_isa())), paths.end());
  // The paths the CPU reports agree with the compiler's own reading of it (libgcc and
  // compiler-rt read cpuid and XGETBV too).
#if defined(__x86_64__)
  EXPECT_EQ(kernels::isa_runs(kernels::Isa::v3),
            __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"));
  EXPECT_EQ(kernels::isa_runs(kernels::Isa::v4),
            kernels::isa_runs(kernels::Isa::v3) && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512vl"));
#endif
}

TEST(KernelIsa, ForcingAPathIsWhatIsReported) {
  KeepIsa keep;
  for (std::string_view path : kernel_isas_available()) {
    set_kernel_isa(path);
    EXPECT_EQ(kernel_isa(), path);
  }
  // Other names of the same paths, any case.
  const std::array<std::pair<const char*, const char*>, 6> aliases = {{{"baseline", "v2"},
                                                                       {"X86-64-V2", "v2"},
                                                                       {"avx2", "v3"},
                                                                       {"x86-64-v3", "v3"},
                                                                       {"AVX512", "v4"},
                                                                       {"x86-64-v4", "v4"}}};
  const auto available = kernel_isas_available();
  for (const auto& [name, path] : aliases) {
    if (std::find(available.begin(), available.end(), path) == available.end()) continue;
    set_kernel_isa(name);
    EXPECT_EQ(kernel_isa(), path) << name;
  }
  set_kernel_isa("auto");
  EXPECT_EQ(kernel_isa(), kernels::isa_name(kernels::best_isa()));
  for (std::string_view path : kernel_isas_available()) {  // a forced path is that path alone
    set_kernel_isa(path);
    EXPECT_FALSE(kernels::uses_thin_v3()) << path;
  }
}

// The default on a v4 CPU sends the thin float products (M, N or K of 1, not M = N = 1) to v3's
// kernels and the rest to v4's: bit for bit what each forced path gives.
TEST(KernelIsa, DefaultSendsThinFloatProductsToV3) {
  KeepIsa keep;
  set_kernel_isa("auto");
  if (!kernels::uses_thin_v3()) GTEST_SKIP() << "the default here is not v4 with v3 beside it";
  auto product = [](std::string_view path, int m, int k, int n) {
    set_kernel_isa(path);
    std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
    std::vector<float> c(static_cast<std::size_t>(m * n));
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(std::cos(0.61 * static_cast<double>(i)));
    kernels::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    return c;
  };
  std::array<int, 2> told_apart{};  // [thin], shapes on which v3 and v4 round differently
  for (const auto& [m, k, n] : {std::array<int, 3>{32, 1000, 1},
                                {1, 1000, 40},
                                {40, 1000, 1},
                                {1600, 1, 20},
                                {64, 256, 256},
                                {1, 1000, 1},
                                {7, 1000, 33}}) {
    SCOPED_TRACE(::testing::Message() << m << " x " << k << " x " << n);
    const auto by_default = product("auto", m, k, n), v3 = product("v3", m, k, n), v4 = product("v4", m, k, n);
    const bool thin = kernels::thin_product(m, n, k);
    told_apart[thin] += v3 != v4;
    EXPECT_EQ(by_default, thin ? v3 : v4);
  }
  // Both kinds include shapes the two paths round differently, so the test sees which one ran.
  EXPECT_GE(told_apart[0], 1);
  EXPECT_GE(told_apart[1], 1);
}

TEST(KernelIsa, UnknownNamesAreRefusedAndThePathKept) {
  KeepIsa keep;
  set_kernel_isa("v2");
  for (const char* name : {"sse9", "v5", "avx", "native", " v3"}) {
    try {
      set_kernel_isa(name);
      ADD_FAILURE() << name << " was accepted";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("unknown kernel path '" + std::string(name) + "'"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(kernel_isa(), "v2");
  }
}

// A path the CPU cannot run is refused, never taken: against a CPU that runs only the baseline
// (the request's resolution takes the set of paths that run), and on this machine for every
// compiled path it lacks.
TEST(KernelIsa, PathsTheCpuCannotRunAreRefused) {
  const unsigned only_v2 = 1u;
  for (const char* name : {"v3", "avx512"}) {
    const kernels::IsaRequest r = kernels::isa_from_name(name, only_v2);
    if (!kernels::isa_compiled(kernels::isa_from_name(name, ~0u).isa)) continue;
    EXPECT_FALSE(r.ok) << name;
    EXPECT_NE(r.error.find("does not run; it runs v2"), std::string::npos) << r.error;
  }
  const kernels::IsaRequest best = kernels::isa_from_name("auto", only_v2);
  EXPECT_TRUE(best.ok);
  EXPECT_EQ(best.isa, kernels::Isa::v2);
  KeepIsa keep;
  for (int i = 0; i < kernels::kIsaCount; ++i) {
    const auto isa = static_cast<kernels::Isa>(i);
    if (kernels::isa_compiled(isa) && kernels::isa_runs(isa)) continue;
    const std::string before(kernel_isa());
    EXPECT_THROW(set_kernel_isa(kernels::isa_name(isa)), ValueError);
    EXPECT_EQ(kernel_isa(), before);
  }
}

// Run by EnvironmentForcesThePath in a child process: the path taken at the first kernel call
// is the one TAPEGRAD_ISA names (or, for a name it refuses, the default).
TEST(KernelIsaChild, ReportsTheExpectedPath) {
  const char* expect = std::getenv("TAPEGRAD_ISA_EXPECT");
  if (expect == nullptr) GTEST_SKIP() << "run by KernelIsa.EnvironmentForcesThePath";
  EXPECT_EQ(kernel_isa(), expect);
}

std::string run_child(const std::string& isa, std::string_view expect) {
  std::array<char, 4096> self{};
  const ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);  // this runner
  if (len <= 0) return "readlink /proc/self/exe failed";
  const std::string cmd = "TAPEGRAD_ISA='" + isa + "' TAPEGRAD_ISA_EXPECT=" + std::string(expect) + " '" +
                          std::string(self.data(), static_cast<std::size_t>(len)) +
                          "' --gtest_filter=KernelIsaChild.ReportsTheExpectedPath 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
    const int status = pclose(p);
    if (status != 0) out += "\nexit status " + std::to_string(status);
  }
  return out;
}

TEST(KernelIsa, EnvironmentForcesThePath) {
#if defined(TAPEGRAD_SANITIZED)
  GTEST_SKIP() << "a child process of the instrumented runner: covered by the Release build";
#endif
  for (std::string_view path : kernel_isas_available()) {
    const std::string out = run_child(std::string(path), path);
    EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << out;
    EXPECT_EQ(out.find("TAPEGRAD_ISA="), std::string::npos) << "no warning for a path that runs: " << out;
  }
  // A name that is no path: warned about on stderr, the default taken, no crash.
  const std::string_view best = kernels::isa_name(kernels::best_isa());
  const std::string out = run_child("sse9", best);
  EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << out;
  EXPECT_NE(out.find("tapegrad: TAPEGRAD_ISA=sse9 ignored: unknown kernel path 'sse9'"), std::string::npos) << out;
}

// Every path against the baseline, on the kernels' documented tolerances: GEMM within
// (K + 2) eps sum |a||b| of each other (each is within (K + 2)/2 eps of the exact product:
// tests/ops/gemm_test.cpp), float tanh within 2 ulp of the C library on each path so 4 apart,
// sigmoid 8 apart, copies exact, double elementwise math exact (the C library's on every path).
struct Outputs {
  std::vector<float> gemm, gemm_bound, tanh, sigmoid, lstm, gru, sums, spread, conv;
  std::vector<double> gemm64, gemm64_bound, tanh64;
};

Outputs run_all() {
  Outputs o;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  auto fill = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
  };
  for (const auto& [m, n, k] : {std::array<int, 3>{32, 20, 20}, {64, 256, 256}, {7, 33, 65}, {1, 40, 9}, {50, 1, 30}}) {
    const auto a = fill(static_cast<std::size_t>(m * k)), b = fill(static_cast<std::size_t>(k * n));
    std::vector<float> c(static_cast<std::size_t>(m * n));
    kernels::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    o.gemm.insert(o.gemm.end(), c.begin(), c.end());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        float s = 0;
        for (int p = 0; p < k; ++p)
          s += std::abs(a[static_cast<std::size_t>(i * k + p)] * b[static_cast<std::size_t>(p * n + j)]);
        o.gemm_bound.push_back(static_cast<float>(k + 2) * std::numeric_limits<float>::epsilon() * s);
      }
    std::vector<double> a64(a.begin(), a.end()), b64(b.begin(), b.end()), c64(c.size());
    kernels::gemm(true, true, m, n, k, 1.0, a64.data(), m, b64.data(), k, 0.0, c64.data(), n);  // other layouts
    o.gemm64.insert(o.gemm64.end(), c64.begin(), c64.end());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int p = 0; p < k; ++p)
          s += std::abs(a64[static_cast<std::size_t>(p * m + i)] * b64[static_cast<std::size_t>(j * k + p)]);
        o.gemm64_bound.push_back((k + 2) * std::numeric_limits<double>::epsilon() * s);
      }
  }
  const auto x = fill(1000);
  o.tanh.resize(x.size());
  o.sigmoid.resize(x.size());
  kernels::tanh_forward(x.data(), o.tanh.data(), 1000);
  kernels::sigmoid_forward(x.data(), o.sigmoid.data(), 1000);
  std::vector<double> x64(x.begin(), x.end());
  o.tanh64.resize(x.size());
  kernels::tanh_forward(x64.data(), o.tanh64.data(), 1000);
  // One LSTM and one GRU step, batch 3 of 20 units.
  const int batch = 3, u = 20;
  o.lstm = fill(static_cast<std::size_t>(batch * 5 * u));
  const auto c_prev = fill(static_cast<std::size_t>(batch * u));
  std::vector<float> c(static_cast<std::size_t>(batch * u)), h(c.size());
  kernels::lstm_gates_forward(o.lstm.data(), c_prev.data(), c.data(), h.data(), batch, u);
  o.lstm.insert(o.lstm.end(), c.begin(), c.end());
  o.lstm.insert(o.lstm.end(), h.begin(), h.end());
  const auto xw = fill(static_cast<std::size_t>(batch * 3 * u));
  o.gru = fill(static_cast<std::size_t>(batch * 4 * u));
  kernels::gru_gates_forward(xw.data(), 3 * u, o.gru.data(), c_prev.data(), h.data(), batch, u);
  o.gru.insert(o.gru.end(), h.begin(), h.end());
  const auto rows = fill(37 * 45);
  o.sums.assign(45, 0.0f);
  kernels::add_column_sums(rows.data(), 45, 37, 45, o.sums.data());
  o.spread.assign(37 * 50, -1.0f);
  kernels::spread_rows(rows.data(), o.spread.data(), 50, 37, 45);
  const kernels::Conv1dGeometry g{2, 9, 3, 3, 2, 2, 2, 5};
  const auto cx = fill(2 * 9 * 3);
  o.conv.resize(static_cast<std::size_t>(2 * 5 * 3 * 3));
  kernels::im2col_1d(g, cx.data(), o.conv.data());
  return o;
}

// |got - want| <= ulps eps max(|want|, floor): relative, or absolute near zero where the values
// are sums or products of terms of magnitude `floor`.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double ulps, const char* what,
                  double floor = 1e-30) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol =
        ulps * std::max(std::abs(static_cast<double>(want[i])), floor) * std::numeric_limits<float>::epsilon();
    ASSERT_LE(std::abs(static_cast<double>(got[i]) - want[i]), tol) << what << " " << i;
  }
}

TEST(KernelIsa, AllPathsAgreeWithTheBaseline) {
  KeepIsa keep;
  set_kernel_isa("v2");
  const Outputs base = run_all();
  std::vector<std::string_view> paths = kernel_isas_available();
  paths.push_back("auto");
  for (std::string_view path : paths) {
    SCOPED_TRACE(::testing::Message() << "path " << path);
    set_kernel_isa(path);
    const Outputs o = run_all();
    ASSERT_EQ(o.gemm.size(), base.gemm.size());
    for (std::size_t i = 0; i < o.gemm.size(); ++i)
      ASSERT_LE(std::abs(o.gemm[i] - base.gemm[i]), base.gemm_bound[i]) << "gemm " << i;
    for (std::size_t i = 0; i < o.gemm64.size(); ++i)
      ASSERT_LE(std::abs(o.gemm64[i] - base.gemm64[i]), base.gemm64_bound[i]) << "gemm f64 " << i;
    expect_close(o.tanh, base.tanh, 4, "tanh");
    expect_close(o.sigmoid, base.sigmoid, 8, "sigmoid");
    EXPECT_EQ(o.tanh64, base.tanh64);
    // The gates compose a few fast functions and products of terms up to 2 (the cell state up
    // to 4): 16 ulp of 4 for the chains.
    expect_close(o.lstm, base.lstm, 16, "lstm", 4.0);
    expect_close(o.gru, base.gru, 16, "gru", 4.0);
    // 37 terms of magnitude up to 2, summed in another order: (37 + 2) eps 74.
    expect_close(o.sums, base.sums, 39, "column sums", 74.0);
    EXPECT_EQ(o.spread, base.spread);
    EXPECT_EQ(o.conv, base.conv);
  }
}

}  // namespace
}  // namespace tg
