#pragma once
/// \file
/// Recurrent steps and scans. `rnn_tanh_step` is one fused tanh-RNN time step (one node instead
/// of select, matmul, add and tanh). The scans run a built-in cell over a whole sequence with the
/// work its steps share done once, and still record ONE NODE PER STEP: the graph stays unrolled,
/// and BPTT is the tape's generic backward.
///
/// What a scan shares among the steps of one call:
/// - forward: the recurrent kernel U is packed once for the products h_{t-1} U (and U^T for the
///   backward products dz_t U^T), with one GEMM plan each; every step writes h_t into a sequence
///   buffer [B, T, u] (rows [:, t, :]), from which a tanh step's rule reads h_t back, so that its
///   node keeps no step output alive (one [B, T, u] less per layer while the graph lives);
/// - backward: each step's rule leaves the gradient of its pre-activations dz_t in rows
///   [:, t, :] of a [B, T, G] buffer (G the gate width: u, 4u, 3u), the layout of xw; the rule of
///   the scan's first step, which the reverse walk reaches last, then adds dU = sum_t
///   h_{t-1}^T dz_t as ONE GEMM over all steps (K = B*T instead of T products with K = B),
///   reading the h_{t-1} from the sequence buffer a row behind (ahead when reversed), and hands
///   the dz buffer over as d xw (no copy);
/// - the [B, T, u] sequence of the outputs (ScanSpec::sequence) is that buffer, handed out
///   without stacking copies: in backward its rule keeps dY, the rule of each step adds the
///   previous step's share dY[:, t', :] to that step's gradient as it writes dz_t U^T there, and
///   only the last step's share goes through the sequence node, whose one input is the last
///   step's output (the step outputs die as the scan goes, unless ScanSpec::outputs keeps them).
///   A step output's retained gradient (Tensor::retain_grad) is therefore all of dLoss/dh_t, as
///   with stack.
///
/// The state of a scan lives in the call and in the nodes it records: models shared by threads
/// run their scans side by side. Buffers come from a per-thread reuse list, so a warm training
/// step allocates nothing. U must not change in place between a scan and its backward (the
/// rule of the last step checks its version).

#include <tapegrad/core/config.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// h_t = tanh(xw[:, t, :] + h_prev U), with xw = x W + b precomputed for all steps ([B,T,H]),
/// h_prev [B,H] (undefined means zeros: the first step skips the product) and U [H,H].
Tensor rnn_tanh_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u);

/// How a scan runs over the time steps, and what it hands back besides the final states.
struct ScanSpec {
  /// Steps from T-1 down to 0 (go_backwards, the backward half of a Bidirectional). The final
  /// states are those after step 0; outputs and sequence stay in time order (output t is the
  /// state after the step that read xw[:, t, :]).
  bool reverse = false;
  /// Also return every step's output as one [B, T, u] sequence, in time order.
  bool sequence = false;
  /// When set, each step's output h_t is appended to it, in time order.
  std::vector<Tensor>* outputs = nullptr;
};

/// What rnn_tanh_scan and gru_scan return.
struct ScanOutput {
  /// The final state h [B, u].
  Tensor h;
  /// The outputs [B, T, u] (ScanSpec::sequence), else undefined.
  Tensor sequence;
};

/// What lstm_scan returns.
struct LSTMScanOutput {
  /// The final states h and c [B, u].
  /// @{
  Tensor h, c;
  /// @}
  /// The outputs h_t as [B, T, u] (ScanSpec::sequence), else undefined.
  Tensor sequence;
};

/// rnn_tanh_step over all T steps of xw [B, T, H] from h0 ([B, H]; undefined: zeros), one node
/// per step, U [H, H] packed once (see the file comment). The values and gradients are those of
///
///     Tensor h = h0;
///     for (std::int64_t t = 0; t < T; ++t) h = rnn_tanh_step(xw, t, h, u);
ScanOutput rnn_tanh_scan(const Tensor& xw, const Tensor& h0, const Tensor& u, const ScanSpec& spec = {});

/// lstm_step (ops/gated.h) over all T steps of xw [B, T, 4u] from h0, c0 ([B, u]; undefined:
/// zeros), one node per step (outputs h_t and c_t), U [u, 4u] packed once.
LSTMScanOutput lstm_scan(const Tensor& xw, const Tensor& h0, const Tensor& c0, const Tensor& u,
                         const ScanSpec& spec = {});

/// gru_step (ops/gated.h, reset_after = true) over all T steps of xw [B, T, 3u] from h0 ([B, u];
/// undefined: zeros), one node per step, U [u, 3u] packed once; `bias` is Keras' [2, 3u] GRU
/// bias, of which the steps read and differentiate row 1 (the recurrent one).
ScanOutput gru_scan(const Tensor& xw, const Tensor& h0, const Tensor& u, const Tensor& bias, const ScanSpec& spec = {});

namespace detail {
/// The units u of a recurrent op `op` whose projected inputs xw are [B, T, gates * u] and whose
/// recurrent kernel U is [u, gates * u], after checking every operand against them: ShapeError
/// or DTypeError naming `op`. `states` ([B, u] each, undefined allowed) are named
/// "<state_word> state" in the messages ("initial" for a scan, "previous" for a step). The steps
/// (lstm_step, gru_step) and the scans share it.
std::int64_t check_recurrent_operands(const char* op, int gates, const Tensor& xw,
                                      std::initializer_list<const Tensor*> states, const Tensor& u,
                                      const char* state_word);
}  // namespace detail

}  // namespace tg
