#pragma once
/// \file
/// GEMM over plain row-major buffers: C = alpha * op(A) * op(B) + beta * C, where op(A) is
/// [M,K] (A stored [M,K] with leading dimension lda, or [K,M] when trans_a) and op(B) is [K,N].
/// No tensors, no tape. beta = 1 accumulates in place (weight gradients over time steps).

#include <cstdint>

namespace tg::kernels {

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc);

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc);

}  // namespace tg::kernels
