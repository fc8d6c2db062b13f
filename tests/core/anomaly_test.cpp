// Anomaly detection (off by default): the first op whose forward output or backward gradient
// holds a NaN or an infinity is named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// Turns anomaly detection on for a scope (the tape is per thread and outlives the test).
struct AnomalyOn {
  AnomalyOn() { tape().set_anomaly_detection(true); }
  ~AnomalyOn() { tape().set_anomaly_detection(false); }
};

TEST(Anomaly, OffByDefaultNonFiniteValuesFlowThrough) {
  EXPECT_FALSE(tape().anomaly_detection());
  Tensor x = tensor({-1.0, 4.0}).requires_grad_();
  Tensor y = sum(sqrt(x));
  EXPECT_TRUE(std::isnan(y.item()));
  y.backward();
  EXPECT_TRUE(std::isnan(x.grad().at({0})));
}

TEST(Anomaly, NamesTheFirstForwardOpThatMadeANonFiniteValue) {
  AnomalyOn on;
  Tensor x = tensor({-1.0, 4.0}).requires_grad_();
  EXPECT_EQ(error_of<ValueError>([&] { exp(log(x)); }),
            "anomaly: log produced a non-finite value in its output of shape [2]");
  // Also where nothing is recorded (evaluation).
  NoGradGuard no_grad;
  EXPECT_THAT(error_of<ValueError>([&] { div(x, zeros({2})); }), HasSubstr("anomaly: div produced"));
  EXPECT_EQ(sqrt(tensor({4.0})).item(), 2.0);  // finite values pass
}

TEST(Anomaly, NamesTheFirstBackwardRuleThatMadeANonFiniteGradient) {
  AnomalyOn on;
  // sqrt at 0: finite forward, infinite derivative.
  Tensor x = tensor({0.0, 4.0}).requires_grad_();
  Tensor y = sum(sqrt(x));
  EXPECT_EQ(error_of<ValueError>([&] { y.backward(); }),
            "anomaly: sqrt backward produced a non-finite gradient for input 0 of shape [2]");
  // A float32 overflow in matmul's backward (its rule adds into the gradient buffer in place).
  Tensor a = full({1, 1}, 1e-30).requires_grad_();
  Tensor b = full({1, 1}, 1e30);
  Tensor loss = sum(matmul(a, b)) * 1e30;
  EXPECT_TRUE(std::isfinite(loss.item()));
  EXPECT_THAT(error_of<ValueError>([&] { loss.backward(); }),
              HasSubstr("anomaly: matmul backward produced a non-finite gradient for input 0"));
  // The tape is usable afterwards.
  Tensor z = tensor({1.0, 4.0}).requires_grad_();
  sum(sqrt(z)).backward();
  EXPECT_DOUBLE_EQ(z.grad().at({1}), 0.25);
}

}  // namespace
}  // namespace tg
