#include <tapegrad/optim/clip.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

double clip_grad_norm(std::span<const Tensor> params, double max_norm) {
  if (!(max_norm > 0)) throw ValueError(fmt::format("clip_grad_norm: max_norm must be > 0, got {}", max_norm));
  NoGradGuard no_grad;
  double sum_sq = 0.0;
  for (const Tensor& p : params) {
    if (!p.defined()) throw ValueError("clip_grad_norm: a parameter is an undefined tensor");
    Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch(g.dtype(), [&]<class T>() {
      const T* d = g.data<T>();
      for (std::int64_t j = 0, n = g.numel(); j < n; ++j) sum_sq += static_cast<double>(d[j]) * d[j];
    });
  }
  const double norm = std::sqrt(sum_sq);
  if (!std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch(g.dtype(), [&]<class T>() {
      T* d = g.data<T>();
      const T c = static_cast<T>(coef);
      for (std::int64_t j = 0, n = g.numel(); j < n; ++j) d[j] *= c;
    });
  }
  return norm;
}

void clip_grad_value(std::span<const Tensor> params, double clip_value) {
  if (!(clip_value > 0) || !std::isfinite(clip_value))
    throw ValueError(fmt::format("clip_grad_value: clip_value must be > 0 and finite, got {}", clip_value));
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    if (!p.defined()) throw ValueError("clip_grad_value: a parameter is an undefined tensor");
    Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch(g.dtype(), [&]<class T>() {
      T* d = g.data<T>();
      const T hi = static_cast<T>(clip_value), lo = -hi;
      // Written with comparisons so a NaN stays NaN.
      for (std::int64_t j = 0, n = g.numel(); j < n; ++j) d[j] = d[j] > hi ? hi : (d[j] < lo ? lo : d[j]);
    });
  }
}

}  // namespace tg
