#pragma once
/// \file
/// Optimizer: the base of every update rule. An optimizer holds a list of parameter tensors
/// (usually `model.parameters()`), in one or more groups; `step()` reads each parameter's
/// gradient and updates the parameter in place. optim/ sees tensors and their gradients only,
/// never modules.
///
///     tg::Adam opt(model.parameters(), 0.005);
///     opt.zero_grad();
///     tg::mse(y, model(x)).backward();
///     opt.step();
///
/// Groups give parts of a model their own learning rate and weight decay, as torch's
/// param_groups do:
///
///     tg::AdamW opt({{.params = encoder.parameters(), .lr = 1e-4},
///                    {.params = head.parameters(), .weight_decay = 0.0}},
///                   1e-3, 0.01);  // the base rate and weight decay of groups that set none
///
/// Which parameters a step updates: every parameter that requires grad. One that has no gradient
/// this step (no path from the loss reached it, or tapegrad skipped work whose gradient is zero,
/// such as an RNN's recurrent kernel on a one-step sequence from a zero state) is updated as with
/// a zero gradient. That is what PyTorch does after zero_grad(set_to_none =
/// False), its 1.13 default, where such a parameter's gradient is a zero tensor: momenta and
/// moving averages decay, weight decay applies and Adam counts the step. A parameter with
/// requires_grad false (frozen: Module::set_trainable(false), requires_grad_(false)) is skipped,
/// even if it holds a gradient, and its state is left as it was, as Keras leaves a layer that is
/// not trainable.
///
/// A step records nothing on the tape. State buffers (momenta, moving averages) are created at a
/// parameter's first update and updated in place afterwards, so a warm step allocates nothing.

#include <tapegrad/core/config.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

class Optimizer;

/// Parameters that share a learning rate and a weight decay (torch's param_groups). An unset
/// rate or weight decay takes the optimizer's (the arguments after the groups).
struct ParamGroup {
  /// The group's parameters.
  std::vector<Tensor> params = {};
  /// Its learning rate; unset: the optimizer's.
  std::optional<double> lr = std::nullopt;
  /// Its weight decay; unset: the optimizer's.
  std::optional<double> weight_decay = std::nullopt;
};

/// A copy of an optimizer's state: its step count and every state buffer of its update rule
/// (momentum buffers, moving averages, per-parameter step counts). Optimizer::save_state makes it
/// and Optimizer::restore_state puts it back, so a step can be undone exactly (fit does so when a
/// step spoils the weights). Saving into the same copy again reuses its buffers: once it has
/// seen every buffer, a save allocates nothing. Learning rates and weight decays are not part of
/// it (a step does not change them); OptimizerStateDict holds them too.
class OptimizerState {
 private:
  friend class Optimizer;
  const Optimizer* owner_ = nullptr;
  std::int64_t iterations_ = 0;
  std::vector<Tensor> tensors_;         // [tracked buffer k][parameter i] at k * count + i
  std::vector<unsigned char> defined_;  // whether the optimizer's buffer existed when saved
  std::vector<std::int64_t> counters_;
};

/// An optimizer's whole state as named entries, to be written to a file (a checkpoint) and read
/// back into an optimizer built the same way: Optimizer::state_dict and load_state_dict. Names:
///
///     tensors   "state.<i>.<buffer>"   buffer of parameter i, as torch names it: "exp_avg" and
///                                      "exp_avg_sq" (Adam, AdamW), "momentum_buffer" (SGD),
///                                      "square_avg" (RMSprop); absent before i's first update
///     counters  "iterations"           step() calls so far
///               "parameters", "groups", "group.<g>.parameters"   the layout, checked on load
///               "state.<i>.step"       Adam's and AdamW's step count of parameter i
///     values    "lr"                   the base learning rate
///               "group.<g>.lr", "group.<g>.lr_factor", "group.<g>.weight_decay"
///
/// The tensors are copies: stepping the optimizer afterwards does not change them.
struct OptimizerStateDict {
  /// Optimizer::name() of the optimizer it came from.
  std::string optimizer;
  /// The state buffers by torch's names (`state.<i>.exp_avg`, ...).
  std::vector<std::pair<std::string, Tensor>> tensors;
  /// The counters (iterations, the layout, `state.<i>.step`).
  std::vector<std::pair<std::string, std::int64_t>> counters;
  /// The rates and weight decays (the base rate and each group's).
  std::vector<std::pair<std::string, double>> values;
};

/// The base of SGD, Adam, AdamW and RMSprop: parameter groups and an update rule.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates the parameters that require grad (see the file comment), under NoGradGuard, and marks each
  /// one written in place (Tensor::increment_version): a graph recorded before the step and not
  /// yet backwarded refuses the new weights. Throws ShapeError when a gradient does not have its
  /// parameter's shape and dtype (a parameter reshaped after backward).
  void step();
  /// Sets the gradient of every parameter to zero, keeping the buffers.
  void zero_grad();

  /// The base learning rate: the rate of every group made without its own.
  double learning_rate() const { return lr_; }
  /// Sets the base learning rate from the next step on, and every group's to `lr` times its
  /// factor (its rate over the base rate when it was made or last set), so a schedule that sets
  /// the base rate each epoch scales every group alike, as torch's schedulers scale each group's
  /// initial rate. Groups without their own rate take `lr` exactly. ValueError unless lr > 0 and
  /// finite.
  void set_learning_rate(double lr);

  /// The parameters this optimizer updates: the groups' parameters, group after group, in the
  /// order given. A parameter's index in this list is its index everywhere else.
  const std::vector<Tensor>& parameters() const { return params_; }
  /// Number of step() calls so far.
  std::int64_t iterations() const { return iterations_; }
  /// "SGD", "Adam", "AdamW", "RMSprop".
  const std::string& name() const { return name_; }

  /// The weight decay of every group made without its own (0: none).
  double weight_decay() const { return weight_decay_; }

  /// Number of parameter groups (1 when made from a plain parameter list).
  std::size_t group_count() const { return groups_.size(); }
  /// Group `g`'s parameters, its learning rate, its factor (rate / base rate) and its weight
  /// decay. ValueError when g >= group_count().
  /// @{
  std::span<const Tensor> group_parameters(std::size_t g) const;
  double group_learning_rate(std::size_t g) const { return group(g).lr; }
  double group_lr_factor(std::size_t g) const { return group(g).lr_factor; }
  double group_weight_decay(std::size_t g) const { return group(g).weight_decay; }
  /// @}
  /// Sets group `g`'s learning rate, and so its factor to lr / learning_rate(): later calls of
  /// set_learning_rate scale it from there. ValueError unless lr > 0 and finite.
  void set_group_learning_rate(std::size_t g, double lr);
  /// The group of parameter `index`.
  std::size_t group_of(std::size_t index) const { return group_of_.at(index); }

  /// Copies the step count and the state of the update rule into `into` (see OptimizerState).
  void save_state(OptimizerState& into) const;
  /// Puts back a state saved from this optimizer: buffers that did not exist then are dropped,
  /// so the next step treats their parameters as new again. ValueError for a state saved from
  /// another optimizer or never saved.
  void restore_state(const OptimizerState& from);
  /// Whether the state kept for parameter `index` holds only finite values (true before its
  /// first step and for a rule without state). An overflow there (Adam's g^2 for |g| > 1.8e19
  /// in float32) would silently freeze the parameter: its updates would be 0 from then on.
  bool state_is_finite(std::size_t index) const;

  /// The whole state as named entries (see OptimizerStateDict), copies of the buffers.
  OptimizerStateDict state_dict() const;
  /// Puts back a state_dict() of an optimizer of the same kind built over parameters of the same
  /// shapes, dtypes and groups. Checks everything before changing anything: ValueError naming
  /// the entry for another optimizer kind, another layout (parameter or group counts), a buffer
  /// whose shape or dtype is not its parameter's, an unknown, repeated or missing name, a
  /// parameter with only some of its buffers, or a value out of range.
  void load_state_dict(const OptimizerStateDict& dict);

 protected:
  /// Checks the groups (at least one; each non-empty; parameters defined and in no group twice;
  /// rates > 0 and weight decays >= 0, finite) and the base rate and weight decay, naming `name`
  /// in the errors.
  Optimizer(std::string name, std::vector<ParamGroup> groups, double lr, double weight_decay);
  /// One group of `params` that takes the optimizer's rate and weight decay.
  static std::vector<ParamGroup> one_group(std::vector<Tensor> params);

  /// Updates parameter `index` with its group's learning rate `lr` and weight decay
  /// `weight_decay`. `grad` matches the parameter, or is undefined for a parameter that requires
  /// grad but has no gradient this step: the rule then updates as with a zero gradient.
  virtual void update(std::size_t index, Tensor& param, const Tensor& grad, double lr, double weight_decay) = 0;

  /// Makes `state` a zero tensor of `param`'s shape and dtype unless it already is one of that
  /// shape and dtype (first step, or the parameter was converted); returns true when it did.
  static bool ensure_state(Tensor& state, const Tensor& param);

  /// Calls `body.template operator()<has_grad, decay>()` with the two flags as constants, so the
  /// loops of an update rule are compiled without a branch per element.
  template <class Body>
  static void with_flags(bool has_grad, bool decay, Body&& body) {
    if (has_grad) {
      if (decay)
        body.template operator()<true, true>();
      else
        body.template operator()<true, false>();
    } else {
      if (decay)
        body.template operator()<false, true>();
      else
        body.template operator()<false, false>();
    }
  }

  /// ValueError "<name>: <what> must be <rule>, got <value>" unless `ok`.
  void require(bool ok, const char* what, const char* rule, double value) const;

  /// Registers state of the update rule, one entry per parameter, under `name` (its name in
  /// state_dict), for save_state, restore_state, state_is_finite, state_dict and load_state_dict.
  /// Call from the constructor with a member that is sized to the parameter count there and
  /// never resized afterwards (its address must not change).
  /// @{
  void track_state(std::vector<Tensor>& per_parameter, std::string name);
  void track_state(std::vector<std::int64_t>& per_parameter, std::string name);
  /// @}

 private:
  struct Group {
    std::size_t begin, end;  // its parameters are params_[begin, end)
    double lr, lr_factor, weight_decay;
  };
  const Group& group(std::size_t g) const;

  std::string name_;
  std::vector<Tensor> params_;
  std::vector<Group> groups_;
  std::vector<std::size_t> group_of_;
  double lr_, weight_decay_;
  std::int64_t iterations_ = 0;
  std::vector<std::pair<std::vector<Tensor>*, std::string>> tensor_state_;
  std::vector<std::pair<std::vector<std::int64_t>*, std::string>> counter_state_;
};

}  // namespace tg
