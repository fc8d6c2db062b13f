#pragma once
/// \file
/// Reader for the PyTorch goldens written by scripts/make_goldens.py (tests/goldens/graphs.txt,
/// tests/goldens/models.txt), and the one comparison rule the golden tests share.
///
/// Format, one record a line ('#' starts a comment line):
///     case <name> <float32|float64>
///     <role> <name> <d0> <d1> ... : <values...>      row-major; a scalar has no dims
///     end
/// Roles: input (a leaf whose gradient is wanted), seed (the gradient fed to a non-scalar output),
/// output (the forward result), value (an intermediate result), grad (the gradient of an input).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg::golden {

/// One tensor of a golden file, values widened to double (exact for float32 values).
struct GoldenTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<double> values;

  Shape tg_shape() const { return Shape(std::span<const std::int64_t>(shape)); }
  /// A new tensor of `dtype` holding these values.
  Tensor to_tensor(DType dtype) const { return from_vector(std::span<const double>(values), tg_shape(), dtype); }
};

/// One `case ... end` block.
struct GoldenCase {
  std::string name;
  DType dtype = DType::f64;
  std::vector<GoldenTensor> inputs, values, grads;
  std::vector<GoldenTensor> seeds;    // zero or one
  std::vector<GoldenTensor> outputs;  // exactly one

  const GoldenTensor& output() const { return outputs.at(0); }
  const GoldenTensor* seed() const { return seeds.empty() ? nullptr : &seeds.front(); }
  /// The input, value or grad called `name`; std::out_of_range naming it when absent.
  const GoldenTensor& input(const std::string& name) const { return find(inputs, name, "input"); }
  const GoldenTensor& value(const std::string& name) const { return find(values, name, "value"); }
  const GoldenTensor& grad(const std::string& name) const { return find(grads, name, "grad"); }

 private:
  const GoldenTensor& find(const std::vector<GoldenTensor>& list, const std::string& name, const char* role) const {
    for (const GoldenTensor& t : list)
      if (t.name == name) return t;
    throw std::out_of_range("golden case " + this->name + ": no " + role + " named " + name);
  }
};

/// Reads every case of a golden file; std::runtime_error with the line number on a malformed line.
inline std::vector<GoldenCase> read_golden_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open golden file " + path);
  std::vector<GoldenCase> cases;
  bool open = false;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    auto fail = [&](const std::string& why) {
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + why);
    };
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string role;
    ss >> role;
    if (role == "case") {
      if (open) fail("case inside a case");
      GoldenCase c;
      std::string dtype;
      if (!(ss >> c.name >> dtype)) fail("expected: case <name> <dtype>");
      if (dtype == "float64")
        c.dtype = DType::f64;
      else if (dtype == "float32")
        c.dtype = DType::f32;
      else
        fail("unknown dtype " + dtype);
      cases.push_back(std::move(c));
      open = true;
      continue;
    }
    if (role == "end") {
      if (!open) fail("end outside a case");
      if (cases.back().outputs.size() != 1) fail("a case needs exactly one output");
      if (cases.back().seeds.size() > 1) fail("a case has at most one seed");
      open = false;
      continue;
    }
    if (!open) fail("record outside a case");
    GoldenTensor t;
    if (!(ss >> t.name)) fail("missing name");
    std::string tok;
    while (ss >> tok && tok != ":") t.shape.push_back(std::stoll(tok));
    if (tok != ":") fail("missing ':'");
    std::int64_t numel = 1;
    for (std::int64_t d : t.shape) numel *= d;
    t.values.reserve(static_cast<std::size_t>(numel));
    while (ss >> tok) t.values.push_back(std::stod(tok));
    if (static_cast<std::int64_t>(t.values.size()) != numel)
      fail(t.name + ": " + std::to_string(t.values.size()) + " values for " + std::to_string(numel) + " elements");
    GoldenCase& c = cases.back();
    if (role == "input")
      c.inputs.push_back(std::move(t));
    else if (role == "seed")
      c.seeds.push_back(std::move(t));
    else if (role == "output")
      c.outputs.push_back(std::move(t));
    else if (role == "value")
      c.values.push_back(std::move(t));
    else if (role == "grad")
      c.grads.push_back(std::move(t));
    else
      fail("unknown role " + role);
  }
  if (open) throw std::runtime_error(path + ": unterminated case");
  return cases;
}

/// Relative tolerance of a golden comparison: float64 results must match PyTorch to 1e-10, float32
/// results to 1e-4, in the sense |got - want| <= tol * max(1, |want|) (absolute below 1).
inline double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-10 : 1e-4; }

/// Checks shape and every element of `got` against `want` with tolerance(dtype); `what` names the
/// comparison in failure messages. Reports the worst element and how many were off.
inline void expect_matches(const Tensor& got, const GoldenTensor& want, DType dtype, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": undefined tensor";
  ASSERT_EQ(got.shape(), want.tg_shape()) << what;
  EXPECT_EQ(got.dtype(), dtype) << what;
  const std::vector<double> g = got.to_vector();
  const double tol = tolerance(dtype);
  std::size_t bad = 0, worst = 0;
  double worst_ratio = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double ratio = std::abs(g[i] - want.values[i]) / (tol * std::max(1.0, std::abs(want.values[i])));
    const bool nan = std::isnan(ratio);
    if (nan || ratio > 1.0) ++bad;
    if (!std::isnan(worst_ratio) && (nan || ratio > worst_ratio)) worst_ratio = ratio, worst = i;
  }
  if (bad == 0) return;
  ADD_FAILURE() << fmt::format(
      "{}: {} of {} elements off; worst element {}: got {}, want {} ({:.3g} x the tolerance {})", what, bad, g.size(),
      worst, g[worst], want.values[worst], worst_ratio, tol);
}

}  // namespace tg::golden
