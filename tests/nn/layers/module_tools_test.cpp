// Module's tools: set_trainable (frozen parameters get no gradient and no update, and count as
// non-trainable), named_modules, apply, clone (a deep copy of every built-in layer of nn/layers);
// the softmax activation and Softmax layer (float64 gradient checks, PyTorch goldens from
// scripts/make_softmax_layer_goldens.py); Json, the configs' reader and writer.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using ::testing::HasSubstr;

Tensor rand64(const Shape& s, std::uint32_t seed) {
  Generator g(seed);
  return randn(s, DType::f64, &g);
}

bool same_values(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector() == b.to_vector(); }

// ---- trainable ------------------------------------------------------------------------------------

TEST(ModuleTrainable, FrozenLayerGetsNoGradientNoUpdateAndCountsAsNonTrainable) {
  manual_seed(1);
  Sequential model(Input{4}, Dense(3), Dense(2));
  model[0].set_trainable(false);
  EXPECT_FALSE(model[0].trainable());
  EXPECT_TRUE(model[1].trainable());
  EXPECT_EQ(model.trainable_parameters().size(), 2u);
  const std::string s = model.summary();
  EXPECT_THAT(s, HasSubstr("Trainable params: 8"));       // 3*2 + 2
  EXPECT_THAT(s, HasSubstr("Non-trainable params: 15"));  // 4*3 + 3

  const std::vector<double> frozen = model[0].parameters()[0].to_vector();
  const std::vector<double> free = model[1].parameters()[0].to_vector();
  SGD opt(model.parameters(), 0.5);
  Tensor loss = mean(model(rand64({5, 4}, 2).to(DType::f32)) * 3.0);
  loss.backward();
  EXPECT_FALSE(model[0].parameters()[0].grad().defined());
  opt.step();
  EXPECT_EQ(model[0].parameters()[0].to_vector(), frozen);
  EXPECT_NE(model[1].parameters()[0].to_vector(), free);

  model.set_trainable(true);
  EXPECT_EQ(model.trainable_parameters().size(), 4u);
  EXPECT_THAT(model.summary(), HasSubstr("Non-trainable params: 0"));
}

TEST(ModuleTrainable, AdamWWithWeightDecayLeavesAFrozenLayerAsItIs) {
  manual_seed(2);
  Sequential model(Input{4}, Dense(3), Dense(2));
  Tensor x = rand64({5, 4}, 3).to(DType::f32);
  mean(model(x)).backward();  // gradients everywhere, then freeze: the stale one must not count
  model[0].set_trainable(false);
  const std::vector<double> kernel = model[0].parameters()[0].to_vector();
  const std::vector<double> bias = model[0].parameters()[1].to_vector();
  AdamW opt(model.parameters(), 0.1, 0.5);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    mean(model(x)).backward();
    opt.step();
  }
  EXPECT_EQ(model[0].parameters()[0].to_vector(), kernel);
  EXPECT_EQ(model[0].parameters()[1].to_vector(), bias);
}

TEST(ModuleTrainable, FreezingBeforeBuildFreezesTheParametersMadeLater) {
  Dense d(3);
  d.set_trainable(false);
  d.build({-1, 2});
  ASSERT_EQ(d.parameters().size(), 2u);
  for (const Tensor& p : d.parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_TRUE(d.trainable_parameters().empty());
}

TEST(ModuleTrainable, FreezingDropsAGradientAlreadyThere) {
  Sequential model(Input{2}, Dense(1));
  mean(model(ones({3, 2}))).backward();
  ASSERT_TRUE(model[0].parameters()[0].grad().defined());
  model.set_trainable(false);
  EXPECT_FALSE(model[0].parameters()[0].grad().defined());
}

// ---- named_modules, apply ----------------------------------------------------------------------------

TEST(ModuleWalk, NamedModulesListsItselfFirstThenDottedPaths) {
  Sequential model(Input{None, 3}, TimeDistributed(Dense(2)), Dense(1));
  std::vector<std::string> names;
  for (const auto& [name, m] : model.named_modules()) names.push_back(name + ":" + m->type_name());
  EXPECT_THAT(names, ::testing::ElementsAre(":Sequential", "time_distributed:TimeDistributed",
                                            "time_distributed.layer:Dense", "dense:Dense"));
  const Sequential& c = model;
  EXPECT_EQ(c.named_modules().size(), 4u);
  EXPECT_EQ(c.named_modules()[2].second, &static_cast<TimeDistributed&>(model[0]).layer());
}

TEST(ModuleWalk, ApplyVisitsChildrenBeforeParents) {
  Sequential model(Input{None, 3}, TimeDistributed(Dense(2)), Dense(1));
  std::vector<std::string> order;
  Module& r = model.apply([&](Module& m) { order.push_back(m.type_name()); });
  EXPECT_EQ(&r, &model);
  EXPECT_THAT(order, ::testing::ElementsAre("Dense", "TimeDistributed", "Dense", "Sequential"));
  // A typical use: re-initialise every Dense bias.
  model.apply([](Module& m) {
    if (auto* d = dynamic_cast<Dense*>(&m)) d->bias.fill_(0.25);
  });
  EXPECT_EQ(model[1].parameters()[1].to_vector(), std::vector<double>{0.25});
}

// ---- clone --------------------------------------------------------------------------------------------

// A deep copy: same outputs, weights equal but not shared, names and flags kept, and the random
// sequence of the caller left as it was.
void expect_deep_copy(Module& original, const Tensor& x) {
  SCOPED_TRACE(original.type_name());
  original.eval();
  Tensor y = original(x);
  const double next_draw = [] {
    Generator g = default_generator();
    return g.uniform();
  }();
  std::shared_ptr<Module> copy = original.clone();
  EXPECT_EQ(default_generator().uniform(), next_draw) << "clone moved the default generator";
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->type_name(), original.type_name());
  EXPECT_EQ(copy->name(), original.name());
  EXPECT_EQ(copy->training(), original.training());
  EXPECT_EQ(copy->built(), original.built());
  EXPECT_TRUE(same_values((*copy)(x), y));
  auto a = original.named_parameters();
  auto b = copy->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(same_values(a[i].second, b[i].second)) << a[i].first;
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype());
    EXPECT_EQ(a[i].second.requires_grad(), b[i].second.requires_grad());
  }
  // Independent: changing the copy's weights leaves the original's.
  for (auto& [n, p] : b) p.fill_(0.125);
  if (!a.empty()) {
    EXPECT_NE(a[0].second.to_vector(), b[0].second.to_vector());
    EXPECT_TRUE(same_values(original(x), y));
  }
}

TEST(ModuleClone, EveryLayerOfNnLayersIsADeepCopy) {
  manual_seed(3);
  Tensor seq = rand64({2, 5, 3}, 4).to(DType::f32);
  Tensor ids = from_vector(std::vector<double>{1, 2, 0, 3, 4, 1}, Shape{2, 3});
  {
    Dense d(4, tg::activations::softmax);
    expect_deep_copy(d, seq);
  }
  {
    Dense d(3, 2);  // built by its constructor
    expect_deep_copy(d, rand64({4, 3}, 5).to(DType::f32));
  }
  {
    Flatten f;
    expect_deep_copy(f, seq);
  }
  {
    Softmax s;
    expect_deep_copy(s, seq);
  }
  {
    Conv1D c(4, 2, {.padding = Padding::causal, .dilation_rate = 2, .activation = activations::relu});
    expect_deep_copy(c, seq);
  }
  {
    Dropout d(0.5, 7);
    expect_deep_copy(d, seq);
  }
  {
    Embedding e(5, 3, {.mask_zero = true});
    expect_deep_copy(e, ids);
  }
  {
    Masking m(0.0);
    expect_deep_copy(m, seq);
  }
  {
    LayerNormalization ln;
    expect_deep_copy(ln, seq);
  }
  {
    RepeatVector r(4);
    expect_deep_copy(r, rand64({2, 3}, 6).to(DType::f32));
  }
  {
    TimeDistributed td(Dense(2));
    expect_deep_copy(td, seq);
  }
  {
    Sequential s(Input{None, 3}, Dense(4, activations::tanh), LayerNormalization(), Dense(1));
    s[1].set_trainable(false);
    expect_deep_copy(s, seq);
    auto c = s.clone();
    EXPECT_FALSE((*static_cast<Sequential*>(c.get()))[1].trainable());
  }
}

TEST(ModuleClone, CopiesFloat64WeightsAndAnUnbuiltLayerStaysUnbuilt) {
  manual_seed(5);
  Sequential s(Input{None, 3}, Dense(2));
  s.to(DType::f64);
  auto c = s.clone();
  EXPECT_EQ(c->parameters()[0].dtype(), DType::f64);
  expect_deep_copy(s, rand64({2, 3}, 1));
  Dense unbuilt(3);
  auto u = unbuilt.clone();
  EXPECT_FALSE(u->built());
}

TEST(ModuleClone, DropoutCopyDrawsTheMasksTheOriginalWouldDrawNext) {
  Dropout d(0.5, 11);
  Tensor x = ones({4, 8});
  d(x);  // move its generator on
  auto c = d.clone();
  EXPECT_TRUE(same_values((*c)(x), d(x)));
}

TEST(ModuleClone, AUserLayerWithoutCloneUnbuiltSaysSoByName) {
  struct Scale : Module {
    Scale() : Module("Scale") { w = register_parameter("w", ones({1})); }
    Tensor forward(const Tensor& x) override { return x * w; }
    Tensor w;
  };
  Scale s;
  s.set_name("my_scale");
  try {
    s.clone();
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("my_scale (Scale)"));
    EXPECT_THAT(e.what(), HasSubstr("clone_unbuilt"));
  }
}

// ---- softmax --------------------------------------------------------------------------------------------

TEST(SoftmaxActivation, DenseRowsSumToOneAndTheNameReadsBack) {
  manual_seed(6);
  Dense d(5, activations::softmax);
  Tensor y = d(rand64({3, 4}, 7).to(DType::f32));
  for (std::int64_t i = 0; i < 3; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < 5; ++j) sum += y.at({i, j});
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  EXPECT_EQ(activation_from_name("softmax"), activations::softmax);
  EXPECT_EQ(activation_from_name("relu"), activations::relu);
  EXPECT_THROW(activation_from_name("swish"), ValueError);
}

TEST(SoftmaxGradcheck, DenseWithSoftmaxAndTheSoftmaxLayerFloat64) {
  manual_seed(8);
  {
    Sequential m(Input{None, 4}, Dense(5, activations::softmax));
    m.to(DType::f64);
    Tensor x = rand64({2, 3, 4}, 9);
    Tensor w = rand64({2, 3, 5}, 10);  // a weighted sum, so the gradient is not zero
    std::vector<Tensor> leaves = m.parameters();
    leaves.push_back(x);
    auto r = gradcheck_leaves([&] { return sum(m(x) * w); }, leaves);
    EXPECT_TRUE(r.ok) << r.message;
  }
  for (int axis : {-1, 1, 0}) {
    Softmax s(axis);
    Tensor x = rand64({3, 4, 2}, 11);
    Tensor w = rand64({3, 4, 2}, 12);
    auto r = gradcheck_leaves([&] { return sum(s(x) * w); }, {x});
    EXPECT_TRUE(r.ok) << "axis " << axis << ": " << r.message;
  }
}

const golden::GoldenCase& softmax_case(DType dtype) {
  static const std::vector<golden::GoldenCase> cases =
      golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/softmax_layer.txt");
  for (const golden::GoldenCase& c : cases)
    if (c.name == "dense_softmax" && c.dtype == dtype) return c;
  throw ValueError("no golden case dense_softmax");
}

void check_against_torch(Sequential& model, DType dtype) {
  const golden::GoldenCase& c = softmax_case(dtype);
  model.to(dtype);
  Dense& d = static_cast<Dense&>(model[0]);
  d.kernel.copy_from(c.input("dense.kernel").to_tensor(dtype));
  d.bias.copy_from(c.input("dense.bias").to_tensor(dtype));
  Tensor pred = model(c.input("x").to_tensor(dtype));
  golden::expect_matches(pred, c.value("prediction"), dtype, "prediction");
  Tensor loss = mse(c.input("target").to_tensor(dtype), pred);
  golden::expect_matches(loss, c.output(), dtype, "loss");
  loss.backward();
  golden::expect_matches(d.kernel.grad(), c.grad("dense.kernel"), dtype, "grad kernel");
  golden::expect_matches(d.bias.grad(), c.grad("dense.bias"), dtype, "grad bias");
}

TEST(SoftmaxGoldens, DenseSoftmaxMatchesTorchFloat64AndFloat32) {
  for (DType dtype : {DType::f64, DType::f32}) {
    Sequential m(Input{3, 4}, Dense(5, activations::softmax));
    check_against_torch(m, dtype);
  }
}

TEST(SoftmaxGoldens, DenseThenSoftmaxLayerMatchesTorch) {
  for (DType dtype : {DType::f64, DType::f32}) {
    Sequential m(Input{3, 4}, Dense(5), Softmax());
    check_against_torch(m, dtype);
  }
}

// ---- Json ------------------------------------------------------------------------------------------------

TEST(Json, WritesAndReadsBackExactly) {
  Json v = Json::object();
  v.set("units", 20).set("rate", 0.1).set("eps", 1e-3).set("name", "a\"b\\c\n\x01").set("on", true).set("none", Json());
  v.set("list", Json(Json::Array{Json(1), Json(-2.5), Json(std::int64_t{9007199254740993})}));
  const std::string text = v.dump();
  Json back = Json::parse(text);
  EXPECT_EQ(back, v);
  EXPECT_EQ(back.find("rate")->as_double(), 0.1);
  EXPECT_EQ(back.find("list")->as_array()[2].as_int(), 9007199254740993);
  EXPECT_EQ(Json::parse("1.0").kind(), Json::Kind::number);
  EXPECT_EQ(Json::parse(Json(2.0).dump()).kind(), Json::Kind::number);
  EXPECT_EQ(Json::parse(" \"\\u00e9\\ud83d\\ude00\" ").as_string(), "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, RefusesWhatIsNotStrictJson) {
  for (const char* bad : {"",          "{",       "[1,]",        "{\"a\":1,}", "{'a':1}",  "01",
                          "1.",        ".5",      "NaN",         "1e999",      "tru",      "{\"a\":1,\"a\":2}",
                          "\"\x01\"",  "\"\\x\"", "\"\\ud800\"", "[1] 2",      "\"\xff\"", "99999999999999999999",
                          "{\"a\" 1}", "// c\n1"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(Json::parse(bad), ValueError);
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_THROW(Json::parse(deep), ValueError);
  try {
    Json::parse("{\"a\": \x1b[2J}");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("\\x1b"));
    EXPECT_THAT(e.what(), HasSubstr("at byte 6"));
  }
}

}  // namespace
}  // namespace tg
