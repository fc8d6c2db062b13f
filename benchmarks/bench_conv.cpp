// Conv1D forward + backward at the walkthrough's sizes (batch 32, 50 steps): the WaveNet's causal
// dilated layers (20 -> 20 filters, kernel 2), its 1x1 head, and the Conv1D in front of the GRUs
// (1 -> 20 filters, kernel 4, stride 2). Arguments: kernel size, stride, dilation, padding
// (0 valid, 1 causal, 2 same), input features, filters.
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.h>

namespace {

void BM_Conv1DForwardBackward(benchmark::State& state) {
  const std::int64_t k = state.range(0), s = state.range(1), d = state.range(2);
  const auto padding = static_cast<tg::Padding>(state.range(3));
  const std::int64_t features = state.range(4), filters = state.range(5);
  const std::int64_t batch = 32, steps = 50;
  tg::manual_seed(1);
  tg::Conv1D conv(filters, k, {.strides = s, .padding = padding, .dilation_rate = d});
  conv.build({-1, steps, features});
  tg::Tensor x = tg::uniform({batch, steps, features}, -1.0, 1.0).requires_grad_();
  for (auto _ : state) {
    tg::Tensor y = conv(x);
    y.backward(tg::ones_like(y));
    benchmark::DoNotOptimize(conv.kernel.grad().raw_data());
    conv.zero_grad();
    x.zero_grad();
  }
  const double flops = 2.0 * 3.0 * batch * static_cast<double>(conv.output_steps(steps)) * k * features * filters;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Conv1DForwardBackward)
    ->ArgNames({"k", "s", "d", "pad", "F", "O"})
    ->Args({2, 1, 1, 1, 20, 20})  // WaveNet, dilation 1
    ->Args({2, 1, 8, 1, 20, 20})  // WaveNet, dilation 8
    ->Args({2, 1, 1, 1, 1, 20})   // WaveNet's first layer
    ->Args({1, 1, 1, 0, 20, 10})  // WaveNet's 1x1 head
    ->Args({4, 2, 1, 0, 1, 20});  // Conv1D before the GRUs

// The whole simplified WaveNet (8 causal dilated layers and the head), forward + backward of an
// MSE loss on one batch: what one training step of the walkthrough's model costs, optimizer aside.
void BM_WaveNetStep(benchmark::State& state) {
  tg::manual_seed(1);
  tg::Sequential m;
  for (int rep = 0; rep < 2; ++rep)
    for (std::int64_t rate : {1, 2, 4, 8})
      m.add(tg::Conv1D(20, 2,
                       {.padding = tg::Padding::causal, .dilation_rate = rate, .activation = tg::activations::relu}));
  m.add(tg::Conv1D(10, 1));
  m.build({-1, -1, 1});
  tg::Tensor x = tg::uniform({32, 50, 1}, -1.0, 1.0);
  tg::Tensor y = tg::uniform({32, 50, 10}, -1.0, 1.0);
  for (auto _ : state) {
    m.zero_grad();
    tg::Tensor loss = tg::mse(y, m(x));
    loss.backward();
    benchmark::DoNotOptimize(loss.raw_data());
  }
}
BENCHMARK(BM_WaveNetStep)->Unit(benchmark::kMicrosecond);

}  // namespace
