// Backpropagation through time, looked at: the seed's SimpleRNN unrolled over 5 steps as a
// Graphviz graph. Writes <out>.dot and, when Graphviz's `dot` is on the PATH, <out>.svg.
//
//   bptt_graph [--deep] [out]     (out defaults to "bptt_graph")
//
// SimpleRNN(1) by default; --deep draws the seed's deep RNN shrunk to two units a layer:
// SimpleRNN(2, return_sequences) -> SimpleRNN(2) -> Dense(1).
#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

int main(int argc, char** argv) {
  using namespace tg;
  bool deep = false;
  std::string out = "bptt_graph";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--deep")
      deep = true;
    else if (a == "--help" || a == "-h" || a.starts_with("--")) {
      fmt::print("usage: bptt_graph [--deep] [out]\n");
      return a.starts_with("--h") || a == "-h" ? 0 : 2;
    } else
      out = a;
  }
  manual_seed(42);
  Sequential model = deep ? Sequential(Input{None, 1}, SimpleRNN(2, {.return_sequences = true}), SimpleRNN(2), Dense(1))
                          : Sequential(Input{None, 1}, SimpleRNN(1));
  const std::string dot = model_to_dot(model, ones({1, 5, 1}));

  const std::string dot_path = out + ".dot";
  {
    std::ofstream f(dot_path);
    f << dot;
    if (!f) {
      fmt::print(stderr, "bptt_graph: cannot write {}\n", dot_path);
      return 1;
    }
  }
  fmt::print("{}{} parameters; the graph of one forward pass over 5 steps is in {}\n", model.summary(),
             model.num_parameters(), dot_path);
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    fmt::print("Graphviz's dot is not on the PATH: no SVG (install graphviz, then: dot -Tsvg {} -o {}.svg)\n", dot_path,
               out);
    return 0;
  }
  const std::string cmd = fmt::format("dot -Tsvg '{}' -o '{}.svg'", dot_path, out);
  if (std::system(cmd.c_str()) != 0) {
    fmt::print(stderr, "bptt_graph: `{}` failed\n", cmd);
    return 1;
  }
  fmt::print("rendered {}.svg\n", out);
}
