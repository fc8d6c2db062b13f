#include <filesystem>
#include <tapegrad/tapegrad.h>

int main() {
  using namespace tg;
  manual_seed(42);  // the initialisers' and fit's shuffles
  Generator rng(42);
  // Noisy sine series: x [N, 50, 1], the next value y [N, 1]; small splits for a quick run.
  ForecastData d = one_step_data(rng, {.train = 1000, .valid = 200, .test = 200});

  // A model: layers in order; Input fixes the input shape so summary() knows every shape.
  Sequential model(Input{None, 1}, SimpleRNN(20), Dense(1));
  fmt::print("{}", model.summary());

  // Training: fit runs mini-batches (32), shuffles, reports loss and val_loss per epoch.
  Adam opt(model.parameters());
  FitOptions o;
  o.epochs = 3;
  o.optimizer = &opt;
  o.validation_data = std::make_pair(d.x_valid, d.y_valid);
  o.verbose = 2;
  History h = fit(model, d.x_train, d.y_train, o);

  // Evaluation and prediction.
  Logs test = evaluate(model, d.x_test, d.y_test);
  Tensor y_pred = predict(model, d.x_test);  // [200, 1]
  fmt::print("test mse {:.4f}, first prediction {:.4f}\n", test["loss"], y_pred.at({0, 0}));

  // Saving and loading the weights (a versioned binary format; see nn/training/serialize.h).
  std::string path = (std::filesystem::temp_directory_path() / "first_model.tgw").string();
  save_weights(model, path);
  Sequential restored(Input{None, 1}, SimpleRNN(20), Dense(1));
  load_weights(restored, path);
  double restored_mse = evaluate(restored, d.x_test, d.y_test)["loss"];
  fmt::print("restored model: test mse {:.4f}\n", restored_mse);
  return restored_mse == test["loss"] && h["val_loss"].back() < h["val_loss"].front() ? 0 : 1;
}
