#pragma once
// The learned models of the forecasting walkthrough, built in one place for both of forecast's
// jobs: the notebook walkthrough (forecast.cpp: ten outputs per step, sequence to sequence) and a
// user's series (csv_forecast.cpp: H outputs from the last step).
#include <cstdint>

#include <tapegrad/tapegrad.h>

namespace forecast {

/// Where a recurrent model's forecasts come from: every time step (sequence to sequence, the
/// notebook's training) or the last step only (one forecast of H values per window).
enum class Outputs { every_step, last_step };

/// Two SimpleRNN(20) layers and a Dense head: [N, T, 1] -> [N, outputs].
inline tg::Sequential deep_rnn(std::int64_t outputs) {
  using namespace tg;
  return Sequential(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(outputs));
}

/// Two layers of 20 units of `Cell` (LSTM, GRU) and a Dense head on every step or the last one.
template <class Cell>
tg::Sequential gated_rnn(std::int64_t outputs, Outputs at) {
  using namespace tg;
  if (at == Outputs::every_step)
    return Sequential(Input{None, 1}, Cell(20, {.return_sequences = true}), Cell(20, {.return_sequences = true}),
                      TimeDistributed(Dense(outputs)));
  return Sequential(Input{None, 1}, Cell(20, {.return_sequences = true}), Cell(20), Dense(outputs));
}

/// Conv1D(20, kernel 4, stride 2) before two GRU(20) layers: the convolution halves the steps.
inline tg::Sequential conv_gru(std::int64_t outputs, Outputs at) {
  using namespace tg;
  if (at == Outputs::every_step)
    return Sequential(Input{None, 1}, Conv1D(20, 4, {.strides = 2}), GRU(20, {.return_sequences = true}),
                      GRU(20, {.return_sequences = true}), TimeDistributed(Dense(outputs)));
  return Sequential(Input{None, 1}, Conv1D(20, 4, {.strides = 2}), GRU(20, {.return_sequences = true}), GRU(20),
                    Dense(outputs));
}

/// The notebook's simplified WaveNet: causal convolutions whose dilation doubles (1, 2, 4, 8,
/// twice), so the last step sees 31 past values, and a 1x1 convolution to the forecasts of every
/// step, [N, T, 1] -> [N, T, outputs].
inline tg::Sequential wavenet(std::int64_t outputs) {
  using namespace tg;
  Sequential m;
  for (int rep = 0; rep < 2; ++rep)
    for (std::int64_t rate : {1, 2, 4, 8})
      m.add(Conv1D(20, 2, {.padding = Padding::causal, .dilation_rate = rate, .activation = activations::relu}));
  m.add(Conv1D(outputs, 1));
  m.build({None, None, 1});
  return m;
}

}  // namespace forecast
