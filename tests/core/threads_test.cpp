// Threads: what users of a C++ library do as a matter of course, each giving what one thread
// gives: a model built on the main thread and trained on a worker, one model serving predict on
// several threads, views of one tensor taken on many threads, batches handed from a loader
// thread to a trainer, models built in parallel. The one refusal: an op output of a graph still
// pending on another thread, used in a graph or backward here (a GraphError naming both).
// scripts/test.sh also runs this suite under ThreadSanitizer (TAPEGRAD_TSAN).
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <tapegrad/optim/sgd.h>
#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;

// ThreadSanitizer runs code 5-15 times slower: fewer rounds there, the same patterns.
#ifdef TAPEGRAD_TSAN
constexpr int kThreads = 4, kRounds = 3, kViewIterations = 2000, kBatches = 40;
#else
constexpr int kThreads = 4, kRounds = 40, kViewIterations = 200000, kBatches = 200;
#endif

// Runs f on a new thread, waits for it and rethrows what it threw (gtest's checks stay on the
// main thread).
void on_worker(const std::function<void()>& f) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

// The walkthrough's deep RNN, small.
std::unique_ptr<Sequential> make_rnn() {
  return std::make_unique<Sequential>(Input{None, 1}, SimpleRNN(8, {.return_sequences = true}), SimpleRNN(8), Dense(1));
}

std::vector<double> weights_of(const Module& model) {
  std::vector<double> all;
  for (const Tensor& p : model.parameters()) {
    const std::vector<double> v = p.to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

struct Series {
  Tensor x, y;
};

Series series(std::int64_t samples) {
  Generator rng(3);
  const Tensor s = generate_time_series(samples, 11, rng);
  return {slice(s, 1, 0, 10).clone(), select(s, 1, 10).clone()};
}

// Resident set size in bytes, from /proc/self/statm.
long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// ---- a model built on one thread, trained on another ------------------------------------------

struct Trained {
  std::vector<double> losses, weights, first;
};

// Builds the model, computes model(x) on this thread and keeps it (its graph pending here), then
// fits on this thread or on a worker. Run on a new thread, as a program's main thread is new.
Trained forward_here_then_fit(const Series& data, bool fit_on_worker) {
  manual_seed(1);
  std::unique_ptr<Sequential> model = make_rnn();
  const Tensor first = (*model)(data.x);  // recorded here: the parameters hold slots of this tape
  Trained out;
  auto train = [&] {
    manual_seed(2);  // the shuffles come from the training thread's generator
    SGD opt(model->parameters(), 0.05);
    const History h = fit(*model, data.x, data.y, {.epochs = 3, .batch_size = 16, .optimizer = &opt, .verbose = 0});
    out.losses = h["loss"];
  };
  if (fit_on_worker)
    on_worker(train);
  else
    train();
  out.weights = weights_of(*model);
  out.first = first.to_vector();  // still alive here
  return out;
}

TEST(Threads, FitOnAWorkerAfterAForwardOnMainMatchesFitOnMain) {
  const Series data = series(64);
  Trained here, there;
  on_worker([&] { here = forward_here_then_fit(data, false); });
  on_worker([&] { there = forward_here_then_fit(data, true); });
  ASSERT_EQ(here.losses.size(), 3u);
  EXPECT_EQ(there.losses, here.losses);
  EXPECT_EQ(there.weights, here.weights);
  EXPECT_EQ(there.first, here.first);
}

// ---- one model, many threads --------------------------------------------------------------------

TEST(Threads, PredictOnOneModelAndDatasetFromManyThreadsMatchesOneThread) {
  const Series data = series(64);
  manual_seed(1);
  std::unique_ptr<Sequential> model = make_rnn();
  model->eval();
  const std::vector<double> expected = predict(*model, data.x, 16).to_vector();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k)
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r)
        if (predict(*model, data.x, 16).to_vector() != expected) ++wrong;
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(predict(*model, data.x, 16).to_vector(), expected);
}

TEST(Threads, RecordedForwardsFromManyThreadsOnOneModelMatchOneThread) {
  // model(x) with recording on (no NoGradGuard), as a server written without thinking of the
  // tape would: every thread's tape takes the same parameters as leaves at once.
  manual_seed(4);
  Sequential model(Input{None, 6}, Dense(16, activations::tanh), Dense(3));
  const Tensor x = uniform({32, 6}, -1.0, 1.0);
  const std::vector<double> expected = model(x).to_vector();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k)
    threads.emplace_back([&] {
      for (int r = 0; r < 20 * kRounds; ++r) {
        const Tensor y = model(x);
        if (!y.requires_grad() || y.to_vector() != expected) ++wrong;
        const Tensor s = sum(y * y);  // a longer graph, released when s and y go
        if (!s.requires_grad()) ++wrong;
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // The parameters are still ordinary leaves here.
  Tensor loss = sum(model(x));
  loss.backward();
  for (const Tensor& p : model.parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(Threads, ViewsOfOneTensorFromManyThreadsKeepItsCountsAndElements) {
  const Tensor shared = arange(0, 4096);
  const std::vector<double> expected = shared.to_vector();
  std::atomic<int> wrong{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k)
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kViewIterations; ++i) {
        const Tensor view = shared.view({64, 64});
        const Tensor alias = shared.detach();
        const Tensor copy = shared;
        // Fresh buffers of the same size: a block freed too early would be handed out here and
        // overwritten.
        const Tensor fresh = full({4096}, -1.0);
        if (view.at({1, 2}) != 66.0 || alias.at({4095}) != 4095.0 || copy.at({7}) != 7.0 || fresh.at({0}) != -1.0)
          ++wrong;
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_TRUE(shared.impl()->refs.unique());
  EXPECT_TRUE(shared.impl()->storage->unique());
  EXPECT_EQ(shared.to_vector(), expected);
}

// ---- a loader thread and a trainer --------------------------------------------------------------

// Whether buffers go through the storage pool (not in the sanitizer build): a freed buffer of
// the same size is reused.
bool pooling_on() {
  { Tensor warm = Tensor::empty({1000}); }
  const std::uint64_t before = pool_stats().reuses;
  { Tensor again = Tensor::empty({1000}); }
  return pool_stats().reuses > before;
}

TEST(Threads, BatchesMadeOnALoaderAndDroppedByTheTrainerKeepMemoryBounded) {
  // 4 MiB batches, at most three waiting: each is made on the loader thread and dropped here.
  constexpr std::int64_t kElements = std::int64_t{1} << 20;
  constexpr std::size_t kWaiting = 3;
  const std::uint64_t system_before = pool_system_bytes();
  const long rss_before = resident_bytes();
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Tensor> queue;
  std::uint64_t loader_system_allocs = 0;
  std::thread loader([&] {
    const std::uint64_t allocs_before = pool_stats().system_allocs;  // a pool may come from an ended thread
    for (int b = 0; b < kBatches; ++b) {
      Tensor batch = full({kElements}, static_cast<double>(b));
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return queue.size() < kWaiting; });
      queue.push_back(std::move(batch));
      changed.notify_all();
    }
    loader_system_allocs = pool_stats().system_allocs - allocs_before;
  });
  std::uint64_t system_peak = 0;
  int wrong = 0;
  for (int b = 0; b < kBatches; ++b) {
    Tensor batch;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return !queue.empty(); });
      batch = std::move(queue.front());
      queue.pop_front();
      changed.notify_all();
    }
    if (batch.at({0}) != b || batch.at({kElements - 1}) != b) ++wrong;
    system_peak = std::max(system_peak, pool_system_bytes());
  }
  loader.join();
  EXPECT_EQ(wrong, 0);
  // A 4 MiB batch takes an 8 MiB block (its header rounds it up to the next size class): at most
  // three waiting, one being made and one being read are alive at once, plus the loader's cache.
  // The sanitizer build sends every buffer to the system (no pool to bound) and AddressSanitizer
  // keeps freed memory in quarantine: there only the values are checked.
  if (!pooling_on()) return;
  constexpr std::uint64_t kBlock = std::uint64_t{8} << 20;
  EXPECT_LE(system_peak - system_before, 8 * kBlock);
  EXPECT_LE(loader_system_allocs, 8u) << "the loader's blocks did not come back to it";
  // Everything went back when the loader ended and the last batch was dropped.
  EXPECT_LE(pool_system_bytes(), system_before + kBlock);
#ifndef TAPEGRAD_TSAN  // ThreadSanitizer's shadow memory makes the resident size meaningless
  EXPECT_LT(resident_bytes() - rss_before, 200L << 20);
#else
  (void)rss_before;
#endif
}

TEST(Threads, AThreadThatEndsReleasesItsGraphAndReturnsItsCache) {
  const std::uint64_t system_before = pool_system_bytes();
  Tensor w = ones({4}).requires_grad_();
  Tensor from_worker;
  for (int k = 0; k < 10; ++k)
    on_worker([&] {
      for (int i = 0; i < 4; ++i) (void)zeros({std::int64_t{1} << 18});  // 1 MiB, cached by the worker's pool
      from_worker = w * 2.0;  // still pending on the worker's tape when it ends
    });
  // Ten threads' caches went back to the system; only the small tensors here remain.
  EXPECT_LE(pool_system_bytes(), system_before + (std::uint64_t{2} << 20));
  // The ended thread's graph is released: its output is a constant here.
  EXPECT_FALSE(from_worker.requires_grad());
  Tensor v = ones({4}).requires_grad_();
  sum(from_worker * v).backward();
  EXPECT_EQ(v.grad().to_vector(), std::vector<double>(4, 2.0));
  EXPECT_FALSE(w.grad().defined());
}

// ---- graphs and threads -------------------------------------------------------------------------

TEST(Threads, APendingGraphOfAnotherThreadIsAGraphErrorNamingBoth) {
  Tensor w = ones({3}).requires_grad_();
  Tensor y = w * 2.0;  // pending on this thread's tape
  const std::uint32_t here = tape().thread_number();
  std::uint32_t there = 0;
  std::string op_error, backward_error;
  std::vector<double> read_without_recording;
  on_worker([&] {
    there = tape().thread_number();
    Tensor v = ones({3}).requires_grad_();
    op_error = error_of<GraphError>([&] { (void)(y * v); });
    backward_error = error_of<GraphError>([&] { y.backward(ones({3})); });
    NoGradGuard no_grad;  // reading its values records nothing: allowed
    read_without_recording = tanh(y).to_vector();
  });
  ASSERT_NE(here, there);
  EXPECT_THAT(op_error, AllOf(HasSubstr("mul"), HasSubstr("pending"), HasSubstr(fmt::format("thread #{}", here)),
                              HasSubstr(fmt::format("thread #{}", there))));
  EXPECT_THAT(backward_error, AllOf(HasSubstr("backward"), HasSubstr(fmt::format("thread #{}", here)),
                                    HasSubstr(fmt::format("thread #{}", there))));
  {
    NoGradGuard no_grad;
    EXPECT_EQ(read_without_recording, tanh(y).to_vector());
  }
  // Its graph is still whole here.
  sum(y).backward();
  EXPECT_EQ(w.grad().to_vector(), std::vector<double>(3, 2.0));
  // Released by that backward, y is a constant anywhere; so is a tensor computed without recording.
  Tensor quiet;
  {
    NoGradGuard no_grad;
    quiet = w * 3.0;
  }
  std::vector<double> grad_there;
  on_worker([&] {
    Tensor v = ones({3}).requires_grad_();
    sum(y * v + quiet * v).backward();
    grad_there = v.grad().to_vector();
  });
  EXPECT_EQ(grad_there, std::vector<double>(3, 5.0));
  EXPECT_EQ(w.grad().to_vector(), std::vector<double>(3, 2.0));
}

TEST(Threads, AnOutputDroppedOnAnotherThreadReleasesItsGraphHere) {
  Tensor w = ones({4}).requires_grad_();
  ASSERT_EQ(tape().num_nodes(), 0u);
  {
    // Handed over: the worker drops the last handle, this thread merges the counts.
    Tensor y = w * 3.0;
    std::thread t([y]() mutable { y = Tensor(); });
    y = Tensor();
    t.join();
    (void)zeros({1});  // a new tensor takes in what other threads handed back
    EXPECT_EQ(tape().num_nodes(), 0u);
  }
  {
    // Shared: the worker takes its own handle, this thread drops its own first, so the tensor
    // dies on the worker; the worker counts that for this thread's tape.
    Tensor y = w * 3.0;
    std::latch copied(1), dropped_here(1);
    std::thread t([&] {
      Tensor mine = y;
      copied.count_down();
      dropped_here.wait();
      mine = Tensor();
    });
    copied.wait();
    y = Tensor();
    dropped_here.count_down();
    t.join();
    { const Tensor tmp = w * 1.0; }  // a recorded tensor dying here takes that count in
    EXPECT_EQ(tape().num_nodes(), 0u);
  }
}

// ---- the default generator ----------------------------------------------------------------------

TEST(Threads, ModelsBuiltInParallelGetTheWeightsOneThreadGets) {
  manual_seed(7);
  const std::vector<double> expected = weights_of(*make_rnn());
  for (int round = 0; round < 2; ++round) {
    std::vector<std::vector<double>> built(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int k = 0; k < kThreads; ++k)
      threads.emplace_back([&, k] {
        start.arrive_and_wait();
        built[static_cast<std::size_t>(k)] = weights_of(*make_rnn());
      });
    for (std::thread& t : threads) t.join();
    for (const std::vector<double>& w : built) EXPECT_EQ(w, expected);
  }
}

TEST(Threads, EachThreadHasItsOwnDefaultGeneratorStartingAtTheLatestSeed) {
  manual_seed(11);
  std::vector<double> here, there;
  for (int i = 0; i < 5; ++i) here.push_back(default_generator().uniform());
  on_worker([&] {
    for (int i = 0; i < 5; ++i) there.push_back(default_generator().uniform());
  });
  EXPECT_EQ(there, here);  // a new thread starts from the latest seed
  Generator reference(11);
  for (int i = 0; i < 5; ++i) (void)reference.uniform();
  double first_after_99 = 0.0;
  on_worker([&] {
    manual_seed(99);
    (void)default_generator().uniform();
  });
  EXPECT_EQ(default_generator().uniform(), reference.uniform());  // another thread's seed leaves this one alone
  on_worker([&] { first_after_99 = default_generator().uniform(); });
  EXPECT_EQ(first_after_99, Generator(99).uniform());  // but new threads start from it
}

}  // namespace
}  // namespace tg
