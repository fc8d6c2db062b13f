// The catalogue of hostile inputs: every bad input to an op, a layer, fit/evaluate/predict and the
// weight files is answered by a typed error whose message names the op or layer, what was expected
// and what came; and after the error the same model still predicts and trains.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"
#include <tapegrad/nn/training/serialize.h>

namespace tg {
namespace {

using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The deep RNN of the walkthrough, small: SimpleRNN(4, seq) + SimpleRNN(4) + Dense(1).
Sequential deep_rnn() {
  manual_seed(7);
  return Sequential(Input{None, 1}, SimpleRNN(4, {.return_sequences = true}), SimpleRNN(4), Dense(1));
}

struct Data {
  Tensor x, y;
};

Data series(std::int64_t n, std::int64_t steps = 6, std::uint32_t seed = 3) {
  Generator g(seed);
  Tensor x = uniform({n, steps, 1}, -1, 1, DType::f32, &g);
  return {x, select(x, 1, -1) * 0.5};
}

std::vector<std::vector<double>> snapshot(const Module& m) {
  std::vector<std::vector<double>> v;
  for (const Tensor& p : m.parameters()) v.push_back(p.to_vector());
  return v;
}

// After an error, the same model predicts (the right shape, finite values) and one epoch of fit
// changes its weights and reports a finite loss.
void expect_usable(Module& model, const Data& d) {
  SCOPED_TRACE("the model after the error");
  Tensor p = predict(model, d.x, 8);
  EXPECT_EQ(p.shape(), d.y.shape());
  for (double v : p.to_vector()) ASSERT_TRUE(std::isfinite(v));
  auto before = snapshot(model);
  SGD sgd(model.parameters(), 0.05);
  History h = fit(model, d.x, d.y, {.batch_size = 8, .optimizer = &sgd, .verbose = 0});
  EXPECT_TRUE(std::isfinite(h["loss"].back()));
  EXPECT_NE(snapshot(model), before);
}

// ---- ops ----------------------------------------------------------------------------------------

TEST(BadInputCatalogue, OpsShapeMismatches) {
  EXPECT_EQ(error_of<ShapeError>([] {
              matmul(zeros({32, 20}), zeros({10, 20}));
            }),
            "matmul: lhs [32,20] and rhs [10,20]: inner dimensions 20 != 10");
  EXPECT_THAT(error_of<ShapeError>([] {
                matmul(zeros({2, 3, 4}), zeros({5, 4, 2}));
              }),
              AllOf(HasSubstr("matmul"), HasSubstr("[2,3,4]"), HasSubstr("[5,4,2]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                add(zeros({2, 3}), zeros({4, 3}));
              }),
              AllOf(HasSubstr("add"), HasSubstr("[2,3]"), HasSubstr("[4,3]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                mul(zeros({2, 3}), zeros({2}));
              }),
              AllOf(HasSubstr("mul"), HasSubstr("[2,3]"), HasSubstr("[2]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                linear(zeros({4, 3}), zeros({2, 5}), zeros({5}));
              }),
              AllOf(HasSubstr("linear"), HasSubstr("[4,3]"), HasSubstr("[2,5]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                linear(zeros({4, 3}), zeros({3, 5}), zeros({4}));
              }),
              AllOf(HasSubstr("linear"), HasSubstr("[4]"), HasSubstr("5")));
  EXPECT_THAT(error_of<ShapeError>([] {
                reshape(zeros({2, 3}), {4, 2});
              }),
              AllOf(HasSubstr("reshape"), HasSubstr("[2,3]"), HasSubstr("[4,2]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                reshape(zeros({2, 3}), {-1, 4});
              }),
              AllOf(HasSubstr("reshape"), HasSubstr("[2,3]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                broadcast_to(zeros({2, 3}), {2, 4});
              }),
              AllOf(HasSubstr("broadcast_to"), HasSubstr("[2,3]"), HasSubstr("[2,4]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                std::vector<Tensor> xs{zeros({2, 3}), zeros({3, 4})};
                concat(xs, 0);
              }),
              AllOf(HasSubstr("concat"), HasSubstr("[2,3]"), HasSubstr("[3,4]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                std::vector<Tensor> xs{zeros({2, 3}), zeros({2, 4})};
                stack(xs, 0);
              }),
              AllOf(HasSubstr("stack"), HasSubstr("[2,3]"), HasSubstr("[2,4]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                mse(zeros({4, 2}), zeros({4, 1}));
              }),
              AllOf(HasSubstr("mse"), HasSubstr("[4,1]"), HasSubstr("[4,2]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                mse(zeros({4, 1}), zeros({1, 4}));
              }),
              AllOf(HasSubstr("[4,1]"), HasSubstr("[1,4]")));
  EXPECT_THAT(error_of<ShapeError>([] {
                rnn_tanh_step(zeros({4, 6, 3}), 0, zeros({4, 2}), zeros({3, 3}));
              }),
              AllOf(HasSubstr("rnn_tanh_step"), HasSubstr("[4,2]")));
}

TEST(BadInputCatalogue, OpsWrongRankAndAxes) {
  EXPECT_THAT(error_of<ShapeError>([] { matmul(scalar(1.0), zeros({2, 2})); }), HasSubstr("matmul"));
  EXPECT_THAT(error_of<ShapeError>([] { linear(zeros({4, 3}), zeros({3}), zeros({2})); }), HasSubstr("linear"));
  EXPECT_THAT(error_of<ValueError>([] {
                transpose(zeros({2, 3}), 0, 2);
              }),
              AllOf(HasSubstr("transpose"), HasSubstr("2")));
  EXPECT_THAT(error_of<ValueError>([] { permute(zeros({2, 3}), {0, 0}); }), HasSubstr("permute"));
  EXPECT_THAT(error_of<ValueError>([] { permute(zeros({2, 3}), {0}); }), HasSubstr("permute"));
  EXPECT_THAT(error_of<ValueError>([] { sum(zeros({2, 3}), {2}); }), AllOf(HasSubstr("sum"), HasSubstr("2")));
  EXPECT_THAT(error_of<ValueError>([] { mean(zeros({2, 3}), {-3}); }), AllOf(HasSubstr("mean"), HasSubstr("-3")));
  EXPECT_THAT(error_of<ValueError>([] { max(zeros({2, 3}), 5); }), AllOf(HasSubstr("max"), HasSubstr("5")));
  EXPECT_THAT(error_of<ValueError>([] {
                slice(zeros({2, 3}), 1, 2, 2);
              }),
              AllOf(HasSubstr("slice"), HasSubstr("[2,3]")));
  EXPECT_THAT(error_of<ValueError>([] { slice(zeros({2, 3}), 1, 0, -1); }), HasSubstr("slice"));
  EXPECT_THAT(error_of<ValueError>([] {
                select(zeros({2, 3}), 0, 2);
              }),
              AllOf(HasSubstr("select"), HasSubstr("[2,3]")));
  EXPECT_THAT(error_of<ValueError>([] { select(zeros({2, 3}), 3, 0); }), HasSubstr("select"));
  EXPECT_THAT(error_of<ValueError>([] { concat(std::vector<Tensor>{}, 0); }), HasSubstr("concat"));
  EXPECT_THAT(error_of<ValueError>([] { stack(std::vector<Tensor>{}, 0); }), HasSubstr("stack"));
  EXPECT_THAT(error_of<ValueError>([] { max(zeros({0, 3})); }), HasSubstr("max"));
  EXPECT_THAT(error_of<ValueError>([] { clamp(zeros({2}), 1.0, -1.0); }), HasSubstr("clamp"));
}

TEST(BadInputCatalogue, OpsWrongDtypeAndUndefinedTensors) {
  EXPECT_THAT(error_of<DTypeError>([] { add(zeros({2}), zeros({2}, DType::f64)); }),
              AllOf(HasSubstr("add"), HasSubstr("float32"), HasSubstr("float64")));
  EXPECT_THAT(error_of<DTypeError>([] {
                matmul(zeros({2, 2}), zeros({2, 2}, DType::f64));
              }),
              AllOf(HasSubstr("matmul"), HasSubstr("float64")));
  EXPECT_THAT(error_of<DTypeError>([] {
                linear(zeros({2, 2}), zeros({2, 2}), zeros({2}, DType::f64));
              }),
              AllOf(HasSubstr("linear"), HasSubstr("float64")));
  EXPECT_THAT(error_of<DTypeError>([] {
                std::vector<Tensor> xs{zeros({2}), zeros({2}, DType::f64)};
                concat(xs, 0);
              }),
              AllOf(HasSubstr("concat"), HasSubstr("float64")));
  EXPECT_THAT(error_of<DTypeError>([] { mse(zeros({2}, DType::f64), zeros({2})); }), HasSubstr("mse"));
  // An undefined tensor (a default-constructed Tensor) is a ValueError wherever it is used.
  EXPECT_THAT(error_of<ValueError>([] { add(Tensor(), zeros({2})); }), HasSubstr("undefined tensor"));
  EXPECT_THAT(error_of<ValueError>([] { matmul(zeros({2, 2}), Tensor()); }), HasSubstr("undefined tensor"));
  EXPECT_THAT(error_of<ValueError>([] { tanh(Tensor()); }), HasSubstr("undefined tensor"));
  EXPECT_THAT(error_of<ValueError>([] { reshape(Tensor(), {1}); }), HasSubstr("undefined tensor"));
  EXPECT_THAT(error_of<ValueError>([] { sum(Tensor()); }), HasSubstr("undefined tensor"));
}

TEST(BadInputCatalogue, TensorCreation) {
  EXPECT_THAT(error_of<ValueError>([] { zeros({2, -1}); }), HasSubstr("-1"));
  EXPECT_THAT(error_of<ShapeError>([] { tensor({1.0, 2.0, 3.0}, {2, 2}); }), AllOf(HasSubstr("3"), HasSubstr("[2,2]")));
  EXPECT_THAT(error_of<ValueError>([] { zeros({2, 3}).at({2, 0}); }), HasSubstr("[2,3]"));
  EXPECT_THAT(error_of<ValueError>([] { zeros({2, 3}).item(); }), HasSubstr("[2,3]"));
  EXPECT_THAT(error_of<ShapeError>([] {
                zeros({2, 3}).copy_from(zeros({3, 2}));
              }),
              AllOf(HasSubstr("[2,3]"), HasSubstr("[3,2]")));
}

// ---- layers -------------------------------------------------------------------------------------

TEST(BadInputCatalogue, LayersNameThemselvesAndTheShapes) {
  Sequential model = deep_rnn();
  const Data d = series(16);
  // Wrong rank: a [B, F] batch for a recurrent layer, a rank-4 one.
  EXPECT_THAT(error_of<ShapeError>([&] { model(zeros({8, 6})); }), AllOf(HasSubstr("SimpleRNN"), HasSubstr("[8,6]")));
  EXPECT_THAT(error_of<ShapeError>([&] {
                model(zeros({8, 6, 1, 1}));
              }),
              AllOf(HasSubstr("SimpleRNN"), HasSubstr("[8,6,1,1]")));
  // Wrong feature count for the built input size.
  EXPECT_THAT(error_of<ShapeError>([&] {
                model(zeros({8, 6, 3}));
              }),
              AllOf(HasSubstr("[8,6,3]"), HasSubstr("1"), HasSubstr("3")));
  // Zero-length sequences and empty batches.
  EXPECT_THAT(error_of<ValueError>([&] {
                model(zeros({8, 0, 1}));
              }),
              AllOf(HasSubstr("SimpleRNN"), HasSubstr("[8,0,1]")));
  // Wrong dtype for a float32 model.
  EXPECT_THAT(error_of<DTypeError>([&] {
                model(zeros({8, 6, 1}, DType::f64));
              }),
              AllOf(HasSubstr("float64"), HasSubstr("float32")));
  EXPECT_THAT(error_of<ValueError>([&] { model(Tensor()); }), HasSubstr("undefined"));
  expect_usable(model, d);

  Dense dense(3, 2);
  EXPECT_THAT(error_of<ShapeError>([&] {
                dense(zeros({4, 5}));
              }),
              AllOf(HasSubstr("Dense"), HasSubstr("[4,5]"), HasSubstr("3")));
  EXPECT_THAT(error_of<ShapeError>([&] { dense(scalar(1.0)); }), HasSubstr("Dense"));
  EXPECT_THAT(error_of<DTypeError>([&] { dense(zeros({4, 3}, DType::f64)); }), HasSubstr("float64"));
  EXPECT_EQ(dense(zeros({4, 3})).shape(), (Shape{4, 2}));

  TimeDistributed td(Dense(2));
  EXPECT_THAT(error_of<ShapeError>([&] {
                td(zeros({4, 3}));
              }),
              AllOf(HasSubstr("TimeDistributed"), HasSubstr("(None, 3)"), HasSubstr("(batch, time, ...)")));
  EXPECT_EQ(td(zeros({4, 5, 3})).shape(), (Shape{4, 5, 2}));
  EXPECT_THAT(error_of<ShapeError>([&] {
                td(zeros({4, 5, 7}));
              }),
              AllOf(HasSubstr("TimeDistributed: input [4,5,7]"), HasSubstr("Dense"), HasSubstr("3")));
  EXPECT_THAT(error_of<DTypeError>([&] {
                td(zeros({4, 5, 3}, DType::f64));
              }),
              AllOf(HasSubstr("TimeDistributed: input [4,5,3]"), HasSubstr("float64")));
  EXPECT_EQ(td(zeros({2, 1, 3})).shape(), (Shape{2, 1, 2}));

  Sequential with_input(Input{None, 1}, SimpleRNN(3), Dense(1));
  EXPECT_THAT(error_of<ShapeError>([&] { with_input(zeros({2, 5, 2})); }), HasSubstr("[2,5,2]"));
  EXPECT_EQ(with_input(zeros({2, 5, 1})).shape(), (Shape{2, 1}));
}

// ---- fit, evaluate, predict ---------------------------------------------------------------------

TEST(BadInputCatalogue, FitArgumentsAndDatasets) {
  Sequential model = deep_rnn();
  const Data d = series(16);
  SGD sgd(model.parameters(), 0.05);
  FitOptions o{.optimizer = &sgd, .verbose = 0};
  EXPECT_THAT(error_of<ValueError>([&] {
                fit(model, zeros({0, 6, 1}), zeros({0, 1}), o);
              }),
              AllOf(HasSubstr("fit"), HasSubstr("no samples")));
  EXPECT_THAT(error_of<ShapeError>([&] { fit(model, d.x, slice(d.y, 0, 0, 15), o); }),
              AllOf(HasSubstr("fit"), HasSubstr("16 vs 15")));
  EXPECT_THAT(error_of<ShapeError>([&] {
                fit(model, d.x, zeros({16, 2}), o);
              }),
              AllOf(HasSubstr("[16,1]"), HasSubstr("[16,2]")));
  EXPECT_THAT(error_of<ShapeError>([&] { fit(model, zeros({16, 6}), d.y, o); }), HasSubstr("SimpleRNN"));
  EXPECT_THAT(error_of<DTypeError>([&] { fit(model, d.x, zeros({16, 1}, DType::f64), o); }), HasSubstr("float64"));
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, Tensor(), d.y, o); }), HasSubstr("undefined"));
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, d.x, Tensor(), o); }), HasSubstr("undefined"));
  for (std::int64_t bad : {0, -1, -32}) {
    FitOptions b = o;
    b.batch_size = bad;
    EXPECT_EQ(error_of<ValueError>([&] { fit(model, d.x, d.y, b); }),
              fmt::format("fit: batch_size must be >= 1, got {}", bad));
    EXPECT_EQ(error_of<ValueError>([&] { predict(model, d.x, bad); }),
              fmt::format("predict: batch_size must be >= 1, got {}", bad));
    EXPECT_EQ(error_of<ValueError>([&] { evaluate(model, d.x, d.y, mse, {}, bad); }),
              fmt::format("evaluate: batch_size must be >= 1, got {}", bad));
  }
  EXPECT_THAT(error_of<ValueError>([&] { predict(model, zeros({0, 6, 1})); }), HasSubstr("no samples"));
  EXPECT_THAT(error_of<ValueError>([&] { evaluate(model, zeros({0, 6, 1}), zeros({0, 1})); }), HasSubstr("no samples"));
  expect_usable(model, d);
}

// Keras: a batch size larger than the data makes one batch of all samples. So here.
TEST(BadInputCatalogue, BatchLargerThanTheDataIsOneBatch) {
  Sequential model = deep_rnn();
  const Data d = series(5);
  SGD sgd(model.parameters(), 0.05);
  std::ostringstream out;
  History h = fit(model, d.x, d.y, {.epochs = 2, .batch_size = 1000, .optimizer = &sgd, .verbose = 2, .out = &out});
  EXPECT_EQ(h.epochs(), 2);
  EXPECT_THAT(out.str(), HasSubstr("1/1 - "));
  EXPECT_EQ(predict(model, d.x, 1000).shape(), (Shape{5, 1}));
  const Logs l = evaluate(model, d.x, d.y, mse, {}, 1000);
  EXPECT_NEAR(l.at("loss"), mse(d.y, predict(model, d.x)).item(), 1e-6);
}

// fit and evaluate refuse data with a NaN or an infinity, naming the tensor, the first bad sample
// and its position, before any step; predict lets non-finite inputs through (they give non-finite
// outputs, as in Keras), since masking a missing value is the user's choice.
TEST(BadInputCatalogue, NonFiniteInputsOrTargetsAreRefusedUpFront) {
  Sequential model = deep_rnn();
  const Data d = series(16);
  const auto before = snapshot(model);
  SGD sgd(model.parameters(), 0.05);
  FitOptions o{.optimizer = &sgd, .verbose = 0};

  Tensor x = d.x.clone();
  x.data<float>()[5 * 6 + 2] = static_cast<float>(kNaN);  // sample 5, step 2
  EXPECT_EQ(error_of<ValueError>([&] { fit(model, x, d.y, o); }),
            "fit: x holds a non-finite value (nan) at sample 5, index [5,2,0] of [16,6,1]; clean or mask the "
            "data before training");
  Tensor y = d.y.clone();
  y.data<float>()[11] = static_cast<float>(-kInf);
  EXPECT_EQ(error_of<ValueError>([&] { fit(model, d.x, y, o); }),
            "fit: y holds a non-finite value (-inf) at sample 11, index [11,0] of [16,1]; clean or mask the "
            "data before training");
  o.validation_data = std::pair{d.x, y};
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, d.x, d.y, o); }),
              HasSubstr("fit: validation y holds a non-finite value (-inf) at sample 11"));
  EXPECT_THAT(error_of<ValueError>([&] { evaluate(model, x, d.y); }),
              HasSubstr("evaluate: x holds a non-finite value (nan) at sample 5"));
  EXPECT_EQ(snapshot(model), before);  // nothing was trained

  Tensor p = predict(model, x);
  EXPECT_TRUE(std::isnan(p.at({5, 0})));
  EXPECT_TRUE(std::isfinite(p.at({4, 0})));
  expect_usable(model, d);
}

TEST(BadInputCatalogue, ExceptionsInsideFitLeaveTheModelUsable) {
  Sequential model = deep_rnn();
  const Data d = series(16);
  SGD sgd(model.parameters(), 0.05);
  model.eval();
  int calls = 0;
  LossFn throws_at_third = [&calls](const Tensor& t, const Tensor& p) {
    if (++calls == 3) throw ValueError("user loss: refused");
    return mse(t, p);
  };
  EXPECT_EQ(error_of<ValueError>([&] {
              fit(model, d.x, d.y,
                  {.epochs = 2, .batch_size = 4, .optimizer = &sgd, .loss = throws_at_third, .verbose = 0});
            }),
            "user loss: refused");
  EXPECT_FALSE(model.training());  // fit put the mode back
  expect_usable(model, d);
}

// ---- weight files -------------------------------------------------------------------------------

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  static int counter = 0;
  return (fs::path(::testing::TempDir()) / fmt::format("tg_catalogue_{}_{}_{}", ::getpid(), counter++, name)).string();
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

TEST(BadInputCatalogue, WeightFiles) {
  Sequential model = deep_rnn();
  const Data d = series(16);
  const std::string good = temp_path("good.tgw");
  save_weights(model, good);
  const auto bytes = read_bytes(good);
  const auto before = snapshot(model);

  // Another architecture: more units, another layer count, another dtype.
  manual_seed(1);
  Sequential wider(Input{None, 1}, SimpleRNN(5, {.return_sequences = true}), SimpleRNN(4), Dense(1));
  EXPECT_THAT(
      error_of<ShapeError>([&] { load_weights(wider, good); }),
      AllOf(HasSubstr("load_weights"), HasSubstr("'simple_rnn.cell.kernel'"), HasSubstr("[1,4]"), HasSubstr("[1,5]")));
  Sequential shallow(Input{None, 1}, SimpleRNN(4), Dense(1));
  EXPECT_THAT(error_of<ShapeError>([&] { load_weights(shallow, good); }),
              AllOf(HasSubstr("holds 8 parameters"), HasSubstr("the model has 5")));
  Sequential f64 = deep_rnn();
  f64.to(DType::f64);
  EXPECT_THAT(error_of<DTypeError>([&] { load_weights(f64, good); }),
              AllOf(HasSubstr("float32 in the file"), HasSubstr("float64 in the model")));
  Sequential unbuilt;
  unbuilt.add(SimpleRNN(4)).add(Dense(1));
  EXPECT_THAT(error_of<ShapeError>([&] { load_weights(unbuilt, good); }), HasSubstr("build the model"));

  // Empty, truncated at every length, any byte corrupted, a text file.
  const std::string bad = temp_path("bad.tgw");
  write_bytes(bad, {});
  EXPECT_THAT(error_of<IOError>([&] { load_weights(model, bad); }),
              AllOf(HasSubstr("not a tapegrad weights file"), HasSubstr("0 bytes")));
  for (std::size_t n = 1; n < bytes.size(); n += 7) {
    write_bytes(bad, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)});
    const std::string msg = error_of<IOError>([&] { load_weights(model, bad); });
    EXPECT_THAT(msg, HasSubstr("load_weights")) << n;
    EXPECT_THAT(msg, HasSubstr(bad)) << n;
  }
  for (std::size_t i = 0; i < bytes.size(); i += 5) {
    auto flipped = bytes;
    flipped[i] ^= 0x40;
    write_bytes(bad, flipped);
    EXPECT_THAT(error_of<IOError>([&] { load_weights(model, bad); }), HasSubstr("load_weights")) << i;
  }
  write_bytes(bad, {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_THAT(error_of<IOError>([&] { load_weights(model, bad); }), HasSubstr("not a tapegrad weights file"));

  // Paths that cannot be read or written.
  EXPECT_THAT(error_of<IOError>([&] { load_weights(model, temp_path("missing.tgw")); }),
              AllOf(HasSubstr("cannot open"), HasSubstr("No such file")));
  const std::string dir = temp_path("a_directory");
  fs::create_directory(dir);
  EXPECT_THAT(error_of<IOError>([&] { load_weights(model, dir); }), AllOf(HasSubstr(dir), HasSubstr("directory")));
  EXPECT_THAT(error_of<IOError>([&] { save_weights(model, dir); }), AllOf(HasSubstr(dir), HasSubstr("directory")));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
  EXPECT_THAT(error_of<IOError>([&] { save_weights(model, temp_path("no_such_dir") + "/w.tgw"); }),
              AllOf(HasSubstr("save_weights"), HasSubstr("No such file")));
  EXPECT_THAT(error_of<IOError>([&] { save_weights(model, "/proc/tapegrad_cannot_write.tgw"); }),
              HasSubstr("save_weights"));
  EXPECT_THAT(error_of<IOError>([&] { save_weights(model, ""); }), HasSubstr("save_weights"));
  EXPECT_THAT(error_of<IOError>([&] { load_weights(model, ""); }), HasSubstr("load_weights"));

  EXPECT_EQ(snapshot(model), before);  // no failed load changed anything
  load_weights(model, good);           // the good file still loads
  EXPECT_EQ(snapshot(model), before);
  expect_usable(model, d);
  fs::remove_all(dir);
  fs::remove(good);
  fs::remove(bad);
}

}  // namespace
}  // namespace tg
