#include <tapegrad/nn/recurrent/bptt.h>

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/nn/training/train_step.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

std::vector<RNN*> recurrent_layers(Module& model) {
  std::vector<RNN*> out;
  std::vector<Module*> todo{&model};
  while (!todo.empty()) {
    Module* m = todo.back();
    todo.pop_back();
    if (auto* rnn = dynamic_cast<RNN*>(m)) out.push_back(rnn);
    const auto& children = m->children();
    for (auto it = children.rbegin(); it != children.rend(); ++it) todo.push_back(it->second.get());
  }
  return out;
}

std::vector<RNN*> track_step_gradients(Module& model, bool on) {
  std::vector<RNN*> rnns = recurrent_layers(model);
  if (rnns.empty()) throw ValueError(fmt::format("track_step_gradients: {} has no recurrent layer", model.type_name()));
  for (RNN* r : rnns) r->set_keep_step_outputs(on);
  return rnns;
}

void reset_states(Module& model) {
  for (RNN* r : recurrent_layers(model)) r->reset_states();
}

std::vector<double> train_truncated_bptt(Module& model, const Tensor& x, const Tensor& y,
                                         const TruncatedBPTTOptions& options) {
  if (options.k < 1) throw ValueError(fmt::format("train_truncated_bptt: k must be at least 1, got {}", options.k));
  if (x.rank() != 3)
    throw ShapeError(fmt::format("train_truncated_bptt: x {}, expected [batch, time, features]", x.shape()));
  if (y.rank() < 2 || y.size(0) != x.size(0) || y.size(1) != x.size(1))
    throw ShapeError(fmt::format("train_truncated_bptt: y {} must have x's batch and time sizes [{}, {}, ...]",
                                 y.shape(), x.size(0), x.size(1)));
  std::vector<RNN*> rnns = recurrent_layers(model);
  if (rnns.empty()) throw ValueError(fmt::format("train_truncated_bptt: {} has no recurrent layer", model.type_name()));

  std::vector<bool> was_stateful;
  for (RNN* r : rnns) {
    was_stateful.push_back(r->options().stateful);
    r->set_stateful(true);
    r->reset_states();
  }
  auto restore = [&] {
    for (std::size_t i = 0; i < rnns.size(); ++i) {
      rnns[i]->reset_states();
      rnns[i]->set_stateful(was_stateful[i]);
    }
  };

  std::vector<double> losses;
  try {
    // With an optimizer each chunk is one TrainStep, the step fit takes: the same checks, and a
    // chunk that fails them leaves the weights as they were before it.
    std::optional<TrainStep> step;
    if (options.optimizer)
      step.emplace(model, *options.optimizer, TrainStepOptions{.loss = options.loss, .who = "train_truncated_bptt"});
    else
      model.zero_grad();
    const std::int64_t steps = x.size(1), chunks = (steps + options.k - 1) / options.k;
    double stats[1];
    for (std::int64_t c = 0; c < steps; c += options.k) {
      const std::int64_t len = std::min(options.k, steps - c);
      Tensor xc, yc;
      {
        NoGradGuard no_grad;
        xc = slice(x, 1, c, len);
        yc = slice(y, 1, c, len);
      }
      if (step) {
        const std::int64_t rows = x.size(0);
        step->run(xc, yc, Tensor(), rows, rows, {.step = c / options.k, .steps = chunks, .unit = "chunk"}, stats);
        losses.push_back(stats[0] / static_cast<double>(rows));
        continue;
      }
      Tensor loss = options.loss(yc, model(xc));
      losses.push_back(loss.item());
      loss.backward();
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return losses;
}

}  // namespace tg
