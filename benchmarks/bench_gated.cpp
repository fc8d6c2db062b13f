// The fused LSTM and GRU steps (ops/gated.h) against the same steps written with plain ops
// (lstm_step_composed, gru_step_composed): forward + backward of one step and of a 50-step
// sequence, batch 32, hidden 20, float32. The input projection xw is a leaf here, so only the
// recurrent part (what a layer repeats per step) is measured.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include <tapegrad/ops/kernels/gated.h>
#include <tapegrad/tapegrad.h>

namespace {

constexpr std::int64_t kBatch = 32, kHidden = 20;

struct Leaves {
  tg::Tensor xw, h, c, u, bias;
};

Leaves make_leaves(int gates, std::int64_t steps) {
  tg::Generator g(7);
  Leaves l;
  l.xw = tg::uniform({kBatch, steps, gates * kHidden}, -1, 1, tg::DType::f32, &g).requires_grad_();
  l.h = tg::uniform({kBatch, kHidden}, -1, 1, tg::DType::f32, &g).requires_grad_();
  l.c = tg::uniform({kBatch, kHidden}, -1, 1, tg::DType::f32, &g).requires_grad_();
  l.u = tg::uniform({kHidden, gates * kHidden}, -0.3, 0.3, tg::DType::f32, &g).requires_grad_();
  l.bias = tg::uniform({2, gates * kHidden}, -0.1, 0.1, tg::DType::f32, &g).requires_grad_();
  return l;
}

void zero_grads(Leaves& l) {
  for (tg::Tensor* t : {&l.xw, &l.h, &l.c, &l.u, &l.bias}) t->zero_grad();
}

// One step from given states, backward from h (seeded with ones).
template <bool Fused>
void BM_LstmStep(benchmark::State& state) {
  Leaves l = make_leaves(4, 1);
  tg::Tensor seed = tg::ones({kBatch, kHidden});
  for (auto _ : state) {
    tg::LSTMStepOutput s =
        Fused ? tg::lstm_step(l.xw, 0, l.h, l.c, l.u) : tg::lstm_step_composed(l.xw, 0, l.h, l.c, l.u);
    s.h.backward(seed);
    benchmark::DoNotOptimize(l.u.grad().raw_data());
    zero_grads(l);
  }
}
BENCHMARK(BM_LstmStep<true>)->Name("BM_LstmStep/fused");
BENCHMARK(BM_LstmStep<false>)->Name("BM_LstmStep/composed");

template <bool Fused>
void BM_GruStep(benchmark::State& state) {
  Leaves l = make_leaves(3, 1);
  tg::Tensor seed = tg::ones({kBatch, kHidden});
  for (auto _ : state) {
    tg::Tensor h = Fused ? tg::gru_step(l.xw, 0, l.h, l.u, l.bias) : tg::gru_step_composed(l.xw, 0, l.h, l.u, l.bias);
    h.backward(seed);
    benchmark::DoNotOptimize(l.u.grad().raw_data());
    zero_grads(l);
  }
}
BENCHMARK(BM_GruStep<true>)->Name("BM_GruStep/fused");
BENCHMARK(BM_GruStep<false>)->Name("BM_GruStep/composed");

// 50 steps from zero states, backward from the last h: what one layer of the seed models does
// per batch after its input projection.
template <bool Fused>
void BM_LstmSequence(benchmark::State& state) {
  const std::int64_t steps = state.range(0);
  Leaves l = make_leaves(4, steps);
  tg::Tensor seed = tg::ones({kBatch, kHidden});
  for (auto _ : state) {
    tg::LSTMStepOutput s;
    for (std::int64_t t = 0; t < steps; ++t)
      s = Fused ? tg::lstm_step(l.xw, t, s.h, s.c, l.u) : tg::lstm_step_composed(l.xw, t, s.h, s.c, l.u);
    s.h.backward(seed);
    benchmark::DoNotOptimize(l.u.grad().raw_data());
    zero_grads(l);
  }
  state.counters["per_step"] = benchmark::Counter(static_cast<double>(state.iterations() * steps),
                                                  benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_LstmSequence<true>)->Name("BM_LstmSequence/fused")->Arg(50);
BENCHMARK(BM_LstmSequence<false>)->Name("BM_LstmSequence/composed")->Arg(50);

template <bool Fused>
void BM_GruSequence(benchmark::State& state) {
  const std::int64_t steps = state.range(0);
  Leaves l = make_leaves(3, steps);
  tg::Tensor seed = tg::ones({kBatch, kHidden});
  for (auto _ : state) {
    tg::Tensor h;
    for (std::int64_t t = 0; t < steps; ++t)
      h = Fused ? tg::gru_step(l.xw, t, h, l.u, l.bias) : tg::gru_step_composed(l.xw, t, h, l.u, l.bias);
    h.backward(seed);
    benchmark::DoNotOptimize(l.u.grad().raw_data());
    zero_grads(l);
  }
  state.counters["per_step"] = benchmark::Counter(static_cast<double>(state.iterations() * steps),
                                                  benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_GruSequence<true>)->Name("BM_GruSequence/fused")->Arg(50);
BENCHMARK(BM_GruSequence<false>)->Name("BM_GruSequence/composed")->Arg(50);

// The gate kernels alone (ops/kernels/gated.h) on one step's rows, batch 32, hidden 20, float32,
// on the active path (TAPEGRAD_ISA picks another): what the steps above spend outside their
// GEMMs and the tape.
void BM_GateKernels(benchmark::State& state) {
  const int which =
      static_cast<int>(state.range(0));  // 0: lstm forward, 1: lstm backward, 2: gru forward, 3: gru backward
  const std::int64_t b = kBatch, u = kHidden;
  tg::Generator g(3);
  auto values = [&](std::int64_t n, double lo, double hi) {
    tg::Tensor t = tg::uniform({n}, lo, hi, tg::DType::f32, &g);
    const float* p = t.data<float>();
    return std::vector<float>(p, p + n);
  };
  std::vector<float> gates = values(b * 5 * u, -0.9, 0.9), xw = values(b * 3 * u, -2, 2),
                     state_prev = values(b * u, -1, 1), grad = values(b * u, -1, 1), grad2 = values(b * u, -1, 1),
                     acc = values(b * u, -1, 1), out1(static_cast<std::size_t>(b * 4 * u)),
                     out2(static_cast<std::size_t>(b * 4 * u)), c(static_cast<std::size_t>(b * u)),
                     h(static_cast<std::size_t>(b * u));
  const std::vector<float> fresh = gates;
  for (auto _ : state) {
    switch (which) {
      case 0:
        std::copy(fresh.begin(), fresh.end(), gates.begin());  // the activations would saturate
        tg::kernels::lstm_gates_forward(gates.data(), state_prev.data(), c.data(), h.data(), b, u);
        break;
      case 1:
        tg::kernels::lstm_gates_backward(gates.data(), state_prev.data(), grad.data(), grad2.data(), out1.data(),
                                         acc.data(), b, u);
        break;
      case 2:
        std::copy(fresh.begin(), fresh.end(), gates.begin());
        tg::kernels::gru_gates_forward(xw.data(), 3 * u, gates.data(), state_prev.data(), h.data(), b, u);
        break;
      default:
        tg::kernels::gru_gates_backward(gates.data(), state_prev.data(), grad.data(), out1.data(), out2.data(),
                                        acc.data(), b, u);
    }
    benchmark::DoNotOptimize(gates.data());
    benchmark::DoNotOptimize(out1.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_GateKernels)->Name("BM_GateKernels/lstm_forward")->Arg(0);
BENCHMARK(BM_GateKernels)->Name("BM_GateKernels/lstm_backward")->Arg(1);
BENCHMARK(BM_GateKernels)->Name("BM_GateKernels/gru_forward")->Arg(2);
BENCHMARK(BM_GateKernels)->Name("BM_GateKernels/gru_backward")->Arg(3);

}  // namespace
