#include <tapegrad/nn/training/fit.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

const std::vector<double>& History::operator[](const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) {
    std::string names;
    for (const auto& [n, v] : values) names += (names.empty() ? "" : ", ") + n;
    throw ValueError(fmt::format("History: no values named '{}' (available: {})", name, names));
  }
  return it->second;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- checks ---------------------------------------------------------------------------------------

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

void check_batch_size(const char* fn, std::int64_t batch_size) {
  if (batch_size < 1) throw ValueError(fmt::format("{}: batch_size must be >= 1, got {}", fn, batch_size));
}

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

// The checks of the options that do not look at the data.
void check_options(const FitOptions& o) {
  if (!o.optimizer) throw ValueError("fit: FitOptions::optimizer is not set");
  if (o.epochs < 0) throw ValueError(fmt::format("fit: epochs must be >= 0, got {}", o.epochs));
  if (o.initial_epoch < 0) throw ValueError(fmt::format("fit: initial_epoch must be >= 0, got {}", o.initial_epoch));
  check_batch_size("fit", o.batch_size);
  if (o.verbose < 0 || o.verbose > 2)
    throw ValueError(fmt::format("fit: verbose must be 0, 1 or 2, got {}", o.verbose));
  if (!o.loss) throw ValueError("fit: FitOptions::loss is empty");
}

void check_callbacks(const FitOptions& o) {
  for (std::size_t i = 0; i < o.callbacks.size(); ++i)
    if (!o.callbacks[i]) throw ValueError(fmt::format("fit: callback {} is null", i));
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

// ---- evaluation -----------------------------------------------------------------------------------

// Means of the loss and the metrics over a whole dataset, in batches of consecutive rows, in
// evaluation mode without recording: out[0] the loss, out[1 + k] metric k. The path of evaluate
// (tensors or a BatchSource) and of fit's validation.
class Evaluation {
 public:
  Evaluation(const Tensor& x, const Tensor& y, const Tensor& sample_weight, std::int64_t batch_size)
      : own_(std::in_place, x, y, sample_weight), source_(*own_) {
    init(batch_size);
  }
  Evaluation(BatchSource& source, std::int64_t batch_size) : source_(source) { init(batch_size); }
  Evaluation(const Evaluation&) = delete;
  Evaluation& operator=(const Evaluation&) = delete;
  std::int64_t size() const { return source_.size(); }

  void run(Module& model, const LossFn& loss, const std::vector<Metric>& metrics, const char* fn,
           std::vector<double>& out) {
    NoGradGuard no_grad;
    EvalModeGuard eval_mode;  // this thread only: threads may share the model
    std::fill(out.begin(), out.end(), 0.0);
    const std::int64_t n = size();
    for (std::int64_t start = 0; start < n; start += batch_) {
      const std::int64_t count = std::min(batch_, n - start);
      const Batch b = source_.load(std::span<const std::int64_t>(index_).subspan(static_cast<std::size_t>(start),
                                                                                 static_cast<std::size_t>(count)));
      const Tensor pred = model(b.x);
      const auto rows = static_cast<double>(count);
      const Tensor l = b.sample_weight.defined() ? weighted_loss(loss, b.y, pred, b.sample_weight) : loss(b.y, pred);
      out[0] += scalar_value(l, fn, "the loss") * rows;
      for (std::size_t k = 0; k < metrics.size(); ++k)
        out[1 + k] += scalar_value(metrics[k].fn(b.y, pred), fn, "metric '" + metrics[k].name + "'") * rows;
    }
    for (double& v : out) v /= static_cast<double>(n);
  }

 private:
  void init(std::int64_t batch_size) {
    batch_ = std::min(batch_size, source_.size());
    index_.resize(static_cast<std::size_t>(source_.size()));
    std::iota(index_.begin(), index_.end(), std::int64_t{0});
  }

  std::optional<TensorBatches> own_;
  BatchSource& source_;
  std::int64_t batch_ = 1;
  std::vector<std::int64_t> index_;
};

// The validation data of a fit: each rank evaluates its share [n * r / W, n * (r + 1) / W) and
// the means are combined over the ranks.
class Validation {
 public:
  Validation(const Tensor& x, const Tensor& y, const Tensor& w, std::int64_t batch_size, ProcessGroup* group)
      : total_(x.size(0)), group_(group) {
    Tensor vx = x, vy = y, vw = w;
    std::int64_t rows = total_;
    if (group_) {
      const int world = group_->size(), rank = group_->rank();
      const std::int64_t lo = total_ * rank / world, hi = total_ * (rank + 1) / world;
      rows = hi - lo;
      NoGradGuard no_grad;
      if (rows > 0) {
        vx = slice(x, 0, lo, rows), vy = slice(y, 0, lo, rows);
        if (w.defined()) vw = slice(w, 0, lo, rows);
      }
    }
    if (rows > 0) share_.emplace(vx, vy, vw, batch_size);
  }

  void run(Module& model, const FitOptions& o, std::vector<double>& out) {
    std::fill(out.begin(), out.end(), 0.0);
    if (share_) share_->run(model, o.loss, o.metrics, "fit", out);
    if (!group_) return;
    // means over each rank's share -> the mean over the whole validation set
    const double rows = share_ ? static_cast<double>(share_->size()) : 0.0;
    for (double& v : out) v *= rows;
    group_->all_reduce_sum(std::span<double>(out));
    for (double& v : out) v /= static_cast<double>(total_);
  }

 private:
  std::int64_t total_;
  ProcessGroup* group_;
  std::optional<Evaluation> share_;
};

// ---- progress -------------------------------------------------------------------------------------

std::string format_value(double v) { return std::abs(v) > 1e-3 ? fmt::format("{:.4f}", v) : fmt::format("{:.4e}", v); }

// Keras' progress bar (verbose 1) or line (verbose 2), as a callback that reads the running
// values fit keeps. names[0, n_train) are the training values shown during the epoch; the rest
// (validation) appear at its end.
class Progress : public Callback {
 public:
  Progress(std::ostream& out, int verbose, bool in_place, int epochs, std::int64_t steps,
           const std::vector<std::string>& names, std::size_t n_train, const std::vector<double>& values)
      : out_(out),
        verbose_(verbose),
        in_place_(in_place && verbose == 1),
        epochs_(epochs),
        steps_(steps),
        names_(names),
        n_train_(n_train),
        values_(values) {}

  std::string name() const override { return "Progress"; }

  void on_epoch_begin(int epoch) override {
    t0_ = Clock::now();
    if (verbose_ == 0) return;
    out_ << "Epoch " << epoch + 1 << "/" << epochs_ << "\n";
    out_.flush();
    last_draw_ = t0_;
    drawn_ = 0;
  }

  // Redraws the bar during the epoch, at most every 0.1 s (and only when drawing in place).
  void on_train_batch_end(std::int64_t batch, const Logs&) override {
    const std::int64_t step = batch + 1;
    if (!in_place_ || step == steps_) return;
    const auto now = Clock::now();
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - t0_).count();
    const double eta = elapsed / static_cast<double>(step) * static_cast<double>(steps_ - step);
    std::string line = fmt::format("{} - ETA: {:.1f}s", head(step), eta);
    for (std::size_t k = 0; k < n_train_; ++k) line += fmt::format(" - {}: {}", names_[k], format_value(values_[k]));
    draw(line, false);
  }

  void on_epoch_end(int, const Logs&) override {
    if (verbose_ == 0) return;
    std::string line = fmt::format("{} - {:.1f}s", head(steps_), seconds_since(t0_));
    for (std::size_t k = 0; k < values_.size(); ++k)
      line += fmt::format(" - {}: {}", names_[k], format_value(values_[k]));
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
  const std::vector<double>& values_;
  Clock::time_point t0_, last_draw_;
  std::size_t drawn_ = 0;
};

// ---- weights --------------------------------------------------------------------------------------

// FitOptions::sample_weight times class_weight of each sample's class, as one [N] tensor in y's
// dtype; undefined when neither is given.
Tensor sample_weights(const Tensor& y, const FitOptions& o) {
  if (!o.sample_weight.defined() && o.class_weight.empty()) return Tensor();
  const std::int64_t n = y.size(0);
  std::vector<double> w(static_cast<std::size_t>(n), 1.0);
  if (o.sample_weight.defined()) {
    const Tensor& sw = o.sample_weight;
    if (sw.numel() != n || sw.rank() < 1 || sw.rank() > 2 || sw.size(0) != n)
      throw ShapeError(
          fmt::format("fit: sample_weight {} must be [{}] or [{}, 1] for the {} samples", sw.shape(), n, n, n));
    check_finite("fit", "sample_weight", sw);
    w = sw.to_vector();
  }
  if (!o.class_weight.empty()) {
    if (y.rank() > 2)
      throw ShapeError(fmt::format("fit: class_weight needs y [N], [N, 1] or one-hot [N, C], got {}", y.shape()));
    const std::vector<double> v = y.to_vector();
    const std::int64_t c = y.rank() == 2 ? y.size(1) : 1;
    for (std::int64_t i = 0; i < n; ++i) {
      const double* row = v.data() + i * c;
      const auto cls = c == 1 ? static_cast<std::int64_t>(std::llround(row[0]))
                              : static_cast<std::int64_t>(std::max_element(row, row + c) - row);
      auto it = o.class_weight.find(cls);
      if (it != o.class_weight.end()) w[static_cast<std::size_t>(i)] *= it->second;
    }
  }
  return from_vector(w, {n}, y.dtype());
}

// ---- the loop -------------------------------------------------------------------------------------

struct ValidationData {
  Tensor x, y, w;
};

History run_fit(Module& model, BatchSource& train, FitOptions& options, const std::optional<ValidationData>& val_data) {
  check_callbacks(options);
  check_optimizer_holds(model, *options.optimizer, "fit");

  // Data-parallel when more than one rank takes part (see FitOptions::process_group).
  ProcessGroup* group = options.process_group && options.process_group->size() > 1 ? options.process_group : nullptr;
  const int world = group ? group->size() : 1, rank = group ? group->rank() : 0;
  if (rank != 0) options.verbose = 0;
  Optimizer& opt = *options.optimizer;
  Generator& gen = options.generator ? *options.generator : default_generator();
  std::ostream& out = options.out ? *options.out : std::cout;
  const bool in_place = options.in_place_progress.value_or(&out == &std::cout && ::isatty(STDOUT_FILENO) == 1);
  const std::size_t n_train = 1 + options.metrics.size();

  // Value names in display order; values[k] is names[k] for the current epoch.
  std::vector<std::string> names{"loss"};
  for (const Metric& m : options.metrics) names.push_back(m.name);
  if (val_data) {
    names.push_back("val_loss");
    for (const Metric& m : options.metrics) names.push_back("val_" + m.name);
  }
  std::vector<double> values(names.size()), sums(n_train), step_stats(n_train), val(n_train);

  // The parts.
  BatchPlan plan(train.size(), options.batch_size, rank, world);
  TrainStep step(model, opt,
                 {.loss = options.loss,
                  .metrics = options.metrics,
                  .clipnorm = options.clipnorm,
                  .clipvalue = options.clipvalue,
                  .global_clipnorm = options.global_clipnorm,
                  .process_group = group,
                  .who = "fit"});
  std::optional<Validation> validation;
  if (val_data) validation.emplace(val_data->x, val_data->y, val_data->w, options.batch_size, group);
  TrainingContext context{&model, &opt, &gen, &plan, options.callbacks, rank, options.initial_epoch};
  Progress progress(out, options.verbose, in_place, options.epochs, plan.steps(), names, n_train, values);
  std::vector<Callback*> callbacks{&progress};
  callbacks.insert(callbacks.end(), options.callbacks.begin(), options.callbacks.end());
  Logs logs, batch_logs;
  std::vector<double*> batch_slots;  // batch_logs' values, in names' order: no lookup per batch
  for (std::size_t k = 0; k < n_train; ++k) batch_slots.push_back(&batch_logs[names[k]]);

  for (Callback* c : callbacks) {
    c->attach(&context);
    c->on_train_begin();
  }
  int first_epoch = options.initial_epoch;
  if (!options.resume_from.empty()) {
    first_epoch = load_checkpoint(options.resume_from, context);
    context.epochs_done = first_epoch;
  }
  if (group) group->broadcast(model.parameters(), 0);

  History history;
  for (const std::string& name : names)
    history.values[name].reserve(static_cast<std::size_t>(std::max(0, options.epochs - first_epoch)));
  ModeGuard mode(model, true);
  bool stop = false;
  for (int epoch = first_epoch; epoch < options.epochs && !stop; ++epoch) {
    const auto t0 = Clock::now();
    for (Callback* c : callbacks) c->on_epoch_begin(epoch);
    if (options.shuffle) plan.shuffle(gen);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::int64_t seen = 0;
    for (std::int64_t s = 0; s < plan.steps() && !stop; ++s) {
      for (Callback* c : callbacks) c->on_train_batch_begin(s);
      const std::span<const std::int64_t> rows = plan.rows(s);
      const std::int64_t count = plan.count(s);
      const Batch b = rows.empty() ? Batch{} : train.load(rows);
      step.run(b.x, b.y, b.sample_weight, static_cast<std::int64_t>(rows.size()), count,
               {epoch, options.epochs, s, plan.steps()}, step_stats);
      seen += count;
      for (std::size_t k = 0; k < n_train; ++k) {
        sums[k] += step_stats[k];
        values[k] = *batch_slots[k] = sums[k] / static_cast<double>(seen);
      }
      for (Callback* c : callbacks) {
        c->on_train_batch_end(s, batch_logs);
        stop = stop || (!group && c->stop_requested());  // ranks agree at the epoch's end
      }
    }
    if (validation) {
      validation->run(model, options, val);
      std::copy(val.begin(), val.end(), values.begin() + static_cast<std::ptrdiff_t>(n_train));
    }
    for (std::size_t k = 0; k < names.size(); ++k) {
      history.values[names[k]].push_back(values[k]);
      logs[names[k]] = values[k];
    }
    history.epoch_seconds.push_back(seconds_since(t0));
    context.epochs_done = epoch + 1;
    for (Callback* c : callbacks) {
      c->on_epoch_end(epoch, logs);
      stop = stop || c->stop_requested();
    }
    if (group) {  // every rank stops at the same epoch
      double any = stop ? 1.0 : 0.0;
      group->all_reduce_sum(std::span<double>(&any, 1));
      stop = any > 0;
    }
  }
  for (Callback* c : callbacks) c->on_train_end();
  return history;
}

}  // namespace

// ---- fit, evaluate, predict -----------------------------------------------------------------------

History fit(Module& model, const Tensor& x, const Tensor& y, FitOptions options) {
  check_options(options);
  check_dataset("fit", "x", x, "y", y);
  check_metrics("fit", options.metrics);
  const double split = options.validation_split;
  if (!(split >= 0.0 && split < 1.0))
    throw ValueError(fmt::format("fit: validation_split must be in [0, 1), got {}", split));
  if (split > 0.0 && options.validation_data)
    throw ValueError("fit: give validation_data or validation_split, not both");
  if (options.validation_data)
    check_dataset("fit", "validation x", options.validation_data->first, "validation y",
                  options.validation_data->second);
  {
    // In a distributed fit every rank must stop when any rank's data are bad: a rank that threw
    // alone would leave the others waiting in the first all-reduce.
    std::string bad;
    try {
      check_finite("fit", "x", x);
      check_finite("fit", "y", y);
      if (options.validation_data) {
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
  const Tensor w = sample_weights(y, options);

  // validation_split: the last fraction of the samples, before shuffling (Keras).
  Tensor tx = x, ty = y, tw = w;
  std::optional<ValidationData> val;
  if (options.validation_data)
    val = ValidationData{options.validation_data->first, options.validation_data->second, {}};
  if (split > 0.0) {
    const std::int64_t n = x.size(0),
                       at = static_cast<std::int64_t>(std::floor(static_cast<double>(n) * (1.0 - split)));
    if (at < 1 || at >= n)
      throw ValueError(
          fmt::format("fit: validation_split {} of {} samples leaves {} for training and {} for "
                      "validation; both need at least one",
                      split, n, at, n - at));
    NoGradGuard no_grad;
    tx = slice(x, 0, 0, at), ty = slice(y, 0, 0, at);
    val = ValidationData{slice(x, 0, at, n - at), slice(y, 0, at, n - at), {}};
    if (w.defined()) tw = slice(w, 0, 0, at), val->w = slice(w, 0, at, n - at);
  }
  TensorBatches source(tx, ty, tw);
  return run_fit(model, source, options, val);
}

History fit(Module& model, BatchSource& train, FitOptions options) {
  check_options(options);
  check_metrics("fit", options.metrics);
  if (options.validation_split != 0.0 || options.sample_weight.defined() || !options.class_weight.empty())
    throw ValueError(
        "fit: validation_split, sample_weight and class_weight apply to whole tensors; a BatchSource gives its own "
        "weights and validation_data gives the validation set");
  if (train.size() < 1) throw ValueError(fmt::format("fit: the batch source holds {} samples", train.size()));
  std::optional<ValidationData> val;
  if (options.validation_data) {
    check_dataset("fit", "validation x", options.validation_data->first, "validation y",
                  options.validation_data->second);
    val = ValidationData{options.validation_data->first, options.validation_data->second, {}};
  }
  return run_fit(model, train, options, val);
}

namespace {

Logs evaluate_logs(Module& model, Evaluation& evaluation, const LossFn& loss, const std::vector<Metric>& metrics) {
  std::vector<double> out(1 + metrics.size());
  evaluation.run(model, loss, metrics, "evaluate", out);
  Logs logs{{"loss", out[0]}};
  for (std::size_t k = 0; k < metrics.size(); ++k) logs[metrics[k].name] = out[1 + k];
  return logs;
}

// predict's loop: the inputs of rows [start, start + count) come from load(rows).
template <class Load>
Tensor predict_rows(Module& model, std::int64_t n, std::int64_t batch_size, Load&& load) {
  NoGradGuard no_grad;
  EvalModeGuard eval_mode;  // this thread only: threads may share the model
  const std::int64_t batch = std::min(batch_size, n);
  std::vector<std::int64_t> index(static_cast<std::size_t>(n));
  std::iota(index.begin(), index.end(), std::int64_t{0});
  Tensor result;
  std::size_t row_bytes = 0;
  for (std::int64_t start = 0, s = 0; start < n; start += batch, ++s) {
    const std::int64_t count = std::min(batch, n - start);
    const Tensor pred = model(load(std::span<const std::int64_t>(index).subspan(static_cast<std::size_t>(start),
                                                                                static_cast<std::size_t>(count))));
    if (pred.rank() == 0 || pred.size(0) != count)
      throw ShapeError(fmt::format("predict: the model returned {} for a batch of {} samples, expected [{}, ...]",
                                   pred.shape(), count, count));
    if (!result.defined()) {
      Shape shape = pred.shape();
      shape[0] = n;
      result = Tensor::empty(shape, pred.dtype());
      row_bytes = static_cast<std::size_t>(pred.numel() / count) * dtype_size(pred.dtype());
    } else {
      bool same = pred.rank() == result.rank() && pred.dtype() == result.dtype();
      for (int d = 1; same && d < pred.rank(); ++d) same = pred.size(d) == result.size(d);
      if (!same)
        throw ShapeError(fmt::format("predict: the model returned {} {} for batch {}, but {} {} before", pred.shape(),
                                     dtype_name(pred.dtype()), s + 1, result.shape(), dtype_name(result.dtype())));
    }
    std::memcpy(static_cast<unsigned char*>(result.raw_data()) + static_cast<std::size_t>(start) * row_bytes,
                pred.raw_data(), static_cast<std::size_t>(count) * row_bytes);
  }
  return result;
}

}  // namespace

Logs evaluate(Module& model, const Tensor& x, const Tensor& y, const LossFn& loss, const std::vector<Metric>& metrics,
              std::int64_t batch_size) {
  check_batch_size("evaluate", batch_size);
  check_dataset("evaluate", "x", x, "y", y);
  check_finite("evaluate", "x", x);
  check_finite("evaluate", "y", y);
  check_metrics("evaluate", metrics);
  if (!loss) throw ValueError("evaluate: the loss is empty");
  Evaluation evaluation(x, y, Tensor(), batch_size);
  return evaluate_logs(model, evaluation, loss, metrics);
}

Logs evaluate(Module& model, BatchSource& data, const LossFn& loss, const std::vector<Metric>& metrics,
              std::int64_t batch_size) {
  check_batch_size("evaluate", batch_size);
  check_metrics("evaluate", metrics);
  if (!loss) throw ValueError("evaluate: the loss is empty");
  if (data.size() < 1) throw ValueError(fmt::format("evaluate: the batch source holds {} samples", data.size()));
  Evaluation evaluation(data, batch_size);
  return evaluate_logs(model, evaluation, loss, metrics);
}

Tensor predict(Module& model, const Tensor& x, std::int64_t batch_size) {
  check_batch_size("predict", batch_size);
  check_dataset("predict", "x", x, "", Tensor());
  RowGather xs(x);
  return predict_rows(model, x.size(0), batch_size,
                      [&](std::span<const std::int64_t> rows) -> const Tensor& { return xs.load(rows); });
}

Tensor predict(Module& model, BatchSource& data, std::int64_t batch_size) {
  check_batch_size("predict", batch_size);
  if (data.size() < 1) throw ValueError(fmt::format("predict: the batch source holds {} samples", data.size()));
  return predict_rows(model, data.size(), batch_size,
                      [&](std::span<const std::int64_t> rows) { return data.load(rows).x; });
}

}  // namespace tg
