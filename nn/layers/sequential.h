#pragma once
/// \file
/// Sequential: layers applied one after the other, as Keras' Sequential. With an Input first it
/// is built at once, so its parameters and summary exist before the first batch:
///
///     tg::Sequential model(tg::Input{tg::None, 1},
///                          tg::SimpleRNN(20, {.return_sequences = true}),
///                          tg::SimpleRNN(20),
///                          tg::Dense(1));

#include <tapegrad/core/config.h>

#include <initializer_list>
#include <map>
#include <memory>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// A size not known in advance (Keras' None).
inline constexpr std::int64_t None = -1;

/// The shape of one sample, without the batch dimension (Keras' input_shape).
struct Input {
  /// `Input{None, 1}`: any number of steps, one feature.
  Input(std::initializer_list<std::int64_t> sizes) : dims(sizes) {}
  /// The sizes, None (-1) where unknown.
  Dims dims;
};

/// Layers applied in order; forward feeds each output to the next layer.
class Sequential : public Module {
 public:
  /// An empty model; add layers with add.
  Sequential() : Module("Sequential") {}
  template <class... L>
  /// The layers in order, built at once for `input` (batch dimension added).
  explicit Sequential(Input input, L&&... layers) : Sequential() {
    (add(std::forward<L>(layers)), ...);
    Dims d{-1};
    d.insert(d.end(), input.dims.begin(), input.dims.end());
    build(d);
  }
  /// The layers in order, built at the first input.
  template <class L0, class... L>
  requires(!std::is_same_v<std::decay_t<L0>, Input>) explicit Sequential(L0&& first, L&&... layers) : Sequential() {
    add(std::forward<L0>(first));
    (add(std::forward<L>(layers)), ...);
  }

  /// Appends a layer (by value or shared_ptr); it is named after its type (dense, dense_1, ...).
  template <class L>
  Sequential& add(L&& layer) {
    add_module(to_module_ptr(std::forward<L>(layer)));
    return *this;
  }

  /// Runs the layers in order; a mask made by one layer (Embedding with mask_zero, Masking) is
  /// handed to the next ones as nn/layers/module.h describes. A Sequential nested in another takes no
  /// mask in and gives none out.
  Tensor forward(const Tensor& x) override;
  /// A Sequential of the layers' clone_unbuilt, under the same names.
  std::shared_ptr<Module> clone_unbuilt() const override;
  /// {"layers": [each layer's description]}.
  std::optional<Json> config() const override;

  /// Number of layers.
  std::size_t size() const { return children().size(); }
  /// Layer i; std::out_of_range when i >= size().
  Module& operator[](std::size_t i) const { return *children().at(i).second; }

 protected:
  Dims on_build(const Dims& input) override;

 private:
  void add_module(ModulePtr layer);
  std::map<std::string, int> name_counts_;
};

/// "SimpleRNN" -> "simple_rnn", "TimeDistributed" -> "time_distributed".
std::string snake_case(const std::string& type_name);

}  // namespace tg
