// `forecast --csv`: the forecasting job on the real series shipped in data/series/, as a user runs
// it: the leaderboard, the trend-and-season bar (the best learned model beats seasonal naive),
// save and predict, and bad input refused with status 2 before any training.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/run_program.h"

namespace {

using ::testing::HasSubstr;
using tg::testing::Outcome;

// The shipped series, from the goldens folder (tests/goldens) of the source tree.
const std::string kSeries = std::string(TAPEGRAD_GOLDEN_DIR) + "/../../data/series/";

Outcome run(const std::string& args) { return tg::testing::run(TAPEGRAD_FORECAST_BIN, args); }

// A temporary directory of this process (test runs of several build trees may overlap).
std::filesystem::path temp_dir(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("tapegrad_forecast_csv_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

struct JsonRow {
  std::string model;
  std::map<std::string, double> numbers;
  std::vector<std::string> keys;  // in the order written
};

// The --json lines, in order: flat objects of strings and numbers.
std::vector<JsonRow> parse_json_lines(const std::string& out) {
  std::vector<JsonRow> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() != '{') continue;
    JsonRow row;
    std::size_t p = 0;
    while ((p = line.find('"', p)) != std::string::npos) {
      const std::size_t key_end = line.find('"', p + 1);
      const std::string key = line.substr(p + 1, key_end - p - 1);
      row.keys.push_back(key);
      const std::size_t v = line.find_first_not_of(": ", key_end + 1);
      if (line[v] == '"') {
        const std::size_t value_end = line.find('"', v + 1);
        if (key == "model") row.model = line.substr(v + 1, value_end - v - 1);
        p = value_end + 1;
      } else {
        std::size_t used = 0;
        row.numbers[key] = std::stod(line.substr(v), &used);
        p = v + used;
      }
    }
    rows.push_back(row);
  }
  return rows;
}

void expect_leaderboard(const std::vector<JsonRow>& rows, std::size_t models, const std::string& args) {
  ASSERT_EQ(rows.size(), models) << args;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const JsonRow& r = rows[i];
    EXPECT_EQ(r.keys, (std::vector<std::string>{"model", "mae", "rmse", "mase", "params", "train_s"})) << args;
    for (const char* k : {"mae", "rmse", "mase", "train_s"}) {
      EXPECT_TRUE(std::isfinite(r.numbers.at(k))) << args << " " << r.model << " " << k;
      EXPECT_GE(r.numbers.at(k), 0.0) << args << " " << r.model << " " << k;
    }
    EXPECT_GE(r.numbers.at("rmse"), r.numbers.at("mae")) << args << " " << r.model;
    if (i > 0) {
      EXPECT_LE(rows[i - 1].numbers.at("mase"), r.numbers.at("mase")) << args << ": best first";
    }
  }
}

TEST(ForecastCsv, QuickRunOnEachShippedSeries) {
  struct Case {
    std::string args;
    std::size_t models;
  };
  const std::vector<Case> cases = {
      {"--csv " + kSeries + "sunspots.csv --column sunactivity", 7},
      {"--csv " + kSeries + "co2_monthly.csv --column co2 --season 12", 8},
      {"--csv " + kSeries + "elec_equip.csv --column index --season 12", 8},
  };
  for (const Case& c : cases) {
    Outcome r = run(c.args + " --quick --json");
    ASSERT_EQ(r.status, 0) << c.args << "\n" << r.out;
    const auto rows = parse_json_lines(r.out);
    expect_leaderboard(rows, c.models, c.args);
    for (const JsonRow& row : rows) {
      if (row.model == "linear") {
        EXPECT_EQ(row.numbers.at("params"), 24 * 12 + 12);  // Dense(12) on 24 steps
      }
    }
  }
}

TEST(ForecastCsv, TextLeaderboardSaysWhatWasDone) {
  Outcome r =
      run("--csv " + kSeries + "co2_monthly.csv --column co2 --season 12 --quick --models naive,seasonal_naive,linear");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("526 values, 1958-03 to 2001-12 (5 missing, interpolated)"));
  EXPECT_THAT(r.out, HasSubstr("preprocessing: log, difference(12), standard_scale"));
  // The leaderboard: one ranked line per model, each with finite MAE, RMSE and MASE.
  std::istringstream in(r.out);
  int ranked = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    int rank = 0;
    std::string model;
    double mae = NAN, rmse = NAN, mase = NAN;
    if (!(fields >> rank >> model >> mae >> rmse >> mase)) continue;
    EXPECT_EQ(rank, ++ranked) << line;
    EXPECT_TRUE(std::isfinite(mae) && std::isfinite(rmse) && std::isfinite(mase)) << line;
  }
  EXPECT_EQ(ranked, 3) << r.out;
}

TEST(ForecastCsv, WithoutSeasonATrendIsDifferenced) {
  Outcome co2 = run("--csv " + kSeries + "co2_monthly.csv --column co2 --quick --models naive,linear");
  ASSERT_EQ(co2.status, 0) << co2.out;
  EXPECT_THAT(co2.out, HasSubstr("preprocessing: difference(1), standard_scale"));
  Outcome sun = run("--csv " + kSeries + "sunspots.csv --column sunactivity --quick --models naive,linear");
  ASSERT_EQ(sun.status, 0) << sun.out;
  EXPECT_THAT(sun.out, HasSubstr("preprocessing: standard_scale,"));
}

// The bar: on a series with a trend and a season, the best learned model beats seasonal
// naive on the held-out end (MASE and MAE), with the default settings.
TEST(ForecastCsv, BestLearnedModelBeatsSeasonalNaiveOnCo2) {
  Outcome r = run("--csv " + kSeries + "co2_monthly.csv --column co2 --season 12 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto rows = parse_json_lines(r.out);
  expect_leaderboard(rows, 8, "co2");
  double best_learned = INFINITY, seasonal = NAN;
  for (const JsonRow& row : rows) {
    if (row.model == "seasonal_naive")
      seasonal = row.numbers.at("mae");
    else if (row.model != "naive")
      best_learned = std::min(best_learned, row.numbers.at("mae"));
  }
  EXPECT_LT(best_learned, seasonal) << r.out;
}

TEST(ForecastCsv, BacktestAveragesOverOrigins) {
  Outcome r = run("--csv " + kSeries +
                  "co2_monthly.csv --column co2 --season 12 --quick --backtest 3 "
                  "--models naive,seasonal_naive,linear");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("backtest: 3 origins"));
  EXPECT_THAT(r.out, HasSubstr("origin 3 (2001-01)"));  // the last origin: the last 12 months scored
}

TEST(ForecastCsv, SaveThenLoadPredictsTheNextValues) {
  const auto dir = temp_dir("save"), plots = temp_dir("plots");
  Outcome r = run("--csv " + kSeries +
                  "co2_monthly.csv --column co2 --season 12 --quick --models "
                  "seasonal_naive,linear,gru --save " +
                  dir.string() + " --plots " + plots.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "weights.tgw"));
  for (const char* f : {"forecast.svg", "learning_curve_linear.svg", "learning_curve_gru.svg"}) {
    std::ifstream in(plots / f);
    ASSERT_TRUE(in) << f;
    const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << f;
    EXPECT_EQ(svg.find("nan"), std::string::npos) << f;
  }
  Outcome p = run("--load " + dir.string() + " --csv " + kSeries + "co2_monthly.csv --predict --json");
  ASSERT_EQ(p.status, 0) << p.out;
  const auto rows = parse_json_lines(p.out);
  ASSERT_EQ(rows.size(), 12u) << p.out;  // the horizon
  for (std::size_t j = 0; j < rows.size(); ++j) {
    EXPECT_EQ(rows[j].numbers.at("step"), static_cast<double>(j + 1));
    const double v = rows[j].numbers.at("co2");
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(v, 360.0) << "in ppm, near the last values (371 ppm in 2001-12)";
    EXPECT_LT(v, 385.0);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(plots);
}

TEST(ForecastCsv, BadInputGetsAMessageAndStatus2BeforeTraining) {
  const auto dir = temp_dir("bad");
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  std::string constant = "t,v\n", text_cell = "t,v\n", line = "t,v\n";
  for (int i = 0; i < 200; ++i) {
    constant += std::to_string(i) + ",5\n";
    line += std::to_string(i) + "," + std::to_string(2 * i + 1) + "\n";  // differenced: constant
    text_cell += std::to_string(i) + "," + (i == 50 ? "abc" : std::to_string(i % 7)) + "\n";
  }
  const std::string co2 = "--csv " + kSeries + "co2_monthly.csv";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--csv " + (dir / "missing.csv").string() + " --column v", "no file"},
      {co2 + " --column nope", "'nope'"},
      {co2, "--column"},
      {co2 + " --column co2 --window 400", "too short"},
      {"--csv " + write("short.csv", "t,v\n1,1\n2,2\n3,4\n") + " --column v", "too short"},
      {"--csv " + write("text.csv", text_cell) + " --column v", "'abc'"},
      {"--csv " + write("constant.csv", constant) + " --column v", "constant"},
      {"--csv " + write("line.csv", line) + " --column v", "cannot prepare the series: standard_scale"},
      {co2 + " --column co2 --models seasonal_naive", "needs --season"},
      {co2 + " --column co2 --backtest 100", "--backtest 100"},
      {co2 + " --column co2 --window 3 --models conv_gru", "conv_gru needs --window 4"},
      {co2 + " --column co2 --window x", "--window"},
      {co2 + " --column co2 --models nope", "unknown model 'nope'"},
      {"--load " + (dir / "none").string() + " " + co2 + " --predict", "--load"},
      {co2 + " --column co2 --predict", "--load DIR and --predict"},
  };
  for (const auto& [args, message] : cases) {
    Outcome r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr(message)) << args;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("epochs, val_loss"))) << args << ": nothing trained";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
