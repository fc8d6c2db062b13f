#pragma once
/// \file
/// Recurrent layers, split as Cell (one time step) -> RNN (a scan over time) -> stacks.
/// A cell is a Module with two methods: `prepare`, the work done once for all steps (the input
/// projection x W + b as one GEMM), and `step`, one time step from the previous states. RNN
/// hands the whole sequence to the cell's `scan`, whose default loops over `step`; the built-in
/// cells override it with a scan op that shares the work of the steps (ops/rnn.h) and still
/// records one node per step. Either way the graph is unrolled on the tape, BPTT is the tape's
/// generic backward, and a user-written cell works in stacks, TimeDistributed and seq2seq models
/// unchanged.

#include <tapegrad/core/config.h>

#include <array>
#include <initializer_list>
#include <vector>

#include <tapegrad/nn/layers/activation.h>
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/ops/rnn.h>

namespace tg {

/// The states a cell carries between steps; states[0] is the step's output. Held inline (at
/// most kMaxStates), so a time step allocates nothing for it: `return {h};`, `return {h, c};`.
class States {
 public:
  /// The most states a cell may carry.
  static constexpr std::size_t kMaxStates = 4;
  States() = default;
  /// `n` undefined states (zeros for the first step).
  explicit States(std::size_t n) { resize(n); }
  /// `{h}`, `{h, c}`.
  States(std::initializer_list<Tensor> states) {
    for (const Tensor& s : states) push_back(s);
  }
  /// Number of states.
  std::size_t size() const { return size_; }
  /// Whether there are none.
  bool empty() const { return size_ == 0; }
  /// State i, unchecked.
  /// @{
  Tensor& operator[](std::size_t i) { return items_[i]; }
  const Tensor& operator[](std::size_t i) const { return items_[i]; }
  /// @}
  /// State i; ValueError when i >= size().
  const Tensor& at(std::size_t i) const;
  /// Appends a state; ValueError past kMaxStates.
  void push_back(Tensor t);
  /// `n` states, the new ones undefined; ValueError past kMaxStates.
  void resize(std::size_t n);
  /// Iteration over the states.
  /// @{
  Tensor* begin() { return items_.data(); }
  Tensor* end() { return items_.data() + size_; }
  const Tensor* begin() const { return items_.data(); }
  const Tensor* end() const { return items_.data() + size_; }
  /// @}

 private:
  std::array<Tensor, kMaxStates> items_;
  std::size_t size_ = 0;
};

/// What RNN asks of a cell's scan over one sequence.
struct ScanOptions {
  /// Number of time steps T of the sequence (x's axis 1).
  std::int64_t steps = 0;
  /// Run the steps from T-1 down to 0 (go_backwards, a Bidirectional's backward half). The
  /// final states are those after step 0; outputs and sequence stay in time order (output t is
  /// the state after the step that read x_t).
  bool reverse = false;
  /// Return the outputs of all steps (states[0]) as one [B, T, features] sequence.
  bool return_sequence = false;
  /// [B, T] or undefined: at a step where mask[b, t] is 0 row b keeps its previous states (see
  /// RNN); the outputs are the kept states.
  Tensor mask;
  /// When set, each step's output (states[0], after masking) is appended to it, in time order.
  std::vector<Tensor>* outputs = nullptr;
};

/// What a cell's scan returns.
struct ScanResult {
  /// The final states (as many as state_sizes()).
  States states;
  /// The [B, T, features] outputs when ScanOptions::return_sequence, else undefined.
  Tensor sequence;
};

/// One time step of a recurrent layer. Subclass it to write a new cell.
class RecurrentCell : public Module {
 public:
  /// `RecurrentCell("MyCell")`: the type name, as for any Module.
  using Module::Module;
  /// Sizes of the state tensors ([B, size] each): SimpleRNN {units}, LSTM {units, units}.
  virtual std::vector<std::int64_t> state_sizes() const = 0;
  /// Features of each step's output (states[0]).
  std::int64_t output_size() const { return state_sizes().at(0); }
  /// Done once before the scan: from x [B, T, F] to whatever `step` reads. Default: x itself.
  virtual Tensor prepare(const Tensor& x) { return x; }
  /// One time step t from `prepare`'s result and the previous states. An undefined state means
  /// zeros (the first step); `zeros_if_undefined` turns it into a tensor when a cell needs one.
  virtual States step(const Tensor& prepared, std::int64_t t, const States& states) = 0;
  /// The whole sequence from `prepare`'s result and the initial states (undefined ones mean
  /// zeros), as RNN runs it. Default: the loop over `step` (with one `masked_update` node per
  /// state and step under a mask, and stack(outputs, 1) for the sequence). A cell may override it
  /// to share work among the steps (the built-in cells pack U once, ops/rnn.h); it must give the
  /// values and gradients of the default.
  virtual ScanResult scan(const Tensor& prepared, const States& initial, const ScanOptions& options);

  /// One step on x [B, F] from zero states (a cell used on its own): returns the output.
  Tensor forward(const Tensor& x) override;
  // A cell that overrides clone_unbuilt (Module: a new, unbuilt cell of this configuration, as
  // `std::make_shared<MyCell>(units_)`) can be cloned and run in Bidirectional(RNN(cell)).

 protected:
  /// `state`, or zeros [batch, size] when it is undefined.
  static Tensor zeros_if_undefined(const Tensor& state, std::int64_t batch, std::int64_t size, DType dtype);
};

/// h_t = activation(x_t W + h_{t-1} U + b), Keras' SimpleRNNCell: W glorot_uniform [F, units],
/// U orthogonal [units, units], one bias zeros [units]. With tanh each step is one fused node,
/// and the steps of a sequence share one packing of U and one dU product (scan: rnn_tanh_scan
/// of ops/rnn.h); other activations, and masked sequences, run the default scan.
class SimpleRNNCell : public RecurrentCell {
 public:
  /// A cell of `units` features; its parameters are made when built.
  explicit SimpleRNNCell(std::int64_t units, Activation activation = activations::tanh);
  std::vector<std::int64_t> state_sizes() const override { return {units_}; }
  Tensor prepare(const Tensor& x) override;
  States step(const Tensor& prepared, std::int64_t t, const States& states) override;
  /// With tanh and no mask, rnn_tanh_scan (ops/rnn.h); otherwise the default.
  ScanResult scan(const Tensor& prepared, const States& initial, const ScanOptions& options) override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;
  /// Number of features of the state.
  std::int64_t units() const { return units_; }
  /// The activation.
  const Activation& activation() const { return activation_; }

  /// W [F, units], U [units, units], b [units]; undefined until built.
  /// @{
  Tensor kernel, recurrent_kernel, bias;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t units_;
  Activation activation_;
};

/// How RNN returns its outputs.
struct RNNOptions {
  /// Output every step's state ([B, T, units]) instead of the last one ([B, units]).
  bool return_sequences = false;
  /// Keep every step's output tensor with its gradient after backward (`step_outputs()`), to
  /// look at dLoss/dh_t over time.
  bool keep_step_outputs = false;
  /// Carry the final states of each call into the next call as its initial states (Keras'
  /// stateful), detached from the tape: the values go on, the graph does not, so a long
  /// sequence fed in chunks is trained by truncated BPTT (nn/recurrent/bptt.h). The batch size must stay
  /// the same from call to call; reset_states() starts again from zeros.
  bool stateful = false;
};

/// Unrolls a cell over the time axis of x [B, T, F]: prepare, then the cell's scan.
///
/// Masks (nn/layers/module.h): at a step where mask[b, t] is 0, row b keeps its previous states (one
/// `masked_update` node per state and step, recorded only when there is a mask) and outputs
/// them again with return_sequences, as Keras. So a padded step changes neither the final
/// states nor any gradient: a padded batch gives, row by row, the numbers of the unpadded
/// sequences run one by one. The steps are still computed for every row (one GEMM for the
/// batch); only their results are dropped.
class RNN : public Module {
 public:
  /// Unrolls `cell`; builds it at the first input.
  explicit RNN(std::shared_ptr<RecurrentCell> cell, RNNOptions options = {});
  Tensor forward(const Tensor& x) override;
  bool supports_masking() const override { return true; }
  /// forward with a mask [B, T] of x's steps (ShapeError for another shape).
  Tensor forward_masked(const Tensor& x, const Tensor& mask) override;
  /// With return_sequences the input's mask (the outputs keep x's steps); otherwise none.
  Tensor compute_mask(const Tensor& x, const Tensor& mask) const override;
  /// Runs the scan from given initial states; returns the outputs and the final states. A
  /// defined `mask` [B, T] skips the masked steps row by row (see above). With `reverse` the
  /// steps run from the last to the first (the backward half of a Bidirectional): the final
  /// states are those after step 0, and the outputs of return_sequences stay in time order
  /// (output t is the state after the step that read x_t).
  std::pair<Tensor, States> forward_with_states(const Tensor& x, const States& initial, const Tensor& mask = {},
                                                bool reverse = false);

  /// The cell it unrolls.
  /// @{
  RecurrentCell& cell() { return *cell_; }
  const RecurrentCell& cell() const { return *cell_; }
  /// @}
  /// An RNN (of this type name) around the cell's clone_unbuilt, with the same options.
  std::shared_ptr<Module> clone_unbuilt() const override;
  /// The options (rnn_options_config) and {"cell": the cell's description}.
  std::optional<Json> config() const override;
  /// The options it was made with.
  const RNNOptions& options() const { return options_; }
  /// The outputs h_t of the last forward (kept only with keep_step_outputs); after backward
  /// their grad() holds dLoss/dh_t.
  const std::vector<Tensor>& step_outputs() const { return step_outputs_; }
  /// Turns keep_step_outputs on or off from the next forward (for a layer inside a model).
  void set_keep_step_outputs(bool on) { options_.keep_step_outputs = on; }
  /// ||dLoss/dh_t|| for every step t of the last forward, over the whole batch (the Frobenius
  /// norm of the [B, units] gradient): one value per step, 0 for a step no gradient reached.
  /// Needs keep_step_outputs and a backward since that forward; GraphError without them.
  std::vector<double> step_gradient_norms() const;

  /// Turns stateful on or off (see RNNOptions::stateful); turning it off forgets the states.
  void set_stateful(bool on);
  /// Forgets the carried states: the next call starts from zeros.
  void reset_states() { carried_ = States(); }
  /// The states carried into the next call (empty before the first stateful call or after
  /// reset_states), detached from the tape.
  const States& carried_states() const { return carried_; }

 protected:
  Dims on_build(const Dims& input) override;
  /// For subclasses that show their own type name (SimpleRNN).
  RNN(std::string type_name, std::shared_ptr<RecurrentCell> cell, RNNOptions options);

 private:
  std::shared_ptr<RecurrentCell> cell_;
  RNNOptions options_;
  std::vector<Tensor> step_outputs_;
  States carried_;            // final states of the last call, when stateful
  std::size_t n_states_ = 0;  // the cell's state count, known once built
};

/// Keras' SimpleRNN(units, activation = tanh, return_sequences = false).
class SimpleRNN : public RNN {
 public:
  /// An RNN of a SimpleRNNCell(units, activation).
  explicit SimpleRNN(std::int64_t units, RNNOptions options = {}, Activation activation = activations::tanh);
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;
};

/// {"return_sequences": ..., "stateful": ...}: the options a config keeps (keep_step_outputs,
/// a diagnostic, is not kept).
Json rnn_options_config(const RNNOptions& options);
/// The options read back from a config (rnn_options_config's members); ValueError naming `layer`.
RNNOptions rnn_options_from_config(const Json& config, std::string_view layer);

}  // namespace tg
