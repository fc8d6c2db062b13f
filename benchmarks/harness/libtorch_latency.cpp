// Inference latency of the deep_rnn model in LibTorch (C++), the third column of
// `compare_pytorch.py --workloads latency`: RNN(1 -> H) -> RNN(H -> H) -> Linear(H -> 1) on the
// last step, evaluation mode, no autograd, one sequence [1, T, 1] per call, each call timed alone.
// Prints one JSON line as `tapegrad_train_bench --workload latency` does: {"workload": "latency",
// "impl": "libtorch", "p50_us", "p99_us", "mean_us", "min_us", "calls", ...}; percentiles by
// nearest rank (p99 of 1000 calls: the 990th fastest).
//
//   tapegrad_libtorch_latency [--calls C] [--warmup-calls W] [--hidden H] [--steps T] [--threads K]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/utils.h>

namespace {

struct DeepRnnImpl : torch::nn::Module {
  explicit DeepRnnImpl(std::int64_t h)
      : rnn1(register_module("rnn1", torch::nn::RNN(torch::nn::RNNOptions(1, h).batch_first(true)))),
        rnn2(register_module("rnn2", torch::nn::RNN(torch::nn::RNNOptions(h, h).batch_first(true)))),
        out(register_module("out", torch::nn::Linear(h, 1))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto h = std::get<0>(rnn1->forward(x));
    h = std::get<0>(rnn2->forward(h));
    return out->forward(h.select(1, h.size(1) - 1));  // the last step: [B, H] -> [B, 1]
  }

  torch::nn::RNN rnn1, rnn2;
  torch::nn::Linear out;
};
TORCH_MODULE(DeepRnn);

double percentile(const std::vector<double>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

int number(const std::string& flag, const std::string& s, long long least) {
  std::size_t used = 0;
  long long n = -1;
  try {
    n = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || n < least || n > std::numeric_limits<int>::max())
    throw std::invalid_argument(flag + " takes an integer from " + std::to_string(least) + " to " +
                                std::to_string(std::numeric_limits<int>::max()) + ", got '" + s + "'");
  return static_cast<int>(n);
}

const char* kUsage =
    "usage: tapegrad_libtorch_latency [--calls C] [--warmup-calls W] [--hidden H] [--steps T] [--threads K]\n";

}  // namespace

int main(int argc, char** argv) {
  int calls = 1000, warmup = 100, hidden = 20, steps = 50, threads = 0;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--calls")
        calls = number(a, v, 1);
      else if (a == "--warmup-calls")
        warmup = number(a, v, 0);
      else if (a == "--hidden")
        hidden = number(a, v, 1);
      else if (a == "--steps")
        steps = number(a, v, 1);
      else if (a == "--threads")
        threads = number(a, v, 1);
      else
        throw std::invalid_argument("unknown flag " + a);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad_libtorch_latency: %s\n%s", e.what(), kUsage);
    return 2;
  }
  if (threads > 0) {
    at::set_num_interop_threads(1);
    at::set_num_threads(threads);
  }
  torch::manual_seed(42);
  DeepRnn model(hidden);
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, steps, 1}) * 0.3;
  double sink = 0;
  for (int i = 0; i < warmup; ++i) sink += model->forward(x).item<float>();
  std::vector<double> us(static_cast<std::size_t>(calls));
  for (auto& u : us) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += model->forward(x).item<float>();
    u = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  const double mean = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
  std::sort(us.begin(), us.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"workload\": \"latency\", \"impl\": \"libtorch\", \"model\": \"deep_rnn\", \"p50_us\": %.3f, "
      "\"p99_us\": %.3f, \"mean_us\": %.3f, \"min_us\": %.3f, \"calls\": %d, \"warmup_calls\": %d, "
      "\"rss_mb\": %.1f, \"hidden\": %d, \"steps\": %d, \"threads\": %d, \"torch_threads\": %d, \"output\": %.6g}\n",
      percentile(us, 50), percentile(us, 99), mean, us.front(), calls, warmup,
      static_cast<double>(ru.ru_maxrss) / 1024.0, hidden, steps, threads, at::get_num_threads(),
      sink / (warmup + calls));
  return 0;
}
