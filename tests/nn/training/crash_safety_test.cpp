// Crash safety of checkpoints: a child process saves the weights in a loop and is killed with
// SIGKILL at a random (seeded) moment after its first save of the round; every time, the file at
// the path is one complete checkpoint that passes its checksum and loads, and it is the last one
// whose save returned or the one after.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <thread>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/training/serialize.h>

namespace tg {
namespace {

namespace fs = std::filesystem;

Sequential deep_rnn() {
  manual_seed(1);
  return Sequential(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(1));
}

void fill_all(Module& m, double v) {
  for (Tensor& p : m.parameters()) p.fill_(v);
}

// The one value every parameter holds, or NaN when they differ (a mix of two checkpoints).
double common_value(const Module& m) {
  double v = m.parameters().front().to_vector().front();
  for (const Tensor& p : m.parameters())
    for (double x : p.to_vector())
      if (x != v) return std::numeric_limits<double>::quiet_NaN();
  return v;
}

// The file's own FNV-1a 64 checksum (its last 8 bytes, little-endian) against its contents.
bool checksum_verifies(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<unsigned char> b{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (b.size() < 8) return false;
  std::uint64_t h = 0xcbf29ce484222325ull, stored = 0;
  for (std::size_t i = 0; i < b.size() - 8; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  for (int i = 0; i < 8; ++i)
    stored |= static_cast<std::uint64_t>(b[b.size() - 8 + static_cast<std::size_t>(i)]) << (8 * i);
  return h == stored;
}

TEST(CrashSafety, SigkillDuringCheckpointingLeavesTheLastCompleteCheckpoint) {
  const std::string path =
      (fs::path(::testing::TempDir()) / ("tg_crash_" + std::to_string(::getpid()) + ".tgw")).string();
  Sequential model = deep_rnn();
  fill_all(model, 0.0);
  save_weights(model, path);

  constexpr int kRounds = 25;
  constexpr double kPerRound = 100000.0;  // child of round r saves r * kPerRound + k, k = 1, 2, ...
  Generator rng(20261126);
  int saves = 0, rounds_killed_mid_save = 0;
  for (int round = 1; round <= kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // the child: save forever, reporting each save that returned
      ::close(fds[0]);
      try {
        for (std::uint32_t k = 1;; ++k) {
          fill_all(model, round * kPerRound + k);
          save_weights(model, path);
          if (::write(fds[1], &k, sizeof k) != sizeof k) ::_exit(3);
        }
      } catch (...) {
        ::_exit(4);
      }
    }
    ::close(fds[1]);
    // Once the first save of the round returned, kill at a random moment of the following ones.
    std::uint32_t k = 0, last_done = 0;
    ASSERT_EQ(::read(fds[0], &last_done, sizeof last_done), static_cast<ssize_t>(sizeof last_done));
    std::this_thread::sleep_for(std::chrono::microseconds(rng.below(20000)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child ended by itself: " << status;
    while (::read(fds[0], &k, sizeof k) == sizeof k) last_done = k;
    ::close(fds[0]);

    SCOPED_TRACE(::testing::Message() << "round " << round << ", last save returned: " << last_done);
    ASSERT_TRUE(checksum_verifies(path));
    Sequential loaded = deep_rnn();
    ASSERT_NO_THROW(load_weights(loaded, path));
    const double v = common_value(loaded);
    ASSERT_FALSE(std::isnan(v)) << "parameters from two different checkpoints";
    // The last save that returned, or the next one if it was renamed before the kill.
    EXPECT_TRUE(v == round * kPerRound + last_done || v == round * kPerRound + last_done + 1) << v;
    rounds_killed_mid_save += fs::exists(path + ".tmp");
    saves += static_cast<int>(last_done);
  }
  RecordProperty("saves_that_returned", saves);
  RecordProperty("rounds_killed_with_a_temporary_file", rounds_killed_mid_save);
  fs::remove(path);
  fs::remove(path + ".tmp");
}

}  // namespace
}  // namespace tg
