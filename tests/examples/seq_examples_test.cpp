// The vector-to-sequence and imputation examples as a user runs them: their quick modes reach the
// figures the examples promise (well below the mean series; below linear interpolation), and bad
// command lines get the usage.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "support/run_program.h"

#if defined(TAPEGRAD_GENERATE_BIN) && defined(TAPEGRAD_IMPUTATION_BIN)

namespace {

using ::testing::HasSubstr;

using tg::testing::Outcome;
using tg::testing::run;

// The number after `label` in `out`, or NaN.
double number_after(const std::string& out, const std::string& label) {
  const std::size_t p = out.find(label);
  if (p == std::string::npos) return std::nan("");
  return std::stod(out.substr(p + label.size()));
}

TEST(SeqExamples, GenerateQuickIsWellBelowTheMeanSeries) {
  Outcome r = run(TAPEGRAD_GENERATE_BIN, "--quick");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("repeat_vector (RepeatVector)"));
  const double model = number_after(r.out, "validation MSE ");
  const double baseline = number_after(r.out, "predicting the mean series: ");
  ASSERT_FALSE(std::isnan(model) || std::isnan(baseline)) << r.out;
  EXPECT_GT(baseline, 0.3) << r.out;  // amplitudes 0.5..1.5 at random phases: about 0.54
  EXPECT_LT(model, baseline / 5) << r.out;
}

TEST(SeqExamples, ImputationQuickBeatsLinearInterpolation) {
  Outcome r = run(TAPEGRAD_IMPUTATION_BIN, "--quick");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bidirectional (Bidirectional)"));
  const double model = number_after(r.out, "MSE on the hidden points ");
  const double interp = number_after(r.out, "linear interpolation: ");
  ASSERT_FALSE(std::isnan(model) || std::isnan(interp)) << r.out;
  EXPECT_GT(interp, 0.0) << r.out;
  EXPECT_LT(model, interp) << r.out;
}

TEST(SeqExamples, BadCommandLinesGetTheUsage) {
  for (const char* bin : {TAPEGRAD_GENERATE_BIN, TAPEGRAD_IMPUTATION_BIN}) {
    for (const char* args : {"--bogus", "--epochs 0", "--epochs x", "--seed -1"}) {
      Outcome r = run(bin, args);
      EXPECT_EQ(r.status, 2) << bin << " " << args;
      EXPECT_THAT(r.out, HasSubstr("usage:")) << bin << " " << args;
    }
  }
}

}  // namespace

#endif
