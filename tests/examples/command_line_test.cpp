// The example programs' command lines (support/cli.h), run as a user runs them: a value is a whole
// number in range or it is refused; an unknown flag, a missing, malformed or out-of-range value or
// an unknown name gets "<program>: <what>" and the usage on stderr and exit status 2 before any
// work; --quick never overrides a value given explicitly; an output folder that cannot be
// written is an error before training; bptt_graph runs Graphviz without a shell and reports
// its failures. Every run here stops at the command line or trains for a few milliseconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "support/run_program.h"

namespace {

namespace fs = std::filesystem;

using ::testing::HasSubstr;
using ::testing::Not;

using tg::testing::Outcome;
using tg::testing::run;

// A finished program with its two streams apart.
struct Streams {
  int status = -1;  // -1: it did not exit normally (a crash, an abort)
  std::string out, err;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `env binary args` through /bin/sh (`env`: assignments such as "PATH=/x", or empty).
Streams run_split(const std::string& binary, const std::string& args, const std::string& env = "") {
  Streams r;
  char out_path[] = "/tmp/tapegrad_cli_stdout_XXXXXX";
  const int fd = ::mkstemp(out_path);
  if (fd < 0) return r;
  ::close(fd);
  const std::string cmd = env + " " + binary + " " + args + " 2>&1 >" + out_path + " </dev/null";
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.err.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  r.out = read_file(out_path);
  ::unlink(out_path);
  return r;
}

// `s` as one word for /bin/sh.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A fresh directory for one test, removed at the end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("tapegrad_cli_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

struct Program {
  const char* name;
  const char* binary;
};

const std::vector<Program> kAll = {
    {"forecast", TAPEGRAD_FORECAST_BIN},     {"translate", TAPEGRAD_TRANSLATE_BIN},
    {"sentiment", TAPEGRAD_SENTIMENT_BIN},   {"generate", TAPEGRAD_GENERATE_BIN},
    {"imputation", TAPEGRAD_IMPUTATION_BIN}, {"vanishing_gradients", TAPEGRAD_VANISHING_GRADIENTS_BIN},
    {"bptt_graph", TAPEGRAD_BPTT_GRAPH_BIN}, {"custom_model", TAPEGRAD_CUSTOM_MODEL_BIN},
    {"custom_op", TAPEGRAD_CUSTOM_OP_BIN}};

// The programs with --quick and --epochs.
const std::vector<Program> kTrainers = {kAll[0], kAll[1], kAll[2], kAll[3], kAll[4]};

// `args` is refused: status 2, "<program>: <message>" and the usage on stderr, nothing on stdout.
void expect_refused(const Program& p, const std::string& args, const std::string& message) {
  SCOPED_TRACE(std::string(p.name) + " " + args);
  const Streams r = run_split(p.binary, args);
  EXPECT_EQ(r.status, 2) << r.err << r.out;
  EXPECT_THAT(r.err, HasSubstr(std::string(p.name) + ": " + message));
  EXPECT_THAT(r.err, HasSubstr(std::string("usage: ") + p.name));
  EXPECT_EQ(r.out, "");
}

std::string whole(const std::string& flag, const std::string& range, const std::string& got) {
  return flag + ": expected a whole number in " + range + ", got '" + got + "'";
}

TEST(CommandLine, EveryProgramRefusesUnknownFlagsAndStrayArguments) {
  for (const Program& p : kAll) {
    expect_refused(p, "--bogus", "The following argument was not expected: --bogus");
    expect_refused(p, "-x", "The following argument was not expected: -x");
  }
  // bptt_graph took "-x" for its output name and exited 0 after any "--h..." flag.
  expect_refused(kAll[6], "--hello", "The following argument was not expected: --hello");
  expect_refused(kAll[7], "quick", "The following argument was not expected: quick");
  expect_refused(kAll[8], "positional", "The following argument was not expected: positional");
}

TEST(CommandLine, EveryProgramPrintsItsUsageOnHelp) {
  for (const Program& p : kAll) {
    for (const char* help : {"--help", "-h"}) {
      const Streams r = run_split(p.binary, help);
      EXPECT_EQ(r.status, 0) << p.name;
      EXPECT_EQ(r.out.rfind(std::string("usage: ") + p.name + " [options]", 0), 0u) << p.name << "\n" << r.out;
      EXPECT_THAT(r.out, HasSubstr("--help")) << p.name;
      EXPECT_EQ(r.err, "") << p.name;
    }
  }
}

TEST(CommandLine, CountsAreWholeNumbersInRange) {
  for (const Program& p : kTrainers) {
    for (const char* bad : {"3x", "2.5", "1e3", "-3", "0", "0x10", "+3", " 3", "", "100001", "99999999999999999999"})
      expect_refused(p, std::string("--epochs ") + quoted(bad), whole("--epochs", "[1, 100000]", bad));
    expect_refused(p, "--seed -1", whole("--seed", "[0, 4294967295]", "-1"));
    expect_refused(p, "--seed 4294967296", whole("--seed", "[0, 4294967295]", "4294967296"));
    expect_refused(p, "--epochs", "--epochs: 1 required N missing");
    expect_refused(p, "--epochs 2 --epochs 3", "--epochs: At Most 1 required but received 2");
    expect_refused(p, "--quick --quick", "--quick: At Most 1 required but received 2");
    expect_refused(p, "--quick=false", "quick was given a disallowed flag override");
  }
  // --train 1e9 was 1 sample, and translate --train 0 crashed (SIGSEGV) on its first date.
  expect_refused(kAll[1], "--train 1e9", whole("--train", "[1, 100000]", "1e9"));
  expect_refused(kAll[1], "--train 0", whole("--train", "[1, 100000]", "0"));
  expect_refused(kAll[1], "--train -5", whole("--train", "[1, 100000]", "-5"));
  expect_refused(kAll[1], "--hidden 0", whole("--hidden", "[1, 1024]", "0"));
  expect_refused(kAll[1], "--cell gru2", "--cell: expected one of simple, gru, lstm, got 'gru2'");
  expect_refused(kAll[1], "--lr 0", "--lr: expected a number in (0, 10], got '0'");
  expect_refused(kAll[2], "--train 1e9", whole("--train", "[1, 1000000]", "1e9"));
  expect_refused(kAll[2], "--train 0", whole("--train", "[1, 1000000]", "0"));
  expect_refused(kAll[2], "--model gru", "--model: expected one of simple_rnn, lstm, both, got 'gru'");
  for (const char* bad : {"nan", "inf", "-0.1", "0x1p-3", "1e-2x", "+0.1"})
    expect_refused(kAll[2], std::string("--embedding-init ") + bad,
                   std::string("--embedding-init: expected a number in (0, 100], got '") + bad + "'");
}

// Bad numbers aborted vanishing_gradients with an uncaught std::invalid_argument (SIGABRT).
TEST(CommandLine, VanishingGradientsRefusesBadNumbers) {
  const Program& p = kAll[5];
  expect_refused(p, "--steps abc", whole("--steps", "[3, 100000]", "abc"));
  expect_refused(p, "--steps 1e3", whole("--steps", "[3, 100000]", "1e3"));
  expect_refused(p, "--steps 2", whole("--steps", "[3, 100000]", "2"));
  expect_refused(p, "--train-steps -1", whole("--train-steps", "[0, 1000000]", "-1"));
  expect_refused(p, "--units 2.5", whole("--units", "[1, 1024]", "2.5"));
  expect_refused(p, "--seed -1", whole("--seed", "[0, 18446744073709551615]", "-1"));
  expect_refused(p, "--seed 18446744073709551616",
                 whole("--seed", "[0, 18446744073709551615]", "18446744073709551616"));
  for (const char* bad : {"abc", "-0.1", "0", "nan", "inf", "11"})
    expect_refused(p, std::string("--lr ") + bad, std::string("--lr: expected a number in (0, 10], got '") + bad + "'");
  expect_refused(p, "a.svg b.svg", "The following argument was not expected: b.svg");
}

TEST(CommandLine, ForecastNamesWhatIsWrong) {
  const Program& p = kAll[0];
  expect_refused(p, "--quick --plots", "--plots: 1 required DIR missing");
  expect_refused(p, "--init-seed 4294967296", whole("--init-seed", "[0, 4294967295]", "4294967296"));
  expect_refused(p, "--models DEEP_RNN", "--models: unknown model 'DEEP_RNN'");
  expect_refused(p, "--models deep_rnn,", "--models: unknown model ''");
  expect_refused(p, "--models naive,,linear", "--models: unknown model ''");
  expect_refused(p, "--models ''", "--models: needs at least one model name");
}

// The preset of --quick comes first and the explicit values after it, wherever --quick stands:
// translate and vanishing_gradients let a later --quick overwrite --epochs, --train, --steps...
TEST(CommandLine, QuickNeverOverridesAnExplicitValue) {
  const std::vector<std::pair<Program, std::pair<std::string, std::string>>> cases = {
      {kAll[0], {"--models linear --verbose --epochs 1", "Epoch 1/1"}},
      {kAll[1], {"--epochs 1 --train 32 --hidden 2", "dates: 32 training, 200 held out"}},
      {kAll[2], {"--epochs 1 --train 32 --model simple_rnn", "epochs 1 train_seconds"}},
      {kAll[3], {"--epochs 1", "Epoch 1/1"}},
      {kAll[4], {"--epochs 1", "Epoch 1/1"}},
  };
  for (const auto& [p, c] : cases) {
    const auto& [args, expected] = c;
    for (const std::string& line : {"--quick " + args, args + " --quick"}) {
      const Streams r = run_split(p.binary, line);
      EXPECT_EQ(r.status, 0) << p.name << " " << line << "\n" << r.err;
      EXPECT_THAT(r.out, HasSubstr(expected)) << p.name << " " << line;
      EXPECT_THAT(r.out, Not(HasSubstr("Epoch 2/"))) << p.name << " " << line;
    }
  }
  EXPECT_THAT(run_split(kAll[1].binary, "--epochs 1 --train 32 --hidden 2 --quick").out,
              HasSubstr("GRU cells of 2 units, 1 epochs"));
  TempDir dir("quick");
  const std::string svg = quoted((dir.path / "v.svg").string());
  for (const std::string& line : {"--quick --steps 3 --train-steps 0 --units 1 " + svg,
                                  "--steps 3 --train-steps 0 --units 1 " + svg + " --quick"}) {
    const Streams r = run_split(kAll[5].binary, line);
    EXPECT_EQ(r.status, 0) << line << "\n" << r.err;
    EXPECT_THAT(r.out, HasSubstr("first of 3 uniform(-1, 1) inputs; 1 units; measured on 4 batches of 32, at "
                                 "initialisation and after 0 Adam steps"))
        << line;
  }
}

// The places results go are made and checked before any training: a plot folder that is a file,
// or under one, fails in milliseconds with the path in the message, not after the run.
TEST(CommandLine, AnOutputFolderThatIsAFileFailsBeforeTraining) {
  TempDir dir("outputs");
  const fs::path file = dir.path / "a_file";
  std::ofstream(file) << "not a folder\n";
  {
    const Streams r =
        run_split(TAPEGRAD_FORECAST_BIN, "--quick --models linear --epochs 1 --plots " + quoted(file.string()));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("forecast: --plots: cannot make the directory '" + file.string() + "'"));
    EXPECT_THAT(r.out, Not(HasSubstr("val MSE")));
  }
  {
    const Streams r = run_split(TAPEGRAD_VANISHING_GRADIENTS_BIN,
                                "--steps 3 --train-steps 0 --units 1 " + quoted((file / "v.svg").string()));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("vanishing_gradients: out.svg: cannot make the directory '" + file.string() + "'"));
    EXPECT_THAT(r.out, Not(HasSubstr("Task:")));  // before the measurements
  }
  {
    const Streams r =
        run_split(TAPEGRAD_VANISHING_GRADIENTS_BIN, "--steps 3 --train-steps 0 --units 1 " + quoted(dir.path.string()));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("'" + dir.path.string() + "' is a directory, not a file"));
    EXPECT_THAT(r.out, Not(HasSubstr("Task:")));
  }
  {
    const Streams r = run_split(TAPEGRAD_BPTT_GRAPH_BIN, quoted((file / "graph").string()));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("bptt_graph: out: cannot make the directory '" + file.string() + "'"));
  }
  // A missing folder is made.
  const Streams r = run_split(TAPEGRAD_VANISHING_GRADIENTS_BIN,
                              "--steps 3 --train-steps 0 --units 1 " + quoted((dir.path / "new" / "v.svg").string()));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(dir.path / "new" / "v.svg"));
}

// bptt_graph built "dot -Tsvg '<out>.dot' ..." and ran it through std::system: a quote in the
// name ran whatever followed it. Now dot gets an argument vector; a stand-in `dot` records it.
TEST(CommandLine, BpttGraphPassesTheNameToDotAsOneArgument) {
  TempDir dir("bptt");
  const fs::path bin = dir.path / "bin";
  fs::create_directories(bin);
  std::ofstream(bin / "dot") << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGS_FILE\"\n"
                                ": > \"$4\"\n";
  fs::permissions(bin / "dot", fs::perms::owner_all);
  // Run in `dir`, so that the name holds no '/' and the commands in it would find their files;
  // the stand-in dot comes first on the PATH, then the system's commands (touch).
  const std::string name = "it's a $(touch pwned); touch pwned2 `touch pwned3` \"q\" name";
  const fs::path args_file = dir.path / "args.txt";
  const std::string env = "cd " + quoted(dir.path.string()) + " && PATH=" + quoted(bin.string()) +
                          ":/usr/bin:/bin ARGS_FILE=" + quoted(args_file.string());
  const Streams r = run_split(TAPEGRAD_BPTT_GRAPH_BIN, quoted(name), env);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("rendered " + name + ".svg"));
  for (const char* f : {"pwned", "pwned2", "pwned3"}) EXPECT_FALSE(fs::exists(dir.path / f)) << f;
  EXPECT_TRUE(fs::is_regular_file(dir.path / (name + ".dot")));
  EXPECT_EQ(read_file(args_file), "-Tsvg\n" + name + ".dot\n-o\n" + name + ".svg\n");

  // A name that starts with '-' is not taken for one of dot's options.
  const Streams dash = run_split(TAPEGRAD_BPTT_GRAPH_BIN, "-- -Tpng", env);
  EXPECT_EQ(dash.status, 0) << dash.err;
  EXPECT_EQ(read_file(args_file), "-Tsvg\n./-Tpng.dot\n-o\n./-Tpng.svg\n");
}

// "rendered" was printed whatever dot did; a missing dot is a note, a failing one an error.
TEST(CommandLine, BpttGraphReportsWhatDotDid) {
  TempDir dir("dot_fails");
  const fs::path bin = dir.path / "bin";
  fs::create_directories(bin);
  std::ofstream(bin / "dot") << "#!/bin/sh\necho 'dot: syntax error' >&2\nexit 3\n";
  fs::permissions(bin / "dot", fs::perms::owner_all);
  const std::string out = quoted((dir.path / "g").string());
  const Streams failed = run_split(TAPEGRAD_BPTT_GRAPH_BIN, out, "PATH=" + quoted(bin.string()));
  EXPECT_EQ(failed.status, 1) << failed.out << failed.err;
  EXPECT_THAT(failed.err,
              HasSubstr("bptt_graph: dot failed (exit status 3): no " + (dir.path / "g").string() + ".svg"));
  EXPECT_THAT(failed.out, Not(HasSubstr("rendered")));

  const fs::path empty = dir.path / "empty";
  fs::create_directories(empty);
  const Streams missing = run_split(TAPEGRAD_BPTT_GRAPH_BIN, "--deep " + out, "PATH=" + quoted(empty.string()));
  EXPECT_EQ(missing.status, 0) << missing.err;
  EXPECT_THAT(missing.out, HasSubstr("Graphviz's dot is not on the PATH: no SVG"));
  EXPECT_THAT(missing.out, Not(HasSubstr("rendered")));
  EXPECT_TRUE(fs::is_regular_file(dir.path / "g.dot"));
}

TEST(CommandLine, CustomExamplesTakeOnlyTheirFlags) {
  const Outcome good = run(TAPEGRAD_CUSTOM_OP_BIN, "");
  EXPECT_EQ(good.status, 0) << good.out;
  EXPECT_THAT(good.out, HasSubstr("gradcheck softplus: ok"));
  expect_refused(kAll[8], "--quick", "The following argument was not expected: --quick");
  expect_refused(kAll[7], "--epochs", "The following argument was not expected: --epochs");
  expect_refused(kAll[7], "--quick --quick", "--quick: At Most 1 required but received 2");
}

}  // namespace
