#include <tapegrad/optim/rmsprop.h>

#include <cmath>

namespace tg {

RMSprop::RMSprop(std::vector<Tensor> params, double lr, double rho, double epsilon, double weight_decay)
    : RMSprop(one_group(std::move(params)), lr, rho, epsilon, weight_decay) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, double lr, double rho, double epsilon, double weight_decay)
    : Optimizer("RMSprop", std::move(groups), lr, weight_decay), rho_(rho), epsilon_(epsilon) {
  require(rho >= 0 && rho < 1, "rho", "in [0, 1)", rho);
  require(std::isfinite(epsilon) && epsilon >= 0, "epsilon", ">= 0 and finite", epsilon);
  v_.resize(parameters().size());
  track_state(v_, "square_avg");
}

void RMSprop::update(std::size_t index, Tensor& param, const Tensor& grad, double rate, double weight_decay) {
  ensure_state(v_[index], param);
  const std::int64_t n = param.numel();
  // The flags outside, the dtype inside: the constants are locals of the innermost lambda.
  with_flags(grad.defined(), weight_decay != 0, [&]<bool kGrad, bool kDecay>() {
    dispatch(param.dtype(), [&]<class T>() {
      T* p = param.data<T>();
      T* v = v_[index].data<T>();
      const T* g = kGrad ? grad.data<T>() : nullptr;
      const T rho = static_cast<T>(rho_), c = static_cast<T>(1.0 - rho_);
      const T lr = static_cast<T>(rate), eps = static_cast<T>(epsilon_), wd = static_cast<T>(weight_decay);
      for (std::int64_t j = 0; j < n; ++j) {
        T gj = T(0);
        if constexpr (kGrad) gj = g[j];
        if constexpr (kDecay) gj += wd * p[j];
        v[j] = rho * v[j] + c * gj * gj;
        p[j] -= lr * (gj / (std::sqrt(v[j]) + eps));
      }
    });
  });
}

}  // namespace tg
