// Weights that travel between tapegrad and PyTorch (nn/recurrent/torch_names.h). The goldens in
// tests/goldens/torch/ come from scripts/make_torch_interchange.py: torch.nn models' state_dicts
// as safetensors and their predictions on fixed inputs. The other direction: from_tapegrad.* is
// written by TorchInterchange.TapegradFileIsCommitted (with TAPEGRAD_WRITE_TORCH_INTERCHANGE=1)
// and the script checks that torch loads it and predicts what tapegrad predicted.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/recurrent/torch_names.h>
#include <tapegrad/nn/training/safetensors.h>
#include "support/error_of.h"
#include "support/golden_reader.h"

namespace tg {
namespace {

namespace fs = std::filesystem;
using tg::testing::error_of;

const std::string kDir = std::string(TAPEGRAD_GOLDEN_DIR) + "/torch/";

std::string temp_path(const std::string& name) {
  static int counter = 0;
  return (fs::path(::testing::TempDir()) / fmt::format("tg_torch_{}_{}_{}", ::getpid(), counter++, name)).string();
}

// The tapegrad twin of the script's torch model `name`.
Sequential model_for(const std::string& name) {
  const Activation tanh = activations::tanh, relu = activations::relu;
  if (name == "linear_f64") return Sequential(Dense(5, tanh), Dense(4, relu), Dense(2));
  if (name == "rnn_f64") return Sequential(SimpleRNN(4, {.return_sequences = true}), SimpleRNN(3), Dense(1));
  if (name == "lstm_f64") return Sequential(LSTM(4, {.return_sequences = true}), Dense(2));
  if (name == "gru_f64") return Sequential(GRU(4), Dense(1));
  if (name == "conv1d_f64") return Sequential(Conv1D(3, 3, {.dilation_rate = 2, .activation = tanh}), Dense(1));
  if (name == "layernorm_f64") return Sequential(Dense(4), LayerNormalization(1e-5), Dense(1));
  if (name == "embedding_f64") return Sequential(Embedding(6, 3), GRU(2));
  if (name == "all_f64" || name == "all_f32" || name == "from_tapegrad")
    return Sequential(Embedding(7, 3), Conv1D(4, 2, {.padding = Padding::causal, .activation = relu}),
                      LSTM(5, {.return_sequences = true}), GRU(4, {.return_sequences = true}), SimpleRNN(3),
                      LayerNormalization(1e-5), Dense(2));
  if (name == "lstm_f32") return Sequential(LSTM(4), Dense(2));
  throw std::runtime_error("no tapegrad model for case " + name);
}

// The model built on x (its dtype), ready to load.
Sequential built_model(const std::string& name, const Tensor& x) {
  Sequential m = model_for(name);
  m(x.to(DType::f32));
  m.to(x.dtype());
  return m;
}

// |got - want| <= tol * max(1, |want|) for every element; float64 to 1e-12.
void expect_close(const Tensor& got, const golden::GoldenTensor& want, DType dtype, const std::string& what) {
  ASSERT_EQ(got.shape(), want.tg_shape()) << what;
  const double tol = dtype == DType::f64 ? 1e-12 : 1e-5;
  const std::vector<double> g = got.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < g.size(); ++i)
    worst = std::max(worst, std::abs(g[i] - want.values[i]) / std::max(1.0, std::abs(want.values[i])));
  EXPECT_LE(worst, tol) << what << ": worst relative difference " << worst;
}

std::map<std::string, Tensor> by_name(const NamedTensors& tensors) {
  std::map<std::string, Tensor> m;
  for (const auto& [n, t] : tensors) m.emplace(n, t);
  return m;
}

std::vector<golden::GoldenCase> torch_cases() { return golden::read_golden_file(kDir + "predictions.txt"); }

TEST(TorchInterchange, TorchWeightsLoadAndPredictWhatTorchPredicted) {
  const auto cases = torch_cases();
  ASSERT_EQ(cases.size(), 10u);
  for (const golden::GoldenCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor x = c.input("x").to_tensor(c.dtype);
    Sequential m = built_model(c.name, x);
    load_torch_safetensors(m, kDir + c.name + ".safetensors");
    expect_close(m(x), c.output(), c.dtype, c.name);
  }
}

TEST(TorchInterchange, SavedTorchTensorsEqualTorchsOriginals) {
  for (const golden::GoldenCase& c : torch_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor x = c.input("x").to_tensor(c.dtype);
    Sequential m = built_model(c.name, x);
    const std::string file = kDir + c.name + ".safetensors";
    load_torch_safetensors(m, file);
    const std::map<std::string, Tensor> torch = by_name(read_safetensors(file).tensors);

    const std::string path = temp_path(c.name + ".safetensors");
    save_torch_safetensors(m, path);
    const SafetensorsContents saved = read_safetensors(path);
    EXPECT_EQ(saved.metadata.at("format"), "pt");
    const std::map<std::string, Tensor> ours = by_name(saved.tensors);
    ASSERT_EQ(ours.size(), torch.size());
    for (const auto& [name, t] : torch) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(ours.count(name)) << "missing in the saved file";
      const Tensor& o = ours.at(name);
      ASSERT_EQ(o.shape(), t.shape());
      ASSERT_EQ(o.dtype(), t.dtype());
      const bool summed = name.find("bias_") != std::string::npos &&
                          (c.name.rfind("rnn", 0) == 0 || c.name.rfind("lstm", 0) == 0 || name.rfind("2.", 0) == 0 ||
                           name.rfind("4.", 0) == 0);  // RNN, LSTM of "all"
      if (!summed) {
        EXPECT_EQ(o.to_vector(), t.to_vector());
        continue;
      }
      // RNN and LSTM hold one bias: torch's two summed, saved as bias_ih with bias_hh = 0.
      const std::string other = name.find("bias_ih") != std::string::npos
                                    ? name.substr(0, name.find("bias_ih")) + "bias_hh_l0"
                                    : name.substr(0, name.find("bias_hh")) + "bias_ih_l0";
      if (name.find("bias_hh") != std::string::npos) {
        EXPECT_EQ(o.to_vector(), std::vector<double>(static_cast<std::size_t>(o.numel()), 0.0));
      } else {
        const Tensor want = (t + torch.at(other)).to(t.dtype());
        EXPECT_EQ(o.to_vector(), want.to_vector());
      }
    }
    // The saved file loads into a fresh model that predicts exactly the same.
    Sequential again = built_model(c.name, x);
    load_torch_safetensors(again, path);
    EXPECT_EQ(again(x).to_vector(), m(x).to_vector());
    fs::remove(path);
  }
}

TEST(TorchInterchange, LayerTableNamesAndLayouts) {
  // Dense kernel [in, out] is Linear's weight [out, in]; Conv1D kernel [k, F, filters] is
  // Conv1d's weight [filters, F, k]; GRU's z and r blocks trade places.
  Sequential m(Input{None, 2}, Conv1D(3, 2), GRU(1), Dense(2));
  m.to(DType::f64);
  auto params = m.named_parameters();
  for (auto& [n, p] : params) {
    std::vector<double> v(static_cast<std::size_t>(p.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
    p.copy_from(from_vector(std::span<const double>(v), p.shape(), DType::f64));
  }
  const std::map<std::string, Tensor> t = by_name(to_torch_state_dict(m));
  std::vector<std::string> names;
  for (const auto& [n, v] : to_torch_state_dict(m)) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight_ih_l0", "1.weight_hh_l0", "1.bias_ih_l0",
                                             "1.bias_hh_l0", "2.weight", "2.bias"}));
  // Conv1D kernel [2, 2, 3] = 0..11; weight[o, f, k] = kernel[k, f, o] = k*6 + f*3 + o.
  EXPECT_EQ(t.at("0.weight").shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(t.at("0.weight").to_vector(), (std::vector<double>{0, 6, 3, 9, 1, 7, 4, 10, 2, 8, 5, 11}));
  // GRU(1) on 3 features: kernel [3, 3] blocks (z, r, h) -> weight_ih [3, 3] rows (r, z, n).
  EXPECT_EQ(t.at("1.weight_ih_l0").to_vector(), (std::vector<double>{1, 4, 7, 0, 3, 6, 2, 5, 8}));
  // bias [2, 3]: row 0 = (0, 1, 2) -> (1, 0, 2); row 1 = (3, 4, 5) -> (4, 3, 5).
  EXPECT_EQ(t.at("1.bias_ih_l0").to_vector(), (std::vector<double>{1, 0, 2}));
  EXPECT_EQ(t.at("1.bias_hh_l0").to_vector(), (std::vector<double>{4, 3, 5}));
  // Dense kernel [1, 2] = (0, 1) -> weight [2, 1].
  EXPECT_EQ(t.at("2.weight").shape(), (Shape{2, 1}));
}

// Weights that do not depend on any generator: the committed file stays the same.
void fixed_weights(Module& m) {
  std::int64_t k = 0;
  for (Tensor& p : m.parameters()) {
    std::vector<double> v(static_cast<std::size_t>(p.numel()));
    for (double& e : v) e = static_cast<double>((k++ * 37) % 101) / 101.0 - 0.5;
    p.copy_from(from_vector(std::span<const double>(v), p.shape(), p.dtype()));
  }
}

TEST(TorchInterchange, TapegradFileIsCommitted) {
  std::vector<double> ids(3 * 6);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<double>((i * 5 + 2) % 7);
  const Tensor x = from_vector(std::span<const double>(ids), {3, 6}, DType::f64);
  Sequential m = built_model("from_tapegrad", x);
  fixed_weights(m);
  const Tensor y = m(x);
  const std::vector<unsigned char> bytes = safetensors_bytes(to_torch_state_dict(m), {{"format", "pt"}});
  const std::string file = kDir + "from_tapegrad.safetensors", text = kDir + "from_tapegrad.txt";
  if (std::getenv("TAPEGRAD_WRITE_TORCH_INTERCHANGE") != nullptr) {
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    std::ofstream out(text);
    out << "# Written by the test TorchInterchange.TapegradFileIsCommitted (TAPEGRAD_WRITE_TORCH_INTERCHANGE=1):\n"
           "# tapegrad's predictions with the weights of from_tapegrad.safetensors; checked in torch by\n"
           "# scripts/make_torch_interchange.py.\ncase from_tapegrad float64\n";
    auto put = [&](const char* role, const Tensor& t) {
      out << role << (role[0] == 'i' ? " x" : " y");
      for (std::int64_t d : t.shape()) out << ' ' << d;
      out << " :";
      for (double v : t.to_vector()) out << fmt::format(" {:.17g}", v);
      out << '\n';
    };
    put("input", x);
    put("output", y);
    out << "end\n";
  }
  std::ifstream in(file, std::ios::binary);
  const std::vector<unsigned char> committed{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(committed, bytes)
      << "the committed " << file << " is not what tapegrad writes: rewrite it with "
      << "TAPEGRAD_WRITE_TORCH_INTERCHANGE=1 and check it with scripts/make_torch_interchange.py";
  const auto cases = golden::read_golden_file(text);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].input("x").values, x.to_vector());
  expect_close(y, cases[0].output(), DType::f64, "from_tapegrad");
}

TEST(TorchInterchange, LoadChecksNamesShapesAndDtypesAndChangesNothingWhenItThrows) {
  Sequential m(Input{None, 2}, LSTM(3), Dense(2));
  const NamedTensors good = to_torch_state_dict(m);
  std::vector<std::vector<double>> before;
  for (const Tensor& p : m.parameters()) before.push_back(p.to_vector());

  NamedTensors missing = good;
  missing.pop_back();
  EXPECT_NE(error_of<ShapeError>([&] { load_torch_state_dict(m, missing, "sd"); }).find("'sd' has no tensor '1.bias'"),
            std::string::npos);
  NamedTensors extra = good;
  extra.emplace_back("1.weight_extra", zeros({1}));
  EXPECT_NE(error_of<ShapeError>([&] {
              load_torch_state_dict(m, extra, "sd");
            }).find("holds tensor '1.weight_extra' that no layer of the model maps"),
            std::string::npos);
  NamedTensors keras_layout = good;  // Dense's kernel as Keras holds it, [in, out]
  keras_layout[4].second = zeros({3, 2});
  EXPECT_NE(error_of<ShapeError>([&] {
              load_torch_state_dict(m, keras_layout, "sd");
            }).find("tensor '1.weight' has shape [3,2] in 'sd', the model expects [2,3]"),
            std::string::npos);
  NamedTensors f64 = good;
  f64[0].second = f64[0].second.to(DType::f64);
  EXPECT_NE(error_of<DTypeError>([&] {
              load_torch_state_dict(m, f64, "sd");
            }).find("tensor '0.weight_ih_l0' is float64 in 'sd', the model is float32"),
            std::string::npos);
  NamedTensors twice = good;
  twice.push_back(good[0]);
  EXPECT_NE(error_of<ValueError>([&] { load_torch_state_dict(m, twice, "sd"); }).find("twice"), std::string::npos);
  std::vector<std::vector<double>> after;
  for (const Tensor& p : m.parameters()) after.push_back(p.to_vector());
  EXPECT_EQ(after, before);
}

struct Affine : Module {
  Affine() : Module("Affine") { scale = register_parameter("scale", ones({2})); }
  Tensor forward(const Tensor& x) override { return x * scale; }
  Tensor scale;
};

TEST(TorchInterchange, RefusesLayersWithoutATorchCounterpart) {
  Sequential custom(Input{None, 2}, Dense(2), Affine());
  EXPECT_NE(error_of<ValueError>([&] {
              to_torch_state_dict(custom);
            }).find("Affine 'affine' (torch path '1') has no torch.nn counterpart"),
            std::string::npos);
  Sequential ln(Input{None, 2}, RNN(std::make_shared<LNSimpleRNNCell>(3)));
  EXPECT_NE(error_of<ValueError>([&] { to_torch_state_dict(ln); }).find("unrolls a LNSimpleRNNCell"),
            std::string::npos);
  Sequential before_keras2(Input{None, 2}, GRU(3, {}, {.reset_after = false}));
  EXPECT_NE(error_of<ValueError>([&] { to_torch_state_dict(before_keras2); }).find("reset_after = false"),
            std::string::npos);
  Sequential unbuilt(Dense(2));
  EXPECT_NE(error_of<ValueError>([&] { to_torch_state_dict(unbuilt); }).find("build the model first"),
            std::string::npos);
  EXPECT_NE(error_of<ValueError>([&] { load_torch_state_dict(unbuilt, {}); }).find("build the model first"),
            std::string::npos);
  // Layers without weights are skipped: Dropout sits at index 1 in both models.
  Sequential with_dropout(Input{None, 2}, Dense(3), Dropout(0.5), Dense(1));
  std::vector<std::string> names;
  for (const auto& [n, t] : to_torch_state_dict(with_dropout)) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
}

}  // namespace
}  // namespace tg
