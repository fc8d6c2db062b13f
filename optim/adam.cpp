#include <tapegrad/optim/adam.h>

#include <cmath>

namespace tg {

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double epsilon, EpsilonMode mode,
           double weight_decay)
    : Adam("Adam", false, one_group(std::move(params)), lr, beta1, beta2, epsilon, mode, weight_decay) {}

Adam::Adam(std::vector<ParamGroup> groups, double lr, double beta1, double beta2, double epsilon, EpsilonMode mode,
           double weight_decay)
    : Adam("Adam", false, std::move(groups), lr, beta1, beta2, epsilon, mode, weight_decay) {}

Adam::Adam(const char* name, bool decoupled, std::vector<ParamGroup> groups, double lr, double beta1, double beta2,
           double epsilon, EpsilonMode mode, double weight_decay)
    : Optimizer(name, std::move(groups), lr, weight_decay),
      beta1_(beta1),
      beta2_(beta2),
      epsilon_(epsilon),
      mode_(mode),
      decoupled_(decoupled) {
  require(beta1 >= 0 && beta1 < 1, "beta1", "in [0, 1)", beta1);
  require(beta2 >= 0 && beta2 < 1, "beta2", "in [0, 1)", beta2);
  require(std::isfinite(epsilon) && epsilon >= 0, "epsilon", ">= 0 and finite", epsilon);
  m_.resize(parameters().size());
  v_.resize(parameters().size());
  steps_.resize(parameters().size());
  track_state(m_, "exp_avg");
  track_state(v_, "exp_avg_sq");
  track_state(steps_, "step");
}

void Adam::update(std::size_t index, Tensor& param, const Tensor& grad, double lr, double weight_decay) {
  const bool fresh_m = ensure_state(m_[index], param);
  const bool fresh_v = ensure_state(v_[index], param);
  if (fresh_m || fresh_v) steps_[index] = 0;
  const auto t = static_cast<double>(++steps_[index]);
  const double bias1 = 1.0 - std::pow(beta1_, t);
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2_, t));
  const double step = mode_ == EpsilonMode::keras ? lr * bias2_sqrt / bias1 : lr / bias1;
  const double l2 = decoupled_ ? 0.0 : weight_decay;
  const std::int64_t n = param.numel();
  // The flags outside, the dtype inside: the constants are locals of the innermost lambda, so
  // the compiler knows the stores to p, m and v cannot change them.
  with_flags(grad.defined(), l2 != 0, [&]<bool kGrad, bool kDecay>() {
    dispatch(param.dtype(), [&]<class T>() {
      T* p = param.data<T>();
      T* m = m_[index].data<T>();
      T* v = v_[index].data<T>();
      const T* g = kGrad ? grad.data<T>() : nullptr;
      if (decoupled_ && weight_decay != 0) {
        // A pass of its own, as torch's param.mul_(1 - lr * weight_decay) before the update.
        const T keep = static_cast<T>(1.0 - lr * weight_decay);
        for (std::int64_t j = 0; j < n; ++j) p[j] *= keep;
      }
      const T b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_);
      const T c1 = static_cast<T>(1.0 - beta1_), c2 = static_cast<T>(1.0 - beta2_);
      const T st = static_cast<T>(step), eps = static_cast<T>(epsilon_), wd = static_cast<T>(l2);
      const T bc2 = static_cast<T>(bias2_sqrt);
      if (mode_ == EpsilonMode::keras) {
        for (std::int64_t j = 0; j < n; ++j) {
          T gj = T(0);
          if constexpr (kGrad) gj = g[j];
          if constexpr (kDecay) gj += wd * p[j];
          m[j] = b1 * m[j] + c1 * gj;
          v[j] = b2 * v[j] + c2 * gj * gj;
          p[j] -= st * (m[j] / (std::sqrt(v[j]) + eps));
        }
      } else {
        // Divides by sqrt(1 - beta2^t) as torch does, rather than multiplying by its inverse.
        for (std::int64_t j = 0; j < n; ++j) {
          T gj = T(0);
          if constexpr (kGrad) gj = g[j];
          if constexpr (kDecay) gj += wd * p[j];
          m[j] = b1 * m[j] + c1 * gj;
          v[j] = b2 * v[j] + c2 * gj * gj;
          p[j] -= st * (m[j] / (std::sqrt(v[j]) / bc2 + eps));
        }
      }
    });
  });
}

AdamW::AdamW(std::vector<Tensor> params, double lr, double weight_decay, double beta1, double beta2, double epsilon,
             EpsilonMode mode)
    : Adam("AdamW", true, one_group(std::move(params)), lr, beta1, beta2, epsilon, mode, weight_decay) {}

AdamW::AdamW(std::vector<ParamGroup> groups, double lr, double weight_decay, double beta1, double beta2, double epsilon,
             EpsilonMode mode)
    : Adam("AdamW", true, std::move(groups), lr, beta1, beta2, epsilon, mode, weight_decay) {}

}  // namespace tg
