#pragma once
/// \file
/// Looking at and controlling backpropagation through time in a model without rewriting it:
/// find its recurrent layers, record ||dLoss/dh_t|| for every step, and train long sequences by
/// truncated BPTT.
///
/// Gradient norms over time (the vanishing gradient of a SimpleRNN):
///
///     tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(20), tg::Dense(1));
///     std::vector<tg::RNN*> rnns = tg::track_step_gradients(model);
///     tg::mse(y, model(x)).backward();
///     std::vector<double> norms = rnns[0]->step_gradient_norms();  // one per time step
///
/// Truncated BPTT: a sequence of T steps is fed in chunks of k steps; the recurrent layers carry
/// their final states from one chunk into the next (RNNOptions::stateful) but detached, so the
/// gradient of chunk c flows back through its own k steps only:
///
///     tg::Adam adam(model.parameters());
///     std::vector<double> losses = tg::train_truncated_bptt(model, x, y, {.k = 25, .optimizer = &adam});

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/training/losses.h>
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/nn/recurrent/rnn.h>
#include <tapegrad/optim/optimizer.h>

namespace tg {

/// Every recurrent layer (RNN and its subclasses) in `model`, the model itself included, depth
/// first in registration order: for a Sequential, in layer order.
std::vector<RNN*> recurrent_layers(Module& model);

/// Turns keep_step_outputs on (or off) for every recurrent layer of `model` from its next
/// forward, so that each layer's step_gradient_norms() is available after a backward. Returns
/// those layers; ValueError when the model has none.
std::vector<RNN*> track_step_gradients(Module& model, bool on = true);

/// Forgets the carried states of every stateful recurrent layer of `model`.
void reset_states(Module& model);

/// How train_truncated_bptt cuts and trains a sequence.
struct TruncatedBPTTOptions {
  /// Time steps per chunk (k >= 1); the last chunk keeps the remainder. k >= T is full BPTT.
  std::int64_t k = 0;
  /// Stepped once per chunk by a TrainStep (nn/training/train_step.h), the step fit takes:
  /// gradients zeroed, forward, loss, backward, the checks (a non-finite loss, gradient or update
  /// stops with a ValueError naming the chunk, the weights and the optimizer's state as before
  /// that chunk), update. Null: nothing is updated and the gradients of all chunks add up in the parameters' grad()
  /// (zeroed once at the start), to look at them.
  Optimizer* optimizer = nullptr;
  /// The loss of one chunk: loss(y chunk, model(x chunk)).
  LossFn loss = mse;
};

/// Trains `model` on one batch of long sequences x [B, T, F] with targets y [B, T, ...] (one
/// target per step: the model returns sequences) by truncated BPTT. For each chunk
/// [c, c + k) of the time axis: forward on x[:, c:c+k] from the states the previous chunk left,
/// loss against y[:, c:c+k], backward, optimizer step. The states pass from chunk to chunk by
/// value only (detached), so no gradient crosses a chunk boundary and the tape never holds more
/// than k steps.
///
/// Every recurrent layer is made stateful for the call and starts from zero states; afterwards
/// each gets its previous stateful setting back, and those that were not stateful forget the
/// states. Returns the loss of each chunk. ValueError for k < 1 or a model without recurrent
/// layers; ShapeError when x is not [B, T, F] or y does not have x's batch and time sizes.
std::vector<double> train_truncated_bptt(Module& model, const Tensor& x, const Tensor& y,
                                         const TruncatedBPTTOptions& options);

}  // namespace tg
