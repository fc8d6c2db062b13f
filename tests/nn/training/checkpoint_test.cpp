// Checkpoints that resume: 10 epochs, a stop, and 10 more give the weights of 20 epochs in one go,
// bit for bit in float64, with shuffling, dropout, a validation split and callbacks whose state
// matters; and a checkpoint that does not fit is refused before anything changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/core/file_io.h>
#include <tapegrad/nn/training/checkpoint.h>
#include <tapegrad/optim/adam.h>
#include <tapegrad/optim/sgd.h>
#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::path(::testing::TempDir()) / fmt::format("tg_{}_{}", ::getpid(), name)).string();
}

Sequential make_model(std::uint32_t seed) {
  manual_seed(seed);
  Sequential m(Input{3}, Dense(8, activations::tanh), Dropout(0.25), Dense(2));
  m.to(DType::f64);
  return m;
}

std::vector<double> all_weights(Module& m) {
  std::vector<double> out;
  for (const Tensor& p : m.parameters()) {
    const auto v = p.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

struct Data {
  Tensor x, y;
};

Data make_data() {
  Generator g(21);
  Tensor x = uniform({40, 3}, -1, 1, DType::f64, &g);
  Tensor y = uniform({40, 2}, -1, 1, DType::f64, &g);
  return {x, y};
}

// The callbacks of every run, fresh: their state is what the checkpoint must carry.
struct Callbacks {
  EarlyStopping stop{"val_loss", /*patience=*/100, /*restore_best_weights=*/true};
  ReduceLROnPlateau plateau{"loss", 0.5, /*patience=*/1, MonitorMode::min, /*min_delta=*/0.05};
  LearningRateScheduler warm{[](int epoch, double lr) { return epoch == 3 ? lr * 0.8 : lr; }};
  ModelCheckpoint save;
  explicit Callbacks(const std::string& path)
      : save(path, "loss", false, MonitorMode::min, ModelCheckpoint::Save::training_state) {}
  std::vector<Callback*> list() { return {&stop, &plateau, &warm, &save}; }
};

FitOptions options(Optimizer& opt, Generator& gen, Callbacks& cbs, int epochs) {
  return {.epochs = epochs,
          .batch_size = 8,
          .optimizer = &opt,
          .callbacks = cbs.list(),
          .verbose = 0,
          .generator = &gen,
          .validation_split = 0.25};
}

TEST(Checkpoint, TenEpochsAndTenMoreEqualTwentyInOneGo) {
  const Data d = make_data();
  const std::string path = temp_path("resume.tgc");

  Sequential whole = make_model(1);
  Adam adam_whole(whole.parameters(), 0.05);
  Generator gen_whole(5);
  Callbacks cbs_whole(temp_path("unused.tgc"));
  fit(whole, d.x, d.y, options(adam_whole, gen_whole, cbs_whole, 20));

  Sequential first = make_model(1);
  Adam adam_first(first.parameters(), 0.05);
  Generator gen_first(5);
  Callbacks cbs_first(path);
  fit(first, d.x, d.y, options(adam_first, gen_first, cbs_first, 10));
  ASSERT_TRUE(fs::exists(path));

  // A new process, as it were: another model init, optimizer, generators and callbacks.
  Sequential resumed = make_model(77);
  manual_seed(1234);
  Adam adam_resumed(resumed.parameters(), 0.05);
  Generator gen_resumed(99);
  Callbacks cbs_resumed(path);
  FitOptions o = options(adam_resumed, gen_resumed, cbs_resumed, 20);
  o.resume_from = path;
  History h = fit(resumed, d.x, d.y, o);

  EXPECT_EQ(h.epochs(), 10);
  EXPECT_EQ(all_weights(resumed), all_weights(whole));
  EXPECT_EQ(adam_resumed.learning_rate(), adam_whole.learning_rate());
  EXPECT_LT(adam_whole.learning_rate(), 0.05 * 0.8);  // the plateau cut the rate: its state mattered
  EXPECT_EQ(adam_resumed.iterations(), adam_whole.iterations());
  EXPECT_EQ(cbs_resumed.stop.best(), cbs_whole.stop.best());
  EXPECT_EQ(cbs_resumed.stop.best_epoch(), cbs_whole.stop.best_epoch());
  EXPECT_EQ(cbs_resumed.plateau.wait(), cbs_whole.plateau.wait());
  fs::remove(path);
  fs::remove(temp_path("unused.tgc"));
}

TEST(Checkpoint, ResumingWithoutTheGeneratorStateWouldDiffer) {
  // The checkpoint's generator state is what makes the resumed run exact: the same checkpoint
  // with the generator entry's effect undone (reseeded after loading) trains differently.
  const Data d = make_data();
  const std::string path = temp_path("gen.tgc");
  Sequential a = make_model(1);
  Adam adam(a.parameters(), 0.05);
  Generator gen(5);
  Callbacks cbs(path);
  fit(a, d.x, d.y, options(adam, gen, cbs, 2));

  auto resume = [&](bool reseed) {
    Sequential m = make_model(3);
    Adam opt(m.parameters(), 0.05);
    Generator g(8);
    Callbacks c(path);
    TrainingContext context{.model = &m, .optimizer = &opt, .generator = &g, .callbacks = c.list()};
    for (Callback* cb : context.callbacks) cb->attach(&context), cb->on_train_begin();
    EXPECT_EQ(load_checkpoint(path, context), 2);
    if (reseed) g.seed(8);
    FitOptions o = options(opt, g, c, 3);
    o.callbacks = {};
    o.initial_epoch = 2;
    fit(m, d.x, d.y, o);
    return all_weights(m);
  };
  EXPECT_NE(resume(false), resume(true));
  fs::remove(path);
}

TEST(Checkpoint, RefusesWhatDoesNotFitBeforeChangingAnything) {
  const Data d = make_data();
  const std::string path = temp_path("bad.tgc");
  Sequential m = make_model(1);
  SGD sgd(m.parameters(), 0.05);
  Generator gen(5);
  TrainingContext context{.model = &m, .optimizer = &sgd, .generator = &gen};
  save_checkpoint(path, context, 3);
  EXPECT_EQ(load_checkpoint(path, context), 3);

  const std::vector<double> before = all_weights(m);
  manual_seed(4);
  Sequential wider(Input{3}, Dense(9), Dense(2));
  wider.to(DType::f64);
  SGD wider_sgd(wider.parameters(), 0.05);
  const std::vector<double> wider_before = all_weights(wider);
  TrainingContext wrong{.model = &wider, .optimizer = &wider_sgd, .generator = &gen};
  EXPECT_THAT(error_of<ShapeError>([&] { load_checkpoint(path, wrong); }),
              HasSubstr("parameter 'dense.kernel' is [3,8] in the file, [3,9] in the model"));
  EXPECT_EQ(all_weights(wider), wider_before);

  Adam adam(m.parameters(), 0.05);
  TrainingContext other_opt{.model = &m, .optimizer = &adam, .generator = &gen};
  EXPECT_THAT(error_of<ValueError>([&] { load_checkpoint(path, other_opt); }), HasSubstr("SGD"));

  EarlyStopping stop;
  TrainingContext more_callbacks{.model = &m, .optimizer = &sgd, .generator = &gen, .callbacks = {&stop}};
  EXPECT_THAT(error_of<ValueError>([&] { load_checkpoint(path, more_callbacks); }),
              HasSubstr("saved with 0 callbacks, this training has 1"));

  std::vector<unsigned char> bytes = read_file(path, "test");
  const std::string cut = temp_path("cut.tgc"), flipped = temp_path("flipped.tgc"), other = temp_path("other.tgc");
  write_file_atomic(cut, std::span(bytes).first(bytes.size() / 2), "test");
  bytes[bytes.size() / 2] ^= 0x40;
  write_file_atomic(flipped, bytes, "test");
  write_file_atomic(other, std::string_view("TGW1 weights, not a checkpoint"), "test");
  EXPECT_THAT(error_of<IOError>([&] { load_checkpoint(cut, context); }), HasSubstr("checksum"));
  EXPECT_THAT(error_of<IOError>([&] { load_checkpoint(flipped, context); }), HasSubstr("checksum"));
  EXPECT_THAT(error_of<IOError>([&] { load_checkpoint(other, context); }), HasSubstr("not a tapegrad checkpoint"));
  EXPECT_THAT(error_of<IOError>([&] { load_checkpoint(temp_path("missing.tgc"), context); }), HasSubstr("missing"));
  EXPECT_EQ(all_weights(m), before);
  for (const auto& p : {path, cut, flipped, other}) fs::remove(p);
}

TEST(GeneratorState, RoundTripsExactly) {
  Generator a(3);
  a.normal();  // a cached second normal is part of the state
  const std::string state = a.state();
  std::vector<double> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(a.normal()), expected.push_back(a.uniform());
  Generator b(99);
  b.set_state(state);
  std::vector<double> got;
  for (int i = 0; i < 5; ++i) got.push_back(b.normal()), got.push_back(b.uniform());
  EXPECT_EQ(got, expected);
  EXPECT_THROW(b.set_state("not a state"), ValueError);
  EXPECT_EQ(b.normal(), a.normal());  // a refused state changes nothing
}

}  // namespace
}  // namespace tg
