#pragma once
/// \file
/// The fused time step of a tanh RNN: one node per step instead of four (select, matmul, add,
/// tanh). BPTT still comes from the tape: each step is an ordinary node that reads h_{t-1}.

#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace tg {

namespace detail {
struct RnnScanState;
}

/// h_t = tanh(xw[:, t, :] + h_prev U), with xw = x W + b precomputed for all steps ([B,T,H]),
/// h_prev [B,H] (undefined means zeros: the first step skips the product) and U [H,H].
Tensor rnn_tanh_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u);

/// The same steps over one sequence, with the work they share done once (what SimpleRNN runs).
/// A scan is a cache that lives across sequences (a cell keeps one):
/// - forward: U is packed for the steps' products h_{t-1} U once per sequence, not per step;
/// - backward: each step's rule computes dz_t = dh_t (1 - h_t^2) and dh_{t-1} = dz_t U^T (U^T
///   packed once too) and leaves dz_t in the scan; the rule of the sequence's first step, which
///   the reverse walk reaches last, then adds dU = sum_t h_{t-1}^T dz_t as one GEMM over all
///   steps (K = T*B instead of T products with K = B) and d xw in one pass.
/// Every step is still its own node reading h_{t-1}, xw and U: BPTT remains the tape's generic
/// backward, and the results equal rnn_tanh_step's.
///
///     RnnTanhScan scan;
///     Tensor h;                                      // undefined: zeros
///     for (std::int64_t t = 0; t < T; ++t) h = scan.step(xw, t, h, u);
///
/// A new sequence begins with another xw. A step that does not continue the chain (not the step
/// after the previous one, or an h_prev that is not its output) runs as rnn_tanh_step.
/// U must not change in place while a sequence is being stepped.
class RnnTanhScan {
 public:
  /// h_t = tanh(xw[:, t, :] + h_prev U), as rnn_tanh_step.
  Tensor step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u);

 private:
  void begin(const Tensor& xw, const Tensor& u);
  bool continues(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u) const;
  std::shared_ptr<detail::RnnScanState> state_;
};

}  // namespace tg
