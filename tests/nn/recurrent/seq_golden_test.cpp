// The sequence parts against PyTorch (tests/goldens/seq.txt, scripts/make_seq_goldens.py):
// embedding, masked and bidirectional RNNs against packed sequences, RepeatVector and an
// Embedding(mask_zero) model, in float64 (1e-10) and float32 (1e-4).
#include <gtest/gtest.h>

#include <array>
#include <string>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using golden::GoldenCase;

const std::vector<GoldenCase>& cases() {
  static const std::vector<GoldenCase> all = golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/seq.txt");
  return all;
}

std::vector<const GoldenCase*> named(const std::string& name) {
  std::vector<const GoldenCase*> out;
  for (const GoldenCase& c : cases())
    if (c.name == name) out.push_back(&c);
  EXPECT_EQ(out.size(), 2u) << name << ": expected a float64 and a float32 case";
  return out;
}

std::string label(const GoldenCase& c, const std::string& what) {
  return c.name + " " + std::string(dtype_name(c.dtype)) + " " + what;
}

// Copies the golden weights W, U, b (tag "" or "b") into a SimpleRNN cell of c's dtype.
void set_cell(RNN& rnn, const GoldenCase& c, const std::string& tag) {
  auto& cell = dynamic_cast<SimpleRNNCell&>(rnn.cell());
  cell.kernel.copy_from(c.input(tag + "W").to_tensor(c.dtype));
  cell.recurrent_kernel.copy_from(c.input(tag + "U").to_tensor(c.dtype));
  cell.bias.copy_from(c.input(tag + "b").to_tensor(c.dtype));
}

void expect_cell_grads(RNN& rnn, const GoldenCase& c, const std::string& tag) {
  auto& cell = dynamic_cast<SimpleRNNCell&>(rnn.cell());
  golden::expect_matches(cell.kernel.grad(), c.grad(tag + "W"), c.dtype, label(c, "grad " + tag + "W"));
  golden::expect_matches(cell.recurrent_kernel.grad(), c.grad(tag + "U"), c.dtype, label(c, "grad " + tag + "U"));
  golden::expect_matches(cell.bias.grad(), c.grad(tag + "b"), c.dtype, label(c, "grad " + tag + "b"));
}

// sum(out * seed) backward; returns out.
Tensor seeded_backward(const Tensor& out, const GoldenCase& c) {
  sum(out * c.seed()->to_tensor(c.dtype)).backward();
  return out;
}

// out * mask[..., None]: the outputs at the real steps, zeros at the padded ones (pad_packed).
Tensor at_real_steps(const Tensor& out, const Tensor& mask) { return out * mask.view({mask.size(0), mask.size(1), 1}); }

TEST(SeqGolden, Embedding) {
  for (const GoldenCase* c : named("embedding")) {
    Tensor w = c->input("weight").to_tensor(c->dtype).requires_grad_();
    Tensor out = seeded_backward(embedding(c->value("ids").to_tensor(c->dtype), w), *c);
    golden::expect_matches(out, c->output(), c->dtype, label(*c, "output"));
    golden::expect_matches(w.grad(), c->grad("weight"), c->dtype, label(*c, "grad weight"));
  }
}

TEST(SeqGolden, MaskedRNNAgainstPackedSequences) {
  for (bool seq : {false, true}) {
    for (const GoldenCase* c : named(seq ? "masked_rnn_seq" : "masked_rnn_last")) {
      SimpleRNN rnn(4, {.return_sequences = seq});
      rnn.build({-1, -1, 2});
      rnn.to(c->dtype);
      set_cell(rnn, *c, "");
      Tensor x = c->input("x").to_tensor(c->dtype).requires_grad_();
      Tensor mask = c->value("mask").to_tensor(c->dtype);
      Tensor out = rnn(x, mask);
      if (seq) out = at_real_steps(out, mask);
      seeded_backward(out, *c);
      golden::expect_matches(out, c->output(), c->dtype, label(*c, "output"));
      golden::expect_matches(x.grad(), c->grad("x"), c->dtype, label(*c, "grad x"));
      expect_cell_grads(rnn, *c, "");
    }
  }
}

TEST(SeqGolden, BidirectionalAgainstPackedSequences) {
  struct Variant {
    const char* name;
    bool seq;
    MergeMode merge;
  };
  for (Variant v :
       {Variant{"bidir_seq", true, MergeMode::concat}, Variant{"bidir_last_concat", false, MergeMode::concat},
        Variant{"bidir_last_sum", false, MergeMode::sum}}) {
    for (const GoldenCase* c : named(v.name)) {
      Bidirectional bi(SimpleRNN(3, {.return_sequences = v.seq}), v.merge);
      bi.build({-1, -1, 2});
      bi.to(c->dtype);
      set_cell(bi.forward_layer(), *c, "");
      set_cell(bi.backward_layer(), *c, "b");
      Tensor x = c->input("x").to_tensor(c->dtype).requires_grad_();
      Tensor mask = c->value("mask").to_tensor(c->dtype);
      Tensor out = bi(x, mask);
      if (v.seq) out = at_real_steps(out, mask);
      seeded_backward(out, *c);
      golden::expect_matches(out, c->output(), c->dtype, label(*c, "output"));
      golden::expect_matches(x.grad(), c->grad("x"), c->dtype, label(*c, "grad x"));
      expect_cell_grads(bi.forward_layer(), *c, "");
      expect_cell_grads(bi.backward_layer(), *c, "b");
    }
  }
}

TEST(SeqGolden, RepeatVectorModel) {
  for (const GoldenCase* c : named("repeat_vector_model")) {
    Sequential model(Input{3}, RepeatVector(6), SimpleRNN(5, {.return_sequences = true}), Dense(1));
    model.to(c->dtype);
    set_cell(dynamic_cast<RNN&>(model[1]), *c, "");
    auto& dense = dynamic_cast<Dense&>(model[2]);
    dense.kernel.copy_from(c->input("dW").to_tensor(c->dtype));
    dense.bias.copy_from(c->input("db").to_tensor(c->dtype));
    Tensor v = c->input("v").to_tensor(c->dtype).requires_grad_();
    Tensor loss = mse(c->value("target").to_tensor(c->dtype), model(v));
    loss.backward();
    golden::expect_matches(loss, c->output(), c->dtype, label(*c, "loss"));
    golden::expect_matches(v.grad(), c->grad("v"), c->dtype, label(*c, "grad v"));
    expect_cell_grads(dynamic_cast<RNN&>(model[1]), *c, "");
    golden::expect_matches(dense.kernel.grad(), c->grad("dW"), c->dtype, label(*c, "grad dW"));
    golden::expect_matches(dense.bias.grad(), c->grad("db"), c->dtype, label(*c, "grad db"));
  }
}

TEST(SeqGolden, EmbeddingMaskZeroModel) {
  for (const GoldenCase* c : named("embedding_masked_model")) {
    Sequential model(Input{None}, Embedding(7, 2, {.mask_zero = true}), SimpleRNN(4), Dense(1));
    model.to(c->dtype);
    auto& emb = dynamic_cast<Embedding&>(model[0]);
    emb.embeddings.copy_from(c->input("emb").to_tensor(c->dtype));
    set_cell(dynamic_cast<RNN&>(model[1]), *c, "");
    auto& dense = dynamic_cast<Dense&>(model[2]);
    dense.kernel.copy_from(c->input("dW").to_tensor(c->dtype));
    dense.bias.copy_from(c->input("db").to_tensor(c->dtype));
    Tensor loss = mse(c->value("target").to_tensor(c->dtype), model(c->value("ids").to_tensor(c->dtype)));
    loss.backward();
    golden::expect_matches(loss, c->output(), c->dtype, label(*c, "loss"));
    golden::expect_matches(emb.embeddings.grad(), c->grad("emb"), c->dtype, label(*c, "grad emb"));
    expect_cell_grads(dynamic_cast<RNN&>(model[1]), *c, "");
    golden::expect_matches(dense.kernel.grad(), c->grad("dW"), c->dtype, label(*c, "grad dW"));
    golden::expect_matches(dense.bias.grad(), c->grad("db"), c->dtype, label(*c, "grad db"));
  }
}

}  // namespace
}  // namespace tg
