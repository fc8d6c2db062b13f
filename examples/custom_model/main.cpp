// Trains the user-defined LeakyForecaster on the walkthrough's one-step task.
#include <cstdio>

#include <fmt/format.h>

#include "leaky_cell.h"

int main(int argc, char** argv) {
  using namespace tg;
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (argc > 2 || (argc == 2 && !quick)) {
    std::fprintf(stderr, "custom_model: unexpected argument '%s'\nusage: custom_model [--quick]\n",
                 argv[quick ? 2 : 1]);
    return 2;
  }
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
}
