// Dates in words to ISO dates, character by character ("April 22, 2019" -> "2019-04-22"), two ways:
//
//  - an encoder-decoder: a SimpleRNN encoder reads the text; its final state starts a SimpleRNN
//    decoder, which also reads that state at every step next to the previous character (teacher
//    forcing in training: the true previous character; greedy decoding at inference: its own);
//  - a plain seq2seq model: one SimpleRNN reads the text followed by 10 blank steps and the
//    output is read from those last 10 steps (trained with tg::fit).
//
// Both print their exact-match accuracy (every one of the 10 characters right) on held-out dates
// and their training time. Measured (seed 42, loaded 2-core machine): the full run takes both to
// 1.000 on 1000 held-out dates (encoder-decoder 425 s, plain 282 s of training); the encoder-
// decoder is ahead on small budgets (--quick: 0.834 against 0.764 of the characters right) and
// without the learning-rate decay (30 epochs: exact match 0.947 against 0.856).
//
//     translate            the full run
//     translate --quick    a few seconds, small data (the test's mode)
//     translate --seed 3 --epochs 30 --hidden 128

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>

#include <tapegrad/tapegrad.h>

#include "dates.h"

namespace {

using tg::Tensor;

struct Config {
  bool quick = false;
  std::uint32_t seed = 42;
  int epochs = 30;
  int baseline_epochs = 30;
  std::int64_t hidden = 128;
  std::int64_t train = 10000, test = 1000;
  double lr = 0.002;
};

/// Encoder -> final state -> decoder that starts from it and reads it at every step.
struct EncoderDecoder : tg::Module {
  std::shared_ptr<tg::SimpleRNN> encoder, decoder;
  std::shared_ptr<tg::Dense> out;
  std::int64_t hidden;

  explicit EncoderDecoder(std::int64_t h) : Module("EncoderDecoder"), hidden(h) {
    encoder = register_module("encoder", std::make_shared<tg::SimpleRNN>(h));
    decoder = register_module("decoder", std::make_shared<tg::SimpleRNN>(h, tg::RNNOptions{.return_sequences = true}));
    out = register_module("out", std::make_shared<tg::Dense>(dates::kClasses));
    encoder->build({-1, dates::kInputLength, dates::kInputIds});
    decoder->build({-1, dates::kOutputLength, dates::kDecoderIds + h});
    out->build({-1, dates::kOutputLength, h});
  }

  /// The decoder's input: the previous characters [B, T, 12] next to the context [B, H] at every step.
  static Tensor with_context(const Tensor& previous, const Tensor& context) {
    const std::int64_t b = previous.size(0), t = previous.size(1), h = context.size(1);
    Tensor ctx = tg::broadcast_to(tg::reshape(context, {b, 1, h}), tg::Shape{b, t, h});
    const Tensor parts[2] = {previous, ctx};
    return tg::concat(parts, 2);
  }

  /// Logits [B, 10, 11] with teacher forcing: the decoder reads `previous` [B, 10, 12].
  Tensor teacher_forced(const Tensor& x, const Tensor& previous) {
    auto [context, states] = encoder->forward_with_states(x, {});
    auto [ys, last] = decoder->forward_with_states(with_context(previous, context), states);
    return (*out)(ys);
  }

  /// Greedy decoding: class ids [B, 10], each step reading the character chosen at the last.
  Tensor greedy(const Tensor& x) {
    tg::NoGradGuard no_grad;
    const std::int64_t b = x.size(0);
    auto [context, states] = encoder->forward_with_states(x, {});
    Tensor previous = tg::zeros({b, 1, dates::kDecoderIds});
    for (std::int64_t i = 0; i < b; ++i) previous.set({i, 0, dates::kStart}, 1.0);
    Tensor ids = tg::zeros({b, dates::kOutputLength});
    for (std::int64_t t = 0; t < dates::kOutputLength; ++t) {
      auto [y, next] = decoder->forward_with_states(with_context(previous, context), states);
      states = next;
      Tensor logits = (*out)(y);  // [B, 1, 11]
      previous.fill_(0.0);
      const float* l = logits.data<float>();
      for (std::int64_t i = 0; i < b; ++i) {
        const float* row = l + i * dates::kClasses;
        const auto best = std::max_element(row, row + dates::kClasses) - row;
        ids.set({i, t}, static_cast<double>(best));
        previous.set({i, 0, best}, 1.0);
      }
    }
    return ids;
  }

  Tensor forward(const Tensor& x) override { return greedy(x); }
};

/// One SimpleRNN over the text and 10 blank steps; the logits of the last 10 steps.
struct PlainSeq2Seq : tg::Module {
  std::shared_ptr<tg::SimpleRNN> rnn;
  std::shared_ptr<tg::Dense> out;
  explicit PlainSeq2Seq(std::int64_t h) : Module("PlainSeq2Seq") {
    rnn = register_module("rnn", std::make_shared<tg::SimpleRNN>(h, tg::RNNOptions{.return_sequences = true}));
    out = register_module("out", std::make_shared<tg::Dense>(dates::kClasses));
    rnn->build({-1, dates::kInputLength + dates::kOutputLength, dates::kInputIds});
    out->build({-1, dates::kOutputLength, h});
  }
  Tensor forward(const Tensor& x) override {
    Tensor ys = (*rnn)(x);
    return (*out)(tg::slice(ys, 1, x.size(1) - dates::kOutputLength, dates::kOutputLength));
  }
};

/// Rows `order[begin, begin + count)` of `src` in a new tensor.
Tensor take_rows(const Tensor& src, const std::vector<std::int64_t>& order, std::size_t begin, std::int64_t count) {
  tg::Shape shape = src.shape();
  shape[0] = count;
  Tensor dst = Tensor::empty(shape, src.dtype());
  const std::size_t row = static_cast<std::size_t>(src.numel() / src.size(0)) * sizeof(float);
  for (std::int64_t i = 0; i < count; ++i)
    std::memcpy(static_cast<char*>(dst.raw_data()) + static_cast<std::size_t>(i) * row,
                static_cast<const char*>(src.raw_data()) + static_cast<std::size_t>(order[begin + static_cast<std::size_t>(i)]) * row,
                row);
  return dst;
}

struct Scores {
  double exact = 0, chars = 0;
};

Scores score(const Tensor& ids, const Tensor& truth) {
  Scores s;
  const std::int64_t n = truth.size(0);
  for (std::int64_t i = 0; i < n; ++i) {
    int right = 0;
    for (std::int64_t t = 0; t < dates::kOutputLength; ++t) right += ids.at({i, t}) == truth.at({i, t});
    s.exact += right == dates::kOutputLength;
    s.chars += right;
  }
  s.exact /= static_cast<double>(n);
  s.chars /= static_cast<double>(n * dates::kOutputLength);
  return s;
}

Tensor argmax_ids(const Tensor& logits) {
  const std::int64_t n = logits.size(0);
  Tensor ids = tg::zeros({n, dates::kOutputLength});
  const float* l = logits.data<float>();
  for (std::int64_t i = 0; i < n * dates::kOutputLength; ++i) {
    const float* row = l + i * dates::kClasses;
    ids.data<float>()[i] = static_cast<float>(std::max_element(row, row + dates::kClasses) - row);
  }
  return ids;
}

/// Both models: lr for the first third of the epochs, then 15% less each epoch, so that the
/// last epochs settle instead of jumping between nearby solutions.
double learning_rate(const Config& c, int epoch, int epochs) {
  const int flat = epochs / 3;
  return epoch < flat ? c.lr : c.lr * std::pow(0.85, epoch - flat);
}

/// Sets the optimizer's learning rate for the next epoch of a fit.
class Schedule : public tg::Callback {
 public:
  Schedule(const Config& c, tg::Optimizer& opt, int epochs) : c_(c), opt_(opt), epochs_(epochs) {}
  void on_epoch_end(int epoch, const tg::Logs&) override { opt_.set_learning_rate(learning_rate(c_, epoch + 1, epochs_)); }

 private:
  const Config& c_;
  tg::Optimizer& opt_;
  int epochs_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw tg::ValueError("translate: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--quick") {
      c.quick = true;
      c.epochs = 4;
      c.baseline_epochs = 4;
      c.hidden = 64;
      c.train = 1000;
      c.test = 200;
      c.lr = 0.005;
    } else if (a == "--seed") {
      c.seed = static_cast<std::uint32_t>(std::stoul(next()));
    } else if (a == "--epochs") {
      c.epochs = c.baseline_epochs = std::stoi(next());
    } else if (a == "--hidden") {
      c.hidden = std::stoll(next());
    } else {
      throw tg::ValueError("translate: unknown argument " + a + " (expected --quick, --seed N, --epochs N, --hidden N)");
    }
  }
  return c;
}

int run(const Config& c) {
  tg::manual_seed(c.seed);
  tg::Generator data_gen(c.seed);
  const auto train = dates::generate(c.train, data_gen);
  const auto test = dates::generate(c.test, data_gen);
  const Tensor y_train = dates::encode_targets(train), y_test = dates::encode_targets(test);
  std::printf("dates: %lld training, %lld held out, e.g. \"%s\" -> \"%s\"\n", static_cast<long long>(c.train),
              static_cast<long long>(c.test), train[0].text.c_str(), train[0].iso.c_str());

  // ---- encoder-decoder, trained with teacher forcing -----------------------------------------
  const Tensor x_train = dates::encode_inputs(train), x_test = dates::encode_inputs(test);
  const Tensor dec_train = dates::decoder_inputs(y_train);
  EncoderDecoder ed(c.hidden);
  tg::Adam adam(ed.parameters(), c.lr);
  tg::Generator shuffle(c.seed + 1);
  std::vector<std::int64_t> order(static_cast<std::size_t>(c.train));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  const std::int64_t batch = 32;
  auto t0 = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    adam.set_learning_rate(learning_rate(c, epoch, c.epochs));
    for (std::int64_t i = c.train - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)], order[shuffle.below(static_cast<std::uint64_t>(i + 1))]);
    double total = 0;
    for (std::int64_t start = 0; start < c.train; start += batch) {
      const std::int64_t count = std::min(batch, c.train - start);
      const auto s = static_cast<std::size_t>(start);
      Tensor loss = tg::sparse_categorical_crossentropy(
          ed.teacher_forced(take_rows(x_train, order, s, count), take_rows(dec_train, order, s, count)),
          take_rows(y_train, order, s, count));
      ed.zero_grad();
      loss.backward();
      auto params = ed.parameters();
      tg::clip_grad_norm(params, 1.0);
      adam.step();
      total += loss.item() * static_cast<double>(count);
    }
    if (!c.quick || epoch + 1 == c.epochs) {
      const Scores s = score(ed.greedy(x_test), y_test);
      std::printf("encoder-decoder epoch %d/%d: loss %.4f, held-out exact match %.4f, characters %.4f (%.1fs)\n",
                  epoch + 1, c.epochs, total / static_cast<double>(c.train), s.exact, s.chars, seconds_since(t0));
      std::fflush(stdout);
    }
  }
  const double ed_seconds = seconds_since(t0);
  const Tensor ed_ids = ed.greedy(x_test);
  const Scores ed_scores = score(ed_ids, y_test);
  for (std::int64_t i = 0; i < 3; ++i)
    std::printf("  \"%s\" -> \"%s\" (want \"%s\")\n", test[static_cast<std::size_t>(i)].text.c_str(),
                dates::decode(ed_ids, i).c_str(), test[static_cast<std::size_t>(i)].iso.c_str());

  // ---- plain seq2seq: the output read from the last 10 steps of one RNN, trained with fit ----
  const Tensor xp_train = dates::encode_inputs(train, dates::kOutputLength);
  const Tensor xp_test = dates::encode_inputs(test, dates::kOutputLength);
  PlainSeq2Seq plain(c.hidden);
  tg::Adam adam2(plain.parameters(), c.lr);
  tg::Generator shuffle2(c.seed + 2);
  Schedule schedule(c, adam2, c.baseline_epochs);
  t0 = std::chrono::steady_clock::now();
  tg::History h = tg::fit(plain, xp_train, y_train,
                          {.epochs = c.baseline_epochs, .optimizer = &adam2,
                           .loss = tg::sparse_categorical_crossentropy_loss(), .metrics = {tg::accuracy()},
                           .validation_data = std::pair{xp_test, y_test}, .callbacks = {&schedule}, .verbose = c.quick ? 0 : 2,
                           .generator = &shuffle2});
  const double plain_seconds = seconds_since(t0);
  const Scores plain_scores = score(argmax_ids(tg::predict(plain, xp_test)), y_test);

  std::printf("result encoder_decoder exact_match %.4f char_accuracy %.4f train_seconds %.1f\n", ed_scores.exact,
              ed_scores.chars, ed_seconds);
  std::printf("result plain_seq2seq exact_match %.4f char_accuracy %.4f train_seconds %.1f val_accuracy %.4f\n",
              plain_scores.exact, plain_scores.chars, plain_seconds, h["val_accuracy"].back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "translate: %s\n", e.what());
    return 1;
  }
}
