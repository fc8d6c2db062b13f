#pragma once
/// \file
/// Keras-style training: `fit` runs shuffled mini-batch epochs with an optimizer and reports a
/// History; `evaluate` and `predict` run batched without recording; callbacks can stop training
/// early or save the weights.
///
///     tg::Adam adam(model.parameters());
///     tg::EarlyStopping stop("val_loss", /*patience=*/3, /*restore_best_weights=*/true);
///     tg::History h = tg::fit(model, d.x_train, d.y_train,
///                             {.epochs = 20, .optimizer = &adam,
///                              .validation_data = std::pair{d.x_valid, d.y_valid},
///                              .callbacks = {&stop}});
///     double last = h["val_loss"].back();
///
/// Progress (verbose 1) is Keras' bar, redrawn in place (carriage return) when the output is a terminal
/// and written once per epoch otherwise:
///
///     Epoch 3/20
///     219/219 [==============================] - 0.4s - loss: 0.0123 - val_loss: 0.0110
///
/// verbose 2 writes the same lines without the bar ("219/219 - 0.4s - loss: ..."), verbose 0
/// nothing. Values above 1e-3 in magnitude are printed with 4 decimals, smaller ones as 1.2345e-04.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/core/random.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/training/losses.h>
#include <tapegrad/nn/training/process_group.h>
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/optim/optimizer.h>

namespace tg {

/// The values of one epoch by name: "loss", each metric's name, "val_loss", "val_<metric>".
using Logs = std::map<std::string, double>;

/// Per-epoch values of a fit, like Keras' History.history.
struct History {
  /// "loss", metric names, "val_loss", "val_<metric>" -> one value per epoch.
  std::map<std::string, std::vector<double>> values;
  /// Wall time of each epoch, validation included, in seconds.
  std::vector<double> epoch_seconds;

  /// Number of epochs run (fewer than asked when a callback stopped training).
  int epochs() const { return static_cast<int>(epoch_seconds.size()); }
  /// Whether `name` was logged.
  bool contains(const std::string& name) const { return values.count(name) != 0; }
  /// The values of `name`; ValueError listing the available names when there are none.
  const std::vector<double>& operator[](const std::string& name) const;
};

/// Hooks into fit. Override what you need; call stop_training() to end training after the
/// current epoch, and reach the model through model().
class Callback {
 public:
  virtual ~Callback() = default;
  /// Before the first epoch.
  virtual void on_train_begin() {}
  /// After each epoch (0-based), with that epoch's values.
  virtual void on_epoch_end(int epoch, const Logs& logs) {
    (void)epoch;
    (void)logs;
  }
  /// After the last epoch (also when a callback stopped training; not when fit threw).
  virtual void on_train_end() {}

 protected:
  /// The model being trained; GraphError outside fit.
  Module& model() const;
  /// Asks fit to stop once every callback has seen the current epoch.
  void stop_training() { stop_requested_ = true; }
  /// This process's rank in a data-parallel fit (FitOptions::process_group); 0 when training
  /// alone.
  int process_rank() const { return rank_; }

 private:
  friend struct CallbackAccess;
  Module* model_ = nullptr;
  bool stop_requested_ = false;
  int rank_ = 0;
};

/// Whether a smaller (min) or a larger (max) monitored value is better.
enum class MonitorMode { min, max };

/// Stops training after `patience` epochs in a row without improvement of `monitor` (at the
/// first one with patience 0 or 1), as Keras' EarlyStopping; an improvement beats the best value
/// by more than `min_delta`. With restore_best_weights, the weights of the best epoch are put
/// back when it stops (like Keras, not when training ends by running out of epochs). ValueError
/// at the first epoch end if `monitor` is not among the logs.
class EarlyStopping : public Callback {
 public:
  /// Stops when `monitor` has not improved for `patience` epochs.
  explicit EarlyStopping(std::string monitor = "val_loss", int patience = 0, bool restore_best_weights = false,
                         double min_delta = 0.0, MonitorMode mode = MonitorMode::min);

  void on_train_begin() override;
  void on_epoch_end(int epoch, const Logs& logs) override;

  /// The 0-based epoch after which training stopped, or -1 if it did not stop early.
  int stopped_epoch() const { return stopped_epoch_; }
  /// The 0-based epoch of the best value seen (-1 before any), and that value.
  int best_epoch() const { return best_epoch_; }
  /// The best value of `monitor` seen.
  double best() const { return best_; }

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

/// Saves the weights (nn/training/serialize.h) to `path` after every epoch, or only when `monitor`
/// improved with save_best_only. "{epoch}" in the path is replaced by the 1-based epoch number.
class ModelCheckpoint : public Callback {
 public:
  /// Saves to `path` after each epoch (only on improvements with save_best_only).
  explicit ModelCheckpoint(std::string path, std::string monitor = "val_loss", bool save_best_only = false,
                           MonitorMode mode = MonitorMode::min);

  void on_train_begin() override;
  void on_epoch_end(int epoch, const Logs& logs) override;

  /// Epochs (0-based) at which the weights were saved.
  const std::vector<int>& saved_epochs() const { return saved_epochs_; }

 private:
  std::string path_, monitor_;
  bool save_best_only_;
  MonitorMode mode_;
  bool has_best_ = false;
  double best_ = 0.0;
  std::vector<int> saved_epochs_;
};

/// How fit trains. Only `optimizer` is required.
struct FitOptions {
  /// Passes over the training data.
  int epochs = 1;
  /// Samples per step; the last batch of an epoch keeps the remainder (7000 samples in batches
  /// of 32 make 219 steps). A batch size larger than the data makes one batch.
  std::int64_t batch_size = 32;
  /// Required: updates the model's parameters after each batch (not owned).
  Optimizer* optimizer = nullptr;
  /// Minimised; reported as "loss".
  LossFn loss = mse;
  /// Reported per epoch on the training batches (running mean) and on the validation data.
  std::vector<Metric> metrics = {};
  /// (x, y) evaluated after each epoch: "val_loss" and "val_<metric>".
  std::optional<std::pair<Tensor, Tensor>> validation_data = {};
  /// Not owned; called in order.
  std::vector<Callback*> callbacks = {};
  /// Reshuffle the samples before each epoch.
  bool shuffle = true;
  /// 0 silent, 1 progress bar, 2 one line per epoch.
  int verbose = 1;
  /// The source of the shuffles; null means default_generator().
  Generator* generator = nullptr;
  /// Where progress goes; null means std::cout.
  std::ostream* out = nullptr;
  /// Redraw the bar in place (carriage return) during the epoch. Unset: when `out` is std::cout and
  /// standard output is a terminal.
  std::optional<bool> in_place_progress = {};
  /// Data-parallel training on a group of processes (null: alone). The MPI world is
  /// tg::dist::world() (nn/dist/dist.h, docs/distributed.md). batch_size is then the
  /// batch of each rank and the global batch is the sum over the ranks. Every epoch all ranks
  /// shuffle the same way (give them the same generator seed), cut the order into global batches
  /// of batch_size x world_size samples, and each rank trains on its contiguous share of each
  /// global batch: rows [count * r / W, count * (r + 1) / W) of a global batch of `count` rows,
  /// so a last partial batch is split as evenly as possible (a rank may get none). Gradients are
  /// averaged with weights rows/count, so each step equals one step on the whole global batch.
  /// Losses and metrics are sample-weighted over all ranks; the validation set is split across
  /// the ranks and reduced. Parameters are broadcast from rank 0 at the start; only rank 0
  /// prints progress and ModelCheckpoint writes only there. A group of one changes nothing.
  /// Not owned.
  ProcessGroup* process_group = nullptr;
};

/// Trains `model` on x [N, ...] and y [N, ...] in mini-batches over dimension 0: each step zeroes
/// the gradients, runs forward, computes the loss, runs backward and steps the optimizer.
/// "loss" is the sample-weighted mean of the batch losses over the epoch; "val_loss" the exact
/// mean over the validation set, computed in batches without recording.
///
/// Throws ValueError for a missing optimizer, one that does not hold every trainable parameter of
/// the model (requires_grad; the missing ones are named, checked again after the first batch's
/// forward for layers built by it), epochs < 0, batch_size < 1, verbose not in 0..2, an empty
/// dataset or bad metric names; ShapeError when x and y (or the validation pair) differ in their
/// number of samples; ValueError naming the tensor, the sample and the index of the first NaN or
/// infinity in x, y or the validation pair, before any step.
///
/// Every step is checked, alone and in a data-parallel fit alike: a loss that is NaN or infinite,
/// a parameter's gradient that is, or an update that makes a parameter or the optimizer's state
/// for it non-finite (a learning rate far too large, Adam's g^2 overflowing) stops training with a
/// ValueError naming the epoch and the batch (and the parameter). The weights and the optimizer's
/// state are then those from before that batch, so training can go on exactly from there (with a
/// smaller learning rate, say). Under a process group every rank stops with the same error.
/// tape().set_anomaly_detection(true) names the op whose forward or backward made the first
/// non-finite value. An update that leaves finite weights which only overflow in the next forward
/// is seen by the next batch's loss check, after that update.
History fit(Module& model, const Tensor& x, const Tensor& y, FitOptions options);

/// The loss ("loss") and each metric (by name) over x and y, as means over all samples, computed
/// in batches in evaluation mode without recording. Same argument checks as fit (NaN or infinite
/// data included).
Logs evaluate(Module& model, const Tensor& x, const Tensor& y, const LossFn& loss = mse,
              const std::vector<Metric>& metrics = {}, std::int64_t batch_size = 32);

/// The model's outputs for x [N, ...], computed in batches in evaluation mode without recording:
/// a tensor [N, ...] equal to model(x); non-finite inputs are let through (they give non-finite
/// outputs). ValueError for an empty x or batch_size < 1; ShapeError
/// if the model changes the batch size or its output shape from batch to batch.
Tensor predict(Module& model, const Tensor& x, std::int64_t batch_size = 32);

}  // namespace tg
