#include <tapegrad/ops/matmul.h>

#include <algorithm>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/parallel.h>
#include <tapegrad/ops/kernels/rows.h>

namespace tg {

namespace {
// The product as `batch` independent [M,K] x [K,N] GEMMs. [B,M,K] x [K,N] folds B into M
// (batch 1, M = B*M rows), so it is one GEMM.
struct MatmulDims {
  std::int64_t batch, m, k, n;
};

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* an, const char* bn) {
  if (a.dtype() != b.dtype())
    throw DTypeError(fmt::format("{}: {} {} is {} and {} {} is {}; expected the same dtype", op, an, a.shape(),
                                 dtype_name(a.dtype()), bn, b.shape(), dtype_name(b.dtype())));
}

MatmulDims matmul_dims(const Shape& a, const Shape& b) {
  const int ra = a.rank(), rb = b.rank();
  if (!((ra == 2 || ra == 3) && rb == 2) && !(ra == 3 && rb == 3))
    throw ShapeError(
        fmt::format("matmul: lhs {} and rhs {}: expected [M,K]x[K,N], [B,M,K]x[B,K,N] or "
                    "[B,M,K]x[K,N]",
                    a, b));
  if (a[-1] != b[-2])
    throw ShapeError(fmt::format("matmul: lhs {} and rhs {}: inner dimensions {} != {}", a, b, a[-1], b[-2]));
  if (rb == 3) {
    if (a[0] != b[0])
      throw ShapeError(fmt::format("matmul: lhs {} and rhs {}: batch sizes {} != {}", a, b, a[0], b[0]));
    return {a[0], a[1], a[2], b[2]};
  }
  const std::int64_t rows = ra == 3 ? a[0] * a[1] : a[0];
  return {1, rows, a[-1], b[-1]};
}

// C[batch] = A[batch] B[batch] (+ C when accumulate); a zero-sized K gives zeros. A product
// large enough is split over the pool's threads by blocks of C (kernels::parallel_gemm); a
// batch of products each too small to split, but large together, by batch entries. Either way
// each entry is computed as on one thread.
template <class T>
void batched_gemm(bool ta, bool tb, std::int64_t batch, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
                  std::int64_t lda, std::int64_t stride_a, const T* b, std::int64_t ldb, std::int64_t stride_b, T beta,
                  T* c, std::int64_t ldc, std::int64_t stride_c) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    if (beta == T(0))
      for (std::int64_t i = 0; i < batch; ++i)
        for (std::int64_t r = 0; r < m; ++r)
          for (std::int64_t j = 0; j < n; ++j) c[i * stride_c + r * ldc + j] = T(0);
    return;
  }
  const auto one = [&](std::int64_t i) {
    kernels::gemm(ta, tb, m, n, k, T(1), a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
  };
  if (batch > 1 && kernels::gemm_split(m, n, k).count < 2) {
    // Entries per part: at least kGemmBlockMacs of work; one part below kGemmForkMacs in all.
    const std::int64_t macs = std::max<std::int64_t>(m * n * k, 1);
    const std::int64_t grain =
        batch * macs < kernels::kGemmForkMacs ? batch : (kernels::kGemmBlockMacs + macs - 1) / macs;
    kernels::parallel_for(batch, grain, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) one(i);
    });
    return;
  }
  for (std::int64_t i = 0; i < batch; ++i)
    kernels::parallel_gemm(ta, tb, m, n, k, T(1), a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c,
                           ldc);
}

void matmul_backward(BackwardContext& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  const MatmulDims d = matmul_dims(a.shape(), b.shape());
  const Tensor& g = ctx.grad_output();
  dispatch(g.dtype(), [&]<class T>() {
    const T* dc = g.data<T>();
    // dA[M,K] (+)= dC[M,N] B^T
    if (ctx.needs_grad(0)) {
      auto [da, first] = ctx.grad_target(0);
      batched_gemm<T>(false, true, d.batch, d.m, d.k, d.n, dc, d.n, d.m * d.n, b.data<T>(), d.n, d.k * d.n,
                      first ? T(0) : T(1), da.data<T>(), d.k, d.m * d.k);
    }
    // dB[K,N] += A^T dC[M,N]
    if (ctx.needs_grad(1))
      batched_gemm<T>(true, false, d.batch, d.k, d.n, d.m, a.data<T>(), d.k, d.m * d.k, dc, d.n, d.m * d.n, T(1),
                      ctx.grad_input(1).data<T>(), d.n, d.k * d.n);
  });
}

struct LinearDims {
  std::int64_t rows, k, n;
};

void linear_backward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved(0);
  const Tensor& w = ctx.saved(1);
  const LinearDims d = ctx.attrs<LinearDims>();
  const Tensor& g = ctx.grad_output();
  dispatch(g.dtype(), [&]<class T>() {
    const T* dy = g.data<T>();
    // dx[R,K] (+)= dY[R,N] W^T
    if (ctx.needs_grad(0)) {
      auto [dx, first] = ctx.grad_target(0);
      batched_gemm<T>(false, true, 1, d.rows, d.k, d.n, dy, d.n, 0, w.data<T>(), d.n, 0, first ? T(0) : T(1),
                      dx.data<T>(), d.k, 0);
    }
    // dW[K,N] += X^T dY[R,N]
    if (ctx.needs_grad(1))
      batched_gemm<T>(true, false, 1, d.k, d.n, d.rows, x.data<T>(), d.k, 0, dy, d.n, 0, T(1),
                      ctx.grad_input(1).data<T>(), d.n, 0);
    // db[N] += column sums of dY
    if (ctx.needs_grad(2)) kernels::add_column_sums(dy, d.n, d.rows, d.n, ctx.grad_input(2).data<T>());
  });
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const MatmulDims d = matmul_dims(a.shape(), b.shape());
  check_same_dtype(a, b, "matmul", "lhs", "rhs");
  Shape out_shape = a.shape();
  out_shape[-1] = d.n;
  Tensor out = Tensor::empty(out_shape, a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    // [M,K] x [K,N] -> [M,N], per batch
    batched_gemm<T>(false, false, d.batch, d.m, d.n, d.k, a.data<T>(), d.k, d.m * d.k, b.data<T>(), d.n, d.k * d.n,
                    T(0), out.data<T>(), d.n, d.m * d.n);
  });
  if (NodeRef node = record("matmul", &matmul_backward, {&a, &b}, out)) node.save(a).save(b);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (xs.rank() < 1 || ws.rank() != 2)
    throw ShapeError(fmt::format("linear: input {} and weight {}: expected input [..., K] and weight [K,N]", xs, ws));
  if (xs[-1] != ws[0])
    throw ShapeError(
        fmt::format("linear: input {} and weight {}: input features {} != weight rows {}", xs, ws, xs[-1], ws[0]));
  check_same_dtype(x, w, "linear", "input", "weight");
  LinearDims d{1, ws[0], ws[1]};
  for (int k = 0; k + 1 < xs.rank(); ++k) d.rows *= xs[k];
  if (b.defined()) {
    if (b.shape() != Shape{d.n})
      throw ShapeError(fmt::format("linear: bias {} for weight {}: expected [{}]", b.shape(), ws, d.n));
    check_same_dtype(w, b, "linear", "weight", "bias");
  }
  Shape out_shape = xs;
  out_shape[-1] = d.n;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    // [R,K] x [K,N] + b -> [R,N], the bias added as the GEMM writes its tiles
    if (d.rows > 0 && d.n > 0)
      kernels::parallel_gemm(false, false, d.rows, d.n, d.k, T(1), x.data<T>(), d.k, w.data<T>(), d.n, T(0),
                             out.data<T>(), d.n, b.defined() ? b.data<T>() : nullptr);
  });
  if (NodeRef node = record("linear", &linear_backward, {&x, &w, &b}, out)) node.save(x).save(w).attrs(d);
  return out;
}

}  // namespace tg
