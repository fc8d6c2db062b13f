#include <tapegrad/optim/adam.h>

#include <cmath>

namespace tg {

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double epsilon, EpsilonMode mode)
    : Optimizer("Adam", std::move(params), lr), beta1_(beta1), beta2_(beta2), epsilon_(epsilon), mode_(mode) {
  require(beta1 >= 0 && beta1 < 1, "beta1", "in [0, 1)", beta1);
  require(beta2 >= 0 && beta2 < 1, "beta2", "in [0, 1)", beta2);
  require(std::isfinite(epsilon) && epsilon >= 0, "epsilon", ">= 0 and finite", epsilon);
  m_.resize(parameters().size());
  v_.resize(parameters().size());
  steps_.resize(parameters().size());
  track_state(m_);
  track_state(v_);
  track_state(steps_);
}

void Adam::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const bool fresh_m = ensure_state(m_[index], param);
  const bool fresh_v = ensure_state(v_[index], param);
  if (fresh_m || fresh_v) steps_[index] = 0;
  const auto t = static_cast<double>(++steps_[index]);
  const double bias1 = 1.0 - std::pow(beta1_, t);
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2_, t));
  const double step = mode_ == EpsilonMode::keras ? learning_rate() * bias2_sqrt / bias1 : learning_rate() / bias1;
  const std::int64_t n = param.numel();
  dispatch(param.dtype(), [&]<class T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = m_[index].data<T>();
    T* v = v_[index].data<T>();
    const T b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_);
    const T c1 = static_cast<T>(1.0 - beta1_), c2 = static_cast<T>(1.0 - beta2_);
    const T st = static_cast<T>(step), eps = static_cast<T>(epsilon_);
    if (mode_ == EpsilonMode::keras) {
      for (std::int64_t j = 0; j < n; ++j) {
        m[j] = b1 * m[j] + c1 * g[j];
        v[j] = b2 * v[j] + c2 * g[j] * g[j];
        p[j] -= st * (m[j] / (std::sqrt(v[j]) + eps));
      }
    } else {
      // Divides by sqrt(1 - beta2^t) as torch does, rather than multiplying by its inverse.
      const T bc2 = static_cast<T>(bias2_sqrt);
      for (std::int64_t j = 0; j < n; ++j) {
        m[j] = b1 * m[j] + c1 * g[j];
        v[j] = b2 * v[j] + c2 * g[j] * g[j];
        p[j] -= st * (m[j] / (std::sqrt(v[j]) / bc2 + eps));
      }
    }
  });
}

}  // namespace tg
