#include <tapegrad/nn/training/callbacks.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include <tapegrad/core/file_io.h>
#include <tapegrad/nn/training/checkpoint.h>
#include <tapegrad/nn/training/serialize.h>

namespace tg {

const TrainingContext& Callback::context() const {
  if (!context_) throw GraphError(fmt::format("{}: the callback is not attached to a fit", name()));
  return *context_;
}

Module& Callback::model() const {
  const TrainingContext& c = context();
  if (!c.model) throw GraphError(fmt::format("{}::model: the training has no model", name()));
  return *c.model;
}

Optimizer& Callback::optimizer() const {
  const TrainingContext& c = context();
  if (!c.optimizer) throw GraphError(fmt::format("{}::optimizer: the training has no optimizer", name()));
  return *c.optimizer;
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

// A value a checkpoint must hold, or a clear error naming the callback.
double state_value(const CallbackState& state, const char* key, const std::string& who) {
  auto it = state.values.find(key);
  if (it == state.values.end()) throw ValueError(fmt::format("{}::load_state: the state has no value '{}'", who, key));
  return it->second;
}

}  // namespace

// ---- EarlyStopping --------------------------------------------------------------------------------

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
  best_weights_.clear();
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

void EarlyStopping::save_state(CallbackState& state) const {
  state.values["wait"] = wait_;
  state.values["best"] = best_;
  state.values["best_epoch"] = best_epoch_;
  for (std::size_t i = 0; i < best_weights_.size(); ++i)
    if (best_weights_[i].defined()) state.tensors[fmt::format("best_weights.{}", i)] = best_weights_[i];
}

void EarlyStopping::load_state(const CallbackState& state) {
  wait_ = static_cast<int>(state_value(state, "wait", name()));
  best_ = state_value(state, "best", name());
  best_epoch_ = static_cast<int>(state_value(state, "best_epoch", name()));
  best_weights_.clear();
  for (std::size_t i = 0;; ++i) {
    auto it = state.tensors.find(fmt::format("best_weights.{}", i));
    if (it == state.tensors.end()) break;
    best_weights_.push_back(it->second.clone());
  }
}

// ---- ModelCheckpoint ------------------------------------------------------------------------------

ModelCheckpoint::ModelCheckpoint(std::string path, std::string monitor, bool save_best_only, MonitorMode mode,
                                 Save what)
    : path_(std::move(path)), monitor_(std::move(monitor)), save_best_only_(save_best_only), mode_(mode), what_(what) {
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
  saved_epochs_.push_back(epoch);
  if (process_rank() != 0) return;  // in a data-parallel fit, rank 0 writes for all
  if (what_ == Save::weights_only)
    save_weights(model(), path);
  else
    save_checkpoint(path, context(), epoch + 1);
}

void ModelCheckpoint::save_state(CallbackState& state) const {
  state.values["has_best"] = has_best_ ? 1.0 : 0.0;
  state.values["best"] = best_;
}

void ModelCheckpoint::load_state(const CallbackState& state) {
  has_best_ = state_value(state, "has_best", name()) != 0.0;
  best_ = state_value(state, "best", name());
}

// ---- learning rates -------------------------------------------------------------------------------

LearningRateScheduler::LearningRateScheduler(std::function<double(int, double)> schedule)
    : schedule_(std::move(schedule)) {
  if (!schedule_) throw ValueError("LearningRateScheduler: the schedule is empty");
}

void LearningRateScheduler::on_epoch_begin(int epoch) {
  Optimizer& opt = optimizer();
  opt.set_learning_rate(schedule_(epoch, opt.learning_rate()));
}

ApplySchedule::ApplySchedule(std::function<double(std::int64_t)> schedule) : schedule_(std::move(schedule)) {
  if (!schedule_) throw ValueError("ApplySchedule: the schedule is empty");
}

void ApplySchedule::on_train_batch_begin(std::int64_t) {
  Optimizer& opt = optimizer();
  opt.set_learning_rate(schedule_(opt.iterations()));
}

ReduceLROnPlateau::ReduceLROnPlateau(std::string monitor, double factor, int patience, MonitorMode mode,
                                     double min_delta, int cooldown, double min_lr)
    : monitor_(std::move(monitor)),
      factor_(factor),
      patience_(patience),
      mode_(mode),
      min_delta_(std::abs(min_delta)),
      cooldown_(cooldown),
      min_lr_(min_lr) {
  if (!(factor > 0.0 && factor < 1.0))
    throw ValueError(fmt::format("ReduceLROnPlateau: factor must be in (0, 1), got {}", factor));
  if (patience < 0) throw ValueError(fmt::format("ReduceLROnPlateau: patience must be >= 0, got {}", patience));
  if (cooldown < 0) throw ValueError(fmt::format("ReduceLROnPlateau: cooldown must be >= 0, got {}", cooldown));
  if (!std::isfinite(min_delta) || !(min_lr >= 0.0) || !std::isfinite(min_lr))
    throw ValueError(
        fmt::format("ReduceLROnPlateau: min_delta and min_lr must be finite and min_lr >= 0, got {} "
                    "and {}",
                    min_delta, min_lr));
}

void ReduceLROnPlateau::on_train_begin() {
  wait_ = 0;
  cooldown_counter_ = 0;
  best_ = worst(mode_);
}

// Keras' order: a cooldown epoch counts down and clears the wait; an improvement resets it;
// otherwise, out of cooldown (the countdown included: with cooldown 1 the epoch after a cut
// counts again), the wait grows and at `patience` the rate drops.
void ReduceLROnPlateau::on_epoch_end(int, const Logs& logs) {
  const double current = monitored(logs, monitor_, "ReduceLROnPlateau");
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (improved(current, best_, min_delta_, mode_)) {
    best_ = current;
    wait_ = 0;
  } else if (cooldown_counter_ == 0 && ++wait_ >= patience_) {
    Optimizer& opt = optimizer();
    const double old_lr = opt.learning_rate();
    if (old_lr > min_lr_) {
      const double new_lr = std::max(old_lr * factor_, min_lr_);
      if (new_lr > 0.0) opt.set_learning_rate(new_lr);
      cooldown_counter_ = cooldown_;
      wait_ = 0;
    }
  }
}

void ReduceLROnPlateau::save_state(CallbackState& state) const {
  state.values["wait"] = wait_;
  state.values["cooldown_counter"] = cooldown_counter_;
  state.values["best"] = best_;
}

void ReduceLROnPlateau::load_state(const CallbackState& state) {
  wait_ = static_cast<int>(state_value(state, "wait", name()));
  cooldown_counter_ = static_cast<int>(state_value(state, "cooldown_counter", name()));
  best_ = state_value(state, "best", name());
}

// ---- CSVLogger ------------------------------------------------------------------------------------

CSVLogger::CSVLogger(std::string path, char separator, bool append)
    : path_(std::move(path)), separator_(separator), append_(append) {
  if (path_.empty()) throw ValueError("CSVLogger: empty path");
  if (separator == '\n' || separator == '\r' || separator == '"')
    throw ValueError("CSVLogger: the separator cannot be a line break or a quote");
}

void CSVLogger::on_train_begin() {
  header_.clear();
  text_.clear();
  if (!append_ || process_rank() != 0) return;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return;
  const std::vector<unsigned char> bytes = read_file(path_, "CSVLogger");
  std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::size_t eol = all.find('\n');
  if (eol == std::string_view::npos) return;  // empty, or a header cut short: start again
  header_ = std::string(all.substr(0, eol + 1));
  all.remove_prefix(eol + 1);
  const std::size_t last = all.rfind('\n');  // a row cut short is dropped
  text_ = last == std::string_view::npos ? std::string() : std::string(all.substr(0, last + 1));
}

void CSVLogger::on_epoch_end(int epoch, const Logs& logs) {
  if (process_rank() != 0) return;
  std::string header = "epoch";
  std::string row = std::to_string(epoch);
  for (const auto& [name, value] : logs) {
    header += separator_;
    header += name;
    row += separator_;
    row += fmt::format("{}", value);
  }
  header += '\n';
  row += '\n';
  if (header_.empty())
    header_ = header;
  else if (header_ != header)
    throw ValueError(fmt::format("CSVLogger: '{}' has the columns {}, but this training logs {}",
                                 escape_for_message(path_), header_.substr(0, header_.size() - 1),
                                 header.substr(0, header.size() - 1)));
  text_ += row;
  write_file_atomic(path_, header_ + text_, "CSVLogger");
}

// ---- TerminateOnNaN -------------------------------------------------------------------------------

void TerminateOnNaN::check(const Logs& logs) {
  for (const auto& entry : logs)
    if (!std::isfinite(entry.second)) {
      terminated_ = true;
      stop_training();
      return;
    }
}

void TerminateOnNaN::on_train_batch_end(std::int64_t, const Logs& logs) { check(logs); }
void TerminateOnNaN::on_epoch_end(int, const Logs& logs) { check(logs); }

}  // namespace tg
