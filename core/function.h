#pragma once
/// \file
/// Custom differentiable ops. Write a struct with a static forward and backward; `apply` runs
/// forward without recording the ops inside it and records one node whose backward rule is yours:
///
///     struct Softplus : tg::Function<Softplus> {
///       static constexpr const char* name = "softplus";
///       static tg::Tensor forward(tg::FunctionCtx& ctx, const tg::Tensor& x) {
///         ctx.save_for_backward({x});
///         return tg::log(1.0 + tg::exp(x));
///       }
///       static tg::tensor_list backward(tg::FunctionCtx& ctx, const tg::tensor_list& grads) {
///         return {grads[0] * tg::sigmoid(ctx.saved_tensors()[0])};
///       }
///     };
///     tg::Tensor y = Softplus::apply(x);
///
/// backward returns one gradient per Tensor argument of forward (an undefined Tensor for none);
/// the library checks their number, shapes and dtypes and names the function when they are off.

#include <tapegrad/core/config.h>

#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

/// The gradients a custom backward returns, and the outputs of a multi-output forward.
using tensor_list = std::vector<Tensor>;

/// What a custom function's forward leaves for its backward.
class FunctionCtx {
 public:
  /// Keeps tensors for backward (their elements, not their graph).
  void save_for_backward(const tensor_list& tensors) {
    saved_.clear();
    for (const Tensor& t : tensors) saved_.push_back(t.defined() ? t.detach() : Tensor());
  }
  /// The tensors given to save_for_backward, in order.
  const tensor_list& saved_tensors() const { return saved_; }
  /// Whether the i-th Tensor argument needs a gradient.
  bool needs_input_grad(int i) const { return needs_grad_.at(static_cast<std::size_t>(i)); }
  /// Plain values for backward: `ctx.saved_data["beta"] = beta;`.
  std::unordered_map<std::string, double> saved_data;

 private:
  template <class F>
  friend struct Function;
  tensor_list saved_;
  std::vector<bool> needs_grad_;
};

namespace detail {
template <class T>
constexpr bool is_tensor_v = std::is_same_v<std::remove_cvref_t<T>, Tensor>;

template <class F>
constexpr const char* function_name() {
  if constexpr (requires { F::name; })
    return F::name;
  else
    return "custom_function";
}
}  // namespace detail

/// Base of a user-defined differentiable op (CRTP: `struct MyOp : tg::Function<MyOp>`).
template <class F>
struct Function {
  template <class... Args>
  /// Runs `F::forward(ctx, args...)` without recording and records one node whose backward is
  /// `F::backward`. Returns forward's Tensor or tensor_list.
  static auto apply(Args&&... args) {
    auto ctx = std::make_shared<FunctionCtx>();
    tensor_list inputs;
    (
        [&](const auto& a) {
          if constexpr (detail::is_tensor_v<decltype(a)>) {
            inputs.push_back(a);
            ctx->needs_grad_.push_back(a.defined() && a.requires_grad());
          }
        }(args),
        ...);
    using Result = decltype(F::forward(*ctx, std::forward<Args>(args)...));
    static_assert(std::is_same_v<Result, Tensor> || std::is_same_v<Result, tensor_list>,
                  "Function::forward must return a Tensor or a tensor_list");
    Result result;
    {
      NoGradGuard no_grad;
      result = F::forward(*ctx, std::forward<Args>(args)...);
    }
    tensor_list outputs;
    if constexpr (std::is_same_v<Result, Tensor>)
      outputs.push_back(std::move(result));
    else
      outputs = std::move(result);
    for (Tensor& out : outputs) {
      if (!out.defined())
        throw GraphError(fmt::format("{}.forward returned an undefined tensor", detail::function_name<F>()));
      // An output that is an input (or already on the tape) gets its own handle.
      if (!out.is_leaf() || out.requires_grad()) out = out.view(out.shape());
      for (const Tensor& in : inputs)
        if (out.is_same(in)) out = out.view(out.shape());
    }
    if (NodeRef node = record(detail::function_name<F>(), &backward_rule, inputs, outputs)) {
      std::uint32_t index = node.keep(ctx);
      node.attrs(Attrs{index, static_cast<std::uint32_t>(outputs.size())});
    }
    if constexpr (std::is_same_v<Result, Tensor>)
      return outputs[0];
    else
      return outputs;
  }

 private:
  struct Attrs {
    std::uint32_t ctx_index, n_outputs;
  };

  static void backward_rule(BackwardContext& b) {
    auto& ctx = *static_cast<FunctionCtx*>(b.object(b.attrs<Attrs>().ctx_index));
    tensor_list grads;
    for (int i = 0; i < b.num_outputs(); ++i) {
      const Tensor& g = b.grad_output(i);
      grads.push_back(g.defined() ? g : zeros(b.output_shape(i), b.output_dtype(i)));
    }
    tensor_list in_grads = F::backward(ctx, grads);
    if (static_cast<int>(in_grads.size()) != b.num_inputs())
      throw GraphError(fmt::format("{}.backward returned {} gradients, expected {} (one per Tensor input)",
                                   detail::function_name<F>(), in_grads.size(), b.num_inputs()));
    for (int i = 0; i < b.num_inputs(); ++i)
      if (b.needs_grad(i)) b.accumulate(i, std::move(in_grads[static_cast<std::size_t>(i)]));
  }
};

}  // namespace tg
