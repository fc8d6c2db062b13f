// fit's gradient-sync step without MPI: the GradientReducer's packing into buckets, its weights
// and its call count on a group of one, and fit on a group of one, which must change nothing.
// The runs over MPI are tests/dist/.
#include <span>

#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "support/alloc_counter.h"
#include <tapegrad/optim/sgd.h>

namespace tg {
namespace {

// A group of one: rank 0, collectives that leave the values as they are.
class Alone final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(std::span<double>) override { ++reductions; }
  void all_reduce_sum(std::span<float>) override { ++reductions; }
  void broadcast(const std::vector<Tensor>&, int) override {}
  int reductions = 0;
};

TEST(GradientReducer, ReducerScalesEveryGradientAcrossSmallBuckets) {
  // float32 and float64 parameters, one bigger than a bucket, one without a gradient.
  Tensor a = arange(0, 10, 1, DType::f32).requires_grad_();
  Tensor b = arange(0, 7, 1, DType::f64).requires_grad_();
  Tensor c = ones({3}, DType::f32).requires_grad_();
  Tensor d = ones({2}, DType::f64).requires_grad_();
  a.set_grad(arange(1, 11, 1, DType::f32));
  b.set_grad(arange(1, 8, 1, DType::f64));
  c.set_grad(full({3}, 4.0, DType::f32));
  Alone alone;
  GradientReducer reducer(alone, {a, b, c, d}, /*bucket_bytes=*/16);  // 4 floats or 2 doubles a bucket
  EXPECT_EQ(reducer.bucket_elements(DType::f32), 4u);
  EXPECT_EQ(reducer.bucket_elements(DType::f64), 2u);
  std::vector<double> stats{3.0, 5.0};
  reducer.all_reduce(0.5, stats);
  // 13 floats in 4 buckets, 9 doubles in 5 buckets, plus the stats (one process sums nothing).
  EXPECT_EQ(reducer.last_calls(), 1 + 4 + 5);
  EXPECT_EQ(alone.reductions, 1 + 4 + 5);
  EXPECT_EQ(stats, (std::vector<double>{3.0, 5.0}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.grad().at({i}), 0.5 * (i + 1));
  for (int i = 0; i < 7; ++i) EXPECT_EQ(b.grad().at({i}), 0.5 * (i + 1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.grad().at({i}), 2.0);
  EXPECT_FALSE(d.grad().defined()) << "no rank had a gradient for d";
}

TEST(GradientReducer, ReducerDefaultBucketHoldsTheLargeModelInOneCall) {
  manual_seed(1);
  Sequential model(Input{None, 1}, SimpleRNN(256, {.return_sequences = true}), SimpleRNN(256), Dense(1));
  model.build({-1, 100, 1});
  for (Tensor p : model.parameters()) p.set_grad(ones_like(p));
  Alone alone;
  GradientReducer reducer(alone, model.parameters());
  reducer.all_reduce(1.0);
  EXPECT_EQ(reducer.last_calls(), 2) << model.num_parameters() << " float32 gradients in one 4 MiB bucket";
}

TEST(GradientReducer, WarmReductionAllocatesNothing) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  Tensor a = ones({1000}, DType::f32).requires_grad_();
  Tensor b = ones({10}, DType::f64).requires_grad_();
  a.set_grad(ones_like(a));
  b.set_grad(ones_like(b));
  Alone alone;
  GradientReducer reducer(alone, {a, b}, 256);
  std::vector<double> stats(3, 1.0);
  reducer.all_reduce(1.0, stats);
  testing::AllocCounter counter;
  for (int i = 0; i < 5; ++i) reducer.all_reduce(1.0, stats);
  EXPECT_EQ(counter.count(), 0u);
}

TEST(GradientReducer, FitOnAGroupOfOneChangesNothing) {
  auto run = [](bool grouped) {
    Alone alone;
    manual_seed(3);
    Sequential model(Input{None, 1}, SimpleRNN(4), Dense(1));
    model.build({-1, 5, 1});
    SGD sgd(model.parameters(), 0.01);
    Generator g(5), data(6);
    Tensor x = randn({37, 5, 1}, DType::f32, &data), y = randn({37, 1}, DType::f32, &data);
    History h = fit(model, x, y,
                    {.epochs = 2,
                     .batch_size = 8,
                     .optimizer = &sgd,
                     .verbose = 0,
                     .generator = &g,
                     .process_group = grouped ? &alone : nullptr});
    std::vector<double> w;
    for (const Tensor& p : model.parameters())
      for (double v : p.to_vector()) w.push_back(v);
    w.push_back(h["loss"].back());
    return w;
  };
  EXPECT_EQ(run(true), run(false));
}

}  // namespace
}  // namespace tg
