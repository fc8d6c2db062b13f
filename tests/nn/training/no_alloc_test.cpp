// A warm training step (forward, loss, backward, optimizer update) of the seed's models makes no
// heap allocation: tensors come from the storage pool, tape nodes from reused vectors.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>
#include "support/alloc_counter.h"

namespace tg {
namespace {

template <class Model>
void expect_warm_steps_allocate_nothing(Model& model, const Tensor& x, const Tensor& y) {
  // The sanitizer build turns the pools off on purpose (every buffer and TensorImpl from the
  // system, so that AddressSanitizer sees each use after free): nothing to count there.
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  Adam opt(model.parameters(), 0.001);
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = mse(y, model(x));
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm: pool, tape vectors and optimizer state fill up
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

TEST(NoAllocation, DeepRNNTrainingStep) {
  manual_seed(1);
  Sequential model(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(1));
  Generator g(2);
  expect_warm_steps_allocate_nothing(model, randn({32, 50, 1}, DType::f32, &g), randn({32, 1}, DType::f32, &g));
}

TEST(NoAllocation, Seq2SeqTrainingStep) {
  manual_seed(1);
  Sequential model(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20, {.return_sequences = true}),
                   TimeDistributed(Dense(10)));
  Generator g(2);
  expect_warm_steps_allocate_nothing(model, randn({32, 50, 1}, DType::f32, &g), randn({32, 50, 10}, DType::f32, &g));
}

}  // namespace
}  // namespace tg
