// Data-parallel training on several ranks, run under mpirun (ctest dist_np2):
//   mpirun --allow-run-as-root --oversubscribe -np 2 tapegrad_dist_tests --world 2
// Every rank runs every test; a failure on any rank makes mpirun exit non-zero. Only rank 0
// prints gtest's output.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <tapegrad/nn/dist/dist.h>
#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>
#include "support/alloc_counter.h"
#include <tapegrad/optim/sgd.h>

namespace tg {
namespace {

int expected_world = 0;

// Weights of a model, laid end to end.
std::vector<double> weights(const Module& m) {
  std::vector<double> w;
  for (const Tensor& p : m.parameters())
    for (double v : p.to_vector()) w.push_back(v);
  return w;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(got[i] - want[i]), rtol * std::max(1.0, std::abs(want[i])))
        << what << " [" << i << "]: " << got[i] << " vs " << want[i] << " on rank " << dist::rank();
}

Sequential deep_rnn(std::uint64_t seed) {
  manual_seed(seed);
  Sequential model(Input{None, 1}, SimpleRNN(8, {.return_sequences = true}), SimpleRNN(8), Dense(1));
  model.build({-1, 12, 1});
  model.to(DType::f64);
  return model;
}

Tensor mae(const Tensor& y_true, const Tensor& y_pred) { return mean(abs(y_pred - y_true)); }

struct Run {
  std::vector<double> weights;
  History history;
};

// `samples` series; `distributed` with local batch `batch` on every rank, or one process.
Run train(std::int64_t samples, std::int64_t batch, bool distributed, bool adam, std::uint64_t model_seed) {
  Generator data(11);
  Tensor series = generate_time_series(samples + 20, 13, data).to(DType::f64);
  Tensor x = slice(series, 1, 0, 12), y = select(series, 1, 12);
  Tensor x_train = slice(x, 0, 0, samples), y_train = slice(y, 0, 0, samples);
  Tensor x_valid = slice(x, 0, samples, 20), y_valid = slice(y, 0, samples, 20);
  Sequential model = deep_rnn(model_seed);
  Adam a(model.parameters(), 0.01);
  SGD s(model.parameters(), 0.05, 0.9);
  Generator shuffle(7);
  FitOptions o;
  o.epochs = 3;
  o.batch_size = batch;
  o.optimizer = adam ? static_cast<Optimizer*>(&a) : &s;
  o.metrics = {{"mae", mae}};
  o.validation_data = std::make_pair(x_valid, y_valid);
  o.verbose = 0;
  o.generator = &shuffle;
  o.process_group = distributed ? &dist::world() : nullptr;
  Run r;
  r.history = fit(model, x_train, y_train, o);
  r.weights = weights(model);
  return r;
}

// W ranks with local batch 16 against one process with batch 16 W: same weights and logs.
void expect_equivalent(std::int64_t samples, bool adam) {
  const int world = dist::world_size();
  // Each rank starts from other weights: the broadcast from rank 0 must set them.
  const Run dist_run = train(samples, 16, true, adam, 100 + static_cast<std::uint64_t>(dist::rank()));
  const Run one = train(samples, 16 * world, false, adam, 100);
  const std::string what = fmt::format("{} samples, {}", samples, adam ? "Adam" : "SGD");
  const double rtol = world == 1 ? 0.0 : 1e-10;  // one rank: the very same computation
  expect_close(dist_run.weights, one.weights, rtol, what + ": weights");
  for (const char* name : {"loss", "mae", "val_loss", "val_mae"})
    expect_close(dist_run.history[name], one.history[name], rtol, what + ": " + name);
  // The weights really moved (the comparison is not between two untrained models).
  const Sequential init = deep_rnn(100);
  EXPECT_GT(std::abs(one.weights[0] - weights(init)[0]) + std::abs(one.weights[5] - weights(init)[5]), 1e-6);
}

TEST(DistMPI, WorldSizeIsTheOneAsked) { EXPECT_EQ(dist::world_size(), expected_world); }

TEST(DistMPI, EvenSplitMatchesOneProcessWithTheGlobalBatch) {
  expect_equivalent(96, true);  // 96 = 3 global batches of 32 on 2 ranks
  expect_equivalent(96, false);
}

TEST(DistMPI, LastPartialBatchMatchesOneProcess) {
  expect_equivalent(90, true);   // last global batch 26 -> 13 + 13
  expect_equivalent(71, true);   // last global batch 7 -> 3 + 4
  expect_equivalent(65, false);  // last global batch 1 -> rank 0 none, rank 1 one sample
}

TEST(DistMPI, BroadcastCopiesRankZerosTensors) {
  Tensor t = full({5}, static_cast<double>(dist::rank() + 1), DType::f64);
  Tensor u = full({3}, static_cast<double>(dist::rank() + 1), DType::f32);
  dist::broadcast({t, u});
  for (double v : t.to_vector()) EXPECT_EQ(v, 1.0);
  for (double v : u.to_vector()) EXPECT_EQ(v, 1.0);
}

TEST(DistMPI, ReducerSumsWeightedGradientsInBuckets) {
  const int r = dist::rank(), world = dist::world_size();
  Tensor a = zeros({10}, DType::f32).requires_grad_();
  Tensor b = zeros({7}, DType::f64).requires_grad_();
  Tensor c = zeros({2}, DType::f64).requires_grad_();  // a gradient on rank 1 only
  Tensor d = zeros({2}, DType::f64).requires_grad_();  // no gradient anywhere
  a.set_grad(full({10}, r + 1.0, DType::f32));
  b.set_grad(full({7}, 10.0 * (r + 1), DType::f64));
  if (r == 1) c.set_grad(full({2}, 3.0, DType::f64));
  GradientReducer reducer(dist::world(), {a, b, c, d}, 16);
  std::vector<double> stats{static_cast<double>(r), 1.0};
  reducer.all_reduce(0.5, stats);
  EXPECT_EQ(reducer.last_calls(), 1 + 3 + 6);          // stats; 10 floats / 4; 11 doubles / 2
  const double ranks_sum = world * (world + 1) / 2.0;  // sum of r + 1
  EXPECT_EQ(stats[0], world * (world - 1) / 2.0);
  EXPECT_EQ(stats[1], world);
  for (double v : a.grad().to_vector()) EXPECT_EQ(v, 0.5 * ranks_sum);
  for (double v : b.grad().to_vector()) EXPECT_EQ(v, 5.0 * ranks_sum);
  if (world > 1) {
    ASSERT_TRUE(c.grad().defined()) << "created on the ranks that had none";
    for (double v : c.grad().to_vector()) EXPECT_EQ(v, 1.5);
  } else {
    EXPECT_FALSE(c.grad().defined());
  }
  EXPECT_FALSE(d.grad().defined());
}

TEST(DistMPI, WarmReductionAllocatesNothing) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  Tensor a = ones({100000}, DType::f32).requires_grad_();
  a.set_grad(ones_like(a));
  GradientReducer reducer(dist::world(), {a}, 65536);
  std::vector<double> stats(2, 1.0);
  reducer.all_reduce(1.0, stats);
  std::uint64_t news = 0;
  {
    testing::AllocCounter counter;
    for (int i = 0; i < 3; ++i) reducer.all_reduce(1.0, stats);
    news = counter.count();
  }
  EXPECT_EQ(news, 0u);
  EXPECT_EQ(reducer.last_calls(), 1 + 7);
}

TEST(DistMPI, OnlyRankZeroPrintsAndWritesCheckpoints) {
  Sequential model = deep_rnn(5);
  SGD sgd(model.parameters(), 0.01);
  Tensor x = randn({40, 12, 1}, DType::f64), y = randn({40, 1}, DType::f64);
  // Each rank is given its own path, to see which ranks write.
  const std::string path = fmt::format("/tmp/tapegrad_dist_ckpt_{}_rank{}.tgw", ::getpid(), dist::rank());
  ModelCheckpoint ckpt(path, "loss");
  std::ostringstream out;
  fit(model, x, y,
      {.epochs = 2,
       .batch_size = 8,
       .optimizer = &sgd,
       .callbacks = {&ckpt},
       .verbose = 2,
       .out = &out,
       .process_group = &tg::dist::world()});
  struct stat st {};
  const bool written = ::stat(path.c_str(), &st) == 0;
  std::remove(path.c_str());
  EXPECT_EQ(ckpt.saved_epochs().size(), 2u);
  if (dist::rank() == 0) {
    EXPECT_TRUE(written);
    EXPECT_NE(out.str().find("Epoch 2/2"), std::string::npos) << out.str();
  } else {
    EXPECT_FALSE(written);
    EXPECT_EQ(out.str(), "");
  }
}

TEST(DistMPI, ALossThatIsNaNOnOneRankStopsEveryRank) {
  Sequential model = deep_rnn(5);
  SGD sgd(model.parameters(), 0.01);
  Tensor x = randn({32, 12, 1}, DType::f64), y = randn({32, 1}, DType::f64);
  if (dist::rank() == dist::world_size() - 1) y.set({31, 0}, std::nan(""));  // the last rank's share
  EXPECT_THROW(
      fit(model, x, y,
          {.batch_size = 16, .optimizer = &sgd, .shuffle = false, .verbose = 0, .process_group = &tg::dist::world()}),
      ValueError);
}

TEST(DistMPI, ANaNGradientWithAFiniteLossOnOneRankIsRefusedByEveryRank) {
  Sequential model = deep_rnn(5);  // the same weights on every rank
  const std::vector<double> start = weights(model);
  SGD sgd(model.parameters(), 0.01);
  Generator data(3);
  Tensor x = randn({32, 12, 1}, DType::f64, &data), y = randn({32, 1}, DType::f64, &data);
  // On the last rank the loss stays finite but its gradient is NaN (sqrt at 0, times 0). One
  // global batch: without the check the NaN step was applied and fit returned normally.
  const bool last = dist::rank() == dist::world_size() - 1;
  LossFn loss = [last](const Tensor& t, const Tensor& p) {
    Tensor l = mse(t, p);
    return last ? l + sum(sqrt(p * 0.0)) * 0.0 : l;
  };
  std::string msg;
  try {
    fit(model, x, y,
        {.batch_size = 32 / dist::world_size(),
         .optimizer = &sgd,
         .loss = loss,
         .verbose = 0,
         .process_group = &tg::dist::world()});
  } catch (const ValueError& e) {
    msg = e.what();
  }
  EXPECT_EQ(msg,
            "fit: the gradient of 'simple_rnn.cell.kernel' is not finite at epoch 1/1, batch 1/1; training "
            "stopped with the weights from before this batch (tape().set_anomaly_detection(true) names the op "
            "that made it)")
      << "on rank " << dist::rank();
  EXPECT_EQ(weights(model), start) << "on rank " << dist::rank();
  EXPECT_EQ(sgd.iterations(), 0);
}

TEST(DistMPI, AnUpdateThatOverflowsIsUndoneOnEveryRank) {
  Sequential model = deep_rnn(5);
  const std::vector<double> start = weights(model);
  SGD sgd(model.parameters(), 1e307);  // a gradient above ~20 makes a float64 weight infinite
  Generator data(3);
  Tensor x = randn({32, 12, 1}, DType::f64, &data), y = randn({32, 1}, DType::f64, &data) * 1e3;
  std::string msg;
  try {
    fit(model, x, y,
        {.epochs = 2,
         .batch_size = 8,
         .optimizer = &sgd,
         .shuffle = false,
         .verbose = 0,
         .process_group = &tg::dist::world()});
  } catch (const ValueError& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("fit: the SGD update made '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("' non-finite at epoch 1/2, batch 1/"), std::string::npos) << msg;
  EXPECT_EQ(weights(model), start) << "on rank " << dist::rank();
}

}  // namespace
}  // namespace tg

int main(int argc, char** argv) {
  tg::dist::Session mpi(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--world") tg::expected_world = std::atoi(argv[i + 1]);
  if (tg::dist::rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  return RUN_ALL_TESTS();
}
