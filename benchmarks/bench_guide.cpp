// The example of docs/benchmarks.md: one training step (forward, backward, Adam) of a
// SimpleRNN layer, for a few batch sizes.
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.h>

namespace {

void BM_SimpleRNNTrainStep(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  tg::Generator gen(42);
  tg::Tensor x = tg::randn({batch, 50, 1}, tg::DType::f32, &gen);  // [B, T, F]
  tg::Tensor y = tg::randn({batch, 1}, tg::DType::f32, &gen);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(20), tg::Dense(1));
  tg::Adam opt(model.parameters());
  for (auto _ : state) {  // only this loop is timed
    opt.zero_grad();
    tg::Tensor loss = tg::mse(y, model(x));
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * batch);  // reported as sequences per second
}
BENCHMARK(BM_SimpleRNNTrainStep)->Arg(1)->Arg(32)->Unit(benchmark::kMicrosecond);

}  // namespace
