#include <tapegrad/optim/rmsprop.h>

#include <cmath>

namespace tg {

RMSprop::RMSprop(std::vector<Tensor> params, double lr, double rho, double epsilon)
    : Optimizer("RMSprop", std::move(params), lr), rho_(rho), epsilon_(epsilon) {
  require(rho >= 0 && rho < 1, "rho", "in [0, 1)", rho);
  require(std::isfinite(epsilon) && epsilon >= 0, "epsilon", ">= 0 and finite", epsilon);
  v_.resize(parameters().size());
  track_state(v_);
}

void RMSprop::update(std::size_t index, Tensor& param, const Tensor& grad) {
  ensure_state(v_[index], param);
  const std::int64_t n = param.numel();
  dispatch(param.dtype(), [&]<class T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* v = v_[index].data<T>();
    const T rho = static_cast<T>(rho_), c = static_cast<T>(1.0 - rho_);
    const T lr = static_cast<T>(learning_rate()), eps = static_cast<T>(epsilon_);
    for (std::int64_t j = 0; j < n; ++j) {
      v[j] = rho * v[j] + c * g[j] * g[j];
      p[j] -= lr * (g[j] / (std::sqrt(v[j]) + eps));
    }
  });
}

}  // namespace tg
