// The translate and sentiment examples as a user runs them, in their --quick modes: the figures
// they print for the default seed (outside the sanitizer build, where they only run one epoch; the
// sentiment example on 500 reviews).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include "support/run_program.h"

namespace {

using ::testing::HasSubstr;

using tg::testing::Outcome;
using tg::testing::run;

// "result <name> <key> <value> <key> <value> ..." lines -> name -> key -> value.
std::map<std::string, std::map<std::string, double>> results(const std::string& out) {
  std::map<std::string, std::map<std::string, double>> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string tag, name, key;
    if (!(words >> tag >> name) || tag != "result") continue;
    double value = 0;
    while (words >> key >> value) rows[name][key] = value;
  }
  return rows;
}

#ifdef TAPEGRAD_SANITIZED
constexpr const char* kShort = " --epochs 1";  // the sanitizers make training ten times slower
#else
constexpr const char* kShort = "";
#endif

TEST(TranslateExample, QuickRunEncoderDecoderBeatsThePlainModel) {
  Outcome r = run(TAPEGRAD_TRANSLATE_BIN, std::string("--quick") + kShort);
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = results(r.out);
  ASSERT_TRUE(rows.count("encoder_decoder") && rows.count("plain_seq2seq")) << r.out;
  auto& ed = rows["encoder_decoder"];
  auto& plain = rows["plain_seq2seq"];
  for (auto* row : {&ed, &plain}) {
    EXPECT_GE((*row)["exact_match"], 0.0);
    EXPECT_LE((*row)["exact_match"], (*row)["char_accuracy"]);
    EXPECT_GT((*row)["train_seconds"], 0.0);
  }
  EXPECT_THAT(r.out, HasSubstr("\" -> \""));
  // A fair comparison: parameter counts within 10% of each other (GRU(48): 29195 and 27467).
  EXPECT_GT(ed["params"], 0.0);
  EXPECT_NEAR(plain["params"] / ed["params"], 1.0, 0.1);
#ifndef TAPEGRAD_SANITIZED
  // Same budget (4 epochs on 2000 dates): seed 42 gives 0.799 against 0.724 of the characters
  // right and exact match 0.100 against 0.000; over seeds 1-5 the encoder-decoder led by 0.09
  // to 0.13 of the characters and 0.08 to 0.15 of exact match.
  EXPECT_GT(ed["char_accuracy"], 0.75);
  EXPECT_GT(ed["char_accuracy"], plain["char_accuracy"] + 0.04);
  EXPECT_GT(ed["exact_match"], plain["exact_match"] + 0.03);
#endif
}

TEST(TranslateExample, BadArgumentsAreNamed) {
  Outcome r = run(TAPEGRAD_TRANSLATE_BIN, "--frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.out, HasSubstr("translate: The following argument was not expected: --frobnicate"));
  EXPECT_THAT(r.out, HasSubstr("usage: translate"));
}

TEST(SentimentExample, QuickRunBothMaskedEmbeddingModelsReachTheValidationFloor) {
#ifdef TAPEGRAD_SANITIZED
  Outcome r = run(TAPEGRAD_SENTIMENT_BIN, "--quick --epochs 1 --train 500");  // both models, briefly
#else
  Outcome r = run(TAPEGRAD_SENTIMENT_BIN, "--quick");
#endif
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = results(r.out);
  ASSERT_TRUE(rows.count("simple_rnn") && rows.count("lstm")) << r.out;
  for (const char* name : {"simple_rnn", "lstm"}) {
    auto& s = rows[name];
    EXPECT_GT(s["train_seconds"], 0.0) << name;
    EXPECT_THAT(r.out, HasSubstr(std::string("  ") + name + ": \"")) << name;
#ifndef TAPEGRAD_SANITIZED
    // seed 42, 4 epochs of the SimpleRNN and 2 of the LSTM: both get all of the 1000 validation
    // reviews right
    EXPECT_EQ(s["epochs"], std::string(name) == "lstm" ? 2 : 4) << name;
    EXPECT_GE(s["val_accuracy"], 0.95) << name;
    EXPECT_LT(s["val_loss"], 0.1) << name;
#endif
  }
  EXPECT_THAT(r.out, HasSubstr("(p = "));
}

#ifndef TAPEGRAD_SANITIZED
// The cause the example's header explains: from Keras' embedding init, uniform(-0.05, 0.05), the
// SimpleRNN sits on the loss plateau at chance (seed 42: for 7 epochs; other seeds: 3 to 9),
// where from uniform(-1, 1) it passes 0.95 in epoch 2 (it gets 1.000 in the 4 quick epochs above).
TEST(SentimentExample, KerasEmbeddingInitLeavesTheSimpleRNNOnThePlateau) {
  Outcome r = run(TAPEGRAD_SENTIMENT_BIN, "--quick --epochs 2 --model simple_rnn --embedding-init 0.05");
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = results(r.out);
  ASSERT_TRUE(rows.count("simple_rnn") && !rows.count("lstm")) << r.out;
  EXPECT_EQ(rows["simple_rnn"]["epochs"], 2);
  EXPECT_LT(rows["simple_rnn"]["val_accuracy"], 0.6);
  EXPECT_GT(rows["simple_rnn"]["val_loss"], 0.6);
}
#endif

TEST(SentimentExample, BadArgumentsAreNamed) {
  Outcome r = run(TAPEGRAD_SENTIMENT_BIN, "--frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.out, HasSubstr("sentiment: The following argument was not expected: --frobnicate"));
  Outcome m = run(TAPEGRAD_SENTIMENT_BIN, "--model gru");
  EXPECT_EQ(m.status, 2);
  EXPECT_THAT(m.out, HasSubstr("sentiment: --model: expected one of simple_rnn, lstm, both, got 'gru'"));
}

}  // namespace
