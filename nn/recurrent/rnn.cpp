#include <tapegrad/nn/recurrent/rnn.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/nn/layers/init.h>
#include <tapegrad/nn/layers/layer_registry.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/mask.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/rnn.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

// ---- States -----------------------------------------------------------------------------------

const Tensor& States::at(std::size_t i) const {
  if (i >= size_) throw ValueError(fmt::format("States: index {} out of range for {} states", i, size_));
  return items_[i];
}

void States::push_back(Tensor t) {
  if (size_ == kMaxStates) throw ValueError(fmt::format("States: a cell may carry at most {} states", kMaxStates));
  items_[size_++] = std::move(t);
}

void States::resize(std::size_t n) {
  if (n > kMaxStates)
    throw ValueError(fmt::format("States: a cell may carry at most {} states, asked for {}", kMaxStates, n));
  for (std::size_t i = n; i < size_; ++i) items_[i] = Tensor();
  size_ = n;
}

// ---- RecurrentCell ----------------------------------------------------------------------------

namespace {
// The step outputs of the calls running on this thread, one vector per nesting level (a cell may
// run a layer), reused across calls: no allocation per forward once warm, and a layer shared by
// threads (predict on a server) writes nothing of its own.
thread_local std::deque<std::vector<Tensor>> t_step_outputs;  // a deque: levels never move
thread_local std::size_t t_step_depth = 0;

class StepOutputs {
 public:
  StepOutputs() {
    if (t_step_outputs.size() <= t_step_depth) t_step_outputs.emplace_back();
    outputs_ = &t_step_outputs[t_step_depth++];
  }
  ~StepOutputs() {
    outputs_->clear();
    --t_step_depth;
  }
  StepOutputs(const StepOutputs&) = delete;
  StepOutputs& operator=(const StepOutputs&) = delete;
  std::vector<Tensor>& get() { return *outputs_; }

 private:
  std::vector<Tensor>* outputs_;
};
}  // namespace

Tensor RecurrentCell::forward(const Tensor& x) {
  if (x.rank() != 2)
    throw ShapeError(
        fmt::format("{}: a cell on its own takes one step [batch, features], got {}", type_name(), x.shape()));
  Tensor seq = reshape(x, {x.size(0), 1, x.size(1)});
  return step(prepare(seq), 0, States(state_sizes().size())).at(0);
}

ScanResult RecurrentCell::scan(const Tensor& prepared, const States& initial, const ScanOptions& options) {
  const std::size_t n_states = initial.size();
  const std::int64_t steps = options.steps;
  std::optional<StepOutputs> scratch;  // the outputs for the sequence when the caller keeps none
  std::vector<Tensor>* outputs = options.outputs;
  if (!outputs && options.return_sequence) outputs = &scratch.emplace().get();
  const std::size_t first = outputs ? outputs->size() : 0;
  States states = initial;
  for (std::int64_t i = 0; i < steps; ++i) {
    const std::int64_t t = options.reverse ? steps - 1 - i : i;
    States next = step(prepared, t, states);
    if (next.size() != n_states)
      throw ValueError(
          fmt::format("{}: the cell's step returned {} states, expected {}", type_name(), next.size(), n_states));
    if (options.mask.defined())  // masked rows keep their previous states
      for (std::size_t s = 0; s < n_states; ++s) next[s] = masked_update(options.mask, t, next[s], states[s]);
    states = std::move(next);
    if (outputs) outputs->push_back(states[0]);
  }
  ScanResult result{std::move(states), Tensor()};
  if (!outputs) return result;
  const auto begin = outputs->begin() + static_cast<std::ptrdiff_t>(first);
  if (options.reverse) std::reverse(begin, outputs->end());
  if (options.return_sequence) result.sequence = stack(std::span<const Tensor>(&*begin, outputs->end() - begin), 1);
  return result;
}

Tensor RecurrentCell::zeros_if_undefined(const Tensor& state, std::int64_t batch, std::int64_t size, DType dtype) {
  return state.defined() ? state : zeros({batch, size}, dtype);
}

// ---- SimpleRNNCell ----------------------------------------------------------------------------

SimpleRNNCell::SimpleRNNCell(std::int64_t units, Activation activation)
    : RecurrentCell("SimpleRNNCell"), units_(units), activation_(activation) {
  if (units <= 0) throw ValueError(fmt::format("SimpleRNNCell: units must be positive, got {}", units));
}

Dims SimpleRNNCell::on_build(const Dims& input) {
  if (input.empty() || input.back() <= 0)
    throw ShapeError(fmt::format("SimpleRNNCell: input {} needs a known number of features", dims_str(input)));
  kernel = register_parameter("kernel", init::glorot_uniform(input.back(), units_));
  recurrent_kernel = register_parameter("recurrent_kernel", init::orthogonal(units_, units_));
  bias = register_parameter("bias", init::zeros({units_}));
  return {-1, units_};
}

Tensor SimpleRNNCell::prepare(const Tensor& x) { return linear(x, kernel, bias); }  // [B,T,F] -> [B,T,H]

States SimpleRNNCell::step(const Tensor& xw, std::int64_t t, const States& states) {
  const Tensor& h = states.at(0);
  if (activation_ == activations::tanh) return {rnn_tanh_step(xw, t, h, recurrent_kernel)};
  Tensor z = select(xw, 1, t);
  if (h.defined()) z = z + matmul(h, recurrent_kernel);
  return {activation_(z)};
}

ScanResult SimpleRNNCell::scan(const Tensor& xw, const States& initial, const ScanOptions& options) {
  if (activation_ != activations::tanh || options.mask.defined()) return RecurrentCell::scan(xw, initial, options);
  ScanOutput r =
      rnn_tanh_scan(xw, initial.at(0), recurrent_kernel,
                    {.reverse = options.reverse, .sequence = options.return_sequence, .outputs = options.outputs});
  return {{std::move(r.h)}, std::move(r.sequence)};
}

std::shared_ptr<Module> SimpleRNNCell::clone_unbuilt() const {
  return std::make_shared<SimpleRNNCell>(units_, activation_);
}

std::optional<Json> SimpleRNNCell::config() const {
  return Json::object().set("units", units_).set("activation", activation_config(activation_, *this));
}

// ---- RNN --------------------------------------------------------------------------------------

RNN::RNN(std::shared_ptr<RecurrentCell> cell, RNNOptions options) : RNN("RNN", std::move(cell), options) {}

RNN::RNN(std::string type_name, std::shared_ptr<RecurrentCell> cell, RNNOptions options)
    : Module(std::move(type_name)), cell_(std::move(cell)), options_(options) {
  if (!cell_) throw ValueError(fmt::format("{}: the cell is null", this->type_name()));
  register_module("cell", cell_);
}

Dims RNN::on_build(const Dims& input) {
  if (input.size() != 3 || input[2] <= 0)
    throw ShapeError(
        fmt::format("{}: input {} must be (batch, time, features) with known features", type_name(), dims_str(input)));
  cell_->build({-1, input[2]});
  n_states_ = cell_->state_sizes().size();
  const std::int64_t out = cell_->output_size();
  return options_.return_sequences ? Dims{input[0], input[1], out} : Dims{input[0], out};
}

Tensor RNN::forward(const Tensor& x) { return forward_with_states(x, {}).first; }

Tensor RNN::forward_masked(const Tensor& x, const Tensor& mask) { return forward_with_states(x, {}, mask).first; }

Tensor RNN::compute_mask(const Tensor&, const Tensor& mask) const {
  return options_.return_sequences ? mask : Tensor();
}

std::pair<Tensor, States> RNN::forward_with_states(const Tensor& x, const States& initial, const Tensor& mask,
                                                   bool reverse) {
  if (x.rank() != 3)
    throw ShapeError(fmt::format("{}: input {}, expected [batch, time, features]", type_name(), x.shape()));
  if (!built()) build({-1, -1, x.size(2)});
  const std::int64_t steps = x.size(1);
  if (steps == 0) throw ValueError(fmt::format("{}: input {} has no time steps", type_name(), x.shape()));
  const std::size_t n_states = n_states_;
  if (!initial.empty() && initial.size() != n_states)
    throw ValueError(
        fmt::format("{}: {} initial states given, the cell has {}", type_name(), initial.size(), n_states));
  if (mask.defined()) check_sequence_mask(mask, x, type_name().c_str());

  const bool carry = initial.empty() && options_.stateful && !carried_.empty();
  if (carry && carried_[0].size(0) != x.size(0))
    throw ShapeError(
        fmt::format("{}: stateful layer carries states for a batch of {}, got input {}; call "
                    "reset_states() to change the batch size",
                    type_name(), carried_[0].size(0), x.shape()));

  Tensor prepared = cell_->prepare(x);
  const States& states = !initial.empty() ? initial : carry ? carried_ : States(n_states);
  // The step outputs of this call, kept for step_outputs() (reused per thread and nesting level).
  std::optional<StepOutputs> kept;
  ScanOptions o;
  o.steps = steps;
  o.reverse = reverse;
  o.return_sequence = options_.return_sequences;
  o.mask = mask;
  if (options_.keep_step_outputs) o.outputs = &kept.emplace().get();
  ScanResult r = cell_->scan(prepared, states, o);
  if (r.states.size() != n_states)
    throw ValueError(
        fmt::format("{}: the cell's scan returned {} states, expected {}", type_name(), r.states.size(), n_states));
  if (options_.return_sequences && !r.sequence.defined())
    throw ValueError(fmt::format("{}: the cell's scan returned no sequence for return_sequences", type_name()));
  if (!step_outputs_.empty()) step_outputs_.clear();
  if (options_.keep_step_outputs) {
    for (Tensor& h : *o.outputs) h.retain_grad();
    step_outputs_ = *o.outputs;
  }
  Tensor out = options_.return_sequences ? r.sequence : r.states[0];
  if (options_.stateful) {
    carried_ = States(n_states);
    for (std::size_t i = 0; i < n_states; ++i) carried_[i] = r.states[i].detach();
  }
  return {out, std::move(r.states)};
}

std::vector<double> RNN::step_gradient_norms() const {
  if (step_outputs_.empty())
    throw GraphError(
        fmt::format("{}: step_gradient_norms needs keep_step_outputs on during the forward "
                    "(RNNOptions or set_keep_step_outputs) and a backward after it",
                    type_name()));
  std::vector<double> norms;
  norms.reserve(step_outputs_.size());
  bool any = false;
  for (const Tensor& h : step_outputs_) {
    Tensor g = h.grad();
    double sq = 0.0;
    if (g.defined()) {
      any = true;
      for (double v : g.to_vector()) sq += v * v;
    }
    norms.push_back(std::sqrt(sq));
  }
  if (!any)
    throw GraphError(fmt::format("{}: no gradient reached the {} step outputs: run backward after the forward",
                                 type_name(), step_outputs_.size()));
  return norms;
}

void RNN::set_stateful(bool on) {
  options_.stateful = on;
  if (!on) reset_states();
}

SimpleRNN::SimpleRNN(std::int64_t units, RNNOptions options, Activation activation)
    : RNN("SimpleRNN", std::make_shared<SimpleRNNCell>(units, activation), options) {}

std::shared_ptr<Module> SimpleRNN::clone_unbuilt() const {
  const auto& c = static_cast<const SimpleRNNCell&>(cell());
  return std::make_shared<SimpleRNN>(c.units(), options(), c.activation());
}

std::optional<Json> SimpleRNN::config() const {
  const auto& c = static_cast<const SimpleRNNCell&>(cell());
  return rnn_options_config(options()).set("units", c.units()).set("activation", activation_config(c.activation(), c));
}

namespace {
// An RNN of a given type name ("MyRNN") around a cloned cell.
struct ClonedRNN : RNN {
  ClonedRNN(std::string type_name, std::shared_ptr<RecurrentCell> cell, RNNOptions options)
      : RNN(std::move(type_name), std::move(cell), options) {}
};
}  // namespace

std::shared_ptr<Module> RNN::clone_unbuilt() const {
  auto cell = std::dynamic_pointer_cast<RecurrentCell>(cell_->clone_unbuilt());
  if (!cell)
    throw ValueError(
        fmt::format("{}: the clone of its cell {} is not a RecurrentCell", type_name(), cell_->type_name()));
  cell->set_name(cell_->name());
  if (type_name() == "RNN") return std::make_shared<RNN>(std::move(cell), options_);
  return std::make_shared<ClonedRNN>(type_name(), std::move(cell), options_);
}

std::optional<Json> RNN::config() const { return rnn_options_config(options_).set("cell", describe_layer(*cell_)); }

Json rnn_options_config(const RNNOptions& options) {
  return Json::object().set("return_sequences", options.return_sequences).set("stateful", options.stateful);
}

RNNOptions rnn_options_from_config(const Json& config, std::string_view layer) {
  RNNOptions o;
  o.return_sequences = config_bool(config, "return_sequences", layer);
  o.stateful = config_bool(config, "stateful", layer);
  return o;
}

}  // namespace tg
