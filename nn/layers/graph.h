#pragma once
/// \file
/// A model's computation as a Graphviz DOT graph, e.g. a SimpleRNN unrolled over 5 steps:
///
///     tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(2), tg::Dense(1));
///     std::string dot = tg::model_to_dot(model, tg::ones({1, 5, 1}));
///     // dot -Tsvg model.dot -o model.svg
///
/// Ops are boxes named by op, parameters gold ellipses named by their path in the model, the
/// input a grey house, the output a green double octagon, and edges carry shapes (see
/// Tape::to_dot). examples/bptt_graph renders one.

#include <tapegrad/core/config.h>

#include <string>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Names every parameter of `model` (Tensor::set_name) after its path in
/// model.named_parameters(): "simple_rnn.cell.recurrent_kernel", "dense.kernel".
void name_parameters(Module& model);

/// Runs model(x) while recording, with the parameters named by name_parameters and x shown as
/// "input" (or x's own name), and returns Tape::to_dot of that recording. Nothing else may be
/// recorded on the tape at the call (GraphError otherwise: the export shows the whole tape), nor
/// may recording be off; the recording is freed before it returns.
std::string model_to_dot(Module& model, const Tensor& x);

}  // namespace tg
