#include <tapegrad/optim/sgd.h>

#include <cmath>

namespace tg {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, bool nesterov)
    : Optimizer("SGD", std::move(params), lr), momentum_(momentum), nesterov_(nesterov) {
  require(std::isfinite(momentum) && momentum >= 0, "momentum", ">= 0 and finite", momentum);
  require(!nesterov || momentum > 0, "momentum", "> 0 with nesterov = true", momentum);
  buf_.resize(parameters().size());
  track_state(buf_);
}

void SGD::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const std::int64_t n = param.numel();
  dispatch(param.dtype(), [&]<class T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    const T lr = static_cast<T>(learning_rate());
    if (momentum_ == 0) {
      for (std::int64_t j = 0; j < n; ++j) p[j] -= lr * g[j];
      return;
    }
    const T mu = static_cast<T>(momentum_);
    Tensor& state = buf_[index];
    const bool first = ensure_state(state, param);
    T* b = state.data<T>();
    if (first) {
      for (std::int64_t j = 0; j < n; ++j) b[j] = g[j];
    } else {
      for (std::int64_t j = 0; j < n; ++j) b[j] = mu * b[j] + g[j];
    }
    if (nesterov_) {
      for (std::int64_t j = 0; j < n; ++j) p[j] -= lr * (g[j] + mu * b[j]);
    } else {
      for (std::int64_t j = 0; j < n; ++j) p[j] -= lr * b[j];
    }
  });
}

}  // namespace tg
