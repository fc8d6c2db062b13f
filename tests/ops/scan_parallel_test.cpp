// The recurrent scans on the thread pool (ops/rnn.cpp): a scan whose step is large (batch x units x
// gate width >= 2^20 multiply-adds, large_rnn's 64 x 256 x 256) runs its steps' products in column
// shards and its gate math in blocks of rows on the pool; the values and gradients are the same
// bits at one and two threads, and those of the loop of single steps to rounding. The seed
// workloads' shapes stay on the calling thread: no region forks.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <tapegrad/ops/kernels/parallel.h>
#include <tapegrad/ops/parallel.h>
#include <tapegrad/ops/rnn.h>
#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::rnd;

enum class Kind { tanh, lstm, gru };

std::string kind_name(Kind k) { return k == Kind::tanh ? "tanh" : k == Kind::lstm ? "lstm" : "gru"; }

int gate_count(Kind k) { return k == Kind::tanh ? 1 : k == Kind::lstm ? 4 : 3; }

// Sets the thread count for one scope and puts the previous one back.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

struct Shape3 {
  std::int64_t b, t, u;
};

struct Results {
  std::vector<std::vector<double>> values;  // h_t..., final states, sequence, then the gradients
};

// One scan (or the loop of its single steps) over operands made from `seed`, differentiated
// through a loss that reads every step output, the final states and the sequence.
Results run_scan(Kind k, Shape3 s, DType dt, bool reverse, bool scan) {
  const std::int64_t g = gate_count(k) * s.u;
  Tensor xw = rnd({s.b, s.t, g}, 1, dt).requires_grad_();
  Tensor u = rnd({s.u, g}, 2, -0.1, 0.1, dt).requires_grad_();
  Tensor h0 = rnd({s.b, s.u}, 3, dt).requires_grad_();
  Tensor c0 = k == Kind::lstm ? rnd({s.b, s.u}, 4, dt).requires_grad_() : Tensor();
  Tensor bias = k == Kind::gru ? rnd({2, g}, 5, dt).requires_grad_() : Tensor();
  std::vector<Tensor> outs;
  Tensor h, c, seq;
  if (scan) {
    ScanSpec spec{.reverse = reverse, .sequence = true, .outputs = &outs};
    if (k == Kind::tanh) {
      ScanOutput r = rnn_tanh_scan(xw, h0, u, spec);
      h = r.h, seq = r.sequence;
    } else if (k == Kind::lstm) {
      LSTMScanOutput r = lstm_scan(xw, h0, c0, u, spec);
      h = r.h, c = r.c, seq = r.sequence;
    } else {
      ScanOutput r = gru_scan(xw, h0, u, bias, spec);
      h = r.h, seq = r.sequence;
    }
  } else {
    h = h0, c = c0;
    for (std::int64_t i = 0; i < s.t; ++i) {
      const std::int64_t t = reverse ? s.t - 1 - i : i;
      if (k == Kind::tanh) {
        h = rnn_tanh_step(xw, t, h, u);
      } else if (k == Kind::lstm) {
        LSTMStepOutput o = lstm_step(xw, t, h, c, u);
        h = o.h, c = o.c;
      } else {
        h = gru_step(xw, t, h, u, bias);
      }
      outs.push_back(h);
    }
    if (reverse) std::reverse(outs.begin(), outs.end());
    seq = stack(outs, 1);
  }
  Tensor loss = sum(square(h));
  for (std::size_t t = 0; t < outs.size(); ++t)
    loss = loss + sum(outs[t] * rnd(outs[t].shape(), 50 + static_cast<std::uint32_t>(t), dt));
  if (c.defined()) loss = loss + sum(c * 2.0);
  loss = loss + sum(seq * rnd(seq.shape(), 99, dt));
  loss.backward();
  Results r;
  for (const Tensor& x : outs) r.values.push_back(x.to_vector());
  r.values.push_back(h.to_vector());
  if (c.defined()) r.values.push_back(c.to_vector());
  r.values.push_back(seq.to_vector());
  for (const Tensor* x : {&xw, &u, &h0, &c0, &bias})
    if (x->defined()) r.values.push_back(x->grad().to_vector());
  return r;
}

// Large shapes: large_rnn's SimpleRNN(256) at batch 64, the gated cells at 128 units (4 and 3
// column shards of U^T's product, 8 and 6 of U's).
Shape3 large(Kind k) { return k == Kind::tanh ? Shape3{64, 4, 256} : Shape3{64, 3, 128}; }

class ScanParallel : public ::testing::TestWithParam<Kind> {};

TEST_P(ScanParallel, SameBitsAtOneAndTwoThreads) {
  const Kind k = GetParam();
  for (bool reverse : {false, true}) {
    Results one, two;
    {
      ThreadCount threads(1);
      one = run_scan(k, large(k), DType::f32, reverse, true);
    }
    {
      ThreadCount threads(2);
      two = run_scan(k, large(k), DType::f32, reverse, true);
    }
    ASSERT_EQ(one.values.size(), two.values.size());
    for (std::size_t i = 0; i < one.values.size(); ++i)
      ASSERT_EQ(one.values[i], two.values[i]) << kind_name(k) << (reverse ? " reversed" : "") << ", value " << i;
  }
}

TEST_P(ScanParallel, LargeShapesEqualTheLoopOfSteps) {
  const Kind k = GetParam();
  ThreadCount threads(2);
  for (bool reverse : {false, true}) {
    const Results want = run_scan(k, large(k), DType::f64, reverse, false);
    const Results got = run_scan(k, large(k), DType::f64, reverse, true);
    ASSERT_EQ(got.values.size(), want.values.size());
    for (std::size_t i = 0; i < want.values.size(); ++i) {
      ASSERT_EQ(got.values[i].size(), want.values[i].size());
      for (std::size_t j = 0; j < want.values[i].size(); ++j)
        ASSERT_NEAR(got.values[i][j], want.values[i][j], 1e-10 * std::max(1.0, std::abs(want.values[i][j])))
            << kind_name(k) << (reverse ? " reversed" : "") << ", value " << i << " [" << j << "]";
    }
  }
}

TEST_P(ScanParallel, LargeShapesFork) {
  const Kind k = GetParam();
  ThreadCount threads(2);
  const std::uint64_t before = kernels::regions_forked();
  (void)run_scan(k, large(k), DType::f32, false, true);
  // Per step at least the product in shards, and the backward's: far more than one region.
  EXPECT_GE(kernels::regions_forked() - before, static_cast<std::uint64_t>(large(k).t)) << kind_name(k);
}

TEST_P(ScanParallel, SeedShapesStayOnTheCallingThread) {
  const Kind k = GetParam();
  ThreadCount threads(2);
  // The seed workloads' scans (tapegrad_train_bench): batch 32 over 50 steps, 20 units (deep_rnn,
  // seq2seq, lstm, gru) or 1 (simple_rnn).
  for (Shape3 s : {Shape3{32, 50, 20}, Shape3{32, 50, 1}}) {
    const std::uint64_t before = kernels::regions_forked();
    (void)run_scan(k, s, DType::f32, false, true);
    (void)run_scan(k, s, DType::f32, true, true);
    EXPECT_EQ(kernels::regions_forked(), before) << kind_name(k) << " " << s.b << " x " << s.u;
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, ScanParallel, ::testing::Values(Kind::tanh, Kind::lstm, Kind::gru),
                         [](const ::testing::TestParamInfo<Kind>& info) { return kind_name(info.param); });

}  // namespace
}  // namespace tg
