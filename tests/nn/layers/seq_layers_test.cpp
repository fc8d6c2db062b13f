// Embedding, masks through Sequential, RepeatVector and Bidirectional: a padded batch matches
// the unpadded sequences run one by one, outputs and parameter gradients; gradchecks; no extra
// tape node without a mask; the typed errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"
#include "support/op_test_util.h"
#include "support/alloc_counter.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// Three id sequences of lengths 5, 2 and 4, and the same padded with 0 to [3, 5], after the ids
// or, with `pre`, before them (Keras' pad_sequences pads before by default).
const std::vector<std::vector<double>> kSeqs = {{3, 1, 4, 1, 5}, {2, 6}, {5, 3, 5, 2}};
constexpr std::int64_t kSteps = 5;

std::int64_t offset(std::size_t i, bool pre) { return pre ? kSteps - static_cast<std::int64_t>(kSeqs[i].size()) : 0; }

Tensor padded_ids(bool pre = false) {
  Tensor ids = zeros({3, kSteps}, DType::f64);
  for (std::size_t i = 0; i < kSeqs.size(); ++i)
    for (std::size_t t = 0; t < kSeqs[i].size(); ++t)
      ids.set({static_cast<std::int64_t>(i), offset(i, pre) + static_cast<std::int64_t>(t)}, kSeqs[i][t]);
  return ids;
}

Tensor ids_of(std::size_t i) {
  return from_vector(std::span<const double>(kSeqs[i]), {1, static_cast<std::int64_t>(kSeqs[i].size())}, DType::f64);
}

std::vector<Tensor> grads_of(const Module& m) {
  std::vector<Tensor> g;
  for (const Tensor& p : m.parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : zeros_like(p));
  return g;
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<double> g = got.to_vector(), w = want.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-12) << what << " element " << i;
}

// The padded batch through `model` (masked by its Embedding) against each sequence alone through
// `unmasked` (the same layers' forward, no mask anywhere): equal outputs at the real steps and
// equal parameter gradients of the summed squared-error losses. `target(i, t)` is the target of
// output step t of sequence i (t = 0 for a last-state model).
void expect_padding_changes_nothing(Sequential& model, const std::function<Tensor(const Tensor&)>& unmasked, bool seq,
                                    bool pre = false) {
  model.to(DType::f64);
  auto target = [](std::size_t i, std::int64_t t) {
    return 0.3 * static_cast<double>(i) - 0.1 * static_cast<double>(t);
  };
  // one by one
  model.zero_grad();
  std::vector<Tensor> singles;
  for (std::size_t i = 0; i < kSeqs.size(); ++i) {
    Tensor y = unmasked(ids_of(i));  // [1, F] or [1, T_i, F]
    Tensor t = zeros_like(y);
    for (std::int64_t s = 0; s < (seq ? y.size(1) : 1); ++s)
      for (std::int64_t f = 0; f < y.size(-1); ++f)
        if (seq)
          t.set({0, s, f}, target(i, s));
        else
          t.set({0, f}, target(i, 0));
    sum(square(y - t)).backward();
    singles.push_back(y.detach());
  }
  std::vector<Tensor> want = grads_of(model);
  // padded and masked: the loss counts the real steps only
  model.zero_grad();
  Tensor y = model(padded_ids(pre));
  Tensor t = zeros_like(y), w = zeros_like(y);
  for (std::size_t i = 0; i < kSeqs.size(); ++i) {
    const auto b = static_cast<std::int64_t>(i);
    for (std::int64_t s = 0; s < (seq ? static_cast<std::int64_t>(kSeqs[i].size()) : 1); ++s)
      for (std::int64_t f = 0; f < y.size(-1); ++f) {
        if (seq) {
          t.set({b, offset(i, pre) + s, f}, target(i, s));
          w.set({b, offset(i, pre) + s, f}, 1);
        } else {
          t.set({b, f}, target(i, 0));
          w.set({b, f}, 1);
        }
      }
  }
  sum(square(y - t) * w).backward();
  std::vector<Tensor> got = grads_of(model);
  ASSERT_EQ(got.size(), want.size());
  const auto names = model.named_parameters();
  for (std::size_t k = 0; k < got.size(); ++k) expect_close(got[k], want[k], "gradient of " + names[k].first);
  for (std::size_t i = 0; i < kSeqs.size(); ++i) {
    const auto b = static_cast<std::int64_t>(i);
    Tensor row =
        seq ? slice(select(y, 0, b), 0, offset(i, pre), static_cast<std::int64_t>(kSeqs[i].size())) : select(y, 0, b);
    expect_close(row.detach(), select(singles[i], 0, 0), "output of sequence " + std::to_string(i));
  }
}

TEST(Masking, PaddedBatchEqualsSequencesOneByOneForALastStateRNN) {
  manual_seed(3);
  Sequential model(Input{None}, Embedding(7, 3, {.mask_zero = true}), SimpleRNN(4), Dense(2));
  auto& emb = model[0];
  auto& rnn = model[1];
  auto& dense = model[2];
  expect_padding_changes_nothing(
      model, [&](const Tensor& ids) { return dense.forward(rnn.forward(emb.forward(ids))); }, false);
}

TEST(Masking, PaddedBatchEqualsSequencesOneByOneWithReturnSequencesAndStacks) {
  for (bool pre : {false, true}) {
    SCOPED_TRACE(pre ? "padding before" : "padding after");
    manual_seed(4);
    Sequential model(Input{None}, Embedding(7, 3, {.mask_zero = true}), SimpleRNN(4, {.return_sequences = true}),
                     SimpleRNN(3, {.return_sequences = true}), TimeDistributed(Dense(2)));
    std::vector<Module*> layers;
    for (std::size_t i = 0; i < model.size(); ++i) layers.push_back(&model[i]);
    auto unmasked = [&](const Tensor& ids) {
      Tensor h = ids;
      for (Module* m : layers) h = m->forward(h);
      return h;
    };
    expect_padding_changes_nothing(model, unmasked, true, pre);
  }
}

TEST(Masking, PaddedBatchEqualsSequencesOneByOneForBidirectional) {
  for (bool pre : {false, true})
    for (bool seq : {false, true})
      for (MergeMode merge : {MergeMode::concat, MergeMode::sum}) {
        SCOPED_TRACE(fmt::format("return_sequences {} merge {} padding {}", seq,
                                 merge == MergeMode::sum ? "sum" : "concat", pre ? "before" : "after"));
        manual_seed(5);
        Sequential model(Input{None}, Embedding(7, 3, {.mask_zero = true}),
                         Bidirectional(SimpleRNN(4, {.return_sequences = seq}), merge), Dense(2));
        auto& emb = model[0];
        auto& bi = model[1];
        auto& dense = model[2];
        expect_padding_changes_nothing(
            model, [&](const Tensor& ids) { return dense.forward(bi.forward(emb.forward(ids))); }, seq, pre);
      }
}

TEST(Masking, MaskingLayerSkipsAllZeroSteps) {
  manual_seed(6);
  Sequential model(Input{None, 2}, Masking(), SimpleRNN(3));
  model.to(DType::f64);
  Tensor x = testing::rnd({2, 4, 2}, 11);
  Tensor padded = x.clone();
  for (std::int64_t t = 2; t < 4; ++t)
    for (std::int64_t f = 0; f < 2; ++f) padded.set({1, t, f}, 0.0);
  Tensor y = model(padded);
  auto& rnn = dynamic_cast<RNN&>(model[1]);
  expect_close(select(y, 0, 1), select(rnn.forward(slice(slice(x, 0, 1, 1), 1, 0, 2)), 0, 0), "short row");
  expect_close(select(y, 0, 0), select(rnn.forward(slice(x, 0, 0, 1)), 0, 0), "full row");
  // a non-zero mask value zeroes the masked steps in the output and still masks them
  Masking m(-1.0);
  Tensor z = m(tensor({1, 2, -1, -1}, {1, 2, 2}));
  testing::expect_values(z, {1, 2, 2}, {1, 2, 0, 0});
  testing::expect_values(m.compute_mask(tensor({1, 2, -1, -1}, {1, 2, 2}), Tensor()), {1, 2}, {1, 0});
}

TEST(Masking, MaskedRNNPassesGradcheck) {
  manual_seed(7);
  SimpleRNN rnn(3, {.return_sequences = true});
  rnn.build({-1, -1, 2});
  rnn.to(DType::f64);
  Tensor mask = tensor({1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0}, {3, 4}, DType::f64);
  Tensor x = testing::rnd({3, 4, 2}, 12);
  auto r = gradcheck_leaves([&] { return rnn(x, mask); }, rnn.parameters());
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return rnn(in[0], mask); }, x);
}

TEST(Masking, NoMaskMeansNoExtraNodesAndAMaskAddsOnePerStep) {
  manual_seed(8);
  Sequential plain(Input{None}, Embedding(7, 3), SimpleRNN(4), Dense(1));
  Sequential masked(Input{None}, Embedding(7, 3, {.mask_zero = true}), SimpleRNN(4), Dense(1));
  tape().clear();
  Tensor a = plain(padded_ids());
  const std::size_t plain_nodes = tape().num_nodes();
  EXPECT_EQ(plain_nodes, 1u + 1u + kSteps + 1u);  // embedding, input projection, 5 steps, dense
  tape().clear();
  Tensor b = masked(padded_ids());
  EXPECT_EQ(tape().num_nodes(), plain_nodes + kSteps);  // one masked_update per step
  tape().clear();
}

TEST(Masking, LayersThatCannotHonourAMaskRefuseIt) {
  Sequential model(Embedding(7, 3, {.mask_zero = true}), Flatten());
  EXPECT_EQ(error_of<ValueError>([&] { model(padded_ids()); }),
            "flatten (Flatten): does not support masking, but input [3,5,3] comes with a mask [3,5] (from an "
            "Embedding with mask_zero or a Masking layer before it)");
  SimpleRNN rnn(2);
  EXPECT_EQ(error_of<ShapeError>([&] {
              rnn(ones({2, 3, 1}), ones({2, 4}));
            }),
            "SimpleRNN: mask [2,4] for input [2,3,1]: expected [batch, time] = [2,3]");
  // the mask stops at a last-state RNN: a Flatten after it is fine
  Sequential ok(Input{None}, Embedding(7, 3, {.mask_zero = true}), SimpleRNN(2), Flatten());
  EXPECT_EQ(ok(padded_ids()).shape(), (Shape{3, 2}));
}

// Like tests/nn/training/no_alloc_test.cpp for the masked paths: warm training steps of a masked stack and
// of a masked Bidirectional allocate nothing.
void expect_warm_steps_allocate_nothing(Sequential& model, const Tensor& x, const Tensor& y) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  Adam opt(model.parameters(), 0.001);
  auto step = [&] {
    opt.zero_grad();
    mse(y, model(x)).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  const std::uint64_t system_before = pool_stats().system_allocs;
  std::uint64_t news = 0;
  {
    testing::AllocCounter counter;
    for (int i = 0; i < 5; ++i) step();
    news = counter.count();
  }
  EXPECT_EQ(news, 0u) << "operator new calls in 5 warm steps";
  EXPECT_EQ(pool_stats().system_allocs, system_before) << "buffers not served by the pool";
}

Tensor padded_series() {  // [32, 20, 1], row i padded (zeros) after 20 - i % 10 steps
  Generator g(2);
  Tensor x = randn({32, 20, 1}, DType::f32, &g);
  for (std::int64_t i = 0; i < 32; ++i)
    for (std::int64_t t = 20 - i % 10; t < 20; ++t) x.set({i, t, 0}, 0.0);
  return x;
}

TEST(Masking, WarmMaskedTrainingStepsAllocateNothing) {
  manual_seed(1);
  Sequential stack(Input{None, 1}, Masking(), SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(1));
  expect_warm_steps_allocate_nothing(stack, padded_series(), zeros({32, 1}));
  Sequential bi(Input{None, 1}, Masking(), Bidirectional(SimpleRNN(8, {.return_sequences = true})), Dense(1));
  expect_warm_steps_allocate_nothing(bi, padded_series(), zeros({32, 20, 1}));
}

TEST(EmbeddingLayer, KerasInitShapesAndSummary) {
  manual_seed(9);
  Embedding emb(1000, 16);
  std::vector<double> v = emb.embeddings.to_vector();
  EXPECT_EQ(emb.embeddings.shape(), (Shape{1000, 16}));
  double lo = 1, hi = -1;
  for (double e : v) lo = std::min(lo, e), hi = std::max(hi, e);
  EXPECT_GE(lo, -0.05);
  EXPECT_LT(hi, 0.05);
  EXPECT_LT(lo, -0.045);  // the whole range is used
  EXPECT_GT(hi, 0.045);
  Sequential model(Input{None}, Embedding(50, 8), SimpleRNN(4));
  EXPECT_THAT(model.summary(), HasSubstr("(None, None, 8)"));
  EXPECT_EQ(model.num_parameters(), 50 * 8 + 8 * 4 + 4 * 4 + 4);
  EXPECT_FALSE(emb.compute_mask(padded_ids(), Tensor()).defined());
  EXPECT_THAT(error_of<ValueError>([] { Embedding(0, 3); }), HasSubstr("Embedding: vocabulary 0 and dim 3"));
  EXPECT_THAT(error_of<ValueError>([&] { emb(tensor({1000})); }), HasSubstr("expected ids in [0, 1000)"));
  manual_seed(9);
  Embedding e64(5, 3);
  e64.to(DType::f64);
  auto r = gradcheck_leaves([&] { return e64(tensor({4, 0, 4, 2}, {2, 2}, DType::f64)); }, e64.parameters());
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(RepeatVector, RepeatsAndSumsTheGradientBack) {
  RepeatVector rep(3);
  Tensor y = rep(tensor({1, 2, 3, 4}, {2, 2}));
  testing::expect_values(y, {2, 3, 2}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return rep(in[0]); }, testing::rnd({2, 4}, 13));
  Sequential model(Input{3}, RepeatVector(7), SimpleRNN(5, {.return_sequences = true}), TimeDistributed(Dense(1)));
  EXPECT_EQ(model.output_dims(), (Dims{-1, 7, 1}));
  EXPECT_EQ(error_of<ShapeError>([&] {
              rep(ones({2, 3, 1}));
            }),
            "RepeatVector: input [2,3,1], expected [batch, features]");
  EXPECT_EQ(error_of<ValueError>([] { RepeatVector(0); }), "RepeatVector: n must be positive, got 0");
}

TEST(Bidirectional, ShapesParametersAndDirections) {
  manual_seed(10);
  Bidirectional bi(SimpleRNN(4, {.return_sequences = true}));
  Sequential model(Input{None, 2}, Bidirectional(SimpleRNN(4, {.return_sequences = true})),
                   Bidirectional(SimpleRNN(3), MergeMode::sum));
  EXPECT_EQ(model.output_dims(), (Dims{-1, 3}));
  EXPECT_EQ(model.num_parameters(), 2 * (2 * 4 + 4 * 4 + 4) + 2 * (8 * 3 + 3 * 3 + 3));
  EXPECT_THAT(model.named_parameters()[3].first, HasSubstr("backward_layer.cell.kernel"));
  bi.build({-1, -1, 2});
  bi.to(DType::f64);
  Tensor x = testing::rnd({2, 5, 2}, 14);
  Tensor y = bi(x);
  EXPECT_EQ(y.shape(), (Shape{2, 5, 8}));
  // the first half is the forward layer; the second is the backward layer run on the reversed
  // sequence, put back in time order
  std::vector<Tensor> steps;
  for (std::int64_t t = 4; t >= 0; --t) steps.push_back(slice(x, 1, t, 1));
  Tensor reversed = concat(steps, 1);
  Tensor bw = bi.backward_layer().forward(reversed);
  expect_close(slice(y, 2, 0, 4), bi.forward_layer().forward(x), "forward half");
  for (std::int64_t t = 0; t < 5; ++t)
    expect_close(select(slice(y, 2, 4, 4), 1, t), select(bw, 1, 4 - t), "backward half at step " + std::to_string(t));
  auto r = gradcheck_leaves([&] { return bi(x); }, bi.parameters());
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return bi(in[0]); }, x);
}

TEST(Bidirectional, Errors) {
  auto fw = std::make_shared<SimpleRNN>(3, RNNOptions{.return_sequences = true});
  EXPECT_THAT(error_of<ValueError>([&] { (void)Bidirectional(fw, std::make_shared<SimpleRNN>(3)); }),
              HasSubstr("return_sequences is true forward and false backward"));
  EXPECT_THAT(error_of<ValueError>([&] { (void)Bidirectional(fw, fw); }), HasSubstr("one object"));
  EXPECT_THAT(error_of<ValueError>([&] {
                Bidirectional b(std::make_shared<SimpleRNN>(3), std::make_shared<SimpleRNN>(4), MergeMode::sum);
                b.build({-1, -1, 1});
              }),
              HasSubstr("merge sum of 3 forward and 4 backward units"));
  EXPECT_THAT(error_of<ShapeError>([] {
                Bidirectional(SimpleRNN(2))(ones({2, 3}));
              }),
              HasSubstr("Bidirectional: input (None, 3) must be (batch, time, features)"));
}

}  // namespace
}  // namespace tg
