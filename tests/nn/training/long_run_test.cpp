// A long run: 10,000 training steps of the deep RNN keep the resident memory flat (the ASan build
// runs fewer steps, and LeakSanitizer checks for leaks at exit).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

// Resident set size in bytes, from /proc/self/statm.
long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

TEST(LongRun, DeepRnnTrainingStepsKeepResidentMemoryFlat) {
#ifdef TAPEGRAD_SANITIZED
  // AddressSanitizer keeps freed memory in quarantine (RSS grows by design) and runs the steps
  // about 20 times slower: fewer steps, no RSS bound; LeakSanitizer still checks at exit.
  constexpr int kSteps = 400, kWarm = 100;
  constexpr bool kCheckRss = false;
#else
  constexpr int kSteps = 10000, kWarm = 500;
  constexpr bool kCheckRss = true;
#endif
  constexpr std::int64_t kBatch = 32, kTime = 20, kBatches = 8;
  manual_seed(42);
  Sequential model(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(1));
  Generator rng(42);
  const Tensor series = generate_time_series(kBatch * kBatches, kTime + 1, rng);
  std::vector<Tensor> xs, ys;
  for (std::int64_t b = 0; b < kBatches; ++b) {
    Tensor rows = slice(series, 0, b * kBatch, kBatch);
    xs.push_back(slice(rows, 1, 0, kTime).clone());
    ys.push_back(select(rows, 1, kTime).clone());
  }
  Adam opt(model.parameters(), 0.005);
  double first_loss = 0.0, last_loss = 0.0;
  long rss_warm = 0;
  for (int step = 0; step < kSteps; ++step) {
    const std::size_t b = static_cast<std::size_t>(step % kBatches);
    model.zero_grad();
    Tensor loss = mse(ys[b], model(xs[b]));
    loss.backward();
    opt.step();
    if (step == 0) first_loss = loss.item();
    if (step == kWarm) rss_warm = resident_bytes();
    last_loss = loss.item();
  }
  const long rss_end = resident_bytes();
  ASSERT_TRUE(std::isfinite(last_loss));
  EXPECT_LT(last_loss, first_loss);
  RecordProperty("rss_after_warmup_kib", static_cast<int>(rss_warm / 1024));
  RecordProperty("rss_growth_kib", static_cast<int>((rss_end - rss_warm) / 1024));
  if (kCheckRss) {
    EXPECT_LE(rss_end - rss_warm, 256 * 1024) << "RSS " << rss_warm << " -> " << rss_end << " bytes";
  }
}

}  // namespace
}  // namespace tg
