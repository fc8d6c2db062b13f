#pragma once
/// \file
/// Module: the base of every layer and model. A module owns named parameters and named child
/// modules; everything else (parameter lists, counts, train/eval, summaries, saving) walks that
/// tree. A user's layer is a struct that registers its parameters and defines forward:
///
///     struct Affine : tg::Module {
///       Affine(int64_t n) : Module("Affine") {
///         scale = register_parameter("scale", tg::ones({n}));
///         shift = register_parameter("shift", tg::zeros({n}));
///       }
///       tg::Tensor forward(const tg::Tensor& x) override { return x * scale + shift; }
///       tg::Tensor scale, shift;
///     };

#include <tapegrad/core/config.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/core/json.h>

namespace tg {

namespace detail {
/// Set by EvalModeGuard on its thread.
extern constinit thread_local bool t_eval_mode;
}  // namespace detail

/// Evaluation mode for every module on the calling thread while it lives, whatever their own
/// mode: predict and evaluate use it, so that threads sharing a model for inference never write
/// to it (Module::train would).
class EvalModeGuard {
 public:
  EvalModeGuard() : previous_(detail::t_eval_mode) { detail::t_eval_mode = true; }
  ~EvalModeGuard() { detail::t_eval_mode = previous_; }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  bool previous_;
};

/// Input or output dimensions of a layer; -1 stands for a size not known in advance (the batch,
/// or the number of time steps of a recurrent layer), shown as None in summaries.
using Dims = std::vector<std::int64_t>;

/// "(None, 50, 1)".
std::string dims_str(const Dims& dims);

/// The base of layers and models: named parameters, named children, forward.
class Module {
 public:
  /// `type_name` shows in summaries ("Dense", "MyModel").
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  /// Layers are moved into containers: `Sequential(Dense(20), Dense(1))`.
  Module(Module&&) = default;

  /// The computation. Modules with other signatures (several inputs, states) add their own
  /// methods; forward is the one Sequential, fit and predict call.
  virtual Tensor forward(const Tensor& x) = 0;
  /// Builds the module for x's shape if needed, then runs forward.
  Tensor operator()(const Tensor& x);

  // ---- Masking ---------------------------------------------------------------------------------
  // A batch of sequences of different lengths is padded to one length T; its mask, a [B, T]
  // tensor of 1 (a real step) and 0 (padding), travels beside the data, as in Keras. A layer that
  // makes a mask (Embedding with mask_zero, Masking) returns it from compute_mask. Sequential
  // then calls the next layer with operator()(x, mask), which runs forward_masked, and asks that
  // layer for the mask of its own output (compute_mask), and so on: Dense and TimeDistributed
  // pass it on unchanged (each step is computed on its own), a recurrent layer keeps its state
  // across masked steps and passes the mask on only with return_sequences, and a layer that
  // cannot honour a mask (Flatten, RepeatVector) refuses it with a ValueError rather than mix
  // padding into real steps. Without a mask none of this costs anything: operator()(x, {}) is
  // operator()(x), and compute_mask of an undefined mask is undefined, so a model without a
  // mask-making layer records exactly the nodes it recorded before.

  /// Whether forward_masked accepts a mask (false by default, as Keras' supports_masking).
  virtual bool supports_masking() const { return false; }
  /// forward for x [B, T, ...] whose time steps are marked by `mask` [B, T] (defined). Default:
  /// forward(x) when supports_masking (a layer that treats every step alone), else a ValueError
  /// naming the layer.
  virtual Tensor forward_masked(const Tensor& x, const Tensor& mask);
  /// The mask of this layer's output for input x with mask `mask` (undefined: none). Default:
  /// `mask` when supports_masking, else undefined. Unrecorded.
  virtual Tensor compute_mask(const Tensor& x, const Tensor& mask) const;
  /// Builds if needed, then forward(x) when `mask` is undefined and forward_masked(x, mask)
  /// when it is defined.
  Tensor operator()(const Tensor& x, const Tensor& mask);

  /// Creates the parameters that depend on the input size and returns the output dims. Called
  /// once (again only with compatible dims); layers whose parameters do not depend on the input
  /// are built from their constructor.
  Dims build(const Dims& input);
  /// Whether build has run.
  bool built() const { return built_; }
  /// Output dims found by build (empty before).
  const Dims& output_dims() const { return output_dims_; }

  /// "SimpleRNN", "Dense", ...
  const std::string& type_name() const { return type_name_; }
  /// Instance name in summaries and parameter paths ("simple_rnn_1"); set by the parent.
  const std::string& name() const { return name_; }
  /// Sets the instance name.
  void set_name(std::string name) { name_ = std::move(name); }

  /// Parameters of this module and its children, depth first, in registration order.
  std::vector<Tensor> parameters() const;
  /// The same with dotted paths: "0.kernel", "1.cell.recurrent_kernel".
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  /// Direct children with their names.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  /// Own parameters (not the children's) with their names.
  const std::vector<std::pair<std::string, Tensor>>& own_parameters() const { return params_; }
  /// Total number of parameter elements.
  std::int64_t num_parameters() const;

  /// Clears every parameter's gradient (keeps the buffers, set to zero).
  void zero_grad();
  /// Training mode (dropout active) or evaluation mode, for this module and its children.
  void train(bool on = true);
  /// train(false).
  void eval() { train(false); }
  /// Whether in training mode (never while an EvalModeGuard lives on the calling thread).
  bool training() const { return training_ && !detail::t_eval_mode; }

  /// Converts every parameter to `dtype` in place (float64 for gradient checks).
  void to(DType dtype);

  /// A Keras-like table: layer (type), output shape, parameter count, and the totals.
  std::string summary() const;

  // ---- Freezing, walking, copying, describing --------------------------------------------------

  /// Keras' `layer.trainable = on`, for this module and every module under it: a frozen
  /// module's parameters get requires_grad false (and lose any gradient they hold), so backward
  /// gives them no gradient, an optimizer made from parameters() leaves them as they are, and
  /// summary() counts them as non-trainable. Parameters a frozen module makes later (at build)
  /// are frozen too. set_trainable(true) makes them all trainable again.
  void set_trainable(bool on);
  /// Whether set_trainable(false) froze this module (true by default).
  bool trainable() const { return trainable_; }
  /// The parameters that need a gradient (requires_grad), in parameters() order.
  std::vector<Tensor> trainable_parameters() const;

  /// This module (named "") and every module under it, depth first in registration order, with
  /// dotted paths as named_parameters uses them: "", "0", "0.cell", "1", ... (PyTorch's
  /// named_modules). The pointers live as long as the modules.
  /// @{
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  /// @}
  /// Calls fn on every module under this one, children before their parent, then on this
  /// module (PyTorch's apply); returns *this.
  Module& apply(const std::function<void(Module&)>& fn);

  /// A deep copy: a module of the same type and configuration which, when this one is built, is
  /// built for the same input and holds copies of its weights (same values, dtypes and
  /// requires_grad, storage of its own), with the same name, training mode and trainable flag.
  /// Built from clone_unbuilt; ValueError naming the layer when it has none. The default
  /// generator's state is left as it was.
  std::shared_ptr<Module> clone() const;
  /// A new module of this type and configuration, with weights of its own as its constructor
  /// makes them (unbuilt, unless its constructor builds it): what clone copies the weights into
  /// and Bidirectional makes its backward direction from. Every built-in layer and cell has one;
  /// the default throws a ValueError naming the layer (override it in a layer of your own).
  virtual std::shared_ptr<Module> clone_unbuilt() const;

  /// The configuration of this layer as a JSON object (Keras' get_config): what its constructor
  /// takes, children's configurations nested as {"type": ..., "config": ...}. Saved by
  /// save_model; the layer registry (nn/layers/layer_registry.h) builds the layer back from it.
  /// Every built-in layer has one; the default, nullopt, marks a layer that cannot be described.
  virtual std::optional<Json> config() const { return std::nullopt; }

  /// Input dims build was called with (empty before).
  const Dims& input_dims() const { return input_dims_; }

 protected:
  /// Registers a parameter (marked requires_grad, named for graph exports) and returns it.
  Tensor register_parameter(std::string name, Tensor value);
  /// Registers a child module and returns it.
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    if (module->name().empty()) module->set_name(name);
    if (!trainable_) module->set_trainable(false);
    children_.emplace_back(std::move(name), module);
    return module;
  }
  /// Subclasses that create parameters from the input size override this.
  virtual Dims on_build(const Dims& input) { return input; }
  /// Hook for subclasses that cache derived state of their parameters (none by default).
  virtual void on_parameters_changed() {}

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::string type_name_;
  std::string name_;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  Dims input_dims_, output_dims_;
  bool built_ = false;
  bool training_ = true;
  bool trainable_ = true;
};

/// A shared module, as containers hold them.
using ModulePtr = std::shared_ptr<Module>;

/// A layer given by value or by shared_ptr, as a shared_ptr (containers take either).
template <class L>
auto to_module_ptr(L&& layer) {
  using D = std::decay_t<L>;
  if constexpr (requires { typename D::element_type; })
    return std::shared_ptr<typename D::element_type>(std::forward<L>(layer));
  else
    return std::make_shared<D>(std::forward<L>(layer));
}

}  // namespace tg
