// Backpropagation through time, looked at: the seed's SimpleRNN unrolled over 5 steps as a
// Graphviz graph. Writes <out>.dot and, when Graphviz's `dot` is on the PATH, <out>.svg.
//
//   bptt_graph [--deep] [out]     (out defaults to "bptt_graph")
//
// SimpleRNN(1) by default; --deep draws the seed's deep RNN shrunk to two units a layer:
// SimpleRNN(2, return_sequences) -> SimpleRNN(2) -> Dense(1).
//
// `dot` runs from an argument vector (posix_spawnp), never through a shell, so an output name
// with quotes, spaces, `;` or `$(...)` is one file name and nothing else.
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include "support/cli.h"

extern char** environ;

namespace {

// A path as a program's operand: one that starts with '-' would be read as an option.
std::string operand(const std::string& path) { return path.starts_with("-") ? "./" + path : path; }

// `s` as one word for a POSIX shell, for the command printed as a hint.
std::string shell_word(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `dot -Tsvg <dot_path> -o <svg_path>` and returns the exit status: 0 when it rendered the
// graph. When dot cannot be started or fails, says why on stderr.
int render_svg(const std::string& dot_path, const std::string& svg_path) {
  std::vector<std::string> args = {"dot", "-Tsvg", operand(dot_path), "-o", operand(svg_path)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = ::posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
  if (err == ENOENT) {
    fmt::print("Graphviz's dot is not on the PATH: no SVG (install graphviz, then: dot -Tsvg {} -o {})\n",
               shell_word(operand(dot_path)), shell_word(operand(svg_path)));
    return 0;  // the .dot file is the result; the SVG is a convenience
  }
  if (err != 0) {
    fmt::print(stderr, "bptt_graph: cannot run dot: {}\n", std::strerror(err));
    return 1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fmt::print(stderr, "bptt_graph: waiting for dot: {}\n", std::strerror(errno));
      return 1;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    fmt::print("rendered {}\n", svg_path);
    return 0;
  }
  if (WIFEXITED(status))
    fmt::print(stderr, "bptt_graph: dot failed (exit status {}): no {}\n", WEXITSTATUS(status), svg_path);
  else
    fmt::print(stderr, "bptt_graph: dot was killed by signal {}: no {}\n", WTERMSIG(status), svg_path);
  return 1;
}

int run(int argc, char** argv) {
  using namespace tg;
  bool deep = false;
  std::string out = "bptt_graph";
  cli::CommandLine cl("bptt_graph",
                      "The seed's SimpleRNN unrolled over 5 steps as a Graphviz graph: writes <out>.dot and,\n"
                      "when Graphviz's dot is on the PATH, <out>.svg.");
  cl.flag("--deep", deep, "the deep RNN, two units a layer: SimpleRNN(2) -> SimpleRNN(2) -> Dense(1)");
  cl.text("out", out, "the output files' name without extension (default bptt_graph)");
  if (const auto status = cl.parse(argc, argv)) return *status;
  const std::string dot_path = out + ".dot", svg_path = out + ".svg";
  cli::check_output_file(dot_path, "out");

  manual_seed(42);
  Sequential model = deep ? Sequential(Input{None, 1}, SimpleRNN(2, {.return_sequences = true}), SimpleRNN(2), Dense(1))
                          : Sequential(Input{None, 1}, SimpleRNN(1));
  const std::string dot = model_to_dot(model, ones({1, 5, 1}));
  {
    std::ofstream f(dot_path);
    f << dot;
    if (!f) throw IOError(fmt::format("cannot write {}", dot_path));
  }
  fmt::print("{}{} parameters; the graph of one forward pass over 5 steps is in {}\n", model.summary(),
             model.num_parameters(), dot_path);
  std::fflush(stdout);
  return render_svg(dot_path, svg_path);
}

}  // namespace

int main(int argc, char** argv) {
  return tg::cli::guarded_main("bptt_graph", [&] { return run(argc, argv); });
}
