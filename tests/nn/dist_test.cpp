// tg::dist in one process (no mpirun): the gradient reducer's packing into buckets, its weights and
// its call count, and fit's distributed option, which must change nothing on one process. The
// runs on two ranks are tests/dist/ (ctest dist_np2, under mpirun).
#include <cstdlib>

#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "optim/alloc_counter.h"
#include "optim/sgd.h"

namespace tg {
namespace {

TEST(DistOneProcess, RankAndWorldWithoutSession) {
  if (dist::initialized()) GTEST_SKIP() << "MPI was initialised by the runner";
  EXPECT_EQ(dist::rank(), 0);
  EXPECT_EQ(dist::world_size(), 1);
}

TEST(DistOneProcess, ReducerScalesEveryGradientAcrossSmallBuckets) {
  // float32 and float64 parameters, one bigger than a bucket, one without a gradient.
  Tensor a = arange(0, 10, 1, DType::f32).requires_grad_();
  Tensor b = arange(0, 7, 1, DType::f64).requires_grad_();
  Tensor c = ones({3}, DType::f32).requires_grad_();
  Tensor d = ones({2}, DType::f64).requires_grad_();
  a.set_grad(arange(1, 11, 1, DType::f32));
  b.set_grad(arange(1, 8, 1, DType::f64));
  c.set_grad(full({3}, 4.0, DType::f32));
  dist::GradientReducer reducer({a, b, c, d}, /*bucket_bytes=*/16);  // 4 floats or 2 doubles a bucket
  EXPECT_EQ(reducer.bucket_elements(DType::f32), 4u);
  EXPECT_EQ(reducer.bucket_elements(DType::f64), 2u);
  std::vector<double> stats{3.0, 5.0};
  reducer.all_reduce(0.5, stats);
  // 13 floats in 4 buckets, 9 doubles in 5 buckets, plus the stats (one process sums nothing).
  EXPECT_EQ(reducer.last_calls(), 1 + 4 + 5);
  EXPECT_EQ(stats, (std::vector<double>{3.0, 5.0}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.grad().at({i}), 0.5 * (i + 1));
  for (int i = 0; i < 7; ++i) EXPECT_EQ(b.grad().at({i}), 0.5 * (i + 1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.grad().at({i}), 2.0);
  EXPECT_FALSE(d.grad().defined()) << "no rank had a gradient for d";
}

TEST(DistOneProcess, ReducerDefaultBucketHoldsTheLargeModelInOneCall) {
  manual_seed(1);
  Sequential model(Input{None, 1}, SimpleRNN(256, {.return_sequences = true}), SimpleRNN(256), Dense(1));
  model.build({-1, 100, 1});
  for (Tensor p : model.parameters()) p.set_grad(ones_like(p));
  dist::GradientReducer reducer(model.parameters());
  reducer.all_reduce(1.0);
  EXPECT_EQ(reducer.last_calls(), 2) << model.num_parameters() << " float32 gradients in one 4 MiB bucket";
}

TEST(DistOneProcess, WarmReductionAllocatesNothing) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  Tensor a = ones({1000}, DType::f32).requires_grad_();
  Tensor b = ones({10}, DType::f64).requires_grad_();
  a.set_grad(ones_like(a));
  b.set_grad(ones_like(b));
  dist::GradientReducer reducer({a, b}, 256);
  std::vector<double> stats(3, 1.0);
  reducer.all_reduce(1.0, stats);
  testing::AllocCounter counter;
  for (int i = 0; i < 5; ++i) reducer.all_reduce(1.0, stats);
  EXPECT_EQ(counter.count(), 0u);
}

TEST(DistOneProcess, DistributedFitUnderALauncherNeedsASession) {
  if (!dist::available()) GTEST_SKIP() << "built without MPI";
  if (dist::initialized() || dist::launched()) GTEST_SKIP() << "the runner itself runs under MPI";
  manual_seed(3);
  Sequential model(Input{None, 1}, SimpleRNN(4), Dense(1));
  model.build({-1, 5, 1});
  SGD sgd(model.parameters(), 0.01);
  Tensor x = randn({8, 5, 1}), y = randn({8, 1});
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);  // as mpirun would
  std::string message;
  try {
    fit(model, x, y, {.optimizer = &sgd, .verbose = 0, .distributed = true});
  } catch (const ValueError& e) {
    message = e.what();
  }
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_NE(message.find("tg::dist::Session"), std::string::npos) << message;
}

TEST(DistOneProcess, DistributedFitOnOneProcessChangesNothing) {
  if (dist::world_size() != 1) GTEST_SKIP() << "the runner itself runs on several ranks";
  auto run = [](bool distributed) {
    manual_seed(3);
    Sequential model(Input{None, 1}, SimpleRNN(4), Dense(1));
    model.build({-1, 5, 1});
    SGD sgd(model.parameters(), 0.01);
    Generator g(5), data(6);
    Tensor x = randn({37, 5, 1}, DType::f32, &data), y = randn({37, 1}, DType::f32, &data);
    History h = fit(model, x, y,
                    {.epochs = 2, .batch_size = 8, .optimizer = &sgd, .verbose = 0, .generator = &g,
                     .distributed = distributed});
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
