#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>
#include <tapegrad/optim/rmsprop.h>
#include <tapegrad/optim/sgd.h>
#include "optim/optim_golden.h"

namespace tg {
namespace {

using optim_golden::check_steps;
using optim_golden::Golden;
using optim_golden::read_golden;

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

std::vector<Tensor> copies(const std::vector<Tensor>& ps) {
  std::vector<Tensor> out;
  for (const Tensor& p : ps) out.push_back(p.clone().requires_grad_());
  return out;
}

// Five steps of `golden`, the state dict, five more steps; then a second optimizer made the same
// way over the weights after step 5 loads the dict and takes steps 6..10: both must end bit for
// bit alike, and match torch.
void expect_resumes(const std::string& golden, const MakeOptimizer& make) {
  SCOPED_TRACE(golden);
  Golden g = read_golden(golden);
  auto ps = g.make_params();
  auto opt = make(ps);
  check_steps(g, ps, *opt, golden, 1, 5, [](int) {});
  const OptimizerStateDict dict = opt->state_dict();
  EXPECT_EQ(dict.optimizer, opt->name());
  auto resumed_ps = copies(ps);
  check_steps(g, ps, *opt, golden, 6, 10, [](int) {});  // moves on: the dict holds copies

  auto resumed = make(resumed_ps);
  resumed->load_state_dict(dict);
  EXPECT_EQ(resumed->iterations(), 5);
  check_steps(g, resumed_ps, *resumed, golden + " resumed", 6, 10, [](int) {});
  for (std::size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(resumed_ps[i].to_vector(), ps[i].to_vector()) << i;
}

TEST(OptimizerStateDict, ResumesEveryOptimizerBitForBit) {
  expect_resumes("sgd_momentum", [](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.05, 0.9); });
  expect_resumes("adam_no_grad", [](std::vector<Tensor> ps) {
    return std::make_unique<Adam>(ps, 0.01, 0.9, 0.999, 1e-8, EpsilonMode::pytorch);
  });
  expect_resumes("adamw", [](std::vector<Tensor> ps) {
    return std::make_unique<AdamW>(ps, 0.05, 0.2, 0.9, 0.999, 1e-8, EpsilonMode::pytorch);
  });
  expect_resumes("rmsprop_weight_decay",
                 [](std::vector<Tensor> ps) { return std::make_unique<RMSprop>(ps, 0.01, 0.9, 1e-7, 0.1); });
}

TEST(OptimizerStateDict, NamesTheEntriesAsTorchAndRestoresTheRates) {
  Tensor a = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  Tensor b = tensor({3.0}, DType::f64).requires_grad_();
  Tensor frozen = tensor({4.0}, DType::f64);
  AdamW opt({{.params = {a, frozen}}, {.params = {b}, .lr = 0.02, .weight_decay = 0.0}}, 0.01, 0.1);
  a.set_grad(tensor({0.5, -0.5}, DType::f64));
  opt.step();
  opt.step();
  opt.set_learning_rate(0.005);
  const OptimizerStateDict dict = opt.state_dict();
  std::vector<std::string> names;
  for (const auto& [name, t] : dict.tensors) names.push_back(name);
  // a and b (no gradient, but it requires one) have state; the frozen parameter has none.
  EXPECT_EQ(names, (std::vector<std::string>{"state.0.exp_avg", "state.0.exp_avg_sq", "state.2.exp_avg",
                                             "state.2.exp_avg_sq"}));
  auto counter = [&](const std::string& name) {
    for (const auto& [n, v] : dict.counters)
      if (n == name) return v;
    ADD_FAILURE() << "no counter " << name;
    return std::int64_t{-1};
  };
  EXPECT_EQ(counter("iterations"), 2);
  EXPECT_EQ(counter("state.0.step"), 2);
  EXPECT_EQ(counter("state.1.step"), 0);
  EXPECT_EQ(counter("state.2.step"), 2);
  EXPECT_EQ(counter("groups"), 2);

  Tensor a2 = a.clone().requires_grad_(), b2 = b.clone().requires_grad_(), frozen2 = frozen.clone();
  AdamW other({{.params = {a2, frozen2}}, {.params = {b2}, .lr = 0.02, .weight_decay = 0.0}}, 0.01, 0.1);
  other.load_state_dict(dict);
  EXPECT_EQ(other.learning_rate(), 0.005);
  EXPECT_EQ(other.group_learning_rate(0), 0.005);
  EXPECT_EQ(other.group_learning_rate(1), opt.group_learning_rate(1));
  EXPECT_EQ(other.group_lr_factor(1), opt.group_lr_factor(1));
  EXPECT_EQ(other.group_weight_decay(1), 0.0);
  EXPECT_EQ(other.parameter_steps(2), 2);
  other.set_learning_rate(0.001);  // a schedule after resuming scales group 1 as before
  opt.set_learning_rate(0.001);
  EXPECT_EQ(other.group_learning_rate(1), opt.group_learning_rate(1));
}

TEST(OptimizerStateDict, LoadRejectsWhatDoesNotFitAndChangesNothing) {
  Tensor a = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  Tensor b = tensor({3.0}, DType::f64).requires_grad_();
  Adam opt({a, b}, 0.01);
  a.set_grad(tensor({0.5, -0.5}, DType::f64));
  b.set_grad(tensor({1.0}, DType::f64));
  opt.step();
  const OptimizerStateDict good = opt.state_dict();

  Tensor c = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  Tensor d = tensor({3.0}, DType::f64).requires_grad_();
  Adam fresh({c, d}, 0.01);
  auto expect_refused = [&](const std::function<void(OptimizerStateDict&)>& spoil, const std::string& needle) {
    OptimizerStateDict dict = good;
    spoil(dict);
    try {
      fresh.load_state_dict(dict);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_EQ(fresh.iterations(), 0) << needle;  // nothing was put back
    EXPECT_EQ(fresh.parameter_steps(0), 0) << needle;
    EXPECT_EQ(fresh.learning_rate(), 0.01) << needle;
  };
  auto tensor_named = [](OptimizerStateDict& dict, const std::string& name) -> Tensor& {
    for (auto& [n, t] : dict.tensors)
      if (n == name) return t;
    throw std::out_of_range(name);
  };
  auto value_named = [](OptimizerStateDict& dict, const std::string& name) -> double& {
    for (auto& [n, v] : dict.values)
      if (n == name) return v;
    throw std::out_of_range(name);
  };
  auto counter_named = [](OptimizerStateDict& dict, const std::string& name) -> std::int64_t& {
    for (auto& [n, v] : dict.counters)
      if (n == name) return v;
    throw std::out_of_range(name);
  };

  expect_refused([](OptimizerStateDict& d) { d.optimizer = "SGD"; },
                 "Adam::load_state_dict: the state is of SGD, expected Adam");
  expect_refused([&](OptimizerStateDict& d) { tensor_named(d, "state.0.exp_avg") = zeros({3}, DType::f64); },
                 "Adam::load_state_dict: tensor 'state.0.exp_avg' is float64 [3], expected float64 [2] as parameter 0");
  expect_refused([&](OptimizerStateDict& d) { tensor_named(d, "state.1.exp_avg_sq") = zeros({1}, DType::f32); },
                 "tensor 'state.1.exp_avg_sq' is float32 [1], expected float64 [1] as parameter 1");
  expect_refused([](OptimizerStateDict& d) { d.tensors.erase(d.tensors.begin() + 1); },
                 "parameter 0 has 'state.0.exp_avg' but no 'state.0.exp_avg_sq'");
  expect_refused([](OptimizerStateDict& d) { d.tensors.emplace_back("state.0.momentum_buffer", zeros({2})); },
                 "unknown tensor 'state.0.momentum_buffer'");
  expect_refused([](OptimizerStateDict& d) { d.tensors.push_back(d.tensors.front()); },
                 "tensor 'state.0.exp_avg' appears twice");
  expect_refused([&](OptimizerStateDict& d) { counter_named(d, "parameters") = 3; },
                 "the state is of 3 parameters in 1 groups, this optimizer has 2 in 1");
  expect_refused([&](OptimizerStateDict& d) { counter_named(d, "state.1.step") = -1; },
                 "counter 'state.1.step' must be >= 0, got -1");
  expect_refused([](OptimizerStateDict& d) { d.counters.pop_back(); }, "no counter 'state.1.step'");
  expect_refused([&](OptimizerStateDict& d) { value_named(d, "lr") = -0.5; },
                 "value 'lr' must be > 0 and finite, got -0.5");
  expect_refused([&](OptimizerStateDict& d) { value_named(d, "group.0.weight_decay") = std::nan(""); },
                 "value 'group.0.weight_decay' must be >= 0 and finite, got nan");
  expect_refused([](OptimizerStateDict& d) { d.values.emplace_back("momentum", 0.9); }, "unknown value 'momentum'");

  Tensor e = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  Adam one_param({e}, 0.01);
  EXPECT_THROW(one_param.load_state_dict(good), ValueError);

  fresh.load_state_dict(good);  // the untouched dict loads
  EXPECT_EQ(fresh.iterations(), 1);
}

TEST(OptimizerState, SaveAndRestoreUndoAStepOfEveryOptimizer) {
  Golden g = read_golden("adamw_no_grad");
  std::vector<std::pair<std::string, MakeOptimizer>> makers = {
      {"SGD", [](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.05, 0.9, true, 0.01); }},
      {"Adam", [](std::vector<Tensor> ps) { return std::make_unique<Adam>(ps, 0.01); }},
      {"AdamW",
       [](std::vector<Tensor> ps) {
         return std::make_unique<AdamW>(std::vector<ParamGroup>{{.params = {ps[0]}}, {.params = {ps[1]}, .lr = 0.1}},
                                        0.01, 0.1);
       }},
      {"RMSprop", [](std::vector<Tensor> ps) { return std::make_unique<RMSprop>(ps, 0.01, 0.9, 1e-7, 0.1); }},
  };
  for (const auto& [name, make] : makers) {
    SCOPED_TRACE(name);
    auto ps = g.make_params();
    auto opt = make(ps);
    for (int k = 1; k <= 3; ++k) {
      g.set_grads(ps, k);
      opt->step();
    }
    OptimizerState saved;
    opt->save_state(saved);
    std::vector<std::vector<double>> weights;
    for (const Tensor& p : ps) weights.push_back(p.to_vector());
    g.set_grads(ps, 4);  // parameter 1 has no gradient at step 4
    opt->step();
    std::vector<std::vector<double>> once;
    for (const Tensor& p : ps) once.push_back(p.to_vector());
    // Undo: the weights by hand (as fit does), the optimizer from its copy; the step again.
    for (std::size_t i = 0; i < ps.size(); ++i) ps[i].copy_from(from_vector(weights[i], g.shapes[i], DType::f64));
    opt->restore_state(saved);
    EXPECT_EQ(opt->iterations(), 3);
    opt->step();
    for (std::size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(ps[i].to_vector(), once[i]) << i;
  }
}

}  // namespace
}  // namespace tg
