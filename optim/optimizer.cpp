#include <tapegrad/optim/optimizer.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)), lr_(lr) {
  if (params_.empty())
    throw ValueError(fmt::format(
        "{}: got an empty parameter list (build the model before creating its optimizer)", name_));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined())
      throw ValueError(fmt::format("{}: parameter {} of {} is an undefined tensor", name_, i, params_.size()));
    for (std::size_t j = 0; j < i; ++j)
      if (params_[j].is_same(params_[i]))
        throw ValueError(fmt::format("{}: parameter {} ('{}') appears twice in the list (also at {})", name_,
                                     i, params_[i].name(), j));
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
                                   p.name(), p.shape(), dtype_name(p.dtype()), g.shape(),
                                   dtype_name(g.dtype())));
    update(i, p, g);
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

bool Optimizer::ensure_state(Tensor& state, const Tensor& param) {
  if (state.defined() && state.shape() == param.shape() && state.dtype() == param.dtype()) return false;
  state = zeros(param.shape(), param.dtype());
  return true;
}

}  // namespace tg
