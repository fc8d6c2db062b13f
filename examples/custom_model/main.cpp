// Trains the user-defined LeakyForecaster on the walkthrough's one-step task.
#include <fmt/format.h>

#include "leaky_cell.h"
#include "support/cli.h"

namespace {

int run(int argc, char** argv) {
  using namespace tg;
  bool quick = false;
  cli::CommandLine cl("custom_model", "Trains the user-defined LeakyForecaster on the walkthrough's one-step task.");
  cl.quick("a small run for tests: 500/200/100 series, 2 epochs", [&] { quick = true; });
  if (const auto status = cl.parse(argc, argv)) return *status;
  manual_seed(42);
  Generator rng(42);
  ForecastSizes sizes;
  if (quick) sizes = {.train = 500, .valid = 200, .test = 100};
  ForecastData d = one_step_data(rng, sizes);

  LeakyForecaster model;
  fmt::print("{}", model.summary());
  Adam opt(model.parameters());
  FitOptions o;
  o.epochs = quick ? 2 : 10;
  o.optimizer = &opt;
  o.validation_data = std::make_pair(d.x_valid, d.y_valid);
  o.verbose = 2;
  History h = fit(model, d.x_train, d.y_train, o);
  fmt::print("validation MSE {:.4f} (naive forecast: 0.0202)\n", h["val_loss"].back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tg::cli::guarded_main("custom_model", [&] { return run(argc, argv); });
}
