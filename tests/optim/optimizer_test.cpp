#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>
#include <tapegrad/optim/clip.h>
#include <tapegrad/optim/rmsprop.h>
#include <tapegrad/optim/sgd.h>
#include "optim/optim_golden.h"
#include "support/alloc_counter.h"

namespace tg {
namespace {

using optim_golden::check_against_golden;
using optim_golden::expect_close;
using optim_golden::Golden;
using optim_golden::read_golden;

// ---- goldens from torch.optim -------------------------------------------------------------------

TEST(Adam, PytorchEpsilonMatchesTorchOptimAdam) {
  for (const char* name : {"adam_torch", "adam_torch_large_eps"}) {
    Golden g = read_golden(name);
    auto ps = g.make_params();
    Adam opt(ps, g.hyper.at("lr"), g.hyper.at("beta1"), g.hyper.at("beta2"), g.hyper.at("epsilon"),
             EpsilonMode::pytorch);
    check_against_golden(g, ps, opt, name);
  }
}

TEST(SGD, MatchesTorchOptimSGD) {
  for (const char* name : {"sgd", "sgd_momentum", "sgd_nesterov"}) {
    Golden g = read_golden(name);
    auto ps = g.make_params();
    SGD opt(ps, g.hyper.at("lr"), g.hyper.at("momentum"), g.hyper.at("nesterov") != 0);
    check_against_golden(g, ps, opt, name);
  }
}

TEST(RMSprop, MatchesTorchOptimRMSprop) {
  Golden g = read_golden("rmsprop");
  auto ps = g.make_params();
  RMSprop opt(ps, g.hyper.at("lr"), g.hyper.at("rho"), g.hyper.at("epsilon"));
  check_against_golden(g, ps, opt, "rmsprop");
}

TEST(AdamW, MatchesTorchOptimAdamW) {
  Golden g = read_golden("adamw");
  auto ps = g.make_params();
  AdamW opt(ps, g.hyper.at("lr"), g.hyper.at("weight_decay"), g.hyper.at("beta1"), g.hyper.at("beta2"),
            g.hyper.at("epsilon"), EpsilonMode::pytorch);
  EXPECT_EQ(opt.name(), "AdamW");
  check_against_golden(g, ps, opt, "adamw");
}

TEST(Adam, WeightDecayMatchesTorchOptimAdam) {
  Golden g = read_golden("adam_weight_decay");
  auto ps = g.make_params();
  Adam opt(ps, g.hyper.at("lr"), g.hyper.at("beta1"), g.hyper.at("beta2"), g.hyper.at("epsilon"), EpsilonMode::pytorch,
           g.hyper.at("weight_decay"));
  EXPECT_EQ(opt.weight_decay(), g.hyper.at("weight_decay"));
  check_against_golden(g, ps, opt, "adam_weight_decay");
}

TEST(SGD, WeightDecayMatchesTorchOptimSGD) {
  Golden g = read_golden("sgd_weight_decay");
  auto ps = g.make_params();
  SGD opt(ps, g.hyper.at("lr"), g.hyper.at("momentum"), g.hyper.at("nesterov") != 0, g.hyper.at("weight_decay"));
  check_against_golden(g, ps, opt, "sgd_weight_decay");
}

TEST(RMSprop, WeightDecayMatchesTorchOptimRMSprop) {
  Golden g = read_golden("rmsprop_weight_decay");
  auto ps = g.make_params();
  RMSprop opt(ps, g.hyper.at("lr"), g.hyper.at("rho"), g.hyper.at("epsilon"), g.hyper.at("weight_decay"));
  check_against_golden(g, ps, opt, "rmsprop_weight_decay");
}

// ---- a batch that gives a parameter no gradient, against torch with zero gradients -------------
// Parameter 1 has none at steps 1, 4 and 5, parameter 0 at step 7 (scripts/make_optim_goldens.py).
// Torch, after zero_grad(set_to_none=False), steps them with zero gradients: moments decay, weight
// decay applies, momentum moves them, and Adam's step count (so its bias correction) advances.

TEST(NoGradient, AdamCountsTheStepAsTorchDoes) {
  Golden g = read_golden("adam_no_grad");
  ASSERT_EQ(g.nograd.size(), 4u);
  auto ps = g.make_params();
  Adam opt(ps, g.hyper.at("lr"), g.hyper.at("beta1"), g.hyper.at("beta2"), g.hyper.at("epsilon"), EpsilonMode::pytorch);
  check_against_golden(g, ps, opt, "adam_no_grad");
  EXPECT_EQ(opt.parameter_steps(0), 10);
  EXPECT_EQ(opt.parameter_steps(1), 10);
}

TEST(NoGradient, AdamWSGDAndRMSpropUpdateAsWithAZeroGradient) {
  {
    Golden g = read_golden("adamw_no_grad");
    auto ps = g.make_params();
    AdamW opt(ps, g.hyper.at("lr"), g.hyper.at("weight_decay"), g.hyper.at("beta1"), g.hyper.at("beta2"),
              g.hyper.at("epsilon"), EpsilonMode::pytorch);
    check_against_golden(g, ps, opt, "adamw_no_grad");
  }
  {
    Golden g = read_golden("sgd_no_grad");
    auto ps = g.make_params();
    SGD opt(ps, g.hyper.at("lr"), g.hyper.at("momentum"), false, g.hyper.at("weight_decay"));
    check_against_golden(g, ps, opt, "sgd_no_grad");
  }
  {
    Golden g = read_golden("rmsprop_no_grad");
    auto ps = g.make_params();
    RMSprop opt(ps, g.hyper.at("lr"), g.hyper.at("rho"), g.hyper.at("epsilon"), g.hyper.at("weight_decay"));
    check_against_golden(g, ps, opt, "rmsprop_no_grad");
  }
}

TEST(Clip, GradNormMatchesTorchClipGradNorm) {
  Golden g = read_golden("clip_grad_norm");
  int clipped = 0;
  for (int k = 1; k <= 10; ++k) {
    auto ps = g.make_params();
    g.set_grads(ps, k);
    const double norm = clip_grad_norm(ps, g.hyper.at("max_norm"));
    const double want = g.hyper.at("norm_" + std::to_string(k));
    EXPECT_NEAR(norm, want, 1e-12 * want) << "set " << k;
    clipped += norm > g.hyper.at("max_norm");
    for (std::size_t i = 0; i < ps.size(); ++i)
      expect_close(ps[i].grad().to_vector(), g.param.at(k)[i], 1e-10, "clip set " + std::to_string(k));
  }
  EXPECT_GE(clipped, 1);  // the goldens exercise both branches
  EXPECT_LT(clipped, 10);
}

// ---- Keras' epsilon-hat form, against the formula in long double --------------------------------

TEST(Adam, KerasEpsilonHatMatchesTheFormula) {
  Golden g = read_golden("adam_torch_large_eps");  // reuse its fixed initial values and gradients
  const long double lr = 0.1L, b1 = 0.8L, b2 = 0.99L, eps = 0.01L;
  for (DType dtype : {DType::f64, DType::f32}) {
    std::vector<Tensor> ps;
    for (std::size_t i = 0; i < g.init.size(); ++i)
      ps.push_back(from_vector(g.init[i], g.shapes[i], dtype).requires_grad_());
    Adam opt(ps, 0.1, 0.8, 0.99, 0.01);  // EpsilonMode::keras is the default
    EXPECT_EQ(opt.epsilon_mode(), EpsilonMode::keras);
    std::vector<std::vector<long double>> theta, m, v;
    for (std::size_t i = 0; i < ps.size(); ++i) {
      // The float32 run starts from the rounded initial values, as the optimizer sees them.
      auto start = ps[i].to_vector();
      theta.emplace_back(start.begin(), start.end());
      m.emplace_back(start.size(), 0.0L);
      v.emplace_back(start.size(), 0.0L);
    }
    for (int k = 1; k <= 10; ++k) {
      for (std::size_t i = 0; i < ps.size(); ++i) ps[i].set_grad(from_vector(g.grad.at(k)[i], g.shapes[i], dtype));
      opt.step();
      const long double alpha = lr * std::sqrt(1.0L - std::pow(b2, static_cast<long double>(k))) /
                                (1.0L - std::pow(b1, static_cast<long double>(k)));
      for (std::size_t i = 0; i < ps.size(); ++i) {
        const auto gi = ps[i].grad().to_vector();
        const auto got = ps[i].to_vector();
        for (std::size_t j = 0; j < gi.size(); ++j) {
          const long double gj = gi[j];
          m[i][j] = b1 * m[i][j] + (1 - b1) * gj;
          v[i][j] = b2 * v[i][j] + (1 - b2) * gj * gj;
          theta[i][j] -= alpha * m[i][j] / (std::sqrt(v[i][j]) + eps);
          // float64: rounding of ~10 operations a step; float32: the same in single precision.
          const double tol = dtype == DType::f64 ? 1e-12 : 2e-6;
          EXPECT_NEAR(got[j], static_cast<double>(theta[i][j]),
                      tol * (1.0 + std::abs(static_cast<double>(theta[i][j]))))
              << dtype_name(dtype) << " step " << k << " parameter " << i << " element " << j;
        }
      }
    }
  }
}

TEST(Adam, EpsilonPlacementChangesTheResult) {
  Golden g = read_golden("adam_torch_large_eps");
  auto ps = g.make_params();
  Adam keras(ps, g.hyper.at("lr"), g.hyper.at("beta1"), g.hyper.at("beta2"), g.hyper.at("epsilon"));
  g.set_grads(ps, 1);
  keras.step();
  // The golden is torch's placement: Keras' form moves further in the first step when epsilon
  // is large (its epsilon is effectively scaled by sqrt(1 - beta2^t) < 1).
  double max_diff = 0;
  auto got = ps[0].to_vector();
  for (std::size_t j = 0; j < got.size(); ++j) max_diff = std::max(max_diff, std::abs(got[j] - g.param.at(1)[0][j]));
  EXPECT_GT(max_diff, 1e-3);
}

// ---- behaviour ------------------------------------------------------------------------------------

TEST(Adam, FrozenParameterIsSkippedAndCountsOnlyItsOwnSteps) {
  Tensor a = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  Tensor b = tensor({-1.0, 0.5, 3.0}, DType::f64);  // frozen: requires_grad false, no gradient
  const double lr = 0.01;
  Adam opt({a, b}, lr, 0.9, 0.999, 0.0);
  for (int k = 0; k < 4; ++k) {
    a.set_grad(tensor({0.3, -0.2}, DType::f64));
    opt.step();
  }
  EXPECT_EQ(b.to_vector(), (std::vector<double>{-1.0, 0.5, 3.0}));
  EXPECT_EQ(b.version(), 0u);  // not written either
  EXPECT_EQ(opt.iterations(), 4);
  EXPECT_EQ(opt.parameter_steps(0), 4);
  EXPECT_EQ(opt.parameter_steps(1), 0);
  // Unfrozen, b's first update: with epsilon 0, m_hat / sqrt(v_hat) = sign(g) exactly, so b moves
  // by lr (as torch, whose frozen parameter has no gradient and no state). Had b counted the
  // optimizer's steps (t = 5), it would move by lr * sqrt(1-b2^5)/(1-b1^5) * (1-b1)/sqrt(1-b2)
  // = 0.46 lr.
  b.requires_grad_();
  b.set_grad(tensor({2.0, -0.001, 0.0}, DType::f64));
  opt.step();
  auto got = b.to_vector();
  EXPECT_NEAR(got[0], -1.0 - lr, 1e-15);
  EXPECT_NEAR(got[1], 0.5 + lr, 1e-15);
  EXPECT_TRUE(std::isnan(got[2]));  // 0/0 with epsilon 0, as torch gives
  EXPECT_EQ(opt.parameter_steps(1), 1);
}

TEST(Optimizer, FrozenParameterIsSkippedEvenWithAGradient) {
  // Frozen after a step gave it momentum and a gradient buffer: neither may move it (Keras leaves
  // a layer that is not trainable alone; torch would still apply the momentum).
  Tensor w = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  SGD opt({w}, 0.1, 0.9, false, 0.1);
  w.set_grad(tensor({1.0, 1.0}, DType::f64));
  opt.step();
  const auto after_one = w.to_vector();
  w.requires_grad_(false);  // the gradient stays
  ASSERT_TRUE(w.grad().defined());
  opt.step();
  EXPECT_EQ(w.to_vector(), after_one);
  EXPECT_EQ(opt.iterations(), 2);
}

TEST(NoGradient, ParameterThatRequiresGradIsUpdatedAndCountsTheStep) {
  // No gradient ever: zero moments keep it in place (epsilon > 0), but its step count follows the
  // optimizer's, so its first real gradient is bias-corrected with t = 4, as torch's zero tensor.
  Tensor a = tensor({1.0}, DType::f64).requires_grad_();
  Tensor b = tensor({5.0}, DType::f64).requires_grad_();
  Adam opt({a, b}, 0.1, 0.9, 0.999, 1e-8, EpsilonMode::pytorch);
  for (int k = 0; k < 3; ++k) {
    a.set_grad(tensor({1.0}, DType::f64));
    opt.step();
  }
  EXPECT_EQ(b.item(), 5.0);
  EXPECT_EQ(b.version(), 3u);  // written in place by each step, as torch's addcdiv_ does
  EXPECT_EQ(opt.parameter_steps(1), 3);
  b.set_grad(tensor({1.0}, DType::f64));
  opt.step();
  // m = 0.1, v = 0.001, t = 4: lr * (m / (1 - 0.9^4)) / (sqrt(v / (1 - 0.999^4)) + eps)
  const double t = 4, m_hat = 0.1 / (1 - std::pow(0.9, t)), v_hat = 0.001 / (1 - std::pow(0.999, t));
  EXPECT_NEAR(b.item(), 5.0 - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8), 1e-14);
  EXPECT_GT(std::abs(b.item() - (5.0 - 0.1)), 0.04);  // t = 1 would have moved it by lr
}

TEST(Optimizer, StepRecordsNothingOnTheTape) {
  Tensor w = tensor({0.5, -0.5}).requires_grad_();
  Tensor y = tanh(w * w);  // a live recording
  const std::size_t nodes = tape().num_nodes();
  ASSERT_GT(nodes, 0u);
  w.set_grad(tensor({1.0, 1.0}));
  Adam adam({w});
  SGD sgd({w}, 0.1, 0.9);
  RMSprop rms({w});
  adam.step();
  sgd.step();
  rms.step();
  clip_grad_norm(std::vector<Tensor>{w}, 0.1);
  clip_grad_value(std::vector<Tensor>{w}, 0.01);
  EXPECT_EQ(tape().num_nodes(), nodes);
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(grad_enabled());
}

TEST(Optimizer, ZeroGradKeepsTheBuffers) {
  Tensor w = tensor({0.5, -0.5}).requires_grad_();
  Tensor u = tensor({1.0}).requires_grad_();  // never gets a gradient
  sum(w * w).backward();
  const void* buffer = w.grad().raw_data();
  SGD opt({w, u}, 0.1);
  opt.zero_grad();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(w.grad().raw_data(), buffer);
  EXPECT_FALSE(u.grad().defined());
}

TEST(Optimizer, LearningRateCanChange) {
  Tensor w = tensor({1.0}, DType::f64).requires_grad_();
  SGD opt({w}, 0.1);
  EXPECT_EQ(opt.learning_rate(), 0.1);
  opt.set_learning_rate(0.5);
  w.set_grad(tensor({2.0}, DType::f64));
  opt.step();
  EXPECT_DOUBLE_EQ(w.item(), 0.0);
  EXPECT_THROW(opt.set_learning_rate(0.0), ValueError);
  EXPECT_THROW(opt.set_learning_rate(std::nan("")), ValueError);
  EXPECT_EQ(opt.learning_rate(), 0.5);
}

TEST(Optimizer, StateFollowsADtypeConversion) {
  Tensor w = tensor({1.0, -2.0}, DType::f64).requires_grad_();
  Adam opt({w}, 0.1);
  w.set_grad(tensor({1.0, 1.0}, DType::f64));
  opt.step();
  opt.step();
  w.assign_(w.to(DType::f32));  // as Module::to does
  w.set_grad(tensor({1.0, -1.0}, DType::f32));
  const auto before = w.to_vector();
  opt.step();  // fresh float32 state: a first step again, which moves by ~lr
  const auto after = w.to_vector();
  EXPECT_NEAR(after[0], before[0] - 0.1, 1e-5);
  EXPECT_NEAR(after[1], before[1] + 0.1, 1e-5);
}

TEST(Optimizer, RejectsBadArguments) {
  Tensor w = ones({2}).requires_grad_();
  auto expect_value_error = [](auto make, const std::string& needle) {
    try {
      make();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_value_error([&] { SGD({w}, 0.0); }, "SGD: learning rate must be > 0 and finite, got 0");
  expect_value_error([&] { SGD({w}, -1.0); }, "learning rate");
  expect_value_error([&] { SGD({w}, std::numeric_limits<double>::infinity()); }, "learning rate");
  expect_value_error([&] { SGD({w}, 0.1, -0.5); }, "momentum");
  expect_value_error([&] { SGD({w}, 0.1, 0.0, true); }, "nesterov");
  expect_value_error([&] { Adam({w}, 0.1, 1.0); }, "Adam: beta1 must be in [0, 1), got 1");
  expect_value_error([&] { Adam({w}, 0.1, 0.9, -0.1); }, "beta2");
  expect_value_error([&] { Adam({w}, 0.1, 0.9, std::nan("")); }, "beta2");
  expect_value_error([&] { Adam({w}, 0.1, 0.9, 0.999, -1e-7); }, "epsilon");
  expect_value_error([&] { RMSprop({w}, 0.1, 1.5); }, "RMSprop: rho");
  expect_value_error([&] { RMSprop({w}, 0.1, 0.9, std::nan("")); }, "epsilon");
  expect_value_error([&] { Adam(std::vector<Tensor>{}); }, "empty parameter list");
  expect_value_error([&] { Adam({w, Tensor()}); }, "undefined");
  expect_value_error([&] { Adam({w, w}); }, "appears twice");
  expect_value_error([&] { SGD({w}, 0.1, 0.0, false, -0.1); }, "SGD: weight_decay must be >= 0 and finite, got -0.1");
  expect_value_error([&] { Adam({w}, 0.1, 0.9, 0.999, 1e-7, EpsilonMode::keras, std::nan("")); },
                     "Adam: weight_decay must be >= 0 and finite, got nan");
  expect_value_error([&] { RMSprop({w}, 0.1, 0.9, 1e-7, -1.0); }, "RMSprop: weight_decay must be >= 0");
  expect_value_error([&] { AdamW({w}, 0.1, -0.01); }, "AdamW: weight_decay must be >= 0 and finite, got -0.01");
  expect_value_error([&] { AdamW({w}, 0.1, 0.01, 1.5); }, "AdamW: beta1 must be in [0, 1), got 1.5");
  expect_value_error([&] { AdamW({w}, 0.0); }, "AdamW: learning rate must be > 0 and finite, got 0");
  expect_value_error([&] { clip_grad_norm(std::vector<Tensor>{w}, 0.0); }, "clip_grad_norm: max_norm");
  expect_value_error([&] { clip_grad_value(std::vector<Tensor>{w}, -1.0); }, "clip_grad_value: clip_value");
}

TEST(Clip, GradValueClampsAndSkipsMissingGradients) {
  Tensor a = zeros({4}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  a.set_grad(tensor({-3.0, 0.2, 7.0, std::nan("")}));
  clip_grad_value(std::vector<Tensor>{a, b}, 0.5);
  auto g = a.grad().to_vector();
  EXPECT_EQ(g[0], -0.5);
  EXPECT_FLOAT_EQ(g[1], 0.2f);
  EXPECT_EQ(g[2], 0.5);
  EXPECT_TRUE(std::isnan(g[3]));
  EXPECT_FALSE(b.grad().defined());
}

TEST(Clip, GradNormLeavesNonFiniteGradientsAlone) {
  Tensor a = zeros({2}, DType::f64).requires_grad_();
  a.set_grad(tensor({3.0, std::numeric_limits<double>::infinity()}, DType::f64));
  EXPECT_TRUE(std::isinf(clip_grad_norm(std::vector<Tensor>{a}, 1.0)));
  EXPECT_EQ(a.grad().at({0}), 3.0);
  a.set_grad(tensor({3.0, 4.0}, DType::f64));
  EXPECT_DOUBLE_EQ(clip_grad_norm(std::vector<Tensor>{a}, std::numeric_limits<double>::infinity()), 5.0);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{3.0, 4.0}));
  EXPECT_DOUBLE_EQ(clip_grad_norm(std::vector<Tensor>{a}, 1.0), 5.0);
  EXPECT_NEAR(a.grad().at({0}), 0.6, 1e-6);
  EXPECT_NEAR(a.grad().at({1}), 0.8, 1e-6);
}

// ---- a warm step allocates nothing --------------------------------------------------------------

TEST(Optimizer, WarmStepAllocatesNothing) {
  Tensor w = uniform({20, 20}, -1, 1).requires_grad_();
  Tensor b = zeros({20}, DType::f64).requires_grad_();
  Tensor no_grad = ones({3}).requires_grad_();  // no gradient: updated as with a zero one
  Tensor frozen = ones({2});                    // requires_grad false: skipped
  w.set_grad(uniform({20, 20}, -1, 1));
  b.set_grad(uniform({20}, -1, 1, DType::f64));
  std::vector<Tensor> ps{w, b, no_grad, frozen};
  Adam adam(ps);
  Adam adam_l2({{.params = {w, b}, .lr = 0.01}, {.params = {no_grad, frozen}, .weight_decay = 0.1}});
  AdamW adamw(ps, 0.001, 0.01, 0.9, 0.999, 1e-8, EpsilonMode::pytorch);
  SGD sgd(ps, 0.01, 0.9, true);
  SGD sgd_l2(ps, 0.01, 0.9, false, 0.01);
  RMSprop rms(ps, 0.001, 0.9, 1e-7, 0.01);
  for (Optimizer* opt : std::initializer_list<Optimizer*>{&adam, &adam_l2, &adamw, &sgd, &sgd_l2, &rms}) {
    opt->step();  // creates the state
    const PoolStats before = pool_stats();
    std::uint64_t news;
    {
      testing::AllocCounter counter;
      for (int k = 0; k < 5; ++k) {
        opt->zero_grad();
        opt->step();
      }
      clip_grad_norm(ps, 0.5);
      clip_grad_value(ps, 0.1);
      news = counter.count();
    }
    const PoolStats after = pool_stats();
    EXPECT_EQ(news, 0u) << opt->name();
    EXPECT_EQ(after.system_allocs, before.system_allocs) << opt->name();
    EXPECT_EQ(after.reuses, before.reuses) << opt->name();
  }
}

TEST(Optimizer, AllocCounterSeesAllocations) {
  // The check above means something only if the counter counts.
  testing::AllocCounter counter;
  auto* p = new std::vector<int>(100);
  delete p;
  EXPECT_GE(counter.count(), 2u);
}

}  // namespace
}  // namespace tg
