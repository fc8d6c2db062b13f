// The Graphviz export of the tape: one box per op, parameters and inputs marked, shapes on edges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// Restores the tape's input tracing however the test ends.
struct TraceInputs {
  TraceInputs() { tape().set_trace_inputs(true); }
  ~TraceInputs() { tape().set_trace_inputs(false); }
};

TEST(TapeDot, KnownGraphHasOneNodePerOpAndMarksEachKind) {
  TraceInputs trace;
  Tensor w = ones({2, 3}).requires_grad_();
  w.set_name("w");
  Tensor x = ones({4, 2});
  x.set_name("x");
  Tensor loss = sum(tanh(matmul(x, w)));  // matmul, tanh, sum
  std::string dot = tape().to_dot();
  EXPECT_EQ(dot.rfind("digraph tape {", 0), 0u);
  EXPECT_EQ(count(dot, "class=\"op\""), 3u);
  EXPECT_EQ(count(dot, "class=\"parameter\""), 1u);
  EXPECT_EQ(count(dot, "class=\"input\""), 1u);
  EXPECT_EQ(count(dot, "class=\"output\""), 1u);
  EXPECT_THAT(dot, HasSubstr("label=\"matmul\""));
  EXPECT_THAT(dot, HasSubstr("label=\"w\\n[2,3]\""));
  EXPECT_THAT(dot, HasSubstr("label=\"x\\n[4,2]\""));
  // Slot 0 is w (the first tensor needing a gradient), node 0 the matmul.
  EXPECT_THAT(dot, HasSubstr("s0 -> n0 [label=\"[2,3]\"]"));
  EXPECT_THAT(dot, HasSubstr("i0 -> n0 [label=\"[4,2]\"]"));
  EXPECT_THAT(dot, HasSubstr("n0 -> n1 [label=\"[4,3]\"]"));
  EXPECT_THAT(dot, HasSubstr("n1 -> n2 [label=\"[4,3]\"]"));
  EXPECT_THAT(dot, HasSubstr("n2 -> o"));
  EXPECT_EQ(count(dot, " -> "), 5u);
}

TEST(TapeDot, InputsAppearOnlyWhenTraced) {
  Tensor w = ones({3}).requires_grad_();
  Tensor y = w * ones({3});
  std::string dot = tape().to_dot();
  EXPECT_THAT(dot, Not(HasSubstr("class=\"input\"")));
  EXPECT_EQ(count(dot, " -> "), 2u);            // w -> mul, mul -> output
  EXPECT_THAT(dot, HasSubstr("param0\\n[3]"));  // an unnamed parameter
}

TEST(TapeDot, SharedTensorsAreOneNodeWithAnEdgePerUse) {
  TraceInputs trace;
  Tensor u = full({2, 2}, 0.5).requires_grad_();
  u.set_name("u");
  Tensor x = ones({1, 2});
  Tensor h = x;
  for (int t = 0; t < 4; ++t) h = matmul(h, u) + x;  // u read by 4 matmuls, x by 1 matmul and 4 adds
  std::string dot = tape().to_dot();
  EXPECT_EQ(count(dot, "class=\"op\""), 8u);
  EXPECT_EQ(count(dot, "class=\"parameter\""), 1u);
  EXPECT_EQ(count(dot, "class=\"input\""), 1u);
  EXPECT_EQ(count(dot, "  s0 -> "), 4u);
  EXPECT_EQ(count(dot, "  i0 -> "), 5u);
  EXPECT_EQ(count(dot, "class=\"output\""), 1u);
}

TEST(TapeDot, EveryUnreadResultIsAnOutputAndNamesAreEscaped) {
  Tensor w = ones({2}).requires_grad_();
  w.set_name("say \"hi\"");
  Tensor a = w * 2.0;
  Tensor b = w + 1.0;
  std::string dot = tape().to_dot();
  EXPECT_EQ(count(dot, "class=\"output\""), 2u);
  EXPECT_THAT(dot, HasSubstr("label=\"say \\\"hi\\\"\\n[2]\""));
}

}  // namespace
}  // namespace tg
