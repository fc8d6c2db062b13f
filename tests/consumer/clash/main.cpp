// A program whose own headers are named like tapegrad's (include/core/shape.h, nn/module.h,
// ops/matmul.h, first on the include path), built by run.sh with -Wshadow -Werror and tapegrad's
// headers included as -I, not as system headers: tapegrad must take only its own headers
// (<tapegrad/...>) and compile without a warning. Uses the application's Shape, Module and
// matmul beside tapegrad's, and trains a small recurrent model with fit. Exits non-zero on any
// failure.
#include <core/shape.h>
#include <nn/module.h>
#include <ops/matmul.h>

#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <utility>
#include <vector>

int main() {
  // The application's own types and function.
  Module plugin("forecaster");
  Matrix a{{2, 3}, {1, 2, 3, 4, 5, 6}};
  Matrix b{{3, 1}, {1, 1, 1}};
  Matrix ab = matmul(a, b);  // [2,3] x [3,1] -> [2,1]
  if (ab.values != std::vector<double>{6, 15}) {
    std::printf("clash: the application's matmul gave %g, %g\n", ab.values[0], ab.values[1]);
    return 1;
  }

  // tapegrad's: a stack of recurrent layers trained with fit on the noisy sine series.
  tg::manual_seed(3);
  tg::Generator rng(3);
  tg::ForecastData data = tg::one_step_data(rng, {.train = 256, .valid = 64, .test = 64, .steps = 20});
  tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(8, {.return_sequences = true}), tg::SimpleRNN(8),
                       tg::Dense(1));
  tg::Module& as_module = model;
  tg::Adam adam(model.parameters(), 0.01);
  tg::FitOptions options;
  options.epochs = 4;
  options.optimizer = &adam;
  options.validation_data = std::make_pair(data.x_valid, data.y_valid);
  options.verbose = 0;
  tg::History history = tg::fit(as_module, data.x_train, data.y_train, options);
  const std::vector<double>& val_loss = history["val_loss"];

  // tapegrad's Shape and matmul by their full names: [64,1] x [1,2] -> [64,2].
  tg::Tensor predicted = tg::predict(model, data.x_test);
  tg::Tensor doubled = tg::matmul(predicted, tg::full({1, 2}, 2.0));
  const tg::Shape expected{64, 2};
  if (doubled.shape() != expected) {
    std::printf("clash: predictions x [1,2] have shape %s\n", doubled.shape().str().c_str());
    return 1;
  }
  std::printf("clash: %s, %lld parameters, val_loss %.5f -> %.5f\n", plugin.name().c_str(),
              static_cast<long long>(model.num_parameters()), val_loss.front(), val_loss.back());
  if (!(val_loss.back() < val_loss.front())) {
    std::printf("clash: training did not lower val_loss\n");
    return 1;
  }
  std::printf("clash: ok\n");
  return 0;
}
