// One training epoch of a named workload, timed, for benchmarks/compare_pytorch.py. Prints one
// JSON line: {"workload", "seconds" (median over the timed epochs), "epochs", "batches",
// "rss_mb" (peak resident memory), "loss", "threads", sizes}.
//
//   tapegrad_train_bench --workload deep_rnn [--hidden H] [--steps T] [--batch B]
//                        [--sequences N] [--epochs E] [--warmup-batches W] [--threads K]
//
// `--workload latency` times inference instead: tg::predict of the deep_rnn model on one
// sequence (batch 1, 50 steps), `--calls C` calls (default 1000) after `--warmup-calls W` (100),
// each timed alone; prints {"workload": "latency", "p50_us", "p99_us", "mean_us", "min_us",
// "calls", ...}, percentiles by nearest rank (p99 of 1000 calls: the 990th fastest).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/optim/adam.h>

namespace {

struct Config {
  std::string workload = "deep_rnn";
  std::int64_t hidden = -1, steps = -1, batch = -1, sequences = -1;
  int epochs = 1;
  int warmup_batches = 5;
  int threads = 0;                       // 0: not given, the library's default (TAPEGRAD_NUM_THREADS or its own)
  int calls = 1000, warmup_calls = 100;  // latency
};

struct Workload {
  std::int64_t hidden, steps, batch, sequences;
};

Workload defaults(const std::string& name) {
  if (name == "simple_rnn") return {1, 50, 32, 7000};
  if (name == "deep_rnn" || name == "seq2seq") return {20, 50, 32, 7000};
  if (name == "large_rnn") return {256, 100, 64, 2048};
  if (name == "xlarge_rnn") return {512, 100, 64, 1024};  // large_rnn at hidden 512, half the sequences
  if (name == "latency") return {20, 50, 1, 1};           // the deep_rnn model, one sequence
  if (name == "lstm" || name == "gru") return {20, 50, 32, 7000};
  throw tg::ValueError(fmt::format(
      "unknown workload '{}' (simple_rnn, deep_rnn, seq2seq, large_rnn, xlarge_rnn, lstm, gru, latency)", name));
}

std::shared_ptr<tg::Module> make_model(const std::string& name, std::int64_t h) {
  using namespace tg;
  if (name == "simple_rnn") return std::make_shared<Sequential>(Input{None, 1}, SimpleRNN(h));
  if (name == "seq2seq")
    return std::make_shared<Sequential>(Input{None, 1}, SimpleRNN(h, {.return_sequences = true}),
                                        SimpleRNN(h, {.return_sequences = true}), TimeDistributed(Dense(10)));
  if (name == "lstm")  // the deep RNN with LSTM layers
    return std::make_shared<Sequential>(Input{None, 1}, LSTM(h, {.return_sequences = true}), LSTM(h), Dense(1));
  if (name == "gru")
    return std::make_shared<Sequential>(Input{None, 1}, GRU(h, {.return_sequences = true}), GRU(h), Dense(1));
  // deep_rnn, large_rnn, xlarge_rnn and latency
  return std::make_shared<Sequential>(Input{None, 1}, SimpleRNN(h, {.return_sequences = true}), SimpleRNN(h), Dense(1));
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// The p-th percentile of sorted values by nearest rank: the smallest value with at least p % of
// the values at or below it (p99 of 1000: the 990th).
double percentile(const std::vector<double>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// Inference latency: predict on one sequence [1, steps, 1], each call timed alone.
int run_latency(const Config& cfg, const Workload& w) {
  tg::manual_seed(42);
  tg::Generator gen(42);
  const tg::Tensor x = tg::generate_time_series(1, w.steps, gen);
  auto model = make_model("deep_rnn", w.hidden);
  double sink = 0;
  for (int i = 0; i < cfg.warmup_calls; ++i) sink += tg::predict(*model, x, 1).item();
  std::vector<double> us(static_cast<std::size_t>(cfg.calls));
  for (auto& u : us) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += tg::predict(*model, x, 1).item();
    u = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  const double mean = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
  std::sort(us.begin(), us.end());
  fmt::print(
      "{{\"workload\": \"latency\", \"impl\": \"tapegrad\", \"model\": \"deep_rnn\", \"p50_us\": {:.3f}, "
      "\"p99_us\": {:.3f}, \"mean_us\": {:.3f}, \"min_us\": {:.3f}, \"calls\": {}, \"warmup_calls\": {}, "
      "\"rss_mb\": {:.1f}, \"hidden\": {}, \"steps\": {}, \"threads\": {}, \"isa\": \"{}\", \"output\": {:.6g}}}\n",
      percentile(us, 50), percentile(us, 99), mean, us.front(), cfg.calls, cfg.warmup_calls, peak_rss_mb(), w.hidden,
      w.steps, tg::get_num_threads(), tg::kernel_isa(), sink / (cfg.warmup_calls + cfg.calls));
  return 0;
}

// Copies rows `idx[begin, begin + n)` of `src` ([N, ...]) into `dst` ([n, ...]), as fit() does.
void gather_rows(const tg::Tensor& src, const std::vector<std::int64_t>& idx, std::size_t begin, tg::Tensor& dst) {
  const auto row_bytes = sizeof(float) * static_cast<std::size_t>(src.numel() / src.size(0));
  tg::kernels::gather_rows(src.data<float>(), row_bytes, idx.data() + begin, dst.size(0), dst.data<float>());
}

int run(const Config& cfg) {
  Workload w = defaults(cfg.workload);
  if (cfg.hidden > 0) w.hidden = cfg.hidden;
  if (cfg.steps > 0) w.steps = cfg.steps;
  if (cfg.batch > 0) w.batch = cfg.batch;
  if (cfg.sequences > 0) w.sequences = cfg.sequences;
  if (cfg.threads > 0) tg::set_num_threads(cfg.threads);
  if (cfg.workload == "latency") return run_latency(cfg, w);

  tg::manual_seed(42);
  tg::Generator gen(42);
  tg::Tensor x = tg::generate_time_series(w.sequences, w.steps, gen);
  const bool seq = cfg.workload == "seq2seq";
  tg::Tensor y = seq ? tg::randn({w.sequences, w.steps, 10}, tg::DType::f32, &gen)
                     : tg::randn({w.sequences, 1}, tg::DType::f32, &gen);
  auto model = make_model(cfg.workload, w.hidden);
  tg::Adam opt(model->parameters(), 0.001);

  std::vector<std::int64_t> order(static_cast<std::size_t>(w.sequences));
  std::iota(order.begin(), order.end(), 0);
  auto batch_shape = [&](const tg::Tensor& t, std::int64_t n) {
    tg::Shape s = t.shape();
    s[0] = n;
    return s;
  };
  const std::int64_t full = w.sequences / w.batch, rest = w.sequences % w.batch;
  tg::Tensor xb = tg::empty(batch_shape(x, w.batch)), yb = tg::empty(batch_shape(y, w.batch));
  tg::Tensor xr = rest ? tg::empty(batch_shape(x, rest)) : tg::Tensor();
  tg::Tensor yr = rest ? tg::empty(batch_shape(y, rest)) : tg::Tensor();

  double last_loss = 0;
  auto train_batch = [&](tg::Tensor& bx, tg::Tensor& by, std::size_t begin) {
    gather_rows(x, order, begin, bx);
    gather_rows(y, order, begin, by);
    opt.zero_grad();
    tg::Tensor loss = tg::mse(by, (*model)(bx));
    loss.backward();
    opt.step();
    last_loss = loss.item();
  };
  for (int i = 0; i < cfg.warmup_batches && i < full; ++i) train_batch(xb, yb, static_cast<std::size_t>(i * w.batch));

  std::vector<double> seconds;
  for (int e = 0; e < cfg.epochs; ++e) {
    for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[gen.below(i + 1)]);
    auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t b = 0; b < full; ++b) train_batch(xb, yb, static_cast<std::size_t>(b * w.batch));
    if (rest) train_batch(xr, yr, static_cast<std::size_t>(full * w.batch));
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  fmt::print(
      "{{\"workload\": \"{}\", \"seconds\": {:.6f}, \"epochs\": {}, \"batches\": {}, \"rss_mb\": {:.1f}, "
      "\"loss\": {:.6g}, \"hidden\": {}, \"steps\": {}, \"batch\": {}, \"sequences\": {}, \"threads\": {}, "
      "\"isa\": \"{}\"}}\n",
      cfg.workload, seconds[seconds.size() / 2], cfg.epochs, full + (rest ? 1 : 0), peak_rss_mb(), last_loss, w.hidden,
      w.steps, w.batch, w.sequences, tg::get_num_threads(), tg::kernel_isa());
  return 0;
}

const char* kUsage =
    "usage: tapegrad_train_bench [--workload simple_rnn|deep_rnn|seq2seq|large_rnn|xlarge_rnn|lstm|gru]\n"
    "                            [--hidden H] [--steps T] [--batch B] [--sequences N] [--epochs E]\n"
    "                            [--warmup-batches W] [--threads K]\n"
    "       tapegrad_train_bench --workload latency [--calls C] [--warmup-calls W] [--hidden H] [--steps T]\n"
    "                            [--threads K]\n"
    "--threads K: K >= 1 threads; without it, the library's default (TAPEGRAD_NUM_THREADS, else its own)\n";

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (i + 1 >= argc) throw tg::ValueError(fmt::format("{} needs a value", a));
      std::string v = argv[++i];
      // A whole decimal number of at least `least` that fits an int: "abc", "2x", "-1" and
      // 1e12 are errors that name the flag.
      auto number = [&](const std::string& s, std::int64_t least = 0) {
        std::size_t used = 0;
        long long n = -1;
        try {
          n = std::stoll(s, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (s.empty() || used != s.size() || n < least || n > std::numeric_limits<int>::max())
          throw tg::ValueError(
              fmt::format("{} takes an integer from {} to {}, got '{}'", a, least, std::numeric_limits<int>::max(), s));
        return static_cast<std::int64_t>(n);
      };
      if (a == "--workload")
        cfg.workload = v;
      else if (a == "--hidden")
        cfg.hidden = number(v);
      else if (a == "--steps")
        cfg.steps = number(v);
      else if (a == "--batch")
        cfg.batch = number(v);
      else if (a == "--sequences")
        cfg.sequences = number(v);
      else if (a == "--epochs")
        cfg.epochs = static_cast<int>(std::max<std::int64_t>(1, number(v)));
      else if (a == "--warmup-batches")
        cfg.warmup_batches = static_cast<int>(number(v));
      else if (a == "--threads")
        cfg.threads = static_cast<int>(number(v, 1));
      else if (a == "--calls")
        cfg.calls = static_cast<int>(number(v, 1));
      else if (a == "--warmup-calls")
        cfg.warmup_calls = static_cast<int>(number(v));
      else
        throw tg::ValueError(fmt::format("unknown flag {}", a));
    }
    return run(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad_train_bench: %s\n%s", e.what(), kUsage);
    return 2;
  }
}
