#include <tapegrad/nn/layers/graph.h>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

void name_parameters(Module& model) {
  for (auto& [name, p] : model.named_parameters()) p.set_name(name);
}

std::string model_to_dot(Module& model, const Tensor& x) {
  Tape& t = tape();
  if (!grad_enabled())
    throw GraphError("model_to_dot: recording is off (a NoGradGuard is alive), so there is no graph to export");
  if (t.num_nodes() != 0)
    throw GraphError(
        fmt::format("model_to_dot: the tape already holds {} recorded ops; call it with nothing "
                    "recorded (after a backward, or once the tensors computed before are gone)",
                    t.num_nodes()));
  name_parameters(model);
  Tensor input = x.detach();
  input.set_name(x.name().empty() ? "input" : x.name());
  const bool previous = t.trace_inputs();
  t.set_trace_inputs(true);
  std::string dot;
  try {
    Tensor y = model(input);
    dot = t.to_dot();
  } catch (...) {
    t.set_trace_inputs(previous);
    t.clear();
    throw;
  }
  t.set_trace_inputs(previous);
  t.clear();
  return dot;
}

}  // namespace tg
