#include <tapegrad/tapegrad.h>

// Forecasts the next value as the last observed value plus a learned correction:
// y = x[:, T-1, :] + Dense(SimpleRNN(x)). The skip path is what Sequential cannot express.
struct ResidualForecaster : tg::Module {
  explicit ResidualForecaster(std::int64_t units) : Module("ResidualForecaster") {
    rnn = register_module("rnn", std::make_shared<tg::SimpleRNN>(units));
    head = register_module("head", std::make_shared<tg::Dense>(units, 1));
    build({-1, -1, 1});  // [batch, time, features]: the sizes known in advance
  }

  tg::Tensor forward(const tg::Tensor& x) override {    // x [B, T, 1]
    tg::Tensor last = tg::select(x, 1, x.size(1) - 1);  // [B, 1]
    return last + (*head)((*rnn)(x));                   // [B, 1]
  }

  std::shared_ptr<tg::SimpleRNN> rnn;
  std::shared_ptr<tg::Dense> head;

 protected:
  // Builds the children for the input dims and returns the output dims.
  tg::Dims on_build(const tg::Dims& input) override { return head->build(rnn->build(input)); }
};

int main() {
  using namespace tg;
  manual_seed(42);
  Generator rng(42);
  ForecastData d = one_step_data(rng, {.train = 1000, .valid = 200, .test = 200});

  ResidualForecaster model(16);
  fmt::print("{}", model.summary());  // rnn.cell.kernel, rnn.cell.recurrent_kernel, ...

  // Any module trains with fit, like a Sequential.
  Adam opt(model.parameters());
  FitOptions o;
  o.epochs = 3;
  o.optimizer = &opt;
  o.validation_data = std::make_pair(d.x_valid, d.y_valid);
  o.verbose = 2;
  History h = fit(model, d.x_train, d.y_train, o);

  // The gradient checker on every parameter, in float64, through the unrolled RNN.
  model.to(DType::f64);
  Tensor x = randn({4, 6, 1}, DType::f64, &rng);
  GradcheckResult check = gradcheck_leaves([&] { return model(x); }, model.parameters());
  fmt::print("gradcheck: {}\n", check.ok ? "ok" : check.message);
  return check.ok && h["val_loss"].back() < h["val_loss"].front() ? 0 : 1;
}
