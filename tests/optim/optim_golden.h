#pragma once
// Reader for the optimizer goldens written by scripts/make_optim_goldens.py (format in its
// docstring), and the comparison the optimizer tests share.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg::optim_golden {

// One case: 10 steps from fixed initial parameters.
struct Golden {
  std::map<std::string, double> hyper;
  std::vector<Shape> shapes;
  std::vector<std::vector<double>> init;
  std::map<int, std::vector<std::vector<double>>> grad, param;  // step -> parameter -> values
  std::set<std::pair<int, std::size_t>> nograd;                 // (step, parameter) without a gradient

  std::vector<Tensor> make_params(DType dtype = DType::f64) const {
    std::vector<Tensor> ps;
    for (std::size_t i = 0; i < init.size(); ++i) ps.push_back(from_vector(init[i], shapes[i], dtype).requires_grad_());
    return ps;
  }
  // Step k's gradients; a parameter that step k gives no gradient is left with an undefined one.
  void set_grads(std::vector<Tensor>& ps, int step) const {
    for (std::size_t i = 0; i < ps.size(); ++i)
      ps[i].set_grad(nograd.count({step, i}) ? Tensor() : from_vector(grad.at(step)[i], shapes[i], ps[i].dtype()));
  }
};

inline Golden read_golden(const std::string& name) {
  const std::string path = std::string(TAPEGRAD_GOLDEN_DIR) + "/optim_" + name + ".txt";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  Golden g;
  std::string line;
  auto values = [](std::istringstream& is) {
    std::vector<double> v;
    std::string tok;
    while (is >> tok) v.push_back(std::stod(tok));
    return v;
  };
  auto put = [](std::vector<std::vector<double>>& list, std::size_t i, std::vector<double> v) {
    if (list.size() <= i) list.resize(i + 1);
    list[i] = std::move(v);
  };
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string key;
    is >> key;
    if (key == "hyper") {
      std::string hyper_name, value;
      is >> hyper_name >> value;
      g.hyper[hyper_name] = std::stod(value);
    } else if (key == "shape") {
      std::size_t i;
      is >> i;
      std::vector<std::int64_t> dims;
      for (double d : values(is)) dims.push_back(static_cast<std::int64_t>(d));
      if (g.shapes.size() <= i) g.shapes.resize(i + 1);
      g.shapes[i] = Shape(dims);
    } else if (key == "init") {
      std::size_t i;
      is >> i;
      put(g.init, i, values(is));
    } else if (key == "grad" || key == "param") {
      int k;
      std::size_t i;
      is >> k >> i;
      put((key == "grad" ? g.grad : g.param)[k], i, values(is));
    } else if (key == "nograd") {
      int k;
      std::size_t i;
      is >> k >> i;
      g.nograd.insert({k, i});
    }
  }
  EXPECT_EQ(g.grad.size(), 10u) << path;
  return g;
}

// |got - want| <= rtol * |want|, with a floor of 1e-300 so exact zeros must come out exact.
inline void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t j = 0; j < got.size(); ++j)
    EXPECT_LE(std::abs(got[j] - want[j]), rtol * std::abs(want[j]) + 1e-300)
        << what << " element " << j << ": got " << got[j] << ", want " << want[j];
}

// Steps `opt` through steps first..last of the golden and compares every parameter after each
// step with torch's (float64: 1e-10). `before_step(k)` runs before step k (a schedule).
template <class BeforeStep>
void check_steps(const Golden& g, std::vector<Tensor>& ps, Optimizer& opt, const std::string& name, int first, int last,
                 BeforeStep before_step) {
  for (int k = first; k <= last; ++k) {
    before_step(k);
    g.set_grads(ps, k);
    opt.step();
    for (std::size_t i = 0; i < ps.size(); ++i)
      expect_close(ps[i].to_vector(), g.param.at(k)[i], 1e-10,
                   name + " step " + std::to_string(k) + " parameter " + std::to_string(i));
  }
}

inline void check_against_golden(const Golden& g, std::vector<Tensor>& ps, Optimizer& opt, const std::string& name) {
  check_steps(g, ps, opt, name, 1, 10, [](int) {});
}

}  // namespace tg::optim_golden
