// The gradient reaching each time step of a SimpleRNN, an LSTM and a chrono-initialised LSTM on a
// long-memory task, at initialisation and after training: prints ||dLoss/dx_t|| and
// ||dLoss/dh_t|| against t (relative to the last step) and plots the input gradients to
// vanishing_gradients.svg. docs/bptt.md discusses what it shows.
//
//   vanishing_gradients [--quick] [--steps T] [--train-steps N] [--lr R] [--units U] [--seed S] [out.svg]
#include <string>
#include <vector>

#include <fmt/format.h>

#include "support/cli.h"
#include "support/plot.h"
#include "vanishing.h"

namespace {

int run(int argc, char** argv) {
  using namespace vanishing;
  Settings s;
  std::string svg = "vanishing_gradients.svg";
  tg::cli::CommandLine cl("vanishing_gradients",
                          "The gradient reaching each time step of a SimpleRNN, an LSTM and a chrono-initialised\n"
                          "LSTM on a long-memory task, at initialisation and after training (docs/bptt.md).");
  cl.quick("100 training steps, 4 measuring batches (the test's mode)", [&] { s = quick_settings(); });
  cl.whole("--steps", s.steps, 3, 100000, "sequence length T (default 100)", "T");
  cl.whole("--train-steps", s.train_steps, 0, 1000000, "Adam steps between the two measurements (default 1000)");
  cl.positive("--lr", s.learning_rate, 10.0, "Adam's learning rate (default 0.01)", "R");
  cl.whole("--units", s.units, 1, 1024, "recurrent units of every model (default 16)", "U");
  cl.whole("--seed", s.seed, 0, std::uint64_t{18446744073709551615u}, "seed (default 42)", "S");
  cl.text("out.svg", svg, "the plot of the input gradients (default vanishing_gradients.svg)");
  if (const auto status = cl.parse(argc, argv)) return *status;
  tg::cli::check_output_file(svg, "out.svg");  // before the measurements, not after
  fmt::print(
      "Task: output the first of {} uniform(-1, 1) inputs; {} units; measured on {} batches of {}, at "
      "initialisation and after {} Adam steps at {}\n",
      s.steps, s.units, s.measure_batches, s.batch, s.train_steps, s.learning_rate);
  const std::vector<Profile> profiles = all_profiles(s);

  const auto report = [&](const char* when, Gradients Profile::*which) {
    fmt::print("\n{}: ||dLoss/dx_t|| (x) and ||dLoss/dh_t|| (h), relative to t = {}\n{}", when, s.steps - 1,
               table(profiles, which, s.steps / 10 > 0 ? s.steps / 10 : 1));
    for (const Profile& p : profiles) {
      const Gradients& g = p.*which;
      fmt::print(
          "{:>12}: first/last gradient ratio x {:.3e}, h {:.3e} (h to t = {}: {:.3e}); loss {:.4f} (predicting "
          "0 scores 0.333)\n",
          p.name, g.x_ratio(), g.h_ratio(), s.steps - 2, g.h_ratio_before_last(), g.loss);
    }
  };
  report("At initialisation", &Profile::init);
  report(fmt::format("After {} training steps", s.train_steps).c_str(), &Profile::trained);

  // Same colour per model; the initialisation as a line, after training with dots.
  const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c"};
  std::vector<tg::Series> series;
  for (std::size_t i = 0; i < profiles.size(); ++i)
    for (bool trained : {false, true}) {
      const Gradients& g = trained ? profiles[i].trained : profiles[i].init;
      std::vector<double> rel;
      for (double n : g.x_norms) rel.push_back(n / g.x_norms.back());
      series.push_back({.label = profiles[i].name + (trained ? ", trained" : ", init"),
                        .x = {},
                        .y = rel,
                        .style = trained ? "points" : "line",
                        .color = colors[i % 3]});
    }
  tg::save_svg(svg, tg::line_plot_svg(series, {.title = "Gradient reaching each input x_t",
                                               .xlabel = "time step t",
                                               .ylabel = "||dLoss/dx_t|| / ||dLoss/dx_T-1||",
                                               .log_y = true}));
  fmt::print("plot: {}\n", svg);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tg::cli::guarded_main("vanishing_gradients", [&] { return run(argc, argv); });
}
