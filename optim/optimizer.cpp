#include <tapegrad/optim/optimizer.h>

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)), lr_(lr) {
  if (params_.empty())
    throw ValueError(
        fmt::format("{}: got an empty parameter list (build the model before creating its optimizer)", name_));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined())
      throw ValueError(fmt::format("{}: parameter {} of {} is an undefined tensor", name_, i, params_.size()));
    for (std::size_t j = 0; j < i; ++j)
      if (params_[j].is_same(params_[i]))
        throw ValueError(fmt::format("{}: parameter {} ('{}') appears twice in the list (also at {})", name_, i,
                                     params_[i].name(), j));
  }
  require(std::isfinite(lr) && lr > 0, "learning rate", "> 0 and finite", lr);
}

void Optimizer::require(bool ok, const char* what, const char* rule, double value) const {
  if (!ok) throw ValueError(fmt::format("{}: {} must be {}, got {}", name_, what, rule, value));
}

void Optimizer::set_learning_rate(double lr) {
  require(std::isfinite(lr) && lr > 0, "learning rate", "> 0 and finite", lr);
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  ++iterations_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.shape() != p.shape() || g.dtype() != p.dtype())
      throw ShapeError(fmt::format("{}::step: parameter {} ('{}') is {} {} but its gradient is {} {}", name_, i,
                                   p.name(), p.shape(), dtype_name(p.dtype()), g.shape(), dtype_name(g.dtype())));
    update(i, p, g);
    p.increment_version();  // a graph recorded before this step saved the old weights
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::track_state(std::vector<Tensor>& per_parameter) { tensor_state_.push_back(&per_parameter); }

void Optimizer::track_state(std::vector<std::int64_t>& per_parameter) { counter_state_.push_back(&per_parameter); }

void Optimizer::save_state(OptimizerState& into) const {
  const std::size_t n = params_.size(), total = tensor_state_.size() * n;
  into.owner_ = this;
  into.iterations_ = iterations_;
  if (into.tensors_.size() != total) {
    into.tensors_.assign(total, Tensor());
    into.defined_.assign(total, 0);
  }
  for (std::size_t k = 0; k < tensor_state_.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) {
      const Tensor& state = (*tensor_state_[k])[i];
      Tensor& copy = into.tensors_[k * n + i];
      into.defined_[k * n + i] = state.defined() ? 1 : 0;
      if (!state.defined()) continue;
      if (copy.defined() && copy.shape() == state.shape() && copy.dtype() == state.dtype())
        copy.copy_from(state);
      else
        copy = state.clone();
    }
  into.counters_.clear();  // keeps its capacity
  for (const std::vector<std::int64_t>* counters : counter_state_)
    into.counters_.insert(into.counters_.end(), counters->begin(), counters->end());
}

void Optimizer::restore_state(const OptimizerState& from) {
  if (from.owner_ != this)
    throw ValueError(fmt::format("{}::restore_state: the state was {}", name_,
                                 from.owner_ ? "saved from another optimizer" : "never saved"));
  const std::size_t n = params_.size();
  iterations_ = from.iterations_;
  for (std::size_t k = 0; k < tensor_state_.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) {
      Tensor& state = (*tensor_state_[k])[i];
      const Tensor& copy = from.tensors_[k * n + i];
      if (!from.defined_[k * n + i])
        state = Tensor();
      else if (state.defined() && state.shape() == copy.shape() && state.dtype() == copy.dtype())
        state.copy_from(copy);
      else
        state = copy.clone();
    }
  std::size_t at = 0;
  for (std::vector<std::int64_t>* counters : counter_state_)
    for (std::int64_t& c : *counters) c = from.counters_[at++];
}

bool Optimizer::state_is_finite(std::size_t index) const {
  for (const std::vector<Tensor>* buffers : tensor_state_) {
    const Tensor& state = (*buffers)[index];
    if (!state.defined()) continue;
    // NaN and infinity fail |v| <= max; an integer flag and no early exit let the loop vectorise.
    const int bad = dispatch(state.dtype(), [&]<class T>() {
      const T* v = state.data<T>();
      int any = 0;
      for (std::int64_t j = 0, n = state.numel(); j < n; ++j) any |= !(std::abs(v[j]) <= std::numeric_limits<T>::max());
      return any;
    });
    if (bad) return false;
  }
  return true;
}

bool Optimizer::ensure_state(Tensor& state, const Tensor& param) {
  if (state.defined() && state.shape() == param.shape() && state.dtype() == param.dtype()) return false;
  state = zeros(param.shape(), param.dtype());
  return true;
}

}  // namespace tg
