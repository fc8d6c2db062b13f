// Intra-op parallelism: the pool's fork/join cost and the products it splits, against GCC's
// OpenMP (libgomp, as PyTorch's CPU build uses) on the same splits when the benchmarks are
// built with it (benchmarks/CMakeLists.txt finds it).
//
// BM_ForkJoin/T             parallel_for over T parts, each waiting for the others to start: a fork
//                           and a join with every thread taking part
// BM_OmpForkJoin/T          #pragma omp parallel for over T parts, schedule(static), empty body
// BM_ParallelGemm/M/N/K/T   parallel_gemm, C = A B (the large_rnn step: 64 x 256 x 256)
// BM_OmpGemm/M/N/K/T        the same blocks of C under #pragma omp parallel for
// BM_ParallelGemmTransA/...  C += A^T B, a weight gradient (large_rnn's dU: 256 x 256 x 6399)
// BM_ShardedStep/B/H/T/S    one recurrent step on B packed in S column shards (0: the default):
//                           z = h U + xw_t, then tanh of each shard's slice by its thread
// BM_OmpShardedStep/B/H/T   the same shards under #pragma omp parallel for
// BM_Tanh/N/T               tanh over N floats split in parts of kMathGrain (ops' split)
//
// T is the thread count (set with kernels::set_num_threads / num_threads(T)). Times are per call.

#include <benchmark/benchmark.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/parallel.h>
#include <tapegrad/ops/kernels/unary.h>

#ifdef TAPEGRAD_HAVE_OPENMP
#include <omp.h>
#endif

namespace {

namespace k = tg::kernels;

std::vector<float> random_floats(std::int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Tanh over columns [j0, j1) of rows [0, rows) of c (leading dimension ld).
void tanh_columns(float* c, std::int64_t ld, std::int64_t rows, std::int64_t j0, std::int64_t j1) {
  for (std::int64_t i = 0; i < rows; ++i) k::tanh_forward(c + i * ld + j0, c + i * ld + j0, j1 - j0);
}

void BM_ForkJoin(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  k::set_num_threads(threads);
  // Each part waits for the others to start, so that every thread takes one (a region whose
  // caller ran all the parts alone would be no fork, and the pool would stop forking them).
  std::atomic<int> started{0};
  for (auto _ : state) {
    started.store(0, std::memory_order_relaxed);
    k::parallel_for(threads, 1, [&](std::int64_t b, std::int64_t e) {
      started.fetch_add(static_cast<int>(e - b), std::memory_order_acq_rel);
      while (started.load(std::memory_order_acquire) < threads) {
      }
    });
  }
  k::set_num_threads(1);
}
BENCHMARK(BM_ForkJoin)->Arg(1)->Arg(2)->UseRealTime();

void BM_ParallelGemm(benchmark::State& state) {
  const std::int64_t m = state.range(0), n = state.range(1), kk = state.range(2);
  k::set_num_threads(static_cast<int>(state.range(3)));
  const auto a = random_floats(m * kk, 1), b = random_floats(kk * n, 2);
  std::vector<float> c(static_cast<std::size_t>(m * n));
  for (auto _ : state) {
    k::parallel_gemm(false, false, m, n, kk, 1.0f, a.data(), kk, b.data(), n, 0.0f, c.data(), n);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(m * n * kk), benchmark::Counter::kIsIterationInvariantRate);
  k::set_num_threads(1);
}
BENCHMARK(BM_ParallelGemm)
    ->Args({64, 256, 256, 1})
    ->Args({64, 256, 256, 2})
    ->Args({6400, 256, 32, 1})
    ->Args({6400, 256, 32, 2})
    ->UseRealTime();

void BM_ParallelGemmTransA(benchmark::State& state) {
  const std::int64_t m = state.range(0), n = state.range(1), kk = state.range(2);
  k::set_num_threads(static_cast<int>(state.range(3)));
  const auto a = random_floats(kk * m, 1), b = random_floats(kk * n, 2);
  std::vector<float> c(static_cast<std::size_t>(m * n));
  for (auto _ : state) {
    k::parallel_gemm(true, false, m, n, kk, 1.0f, a.data(), m, b.data(), n, 1.0f, c.data(), n);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(m * n * kk), benchmark::Counter::kIsIterationInvariantRate);
  k::set_num_threads(1);
}
BENCHMARK(BM_ParallelGemmTransA)->Args({256, 256, 6399, 1})->Args({256, 256, 6399, 2})->UseRealTime();

void BM_ShardedStep(benchmark::State& state) {
  const std::int64_t batch = state.range(0), h = state.range(1), steps = 100;
  k::set_num_threads(static_cast<int>(state.range(2)));
  const auto u = random_floats(h * h, 1), hp = random_floats(batch * h, 2), xw = random_floats(batch * steps * h, 3);
  std::vector<float> z(static_cast<std::size_t>(batch * h));
  k::ShardedPackedB<float> packed;
  packed.pack(false, batch, h, h, u.data(), h, static_cast<int>(state.range(3)));
  for (auto _ : state) {
    packed.multiply(hp.data(), h, 0.0f, z.data(), h, xw.data(), steps * h,
                    [&](std::int64_t j0, std::int64_t j1) { tanh_columns(z.data(), h, batch, j0, j1); });
    benchmark::ClobberMemory();
  }
  state.counters["shards"] = packed.shards();
  k::set_num_threads(1);
}
BENCHMARK(BM_ShardedStep)
    ->Args({64, 256, 1, 1})
    ->Args({64, 256, 1, 0})
    ->Args({64, 256, 2, 0})
    ->Args({64, 256, 2, 2})
    ->Args({64, 256, 2, 4})
    ->Args({64, 512, 1, 1})
    ->Args({64, 512, 2, 0})
    ->Args({32, 20, 1, 1})
    ->UseRealTime();

void BM_Tanh(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  k::set_num_threads(static_cast<int>(state.range(1)));
  const auto x = random_floats(n, 1);
  std::vector<float> y(static_cast<std::size_t>(n));
  for (auto _ : state) {
    k::parallel_for(n, k::kMathGrain,
                    [&](std::int64_t b, std::int64_t e) { k::tanh_forward(x.data() + b, y.data() + b, e - b); });
    benchmark::ClobberMemory();
  }
  k::set_num_threads(1);
}
BENCHMARK(BM_Tanh)
    ->Args({16384, 1})
    ->Args({16384, 2})
    ->Args({65536, 1})
    ->Args({65536, 2})
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 2})
    ->UseRealTime();

void BM_Add(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  k::set_num_threads(static_cast<int>(state.range(1)));
  const auto x = random_floats(n, 1), y = random_floats(n, 2);
  std::vector<float> z(static_cast<std::size_t>(n));
  for (auto _ : state) {
    k::parallel_for(n, k::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i)
        z[static_cast<std::size_t>(i)] = x[static_cast<std::size_t>(i)] + y[static_cast<std::size_t>(i)];
    });
    benchmark::ClobberMemory();
  }
  k::set_num_threads(1);
}
BENCHMARK(BM_Add)->Args({65536, 1})->Args({65536, 2})->Args({1 << 20, 1})->Args({1 << 20, 2})->UseRealTime();

#ifdef TAPEGRAD_HAVE_OPENMP
void BM_OmpForkJoin(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  k::set_num_threads(1);
  std::int64_t sink = 0;
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < threads; ++i) benchmark::DoNotOptimize(sink + i);
  }
}
BENCHMARK(BM_OmpForkJoin)->Arg(1)->Arg(2)->UseRealTime();

void BM_OmpGemm(benchmark::State& state) {
  const std::int64_t m = state.range(0), n = state.range(1), kk = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  k::set_num_threads(1);  // the blocks' calls run inline, on OpenMP's threads
  const auto a = random_floats(m * kk, 1), b = random_floats(kk * n, 2);
  std::vector<float> c(static_cast<std::size_t>(m * n));
  const k::GemmSplit split = k::gemm_split(m, n, kk);
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < split.count; ++i) {
      const std::int64_t lo = split.begin(i), hi = split.begin(i + 1);
      if (split.by_rows)
        k::gemm(false, false, hi - lo, n, kk, 1.0f, a.data() + lo * kk, kk, b.data(), n, 0.0f, c.data() + lo * n, n);
      else
        k::gemm(false, false, m, hi - lo, kk, 1.0f, a.data(), kk, b.data() + lo, n, 0.0f, c.data() + lo, n);
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(m * n * kk), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OmpGemm)->Args({64, 256, 256, 1})->Args({64, 256, 256, 2})->Args({6400, 256, 32, 2})->UseRealTime();

void BM_OmpShardedStep(benchmark::State& state) {
  const std::int64_t batch = state.range(0), h = state.range(1), steps = 100;
  const int threads = static_cast<int>(state.range(2));
  k::set_num_threads(2);  // the default shard count of the pool's run
  const auto u = random_floats(h * h, 1), hp = random_floats(batch * h, 2), xw = random_floats(batch * steps * h, 3);
  std::vector<float> z(static_cast<std::size_t>(batch * h));
  k::ShardedPackedB<float> packed;
  packed.pack(false, batch, h, h, u.data(), h, static_cast<int>(state.range(3)));
  // The shards' plans and buffers through the public multiply, one shard per iteration of the loop:
  // a one-shard view is not public, so each iteration multiplies its shard's columns itself.
  std::vector<k::ShardedPackedB<float>> one(static_cast<std::size_t>(packed.shards()));
  for (int s = 0; s < packed.shards(); ++s)
    one[static_cast<std::size_t>(s)].pack(false, batch, packed.begin(s + 1) - packed.begin(s), h,
                                          u.data() + packed.begin(s), h, 1);
  const int shards = packed.shards();
  k::set_num_threads(1);  // each shard's multiply runs inline, on OpenMP's threads
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int s = 0; s < shards; ++s) {
      const std::int64_t j0 = packed.begin(s), j1 = packed.begin(s + 1);
      one[static_cast<std::size_t>(s)].multiply(hp.data(), h, 0.0f, z.data() + j0, h, xw.data() + j0, steps * h);
      tanh_columns(z.data(), h, batch, j0, j1);
    }
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_OmpShardedStep)->Args({64, 256, 2, 0})->Args({64, 256, 2, 2})->UseRealTime();
#endif

}  // namespace
