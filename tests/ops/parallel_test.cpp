// The thread pool (ops/kernels/parallel.h), the GEMM split over it, B packed in column shards,
// the public thread-count API (ops/parallel.h) and the ops that use the pool. Also run under
// ThreadSanitizer (build-tsan, --gtest_filter='Parallel.*').

#include <gtest/gtest.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/parallel.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/parallel.h>
#include <tapegrad/ops/reduce.h>
#include <tapegrad/ops/shape_ops.h>
#include <tapegrad/ops/unary.h>
#include "support/alloc_counter.h"

namespace tg {
namespace {

// Sets the thread count for one test and puts the previous one back.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(dist(gen));
  return v;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Whether a product split in blocks takes, on these shapes, the kernels the whole product takes,
// so that one thread and several give the same bits: so on the AVX-512 path (v4). The v2 and v3
// kernels pick their tiles and K chains from the block's sizes, and one thread against several
// may differ in the last bits there; from two threads on, the blocks (and so the bits) are the
// same at every count on every path.
bool blocks_match_the_whole() { return tg::kernel_isa() == "v4"; }

// ---- the pool ----------------------------------------------------------------------------------

TEST(Parallel, EveryIndexRunsOnceInRangesOfAtLeastTheGrain) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadCount tc(threads);
    for (std::int64_t n : {1, 2, 7, 64, 1000, 100003}) {
      for (std::int64_t grain : {1, 3, 100, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        std::atomic<int> calls{0}, short_ranges{0};
        kernels::parallel_for(n, grain, [&](std::int64_t b, std::int64_t e) {
          calls.fetch_add(1);
          if (e - b < grain && !(b == 0 && e == n)) short_ranges.fetch_add(1);
          for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
        });
        for (std::int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1)
              << "index " << i << " of " << n << ", grain " << grain << ", " << threads << " threads";
        EXPECT_LE(calls.load(), threads);
        EXPECT_EQ(short_ranges.load(), 0);
      }
    }
  }
}

TEST(Parallel, PartsRunAtTheSameTimeOnSeveralThreads) {
  ThreadCount tc(2);
  // Each of the two parts waits for the other to start: only two threads at once get past.
  std::atomic<int> started{0};
  std::atomic<bool> met{true};
  std::mutex m;
  std::set<std::thread::id> ids;
  const auto before = kernels::regions_forked();
  kernels::parallel_for(2, 1, [&](std::int64_t, std::int64_t) {
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 2)
      if (std::chrono::steady_clock::now() > deadline) {
        met = false;
        break;
      }
    std::lock_guard lock(m);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_TRUE(met.load());
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(kernels::regions_forked(), before + 1);
}

TEST(Parallel, OneThreadRunsOnTheCallerWithoutThePool) {
  ThreadCount tc(1);
  const auto before = kernels::regions_forked();
  std::set<std::thread::id> ids;
  int calls = 0;
  kernels::parallel_for(1 << 20, 1, [&](std::int64_t b, std::int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 1 << 20);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ids, std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_EQ(kernels::regions_forked(), before);
}

TEST(Parallel, NestedRegionsRunSeriallyOnTheirThread) {
  ThreadCount tc(3);
  std::vector<std::atomic<int>> hits(300 * 50);
  std::atomic<int> inner_calls{0}, inner_elsewhere{0};
  kernels::parallel_for(300, 1, [&](std::int64_t b, std::int64_t e) {
    EXPECT_TRUE(kernels::in_parallel_region());
    for (std::int64_t i = b; i < e; ++i) {
      const auto me = std::this_thread::get_id();
      kernels::parallel_for(50, 1, [&](std::int64_t ib, std::int64_t ie) {
        inner_calls.fetch_add(1);
        if (std::this_thread::get_id() != me || ib != 0 || ie != 50) inner_elsewhere.fetch_add(1);
        for (std::int64_t j = ib; j < ie; ++j) hits[static_cast<std::size_t>(i * 50 + j)].fetch_add(1);
      });
    }
  });
  EXPECT_FALSE(kernels::in_parallel_region());
  EXPECT_EQ(inner_calls.load(), 300);
  EXPECT_EQ(inner_elsewhere.load(), 0);
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(Parallel, ConcurrentCallersEachGetTheirWholeResult) {
  ThreadCount tc(3);
  constexpr int kCallers = 4, kRounds = 300;
  constexpr std::int64_t kN = 4096;
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      std::vector<std::int64_t> out(kN);
      for (int r = 0; r < kRounds; ++r) {
        kernels::parallel_for(kN, 16, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t i = b; i < e; ++i) out[static_cast<std::size_t>(i)] = i * (c + 1) + r;
        });
        for (std::int64_t i = 0; i < kN; ++i)
          if (out[static_cast<std::size_t>(i)] != i * (c + 1) + r) wrong.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Parallel, SetNumThreadsWhileOtherThreadsRunRegions) {
  ThreadCount tc(2);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread runner([&] {
    std::vector<int> out(1000);
    for (int r = 0; !stop.load(); ++r) {
      kernels::parallel_for(1000, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) out[static_cast<std::size_t>(i)] = r;
      });
      for (int v : out)
        if (v != r) wrong.fetch_add(1);
    }
  });
  for (int i = 0; i < 60; ++i) set_num_threads(1 + i % 4);
  stop = true;
  runner.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Parallel, SetNumThreadsChangesTheThreadsRegionsUse) {
  for (int threads : {4, 2, 3}) {
    ThreadCount tc(threads);
    EXPECT_EQ(get_num_threads(), threads);
    std::mutex m;
    std::set<std::thread::id> ids;
    std::atomic<int> started{0};
    kernels::parallel_for(threads, 1, [&](std::int64_t, std::int64_t) {
      started.fetch_add(1);  // each part waits for all: each runs on its own thread
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (started.load() < threads && std::chrono::steady_clock::now() < deadline) {
      }
      std::lock_guard lock(m);
      ids.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(static_cast<int>(ids.size()), threads);
  }
}

TEST(Parallel, WarmForkJoinAllocatesNothingOnTheCaller) {
  ThreadCount tc(2);
  std::vector<float> v(1 << 16);
  const auto body = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) v[static_cast<std::size_t>(i)] += 1.0f;
  };
  kernels::parallel_for(static_cast<std::int64_t>(v.size()), 1024, body);  // starts the workers
  testing::AllocCounter counter;
  for (int r = 0; r < 100; ++r) kernels::parallel_for(static_cast<std::int64_t>(v.size()), 1024, body);
  EXPECT_EQ(counter.count(), 0u);
  EXPECT_EQ(v[0], 101.0f);
  EXPECT_EQ(v.back(), 101.0f);
}

TEST(Parallel, WorkersThatNeverGetAPartStopBeingForked) {
  // A caller and its workers pinned to one CPU (the workers start on the caller's mask): the
  // caller runs every part, as on a machine whose CPUs other processes take. Forking then only
  // costs, and the pool stops forking for a while.
  std::uint64_t forks = 0;
  int regions = 0, wrong = 0;
  bool pinned = false;
  std::thread caller([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return;
    int first = 0;
    while (!CPU_ISSET(first, &set)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) return;
    pinned = true;
    ThreadCount none(1);
    ThreadCount tc(2);  // the workers start again, from this thread
    std::vector<double> out(2);
    const auto before = kernels::regions_forked();
    for (; regions < 400; ++regions) {
      kernels::parallel_for(2, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t p = b; p < e; ++p) {
          double x = 0;  // about 20 us of arithmetic
          for (int i = 0; i < 20000; ++i) x += std::sqrt(static_cast<double>(i + p + regions));
          out[static_cast<std::size_t>(p)] = x;
        }
      });
      if (out[0] == out[1]) ++wrong;
    }
    forks = kernels::regions_forked() - before;
  });
  caller.join();
  ThreadCount unpinned(1);  // the next count starts workers from an unpinned thread
  if (!pinned) GTEST_SKIP() << "could not pin a thread to one CPU";
  EXPECT_EQ(wrong, 0);
  // Without the back-off every region forks; with it, runs of regions do not (how many depends
  // on when the scheduler lets a worker in).
  EXPECT_LT(forks, 400u) << forks << " of " << regions << " regions forked";
}

// ---- the thread count ------------------------------------------------------------------------

TEST(Parallel, SetNumThreadsRejectsCountsOutOfRange) {
  const int before = get_num_threads();
  for (int bad : {0, -1, -100, 1025}) {
    try {
      set_num_threads(bad);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad) + " threads; expected a count from 1 to 1024"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(get_num_threads(), before);
}

TEST(Parallel, SetNumThreadsInsideARegionIsAnError) {
  ThreadCount tc(2);
  std::atomic<int> refused{0};
  kernels::parallel_for(2, 1, [&](std::int64_t, std::int64_t) {
    try {
      set_num_threads(3);
    } catch (const ValueError& e) {
      if (std::string(e.what()).find("inside a parallel region") != std::string::npos) refused.fetch_add(1);
    }
  });
  EXPECT_EQ(refused.load(), 2);
  EXPECT_EQ(get_num_threads(), 2);
}

TEST(Parallel, ParsesThreadCountsAndNamesWhatIsWrong) {
  EXPECT_EQ(parse_num_threads("4"), 4);
  EXPECT_EQ(parse_num_threads(" 8\n"), 8);
  EXPECT_EQ(parse_num_threads("1024"), 1024);
  for (const char* bad : {"", " ", "0", "-1", "+2", "abc", "4x", "2.5", "1025", "99999999999", "4,2"}) {
    try {
      parse_num_threads(bad, "TAPEGRAD_NUM_THREADS");
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("TAPEGRAD_NUM_THREADS='") + bad + "'"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("an integer from 1 to 1024"), std::string::npos) << e.what();
    }
  }
  // OpenMP's lists: the first level's count.
  EXPECT_EQ(kernels::parse_thread_count("4,2", true), 4);
  EXPECT_EQ(kernels::parse_thread_count("x,2", true), 0);
}

TEST(Parallel, DefaultThreadsComeFromTheVariablesThenTheAffinityMask) {
  auto d = kernels::default_threads(nullptr, nullptr, 3);
  EXPECT_EQ(d.threads, 3);
  EXPECT_EQ(d.source, "affinity");
  EXPECT_TRUE(d.warning.empty());
  d = kernels::default_threads("2", "6", 8);
  EXPECT_EQ(d.threads, 2);
  EXPECT_EQ(d.source, "TAPEGRAD_NUM_THREADS");
  d = kernels::default_threads(nullptr, "4,2", 8);
  EXPECT_EQ(d.threads, 4);
  EXPECT_EQ(d.source, "OMP_NUM_THREADS");
  // Malformed values are skipped with a warning naming them and what is used instead.
  d = kernels::default_threads("abc", nullptr, 6);
  EXPECT_EQ(d.threads, 6);
  EXPECT_NE(d.warning.find("TAPEGRAD_NUM_THREADS='abc' is not a thread count"), std::string::npos) << d.warning;
  EXPECT_NE(d.warning.find("using 6 (the CPUs this process may run on)"), std::string::npos) << d.warning;
  d = kernels::default_threads("0", "3", 8);
  EXPECT_EQ(d.threads, 3);
  EXPECT_NE(d.warning.find("TAPEGRAD_NUM_THREADS='0'"), std::string::npos) << d.warning;
  EXPECT_NE(d.warning.find("using OMP_NUM_THREADS=3"), std::string::npos) << d.warning;
  d = kernels::default_threads(nullptr, "-2", 5);
  EXPECT_EQ(d.threads, 5);
  EXPECT_NE(d.warning.find("OMP_NUM_THREADS='-2'"), std::string::npos) << d.warning;
  d = kernels::default_threads("5", "junk", 2);  // OMP_NUM_THREADS is not read when ours is set
  EXPECT_EQ(d.threads, 5);
  EXPECT_TRUE(d.warning.empty());
}

TEST(Parallel, AvailableCpusIsTheAffinityMaskNotTheMachine) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(available_cpus(), CPU_COUNT(&set));
  int first = 0;
  while (!CPU_ISSET(first, &set)) ++first;
  int seen = -1;
  std::thread pinned([&] {  // a thread's own mask: one CPU
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof(one), &one) == 0) seen = available_cpus();
  });
  pinned.join();
  EXPECT_EQ(seen, 1);
}

// ---- GEMM --------------------------------------------------------------------------------------

TEST(Parallel, GemmSplitsOnlyProductsLargeEnough) {
  EXPECT_EQ(kernels::gemm_split(32, 20, 20).count, 1);    // a seed RNN step
  EXPECT_EQ(kernels::gemm_split(20, 10, 1600).count, 1);  // a narrow weight gradient
  EXPECT_EQ(kernels::gemm_split(1600, 20, 20).count, 1);  // a seed RNN's input projection
  EXPECT_EQ(kernels::gemm_split(1600, 20, 4).count, 1);
  EXPECT_EQ(kernels::gemm_split(1600, 80, 20).count, 1);   // an LSTM layer's input projection
  EXPECT_EQ(kernels::gemm_split(1600, 20, 80).count, 1);   // and its input gradient
  EXPECT_EQ(kernels::gemm_split(1600, 128, 20).count, 1);  // below kGemmForkMacs
  EXPECT_EQ(kernels::gemm_split(3200, 80, 80).count, 8);   // above: rows
  const auto step = kernels::gemm_split(64, 256, 256);     // large_rnn's step: columns
  EXPECT_FALSE(step.by_rows);
  EXPECT_EQ(step.count, 4);
  EXPECT_EQ(step.begin(1), 64);
  const auto tall = kernels::gemm_split(6400, 32, 256);  // rows
  EXPECT_TRUE(tall.by_rows);
  EXPECT_EQ(tall.count, 8);
  for (int i = 0; i <= tall.count; ++i) EXPECT_EQ(tall.begin(i) % 16 == 0 || i == tall.count, true);
  // Weight gradients with a long K split it in two: large_rnn's and xlarge_rnn's recurrent ones;
  // not a seed's (K 1599), nor a narrow C, nor a product not of A^T.
  EXPECT_EQ(kernels::gemm_k_chunks(true, false, 256, 256, 6399), 2);
  EXPECT_EQ(kernels::gemm_k_chunks(true, false, 512, 512, 6399), 2);
  EXPECT_EQ(kernels::gemm_k_chunks(true, false, 20, 20, 1599), 1);
  EXPECT_EQ(kernels::gemm_k_chunks(true, false, 20, 256, 6400), 1);
  EXPECT_EQ(kernels::gemm_k_chunks(false, false, 256, 256, 6400), 1);
  EXPECT_EQ(kernels::gemm_k_chunks(true, true, 256, 256, 6400), 1);
  EXPECT_EQ(kernels::gemm_k_begin(6399, 2, 1), 3184);
  EXPECT_EQ(kernels::gemm_k_begin(6399, 2, 2), 6399);
}

struct GemmCase {
  bool ta, tb;
  std::int64_t m, n, k;
  double alpha, beta;
  int bias;    // 0 none, 1 a row, 2 a matrix
  bool exact;  // the same bits as one kernels::gemm call (the scans' and layers' products)
};

template <class T>
void check_parallel_gemm(const GemmCase& g) {
  SCOPED_TRACE(::testing::Message() << "ta=" << g.ta << " tb=" << g.tb << " m=" << g.m << " n=" << g.n << " k=" << g.k
                                    << " beta=" << g.beta << " bias=" << g.bias << " "
                                    << (sizeof(T) == 4 ? "f32" : "f64"));
  const std::int64_t lda = (g.ta ? g.m : g.k) + 3, ldb = (g.tb ? g.k : g.n) + 1, ldc = g.n + 5;
  const auto a = random_vector<T>(static_cast<std::size_t>((g.ta ? g.k : g.m) * lda), 1);
  const auto b = random_vector<T>(static_cast<std::size_t>((g.tb ? g.n : g.k) * ldb), 2);
  const auto c0 = random_vector<T>(static_cast<std::size_t>(g.m * ldc), 3);
  const auto bias = random_vector<T>(static_cast<std::size_t>(g.m * g.n), 4);
  const T* bp = g.bias ? bias.data() : nullptr;
  const std::int64_t ld_bias = g.bias == 2 ? g.n : 0;
  std::vector<T> serial = c0;
  const int chunks = kernels::gemm_k_chunks(g.ta, g.tb, g.m, g.n, g.k);
  if (chunks == 1) {
    kernels::gemm(g.ta, g.tb, g.m, g.n, g.k, T(g.alpha), a.data(), lda, b.data(), ldb, T(g.beta), serial.data(), ldc,
                  bp, ld_bias);
  } else {  // split along K: range 0 into C, the others beside it, added in order
    for (int i = 0; i < chunks; ++i) {
      const std::int64_t k0 = kernels::gemm_k_begin(g.k, chunks, i),
                         kc = kernels::gemm_k_begin(g.k, chunks, i + 1) - k0;
      const T* ai = a.data() + (g.ta ? k0 * lda : k0);
      const T* bi = b.data() + (g.tb ? k0 : k0 * ldb);
      if (i == 0) {
        kernels::gemm(g.ta, g.tb, g.m, g.n, kc, T(g.alpha), ai, lda, bi, ldb, T(g.beta), serial.data(), ldc, bp,
                      ld_bias);
        continue;
      }
      std::vector<T> part(static_cast<std::size_t>(g.m * g.n));
      kernels::gemm(g.ta, g.tb, g.m, g.n, kc, T(g.alpha), ai, lda, bi, ldb, T(0), part.data(), g.n);
      for (std::int64_t r = 0; r < g.m; ++r)
        for (std::int64_t j = 0; j < g.n; ++j)
          serial[static_cast<std::size_t>(r * ldc + j)] += part[static_cast<std::size_t>(r * g.n + j)];
    }
  }
  std::vector<T> first;
  for (int threads : {1, 2, 3, 4}) {
    ThreadCount tc(threads);
    std::vector<T> c = c0;
    kernels::parallel_gemm(g.ta, g.tb, g.m, g.n, g.k, T(g.alpha), a.data(), lda, b.data(), ldb, T(g.beta), c.data(),
                           ldc, bp, ld_bias);
    if (threads >= 2 || chunks > 1) {  // one thread takes the whole product (or the same K ranges)
      if (first.empty()) first = c;
      EXPECT_TRUE(same_bits(c, first)) << threads << " threads differ from " << (chunks > 1 ? 1 : 2);
    }
    if (chunks > 1 || (g.exact && blocks_match_the_whole())) {
      EXPECT_TRUE(same_bits(c, serial)) << threads << " threads differ from one kernels::gemm";
    } else {  // the blocks may take other kernels (a K split) than the whole product
      for (std::size_t i = 0; i < c.size(); ++i)
        ASSERT_NEAR(static_cast<double>(c[i]), static_cast<double>(serial[i]), sizeof(T) == 4 ? 1e-3 : 1e-10);
    }
  }
}

TEST(Parallel, ParallelGemmEqualsGemmAtEveryThreadCount) {
  const std::vector<GemmCase> cases = {
      {false, false, 64, 256, 256, 1, 0, 0, true},   {false, false, 64, 256, 256, 1, 1, 2, true},
      {false, true, 64, 256, 256, 1, 0, 0, true},    {false, false, 6400, 32, 64, 1, 0, 1, true},
      {false, false, 6400, 256, 1, 1, 0, 1, true},   {false, false, 64, 512, 512, 1, 0, 2, true},
      {false, false, 32, 20, 20, 1, 0, 1, true},     {false, false, 200, 300, 70, 0.5, 1, 1, false},
      {true, false, 256, 256, 6399, 1, 1, 0, true},  {true, false, 512, 512, 1599, 1, 1, 0, true},
      {true, false, 256, 256, 1599, 1, 1, 0, false}, {true, true, 130, 200, 300, 1, 0, 0, false},
      {false, false, 70, 1000, 3, 1, 0, 2, false},   {true, false, 128, 96, 4200, 0.5, 0.5, 2, false},
  };
  for (const GemmCase& g : cases) {
    check_parallel_gemm<float>(g);
    check_parallel_gemm<double>(g);
  }
}

template <class T>
void check_sharded(bool tb, std::int64_t m, std::int64_t n, std::int64_t k, int shards, int threads, bool bias,
                   bool exact = true) {
  SCOPED_TRACE(::testing::Message() << "tb=" << tb << " m=" << m << " n=" << n << " k=" << k << " shards=" << shards
                                    << " threads=" << threads << " " << (sizeof(T) == 4 ? "f32" : "f64"));
  ThreadCount tc(threads);
  const std::int64_t ldb = (tb ? k : n) + 2, lda = k + 1, ldc = n + 3, ld_bias = 3 * n;
  const auto a = random_vector<T>(static_cast<std::size_t>(m * lda), 5);
  const auto b = random_vector<T>(static_cast<std::size_t>((tb ? n : k) * ldb), 6);
  const auto xw = random_vector<T>(static_cast<std::size_t>(m * ld_bias), 7);
  const T* bp = bias ? xw.data() + n : nullptr;
  // One packed product over all of B, and its tanh.
  std::vector<T> packed(static_cast<std::size_t>(kernels::packed_b_size<T>(m, n, k)));
  kernels::pack_b_for<T>(tb, m, n, k, b.data(), ldb, packed.data());
  std::vector<T> whole(static_cast<std::size_t>(m * ldc), T(0.25));
  kernels::gemm_packed_b<T>(false, m, n, k, T(1), a.data(), lda, packed.data(), T(1), whole.data(), ldc, bp, ld_bias);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      whole[static_cast<std::size_t>(i * ldc + j)] = std::tanh(whole[static_cast<std::size_t>(i * ldc + j)]);

  kernels::ShardedPackedB<T> sharded;
  sharded.pack(tb, m, n, k, b.data(), ldb, shards);
  ASSERT_GE(sharded.shards(), 1);
  EXPECT_EQ(sharded.begin(0), 0);
  EXPECT_EQ(sharded.begin(sharded.shards()), n);
  std::vector<T> c(static_cast<std::size_t>(m * ldc), T(0.25));
  std::vector<std::atomic<int>> epilogue_hits(static_cast<std::size_t>(n));
  for (int round = 0; round < 2; ++round) {  // the packed shards serve many products
    c.assign(c.size(), T(0.25));
    for (auto& h : epilogue_hits) h = 0;
    sharded.multiply(a.data(), lda, T(1), c.data(), ldc, bp, ld_bias, [&](std::int64_t j0, std::int64_t j1) {
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = j0; j < j1; ++j)
          c[static_cast<std::size_t>(i * ldc + j)] = std::tanh(c[static_cast<std::size_t>(i * ldc + j)]);
      for (std::int64_t j = j0; j < j1; ++j) epilogue_hits[static_cast<std::size_t>(j)].fetch_add(1);
    });
    if (exact) {
      EXPECT_TRUE(same_bits(c, whole)) << "round " << round;
    } else {
      for (std::size_t i = 0; i < c.size(); ++i)
        ASSERT_NEAR(static_cast<double>(c[i]), static_cast<double>(whole[i]), sizeof(T) == 4 ? 1e-5 : 1e-13);
    }
    // The same bits at every thread count.
    std::vector<T> serial(c.size(), T(0.25));
    {
      ThreadCount one(1);
      sharded.multiply(a.data(), lda, T(1), serial.data(), ldc, bp, ld_bias, [&](std::int64_t j0, std::int64_t j1) {
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = j0; j < j1; ++j)
            serial[static_cast<std::size_t>(i * ldc + j)] = std::tanh(serial[static_cast<std::size_t>(i * ldc + j)]);
      });
    }
    EXPECT_TRUE(same_bits(c, serial)) << "round " << round;
    for (auto& h : epilogue_hits) ASSERT_EQ(h.load(), 1);
  }
}

TEST(Parallel, ShardedPackedBEqualsOnePackedProductBitForBit) {
  for (int threads : {1, 2, 3}) {
    for (int shards : {0, 1, 2, 3, 5}) {
      check_sharded<float>(false, 64, 256, 256, shards, threads, true);
      check_sharded<float>(true, 64, 256, 256, shards, threads, false);
      check_sharded<double>(false, 64, 256, 256, shards, threads, true);
    }
    check_sharded<float>(false, 32, 20, 20, 0, threads, true);
    check_sharded<float>(false, 64, 512, 512, 0, threads, true);
    check_sharded<float>(true, 64, 128, 300, 0, threads, true);
    check_sharded<float>(true, 7, 100, 33, 3, threads, true, false);
    check_sharded<float>(false, 1, 96, 40, 2, threads, false, false);
    check_sharded<double>(true, 33, 80, 300, 2, threads, true, false);
  }
}

TEST(Parallel, ShardedPackedBChoosesShardsFromTheShapeAlone) {
  kernels::ShardedPackedB<float> s;
  std::vector<float> b(1024 * 1024, 1.0f);
  for (int threads : {1, 2, 16}) {
    ThreadCount tc(threads);
    s.pack(false, 64, 256, 256, b.data(), 256);
    EXPECT_EQ(s.shards(), 4);
    EXPECT_EQ(s.begin(1), 64);
    s.pack(false, 64, 20, 20, b.data(), 20);
    EXPECT_EQ(s.shards(), 1);
    s.pack(false, 64, 1024, 1024, b.data(), 1024);
    EXPECT_EQ(s.shards(), 16);
    s.pack(false, 64, 200, 20, b.data(), 200, 7);  // asked for: edges on multiples of 16
    EXPECT_EQ(s.shards(), 7);
    for (int i = 1; i < 7; ++i) EXPECT_EQ(s.begin(i) % 16, 0);
  }
}

// ---- ops ---------------------------------------------------------------------------------------

Tensor random_tensor(const Shape& shape, unsigned seed, bool grad) {
  Tensor t = Tensor::empty(shape, DType::f32);
  const auto v = random_vector<float>(static_cast<std::size_t>(shape.numel()), seed);
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  t.requires_grad_(grad);
  return t;
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }

// Forward and gradients of a function of large tensors, at `threads`.
struct OpRun {
  std::vector<std::vector<float>> out;
  std::uint64_t forks = 0;
};

template <class F>
OpRun run_op(int threads, F f) {
  ThreadCount tc(threads);
  Tensor x = random_tensor({256, 512}, 11, true);
  Tensor w = random_tensor({512, 256}, 12, true);
  Tensor bias = random_tensor({256}, 13, true);
  const auto before = kernels::regions_forked();
  Tensor y = f(x, w, bias);
  sum(y).backward();
  OpRun r;
  r.forks = kernels::regions_forked() - before;
  r.out = {values(y), values(x.grad()), values(w.grad())};
  if (bias.grad().defined()) r.out.push_back(values(bias.grad()));
  return r;
}

TEST(Parallel, LargeOpsUseThePoolAndGiveTheSameBitsAtEveryThreadCount) {
  using Fn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&);
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"matmul", [](const Tensor& x, const Tensor& w, const Tensor&) { return matmul(x, w); }},
      {"linear", [](const Tensor& x, const Tensor& w, const Tensor& b) { return linear(x, w, b); }},
      {"tanh", [](const Tensor& x, const Tensor& w, const Tensor&) { return tanh(matmul(x, w)); }},
      {"sigmoid", [](const Tensor& x, const Tensor& w, const Tensor&) { return sigmoid(matmul(x, w)); }},
      {"exp", [](const Tensor& x, const Tensor& w, const Tensor&) { return exp(mul(matmul(x, w), 0.1)); }},
      {"mul", [](const Tensor& x, const Tensor& w, const Tensor&) { return mul(x, transpose(w, 0, 1)); }},
      {"add", [](const Tensor& x, const Tensor& w, const Tensor&) { return add(neg(x), transpose(w, 0, 1)); }},
      {"square", [](const Tensor& x, const Tensor& w, const Tensor&) { return square(sub(x, transpose(w, 0, 1))); }},
      {"relu", [](const Tensor& x, const Tensor& w, const Tensor&) { return relu(add(matmul(x, w), 0.5)); }},
  };
  for (const auto& [name, f] : ops) {
    SCOPED_TRACE(name);
    const OpRun one = run_op(1, f);
    EXPECT_EQ(one.forks, 0u);
    std::vector<std::vector<float>> two;
    for (int threads : {2, 3}) {
      const OpRun many = run_op(threads, f);
      EXPECT_GT(many.forks, 0u) << threads << " threads";
      ASSERT_EQ(many.out.size(), one.out.size());
      if (two.empty()) two = many.out;
      for (std::size_t i = 0; i < one.out.size(); ++i) {
        EXPECT_TRUE(same_bits(many.out[i], two[i])) << "result " << i << " at " << threads << " threads against 2";
        if (blocks_match_the_whole()) {
          EXPECT_TRUE(same_bits(many.out[i], one.out[i])) << "result " << i << " at " << threads << " threads";
        } else {
          for (std::size_t j = 0; j < one.out[i].size(); ++j)
            ASSERT_NEAR(many.out[i][j], one.out[i][j], 1e-3f + 1e-5f * std::fabs(one.out[i][j]))
                << "result " << i << " at " << threads << " threads";
        }
      }
    }
  }
}

TEST(Parallel, SmallOpsStayOnTheCallingThread) {
  ThreadCount tc(2);
  Tensor x = random_tensor({32, 20}, 1, true);
  Tensor w = random_tensor({20, 20}, 2, true);
  const auto before = kernels::regions_forked();
  Tensor y = tanh(add(matmul(x, w), mul(x, 2.0)));
  sum(y).backward();
  // The seed workloads' largest: a second layer's input projection and a TimeDistributed Dense,
  // and an LSTM's and a GRU's second-layer projections (20 to 80 and 60 columns).
  Tensor seq = random_tensor({32, 50, 20}, 3, true);
  Tensor dense = random_tensor({20, 10}, 4, true);
  Tensor bias = random_tensor({10}, 5, true);
  sum(tanh(linear(tanh(linear(seq, w, Tensor())), dense, bias))).backward();
  for (std::int64_t g : {80, 60}) {
    Tensor wg = random_tensor({20, g}, 6, true), bg = random_tensor({g}, 7, true);
    sum(linear(seq, wg, bg)).backward();
  }
  // A batched product of 2.5M multiply-adds in all.
  Tensor a = random_tensor({64, 32, 40}, 8, true), b = random_tensor({64, 40, 30}, 9, true);
  sum(matmul(a, b)).backward();
  EXPECT_EQ(kernels::regions_forked(), before);
}

TEST(Parallel, BatchedMatmulSplitsByBatchEntries) {
  const auto run = [](int threads) {
    ThreadCount tc(threads);
    Tensor a = random_tensor({256, 32, 40}, 3, true);  // 9.8M multiply-adds in all
    Tensor b = random_tensor({256, 40, 30}, 4, true);
    const auto before = kernels::regions_forked();
    Tensor y = matmul(a, b);
    sum(y).backward();
    return std::make_pair(kernels::regions_forked() - before,
                          std::vector<std::vector<float>>{values(y), values(a.grad()), values(b.grad())});
  };
  const auto one = run(1);
  const auto two = run(2);
  EXPECT_EQ(one.first, 0u);
  EXPECT_GT(two.first, 0u);
  for (std::size_t i = 0; i < one.second.size(); ++i) EXPECT_TRUE(same_bits(one.second[i], two.second[i])) << i;
}

}  // namespace
}  // namespace tg
