// PyTorch goldens of Conv1D, LayerNormalization and LNSimpleRNNCell (tests/goldens/conv.txt, from
// scripts/make_conv_goldens.py, which documents the Keras <-> torch layouts): forward output and
// the gradient of every input, float64 to 1e-10 and float32 to 1e-4 relative. The convolutions
// run through the Conv1D layer by padding mode, so the layer's padding rules are checked against
// the script's independent ones as well.

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using golden::GoldenCase;

const std::vector<GoldenCase>& conv_cases() {
  static const std::vector<GoldenCase> cases = golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/conv.txt");
  return cases;
}

// Runs `build` on the case's inputs (leaves, or copied into parameters by `bind`), seeds the
// backward with the case's seed, and compares the output and every input's gradient.
class GoldenRun {
 public:
  explicit GoldenRun(const GoldenCase& c) : c_(c) {
    for (const auto& in : c.inputs) leaves_[in.name] = in.to_tensor(c.dtype).requires_grad_();
  }
  const Tensor& operator[](const std::string& n) { return leaves_.at(n); }
  void bind(const std::string& n, Tensor param) {
    param.copy_from(leaves_.at(n));
    holders_[n] = std::move(param);
  }
  void check(const Tensor& out) {
    golden::expect_matches(out, c_.output(), c_.dtype, c_.name + " output");
    out.backward(c_.seed()->to_tensor(c_.dtype));
    for (const auto& g : c_.grads) {
      auto h = holders_.find(g.name);
      Tensor got = h != holders_.end() ? h->second.grad() : leaves_.at(g.name).grad();
      golden::expect_matches(got, g, c_.dtype, c_.name + " grad " + g.name);
    }
  }

 private:
  const GoldenCase& c_;
  std::map<std::string, Tensor> leaves_, holders_;
};

struct ConvCase {
  const char* padding;
  Padding mode;
  std::int64_t k, s, d, t;
};

// The same table as CONV in scripts/make_conv_goldens.py.
const std::vector<ConvCase> kConv = {
    {"valid", Padding::valid, 3, 1, 1, 7},    {"valid", Padding::valid, 4, 2, 1, 9},
    {"valid", Padding::valid, 2, 1, 3, 8},    {"valid", Padding::valid, 3, 3, 2, 11},
    {"valid", Padding::valid, 1, 1, 1, 5},    {"valid", Padding::valid, 1, 2, 1, 7},
    {"causal", Padding::causal, 2, 1, 1, 6},  {"causal", Padding::causal, 2, 1, 4, 9},
    {"causal", Padding::causal, 3, 2, 2, 10}, {"causal", Padding::causal, 1, 1, 1, 4},
    {"same", Padding::same, 3, 1, 1, 6},      {"same", Padding::same, 4, 1, 1, 7},
    {"same", Padding::same, 3, 2, 1, 8},      {"same", Padding::same, 2, 3, 2, 10},
};

const GoldenCase& find(const std::string& name, DType dtype) {
  for (const GoldenCase& c : conv_cases())
    if (c.name == name && c.dtype == dtype) return c;
  throw std::out_of_range("no golden case " + name);
}

class ConvGolden : public ::testing::TestWithParam<DType> {};

TEST_P(ConvGolden, Conv1DLayerEveryPaddingStrideAndDilation) {
  for (const ConvCase& cc : kConv) {
    const std::string name = fmt::format("conv1d_{}_k{}_s{}_d{}_t{}", cc.padding, cc.k, cc.s, cc.d, cc.t);
    SCOPED_TRACE(name);
    GoldenRun run(find(name, GetParam()));
    Conv1D conv(5, cc.k, {.strides = cc.s, .padding = cc.mode, .dilation_rate = cc.d});
    conv.build({-1, cc.t, 4});
    conv.to(GetParam());
    run.bind("kernel", conv.kernel);
    run.bind("bias", conv.bias);
    run.check(conv(run["x"]));
  }
}

TEST_P(ConvGolden, Conv1dOpWithExplicitPadding) {
  // The op alone, with the padding written out (same, kernel 4: one zero before, two after).
  GoldenRun run(find("conv1d_same_k4_s1_d1_t7", GetParam()));
  run.check(conv1d(run["x"], run["kernel"], run["bias"], {.pad_left = 1, .pad_right = 2}));
}

TEST_P(ConvGolden, LayerNormOpAndLayer) {
  for (const char* name : {"layer_norm", "layer_norm_small_variance"}) {
    SCOPED_TRACE(name);
    {
      GoldenRun run(find(name, GetParam()));
      run.check(layer_norm(run["x"], run["gamma"], run["beta"]));
    }
    GoldenRun run(find(name, GetParam()));
    LayerNormalization ln;
    ln.build({-1, run["x"].size(-1)});
    ln.to(GetParam());
    run.bind("gamma", ln.gamma);
    run.bind("beta", ln.beta);
    run.check(ln(run["x"]));
  }
}

TEST_P(ConvGolden, LNSimpleRNNCellInRNN) {
  GoldenRun run(find("ln_simple_rnn", GetParam()));
  RNN rnn(std::make_shared<LNSimpleRNNCell>(4), {.return_sequences = true});
  rnn.build({-1, -1, 2});
  rnn.to(GetParam());
  auto& cell = static_cast<LNSimpleRNNCell&>(rnn.cell());
  run.bind("kernel", cell.kernel);
  run.bind("recurrent_kernel", cell.recurrent_kernel);
  run.bind("bias", cell.bias);
  run.bind("gamma", cell.layer_norm->gamma);
  run.bind("beta", cell.layer_norm->beta);
  run.check(rnn(run["x"]));
}

TEST_P(ConvGolden, SmallWaveNetStack) {
  GoldenRun run(find("wavenet_small", GetParam()));
  Sequential m;
  m.add(Conv1D(3, 2, {.padding = Padding::causal, .dilation_rate = 1, .activation = activations::relu}));
  m.add(Conv1D(3, 2, {.padding = Padding::causal, .dilation_rate = 2, .activation = activations::relu}));
  m.add(Conv1D(3, 2, {.padding = Padding::causal, .dilation_rate = 4, .activation = activations::relu}));
  m.add(Conv1D(2, 1));
  m.build({-1, -1, 1});
  m.to(GetParam());
  auto params = m.parameters();
  ASSERT_EQ(params.size(), 8u);
  const char* names[] = {"k1", "b1", "k2", "b2", "k3", "b3", "k4", "b4"};
  for (std::size_t i = 0; i < 8; ++i) run.bind(names[i], params[i]);
  run.check(m(run["x"]));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ConvGolden, ::testing::Values(DType::f64, DType::f32),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace tg
