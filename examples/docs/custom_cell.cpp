#include <tapegrad/tapegrad.h>

// A minimal gated unit (Zhou et al., 2016): one forget gate f decides how much of the state to
// replace.   f_t = sigmoid(x_t Wf + h Uf + bf)
//            c_t = tanh(x_t Wc + (f_t * h) Uc + bc)
//            h_t = h + f_t * (c_t - h)
class MGUCell : public tg::RecurrentCell {
 public:
  explicit MGUCell(std::int64_t units) : RecurrentCell("MGUCell"), units_(units) {}

  // One state, h [B, units]; it is also the step's output.
  std::vector<std::int64_t> state_sizes() const override { return {units_}; }

  // Once for all time steps, as one GEMM: [B, T, F] x [F, 2 units] -> [B, T, 2 units].
  tg::Tensor prepare(const tg::Tensor& x) override { return tg::linear(x, kernel, bias); }

  tg::States step(const tg::Tensor& xw, std::int64_t t, const tg::States& states) override {
    tg::Tensor h = zeros_if_undefined(states[0], xw.size(0), units_, xw.dtype());  // [B, units]
    tg::Tensor xw_t = tg::select(xw, 1, t);                                        // [B, 2 units]
    tg::Tensor f = tg::sigmoid(tg::slice(xw_t, 1, 0, units_) + tg::matmul(h, forget_kernel));
    tg::Tensor c = tg::tanh(tg::slice(xw_t, 1, units_, units_) + tg::matmul(f * h, recurrent_kernel));
    return {h + f * (c - h)};
  }

  // A new, unbuilt cell of the same configuration (not the weights): Bidirectional makes its
  // backward direction from it. Without it, Bidirectional throws a ValueError naming the cell.
  std::shared_ptr<tg::Module> clone_unbuilt() const override { return std::make_shared<MGUCell>(units_); }

  tg::Tensor kernel, bias, forget_kernel, recurrent_kernel;

 protected:
  // Called once the input features are known: creates the parameters, returns the output dims.
  tg::Dims on_build(const tg::Dims& input) override {
    kernel = register_parameter("kernel", tg::init::glorot_uniform(input.back(), 2 * units_));
    bias = register_parameter("bias", tg::init::zeros({2 * units_}));
    forget_kernel = register_parameter("forget_kernel", tg::init::orthogonal(units_, units_));
    recurrent_kernel = register_parameter("recurrent_kernel", tg::init::orthogonal(units_, units_));
    return {-1, units_};
  }

 private:
  std::int64_t units_;
};

int main() {
  using namespace tg;
  manual_seed(42);
  Generator rng(42);
  ForecastData d = one_step_data(rng, {.train = 500, .valid = 200, .test = 100});

  // tg::RNN unrolls the cell over time; it stacks and nests like the built-in layers.
  // Bidirectional runs a clone_unbuilt() of the cell, with weights of its own, from the last step back.
  Sequential model(Input{None, 1}, Bidirectional(RNN(std::make_shared<MGUCell>(8), {.return_sequences = true})),
                   RNN(std::make_shared<MGUCell>(8)), Dense(1));
  fmt::print("{}", model.summary());

  Adam opt(model.parameters());
  FitOptions o;
  o.epochs = 3;
  o.optimizer = &opt;
  o.validation_data = std::make_pair(d.x_valid, d.y_valid);
  o.verbose = 2;
  History h = fit(model, d.x_train, d.y_train, o);

  // Backpropagation through time is the tape's generic backward: check it numerically.
  model.to(DType::f64);
  Tensor x = randn({3, 5, 1}, DType::f64, &rng);
  GradcheckResult check = gradcheck_leaves([&] { return model(x); }, model.parameters());
  fmt::print("gradcheck: {}\n", check.ok ? "ok" : check.message);
  return check.ok && h["val_loss"].back() < h["val_loss"].front() ? 0 : 1;
}
