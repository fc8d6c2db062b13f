// Sequence-to-vector classification: is a short review positive or negative?
//
// Reviews come from a small grammar, generated in code: filler words around one opinion phrase,
// an adjective that may be intensified ("very good") and negated ("not good", "never really
// boring"). The label is the adjective's polarity, flipped by a negation. Reviews have 1 to 17
// words and are padded at the front with id 0 to a common length.
//
// Model: one-hot words [B, T, V] (padding all zeros) -> SimpleRNN(64) -> Dense(1) logits, trained
// with fit on binary cross-entropy from logits, reporting accuracy and val_accuracy.
//
//     sentiment            the full run
//     sentiment --quick    a few seconds (the test's mode)
//     sentiment --seed 3 --lr 0.002 --epochs 20

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace {

using tg::Tensor;

const std::vector<std::string> kPositive = {"good", "great", "excellent", "fun", "lovely", "wonderful", "brilliant"};
const std::vector<std::string> kNegative = {"bad", "awful", "boring", "terrible", "dull", "poor", "weak"};
const std::vector<std::string> kNegators = {"not", "never", "hardly"};
const std::vector<std::string> kIntensifiers = {"very", "really", "so", "quite"};
const std::vector<std::string> kFillers = {"the", "movie", "was", "plot", "acting", "i", "think", "it", "and",
                                           "a", "film", "story", "is", "this", "overall", "with", "cast", "end"};
constexpr std::int64_t kMaxWords = 20;

/// Word ids: 0 is padding, then every word of the lists above.
struct Vocabulary {
  std::vector<std::string> words{"<pad>"};
  Vocabulary() {
    for (const auto* list : {&kPositive, &kNegative, &kNegators, &kIntensifiers, &kFillers})
      words.insert(words.end(), list->begin(), list->end());
  }
  std::int64_t id(const std::string& w) const {
    for (std::size_t i = 0; i < words.size(); ++i)
      if (words[i] == w) return static_cast<std::int64_t>(i);
    throw tg::ValueError("sentiment: unknown word " + w);
  }
  std::int64_t size() const { return static_cast<std::int64_t>(words.size()); }
};

struct Review {
  std::vector<std::string> words;
  bool positive;
};

const std::string& pick(const std::vector<std::string>& list, tg::Generator& g) {
  return list[g.below(list.size())];
}

Review make_review(tg::Generator& g) {
  Review r;
  for (std::uint64_t i = 0, n = g.below(8); i < n; ++i) r.words.push_back(pick(kFillers, g));
  const bool negated = g.below(2) == 1;
  if (negated) r.words.push_back(pick(kNegators, g));
  if (g.below(3) == 0) r.words.push_back(pick(kIntensifiers, g));
  const bool positive_word = g.below(2) == 1;
  r.words.push_back(pick(positive_word ? kPositive : kNegative, g));
  for (std::uint64_t i = 0, n = g.below(5); i < n && static_cast<std::int64_t>(r.words.size()) < kMaxWords; ++i)
    r.words.push_back(pick(kFillers, g));
  r.positive = positive_word != negated;
  return r;
}

/// One-hot [N, kMaxWords, V], the words at the end and zeros (padding) in front; labels [N, 1].
void encode(const std::vector<Review>& reviews, const Vocabulary& vocab, Tensor& x, Tensor& y) {
  const auto n = static_cast<std::int64_t>(reviews.size()), v = vocab.size();
  x = tg::zeros({n, kMaxWords, v});
  y = tg::zeros({n, 1});
  float* px = x.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const Review& r = reviews[static_cast<std::size_t>(i)];
    const std::int64_t pad = kMaxWords - static_cast<std::int64_t>(r.words.size());
    for (std::size_t w = 0; w < r.words.size(); ++w)
      px[(i * kMaxWords + pad + static_cast<std::int64_t>(w)) * v + vocab.id(r.words[w])] = 1.0f;
    y.set({i, 0}, r.positive ? 1.0 : 0.0);
  }
}

std::string text(const Review& r) {
  std::string s;
  for (const auto& w : r.words) s += (s.empty() ? "" : " ") + w;
  return s;
}

int run(int argc, char** argv) {
  bool quick = false;
  std::uint32_t seed = 42;
  double lr = 0.002;
  int epochs = 0;  // 0: the mode's default
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--seed" && i + 1 < argc) seed = static_cast<std::uint32_t>(std::stoul(argv[++i]));
    else if (a == "--lr" && i + 1 < argc) lr = std::stod(argv[++i]);
    else if (a == "--epochs" && i + 1 < argc) epochs = std::stoi(argv[++i]);
    else throw tg::ValueError("sentiment: unknown argument " + a + " (expected --quick, --seed N, --lr X, --epochs N)");
  }
  // quick: fewer epochs and validation reviews. The loss stays on a plateau near 0.69 for some
  // 1000 steps before the model learns that a negation flips the adjective.
  const std::int64_t n_train = 6000, n_val = quick ? 1000 : 2000;
  if (epochs == 0) epochs = quick ? 9 : 20;

  tg::manual_seed(seed);
  tg::Generator g(seed);
  Vocabulary vocab;
  std::vector<Review> train, val;
  for (std::int64_t i = 0; i < n_train; ++i) train.push_back(make_review(g));
  for (std::int64_t i = 0; i < n_val; ++i) val.push_back(make_review(g));
  Tensor x, y, xv, yv;
  encode(train, vocab, x, y);
  encode(val, vocab, xv, yv);
  std::printf("reviews: %lld training, %lld validation, vocabulary %lld, e.g. \"%s\" -> %s\n",
              static_cast<long long>(n_train), static_cast<long long>(n_val), static_cast<long long>(vocab.size()),
              text(train[0]).c_str(), train[0].positive ? "positive" : "negative");

  tg::Sequential model(tg::Input{kMaxWords, vocab.size()}, tg::SimpleRNN(64), tg::Dense(1));
  tg::Adam adam(model.parameters(), lr);
  tg::Generator shuffle(seed + 1);
  const auto t0 = std::chrono::steady_clock::now();
  tg::History h = tg::fit(model, x, y,
                          {.epochs = epochs, .optimizer = &adam, .loss = tg::binary_crossentropy_loss(true),
                           .metrics = {tg::accuracy(true)}, .validation_data = std::pair{xv, yv},
                           .verbose = quick ? 0 : 2, .generator = &shuffle});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const Tensor logits = tg::predict(model, xv);
  for (std::size_t i = 0; i < 4; ++i)
    std::printf("  \"%s\": %s (p = %.3f)\n", text(val[i]).c_str(), val[i].positive ? "positive" : "negative",
                1.0 / (1.0 + std::exp(-logits.at({static_cast<std::int64_t>(i), 0}))));
  std::printf("result sentiment val_accuracy %.4f val_loss %.4f accuracy %.4f epochs %d train_seconds %.1f\n",
              h["val_accuracy"].back(), h["val_loss"].back(), h["accuracy"].back(), h.epochs(), seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sentiment: %s\n", e.what());
    return 1;
  }
}
