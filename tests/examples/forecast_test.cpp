// The forecasting walkthrough as a user runs it: its command line, its files, and (outside the
// sanitizer build) the notebook's results for seed 42 with the targets of the walkthrough issue.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace {

using ::testing::HasSubstr;

struct Outcome {
  int status = -1;
  std::string out;
};

Outcome run(const std::string& args) {
  Outcome r;
  std::string cmd = std::string(TAPEGRAD_FORECAST_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// model -> {key -> value} from the --json lines (flat objects of strings and numbers).
std::map<std::string, std::map<std::string, double>> parse_json_lines(const std::string& out) {
  std::map<std::string, std::map<std::string, double>> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() != '{') continue;
    std::string model;
    std::map<std::string, double> row;
    std::size_t p = 0;
    while ((p = line.find('"', p)) != std::string::npos) {
      const std::size_t key_end = line.find('"', p + 1);
      const std::string key = line.substr(p + 1, key_end - p - 1);
      std::size_t v = line.find_first_not_of(": ", key_end + 1);
      if (line[v] == '"') {
        const std::size_t value_end = line.find('"', v + 1);
        if (key == "model") model = line.substr(v + 1, value_end - v - 1);
        p = value_end + 1;
      } else {
        std::size_t used = 0;
        row[key] = std::stod(line.substr(v), &used);
        p = v + used;
      }
    }
    if (!model.empty()) rows[model] = row;
  }
  return rows;
}

TEST(Forecast, BadCommandLinesGetUsageAndNonZeroExit) {
  for (const char* args : {"--bogus", "--epochs", "--epochs x", "--epochs 0", "--models nope", "--models ,",
                           "--seed -3"}) {
    Outcome r = run(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_THAT(r.out, HasSubstr("usage: forecast")) << args;
  }
  Outcome help = run("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.out, HasSubstr("--models"));
}

TEST(Forecast, QuickRunWritesJsonAndWellFormedPlots) {
  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_forecast_plots";
  std::filesystem::remove_all(dir);
  Outcome r = run("--quick --json --models naive,linear,deep_rnn,iterative_10,deep_rnn_10,seq2seq,lstm,gru --plots " +
                  dir.string());
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = parse_json_lines(r.out);
  ASSERT_EQ(rows.size(), 8u) << r.out;
  EXPECT_EQ(rows["linear"]["params"], 51);
  EXPECT_EQ(rows["deep_rnn"]["params"], 1281);
  EXPECT_TRUE(rows["seq2seq"].count("last_time_step_mse"));
  EXPECT_EQ(rows["lstm"]["params"], 1760 + 3280 + 210);  // Keras' summary of the notebook's model
  EXPECT_EQ(rows["gru"]["params"], 1380 + 2520 + 210);
  EXPECT_TRUE(rows["lstm"].count("last_time_step_mse"));
  EXPECT_TRUE(rows["gru"].count("last_time_step_mse"));
  for (const char* f : {"learning_curve_linear.svg", "learning_curve_seq2seq.svg", "forecast_one_step.svg",
                        "forecast_ten_steps.svg"}) {
    std::ifstream in(dir / f);
    ASSERT_TRUE(in) << f;
    std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << f;
    EXPECT_THAT(svg, HasSubstr("</svg>")) << f;
    EXPECT_EQ(svg.find("nan"), std::string::npos) << f;
  }
  std::filesystem::remove_all(dir);
}

TEST(Forecast, UnwritablePlotDirectoryIsAnError) {
  Outcome r = run("--quick --models naive --plots /proc/forbidden");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("--plots"));
}

// The whole walkthrough, 20 epochs, seed 42: the targets of the walkthrough issue.
TEST(Forecast, NotebookResultsForSeed42) {
#ifdef TAPEGRAD_SANITIZED
  GTEST_SKIP() << "20 epochs of twelve models take too long under the sanitizers";
#endif
  Outcome r = run("--json --quiet");
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = parse_json_lines(r.out);
  ASSERT_EQ(rows.size(), 12u) << r.out;
  EXPECT_NEAR(rows["naive"]["val_mse"], 0.0202, 0.00005);
  EXPECT_LE(rows["linear"]["val_mse"], 0.0055);
  EXPECT_LE(rows["simple_rnn"]["val_mse"], 0.013);
  EXPECT_LE(rows["deep_rnn"]["val_mse"], 0.0035);
  EXPECT_LE(rows["deep_rnn_simple_out"]["val_mse"], 0.004);
  EXPECT_LE(rows["iterative_10"]["val_mse"], 0.035);
  EXPECT_NEAR(rows["naive_10"]["val_mse"], 0.257, 0.001);
  EXPECT_LE(rows["linear_10"]["val_mse"], 0.022);
  EXPECT_LE(rows["deep_rnn_10"]["val_mse"], 0.011);
  EXPECT_LE(rows["seq2seq"]["last_time_step_mse"], 0.010);
  EXPECT_LE(rows["lstm"]["last_time_step_mse"], 0.0086 * 1.25);  // the notebook: 0.0086
  EXPECT_LE(rows["gru"]["last_time_step_mse"], 0.0103 * 1.25);   // the notebook: 0.0103
  EXPECT_EQ(rows["simple_rnn"]["params"], 3);
  EXPECT_EQ(rows["linear"]["params"], 51);
}

}  // namespace
