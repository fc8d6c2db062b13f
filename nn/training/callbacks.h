#pragma once
/// \file
/// Callbacks: hooks into fit at train, epoch and batch begin and end (Keras' names), that see the
/// model, the optimizer and the logs. The built-in ones: EarlyStopping, ModelCheckpoint,
/// LearningRateScheduler (any function of epoch and rate), ApplySchedule (a schedule of the step,
/// nn/training/schedules.h), ReduceLROnPlateau, CSVLogger, TerminateOnNaN and LambdaCallback.
///
///     tg::ReduceLROnPlateau plateau("val_loss", /*factor=*/0.5, /*patience=*/2);
///     tg::CSVLogger csv("training.csv");
///     tg::fit(model, x, y, {.epochs = 20, .optimizer = &adam, .validation_split = 0.2,
///                           .callbacks = {&plateau, &csv}});
///
/// A callback whose state matters when training resumes (EarlyStopping's best value and wait,
/// ReduceLROnPlateau's counters) writes it with save_state and reads it back with load_state;
/// checkpoints (nn/training/checkpoint.h) keep it.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/optim/optimizer.h>

namespace tg {

class Generator;
class Callback;
class BatchPlan;

/// Values by name: at an epoch's end "loss", each metric's name, "val_loss", "val_<metric>"; at
/// a batch's end "loss" and the metrics as running means over the epoch so far.
using Logs = std::map<std::string, double>;

/// The part of a callback's state that a resumed training needs: numbers and tensors by name.
struct CallbackState {
  /// Counters, best values, rates.
  std::map<std::string, double> values;
  /// Weights kept by the callback (EarlyStopping's best ones).
  std::map<std::string, Tensor> tensors;
};

/// What a callback sees of the training it is attached to. fit fills it; a user's own loop can
/// attach callbacks to its own (Callback::attach).
struct TrainingContext {
  /// The model being trained.
  Module* model = nullptr;
  /// Its optimizer.
  Optimizer* optimizer = nullptr;
  /// The generator that shuffles the batches (FitOptions::generator or the default one).
  Generator* generator = nullptr;
  /// The plan of batches, whose sample order each shuffle permutes (null: none).
  BatchPlan* plan = nullptr;
  /// Every callback of the training, in order (checkpoints keep their states).
  std::vector<Callback*> callbacks = {};
  /// This process's rank in a data-parallel fit; 0 alone.
  int rank = 0;
  /// Epochs completed so far (the epoch a resumed training starts at), counted from 0.
  int epochs_done = 0;
};

/// Hooks into fit. Override what you need; call stop_training() to end training (after the
/// current batch; in a data-parallel fit after the current epoch, when every rank agrees), and
/// reach the model and the optimizer through model() and optimizer(). Hooks left alone cost
/// nothing measurable.
class Callback {
 public:
  virtual ~Callback() = default;
  /// Before the first epoch.
  virtual void on_train_begin() {}
  /// After the last epoch (also when a callback stopped training; not when fit threw).
  virtual void on_train_end() {}
  /// Before each epoch (0-based, counted from FitOptions::initial_epoch).
  virtual void on_epoch_begin(int epoch) { (void)epoch; }
  /// After each epoch (0-based), with that epoch's values.
  virtual void on_epoch_end(int epoch, const Logs& logs) {
    (void)epoch;
    (void)logs;
  }
  /// Before each training batch (0-based within the epoch).
  virtual void on_train_batch_begin(std::int64_t batch) { (void)batch; }
  /// After each training batch, with the running means of the epoch so far.
  virtual void on_train_batch_end(std::int64_t batch, const Logs& logs) {
    (void)batch;
    (void)logs;
  }

  /// The callback's name in checkpoints and messages ("EarlyStopping").
  virtual std::string name() const { return "Callback"; }
  /// Writes the state a resumed training needs into `state` (nothing by default).
  virtual void save_state(CallbackState& state) const { (void)state; }
  /// Reads back what save_state wrote; called after on_train_begin when training resumes.
  virtual void load_state(const CallbackState& state) { (void)state; }

  /// Attaches the callback to a training (fit does it before on_train_begin); `context` must
  /// outlive the training.
  void attach(const TrainingContext* context) {
    context_ = context;
    stop_requested_ = false;
  }
  /// Whether stop_training() was called since attach.
  bool stop_requested() const { return stop_requested_; }

 protected:
  /// The model being trained; GraphError outside fit.
  Module& model() const;
  /// The optimizer; GraphError outside fit.
  Optimizer& optimizer() const;
  /// The training this callback is attached to; GraphError outside fit.
  const TrainingContext& context() const;
  /// Asks fit to stop (see the class).
  void stop_training() { stop_requested_ = true; }
  /// This process's rank in a data-parallel fit (FitOptions::process_group); 0 when training
  /// alone.
  int process_rank() const { return context_ ? context_->rank : 0; }

 private:
  const TrainingContext* context_ = nullptr;
  bool stop_requested_ = false;
};

/// Whether a smaller (min) or a larger (max) monitored value is better.
enum class MonitorMode { min, max };

/// Stops training after `patience` epochs in a row without improvement of `monitor` (at the
/// first one with patience 0 or 1), as Keras' EarlyStopping; an improvement beats the best value
/// by more than `min_delta`. With restore_best_weights, the weights of the best epoch are put
/// back when it stops (like Keras, not when training ends by running out of epochs). ValueError
/// at the first epoch end if `monitor` is not among the logs. Its state (best value and epoch,
/// wait, best weights) is kept by checkpoints.
class EarlyStopping : public Callback {
 public:
  /// Stops when `monitor` has not improved for `patience` epochs.
  explicit EarlyStopping(std::string monitor = "val_loss", int patience = 0, bool restore_best_weights = false,
                         double min_delta = 0.0, MonitorMode mode = MonitorMode::min);

  void on_train_begin() override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  std::string name() const override { return "EarlyStopping"; }
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  /// The 0-based epoch after which training stopped, or -1 if it did not stop early.
  int stopped_epoch() const { return stopped_epoch_; }
  /// The 0-based epoch of the best value seen (-1 before any), and that value.
  int best_epoch() const { return best_epoch_; }
  /// The best value of `monitor` seen.
  double best() const { return best_; }
  /// Epochs since the last improvement.
  int wait() const { return wait_; }

 private:
  std::string monitor_;
  int patience_;
  bool restore_;
  double min_delta_;
  MonitorMode mode_;
  int wait_ = 0, stopped_epoch_ = -1, best_epoch_ = -1;
  double best_ = 0.0;
  std::vector<Tensor> best_weights_;
};

/// Saves to `path` after every epoch, or only when `monitor` improved with save_best_only.
/// "{epoch}" in the path is replaced by the 1-based epoch number. What it saves: the weights
/// (nn/training/serialize.h), or with Save::training_state a checkpoint that resumes training
/// exactly (nn/training/checkpoint.h: weights, optimizer state, epoch, generator, callbacks).
/// In a data-parallel fit only rank 0 writes.
class ModelCheckpoint : public Callback {
 public:
  /// What a ModelCheckpoint writes.
  enum class Save { weights_only, training_state };

  /// Saves to `path` after each epoch (only on improvements with save_best_only).
  explicit ModelCheckpoint(std::string path, std::string monitor = "val_loss", bool save_best_only = false,
                           MonitorMode mode = MonitorMode::min, Save what = Save::weights_only);

  void on_train_begin() override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  std::string name() const override { return "ModelCheckpoint"; }
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  /// Epochs (0-based) at which the weights were saved.
  const std::vector<int>& saved_epochs() const { return saved_epochs_; }

 private:
  std::string path_, monitor_;
  bool save_best_only_;
  MonitorMode mode_;
  Save what_;
  bool has_best_ = false;
  double best_ = 0.0;
  std::vector<int> saved_epochs_;
};

/// Sets the learning rate at the start of each epoch to schedule(epoch, current rate), as Keras'
/// LearningRateScheduler: `[](int epoch, double lr) { return epoch < 10 ? lr : lr * 0.9; }`.
/// ValueError (from Optimizer::set_learning_rate) for a rate that is not > 0 and finite.
class LearningRateScheduler : public Callback {
 public:
  /// schedule(epoch (0-based), rate) -> the rate for that epoch.
  explicit LearningRateScheduler(std::function<double(int epoch, double lr)> schedule);
  void on_epoch_begin(int epoch) override;
  std::string name() const override { return "LearningRateScheduler"; }

 private:
  std::function<double(int, double)> schedule_;
};

/// Sets the learning rate before each batch to schedule(step), where step is the optimizer's
/// number of updates so far (0 at the first batch), as Keras does when an optimizer's rate is a
/// LearningRateSchedule: `tg::ApplySchedule cosine(tg::CosineDecay(1e-3, 1000));`. The step
/// comes from the optimizer, so a resumed training continues the schedule where it was.
class ApplySchedule : public Callback {
 public:
  /// Any function of the step: ExponentialDecay, PiecewiseConstantDecay, CosineDecay, a lambda.
  explicit ApplySchedule(std::function<double(std::int64_t step)> schedule);
  void on_train_batch_begin(std::int64_t batch) override;
  std::string name() const override { return "ApplySchedule"; }

 private:
  std::function<double(std::int64_t)> schedule_;
};

/// Multiplies the learning rate by `factor` when `monitor` has not improved (by more than
/// `min_delta`) for `patience` epochs, then waits `cooldown` epochs before counting again,
/// never going below `min_lr`: Keras' ReduceLROnPlateau. Its counters, best value and the
/// rate are kept by checkpoints. ValueError for factor not in (0, 1), patience or cooldown < 0,
/// and at the first epoch end if `monitor` is not among the logs.
class ReduceLROnPlateau : public Callback {
 public:
  /// Keras' defaults.
  explicit ReduceLROnPlateau(std::string monitor = "val_loss", double factor = 0.1, int patience = 10,
                             MonitorMode mode = MonitorMode::min, double min_delta = 1e-4, int cooldown = 0,
                             double min_lr = 0.0);
  void on_train_begin() override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  std::string name() const override { return "ReduceLROnPlateau"; }
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  /// Epochs without improvement so far.
  int wait() const { return wait_; }
  /// The best value seen.
  double best() const { return best_; }

 private:
  std::string monitor_;
  double factor_;
  int patience_;
  MonitorMode mode_;
  double min_delta_;
  int cooldown_;
  double min_lr_;
  int wait_ = 0, cooldown_counter_ = 0;
  double best_ = 0.0;
};

/// Writes one CSV row per epoch to `path`, as Keras' CSVLogger: a header "epoch,<names>" (the
/// log names in sorted order) and the 0-based epoch with that epoch's values. The whole file is
/// replaced atomically after every epoch (core/file_io.h), so a reader or a crash never sees a
/// half-written row. With `append`, the rows of an existing file are kept (its header is kept
/// and must match) and the new ones added after them, as a resumed training wants. In a
/// data-parallel fit only rank 0 writes.
class CSVLogger : public Callback {
 public:
  /// Logs to `path`, values separated by `separator`.
  explicit CSVLogger(std::string path, char separator = ',', bool append = false);
  void on_train_begin() override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  std::string name() const override { return "CSVLogger"; }

 private:
  std::string path_;
  char separator_;
  bool append_;
  std::string header_, text_;
};

/// Stops training as soon as a value in a batch's or an epoch's logs is NaN or infinite (Keras'
/// TerminateOnNaN). fit's own checks stop a non-finite training loss with an error before the
/// update; this callback also catches a validation loss or a metric that overflows, and ends
/// training quietly instead.
class TerminateOnNaN : public Callback {
 public:
  void on_train_begin() override { terminated_ = false; }
  void on_train_batch_end(std::int64_t batch, const Logs& logs) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  std::string name() const override { return "TerminateOnNaN"; }

  /// Whether it stopped training.
  bool terminated() const { return terminated_; }

 private:
  void check(const Logs& logs);
  bool terminated_ = false;
};

/// A callback made of functions, as Keras' LambdaCallback; those left empty do nothing.
///
///     tg::LambdaCallback log({.on_epoch_end = [](int e, const tg::Logs& l) { fmt::print("{} {}\n", e, l.at("loss"));
///     }});
class LambdaCallback : public Callback {
 public:
  /// The functions, each optional.
  struct Functions {
    std::function<void()> on_train_begin = {};                               ///< Callback::on_train_begin
    std::function<void()> on_train_end = {};                                 ///< Callback::on_train_end
    std::function<void(int)> on_epoch_begin = {};                            ///< Callback::on_epoch_begin
    std::function<void(int, const Logs&)> on_epoch_end = {};                 ///< Callback::on_epoch_end
    std::function<void(std::int64_t)> on_train_batch_begin = {};             ///< Callback::on_train_batch_begin
    std::function<void(std::int64_t, const Logs&)> on_train_batch_end = {};  ///< Callback::on_train_batch_end
  };
  /// A callback calling `functions`.
  explicit LambdaCallback(Functions functions) : f_(std::move(functions)) {}

  void on_train_begin() override {
    if (f_.on_train_begin) f_.on_train_begin();
  }
  void on_train_end() override {
    if (f_.on_train_end) f_.on_train_end();
  }
  void on_epoch_begin(int epoch) override {
    if (f_.on_epoch_begin) f_.on_epoch_begin(epoch);
  }
  void on_epoch_end(int epoch, const Logs& logs) override {
    if (f_.on_epoch_end) f_.on_epoch_end(epoch, logs);
  }
  void on_train_batch_begin(std::int64_t batch) override {
    if (f_.on_train_batch_begin) f_.on_train_batch_begin(batch);
  }
  void on_train_batch_end(std::int64_t batch, const Logs& logs) override {
    if (f_.on_train_batch_end) f_.on_train_batch_end(batch, logs);
  }
  std::string name() const override { return "LambdaCallback"; }

 private:
  Functions f_;
};

}  // namespace tg
