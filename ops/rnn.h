#pragma once
/// \file
/// The fused time step of a tanh RNN: one node per step instead of four (select, matmul, add,
/// tanh). BPTT still comes from the tape: each step is an ordinary node that reads h_{t-1}.

#include <tapegrad/core/config.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include <tapegrad/core/tensor.h>

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
///   each step also writes h_t into the sequence buffer [B,T,H] (rows [:, t, :]);
/// - backward: each step's rule computes dz_t = dh_t (1 - h_t^2) and dh_{t-1} = dz_t U^T (U^T
///   packed once too) and leaves dz_t in rows [:, t, :] of a [B,T,H] buffer; the rule of the
///   sequence's first step, which the reverse walk reaches last, then adds dU = sum_t h_{t-1}^T
///   dz_t as one GEMM over all steps (K = B*T instead of T products with K = B), reading the
///   h_{t-1} from the sequence buffer a row behind, and hands the dz buffer over as d xw, which
///   has that very layout (no copy).
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
///
/// Threads step their sequences through one scan at once (a model shared by threads for
/// inference): each thread has its own cache, up to four threads; more run as rnn_tanh_step.
class RnnTanhScan {
 public:
  RnnTanhScan() = default;
  /// A copy starts with no cache.
  RnnTanhScan(const RnnTanhScan&) {}
  /// An assigned scan keeps its own cache (and so its threads' places in it).
  RnnTanhScan& operator=(const RnnTanhScan&) { return *this; }

  /// h_t = tanh(xw[:, t, :] + h_prev U), as rnn_tanh_step.
  Tensor step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u);
  /// The step outputs as one sequence [B,T,H]: stack(outputs, 1), without the copies when
  /// `outputs` are this scan's steps 0 .. T-1 of the current sequence, in order. The steps wrote
  /// their rows of it as they went; in backward its rule keeps dY, the rule of step t adds
  /// dY[:, t-1, :] to the gradient of h_{t-1} as it writes dz_t U^T there, and only the last
  /// step's share goes through the sequence node (no split into T gradients). A step output's
  /// retained gradient (Tensor::retain_grad) is therefore all of dLoss/dh_t, as with stack.
  Tensor sequence(std::span<const Tensor> outputs);

 private:
  using State = std::shared_ptr<detail::RnnScanState>;
  static void begin(State& state, const Tensor& xw, const Tensor& u);
  static bool continues(const detail::RnnScanState& st, const Tensor& xw, std::int64_t t, const Tensor& h_prev,
                        const Tensor& u);
  static bool is_output(const detail::RnnScanState& st, const Tensor& h, std::int64_t t);  // step t's output
  State* cache();  // the calling thread's, or null when all are taken
  struct ThreadCache {
    std::atomic<std::uint32_t> home{0};  // the thread's home id (core/storage.h)
    State state;
  };
  std::array<ThreadCache, 4> caches_;
};

}  // namespace tg
