// The example programs' command lines: an unknown flag, a missing or malformed value or an unknown
// model name gets a message naming it, the usage text and exit status 2, before any work is done.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "support/run_program.h"

namespace {

using ::testing::HasSubstr;

using tg::testing::Outcome;
using tg::testing::run;

TEST(CommandLine, ForecastNamesWhatIsWrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--bogus", "unknown flag '--bogus'"},
      {"-x", "unknown flag '-x'"},
      {"positional", "unknown flag 'positional'"},
      {"--epochs=3", "unknown flag '--epochs=3'"},
      {"--epochs", "--epochs needs a value"},
      {"--quick --plots", "--plots needs a value"},
      {"--seed", "--seed needs a value"},
      {"--epochs 1.5", "--epochs takes an integer in [1, 100000], got '1.5'"},
      {"--epochs 99999999999999999999", "--epochs takes an integer in [1, 100000], got '99999999999999999999'"},
      {"--epochs ''", "--epochs takes an integer in [1, 100000], got ''"},
      {"--seed 4294967296", "--seed takes an integer in [0, 4294967295], got '4294967296'"},
      {"--models DEEP_RNN", "unknown model 'DEEP_RNN'"},
      {"--models deep_rnn,", "unknown model ''"},
      {"--models naive,,linear", "unknown model ''"},
      {"--models ''", "--models needs at least one model name"},
  };
  for (const auto& [args, message] : cases) {
    const Outcome r = run(TAPEGRAD_FORECAST_BIN, args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("forecast: " + message)) << args;
    EXPECT_THAT(r.out, HasSubstr("usage: forecast")) << args;
    EXPECT_EQ(r.out.find("val MSE"), std::string::npos) << args << ": trained anyway";
  }
}

TEST(CommandLine, CustomModelTakesOnlyQuick) {
  for (const char* args : {"--bogus", "--quick --bogus", "--quick --quick", "quick"}) {
    const Outcome r = run(TAPEGRAD_CUSTOM_MODEL_BIN, args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("custom_model: unexpected argument")) << args;
    EXPECT_THAT(r.out, HasSubstr("usage: custom_model [--quick]")) << args;
  }
  EXPECT_THAT(run(TAPEGRAD_CUSTOM_MODEL_BIN, "--quick --bogus").out, HasSubstr("'--bogus'"));
}

TEST(CommandLine, CustomOpTakesNoArguments) {
  const Outcome bad = run(TAPEGRAD_CUSTOM_OP_BIN, "--help");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("usage: custom_op"));
  const Outcome good = run(TAPEGRAD_CUSTOM_OP_BIN, "");
  EXPECT_EQ(good.status, 0) << good.out;
  EXPECT_THAT(good.out, HasSubstr("gradcheck softplus: ok"));
}

}  // namespace
