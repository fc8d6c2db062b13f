#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <filesystem>

// The training guide (docs/training.md): fit steered by callbacks and a schedule, clipped,
// checkpointed, stopped and resumed; and the same TrainStep in a loop of one's own.
int main() {
  using namespace tg;
  Generator rng(42);
  ForecastData d = one_step_data(rng, {.train = 512, .valid = 128, .test = 16, .steps = 20});
  const std::string checkpoint = (std::filesystem::temp_directory_path() / "tapegrad_guide.tgc").string();
  const std::string log = (std::filesystem::temp_directory_path() / "tapegrad_guide.csv").string();

  auto build = [] {
    manual_seed(42);
    return Sequential(Input{None, 1}, SimpleRNN(16), Dense(1));
  };

  // Warm up for 20 steps to 5e-3, then a cosine decay to 10% of it over 300 steps.
  ApplySchedule schedule(CosineDecay(1e-3, /*decay_steps=*/300, /*alpha=*/0.1, /*warmup_target=*/5e-3,
                                     /*warmup_steps=*/20));
  ReduceLROnPlateau plateau("val_loss", /*factor=*/0.5, /*patience=*/2);
  EarlyStopping stop("val_loss", /*patience=*/4, /*restore_best_weights=*/true);
  CSVLogger csv(log, ',', /*append=*/true);
  ModelCheckpoint save(checkpoint, "val_loss", /*save_best_only=*/false, MonitorMode::min,
                       ModelCheckpoint::Save::training_state);
  auto options = [&](Optimizer& opt, int epochs) {
    return FitOptions{.epochs = epochs,
                      .optimizer = &opt,
                      .validation_data = std::pair{d.x_valid, d.y_valid},
                      .callbacks = {&schedule, &plateau, &stop, &csv, &save},
                      .verbose = 2,
                      .global_clipnorm = 1.0};
  };

  // Three epochs, then the process "stops"...
  std::filesystem::remove(log);
  Sequential model = build();
  Adam adam(model.parameters());
  fit(model, d.x_train, d.y_train, options(adam, 3));

  // ... and a new one resumes from the checkpoint: epochs 4 to 6, as if it had never stopped.
  Sequential again = build();
  Adam adam_again(again.parameters());
  FitOptions resume = options(adam_again, 6);
  resume.resume_from = checkpoint;
  History h = fit(again, d.x_train, d.y_train, resume);
  std::printf("resumed for %d epochs, val_loss %.4f, learning rate %.2e\n", h.epochs(), h["val_loss"].back(),
              adam_again.learning_rate());

  // A loop of one's own takes the very step fit takes: forward, loss, backward, the checks
  // (a NaN stops it with the weights from before the step), clipping, update.
  Sequential own = build();
  Adam adam_own(own.parameters());
  TrainStep step(own, adam_own, {.loss = mse, .clipnorm = 1.0});
  double loss = 0.0;
  for (int i = 0; i < 16; ++i) loss = step.run(slice(d.x_train, 0, 32 * i, 32), slice(d.y_train, 0, 32 * i, 32));
  std::printf("own loop: loss %.4f after %lld steps\n", loss, static_cast<long long>(adam_own.iterations()));

  std::filesystem::remove(checkpoint);
  std::filesystem::remove(log);
  return h.epochs() == 3 && h["val_loss"].back() < h["val_loss"].front() * 2 ? 0 : 1;
}
