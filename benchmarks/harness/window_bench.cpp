// The memory of windows as views (WindowBatches) against materialised windows: one training
// epoch of a small RNN on a long synthetic series, once from each, each in its own process
// (this program runs itself with --mode), printing the peak resident memory (VmHWM) and the
// epoch's time. docs/performance.md, "Windows as views".
//
//   tapegrad_window_bench [--points L] [--window T] [--batch B] [--hidden H]
//   tapegrad_window_bench --mode views|tensors [...]   (one measurement, one line)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/data/windows.h>
#include <tapegrad/nn/training/window_batches.h>
#include <tapegrad/optim/adam.h>

namespace {

struct Config {
  std::string mode;
  std::int64_t points = 2'000'000, window = 50, batch = 256, hidden = 8;
};

// Peak resident memory of this process so far, in MB (VmHWM of /proc/self/status).
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1.0;
}

// Two sines and noise, [L, 1] float32, built a block at a time (no [L] vector of doubles).
tg::Tensor make_series(std::int64_t points) {
  tg::Tensor s = tg::Tensor::empty({points, 1}, tg::DType::f32);
  float* p = s.data<float>();
  std::uint64_t state = 42;
  for (std::int64_t i = 0; i < points; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double noise = static_cast<double>(state >> 40) / static_cast<double>(1ULL << 24) - 0.5;
    const double t = static_cast<double>(i);
    p[i] = static_cast<float>(0.5 * std::sin(0.05 * t) + 0.2 * std::sin(0.31 * t) + 0.1 * noise);
  }
  return s;
}

int measure(const Config& c) {
  using namespace tg;
  const Tensor series = make_series(c.points);
  const WindowSet set(series, {.length = c.window, .horizon = 1});
  manual_seed(1);
  Sequential model(Input{None, 1}, SimpleRNN(c.hidden), Dense(1));
  Adam adam(model.parameters(), 0.001);
  Generator gen(2);
  const FitOptions options{.epochs = 1, .batch_size = c.batch, .optimizer = &adam, .verbose = 0, .generator = &gen};
  const double before = peak_rss_mb();
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  History h;
  double prep = 0.0, seconds = 0.0;
  if (c.mode == "views") {
    WindowBatches batches(set);
    const auto t0 = Clock::now();
    h = fit(model, batches, options);
    seconds = since(t0);
  } else {
    auto t0 = Clock::now();
    const auto [x, y] = set.materialise();
    prep = since(t0);
    t0 = Clock::now();
    h = fit(model, x, y, options);
    seconds = since(t0);
  }
  std::printf("%-8s %10lld %10.1f %12.1f %10.2f %10.2f %10.5f\n", c.mode.c_str(), static_cast<long long>(set.size()),
              before, peak_rss_mb(), prep, seconds, h["loss"].back());
  return 0;
}

int run_child(const char* self, const Config& c, const std::string& mode) {
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    const std::string points = std::to_string(c.points), window = std::to_string(c.window),
                      batch = std::to_string(c.batch), hidden = std::to_string(c.hidden);
    ::execl(self, self, "--mode", mode.c_str(), "--points", points.c_str(), "--window", window.c_str(), "--batch",
            batch.c_str(), "--hidden", hidden.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--mode")
      c.mode = value;
    else if (flag == "--points")
      c.points = std::stoll(value);
    else if (flag == "--window")
      c.window = std::stoll(value);
    else if (flag == "--batch")
      c.batch = std::stoll(value);
    else if (flag == "--hidden")
      c.hidden = std::stoll(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!c.mode.empty()) return measure(c);

  std::printf("one epoch, SimpleRNN(%lld) + Dense(1), %lld points, windows of %lld, batches of %lld\n",
              static_cast<long long>(c.hidden), static_cast<long long>(c.points), static_cast<long long>(c.window),
              static_cast<long long>(c.batch));
  // rss0: peak before the windows are served (the series and the model); prep: materialise()
  std::printf("%-8s %10s %10s %12s %10s %10s %10s\n", "windows", "N", "rss0_mb", "peak_rss_mb", "prep_s", "epoch_s",
              "loss");
  int rc = run_child("/proc/self/exe", c, "views");
  rc |= run_child("/proc/self/exe", c, "tensors");
  // What the materialised inputs and targets take: N x T x 4 + N x 4 bytes (float32).
  auto materialised_mb = [&](std::int64_t points) {
    const double n = static_cast<double>(points - c.window);
    return n * static_cast<double>(c.window + 1) * 4.0 / 1048576.0;
  };
  std::printf("materialised windows: %.0f MB here; %.0f MB for 10^7 points (a series of 10^7 float32: %.0f MB)\n",
              materialised_mb(c.points), materialised_mb(10'000'000), 1e7 * 4.0 / 1048576.0);
  return rc;
}
