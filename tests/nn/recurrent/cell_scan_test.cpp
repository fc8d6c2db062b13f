// Each built-in cell's scan against the default scan, the loop of its steps: the same outputs,
// final states, sequence and per-step outputs, and the same gradients of the parameters, the
// inputs and the initial states, in float64 and float32, forward and reversed. And gradcheck of
// the layers, which run the cells' scans.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>
#include "support/alloc_counter.h"

namespace tg {
namespace {

struct CellCase {
  std::string name;
  std::function<std::shared_ptr<RecurrentCell>()> make;
};

void PrintTo(const CellCase& c, std::ostream* os) { *os << c.name; }

std::vector<CellCase> cells() {
  return {{"SimpleRNNCell", [] { return std::make_shared<SimpleRNNCell>(5); }},
          {"LSTMCell", [] { return std::make_shared<LSTMCell>(5); }},
          {"GRUCell", [] { return std::make_shared<GRUCell>(5); }},
          {"GRUCell_reset_before", [] { return std::make_shared<GRUCell>(5, GRUOptions{.reset_after = false}); }}};
}

Tensor random(const Shape& s, std::uint32_t seed, DType dt) {
  Generator g(seed);
  return randn(s, dt, &g);
}

struct ScanRun {
  std::vector<Tensor> values;  // final states, sequence, outputs
  std::vector<Tensor> grads;   // parameters, x, initial states
};

// One scan of `cell` (its own, or the default loop of steps) on x, differentiated through a loss
// that reads the final states, the sequence and every kept output.
ScanRun run(RecurrentCell& cell, bool own, const Tensor& x0, bool reverse, bool initial, DType dt) {
  cell.zero_grad();
  Tensor x = x0.clone().requires_grad_();
  const std::int64_t b = x.size(0), steps = x.size(1);
  States init(cell.state_sizes().size());
  if (initial)
    for (std::size_t i = 0; i < init.size(); ++i)
      init[i] = random({b, cell.state_sizes()[i]}, 30 + static_cast<std::uint32_t>(i), dt).requires_grad_();
  std::vector<Tensor> outputs;
  ScanOptions o;
  o.steps = steps;
  o.reverse = reverse;
  o.return_sequence = true;
  o.outputs = &outputs;
  Tensor prepared = cell.prepare(x);
  ScanResult r = own ? cell.scan(prepared, init, o) : cell.RecurrentCell::scan(prepared, init, o);
  EXPECT_EQ(static_cast<std::int64_t>(outputs.size()), steps);
  Tensor loss = sum(square(r.sequence)) + sum(r.sequence * random(r.sequence.shape(), 7, dt));
  for (std::size_t i = 0; i < r.states.size(); ++i) loss = loss + sum(r.states[i] * static_cast<double>(i + 2));
  for (std::size_t t = 0; t < outputs.size(); ++t)
    loss = loss + sum(outputs[t] * random(outputs[t].shape(), 40 + static_cast<std::uint32_t>(t), dt));
  loss.backward();
  ScanRun out;
  for (const Tensor& s : r.states) out.values.push_back(s.detach());
  out.values.push_back(r.sequence.detach());
  for (const Tensor& h : outputs) out.values.push_back(h.detach());
  for (const Tensor& p : cell.parameters()) out.grads.push_back(p.grad().clone());
  out.grads.push_back(x.grad());
  for (const Tensor& s : init)
    if (s.defined()) out.grads.push_back(s.grad());
  return out;
}

void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t k = 0; k < want.size(); ++k) {
    ASSERT_EQ(got[k].shape(), want[k].shape()) << what << " " << k;
    std::vector<double> x = got[k].to_vector(), y = want[k].to_vector();
    double scale = 1.0;
    for (double v : y) scale = std::max(scale, std::abs(v));
    for (std::size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(x[i], y[i], tol * scale) << what << " " << k << " [" << i << "]";
  }
}

class CellScan : public ::testing::TestWithParam<CellCase> {};

TEST_P(CellScan, EqualsTheLoopOfSteps) {
  for (DType dt : {DType::f64, DType::f32}) {
    auto cell = GetParam().make();
    manual_seed(3);
    cell->build({-1, 2});
    cell->to(dt);
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    for (bool reverse : {false, true})
      for (bool initial : {false, true}) {
        SCOPED_TRACE(std::string(dt == DType::f64 ? "f64" : "f32") + (reverse ? " reverse" : "") +
                     (initial ? " initial states" : ""));
        Tensor x = random({4, 7, 2}, 11, dt);
        ScanRun own = run(*cell, true, x, reverse, initial, dt), loop = run(*cell, false, x, reverse, initial, dt);
        expect_close(own.values, loop.values, tol, "values");
        expect_close(own.grads, loop.grads, tol, "gradients");
      }
  }
}

// The layers run the cells' scans: gradcheck in float64 through them, forward and reversed
// (Bidirectional), last state and sequences.
TEST_P(CellScan, GradcheckThroughTheLayer) {
  for (bool seq : {false, true}) {
    SCOPED_TRACE(seq ? "return_sequences" : "last state");
    manual_seed(5);
    Bidirectional layer(std::make_shared<RNN>(GetParam().make(), RNNOptions{.return_sequences = seq}));
    layer.build({-1, -1, 2});
    layer.to(DType::f64);
    Tensor x = random({2, 5, 2}, 12, DType::f64).requires_grad_();
    std::vector<Tensor> leaves = layer.parameters();
    leaves.push_back(x);
    GradcheckResult r = gradcheck_leaves([&] { return sum(square(layer(x))); }, leaves);
    EXPECT_TRUE(r.ok) << r.message;
  }
}

INSTANTIATE_TEST_SUITE_P(BuiltIn, CellScan, ::testing::ValuesIn(cells()),
                         [](const ::testing::TestParamInfo<CellCase>& i) { return i.param.name; });

// A masked sequence runs the default scan; a partly padded batch still gives, row by row, what the
// unpadded sequences give, through the cells' own scans.
TEST(CellScanMask, PaddedRowsEqualTheShortSequences) {
  for (const CellCase& c : cells()) {
    SCOPED_TRACE(c.name);
    manual_seed(6);
    RNN layer(c.make(), {.return_sequences = false});
    layer.build({-1, -1, 2});
    layer.to(DType::f64);
    Tensor x = random({2, 6, 2}, 13, DType::f64);
    Tensor mask = ones({2, 6}, DType::f64);
    for (std::int64_t t = 4; t < 6; ++t) mask.data<double>()[6 + t] = 0.0;  // row 1 has 4 steps
    Tensor masked = layer.forward_masked(x, mask);
    Tensor short_row = layer(slice(slice(x, 0, 1, 1), 1, 0, 4));
    Tensor full_row = layer(slice(x, 0, 0, 1));
    EXPECT_LT(max(abs(select(masked, 0, 1) - select(short_row, 0, 0))).item(), 1e-12);
    EXPECT_LT(max(abs(select(masked, 0, 0) - select(full_row, 0, 0))).item(), 1e-12);
  }
}

// The scans' state comes from a per-thread reuse list: a warm training step of the gated layers,
// forward and reversed, with sequences, makes no heap allocation.
TEST(CellScanMemory, WarmGatedTrainingStepsAllocateNothing) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  manual_seed(1);
  Sequential model(Input{None, 1}, LSTM(8, {.return_sequences = true}),
                   Bidirectional(GRU(8, {.return_sequences = true})), GRU(8), Dense(1));
  Generator g(2);
  Tensor x = randn({16, 12, 1}, DType::f32, &g), y = randn({16, 1}, DType::f32, &g);
  Adam opt(model.parameters(), 0.001);
  auto step = [&] {
    opt.zero_grad();
    mse(y, model(x)).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  const std::uint64_t system_before = pool_stats().system_allocs;
  std::uint64_t news = 0;
  {
    testing::AllocCounter counter;
    for (int i = 0; i < 5; ++i) step();
    news = counter.count();
  }
  EXPECT_EQ(news, 0u) << "operator new calls in 5 warm steps";
  EXPECT_EQ(pool_stats().system_allocs, system_before) << "buffers not served by the pool";
}

}  // namespace
}  // namespace tg
