// GEMM: tg::kernels::gemm against OpenBLAS on the shapes of RNN training.
//
// BM_Matmul/M/K/N          C[M,N] = A[M,K] B[K,N]              (forward projections)
// BM_MatmulTransA/M/K/N    C[M,N] += A[K,M]^T B[K,N]           (weight gradients, beta = 1)
// BM_MatmulTransB/M/K/N    C[M,N] = A[M,K] B[N,K]^T            (input gradients)
// BM_MatmulPrepacked/M/K/N C[M,N] = A[M,K] B[K,N], B packed once (pack_b_for, gemm_packed_b)
// BM_MatmulPlanned/M/K/N   the same planned once (plan_packed_b, gemm_planned): a scan's step
// BM_BlasSgemm*            the same calls through cblas_sgemm, OpenBLAS on one thread
// BM_BlasSgemmThreaded     cblas_sgemm with OpenBLAS' default thread count
// BM_MatmulF64, BM_BlasDgemm  the plain form in double precision
//
// The GFLOP/s counter counts 2*M*N*K flops per call.
//
// The kernels run on the path chosen at run time (ops/isa.h), reported as kernel_isa in the
// context; force one with the environment, e.g. TAPEGRAD_ISA=v3 tapegrad_bench
// --benchmark_filter=BM_Matmul/ (docs/performance.md, "Kernels chosen at run time").

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/gemm.h>

#ifdef TAPEGRAD_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

const bool kIsaInContext = [] {
  benchmark::AddCustomContext("kernel_isa", std::string(tg::kernel_isa()));
  return true;
}();

template <class T>
struct Operands {
  std::vector<T> a, b, c;
};

template <class T>
Operands<T> make_operands(std::int64_t m, std::int64_t k, std::int64_t n) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<T> dist(-1, 1);
  Operands<T> o{std::vector<T>(m * k), std::vector<T>(k * n), std::vector<T>(m * n)};
  for (T& x : o.a) x = dist(rng);
  for (T& x : o.b) x = dist(rng);
  for (T& x : o.c) x = dist(rng);
  return o;
}

void set_flops(benchmark::State& state, std::int64_t m, std::int64_t k, std::int64_t n) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

enum class Form { plain, trans_a, trans_b };

// Leading dimensions and beta of each form, as tapegrad's matmul and its backward call them.
struct Call {
  bool trans_a, trans_b;
  std::int64_t lda, ldb;
  float beta;
};

Call call_for(Form form, std::int64_t m, std::int64_t k, std::int64_t n) {
  switch (form) {
    case Form::trans_a: return {true, false, m, n, 1.0f};
    case Form::trans_b: return {false, true, k, k, 0.0f};
    case Form::plain: break;
  }
  return {false, false, k, n, 0.0f};
}

template <class T = float>
void run_tapegrad(benchmark::State& state, Form form) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Operands<T> o = make_operands<T>(m, k, n);
  const Call call = call_for(form, m, k, n);
  for (auto _ : state) {
    tg::kernels::gemm(call.trans_a, call.trans_b, m, n, k, T(1), o.a.data(), call.lda, o.b.data(), call.ldb,
                      T(call.beta), o.c.data(), n);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, m, k, n);
}

// B packed once and reused, as a recurrent scan does with its kernel U at every step; planned
// too when `planned` (the scan's way), else through the driver.
void run_prepacked(benchmark::State& state, bool planned) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Operands<float> o = make_operands<float>(m, k, n);
  std::vector<float> packed(static_cast<std::size_t>(tg::kernels::packed_b_size<float>(m, n, k)));
  tg::kernels::pack_b_for(false, m, n, k, o.b.data(), n, packed.data());
  const tg::kernels::PackedPlan<float> plan = tg::kernels::plan_packed_b<float>(m, n, k);
  for (auto _ : state) {
    if (planned)
      tg::kernels::gemm_planned(plan, o.a.data(), k, packed.data(), 0.0f, o.c.data(), n);
    else
      tg::kernels::gemm_packed_b(false, m, n, k, 1.0f, o.a.data(), k, packed.data(), 0.0f, o.c.data(), n);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, m, k, n);
}

void BM_Matmul(benchmark::State& state) { run_tapegrad(state, Form::plain); }
void BM_MatmulPrepacked(benchmark::State& state) { run_prepacked(state, false); }
void BM_MatmulPlanned(benchmark::State& state) { run_prepacked(state, true); }
void BM_MatmulTransA(benchmark::State& state) { run_tapegrad(state, Form::trans_a); }
void BM_MatmulTransB(benchmark::State& state) { run_tapegrad(state, Form::trans_b); }
void BM_MatmulF64(benchmark::State& state) { run_tapegrad<double>(state, Form::plain); }

#ifdef TAPEGRAD_HAVE_OPENBLAS
void run_blas(benchmark::State& state, Form form, int threads) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Operands<float> o = make_operands<float>(m, k, n);
  const Call call = call_for(form, m, k, n);
  openblas_set_num_threads(threads);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, call.trans_a ? CblasTrans : CblasNoTrans, call.trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, o.a.data(),
                static_cast<int>(call.lda), o.b.data(), static_cast<int>(call.ldb), call.beta, o.c.data(),
                static_cast<int>(n));
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  openblas_set_num_threads(1);
  set_flops(state, m, k, n);
}

void BM_BlasDgemm(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Operands<double> o = make_operands<double>(m, k, n);
  openblas_set_num_threads(1);
  for (auto _ : state) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0, o.a.data(), static_cast<int>(k), o.b.data(), static_cast<int>(n), 0.0,
                o.c.data(), static_cast<int>(n));
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, m, k, n);
}

void BM_BlasSgemm(benchmark::State& state) { run_blas(state, Form::plain, 1); }
void BM_BlasSgemmTransA(benchmark::State& state) { run_blas(state, Form::trans_a, 1); }
void BM_BlasSgemmTransB(benchmark::State& state) { run_blas(state, Form::trans_b, 1); }
void BM_BlasSgemmThreaded(benchmark::State& state) { run_blas(state, Form::plain, openblas_get_num_procs()); }
#endif

// Shapes as {M, K, N}: batch 32, hidden 20, 50 time steps (1600 rows when all steps are
// projected at once), hidden 256, and 512^3 for the large-matrix regime.
using Shapes = std::vector<std::vector<std::int64_t>>;

// Besides the usual aggregates, the minimum over repetitions: on a shared machine noise only
// ever adds time, so the minimum is the steadier figure to compare kernels with.
void add_shapes(benchmark::internal::Benchmark* b, const Shapes& shapes) {
  for (const auto& s : shapes) b->Args(s);
  b->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}
void plain_shapes(benchmark::internal::Benchmark* b) {
  add_shapes(b, {{32, 20, 20},
                 {32, 1, 20},
                 {32, 20, 1},
                 {32, 1, 1},  // a step of an RNN of one unit
                 {1600, 1, 20},
                 {1600, 1, 80},  // an LSTM(20)'s input projection of one feature: an outer product
                 {1600, 20, 20},
                 {1600, 20, 10},  // seq2seq's TimeDistributed(Dense(10)) on 1600 rows
                 {32, 256, 256},
                 {64, 256, 256},
                 {512, 512, 512}});
}
// A scan's step products at batch 32 and 20 units: h_{t-1} U of the tanh, GRU and LSTM cells,
// then dz_t U^T of each (N = 20, a quarter-register last vector with AVX-512).
void step_shapes(benchmark::internal::Benchmark* b) {
  add_shapes(b, {{32, 20, 20}, {32, 20, 60}, {32, 20, 80}, {32, 60, 20}, {32, 80, 20}});
}
void f64_shapes(benchmark::internal::Benchmark* b) { add_shapes(b, {{32, 20, 20}, {64, 256, 256}, {512, 512, 512}}); }
void trans_a_shapes(benchmark::internal::Benchmark* b) {
  add_shapes(b, {{20, 32, 20},
                 {20, 1600, 20},
                 {20, 1600, 10},
                 {1, 1600, 20},
                 {20, 1600, 1},
                 {1, 1600, 1},
                 {256, 64, 256},
                 {256, 1600, 256},
                 {256, 6400, 256}});
}
void trans_b_shapes(benchmark::internal::Benchmark* b) {
  add_shapes(b, {{32, 20, 20}, {32, 1, 20}, {1600, 20, 20}, {1600, 10, 20}, {64, 256, 256}});
}

}  // namespace

BENCHMARK(BM_Matmul)->Apply(plain_shapes);
BENCHMARK(BM_MatmulPrepacked)->Apply(step_shapes);
BENCHMARK(BM_MatmulPlanned)->Apply(step_shapes);
BENCHMARK(BM_MatmulTransA)->Apply(trans_a_shapes);
BENCHMARK(BM_MatmulTransB)->Apply(trans_b_shapes);
BENCHMARK(BM_MatmulF64)->Apply(f64_shapes);
#ifdef TAPEGRAD_HAVE_OPENBLAS
BENCHMARK(BM_BlasSgemm)->Apply(plain_shapes);
BENCHMARK(BM_BlasSgemmTransA)->Apply(trans_a_shapes);
BENCHMARK(BM_BlasSgemmTransB)->Apply(trans_b_shapes);
BENCHMARK(BM_BlasDgemm)->Apply(f64_shapes);
BENCHMARK(BM_BlasSgemmThreaded)
    ->Apply([](benchmark::internal::Benchmark* b) {
      add_shapes(b, {{512, 512, 512}});
    })
    ->UseRealTime();
#endif
