#include <tapegrad/optim/sgd.h>

#include <cmath>

namespace tg {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, bool nesterov, double weight_decay)
    : SGD(one_group(std::move(params)), lr, momentum, nesterov, weight_decay) {}

SGD::SGD(std::vector<ParamGroup> groups, double lr, double momentum, bool nesterov, double weight_decay)
    : Optimizer("SGD", std::move(groups), lr, weight_decay), momentum_(momentum), nesterov_(nesterov) {
  require(std::isfinite(momentum) && momentum >= 0, "momentum", ">= 0 and finite", momentum);
  require(!nesterov || momentum > 0, "momentum", "> 0 with nesterov = true", momentum);
  buf_.resize(parameters().size());
  track_state(buf_, "momentum_buffer");
}

void SGD::update(std::size_t index, Tensor& param, const Tensor& grad, double rate, double weight_decay) {
  const std::int64_t n = param.numel();
  const bool first = momentum_ != 0 && ensure_state(buf_[index], param);
  // The flags outside, the dtype inside: the constants are locals of the innermost lambda, so
  // the compiler knows the stores to p and b cannot change them.
  with_flags(grad.defined(), weight_decay != 0, [&]<bool kGrad, bool kDecay>() {
    dispatch(param.dtype(), [&]<class T>() {
      T* p = param.data<T>();
      const T* g = kGrad ? grad.data<T>() : nullptr;
      const T lr = static_cast<T>(rate), wd = static_cast<T>(weight_decay), mu = static_cast<T>(momentum_);
      auto grad_at = [g, p, wd](std::int64_t j) {
        T gj = T(0);
        if constexpr (kGrad) gj = g[j];
        if constexpr (kDecay) gj += wd * p[j];
        return gj;
      };
      if (momentum_ == 0) {
        if constexpr (kGrad || kDecay)  // else g = 0 leaves theta as it is
          for (std::int64_t j = 0; j < n; ++j) p[j] -= lr * grad_at(j);
        return;
      }
      T* b = buf_[index].data<T>();
      if (first) {
        for (std::int64_t j = 0; j < n; ++j) b[j] = grad_at(j);
      } else {
        for (std::int64_t j = 0; j < n; ++j) b[j] = mu * b[j] + grad_at(j);
      }
      if (nesterov_) {  // theta is unchanged so far: grad_at(j) is the g above
        for (std::int64_t j = 0; j < n; ++j) p[j] -= lr * (grad_at(j) + mu * b[j]);
      } else {
        for (std::int64_t j = 0; j < n; ++j) p[j] -= lr * b[j];
      }
    });
  });
}

}  // namespace tg
