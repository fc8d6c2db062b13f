// Whole-model files (nn/recurrent/model_file.h): a Sequential of every built-in layer saved and
// loaded back predicts the same values; layers describe themselves (config) and the registry
// makes them again; bad files (truncated, corrupted, forged headers with a valid checksum) are
// refused with an IOError naming the file, never a crash.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string temp_path(const std::string& name) {
  static int counter = 0;
  return (fs::path(::testing::TempDir()) / fmt::format("tg_model_{}_{}_{}", ::getpid(), counter++, name)).string();
}

Tensor rand32(const Shape& s, std::uint32_t seed) {
  Generator g(seed);
  return randn(s, DType::f32, &g);
}

// Saves, loads, and checks the loaded model: same layers (types, names), same parameters (names,
// values, dtypes, requires_grad), same predictions in evaluation mode, bit for bit.
std::unique_ptr<Sequential> round_trip(Sequential& model, const Tensor& x) {
  const std::string path = temp_path("m.tgm");
  save_model(model, path);
  std::unique_ptr<Sequential> back = load_model(path);
  fs::remove(path);
  EXPECT_EQ(back->size(), model.size());
  for (std::size_t i = 0; i < model.size() && i < back->size(); ++i) {
    EXPECT_EQ((*back)[i].type_name(), model[i].type_name());
    EXPECT_EQ((*back)[i].name(), model[i].name());
    EXPECT_EQ((*back)[i].trainable(), model[i].trainable());
  }
  auto a = model.named_parameters();
  auto b = back->named_parameters();
  EXPECT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.to_vector(), b[i].second.to_vector()) << a[i].first;
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype());
    EXPECT_EQ(a[i].second.requires_grad(), b[i].second.requires_grad()) << a[i].first;
  }
  EvalModeGuard eval;
  EXPECT_EQ(model(x).to_vector(), (*back)(x).to_vector());
  EXPECT_EQ(back->output_dims(), model.output_dims());
  return back;
}

TEST(ModelFile, RoundTripOfEveryBuiltInLayer) {
  manual_seed(31);
  Sequential model(Input{6, 3},                                                                  //
                   Conv1D(4, 2, {.padding = Padding::causal, .activation = activations::relu}),  //
                   LayerNormalization(1e-5),                                                     //
                   Dropout(0.25, 9),                                                             //
                   SimpleRNN(5, {.return_sequences = true}),                                     //
                   LSTM(4, {.return_sequences = true}),                                          //
                   GRU(4, {.return_sequences = true}),                                           //
                   GRU(3, {.return_sequences = true}, {.reset_after = false}),                   //
                   Bidirectional(LSTM(3, {.return_sequences = true})),                           //
                   Bidirectional(GRU(2, {.return_sequences = true}), MergeMode::sum),            //
                   RNN(std::make_shared<LNSimpleRNNCell>(3), {.return_sequences = true}),        //
                   TimeDistributed(Dense(4, activations::tanh)),                                 //
                   Dense(5, activations::softmax),                                               //
                   Softmax(),                                                                    //
                   Flatten(),                                                                    //
                   Dense(3, activations::sigmoid),                                               //
                   RepeatVector(2),                                                              //
                   SimpleRNN(2, {}, activations::relu));
  model[3].set_trainable(false);
  round_trip(model, rand32({2, 6, 3}, 1));
}

TEST(ModelFile, RoundTripOfMaskingModels) {
  manual_seed(32);
  Sequential text(Input{None}, Embedding(10, 4, {.mask_zero = true}), GRU(3, {}, {.reset_after = false}), Dense(1));
  Tensor ids = from_vector(std::vector<double>{1, 5, 9, 0, 0, 2, 3, 4, 7, 8}, Shape{2, 5});
  round_trip(text, ids);
  Sequential padded(Input{None, 2}, Masking(-1.0), LSTM(3), Dense(1));
  round_trip(padded, rand32({2, 4, 2}, 2));
}

TEST(ModelFile, RoundTripOfAFloat64ModelBuiltAtItsFirstInput) {
  manual_seed(33);
  Sequential model(GRU(3), Dense(2));
  model.set_name("forecaster");
  model(rand32({2, 5, 1}, 3));
  model.to(DType::f64);
  auto back = round_trip(model, rand32({2, 5, 1}, 4).to(DType::f64));
  EXPECT_EQ(back->name(), "forecaster");
  EXPECT_EQ(back->parameters()[0].dtype(), DType::f64);
}

TEST(ModelFile, TheHeaderIsReadableJsonDescribingEachLayer) {
  Sequential model(Input{None, 1}, SimpleRNN(20), Dense(1));
  const std::vector<unsigned char> bytes = model_to_bytes(model);
  const std::uint64_t len = [&] {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes[8 + i]) << (8 * i);
    return v;
  }();
  const std::string text(bytes.begin() + 16, bytes.begin() + 16 + static_cast<std::ptrdiff_t>(len));
  Json header = Json::parse(text);
  EXPECT_EQ(header.find("format")->as_string(), "tapegrad-model");
  EXPECT_EQ(header.find("input_shape")->dump(), "[null,null,1]");
  const Json& layers = *header.find("model")->find("config")->find("layers");
  ASSERT_EQ(layers.as_array().size(), 2u);
  EXPECT_EQ(layers.as_array()[0].dump(),
            R"({"type":"SimpleRNN","name":"simple_rnn","config":{"return_sequences":false,"stateful":false,)"
            R"("units":20,"activation":"tanh"}})");
}

TEST(ModelFile, AUserLayerSavesOnceRegistered) {
  struct Affine : Module {
    explicit Affine(std::int64_t n) : Module("TestAffine"), n_(n) {
      scale = register_parameter("scale", ones({n}));
      shift = register_parameter("shift", zeros({n}));
    }
    Tensor forward(const Tensor& x) override { return x * scale + shift; }
    std::optional<Json> config() const override { return Json::object().set("n", n_); }
    Tensor scale, shift;
    std::int64_t n_;
  };
  Sequential model(Input{2}, Dense(3), std::make_shared<Affine>(3));
  static_cast<Affine&>(model[1]).shift.fill_(0.5);
  const std::string path = temp_path("user.tgm");
  save_model(model, path);
  EXPECT_THAT(testing::error_of<IOError>([&] { load_model(path); }),
              HasSubstr("layer type 'TestAffine' (layer 'test_affine') is not registered"));
  register_layer("TestAffine",
                 [](const Json& c) { return std::make_shared<Affine>(config_int(c, "n", "TestAffine")); });
  round_trip(model, rand32({4, 2}, 5));
  fs::remove(path);
}

TEST(ModelFile, SavingRefusesWhatCannotBeDescribed) {
  struct Opaque : Module {
    Opaque() : Module("Opaque") {}
    Tensor forward(const Tensor& x) override { return x; }
  };
  Sequential user(Input{2}, Dense(2), Opaque());
  EXPECT_THAT(testing::error_of<ValueError>([&] { model_to_bytes(user); }),
              HasSubstr("opaque (Opaque): this layer has no config()"));
  Sequential custom(Input{2}, Dense(2, Activation{"swish", [](const Tensor& x) { return x * sigmoid(x); }}));
  EXPECT_THAT(testing::error_of<ValueError>([&] { model_to_bytes(custom); }),
              HasSubstr("dense (Dense): its activation 'swish' is not a built-in one"));
  Sequential unbuilt(Dense(2));
  EXPECT_THAT(testing::error_of<ValueError>([&] { model_to_bytes(unbuilt); }), HasSubstr("is not built"));
}

// ---- bad files ----------------------------------------------------------------------------------------

std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct Parts {
  std::string header;
  std::vector<unsigned char> weights;
};

Parts split(const std::vector<unsigned char>& bytes) {
  std::uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<std::uint64_t>(bytes[8 + i]) << (8 * i);
  Parts p;
  p.header.assign(bytes.begin() + 16, bytes.begin() + 16 + static_cast<std::ptrdiff_t>(len));
  p.weights.assign(bytes.begin() + 24 + static_cast<std::ptrdiff_t>(len), bytes.end());
  return p;
}

// A model file with `header` (and a valid checksum of it) and `weights`.
std::vector<unsigned char> forge(const std::string& header, const std::vector<unsigned char>& weights) {
  std::vector<unsigned char> out{'T', 'G', 'M', '1', 1, 0, 0, 0};
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  const std::uint64_t h = fnv1a64(header);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(h >> (8 * i)));
  out.insert(out.end(), weights.begin(), weights.end());
  return out;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string load_error(const std::vector<unsigned char>& bytes) {
  return testing::error_of<IOError>([&] { load_model_from_bytes(bytes, "bad\x1b.tgm"); });
}

class ModelFileBad : public ::testing::Test {
 protected:
  void SetUp() override {
    manual_seed(34);
    Sequential model(Input{None, 2}, Bidirectional(GRU(3, {.return_sequences = true})), LSTM(2), Dense(1));
    bytes_ = model_to_bytes(model);
    parts_ = split(bytes_);
  }
  std::vector<unsigned char> bytes_;
  Parts parts_;
};

TEST_F(ModelFileBad, EveryTruncationIsRefused) {
  for (std::size_t n = 0; n < bytes_.size(); n += (n < 64 || n + 64 > bytes_.size()) ? 1 : 7) {
    std::vector<unsigned char> cut(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string e = load_error(cut);
    ASSERT_THAT(e, HasSubstr("load_model: 'bad\\x1b.tgm'")) << "at " << n << ": " << e;
  }
}

TEST_F(ModelFileBad, FlippedBitsAreRefused) {
  for (std::size_t i = 0; i < bytes_.size(); i += 13) {
    std::vector<unsigned char> bad = bytes_;
    bad[i] ^= 0x20;
    const std::string e = load_error(bad);
    ASSERT_THAT(e, HasSubstr("load_model: ")) << "byte " << i << ": " << e;
  }
  std::vector<unsigned char> bad = bytes_;
  bad[20] ^= 1;
  EXPECT_THAT(load_error(bad), HasSubstr("the header fails its checksum"));
  EXPECT_THAT(load_error({'T', 'G', 'W', '1'}), HasSubstr("expected the magic TGM1"));
}

TEST_F(ModelFileBad, ForgedHeadersWithAValidChecksumAreRefusedWithClearErrors) {
  const std::string& h = parts_.header;
  const auto& w = parts_.weights;
  EXPECT_THAT(load_error(forge(h + "x", w)), HasSubstr("json: unexpected text after the value"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"type\":\"LSTM\"", "\"type\":\"Evil\\u001b[2J\""), w)),
              HasSubstr("layer type 'Evil\\x1b[2J' (layer 'lstm') is not registered"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"units\":2}", "\"units\":-2}"), w)), HasSubstr("units must be positive"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"units\":2}", "\"units\":2000000000000}"), w)),
              HasSubstr("'units' is 2000000000000, more than the"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"units\":2}", "\"units\":\"2\"}"), w)),
              HasSubstr("LSTM: config 'units' is string, expected integer"));
  EXPECT_THAT(load_error(forge(replaced(h, ",\"units\":2}", "}"), w)), HasSubstr("LSTM: the config has no 'units'"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"units\":2}", "\"units\":3}"), w)),
              HasSubstr("has shape"));  // the weights no longer fit the architecture
  EXPECT_THAT(load_error(forge(replaced(h, "\"merge\":\"concat\"", "\"merge\":\"max\""), w)),
              HasSubstr("merge 'max' is not concat or sum"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"format\":\"tapegrad-model\"", "\"format\":\"other\""), w)),
              HasSubstr("format is 'other'"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"dtype\":\"float32\"", "\"dtype\":\"int8\""), w)),
              HasSubstr("dtype 'int8'"));
  EXPECT_THAT(load_error(forge(replaced(h, "[null,null,2]", "[null,null,-2]"), w)),
              HasSubstr("input_shape holds a size"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"type\":\"Sequential\"", "\"type\":\"Dense\""), w)),
              HasSubstr("the model is not a Sequential"));
  EXPECT_THAT(load_error(forge(replaced(h, "\"type\":\"LSTM\"", "\"type\":\"Dense\""), w)),
              HasSubstr("Dense: the config has no 'activation'"));
  EXPECT_THAT(load_error(forge(
                  replaced(h, "\"forward_layer\":{\"type\":\"GRU\"", "\"forward_layer\":{\"type\":\"Flatten\""), w)),
              HasSubstr("Bidirectional: config 'forward_layer' does not describe a recurrent layer"));
  EXPECT_THAT(load_error(forge(h, {})), HasSubstr("load_model"));
  std::string deep = replaced(h, "\"layers\":[", "\"layers\":[" + std::string(80, '[') + std::string(80, ']') + ",");
  EXPECT_THAT(load_error(forge(deep, w)), HasSubstr("nested deeper than 64"));
}

TEST(ModelFile, ReadsRegularFilesOnlyAndWritesAtomically) {
  EXPECT_THAT(testing::error_of<IOError>([] { load_model("/dev/zero"); }), HasSubstr("load_model"));
  EXPECT_THAT(testing::error_of<IOError>([] { load_model(::testing::TempDir()); }), HasSubstr("load_model"));
  EXPECT_THAT(testing::error_of<IOError>([] { load_model(temp_path("missing.tgm")); }), HasSubstr("load_model"));
  Sequential model(Input{2}, Dense(1));
  const std::string path = temp_path("atomic.tgm");
  { std::ofstream(path) << "old"; }
  save_model(model, path);
  EXPECT_NO_THROW(load_model(path));
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr(fs::path(path).filename().string() + ".")));
  fs::remove(path);
}

}  // namespace
}  // namespace tg
