#include <tapegrad/nn/layers/init.h>

#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace tg::init {

namespace {
Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

void check_dims(std::int64_t a, std::int64_t b, const char* what) {
  if (a <= 0 || b <= 0) throw ValueError(fmt::format("{}: dimensions {} x {} must be positive", what, a, b));
}
}  // namespace

Tensor glorot_uniform(std::int64_t fan_in, std::int64_t fan_out, DType dtype, Generator* gen) {
  check_dims(fan_in, fan_out, "glorot_uniform");
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return tg::uniform({fan_in, fan_out}, -limit, limit, dtype, &pick(gen));
}

Tensor orthogonal(std::int64_t rows, std::int64_t cols, double gain, DType dtype, Generator* gen) {
  check_dims(rows, cols, "orthogonal");
  Generator& g = pick(gen);
  // Work on an m x n matrix with m >= n (transposed when rows < cols), column-major in `a`.
  const bool flip = rows < cols;
  const std::int64_t m = flip ? cols : rows, n = flip ? rows : cols;
  std::vector<double> a(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < rows; ++i)  // draw row-major [rows, cols] like numpy
    for (std::int64_t j = 0; j < cols; ++j) {
      double v = g.normal();
      if (flip)
        a[static_cast<std::size_t>(i * m + j)] = v;  // column i of the transpose
      else
        a[static_cast<std::size_t>(j * m + i)] = v;
    }
  // Modified Gram-Schmidt gives Q with a positive diagonal of R: the sign-fixed Q of Keras.
  auto col = [&](std::int64_t j) { return a.data() + j * m; };
  for (std::int64_t j = 0; j < n; ++j) {
    double* q = col(j);
    for (int pass = 0; pass < 2; ++pass)  // re-orthogonalise once for accuracy
      for (std::int64_t k = 0; k < j; ++k) {
        const double* p = col(k);
        double d = 0;
        for (std::int64_t i = 0; i < m; ++i) d += p[i] * q[i];
        for (std::int64_t i = 0; i < m; ++i) q[i] -= d * p[i];
      }
    double norm = 0;
    for (std::int64_t i = 0; i < m; ++i) norm += q[i] * q[i];
    norm = std::sqrt(norm);
    if (norm == 0) throw ValueError("orthogonal: the random matrix is rank deficient");
    for (std::int64_t i = 0; i < m; ++i) q[i] /= norm;
  }
  Tensor out = Tensor::empty({rows, cols}, dtype);
  dispatch(dtype, [&]<class T>() {
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j)
        o[i * cols + j] = static_cast<T>(
            gain * (flip ? a[static_cast<std::size_t>(i * m + j)] : a[static_cast<std::size_t>(j * m + i)]));
  });
  return out;
}

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator* gen) {
  return tg::uniform(shape, low, high, dtype, &pick(gen));
}

Tensor normal(const Shape& shape, double mean, double stddev, DType dtype, Generator* gen) {
  Tensor t = randn(shape, dtype, &pick(gen));
  dispatch(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(mean + stddev * p[i]);
  });
  return t;
}

Tensor zeros(const Shape& shape, DType dtype) { return tg::zeros(shape, dtype); }

}  // namespace tg::init
