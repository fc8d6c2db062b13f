// The examples' command-line helpers (examples/support/cli.h) in process: the strict number
// parsers, --quick applied before the explicit values, nothing stored after an error, and the
// output checks. command_line_test.cpp runs the programs themselves.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/cli.h"

namespace {

namespace fs = std::filesystem;

using ::testing::HasSubstr;
using tg::cli::CommandLine;
using tg::cli::parse_real;
using tg::cli::parse_whole;

TEST(ExampleCli, WholeNumbersAreDigitsInRangeAndNothingElse) {
  EXPECT_EQ(parse_whole<int>("3", 1, 10), 3);
  EXPECT_EQ(parse_whole<int>("10", 1, 10), 10);
  EXPECT_EQ(parse_whole<int>("007", 1, 10), 7);
  EXPECT_EQ(parse_whole<int>("-4", -5, 5), -4);
  for (const char* bad : {"", "3x", "2.5", "1e9", "1e3", "0x10", "+3", " 3", "3 ", "-3", "0", "11", "-0", "--3",
                          "99999999999999999999", "\xff"})
    EXPECT_EQ(parse_whole<int>(bad, 1, 10), std::nullopt) << bad;
  EXPECT_EQ(parse_whole<std::uint32_t>("4294967295", 0, 4294967295u), 4294967295u);
  EXPECT_EQ(parse_whole<std::uint32_t>("4294967296", 0, 4294967295u), std::nullopt);
  EXPECT_EQ(parse_whole<std::uint32_t>("-1", 0, 4294967295u), std::nullopt);  // not 4294967295
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(parse_whole<std::uint64_t>("18446744073709551615", 0, kMax), kMax);
  EXPECT_EQ(parse_whole<std::uint64_t>("18446744073709551616", 0, kMax), std::nullopt);
}

TEST(ExampleCli, RealNumbersAreFiniteAndInRange) {
  EXPECT_EQ(parse_real("0.004", 0, 10), 0.004);
  EXPECT_EQ(parse_real("1e-3", 0, 10), 1e-3);
  EXPECT_EQ(parse_real("10", 0, 10), 10.0);
  for (const char* bad : {"", "0", "-0.1", "10.5", "nan", "inf", "-inf", "0x1p-3", "1e-2x", "+0.1", " 1", "1,5"})
    EXPECT_EQ(parse_real(bad, 0, 10), std::nullopt) << bad;
}

struct Settings {
  int epochs = 20;
  std::int64_t train = 10000;
  double lr = 0.004;
  std::optional<std::uint32_t> init_seed;
  std::string cell = "gru", out = "default.svg";
  bool quick = false, json = false;
};

// Parses `args` (without the program's name) into `s`; the exit status when parse stops.
std::optional<int> parse(Settings& s, std::vector<std::string> args) {
  CommandLine cl("prog", "A test program.");
  cl.quick("small", [&] {
    s.quick = true;
    s.epochs = 2;
    s.train = 100;
    s.lr = 0.01;
  });
  cl.whole("--epochs", s.epochs, 1, 100000, "epochs");
  cl.whole("--train", s.train, 1, 100000, "samples");
  cl.positive("--lr", s.lr, 10.0, "rate");
  cl.whole("--init-seed", s.init_seed, 0, 4294967295u, "seed", "S");
  cl.choice("--cell", s.cell, {"simple", "gru", "lstm"}, "cell");
  cl.flag("--json", s.json, "json");
  cl.text("out", s.out, "file");
  std::vector<const char*> argv{"prog"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  auto status = cl.parse(static_cast<int>(argv.size()), argv.data());
  ::testing::internal::GetCapturedStdout();
  ::testing::internal::GetCapturedStderr();
  return status;
}

TEST(ExampleCli, QuickIsAppliedBeforeTheExplicitValuesWhereverItStands) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--quick", "--epochs", "5", "--lr", "0.5"},
                                                                {"--epochs", "5", "--quick", "--lr", "0.5"},
                                                                {"--epochs", "5", "--lr", "0.5", "--quick"}}) {
    Settings s;
    ASSERT_EQ(parse(s, args), std::nullopt);
    EXPECT_TRUE(s.quick);
    EXPECT_EQ(s.epochs, 5);
    EXPECT_EQ(s.lr, 0.5);
    EXPECT_EQ(s.train, 100);  // from the preset: not given
  }
  Settings s;
  ASSERT_EQ(parse(s, {"--json", "--init-seed", "7", "--cell", "lstm", "--train=300", "my plot.svg"}), std::nullopt);
  EXPECT_EQ(s.epochs, 20);  // no --quick: the defaults stay
  EXPECT_EQ(s.train, 300);
  EXPECT_EQ(s.init_seed, 7u);
  EXPECT_EQ(s.cell, "lstm");
  EXPECT_EQ(s.out, "my plot.svg");
  EXPECT_TRUE(s.json);
  EXPECT_FALSE(s.quick);
}

TEST(ExampleCli, AnErrorStoresNothingAndExitsWithTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--epochs", "5", "--train", "1e9"},
                                                                {"--epochs", "5", "--bogus"},
                                                                {"--epochs", "5", "--epochs", "6"},
                                                                {"--quick", "--cell", "GRU"},
                                                                {"--epochs", "5", "a.svg", "b.svg"},
                                                                {"--epochs", "5", "--json=false"},
                                                                {"--epochs", "5", "--lr"}}) {
    Settings s;
    EXPECT_EQ(parse(s, args), 2) << args.back();
    EXPECT_EQ(s.epochs, 20) << args.back();
    EXPECT_FALSE(s.quick) << args.back();
    EXPECT_FALSE(s.json) << args.back();
  }
  Settings s;
  EXPECT_EQ(parse(s, {"--epochs", "5", "--help"}), 0);
  EXPECT_EQ(s.epochs, 20);
}

TEST(ExampleCli, UsageAndErrorMessages) {
  Settings s;
  CommandLine cl("prog", "A test program.");
  cl.whole("--epochs", s.epochs, 1, 100000, "epochs per model (default 20)");
  const std::vector<const char*> argv{"prog", "--epochs", "3x"};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(cl.parse(3, argv.data()), 2);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("prog: --epochs: expected a whole number in [1, 100000], got '3x'\nusage: prog [options]\n", 0),
            0u)
      << err;
  EXPECT_THAT(err, HasSubstr("--epochs N"));
  EXPECT_THAT(err, HasSubstr("epochs per model (default 20)"));
}

TEST(ExampleCli, GuardedMainTurnsEveryExceptionIntoStatusOne) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(tg::cli::guarded_main("prog", [] { return 3; }), 3);
  EXPECT_EQ(tg::cli::guarded_main("prog", []() -> int { throw tg::ValueError("bad value"); }), 1);
  EXPECT_EQ(tg::cli::guarded_main("prog", []() -> int { throw std::invalid_argument("stoi"); }), 1);
  EXPECT_EQ(tg::cli::guarded_main("prog", []() -> int { throw 42; }), 1);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("prog: bad value\n"));
  EXPECT_THAT(err, HasSubstr("prog: stoi\n"));
  EXPECT_THAT(err, HasSubstr("prog: an unknown exception\n"));
}

TEST(ExampleCli, OutputPlacesAreMadeOrRefused) {
  const fs::path dir = fs::temp_directory_path() / ("tapegrad_cli_out_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "file") << "x";

  tg::cli::prepare_output_dir((dir / "a" / "b").string(), "--plots");
  EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
  EXPECT_TRUE(fs::is_empty(dir / "a" / "b"));  // the probe is gone
  tg::cli::check_output_file((dir / "c" / "plot.svg").string(), "out");
  EXPECT_TRUE(fs::is_directory(dir / "c"));
  EXPECT_FALSE(fs::exists(dir / "c" / "plot.svg"));

  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const tg::IOError& e) {
      return e.what();
    }
    return "no IOError";
  };
  const std::string file = (dir / "file").string();
  EXPECT_THAT(message([&] { tg::cli::prepare_output_dir(file, "--plots"); }),
              HasSubstr("--plots: cannot make the directory '" + file + "'"));
  EXPECT_THAT(message([&] { tg::cli::prepare_output_dir(file + "/sub", "--plots"); }),
              HasSubstr("--plots: cannot make the directory '" + file + "/sub'"));
  EXPECT_THAT(message([&] { tg::cli::check_output_file(file + "/plot.svg", "out"); }),
              HasSubstr("out: cannot make the directory '" + file + "'"));
  EXPECT_THAT(message([&] { tg::cli::check_output_file(dir.string(), "out"); }), HasSubstr("is a directory"));
  EXPECT_THAT(message([&] { tg::cli::prepare_output_dir("", "--plots"); }), HasSubstr("an empty directory name"));
  EXPECT_THAT(message([&] { tg::cli::prepare_output_dir("/proc/tapegrad_cli", "--plots"); }),
              HasSubstr("--plots: cannot make the directory '/proc/tapegrad_cli'"));
  fs::remove_all(dir);
}

}  // namespace
