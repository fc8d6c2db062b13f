// Data-parallel training throughput of the large_rnn workload (SimpleRNN(256, seq) +
// SimpleRNN(256) + Dense(1), 100 time steps, 2048 sequences, batch 64 on every rank), for
// benchmarks/dist_scaling.sh. Run it alone or under `mpirun -np W`; rank 0 prints one JSON line:
// {"ranks", "local_batch", "global_batch", "samples_per_s" (median over the timed epochs),
//  "epoch_s", "allreduce_ms" (one gradient all-reduce, median of 20), "grad_mb"}.
//
//   dist_bench [--epochs E] [--sequences N] [--hidden H] [--steps T] [--batch B]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/nn/dist/dist.h>
#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>

namespace {

struct Config {
  int epochs = 3;  // the first is a warm-up
  std::int64_t sequences = 2048, hidden = 256, steps = 100, batch = 64;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run(const Config& c) {
  using namespace tg;
  manual_seed(42);
  Generator gen(42);
  Tensor x = generate_time_series(c.sequences, c.steps, gen);
  Tensor y = randn({c.sequences, 1}, DType::f32, &gen);
  Sequential model(Input{None, 1}, SimpleRNN(c.hidden, {.return_sequences = true}), SimpleRNN(c.hidden), Dense(1));
  model.build({-1, c.steps, 1});
  Adam adam(model.parameters(), 0.001);
  Generator shuffle(7);
  History h = fit(model, x, y,
                  {.epochs = c.epochs,
                   .batch_size = c.batch,
                   .optimizer = &adam,
                   .verbose = 0,
                   .generator = &shuffle,
                   .process_group = &tg::dist::world()});
  std::vector<double> timed(h.epoch_seconds.begin() + 1, h.epoch_seconds.end());
  const double epoch_s = median(timed);

  // The communication alone: one gradient all-reduce of this model, as fit makes it each step.
  GradientReducer reducer(tg::dist::world(), model.parameters());
  std::vector<double> stats(1, 0.0), ms;
  for (int i = 0; i < 23; ++i) {
    dist::barrier();
    const auto t0 = std::chrono::steady_clock::now();
    reducer.all_reduce(1.0 / dist::world_size(), stats);
    if (i >= 3) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (dist::rank() == 0)
    fmt::print(
        "{{\"workload\": \"large_rnn\", \"ranks\": {}, \"local_batch\": {}, \"global_batch\": {}, "
        "\"samples_per_s\": {:.1f}, \"epoch_s\": {:.4f}, \"steps_per_epoch\": {}, \"allreduce_ms\": {:.4f}, "
        "\"grad_mb\": {:.3f}, \"loss\": {:.6g}}}\n",
        dist::world_size(), c.batch, c.batch * dist::world_size(), static_cast<double>(c.sequences) / epoch_s, epoch_s,
        (c.sequences + c.batch * dist::world_size() - 1) / (c.batch * dist::world_size()), median(ms),
        static_cast<double>(model.num_parameters()) * 4.0 / 1e6, h["loss"].back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tg::dist::Session mpi(argc, argv);
  Config c;
  try {
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string a = argv[i];
      const long long v = std::stoll(argv[i + 1]);
      if (v < 1) throw tg::ValueError(fmt::format("{} takes a positive integer", a));
      if (a == "--epochs")
        c.epochs = static_cast<int>(std::max(2LL, v));
      else if (a == "--sequences")
        c.sequences = v;
      else if (a == "--hidden")
        c.hidden = v;
      else if (a == "--steps")
        c.steps = v;
      else if (a == "--batch")
        c.batch = v;
      else
        throw tg::ValueError(fmt::format("unknown flag {}", a));
    }
    return run(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_bench: %s\n", e.what());
    if (tg::dist::world_size() > 1) tg::dist::abort(2);
    return 2;
  }
}
