// Embedding(mask_zero) -> SimpleRNN or LSTM -> Dense(1) logits with binary cross-entropy, the
// sentiment example's model, on padded ids: the embedding table's gradient against PyTorch running
// each sequence alone (tests/goldens/masked.txt, scripts/make_masked_goldens.py), padded in front
// and behind; float64 gradchecks with Keras' small embedding init over 20 padded steps; and fit
// learning a separable task through the mask while the padding row stays untouched.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using golden::GoldenCase;

const std::vector<GoldenCase>& cases() {
  static const std::vector<GoldenCase> all = golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/masked.txt");
  return all;
}

// Embedding(vocabulary, dim, mask_zero) -> SimpleRNN(units) or LSTM(units) -> Dense(1).
Sequential masked_model(bool lstm, std::int64_t vocabulary, std::int64_t dim, std::int64_t units) {
  if (lstm) return Sequential(Input{None}, Embedding(vocabulary, dim, {.mask_zero = true}), LSTM(units), Dense(1));
  return Sequential(Input{None}, Embedding(vocabulary, dim, {.mask_zero = true}), SimpleRNN(units), Dense(1));
}

// The cell's kernel, recurrent kernel and bias, whichever the cell.
std::vector<Tensor> cell_weights(Module& rnn) {
  const auto p = rnn.parameters();
  return {p.at(0), p.at(1), p.at(2)};
}

double sum_of_squares(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return s;
}

TEST(MaskedEmbeddingModel, GradientsMatchPyTorchOnEachSequenceAlone) {
  int checked = 0;
  for (const GoldenCase& c : cases()) {
    SCOPED_TRACE(c.name + " " + std::string(dtype_name(c.dtype)));
    const bool lstm = c.name.find("lstm") != std::string::npos;
    const Tensor emb_w = c.input("emb").to_tensor(c.dtype);
    Sequential model = masked_model(lstm, emb_w.size(0), emb_w.size(1), c.input("U").tg_shape()[0]);
    model.to(c.dtype);
    auto& emb = dynamic_cast<Embedding&>(model[0]);
    auto& dense = dynamic_cast<Dense&>(model[2]);
    std::vector<Tensor> cell = cell_weights(model[1]);
    emb.embeddings.copy_from(emb_w);
    cell[0].copy_from(c.input("W").to_tensor(c.dtype));
    cell[1].copy_from(c.input("U").to_tensor(c.dtype));
    cell[2].copy_from(c.input("b").to_tensor(c.dtype));
    dense.kernel.copy_from(c.input("dW").to_tensor(c.dtype));
    dense.bias.copy_from(c.input("db").to_tensor(c.dtype));

    Tensor loss = binary_crossentropy(c.value("labels").to_tensor(c.dtype), model(c.value("ids").to_tensor(c.dtype)),
                                      /*from_logits=*/true);
    loss.backward();
    golden::expect_matches(loss, c.output(), c.dtype, "loss");
    golden::expect_matches(emb.embeddings.grad(), c.grad("emb"), c.dtype, "grad emb");
    golden::expect_matches(cell[0].grad(), c.grad("W"), c.dtype, "grad W");
    golden::expect_matches(cell[1].grad(), c.grad("U"), c.dtype, "grad U");
    golden::expect_matches(cell[2].grad(), c.grad("b"), c.dtype, "grad b");
    golden::expect_matches(dense.kernel.grad(), c.grad("dW"), c.dtype, "grad dW");
    golden::expect_matches(dense.bias.grad(), c.grad("db"), c.dtype, "grad db");
    // the padding row gets nothing at all, the ids' rows something
    const Tensor g = emb.embeddings.grad();
    EXPECT_EQ(sum_of_squares(select(g, 0, 0)), 0.0);
    EXPECT_GT(sum_of_squares(g), 1e-8);
    ++checked;
  }
  EXPECT_EQ(checked, 8);  // {SimpleRNN, LSTM} x {pre, post} x {float64, float32}
}

// Ids [4, 20] padded with 0 in front: lengths 20, 1, 13 and 6.
Tensor prepadded_ids() {
  const std::vector<std::int64_t> lengths = {20, 1, 13, 6};
  Tensor ids = zeros({4, 20}, DType::f64);
  Generator g(11);
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t t = 20 - lengths[static_cast<std::size_t>(i)]; t < 20; ++t)
      ids.set({i, t}, static_cast<double>(1 + g.below(8)));
  return ids;
}

TEST(MaskedEmbeddingModel, PassesGradcheckWithKerasEmbeddingInitOverTwentyPaddedSteps) {
  for (bool lstm : {false, true}) {
    SCOPED_TRACE(lstm ? "LSTM" : "SimpleRNN");
    manual_seed(5);
    Sequential model = masked_model(lstm, 9, 3, 4);  // the table drawn from uniform(-0.05, 0.05)
    model.to(DType::f64);
    const Tensor ids = prepadded_ids();
    const Tensor labels = tensor({1, 0, 0, 1}, {4, 1}, DType::f64);
    auto loss = [&] { return binary_crossentropy(labels, model(ids), true); };
    GradcheckResult r = gradcheck_leaves(loss, model.parameters(), {.eps = 1e-6, .atol = 1e-9, .rtol = 1e-5});
    EXPECT_TRUE(r.ok) << r.message;
    model.zero_grad();
    loss().backward();
    const Tensor g = dynamic_cast<Embedding&>(model[0]).embeddings.grad();
    EXPECT_EQ(sum_of_squares(select(g, 0, 0)), 0.0);
    EXPECT_GT(sum_of_squares(g), 0.0);
  }
}

// Sequences of 1 to 10 filler ids (3..9) with one marker, id 1 (label 1) or id 2 (label 0), at a
// random place, padded in front with 0 to 12 steps.
void marker_data(std::int64_t n, Generator& g, Tensor& x, Tensor& y) {
  x = zeros({n, 12});
  y = zeros({n, 1});
  for (std::int64_t i = 0; i < n; ++i) {
    const auto len = static_cast<std::int64_t>(2 + g.below(10));
    const auto marker_at = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(len)));
    const bool positive = g.below(2) == 1;
    for (std::int64_t t = 0; t < len; ++t)
      x.set({i, 12 - len + t}, t == marker_at ? (positive ? 1.0 : 2.0) : static_cast<double>(3 + g.below(7)));
    y.set({i, 0}, positive ? 1.0 : 0.0);
  }
}

TEST(MaskedEmbeddingModel, FitLearnsAMarkerTaskThroughTheMaskAndLeavesThePaddingRow) {
  for (bool lstm : {false, true}) {
    SCOPED_TRACE(lstm ? "LSTM" : "SimpleRNN");
    manual_seed(2);
    Generator g(9);
    Tensor x, y, xv, yv;
    marker_data(512, g, x, y);
    marker_data(256, g, xv, yv);
    Sequential model = masked_model(lstm, 10, 8, 16);
    auto& emb = dynamic_cast<Embedding&>(model[0]);
    const Tensor before = emb.embeddings.clone();
    Adam adam(model.parameters(), 0.01);
    History h = fit(model, x, y,
                    {.epochs = 8,
                     .optimizer = &adam,
                     .loss = binary_crossentropy_loss(true),
                     .metrics = {accuracy(true)},
                     .validation_data = std::pair{xv, yv},
                     .verbose = 0});
    EXPECT_GE(h["val_accuracy"].back(), 0.99);
    // Adam moves no element whose gradient was always zero: the padding row stays as drawn
    const Tensor moved = emb.embeddings.detach() - before;
    EXPECT_EQ(sum_of_squares(select(moved, 0, 0)), 0.0);
    EXPECT_GT(sum_of_squares(select(moved, 0, 1)), 1e-4);  // the markers' rows learned
    EXPECT_GT(sum_of_squares(select(moved, 0, 2)), 1e-4);
  }
}

}  // namespace
}  // namespace tg
