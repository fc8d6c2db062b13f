#include <tapegrad/core/gradcheck.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/random.h>
#include <tapegrad/core/tape.h>

namespace tg {

namespace {
double dot(const Tensor& a, const Tensor& b) {
  const double* x = a.data<double>();
  const double* y = b.data<double>();
  double s = 0.0;
  for (std::int64_t i = 0, n = a.numel(); i < n; ++i) s += x[i] * y[i];
  return s;
}

void check_output(const Tensor& out) {
  if (!out.defined()) throw ValueError("gradcheck: the function returned an undefined tensor");
  if (out.dtype() != DType::f64)
    throw DTypeError(fmt::format("gradcheck: the function returned {}, expected float64", dtype_name(out.dtype())));
}
}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor> xs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) throw ValueError(fmt::format("gradcheck: input {} is undefined", i));
    xs.push_back(inputs[i].clone());
  }
  return gradcheck_leaves([&] { return f(xs); }, xs, options);
}

GradcheckResult gradcheck_leaves(const std::function<Tensor()>& f, const std::vector<Tensor>& leaves,
                                 const GradcheckOptions& options) {
  std::vector<Tensor> xs = leaves;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].dtype() != DType::f64)
      throw DTypeError(fmt::format("gradcheck: input {} is {}, expected float64", i, dtype_name(xs[i].dtype())));
    xs[i].requires_grad_(true);
    xs[i].set_grad(Tensor());
  }

  Tensor out = f();
  check_output(out);
  Generator gen(options.seed);
  Tensor r = randn(out.shape(), DType::f64, &gen);
  out.backward(r);
  out = Tensor();

  GradcheckResult result;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    Tensor analytic = xs[i].grad();
    double* v = xs[i].data<double>();
    for (std::int64_t j = 0, n = xs[i].numel(); j < n; ++j) {
      const double saved = v[j];
      v[j] = saved + options.eps;
      Tensor plus = f();
      check_output(plus);
      const double fp = dot(plus, r);
      v[j] = saved - options.eps;
      const double fm = dot(f(), r);
      v[j] = saved;
      const double numeric = (fp - fm) / (2 * options.eps);
      const double a = analytic.defined() ? analytic.data<double>()[j] : 0.0;
      const double err = std::abs(a - numeric);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (!(err <= options.atol + options.rtol * std::abs(numeric)) && result.ok) {
        result.ok = false;
        result.message =
            fmt::format("input {} (shape {}) element {}: backward gives {:.10g}, finite differences {:.10g}", i,
                        xs[i].shape(), j, a, numeric);
      }
    }
  }
  return result;
}

}  // namespace tg
