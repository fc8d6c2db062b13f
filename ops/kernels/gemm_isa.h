#pragma once
/// \file
/// One instruction set's GEMM entry points (gemm_isa.cpp), as gemm.h declares them in
/// tg::kernels: the dispatch table of the path (table_isa.cpp) points to them.

#include <cstdint>

#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/isa_ns.h>

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc, const float* bias,
          std::int64_t ld_bias);
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc,
          const double* bias, std::int64_t ld_bias);
template <class T>
std::int64_t packed_b_size(std::int64_t m, std::int64_t n, std::int64_t k);
template <class T>
void pack_b_for(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* b, std::int64_t ldb, T* packed);
template <class T>
void gemm_packed_b(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
                   const T* packed_b, T beta, T* c, std::int64_t ldc, const T* bias, std::int64_t ld_bias);
template <class T>
PackedPlan<T> plan_packed_b(std::int64_t m, std::int64_t n, std::int64_t k);

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS
