// The pieces of a recurrent training step, each beside its plain counterpart: one time step, the
// hoisted input projection, a whole sequence (forward + backward), the tanh/sigmoid kernels and
// the optimizer step. Batch 32 and 50 steps as in the walkthrough; hidden 20, 64 and 256.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/ops/kernels/unary.h>

namespace {

constexpr std::int64_t kBatch = 32, kSteps = 50;

tg::Tensor random(const tg::Shape& s, std::uint32_t seed, double scale = 1.0) {
  tg::Generator g(seed);
  return tg::uniform(s, -scale, scale, tg::DType::f32, &g);
}

void set_items(benchmark::State& state, std::int64_t per_iteration) {
  state.counters["ns_per_item"] = benchmark::Counter(static_cast<double>(state.iterations() * per_iteration),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// One time step h_t = tanh(xw_t + h_prev U), forward only (recording off). Arg 1: 0 the plain op
// (packs U at every call), 1 the scan (U packed once per sequence: the steps of one sequence).
void BM_RnnStepForward(benchmark::State& state) {
  const std::int64_t h = state.range(0);
  const bool scan = state.range(1) != 0;
  tg::Tensor xw = random({kBatch, kSteps, h}, 1), u = random({h, h}, 2, 1.0 / std::sqrt(double(h)));
  tg::Tensor h0 = random({kBatch, h}, 3);
  tg::NoGradGuard no_grad;
  tg::Tensor prev = h0;
  for (auto _ : state) {
    if (scan) {
      // A whole sequence through the scan (U packed once); items below count its steps.
      prev = tg::rnn_tanh_scan(xw, h0, u).h;
    } else {
      prev = tg::rnn_tanh_step(xw, 1, h0, u);
    }
    benchmark::DoNotOptimize(prev.raw_data());
  }
  set_items(state, scan ? kSteps : 1);
}
BENCHMARK(BM_RnnStepForward)->ArgsProduct({{20, 64, 256}, {0, 1}});

// One time step forward and backward, recording on: h = tanh(xw_t + h_prev U), loss sum(h), its
// backward (dz, dh_prev = dz U^T, dU = h_prev^T dz, d xw). Less BM_RnnStepForward/H/0: the step's
// backward with the tape's share of it.
void BM_RnnStepForwardBackward(benchmark::State& state) {
  const std::int64_t h = state.range(0);
  tg::Tensor xw = random({kBatch, kSteps, h}, 1).requires_grad_();
  tg::Tensor u = random({h, h}, 2, 1.0 / std::sqrt(double(h))).requires_grad_();
  tg::Tensor h0 = random({kBatch, h}, 3).requires_grad_();
  for (auto _ : state) {
    tg::sum(tg::rnn_tanh_step(xw, 1, h0, u)).backward();
    benchmark::DoNotOptimize(u.grad().raw_data());
  }
  set_items(state, 1);
}
BENCHMARK(BM_RnnStepForwardBackward)->Arg(20)->Arg(64)->Arg(256);

// A whole sequence, forward and backward: the 50 steps of one SimpleRNN layer from xw, with the
// loss sum(h_T). Arg 1: 0 plain steps (dU per step, U packed per call), 1 the scan.
void BM_RnnSequence(benchmark::State& state) {
  const std::int64_t h = state.range(0);
  const bool scan = state.range(1) != 0;
  tg::Tensor xw = random({kBatch, kSteps, h}, 1).requires_grad_();
  tg::Tensor u = random({h, h}, 2, 1.0 / std::sqrt(double(h))).requires_grad_();
  for (auto _ : state) {
    tg::Tensor hs;
    if (scan)
      hs = tg::rnn_tanh_scan(xw, tg::Tensor(), u).h;
    else
      for (std::int64_t t = 0; t < kSteps; ++t) hs = tg::rnn_tanh_step(xw, t, hs, u);
    tg::sum(hs).backward();
    benchmark::DoNotOptimize(u.grad().raw_data());
    xw.zero_grad();
    u.zero_grad();
  }
  set_items(state, kSteps);  // ns per step, forward + backward
}
BENCHMARK(BM_RnnSequence)->ArgsProduct({{20, 64, 256}, {0, 1}});

// The hoisted input projection x W + b of all steps at once, forward and backward. Arg: features.
void BM_InputProjection(benchmark::State& state) {
  const std::int64_t f = state.range(0), h = state.range(1);
  tg::Tensor x = random({kBatch, kSteps, f}, 1);
  tg::Tensor w = random({f, h}, 2).requires_grad_(), b = random({h}, 3).requires_grad_();
  for (auto _ : state) {
    tg::Tensor y = tg::linear(x, w, b);
    tg::sum(y).backward();
    benchmark::DoNotOptimize(w.grad().raw_data());
    w.zero_grad();
    b.zero_grad();
  }
}
BENCHMARK(BM_InputProjection)->Args({1, 20})->Args({20, 20})->Args({256, 256});

// The float32 kernels on one step's worth of values ([32, H]) against the C library.
std::vector<float> inputs(std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = -4.0f + 8.0f * static_cast<float>(i) / static_cast<float>(n);
  return v;
}

void BM_TanhKernel(benchmark::State& state) {
  std::vector<float> x = inputs(state.range(0)), y(x.size());
  for (auto _ : state) {
    tg::kernels::tanh_forward(x.data(), y.data(), state.range(0));
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state, state.range(0));
}
BENCHMARK(BM_TanhKernel)->Arg(640)->Arg(8192);

void BM_StdTanh(benchmark::State& state) {
  std::vector<float> x = inputs(state.range(0)), y(x.size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::tanh(x[i]);
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state, state.range(0));
}
BENCHMARK(BM_StdTanh)->Arg(640)->Arg(8192);

void BM_SigmoidKernel(benchmark::State& state) {
  std::vector<float> x = inputs(state.range(0)), y(x.size());
  for (auto _ : state) {
    tg::kernels::sigmoid_forward(x.data(), y.data(), state.range(0));
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state, state.range(0));
}
BENCHMARK(BM_SigmoidKernel)->Arg(640)->Arg(8192);

void BM_StdSigmoid(benchmark::State& state) {
  std::vector<float> x = inputs(state.range(0)), y(x.size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state, state.range(0));
}
BENCHMARK(BM_StdSigmoid)->Arg(640)->Arg(8192);

// One Adam step over the deep RNN's parameters (hidden H: 2 SimpleRNN + Dense(1)).
void BM_AdamStep(benchmark::State& state) {
  const std::int64_t h = state.range(0);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(h, {.return_sequences = true}), tg::SimpleRNN(h),
                       tg::Dense(1));
  std::vector<tg::Tensor> params = model.parameters();
  for (tg::Tensor& p : params) p.set_grad(tg::ones_like(p));
  tg::Adam opt(params);
  for (auto _ : state) opt.step();
  std::int64_t n = 0;
  for (const tg::Tensor& p : params) n += p.numel();
  set_items(state, n);
}
BENCHMARK(BM_AdamStep)->Arg(20)->Arg(256);

}  // namespace
