// The cost of the tape itself: record + backward of a long chain of ops on one-element tensors,
// where arithmetic is nothing and bookkeeping is everything.
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.h>

namespace {

void BM_TapeOverhead(benchmark::State& state) {
  const auto n = state.range(0);
  tg::Tensor x = tg::scalar(0.5).requires_grad_();
  for (auto _ : state) {
    tg::Tensor y = x;
    for (std::int64_t i = 0; i < n; ++i) y = i % 2 ? tg::tanh(y) : y * 1.0001;
    y.backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
    x.zero_grad();
  }
  // Forward and backward of one op, averaged.
  state.counters["ns_per_op"] = benchmark::Counter(static_cast<double>(state.iterations() * n),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TapeOverhead)->Arg(1000)->Arg(100000);

// Recording only (no backward): what the forward pass pays per op.
void BM_TapeRecordOnly(benchmark::State& state) {
  const auto n = state.range(0);
  tg::Tensor x = tg::scalar(0.5).requires_grad_();
  for (auto _ : state) {
    tg::Tensor y = x;
    for (std::int64_t i = 0; i < n; ++i) y = y * 1.0001;
    benchmark::DoNotOptimize(y.raw_data());
    tg::tape().clear();
  }
  state.counters["ns_per_op"] = benchmark::Counter(static_cast<double>(state.iterations() * n),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TapeRecordOnly)->Arg(1000);

// The same ops with recording off: the op's own cost (allocation from the pool and the loop).
void BM_OpsNoGrad(benchmark::State& state) {
  const auto n = state.range(0);
  tg::Tensor x = tg::scalar(0.5);
  tg::NoGradGuard no_grad;
  for (auto _ : state) {
    tg::Tensor y = x;
    for (std::int64_t i = 0; i < n; ++i) y = y * 1.0001;
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.counters["ns_per_op"] = benchmark::Counter(static_cast<double>(state.iterations() * n),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_OpsNoGrad)->Arg(1000);

}  // namespace
