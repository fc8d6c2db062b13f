#pragma once
/// \file
/// Keras-style training: `fit` runs shuffled mini-batch epochs with an optimizer and reports a
/// History; `evaluate` and `predict` run batched without recording; callbacks
/// (nn/training/callbacks.h) steer it: stop early, save or resume, schedule the learning rate.
///
/// fit is a short loop over named parts: a BatchSource and a BatchPlan (nn/training/batches.h)
/// give each step its rows, one TrainStep (nn/training/train_step.h, shared with truncated BPTT
/// and users' loops) trains on them, the same evaluation path as `evaluate` gives the validation
/// values, and callbacks (the progress line among them) see every begin and end.
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
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/nn/training/batches.h>
#include <tapegrad/nn/training/callbacks.h>
#include <tapegrad/nn/training/checkpoint.h>
#include <tapegrad/nn/training/losses.h>
#include <tapegrad/nn/training/process_group.h>
#include <tapegrad/nn/training/train_step.h>
#include <tapegrad/optim/optimizer.h>

namespace tg {

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

/// How fit trains. Only `optimizer` is required.
struct FitOptions {
  /// The epoch to end at: passes over the training data from initial_epoch (0 by default) up
  /// to epochs, as Keras counts them.
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
  /// Gradient clipping as Keras' optimizers do it, applied to the (synchronised) gradients
  /// before each update: clipnorm scales each gradient to an L2 norm of at most clipnorm,
  /// global_clipnorm all of them together, clipvalue clamps each element. At most one.
  /// @{
  std::optional<double> clipnorm = {};
  std::optional<double> clipvalue = {};
  std::optional<double> global_clipnorm = {};
  /// @}
  /// A weight per training sample [N] (or [N, 1]): the loss of a batch becomes Keras' weighted
  /// loss, the sum over its rows of weight * the row's loss divided by the rows, and "loss"
  /// reports it. The loss must be a mean over a row's elements (every built-in loss is).
  Tensor sample_weight = {};
  /// A weight per class id: each training sample weighs class_weight[its class] (1 for classes
  /// not listed), times its sample_weight if given. The class of a sample is y's value for y
  /// [N] or [N, 1], and the index of its largest value for one-hot y [N, C].
  std::map<std::int64_t, double> class_weight = {};
  /// The fraction of the samples, taken from the end of x and y before any shuffling (as Keras
  /// does), held out as validation data; in [0, 1). ValueError when validation_data is given
  /// too, or when either part would be empty.
  double validation_split = 0.0;
  /// The epoch to start at (0-based): epochs initial_epoch .. epochs - 1 are run, numbered as
  /// in a training that ran from 0 (Keras' initial_epoch). Set by resume_from.
  int initial_epoch = 0;
  /// A checkpoint (nn/training/checkpoint.h) to resume from: the weights, the optimizer's state,
  /// the generators' states and the callbacks' states are read from it, and training starts at
  /// the epoch after the one it was saved at. Empty: start afresh.
  std::string resume_from = {};
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

/// fit on the samples of a BatchSource (a dataset of windows, files, ...): the same loop, checks
/// and options, except validation_split, sample_weight and class_weight (the source gives its own
/// weights) and the scan of the data for non-finite values (the source's to do).
History fit(Module& model, BatchSource& train, FitOptions options);

/// The loss ("loss") and each metric (by name) over x and y, as means over all samples, computed
/// in batches in evaluation mode without recording. Same argument checks as fit (NaN or infinite
/// data included).
Logs evaluate(Module& model, const Tensor& x, const Tensor& y, const LossFn& loss = mse,
              const std::vector<Metric>& metrics = {}, std::int64_t batch_size = 32);

/// evaluate on the samples of a BatchSource (a WindowBatches, ...), loaded in batches of
/// consecutive rows 0, 1, ..., N - 1: the same loss, metrics and path as on tensors, except the scan
/// for non-finite values (the source's to do). ValueError for an empty source, batch_size < 1, an
/// empty loss or bad metric names.
Logs evaluate(Module& model, BatchSource& data, const LossFn& loss = mse, const std::vector<Metric>& metrics = {},
              std::int64_t batch_size = 32);

/// The model's outputs for x [N, ...], computed in batches in evaluation mode without recording:
/// a tensor [N, ...] equal to model(x); non-finite inputs are let through (they give non-finite
/// outputs). ValueError for an empty x or batch_size < 1; ShapeError
/// if the model changes the batch size or its output shape from batch to batch.
Tensor predict(Module& model, const Tensor& x, std::int64_t batch_size = 32);

/// predict on the inputs (Batch::x) of a BatchSource's samples, in order: a tensor [N, ...] equal to
/// predict on the tensor of all its inputs. ValueError for an empty source or batch_size < 1.
Tensor predict(Module& model, BatchSource& data, std::int64_t batch_size = 32);

}  // namespace tg
