#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>
#include <tapegrad/optim/sgd.h>
#include "optim/optim_golden.h"

namespace tg {
namespace {

using optim_golden::check_steps;
using optim_golden::Golden;
using optim_golden::read_golden;

// Parameter i in group i: group 0 takes the base rate and weight decay, group 1 has its own.
std::vector<ParamGroup> golden_groups(const Golden& g, const std::vector<Tensor>& ps) {
  return {{.params = {ps[0]}},
          {.params = {ps[1]}, .lr = g.hyper.at("group_1_lr"), .weight_decay = g.hyper.at("group_1_weight_decay")}};
}

// From step lr_scale_from on, the base rate times lr_scale: every group's rate scales with it.
void check_with_schedule(const Golden& g, std::vector<Tensor>& ps, Optimizer& opt, const std::string& name) {
  const double lr = g.hyper.at("lr");
  const int from = static_cast<int>(g.hyper.at("lr_scale_from"));
  check_steps(g, ps, opt, name, 1, 10, [&](int k) {
    if (k == from) opt.set_learning_rate(lr * g.hyper.at("lr_scale"));
  });
}

TEST(ParamGroups, OwnRatesAndAScheduleMatchTorchParamGroups) {
  {
    Golden g = read_golden("adam_groups");
    auto ps = g.make_params();
    Adam opt(golden_groups(g, ps), g.hyper.at("lr"), g.hyper.at("beta1"), g.hyper.at("beta2"), g.hyper.at("epsilon"),
             EpsilonMode::pytorch, g.hyper.at("weight_decay"));
    check_with_schedule(g, ps, opt, "adam_groups");
  }
  {
    Golden g = read_golden("adamw_groups");
    auto ps = g.make_params();
    AdamW opt(golden_groups(g, ps), g.hyper.at("lr"), g.hyper.at("weight_decay"), g.hyper.at("beta1"),
              g.hyper.at("beta2"), g.hyper.at("epsilon"), EpsilonMode::pytorch);
    check_with_schedule(g, ps, opt, "adamw_groups");
  }
  {
    Golden g = read_golden("sgd_groups");
    auto ps = g.make_params();
    SGD opt(golden_groups(g, ps), g.hyper.at("lr"), g.hyper.at("momentum"), false, g.hyper.at("weight_decay"));
    check_with_schedule(g, ps, opt, "sgd_groups");
  }
}

TEST(ParamGroups, LearningRateIsTheBaseAndScalesEveryGroup) {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({3}).requires_grad_(), c = zeros({1}).requires_grad_();
  SGD opt({{.params = {a, b}}, {.params = {c}, .lr = 0.03, .weight_decay = 0.5}}, 0.1, 0.9, false, 0.01);
  ASSERT_EQ(opt.group_count(), 2u);
  EXPECT_EQ(opt.parameters().size(), 3u);
  EXPECT_TRUE(opt.parameters()[2].is_same(c));
  EXPECT_EQ(opt.group_parameters(0).size(), 2u);
  EXPECT_TRUE(opt.group_parameters(1)[0].is_same(c));
  EXPECT_EQ(opt.group_of(1), 0u);
  EXPECT_EQ(opt.group_of(2), 1u);
  EXPECT_EQ(opt.learning_rate(), 0.1);
  EXPECT_EQ(opt.group_learning_rate(0), 0.1);
  EXPECT_EQ(opt.group_learning_rate(1), 0.03);  // exactly as given
  EXPECT_EQ(opt.group_lr_factor(0), 1.0);
  EXPECT_DOUBLE_EQ(opt.group_lr_factor(1), 0.3);
  EXPECT_EQ(opt.weight_decay(), 0.01);
  EXPECT_EQ(opt.group_weight_decay(0), 0.01);
  EXPECT_EQ(opt.group_weight_decay(1), 0.5);

  // A schedule sets the base rate: groups without their own take it exactly, the others keep
  // their ratio to it.
  opt.set_learning_rate(0.05);
  EXPECT_EQ(opt.learning_rate(), 0.05);
  EXPECT_EQ(opt.group_learning_rate(0), 0.05);
  EXPECT_DOUBLE_EQ(opt.group_learning_rate(1), 0.015);
  // A group's own rate set later: its ratio is from the current base on.
  opt.set_group_learning_rate(1, 0.1);
  EXPECT_EQ(opt.group_learning_rate(1), 0.1);
  EXPECT_DOUBLE_EQ(opt.group_lr_factor(1), 2.0);
  opt.set_learning_rate(0.01);
  EXPECT_DOUBLE_EQ(opt.group_learning_rate(1), 0.02);
  EXPECT_EQ(opt.group_learning_rate(0), 0.01);

  // Each group steps with its own rate.
  a.set_grad(ones({2}));
  b.set_grad(ones({3}));
  c.set_grad(ones({1}));
  SGD plain({{.params = {a, b}}, {.params = {c}, .lr = 0.5}}, 0.25);
  plain.step();
  EXPECT_EQ(a.to_vector(), (std::vector<double>{-0.25, -0.25}));
  EXPECT_EQ(c.item(), -0.5);
}

TEST(ParamGroups, OneListIsOneGroupThatFollowsTheBaseRate) {
  Tensor w = zeros({2}).requires_grad_();
  Adam opt({w}, 0.01);
  EXPECT_EQ(opt.group_count(), 1u);
  opt.set_learning_rate(0.003);
  EXPECT_EQ(opt.group_learning_rate(0), 0.003);
  EXPECT_EQ(opt.group_weight_decay(0), 0.0);
}

TEST(ParamGroups, RejectsBadGroups) {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({3}).requires_grad_();
  auto expect_value_error = [](auto make, const std::string& needle) {
    try {
      make();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_value_error([&] { Adam(std::vector<ParamGroup>{}); }, "Adam: got no parameter groups");
  expect_value_error([&] { Adam({{.params = {a}}, {.params = {}}}); }, "Adam: group 1 of 2 has no parameters");
  expect_value_error(
      [&] {
        Adam({{.params = {a}}, {.params = {b}, .lr = -0.1}});
      },
      "Adam: group 1: learning rate must be > 0 and finite, got -0.1");
  expect_value_error([&] { SGD({{.params = {a}, .weight_decay = -1.0}}, 0.1); },
                     "SGD: group 0: weight_decay must be >= 0 and finite, got -1");
  expect_value_error(
      [&] {
        AdamW({{.params = {a}}, {.params = {b, a}}});
      },
      "AdamW: parameter 2 (group 1) ('') appears twice in the list (also at 0 (group 0))");
  expect_value_error(
      [&] {
        Adam({{.params = {a}}, {.params = {Tensor()}}});
      },
      "Adam: parameter 1 (group 1) of 2 is an undefined tensor");
  Adam opt({{.params = {a}}, {.params = {b}, .lr = 0.5}});
  expect_value_error([&] { opt.group_learning_rate(2); }, "Adam: group 2 does not exist (it has 2)");
  expect_value_error([&] { opt.set_group_learning_rate(1, 0.0); },
                     "Adam: group 1: learning rate must be > 0 and finite, got 0");
  expect_value_error([&] { opt.set_learning_rate(1e308); }, "Adam: learning rate 1e+308 makes group 1's rate inf");
  EXPECT_EQ(opt.learning_rate(), 0.001);  // unchanged by the refused calls
  EXPECT_EQ(opt.group_learning_rate(1), 0.5);
}

}  // namespace
}  // namespace tg
