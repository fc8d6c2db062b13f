// One instruction set's dispatch table (dispatch.h): compiled once per path with that path's
// -march, like the kernels it points to.
#include <tapegrad/ops/kernels/conv_isa.h>
#include <tapegrad/ops/kernels/dispatch.h>
#include <tapegrad/ops/kernels/gated_isa.h>
#include <tapegrad/ops/kernels/gemm_isa.h>
#include <tapegrad/ops/kernels/isa_ns.h>
#include <tapegrad/ops/kernels/rows_isa.h>
#include <tapegrad/ops/kernels/unary_isa.h>

#include <cstddef>
#include <cstdint>

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

namespace {

// The header templates as plain functions of one element type: their addresses go to the table.
template <class T>
void spread_rows_fn(const T* src, T* dst, std::int64_t dst_stride, std::int64_t rows, std::int64_t cols) {
  spread_rows(src, dst, dst_stride, rows, cols);
}
template <class T>
void tanh_forward_fn(const T* x, T* y, std::int64_t n) {
  tanh_forward(x, y, n);
}
template <class T>
void sigmoid_forward_fn(const T* x, T* y, std::int64_t n) {
  sigmoid_forward(x, y, n);
}
template <class T>
void gemm_fn(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
             const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc, const T* bias, std::int64_t ld_bias) {
  gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
}

template <class T>
constexpr kernels::detail::TypedKernels<T> typed() {
  return {
      &gemm_fn<T>,
      &packed_b_size<T>,
      &pack_b_for<T>,
      &gemm_packed_b<T>,
      &plan_packed_b<T>,
      &copy_rows<T>,
      &add_rows<T>,
      &spread_rows_fn<T>,
      &add_column_sums<T>,
      &squared_error_sum<T>,
      &scaled_difference<T>,
      &tanh_forward_fn<T>,
      &tanh_forward_spread<T>,
      &tanh_grad_rows<T>,
      &tanh_backward<T>,
      &tanh_grad_inplace<T>,
      &sigmoid_forward_fn<T>,
      &sigmoid_backward<T>,
      &sigmoid_grad_inplace<T>,
      &lstm_gates_forward<T>,
      &lstm_gates_backward<T>,
      &gru_gates_forward<T>,
      &gru_gates_backward<T>,
      &im2col_1d<T>,
      &col2im_1d_add<T>,
  };
}

}  // namespace

extern const kernels::detail::KernelTable table;
const kernels::detail::KernelTable table = {
    Isa::TAPEGRAD_KERNEL_NS,
    typed<float>(),
    typed<double>(),
    &gather_rows,
};

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS
