#include <tapegrad/nn/training/train_step.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/reduce.h>
#include <tapegrad/ops/shape_ops.h>
#include <tapegrad/optim/clip.h>

namespace tg {

namespace {

// Whether every element of t is finite: a NaN or an infinity fails |v| <= max. Written without
// an early exit and with an integer flag, the loop vectorises (8 times faster than
// std::isfinite's early exit on the seed models' weights), which keeps the step's checks cheap.
bool all_finite(const Tensor& t) {
  return dispatch(t.dtype(), [&]<class T>() {
    const T* v = t.data<T>();
    int bad = 0;
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) bad |= !(std::abs(v[i]) <= std::numeric_limits<T>::max());
    return bad == 0;
  });
}

// The parameter's path in the model for messages, or its shape when the model does not hold it.
std::string parameter_name(const Module& model, const Tensor& p) {
  for (const auto& [path, q] : model.named_parameters())
    if (q.is_same(p)) return "'" + path + "'";
  return "a parameter of shape " + p.shape().str();
}

double scalar_value(const Tensor& t, const std::string& fn, const std::string& what) {
  if (!t.defined()) throw ValueError(fmt::format("{}: {} returned an undefined tensor", fn, what));
  if (t.numel() != 1)
    throw ShapeError(fmt::format("{}: {} returned a tensor of shape {}, expected a scalar", fn, what, t.shape()));
  return t.item();
}

std::string where(const StepPlace& at, std::int64_t steps_run) {
  if (at.steps == 0) return fmt::format("step {}", steps_run + 1);
  std::string s = at.epochs > 0 ? fmt::format("epoch {}/{}, ", at.epoch + 1, at.epochs) : std::string();
  return s + fmt::format("{} {}/{}", at.unit, at.step + 1, at.steps);
}

void check_clip(const char* name, const std::optional<double>& v) {
  if (v && !(*v > 0 && std::isfinite(*v)))
    throw ValueError(fmt::format("{}: must be > 0 and finite, got {}", name, *v));
}

}  // namespace

// Every trainable parameter must be in the optimizer: one left out (a layer added after the
// optimizer was made) would never train. Frozen ones (requires_grad false) may be left out.
void check_optimizer_holds(const Module& model, const Optimizer& opt, const std::string& who) {
  const auto& opt_params = opt.parameters();
  const auto named = model.named_parameters();
  bool shared = false;
  std::size_t trainable = 0, n_missing = 0;
  std::string missing;
  for (const auto& entry : named) {  // not a structured binding: clang 14 cannot capture one
    const std::string& path = entry.first;
    const Tensor& p = entry.second;
    const bool held = std::any_of(opt_params.begin(), opt_params.end(), [&](const Tensor& q) { return q.is_same(p); });
    shared = shared || held;
    if (!p.requires_grad()) continue;
    ++trainable;
    if (!held) missing += fmt::format("{}'{}'", n_missing++ == 0 ? "" : ", ", path);
  }
  if (named.empty())
    throw ValueError(
        fmt::format("{}: the model has no parameters yet; build it (e.g. model.build({{-1, 50, 1}})) and create "
                    "the optimizer from model.parameters()",
                    who));
  if (!shared)
    throw ValueError(
        fmt::format("{}: the {} optimizer holds none of the model's {} parameters; create it from "
                    "model.parameters()",
                    who, opt.name(), named.size()));
  if (n_missing > 0)
    throw ValueError(
        fmt::format("{}: the {} optimizer does not hold {} of the model's {} trainable parameters: {}; "
                    "they would never train (a layer added after the optimizer was made?). Create the "
                    "optimizer from model.parameters() once the model is complete",
                    who, opt.name(), n_missing, trainable, missing));
}

Tensor weighted_loss(const LossFn& loss, const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight) {
  const std::int64_t rows = y_pred.size(0);
  if (sample_weight.numel() != rows)
    throw ShapeError(
        fmt::format("weighted_loss: {} sample weights for a batch of {} rows", sample_weight.numel(), rows));
  std::vector<Tensor> per_row;
  per_row.reserve(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) {
    Tensor l = loss(slice(y_true, 0, i, 1), slice(y_pred, 0, i, 1));
    per_row.push_back(l.numel() == 1 ? reshape(l, {1}) : l);
  }
  Tensor losses = concat(per_row, 0);  // [rows]
  Tensor w;
  {
    NoGradGuard no_grad;
    w = sample_weight.dtype() == losses.dtype() ? reshape(sample_weight, {rows})
                                                : reshape(sample_weight, {rows}).to(losses.dtype());
  }
  return div(sum(mul(losses, w)), static_cast<double>(rows));
}

TrainStep::TrainStep(Module& model, Optimizer& optimizer, TrainStepOptions options)
    : model_(model), opt_(optimizer), options_(std::move(options)) {
  if (!options_.loss) throw ValueError(fmt::format("{}: the loss is empty", options_.who));
  const int clips = (options_.clipnorm ? 1 : 0) + (options_.clipvalue ? 1 : 0) + (options_.global_clipnorm ? 1 : 0);
  if (clips > 1)
    throw ValueError(
        fmt::format("{}: only one of clipnorm, clipvalue and global_clipnorm can be set (as in Keras)", options_.who));
  check_clip("clipnorm", options_.clipnorm);
  check_clip("clipvalue", options_.clipvalue);
  check_clip("global_clipnorm", options_.global_clipnorm);
  if (options_.process_group && options_.process_group->size() > 1) {
    group_ = options_.process_group;
    reducer_.emplace(*group_, model.parameters());
  }
  for (const Tensor& p : opt_.parameters()) weights_before_.push_back(p.clone());
  stats_.resize(1 + options_.metrics.size());
}

double TrainStep::run(const Tensor& x, const Tensor& y, const Tensor& sample_weight) {
  const std::int64_t rows = x.size(0);
  run(x, y, sample_weight, rows, rows, StepPlace{}, stats_);
  ++steps_run_;
  return stats_[0] / static_cast<double>(rows);
}

// Under a group every rank reaches the same verdict before it throws, so that none is left
// waiting in a collective: the loss is summed with the gradients, and the gradient and weight
// verdicts are summed together.
void TrainStep::run(const Tensor& xb, const Tensor& yb, const Tensor& wb, std::int64_t rows, std::int64_t count,
                    const StepPlace& at, std::span<double> stats) {
  const std::string& who = options_.who;
  model_.zero_grad();
  std::fill(stats.begin(), stats.end(), 0.0);
  if (rows > 0) {
    Tensor pred = model_(xb);
    if (first_) check_optimizer_holds(model_, opt_, who);  // layers built by this first call included
    first_ = false;
    Tensor loss = wb.defined() ? weighted_loss(options_.loss, yb, pred, wb) : options_.loss(yb, pred);
    const double value = scalar_value(loss, who, "the loss");
    stats[0] = value * static_cast<double>(rows);
    if (std::isfinite(value)) loss.backward();  // else every rank stops at the loss check below
    NoGradGuard no_grad;
    for (std::size_t k = 0; k < options_.metrics.size(); ++k)
      stats[1 + k] = scalar_value(options_.metrics[k].fn(yb, pred), who, "metric '" + options_.metrics[k].name + "'") *
                     static_cast<double>(rows);
  }
  // Weights rows/count make the sum the gradient of the mean loss over the whole batch.
  if (reducer_) reducer_->all_reduce(static_cast<double>(rows) / static_cast<double>(count), stats);
  const double loss = stats[0] / static_cast<double>(count);
  if (!std::isfinite(loss))
    throw ValueError(fmt::format("{}: the loss is {} at {}; training stopped with the weights from before this batch",
                                 who, loss, where(at, steps_run_)));
  check_and_update(at);
}

void TrainStep::clip() {
  const std::vector<Tensor>& params = opt_.parameters();
  if (options_.clipnorm)
    for (const Tensor& p : params) clip_grad_norm(std::span<const Tensor>(&p, 1), *options_.clipnorm);
  if (options_.clipvalue) clip_grad_value(params, *options_.clipvalue);
  if (options_.global_clipnorm) clip_grad_norm(params, *options_.global_clipnorm);
}

// A finite loss can still have a NaN or infinite gradient (sqrt or log at 0, an overflow in
// backward), and a finite gradient can still throw a weight or the optimizer's state to
// infinity: the step is undone in both cases.
void TrainStep::check_and_update(const StepPlace& at) {
  const std::vector<Tensor>& params = opt_.parameters();
  const std::size_t none = params.size();
  std::size_t bad_grad = none, bad_weight = none;
  bool bad_state = false;
  for (std::size_t i = 0; i < params.size() && bad_grad == none; ++i) {
    const Tensor g = params[i].grad();
    if (g.defined() && !all_finite(g)) bad_grad = i;
  }
  if (bad_grad == none) {
    clip();
    for (std::size_t i = 0; i < params.size(); ++i) {
      Tensor& copy = weights_before_[i];
      if (copy.shape() == params[i].shape() && copy.dtype() == params[i].dtype())
        copy.copy_from(params[i]);
      else  // the parameter was converted (Module::to) since
        copy = params[i].clone();
    }
    opt_.save_state(state_before_);
    opt_.step();
    for (std::size_t i = 0; i < params.size() && bad_weight == none; ++i) {
      bad_state = !opt_.state_is_finite(i);
      if (bad_state || !all_finite(params[i])) bad_weight = i;
    }
  }
  double verdict[2] = {bad_grad == none ? 0.0 : 1.0, bad_weight == none ? 0.0 : 1.0};
  if (group_) group_->all_reduce_sum(std::span<double>(verdict));
  if (verdict[0] == 0.0 && verdict[1] == 0.0) return;
  if (bad_grad == none) undo();
  auto name = [&](std::size_t i) {
    return i == none ? std::string("a parameter on another rank") : parameter_name(model_, params[i]);
  };
  if (verdict[0] > 0.0)
    throw ValueError(
        fmt::format("{}: the gradient of {} is not finite at {}; training stopped with the weights "
                    "from before this batch (tape().set_anomaly_detection(true) names the op that "
                    "made it)",
                    options_.who, name(bad_grad), where(at, steps_run_)));
  throw ValueError(fmt::format(
      "{}: the {} update made {}{} non-finite at {}; training stopped with the weights "
      "and the optimizer state from before this batch (lower the learning rate or clip "
      "the gradients)",
      options_.who, opt_.name(), bad_state ? "its state for " : "", name(bad_weight), where(at, steps_run_)));
}

// Puts back the weights and the optimizer state from before this step's update.
void TrainStep::undo() {
  const std::vector<Tensor>& params = opt_.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) Tensor(params[i]).copy_from(weights_before_[i]);
  opt_.restore_state(state_before_);
}

}  // namespace tg
