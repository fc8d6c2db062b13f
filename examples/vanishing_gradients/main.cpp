// The gradient reaching each time step of a SimpleRNN and of an LSTM on a long-memory task:
// prints ||dLoss/dh_t|| against t (relative to the last step) and plots it to
// vanishing_gradients.svg. docs/bptt.md discusses what it shows.
//
//   vanishing_gradients [--quick] [--steps T] [--train-steps N] [--lr R] [--units U] [out.svg]
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vanishing.h"

int main(int argc, char** argv) {
  using namespace vanishing;
  Settings s;
  std::string svg = "vanishing_gradients.svg";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      s.train_steps = 20;
      s.measure_batches = 2;
    } else if ((a == "--steps" || a == "--train-steps" || a == "--lr" || a == "--units") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--steps") s.steps = std::stoll(v);
      if (a == "--train-steps") s.train_steps = std::stoi(v);
      if (a == "--lr") s.learning_rate = std::stod(v);
      if (a == "--units") s.units = std::stoll(v);
    } else if (a.starts_with("-")) {
      fmt::print("usage: vanishing_gradients [--quick] [--steps T] [--train-steps N] [--lr R] [--units U] [out.svg]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    } else {
      svg = a;
    }
  }
  fmt::print("Task: output the first of {} uniform(-1, 1) inputs; {} units, {} Adam steps of batch {}\n", s.steps,
             s.units, s.train_steps, s.batch);
  std::vector<Profile> profiles{simple_rnn_profile(s), lstm_profile(s)};

  fmt::print("\n||dLoss/dh_t|| / ||dLoss/dh_T-1|| (mean over {} batches)\n{}", s.measure_batches, table(profiles, 10));
  for (const Profile& p : profiles)
    fmt::print("{}: first/last step gradient ratio {:.3e}, loss {:.4f} (predicting 0 scores 0.333)\n", p.name,
               p.first_to_last(), p.loss);

  std::vector<tg::Series> series;
  for (const Profile& p : profiles) {
    std::vector<double> rel;
    for (double n : p.norms) rel.push_back(n / p.norms.back());
    series.push_back({.label = p.name, .x = {}, .y = rel, .style = "points", .color = {}});
  }
  tg::save_svg(svg, tg::line_plot_svg(series, {.title = "Gradient reaching each time step",
                                               .xlabel = "time step t",
                                               .ylabel = "||dLoss/dh_t|| / ||dLoss/dh_T-1||",
                                               .log_y = true}));
  fmt::print("plot: {}\n", svg);
}
