#include <tapegrad/nn/layers/sequential.h>

#include <cctype>
#include <utility>

#include <fmt/format.h>

#include <tapegrad/nn/layers/layer_registry.h>

namespace tg {

std::string snake_case(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      const bool prev_lower = i > 0 && std::islower(static_cast<unsigned char>(s[i - 1]));
      const bool next_lower = i + 1 < s.size() && std::islower(static_cast<unsigned char>(s[i + 1]));
      const bool prev_upper = i > 0 && std::isupper(static_cast<unsigned char>(s[i - 1]));
      if (i > 0 && (prev_lower || (prev_upper && next_lower))) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

void Sequential::add_module(ModulePtr layer) {
  if (!layer) throw ValueError("Sequential: cannot add a null layer");
  std::string base = layer->name().empty() ? snake_case(layer->type_name()) : layer->name();
  int& count = name_counts_[base];
  std::string name = count == 0 ? base : fmt::format("{}_{}", base, count);
  ++count;
  layer->set_name(name);
  register_module(name, std::move(layer));
}

Dims Sequential::on_build(const Dims& input) {
  Dims d = input;
  for (const auto& [name, layer] : children()) d = layer->build(d);
  return d;
}

Tensor Sequential::forward(const Tensor& x) {
  if (children().empty()) throw ValueError("Sequential: the model has no layers");
  Tensor h = x, mask;  // the mask stays undefined unless a layer makes one (nn/layers/module.h, Masking)
  for (const auto& [name, layer] : children()) {
    Tensor out = (*layer)(h, mask);
    mask = layer->compute_mask(h, mask);
    h = std::move(out);
  }
  return h;
}

std::shared_ptr<Module> Sequential::clone_unbuilt() const {
  auto copy = std::make_shared<Sequential>();
  for (const auto& [name, layer] : children()) {
    auto inner = layer->clone_unbuilt();
    inner->set_name(name);
    copy->add(std::move(inner));
  }
  return copy;
}

std::optional<Json> Sequential::config() const {
  Json::Array layers;
  for (const auto& [name, layer] : children()) layers.push_back(describe_layer(*layer));
  return Json::object().set("layers", Json(std::move(layers)));
}

}  // namespace tg
