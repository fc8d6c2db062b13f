// PyTorch goldens of composite graphs (tests/goldens/graphs.txt, from scripts/make_goldens.py):
// each graph is rebuilt here with tapegrad's ops, in float64 and float32, and its output and the
// gradient of every input must match PyTorch's (golden::tolerance: 1e-10 relative in float64,
// 1e-4 in float32). Some graphs are rebuilt more than one way (plain ops, fused ops, layers):
// every variant must land on the same numbers.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using golden::GoldenCase;

const std::vector<GoldenCase>& graph_cases() {
  static const std::vector<GoldenCase> cases =
      golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/graphs.txt");
  return cases;
}

const GoldenCase* find_case(const std::string& name, DType dtype) {
  for (const GoldenCase& c : graph_cases())
    if (c.name == name && c.dtype == dtype) return &c;
  return nullptr;
}

/// The inputs of one golden case as leaves that require a gradient. A builder may instead load
/// an input into a module's parameter (`bind`); that input's gradient is then read from it.
class Leaves {
 public:
  explicit Leaves(const GoldenCase& c) : case_(c) {
    for (const golden::GoldenTensor& in : c.inputs) leaves_[in.name] = in.to_tensor(c.dtype).requires_grad_();
  }
  DType dtype() const { return case_.dtype; }
  const Tensor& operator[](const std::string& name) const {
    auto it = leaves_.find(name);
    if (it == leaves_.end()) throw ValueError("golden case " + case_.name + " has no input " + name);
    return it->second;
  }
  /// Copies input `name` into `param` (same shape and dtype) and reads its gradient from there.
  void bind(const std::string& name, Tensor param) {
    param.copy_from((*this)[name]);
    holders_[name] = std::move(param);
  }
  Tensor grad(const std::string& name) const {
    auto it = holders_.find(name);
    return it != holders_.end() ? it->second.grad() : (*this)[name].grad();
  }

 private:
  const GoldenCase& case_;
  std::map<std::string, Tensor> leaves_, holders_;
};

struct GraphBuilder {
  std::string golden;   ///< case name in graphs.txt
  std::string variant;  ///< how tapegrad rebuilds it
  std::function<Tensor(Leaves&)> build;
};

/// Binds a model's parameters, in named_parameters() order, to golden inputs.
void bind_parameters(Module& m, Leaves& in, const std::vector<std::string>& names) {
  m.to(in.dtype());
  auto params = m.named_parameters();
  ASSERT_EQ(params.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) in.bind(names[i], params[i].second);
}

Tensor tanh_layer(const Tensor& x, const Tensor& w, const Tensor& b) { return tanh(matmul(x, w) + b); }

std::vector<GraphBuilder> graph_builders() {
  using V = std::vector<Tensor>;
  std::vector<GraphBuilder> b = {
      // (a) tanh(x W + b) chains
      {"tanh_chain_2", "ops",
       [](Leaves& in) { return tanh_layer(tanh_layer(in["x"], in["w1"], in["b1"]), in["w2"], in["b2"]); }},
      {"tanh_chain_2", "linear",
       [](Leaves& in) { return tanh(linear(tanh(linear(in["x"], in["w1"], in["b1"])), in["w2"], in["b2"])); }},
      {"tanh_chain_2", "dense_layers",
       [](Leaves& in) {
         Sequential m(Input{4}, Dense(6, activations::tanh), Dense(3, activations::tanh));
         bind_parameters(m, in, {"w1", "b1", "w2", "b2"});
         return m(in["x"]);
       }},
      {"tanh_chain_3", "ops",
       [](Leaves& in) {
         Tensor h = tanh_layer(in["x"], in["w1"], in["b1"]);
         h = tanh_layer(h, in["w2"], in["b2"]);
         return tanh_layer(h, in["w3"], in["b3"]);
       }},
      {"tanh_chain_3", "linear",
       [](Leaves& in) {
         Tensor h = tanh(linear(in["x"], in["w1"], in["b1"]));
         h = tanh(linear(h, in["w2"], in["b2"]));
         return tanh(linear(h, in["w3"], in["b3"]));
       }},
      {"tanh_chain_mse", "ops",
       [](Leaves& in) {
         Tensor h = tanh_layer(in["x"], in["w1"], in["b1"]);
         h = tanh_layer(h, in["w2"], in["b2"]);
         return mse(in["target"], matmul(h, in["w3"]) + in["b3"]);
       }},
      {"tanh_chain_mse", "dense_layers",
       [](Leaves& in) {
         Sequential m(Input{4}, Dense(6, activations::tanh), Dense(5, activations::tanh), Dense(1));
         bind_parameters(m, in, {"w1", "b1", "w2", "b2", "w3", "b3"});
         return mse(in["target"], m(in["x"]));
       }},
      // (b) a 3-step hand-unrolled RNN sharing W, U, b; h_0 = 0 so step 1 has no h U term
      {"rnn_unrolled_3", "ops",
       [](Leaves& in) {
         const Tensor &x = in["x"], &w = in["w"], &u = in["u"], &bias = in["b"];
         Tensor h1 = tanh(matmul(select(x, 1, 0), w) + bias);
         Tensor h2 = tanh(matmul(select(x, 1, 1), w) + matmul(h1, u) + bias);
         Tensor h3 = tanh(matmul(select(x, 1, 2), w) + matmul(h2, u) + bias);
         return mse(in["target"], h3);
       }},
      {"rnn_unrolled_3", "fused_step",
       [](Leaves& in) {
         Tensor xw = linear(in["x"], in["w"], in["b"]);  // [2,3,3] x [3,4] + [4] -> [2,3,4]
         Tensor h;
         for (std::int64_t t = 0; t < 3; ++t) h = rnn_tanh_step(xw, t, h, in["u"]);
         return mse(in["target"], h);
       }},
      {"rnn_unrolled_3", "simple_rnn_layer",
       [](Leaves& in) {
         Sequential m(Input{None, 3}, SimpleRNN(4));
         bind_parameters(m, in, {"w", "u", "b"});
         return mse(in["target"], m(in["x"]));
       }},
      {"rnn_unrolled_3_sequences", "ops",
       [](Leaves& in) {
         Tensor h;
         V hs;
         for (std::int64_t t = 0; t < 3; ++t) {
           Tensor z = matmul(select(in["x"], 1, t), in["w"]) + in["b"];
           h = tanh(h.defined() ? z + matmul(h, in["u"]) : z);
           hs.push_back(h);
         }
         return mse(in["target"], stack(hs, 1));
       }},
      {"rnn_unrolled_3_sequences", "simple_rnn_layer",
       [](Leaves& in) {
         Sequential m(Input{None, 3}, SimpleRNN(4, {.return_sequences = true}));
         bind_parameters(m, in, {"w", "u", "b"});
         return mse(in["target"], m(in["x"]));
       }},
      // (c) mse
      {"mse_2d", "mse_op", [](Leaves& in) { return mse(in["target"], in["pred"]); }},
      {"mse_2d", "ops", [](Leaves& in) { return mean(square(in["pred"] - in["target"])); }},
      {"mse_3d", "mse_op", [](Leaves& in) { return mse(in["target"], in["pred"]); }},
      {"mse_of_tanh_chain", "ops", [](Leaves& in) { return mse(in["target"], tanh(matmul(in["x"], in["w"])) * 2.0); }},
      // (d) broadcasting
      {"bcast_add_row", "ops", [](Leaves& in) { return in["a"] + in["b"]; }},
      {"bcast_mul_outer", "ops", [](Leaves& in) { return in["a"] * in["b"]; }},
      {"bcast_div_3d", "ops", [](Leaves& in) { return in["a"] / in["b"]; }},
      {"bcast_sub_both", "ops", [](Leaves& in) { return in["a"] - in["b"]; }},
      {"bcast_scalar_tensor", "ops",
       [](Leaves& in) { return in["a"] * in["s"] + in["c"] - in["s"] / (abs(in["a"]) + 1.0); }},
      {"scalar_constants", "ops",
       [](Leaves& in) {
         const Tensor &a = in["a"], &b = in["b"];
         return (2.5 - a) * 0.3 + 1.5 / b - a / 4.0 + (b - 0.5) + (a + 1.25) * (-b);
       }},
      {"bcast_chain_3d", "ops", [](Leaves& in) { return (in["x"] * in["scale"] + in["shift"]) * in["gate"]; }},
      // (e) reductions
      {"sum_axis_keepdim", "ops", [](Leaves& in) { return sum(in["x"], {1}, true); }},
      {"sum_axes", "ops",
       [](Leaves& in) {
         return sum(in["x"], {0, 2});
       }},
      {"sum_axes", "negative_axes",
       [](Leaves& in) {
         return sum(in["x"], {-1, -3});
       }},
      {"sum_all_of_square", "ops", [](Leaves& in) { return sum(in["x"] * in["x"]); }},
      {"sum_all_of_square", "square", [](Leaves& in) { return sum(square(in["x"])); }},
      {"mean_axis_keepdim", "ops", [](Leaves& in) { return mean(in["x"], {-1}, true); }},
      {"mean_axes", "ops",
       [](Leaves& in) {
         return mean(in["x"], {0, 1});
       }},
      {"mean_all_of_product", "ops", [](Leaves& in) { return mean(in["x"] * in["w"]); }},
      {"max_axis", "ops", [](Leaves& in) { return max(in["x"], 1); }},
      {"max_axis_keepdim", "ops", [](Leaves& in) { return max(in["x"], 0, true); }},
      {"max_all", "ops", [](Leaves& in) { return max(in["x"]) * 3.0; }},
      {"softmax_rows", "ops",
       [](Leaves& in) {
         Tensor e = exp(in["x"] - max(in["x"], 1, true));
         return e / sum(e, {1}, true);
       }},
      {"normalise_mean_var", "ops",
       [](Leaves& in) {
         Tensor c = in["x"] - mean(in["x"], {0}, true);
         return c / sqrt(mean(c * c, {0}, true) + 1e-3);
       }},
      // (f) shape ops
      {"transpose_3d", "ops", [](Leaves& in) { return transpose(in["x"], 0, 2) * 2.0; }},
      {"transpose_3d", "permute",
       [](Leaves& in) {
         return permute(in["x"], {2, 1, 0}) * 2.0;
       }},
      {"transpose_matmul", "ops", [](Leaves& in) { return matmul(transpose(in["x"]), in["w"]); }},
      {"permute", "ops",
       [](Leaves& in) {
         return tanh(permute(in["x"], {2, 0, 1}));
       }},
      {"slice", "ops", [](Leaves& in) { return slice(in["x"], 1, 1, 3) * slice(in["x"], 1, 2, 3); }},
      {"slice_negative_start", "ops", [](Leaves& in) { return slice(in["x"], 0, -2, 2); }},
      {"slice_negative_start", "positive_start", [](Leaves& in) { return slice(in["x"], 0, 2, 2); }},
      {"select", "ops", [](Leaves& in) { return select(in["x"], 1, -1) + slice(select(in["x"], 0, 1), 0, 0, 2); }},
      {"concat_axis0", "ops",
       [](Leaves& in) {
         return concat(V{in["a"], in["b"]}, 0);
       }},
      {"concat_axis1_three", "ops",
       [](Leaves& in) {
         return concat(V{in["a"], in["b"], in["c"], in["a"]}, 1);
       }},
      {"concat_axis1_three", "negative_axis",
       [](Leaves& in) {
         return concat(V{in["a"], in["b"], in["c"], in["a"]}, -2);
       }},
      {"stack_axis1", "ops",
       [](Leaves& in) {
         return stack(V{in["a"], in["b"], in["c"]}, 1);
       }},
      {"stack_last_axis", "ops",
       [](Leaves& in) {
         return stack(V{in["a"] * in["b"], in["b"]}, -1);
       }},
      {"reshape_matmul", "ops",
       [](Leaves& in) {
         return matmul(reshape(in["x"], {4, -1}), in["w"]);
       }},
      {"flatten_dense", "reshape",
       [](Leaves& in) {
         return matmul(reshape(in["x"], {3, -1}), in["w"]) + in["b"];
       }},
      {"flatten_dense", "flatten_linear", [](Leaves& in) { return linear(flatten(in["x"]), in["w"], in["b"]); }},
      {"flatten_dense", "layers",
       [](Leaves& in) {
         Sequential m(Input{2, 4}, Flatten(), Dense(2));
         bind_parameters(m, in, {"w", "b"});
         return m(in["x"]);
       }},
      {"broadcast_to", "ops",
       [](Leaves& in) {
         return broadcast_to(in["x"], Shape{2, 3, 4}) * 1.5;
       }},
      // (g) matmul and unary math
      {"matmul_2d", "ops", [](Leaves& in) { return matmul(in["a"], in["b"]); }},
      {"matmul_batched", "ops", [](Leaves& in) { return matmul(in["a"], in["b"]); }},
      {"matmul_batched_shared_rhs", "ops", [](Leaves& in) { return matmul(in["a"], in["b"]); }},
      {"linear_3d", "ops", [](Leaves& in) { return matmul(in["x"], in["w"]) + in["b"]; }},
      {"linear_3d", "linear", [](Leaves& in) { return linear(in["x"], in["w"], in["b"]); }},
      {"linear_3d", "time_distributed_dense",
       [](Leaves& in) {
         Sequential m(Input{None, 4}, TimeDistributed(Dense(5)));
         bind_parameters(m, in, {"w", "b"});
         return m(in["x"]);
       }},
      {"matmul_chain", "ops", [](Leaves& in) { return matmul(matmul(in["a"], in["b"]), matmul(in["b"], in["c"])); }},
      {"unary_sigmoid", "ops", [](Leaves& in) { return sigmoid(in["x"]); }},
      {"unary_exp", "ops", [](Leaves& in) { return exp(in["x"]); }},
      {"unary_log", "ops", [](Leaves& in) { return log(in["x"]); }},
      {"unary_sqrt", "ops", [](Leaves& in) { return sqrt(in["x"]); }},
      {"unary_square", "ops", [](Leaves& in) { return square(in["x"]); }},
      {"unary_square", "pow", [](Leaves& in) { return pow(in["x"], 2.0); }},
      {"unary_tanh", "ops", [](Leaves& in) { return tanh(in["x"]); }},
      {"unary_relu", "ops", [](Leaves& in) { return relu(in["x"]); }},
      {"unary_abs", "ops", [](Leaves& in) { return abs(in["x"]); }},
      {"unary_clamp", "ops", [](Leaves& in) { return clamp(in["x"], -0.5, 0.5); }},
      {"unary_pow_2_5", "ops", [](Leaves& in) { return pow(in["x"], 2.5); }},
      {"unary_pow_3", "ops", [](Leaves& in) { return pow(in["x"], 3.0); }},
      {"unary_pow_minus_1_5", "ops", [](Leaves& in) { return pow(in["x"], -1.5); }},
      {"unary_neg", "ops", [](Leaves& in) { return -in["x"]; }},
      {"unary_mix", "ops",
       [](Leaves& in) {
         const Tensor &a = in["a"], &b = in["b"];
         return log(1.0 + exp(a)) * sigmoid(b) - sqrt(abs(a) + 1.0) + relu(b) * a;
       }},
  };
  return b;
}

class GoldenGraph : public ::testing::TestWithParam<GraphBuilder> {};

TEST_P(GoldenGraph, OutputAndGradientsMatchPyTorch) {
  const GraphBuilder& g = GetParam();
  for (DType dtype : {DType::f64, DType::f32}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const GoldenCase* c = find_case(g.golden, dtype);
    ASSERT_NE(c, nullptr) << "no golden case " << g.golden << " " << dtype_name(dtype);
    Leaves in(*c);
    Tensor out = g.build(in);
    golden::expect_matches(out, c->output(), dtype, "output");
    if (const golden::GoldenTensor* seed = c->seed())
      out.backward(seed->to_tensor(dtype));
    else
      out.backward();
    ASSERT_EQ(c->grads.size(), c->inputs.size()) << "the golden must give every input's gradient";
    for (const golden::GoldenTensor& want : c->grads)
      golden::expect_matches(in.grad(want.name), want, dtype, "grad " + want.name);
  }
}

INSTANTIATE_TEST_SUITE_P(Graphs, GoldenGraph, ::testing::ValuesIn(graph_builders()),
                         [](const ::testing::TestParamInfo<GraphBuilder>& info) {
                           return info.param.golden + "_" + info.param.variant;
                         });

TEST(GoldenGraphs, EveryCaseIsRebuiltInBothDtypes) {
  std::map<std::string, int> dtypes_seen;
  for (const GoldenCase& c : graph_cases()) dtypes_seen[c.name] |= c.dtype == DType::f64 ? 1 : 2;
  EXPECT_GE(dtypes_seen.size(), 50u);
  std::map<std::string, int> built;
  for (const GraphBuilder& b : graph_builders()) ++built[b.golden];
  for (const auto& [name, seen] : dtypes_seen) {
    EXPECT_EQ(seen, 3) << name << " lacks a dtype";
    EXPECT_GT(built[name], 0) << "golden case " << name << " is not rebuilt by any test";
  }
}

TEST(GoldenGraphs, TheComparisonCanFail) {
  const GoldenCase* c = find_case("tanh_chain_2", DType::f64);
  ASSERT_NE(c, nullptr);
  Leaves in(*c);
  // A graph with one bias left out is caught...
  Tensor wrong = tanh(matmul(tanh_layer(in["x"], in["w1"], in["b1"]), in["w2"]));
  EXPECT_NONFATAL_FAILURE(golden::expect_matches(wrong, c->output(), DType::f64, "output"), "elements off");
  // ... and so is a single element off by 3 tolerances, while half a tolerance passes.
  for (DType dtype : {DType::f64, DType::f32}) {
    const golden::GoldenTensor& want = c->output();  // [5,3]; element 3 is (1,0)
    ASSERT_EQ(want.values.size(), 15u);
    const double tol = golden::tolerance(dtype) * std::max(1.0, std::abs(want.values[3]));
    Tensor near = want.to_tensor(DType::f64);
    near.set({1, 0}, want.values[3] + 0.5 * tol);
    golden::expect_matches(near.to(dtype), want, dtype, "half a tolerance");
    Tensor far = want.to_tensor(DType::f64);
    far.set({1, 0}, want.values[3] + 3 * tol);
    EXPECT_NONFATAL_FAILURE(golden::expect_matches(far.to(dtype), want, dtype, "far"), "1 of 15 elements off");
  }
}

}  // namespace
}  // namespace tg
