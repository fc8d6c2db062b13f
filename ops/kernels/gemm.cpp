#include "ops/kernels/gemm.h"

namespace tg::kernels {

namespace {
template <class T>
void gemm_ref(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
              std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0))
      for (std::int64_t j = 0; j < n; ++j) ci[j] = T(0);
    else if (beta != T(1))
      for (std::int64_t j = 0; j < n; ++j) ci[j] *= beta;
    for (std::int64_t p = 0; p < k; ++p) {
      T av = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
      if (!tb) {
        const T* bp = b + p * ldb;
        for (std::int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
      } else {
        for (std::int64_t j = 0; j < n; ++j) ci[j] += av * b[j * ldb + p];
      }
    }
  }
}
}  // namespace

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tg::kernels
