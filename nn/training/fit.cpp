#include <tapegrad/nn/training/fit.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/ops/shape_ops.h>
#include <tapegrad/nn/training/serialize.h>

namespace tg {

// ---- History and callbacks ----------------------------------------------------------------------

const std::vector<double>& History::operator[](const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) {
    std::string names;
    for (const auto& [n, v] : values) names += (names.empty() ? "" : ", ") + n;
    throw ValueError(fmt::format("History: no values named '{}' (available: {})", name, names));
  }
  return it->second;
}

struct CallbackAccess {
  static void attach(Callback& c, Module* model, int rank) {
    c.model_ = model;
    c.rank_ = rank;
    c.stop_requested_ = false;
  }
  static bool stop_requested(const Callback& c) { return c.stop_requested_; }
};

Module& Callback::model() const {
  if (!model_) throw GraphError("Callback::model: the callback is not attached to a fit");
  return *model_;
}

namespace {

double monitored(const Logs& logs, const std::string& monitor, const char* who) {
  auto it = logs.find(monitor);
  if (it == logs.end()) {
    std::string names;
    for (const auto& [n, v] : logs) names += (names.empty() ? "" : ", ") + n;
    throw ValueError(fmt::format("{}: monitored value '{}' is not in the logs (available: {}){}", who, monitor, names,
                                 monitor.rfind("val_", 0) == 0 ? "; pass validation_data to fit" : ""));
  }
  return it->second;
}

// An improvement beats the best by more than min_delta (>= 0); NaN never improves.
bool improved(double current, double best, double min_delta, MonitorMode mode) {
  return mode == MonitorMode::min ? current < best - min_delta : current > best + min_delta;
}

double worst(MonitorMode mode) {
  return mode == MonitorMode::min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

}  // namespace

EarlyStopping::EarlyStopping(std::string monitor, int patience, bool restore_best_weights, double min_delta,
                             MonitorMode mode)
    : monitor_(std::move(monitor)),
      patience_(patience),
      restore_(restore_best_weights),
      min_delta_(std::abs(min_delta)),
      mode_(mode) {
  if (patience < 0) throw ValueError(fmt::format("EarlyStopping: patience must be >= 0, got {}", patience));
  if (!std::isfinite(min_delta))
    throw ValueError(fmt::format("EarlyStopping: min_delta must be finite, got {}", min_delta));
}

void EarlyStopping::on_train_begin() {
  wait_ = 0;
  stopped_epoch_ = -1;
  best_epoch_ = -1;
  best_ = worst(mode_);
}

void EarlyStopping::on_epoch_end(int epoch, const Logs& logs) {
  const double current = monitored(logs, monitor_, "EarlyStopping");
  if (improved(current, best_, min_delta_, mode_)) {
    best_ = current;
    best_epoch_ = epoch;
    wait_ = 0;
    if (restore_) {
      auto params = model().parameters();
      if (best_weights_.size() != params.size()) best_weights_.assign(params.size(), Tensor());
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (best_weights_[i].defined() && best_weights_[i].shape() == params[i].shape() &&
            best_weights_[i].dtype() == params[i].dtype())
          best_weights_[i].copy_from(params[i]);
        else
          best_weights_[i] = params[i].clone();
      }
    }
    return;
  }
  if (++wait_ >= patience_) {
    stopped_epoch_ = epoch;
    stop_training();
    if (restore_ && best_epoch_ >= 0) {
      auto params = model().parameters();
      for (std::size_t i = 0; i < params.size() && i < best_weights_.size(); ++i) params[i].copy_from(best_weights_[i]);
    }
  }
}

ModelCheckpoint::ModelCheckpoint(std::string path, std::string monitor, bool save_best_only, MonitorMode mode)
    : path_(std::move(path)), monitor_(std::move(monitor)), save_best_only_(save_best_only), mode_(mode) {
  if (path_.empty()) throw ValueError("ModelCheckpoint: empty path");
}

void ModelCheckpoint::on_train_begin() {
  has_best_ = false;
  best_ = worst(mode_);
  saved_epochs_.clear();
}

void ModelCheckpoint::on_epoch_end(int epoch, const Logs& logs) {
  if (save_best_only_) {
    const double current = monitored(logs, monitor_, "ModelCheckpoint");
    if (has_best_ && !improved(current, best_, 0.0, mode_)) return;
    if (!has_best_ && std::isnan(current)) return;
    has_best_ = true;
    best_ = current;
  }
  std::string path = path_;
  const std::string key = "{epoch}";
  for (auto at = path.find(key); at != std::string::npos; at = path.find(key, at))
    path.replace(at, key.size(), std::to_string(epoch + 1));
  if (process_rank() == 0) save_weights(model(), path);  // in a data-parallel fit, rank 0 writes for all
  saved_epochs_.push_back(epoch);
}

// ---- batches ------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void check_dataset(const char* fn, const char* xname, const Tensor& x, const char* yname, const Tensor& y) {
  if (!x.defined()) throw ValueError(fmt::format("{}: {} is an undefined tensor", fn, xname));
  if (x.rank() == 0) throw ShapeError(fmt::format("{}: {} is a scalar, expected [samples, ...]", fn, xname));
  if (x.size(0) == 0) throw ValueError(fmt::format("{}: {} {} holds no samples", fn, xname, x.shape()));
  if (!y.defined()) return;
  if (y.rank() == 0) throw ShapeError(fmt::format("{}: {} is a scalar, expected [samples, ...]", fn, yname));
  if (x.size(0) != y.size(0))
    throw ShapeError(fmt::format("{}: {} {} and {} {} have different numbers of samples ({} vs {})", fn, xname,
                                 x.shape(), yname, y.shape(), x.size(0), y.size(0)));
}

// fit and evaluate refuse a NaN or an infinity in their data, naming the first one: training on
// it would only turn the loss into NaN several batches later.
void check_finite(const char* fn, const char* name, const Tensor& t) {
  double value = 0.0;
  const std::int64_t bad = dispatch(t.dtype(), [&]<class T>() -> std::int64_t {
    const T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) {
        value = static_cast<double>(p[i]);
        return i;
      }
    return -1;
  });
  if (bad < 0) return;
  Shape index = t.shape();
  for (std::int64_t rest = bad, d = t.rank() - 1; d >= 0; --d) {
    const std::int64_t size = t.size(static_cast<int>(d));
    index[static_cast<int>(d)] = rest % size;
    rest /= size;
  }
  throw ValueError(
      fmt::format("{}: {} holds a non-finite value ({}) at sample {}, index {} of {}; clean or mask "
                  "the data before training",
                  fn, name, value, index[0], index, t.shape()));
}

// Whether every element of t is finite: a NaN or an infinity fails |v| <= max. Written without
// an early exit and with an integer flag, the loop vectorises (8 times faster than
// std::isfinite's early exit on the seed models' weights), which keeps fit's checks cheap.
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

void check_batch_size(const char* fn, std::int64_t batch_size) {
  if (batch_size < 1) throw ValueError(fmt::format("{}: batch_size must be >= 1, got {}", fn, batch_size));
}

// Rows of a dataset copied into reused batch tensors: one buffer for full batches, one for the
// last partial batch, so an epoch allocates nothing.
class Batcher {
 public:
  Batcher(const Tensor& data, std::int64_t batch_size)
      : data_(data), n_(data.size(0)), batch_(std::min(batch_size, n_)) {
    row_bytes_ = static_cast<std::size_t>(data.numel() / n_) * dtype_size(data.dtype());
    full_ = Tensor::empty(with_rows(batch_), data.dtype());
    if (const std::int64_t rest = n_ % batch_; rest != 0) last_ = Tensor::empty(with_rows(rest), data.dtype());
  }
  std::int64_t steps() const { return (n_ + batch_ - 1) / batch_; }
  std::int64_t rows(std::int64_t step) const { return std::min(batch_, n_ - step * batch_); }

  /// Batch `step`, made of rows order[step * batch .. ] (or consecutive rows when order is null).
  const Tensor& load(std::int64_t step, const std::int64_t* order) {
    return load_rows(step * batch_, rows(step), order);
  }

  /// Rows order[start, start + count) with count <= batch, into a buffer kept for that count.
  const Tensor& load_rows(std::int64_t start, std::int64_t count, const std::int64_t* order) {
    Tensor* buffer = count == batch_ ? &full_ : (last_.defined() && last_.size(0) == count ? &last_ : nullptr);
    for (Tensor& t : other_)
      if (!buffer && t.size(0) == count) buffer = &t;
    if (!buffer) buffer = &other_.emplace_back(Tensor::empty(with_rows(count), data_.dtype()));
    Tensor& out = *buffer;
    const auto* src = static_cast<const unsigned char*>(data_.raw_data());
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    if (!order) {
      std::memcpy(dst, src + static_cast<std::size_t>(start) * row_bytes_,
                  static_cast<std::size_t>(count) * row_bytes_);
    } else {
      kernels::gather_rows(src, row_bytes_, order + start, count, dst);
    }
    return out;
  }

 private:
  Shape with_rows(std::int64_t rows) const {
    Shape s = data_.shape();
    s[0] = rows;
    return s;
  }
  Tensor data_;
  std::int64_t n_, batch_;
  std::size_t row_bytes_;
  Tensor full_, last_;
  std::deque<Tensor> other_;  // other batch sizes (the shares of a distributed fit)
};

double scalar_value(const Tensor& t, const char* fn, const std::string& what) {
  if (!t.defined()) throw ValueError(fmt::format("{}: {} returned an undefined tensor", fn, what));
  if (t.numel() != 1)
    throw ShapeError(fmt::format("{}: {} returned a tensor of shape {}, expected a scalar", fn, what, t.shape()));
  return t.item();
}

void check_metrics(const char* fn, const std::vector<Metric>& metrics) {
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    const std::string& name = metrics[i].name;
    if (name.empty() || name == "loss" || name.rfind("val_", 0) == 0)
      throw ValueError(
          fmt::format("{}: metric {} has the name '{}'; expected a non-empty name other than 'loss' "
                      "that does not start with 'val_'",
                      fn, i, name));
    if (!metrics[i].fn) throw ValueError(fmt::format("{}: metric '{}' has no function", fn, name));
    for (std::size_t j = 0; j < i; ++j)
      if (metrics[j].name == name) throw ValueError(fmt::format("{}: two metrics are named '{}'", fn, name));
  }
}

// Restores the model's training flag on scope exit.
class ModeGuard {
 public:
  ModeGuard(Module& m, bool training) : m_(m), was_(m.training()) { m_.train(training); }
  ~ModeGuard() { m_.train(was_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  Module& m_;
  bool was_;
};

// Means of the loss and the metrics over a whole dataset, in batches, without recording:
// out[0] the loss, out[1 + k] metric k.
void evaluate_into(Module& model, Batcher& xs, Batcher& ys, const LossFn& loss, const std::vector<Metric>& metrics,
                   const char* fn, std::vector<double>& out) {
  NoGradGuard no_grad;
  EvalModeGuard eval_mode;  // this thread only: threads may share the model
  std::fill(out.begin(), out.end(), 0.0);
  std::int64_t seen = 0;
  for (std::int64_t s = 0; s < xs.steps(); ++s) {
    const Tensor& xb = xs.load(s, nullptr);
    const Tensor& yb = ys.load(s, nullptr);
    const Tensor pred = model(xb);
    const auto count = static_cast<double>(xs.rows(s));
    out[0] += scalar_value(loss(yb, pred), fn, "the loss") * count;
    for (std::size_t k = 0; k < metrics.size(); ++k)
      out[1 + k] += scalar_value(metrics[k].fn(yb, pred), fn, "metric '" + metrics[k].name + "'") * count;
    seen += xs.rows(s);
  }
  for (double& v : out) v /= static_cast<double>(seen);
}

// Every trainable parameter must be in the optimizer: one left out (a layer added after the
// optimizer was made) would never train. Frozen ones (requires_grad false) may be left out.
void check_optimizer_holds(const Module& model, const Optimizer& opt) {
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
        "fit: the model has no parameters yet; build it (e.g. model.build({-1, 50, 1})) and create "
        "the optimizer from model.parameters()");
  if (!shared)
    throw ValueError(
        fmt::format("fit: the {} optimizer holds none of the model's {} parameters; create it from "
                    "model.parameters()",
                    opt.name(), named.size()));
  if (n_missing > 0)
    throw ValueError(
        fmt::format("fit: the {} optimizer does not hold {} of the model's {} trainable parameters: {}; "
                    "they would never train (a layer added after the optimizer was made?). Create the "
                    "optimizer from model.parameters() once the model is complete",
                    opt.name(), n_missing, trainable, missing));
}

// ---- one training step --------------------------------------------------------------------------

// Where a step is, for messages.
struct StepPlace {
  int epoch, epochs;
  std::int64_t step, steps;
};

std::string where(const StepPlace& at) {
  return fmt::format("epoch {}/{}, batch {}/{}", at.epoch + 1, at.epochs, at.step + 1, at.steps);
}

// One training step, the same for a process alone and for a rank of a data-parallel fit: forward,
// loss, backward, gradient sync (none alone), the checks of the loss and of the gradients, the
// update, and the check of the weights and the optimizer state the update made. A step that fails
// a check leaves the weights and the optimizer state as they were before it and throws ValueError
// naming the epoch and the batch. Under a group every rank reaches the same verdict before it
// throws, so that none is left waiting in a collective: the loss is summed with the gradients,
// and the gradient and weight verdicts are summed together. The copies of the weights and of the
// optimizer state are kept in buffers reused from step to step: a warm step allocates nothing.
class TrainStep {
 public:
  // `group` is null when training alone.
  TrainStep(Module& model, Optimizer& opt, const FitOptions& options, ProcessGroup* group)
      : model_(model), opt_(opt), options_(options), group_(group) {
    if (group_) reducer_.emplace(*group_, model.parameters());
    for (const Tensor& p : opt.parameters()) weights_before_.push_back(p.clone());
  }

  // Trains on this rank's `rows` rows (xb, yb) of a batch of `count` rows over all ranks (a rank
  // may have none). On return stats[0] holds the loss and stats[1 + k] metric k, each summed over
  // the batch times the rows.
  void run(const Tensor& xb, const Tensor& yb, std::int64_t rows, std::int64_t count, const StepPlace& at,
           std::span<double> stats) {
    model_.zero_grad();
    std::fill(stats.begin(), stats.end(), 0.0);
    if (rows > 0) {
      Tensor pred = model_(xb);
      if (first_) check_optimizer_holds(model_, opt_);  // layers built by this first call included
      first_ = false;
      Tensor loss = options_.loss(yb, pred);
      const double value = scalar_value(loss, "fit", "the loss");
      stats[0] = value * static_cast<double>(rows);
      if (std::isfinite(value)) loss.backward();  // else every rank stops at the loss check below
      NoGradGuard no_grad;
      for (std::size_t k = 0; k < options_.metrics.size(); ++k)
        stats[1 + k] =
            scalar_value(options_.metrics[k].fn(yb, pred), "fit", "metric '" + options_.metrics[k].name + "'") *
            static_cast<double>(rows);
    }
    // Weights rows/count make the sum the gradient of the mean loss over the whole batch.
    if (reducer_) reducer_->all_reduce(static_cast<double>(rows) / static_cast<double>(count), stats);
    const double loss = stats[0] / static_cast<double>(count);
    if (!std::isfinite(loss))
      throw ValueError(fmt::format(
          "fit: the loss is {} at {}; training stopped with the weights from before this batch", loss, where(at)));

    // A finite loss can still have a NaN or infinite gradient (sqrt or log at 0, an overflow in
    // backward), and a finite gradient can still throw a weight or the optimizer's state to
    // infinity: the step is undone in both cases.
    const std::vector<Tensor>& params = opt_.parameters();
    const std::size_t none = params.size();
    std::size_t bad_grad = none, bad_weight = none;
    bool bad_state = false;
    for (std::size_t i = 0; i < params.size() && bad_grad == none; ++i) {
      const Tensor g = params[i].grad();
      if (g.defined() && !all_finite(g)) bad_grad = i;
    }
    if (bad_grad == none) {
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
          fmt::format("fit: the gradient of {} is not finite at {}; training stopped with the weights "
                      "from before this batch (tape().set_anomaly_detection(true) names the op that "
                      "made it)",
                      name(bad_grad), where(at)));
    throw ValueError(
        fmt::format("fit: the {} update made {}{} non-finite at {}; training stopped with the weights "
                    "and the optimizer state from before this batch (lower the learning rate or clip "
                    "the gradients)",
                    opt_.name(), bad_state ? "its state for " : "", name(bad_weight), where(at)));
  }

 private:
  // Puts back the weights and the optimizer state from before this step's update.
  void undo() {
    const std::vector<Tensor>& params = opt_.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) Tensor(params[i]).copy_from(weights_before_[i]);
    opt_.restore_state(state_before_);
  }

  Module& model_;
  Optimizer& opt_;
  const FitOptions& options_;
  ProcessGroup* group_;
  std::optional<GradientReducer> reducer_;
  std::vector<Tensor> weights_before_;  // the optimizer's parameters before this step's update
  OptimizerState state_before_;         // the optimizer's state then
  bool first_ = true;
};

// ---- progress -----------------------------------------------------------------------------------

std::string format_value(double v) { return std::abs(v) > 1e-3 ? fmt::format("{:.4f}", v) : fmt::format("{:.4e}", v); }

class Progress {
 public:
  // names[0, n_train) are the training values shown during the epoch; the rest (validation)
  // appear at its end.
  Progress(std::ostream& out, int verbose, bool in_place, int epochs, std::int64_t steps,
           const std::vector<std::string>& names, std::size_t n_train)
      : out_(out),
        verbose_(verbose),
        in_place_(in_place && verbose == 1),
        epochs_(epochs),
        steps_(steps),
        names_(names),
        n_train_(n_train) {}

  void begin_epoch(int epoch) {
    if (verbose_ == 0) return;
    out_ << "Epoch " << epoch + 1 << "/" << epochs_ << "\n";
    out_.flush();
    last_draw_ = Clock::now();
    drawn_ = 0;
  }

  // Redraws the bar during the epoch, at most every 0.1 s (and only when drawing in place).
  void update(std::int64_t step, double elapsed, const std::vector<double>& running) {
    if (!in_place_ || step == steps_) return;
    const auto now = Clock::now();
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const double eta = elapsed / static_cast<double>(step) * static_cast<double>(steps_ - step);
    std::string line = fmt::format("{} - ETA: {:.1f}s", head(step), eta);
    for (std::size_t k = 0; k < n_train_; ++k) line += fmt::format(" - {}: {}", names_[k], format_value(running[k]));
    draw(line, false);
  }

  void end_epoch(double elapsed, const std::vector<double>& values) {
    if (verbose_ == 0) return;
    std::string line = fmt::format("{} - {:.1f}s", head(steps_), elapsed);
    for (std::size_t k = 0; k < values.size(); ++k)
      line += fmt::format(" - {}: {}", names_[k], format_value(values[k]));
    draw(line, true);
  }

 private:
  std::string head(std::int64_t step) const {
    const int width = static_cast<int>(std::to_string(steps_).size());
    std::string s = fmt::format("{:>{}}/{}", step, width, steps_);
    if (verbose_ != 1) return s;
    constexpr int kBar = 30;
    const auto filled = static_cast<int>(kBar * step / steps_);
    std::string bar;
    if (filled > 0) bar.append(static_cast<std::size_t>(filled - 1), '=').push_back(step < steps_ ? '>' : '=');
    bar.append(static_cast<std::size_t>(kBar - filled), '.');
    return s + " [" + bar + "]";
  }

  void draw(const std::string& line, bool final) {
    if (in_place_) {
      out_ << '\r' << line;
      if (line.size() < drawn_) out_ << std::string(drawn_ - line.size(), ' ');
      drawn_ = line.size();
    } else {
      out_ << line;
    }
    if (final) out_ << '\n';
    out_.flush();
  }

  std::ostream& out_;
  int verbose_;
  bool in_place_;
  int epochs_;
  std::int64_t steps_;
  const std::vector<std::string>& names_;
  std::size_t n_train_;
  Clock::time_point last_draw_;
  std::size_t drawn_ = 0;
};

}  // namespace

// ---- fit, evaluate, predict ---------------------------------------------------------------------

History fit(Module& model, const Tensor& x, const Tensor& y, FitOptions options) {
  if (!options.optimizer) throw ValueError("fit: FitOptions::optimizer is not set");
  if (options.epochs < 0) throw ValueError(fmt::format("fit: epochs must be >= 0, got {}", options.epochs));
  check_batch_size("fit", options.batch_size);
  if (options.verbose < 0 || options.verbose > 2)
    throw ValueError(fmt::format("fit: verbose must be 0, 1 or 2, got {}", options.verbose));
  if (!options.loss) throw ValueError("fit: FitOptions::loss is empty");
  check_dataset("fit", "x", x, "y", y);
  check_metrics("fit", options.metrics);
  const bool validate = options.validation_data.has_value();
  if (validate)
    check_dataset("fit", "validation x", options.validation_data->first, "validation y",
                  options.validation_data->second);
  {
    // In a distributed fit every rank must stop when any rank's data are bad: a rank that threw
    // alone would leave the others waiting in the first all-reduce.
    std::string bad;
    try {
      check_finite("fit", "x", x);
      check_finite("fit", "y", y);
      if (validate) {
        check_finite("fit", "validation x", options.validation_data->first);
        check_finite("fit", "validation y", options.validation_data->second);
      }
    } catch (const ValueError& e) {
      bad = e.what();
    }
    double bad_ranks = bad.empty() ? 0.0 : 1.0;
    if (options.process_group && options.process_group->size() > 1)
      options.process_group->all_reduce_sum(std::span(&bad_ranks, 1));
    if (!bad.empty()) throw ValueError(bad);
    if (bad_ranks > 0)
      throw ValueError(
          fmt::format("fit: the data of {} other rank(s) hold a non-finite value (see their message); "
                      "no rank trains",
                      bad_ranks));
  }
  for (std::size_t i = 0; i < options.callbacks.size(); ++i)
    if (!options.callbacks[i]) throw ValueError(fmt::format("fit: callback {} is null", i));
  check_optimizer_holds(model, *options.optimizer);

  // Data-parallel when more than one rank takes part (see FitOptions::process_group).
  ProcessGroup* group = options.process_group;
  const int world = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const bool sharded = world > 1;
  if (rank != 0) options.verbose = 0;

  Optimizer& opt = *options.optimizer;
  Generator& gen = options.generator ? *options.generator : default_generator();
  std::ostream& out = options.out ? *options.out : std::cout;
  const bool in_place = options.in_place_progress.value_or(&out == &std::cout && ::isatty(STDOUT_FILENO) == 1);
  const std::size_t n_metrics = options.metrics.size();

  // Value names in display order; values[k] is names[k] for the current epoch.
  std::vector<std::string> names{"loss"};
  for (const Metric& m : options.metrics) names.push_back(m.name);
  if (validate) {
    names.push_back("val_loss");
    for (const Metric& m : options.metrics) names.push_back("val_" + m.name);
  }
  std::vector<double> values(names.size()), sums(1 + n_metrics), val(1 + n_metrics);

  Batcher xs(x, options.batch_size), ys(y, options.batch_size);
  std::optional<Batcher> vxs, vys;
  std::int64_t val_rows = 0;  // this rank's validation samples
  if (validate) {
    Tensor vx = options.validation_data->first, vy = options.validation_data->second;
    val_rows = vx.size(0);
    if (sharded) {  // rank r evaluates rows [n * r / W, n * (r + 1) / W)
      const std::int64_t lo = vx.size(0) * rank / world, hi = vx.size(0) * (rank + 1) / world;
      NoGradGuard no_grad;
      val_rows = hi - lo;
      if (val_rows > 0) vx = slice(vx, 0, lo, val_rows), vy = slice(vy, 0, lo, val_rows);
    }
    if (val_rows > 0) {
      vxs.emplace(vx, options.batch_size);
      vys.emplace(vy, options.batch_size);
    }
  }
  const std::int64_t global_batch = options.batch_size * world;
  const std::int64_t n = x.size(0), steps = (n + global_batch - 1) / global_batch;
  std::vector<double> step_sums(1 + n_metrics);  // this step's loss and metrics times rows
  if (sharded) group->broadcast(model.parameters(), 0);
  TrainStep train_step(model, opt, options, sharded ? group : nullptr);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});

  History history;
  for (const std::string& name : names) history.values[name].reserve(static_cast<std::size_t>(options.epochs));
  Progress progress(out, options.verbose, in_place, options.epochs, steps, names, 1 + n_metrics);
  Logs logs;
  for (Callback* c : options.callbacks) {
    CallbackAccess::attach(*c, &model, rank);
    c->on_train_begin();
  }

  ModeGuard mode(model, true);
  bool stop = false;
  for (int epoch = 0; epoch < options.epochs && !stop; ++epoch) {
    const auto t0 = Clock::now();
    progress.begin_epoch(epoch);
    if (options.shuffle)
      for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[gen.below(static_cast<std::uint64_t>(i + 1))]);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::int64_t seen = 0;
    for (std::int64_t s = 0; s < steps; ++s) {
      // This rank's share [lo, hi) of the batch [start, start + count) of the order (all of it
      // when training alone).
      const std::int64_t start = s * global_batch, count = std::min(global_batch, n - start);
      const std::int64_t lo = start + count * rank / world, hi = start + count * (rank + 1) / world;
      const Tensor& xb = hi > lo ? xs.load_rows(lo, hi - lo, order.data()) : x;
      const Tensor& yb = hi > lo ? ys.load_rows(lo, hi - lo, order.data()) : y;
      train_step.run(xb, yb, hi - lo, count, {epoch, options.epochs, s, steps}, step_sums);
      for (std::size_t k = 0; k <= n_metrics; ++k) sums[k] += step_sums[k];
      seen += count;
      for (std::size_t k = 0; k <= n_metrics; ++k) values[k] = sums[k] / static_cast<double>(seen);
      progress.update(s + 1, seconds_since(t0), values);
    }
    if (validate) {
      std::fill(val.begin(), val.end(), 0.0);
      if (val_rows > 0) evaluate_into(model, *vxs, *vys, options.loss, options.metrics, "fit", val);
      if (sharded) {  // means over each rank's share -> the mean over the whole validation set
        for (double& v : val) v *= static_cast<double>(val_rows);
        group->all_reduce_sum(std::span<double>(val));
        for (double& v : val) v /= static_cast<double>(options.validation_data->first.size(0));
      }
      std::copy(val.begin(), val.end(), values.begin() + static_cast<std::ptrdiff_t>(1 + n_metrics));
    }
    const double elapsed = seconds_since(t0);
    for (std::size_t k = 0; k < names.size(); ++k) {
      history.values[names[k]].push_back(values[k]);
      logs[names[k]] = values[k];
    }
    history.epoch_seconds.push_back(elapsed);
    progress.end_epoch(elapsed, values);
    for (Callback* c : options.callbacks) {
      c->on_epoch_end(epoch, logs);
      stop = stop || CallbackAccess::stop_requested(*c);
    }
    if (sharded) {  // every rank stops at the same epoch
      double any = stop ? 1.0 : 0.0;
      group->all_reduce_sum(std::span<double>(&any, 1));
      stop = any > 0;
    }
  }
  for (Callback* c : options.callbacks) c->on_train_end();
  return history;
}

Logs evaluate(Module& model, const Tensor& x, const Tensor& y, const LossFn& loss, const std::vector<Metric>& metrics,
              std::int64_t batch_size) {
  check_batch_size("evaluate", batch_size);
  check_dataset("evaluate", "x", x, "y", y);
  check_finite("evaluate", "x", x);
  check_finite("evaluate", "y", y);
  check_metrics("evaluate", metrics);
  if (!loss) throw ValueError("evaluate: the loss is empty");
  Batcher xs(x, batch_size), ys(y, batch_size);
  std::vector<double> out(1 + metrics.size());
  evaluate_into(model, xs, ys, loss, metrics, "evaluate", out);
  Logs logs{{"loss", out[0]}};
  for (std::size_t k = 0; k < metrics.size(); ++k) logs[metrics[k].name] = out[1 + k];
  return logs;
}

Tensor predict(Module& model, const Tensor& x, std::int64_t batch_size) {
  check_batch_size("predict", batch_size);
  check_dataset("predict", "x", x, "", Tensor());
  NoGradGuard no_grad;
  EvalModeGuard eval_mode;  // this thread only: threads may share the model
  Batcher xs(x, batch_size);
  Tensor result;
  std::size_t row_bytes = 0;
  for (std::int64_t s = 0; s < xs.steps(); ++s) {
    const Tensor pred = model(xs.load(s, nullptr));
    const std::int64_t count = xs.rows(s);
    if (pred.rank() == 0 || pred.size(0) != count)
      throw ShapeError(fmt::format("predict: the model returned {} for a batch of {} samples, expected [{}, ...]",
                                   pred.shape(), count, count));
    if (!result.defined()) {
      Shape shape = pred.shape();
      shape[0] = x.size(0);
      result = Tensor::empty(shape, pred.dtype());
      row_bytes = static_cast<std::size_t>(pred.numel() / count) * dtype_size(pred.dtype());
    } else {
      bool same = pred.rank() == result.rank() && pred.dtype() == result.dtype();
      for (int d = 1; same && d < pred.rank(); ++d) same = pred.size(d) == result.size(d);
      if (!same)
        throw ShapeError(fmt::format("predict: the model returned {} {} for batch {}, but {} {} before", pred.shape(),
                                     dtype_name(pred.dtype()), s + 1, result.shape(), dtype_name(result.dtype())));
    }
    std::memcpy(static_cast<unsigned char*>(result.raw_data()) + static_cast<std::size_t>(s * xs.rows(0)) * row_bytes,
                pred.raw_data(), static_cast<std::size_t>(count) * row_bytes);
  }
  return result;
}

}  // namespace tg
