#pragma once
/// \file
/// One training step, the unit fit, truncated BPTT and a user's own loop share: zero the
/// gradients, forward, loss (weighted per sample when asked), backward, gradient sync across a
/// process group (none alone), the checks (a non-finite loss or gradient, an update that makes a
/// weight or the optimizer's state non-finite: the weights and the optimizer's state are put
/// back as they were before the step and a ValueError says where), clipping, update.
///
///     tg::TrainStep step(model, adam, {.loss = tg::mse, .clipnorm = 1.0});
///     for (int i = 0; i < 100; ++i) {
///       double loss = step.run(x, y);  // one update on the batch (x, y)
///     }
///
/// A warm step allocates nothing: the copies of the weights and of the optimizer's state that an
/// undo needs live in buffers kept from step to step.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/nn/training/losses.h>
#include <tapegrad/nn/training/process_group.h>
#include <tapegrad/optim/optimizer.h>

namespace tg {

/// How a TrainStep computes and applies its update.
struct TrainStepOptions {
  /// Minimised.
  LossFn loss = mse;
  /// Computed on the batch without recording, reported next to the loss.
  std::vector<Metric> metrics = {};
  /// Scales each parameter's gradient on its own to an L2 norm of at most clipnorm (Keras'
  /// optimizer clipnorm; optim/clip.h clip_grad_norm on each tensor).
  std::optional<double> clipnorm = {};
  /// Clamps every gradient element to [-clipvalue, clipvalue] (Keras' clipvalue).
  std::optional<double> clipvalue = {};
  /// Scales all gradients together to a global L2 norm of at most global_clipnorm (Keras'
  /// global_clipnorm; clip_grad_norm). At most one of the three clips may be set.
  std::optional<double> global_clipnorm = {};
  /// Data-parallel training: gradients are summed across the group (GradientReducer) before the
  /// checks and the update. Null or a group of one: alone. Not owned.
  ProcessGroup* process_group = nullptr;
  /// Names the caller in error messages ("fit", "train_truncated_bptt").
  std::string who = "train_step";
};

/// Where a step is, for error messages: "epoch 2/5, batch 3/8".
struct StepPlace {
  /// 0-based epoch.
  int epoch = 0;
  /// The number of epochs (0: no epoch in the message).
  int epochs = 0;
  /// 0-based step within the epoch.
  std::int64_t step = 0;
  /// The number of steps of the epoch (0: the message counts the steps run instead).
  std::int64_t steps = 0;
  /// What a step is called ("batch", "chunk").
  const char* unit = "batch";
};

/// One training step (see the file). The optimizer must hold every trainable parameter of the
/// model (checked at the first run, after the forward that builds lazy layers).
class TrainStep {
 public:
  /// A step for `model` updated by `optimizer` (both not owned). ValueError for more than one
  /// clip or a clip that is not > 0 and finite.
  TrainStep(Module& model, Optimizer& optimizer, TrainStepOptions options = {});

  /// One step on the batch (x, y), each row weighted by `sample_weight` [rows] when it is given
  /// (the loss then is Keras' sum over rows of weight * loss of the row, divided by the rows).
  /// Returns the loss.
  double run(const Tensor& x, const Tensor& y, const Tensor& sample_weight = Tensor());

  /// The step of a data-parallel batch: this rank's `rows` rows (x, y, sample_weight) of a batch
  /// of `count` rows over all ranks (a rank may have none; x and y are then not read). On return
  /// stats[0] holds the loss and stats[1 + k] metric k, each summed over the batch times the
  /// rows (the mean over the whole batch is stats / count). `place` names the step in errors.
  void run(const Tensor& x, const Tensor& y, const Tensor& sample_weight, std::int64_t rows, std::int64_t count,
           const StepPlace& place, std::span<double> stats);

  /// The options the step runs with.
  const TrainStepOptions& options() const { return options_; }

 private:
  void clip();
  void check_and_update(const StepPlace& place);
  void undo();

  Module& model_;
  Optimizer& opt_;
  TrainStepOptions options_;
  ProcessGroup* group_ = nullptr;
  std::optional<GradientReducer> reducer_;
  std::vector<Tensor> weights_before_;  // the optimizer's parameters before this step's update
  OptimizerState state_before_;         // the optimizer's state then
  std::vector<double> stats_;           // run(x, y)'s own stats
  std::int64_t steps_run_ = 0;
  bool first_ = true;
};

/// ValueError, starting with `who`, unless `optimizer` holds every trainable parameter of `model`
/// (requires_grad; the missing ones are named): one left out would never train.
void check_optimizer_holds(const Module& model, const Optimizer& optimizer, const std::string& who = "fit");

/// Keras' per-sample weighted loss: loss of each row (loss(y[i], pred[i]) for a loss that is a
/// mean over a row's elements) times weight[i], summed and divided by the rows. Recorded on the
/// tape like the loss itself.
Tensor weighted_loss(const LossFn& loss, const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight);

}  // namespace tg
