#include <tapegrad/nn/layers/layer_registry.h>

#include <limits>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include <tapegrad/nn/layers/conv.h>
#include <tapegrad/nn/layers/dense.h>
#include <tapegrad/nn/layers/dropout.h>
#include <tapegrad/nn/layers/embedding.h>
#include <tapegrad/nn/layers/masking.h>
#include <tapegrad/nn/layers/normalization.h>
#include <tapegrad/nn/layers/repeat_vector.h>
#include <tapegrad/nn/layers/sequential.h>
#include <tapegrad/nn/layers/softmax.h>
#include <tapegrad/nn/layers/time_distributed.h>

namespace tg {

// ---- reading configs ----------------------------------------------------------------------------

const Json& config_value(const Json& config, std::string_view key, std::string_view layer) {
  if (!config.is_object())
    throw ValueError(fmt::format("{}: the config is {}, expected an object", layer, Json::kind_name(config.kind())));
  const Json* v = config.find(key);
  if (!v) throw ValueError(fmt::format("{}: the config has no '{}'", layer, key));
  return *v;
}

namespace {
template <class F>
decltype(auto) read_as(const Json& config, std::string_view key, std::string_view layer, Json::Kind want, F get) {
  const Json& v = config_value(config, key, layer);
  const bool ok = v.kind() == want || (want == Json::Kind::number && v.kind() == Json::Kind::integer);
  if (!ok)
    throw ValueError(fmt::format("{}: config '{}' is {}, expected {}", layer, key, Json::kind_name(v.kind()),
                                 Json::kind_name(want)));
  return get(v);
}
}  // namespace

std::int64_t config_int(const Json& config, std::string_view key, std::string_view layer) {
  return read_as(config, key, layer, Json::Kind::integer, [](const Json& v) { return v.as_int(); });
}

double config_double(const Json& config, std::string_view key, std::string_view layer) {
  return read_as(config, key, layer, Json::Kind::number, [](const Json& v) { return v.as_double(); });
}

bool config_bool(const Json& config, std::string_view key, std::string_view layer) {
  return read_as(config, key, layer, Json::Kind::boolean, [](const Json& v) { return v.as_bool(); });
}

const std::string& config_string(const Json& config, std::string_view key, std::string_view layer) {
  return read_as(config, key, layer, Json::Kind::string,
                 [](const Json& v) -> const std::string& { return v.as_string(); });
}

std::string activation_config(const Activation& activation, const Module& layer) {
  try {
    const Activation known = activation_from_name(activation.name);
    if (known == activation) return activation.name;
  } catch (const ValueError&) {
  }
  throw ValueError(
      fmt::format("{} ({}): its activation '{}' is not a built-in one (linear, tanh, sigmoid, relu, "
                  "softmax), so the layer cannot be described",
                  layer.name().empty() ? layer.type_name() : layer.name(), layer.type_name(),
                  escape_for_message(activation.name ? activation.name : "")));
}

Activation config_activation(const Json& config, std::string_view key, std::string_view layer) {
  const std::string& name = config_string(config, key, layer);
  try {
    return activation_from_name(name);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", layer, e.what()));
  }
}

// ---- the registry -------------------------------------------------------------------------------

namespace {
int config_int32(const Json& c, std::string_view key, std::string_view layer) {
  const std::int64_t v = config_int(c, key, layer);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw ValueError(fmt::format("{}: config '{}' is {}, outside the range of an int", layer, key, v));
  return static_cast<int>(v);
}

Padding padding_from_name(const std::string& name) {
  for (Padding p : {Padding::valid, Padding::causal, Padding::same})
    if (name == padding_name(p)) return p;
  throw ValueError(fmt::format("Conv1D: padding '{}' is not one of valid, causal, same", escape_for_message(name)));
}

std::map<std::string, LayerFactory, std::less<>> builtin_layers() {
  std::map<std::string, LayerFactory, std::less<>> r;
  r["Dense"] = [](const Json& c) {
    return std::make_shared<Dense>(config_int(c, "units", "Dense"), config_activation(c, "activation", "Dense"));
  };
  r["Flatten"] = [](const Json&) { return std::make_shared<Flatten>(); };
  r["Softmax"] = [](const Json& c) { return std::make_shared<Softmax>(config_int32(c, "axis", "Softmax")); };
  r["Conv1D"] = [](const Json& c) {
    Conv1DOptions o;
    o.strides = config_int(c, "strides", "Conv1D");
    o.padding = padding_from_name(config_string(c, "padding", "Conv1D"));
    o.dilation_rate = config_int(c, "dilation_rate", "Conv1D");
    o.activation = config_activation(c, "activation", "Conv1D");
    return std::make_shared<Conv1D>(config_int(c, "filters", "Conv1D"), config_int(c, "kernel_size", "Conv1D"), o);
  };
  r["Dropout"] = [](const Json& c) -> std::shared_ptr<Module> {
    const double rate = config_double(c, "rate", "Dropout");
    const Json& seed = config_value(c, "seed", "Dropout");
    if (seed.kind() == Json::Kind::null) return std::make_shared<Dropout>(rate);
    const std::int64_t s = config_int(c, "seed", "Dropout");
    if (s < 0 || s > std::numeric_limits<std::uint32_t>::max())
      throw ValueError(fmt::format("Dropout: config 'seed' is {}, expected a 32-bit unsigned seed", s));
    return std::make_shared<Dropout>(rate, static_cast<std::uint32_t>(s));
  };
  r["Embedding"] = [](const Json& c) {
    return std::make_shared<Embedding>(config_int(c, "vocabulary", "Embedding"), config_int(c, "dim", "Embedding"),
                                       EmbeddingOptions{.mask_zero = config_bool(c, "mask_zero", "Embedding")});
  };
  r["Masking"] = [](const Json& c) { return std::make_shared<Masking>(config_double(c, "mask_value", "Masking")); };
  r["LayerNormalization"] = [](const Json& c) {
    return std::make_shared<LayerNormalization>(config_double(c, "epsilon", "LayerNormalization"));
  };
  r["RepeatVector"] = [](const Json& c) { return std::make_shared<RepeatVector>(config_int(c, "n", "RepeatVector")); };
  r["TimeDistributed"] = [](const Json& c) {
    return std::make_shared<TimeDistributed>(layer_from_description(config_value(c, "layer", "TimeDistributed")));
  };
  r["Sequential"] = [](const Json& c) {
    const Json& layers = config_value(c, "layers", "Sequential");
    if (layers.kind() != Json::Kind::array)
      throw ValueError(
          fmt::format("Sequential: config 'layers' is {}, expected an array", Json::kind_name(layers.kind())));
    auto model = std::make_shared<Sequential>();
    for (const Json& d : layers.as_array()) model->add(layer_from_description(d));
    return model;
  };
  return r;
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, LayerFactory, std::less<>> factories = builtin_layers();
};

Registry& registry() {
  static Registry r;
  return r;
}

LayerFactory find_factory(std::string_view type) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.factories.find(type);
  return it == r.factories.end() ? LayerFactory() : it->second;
}
}  // namespace

void register_layer(const std::string& type, LayerFactory factory) {
  if (type.empty()) throw ValueError("register_layer: the type name is empty");
  if (!factory) throw ValueError(fmt::format("register_layer: the factory of '{}' is empty", type));
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.factories[type] = std::move(factory);
}

bool layer_registered(std::string_view type) { return static_cast<bool>(find_factory(type)); }

Json describe_layer(const Module& layer) {
  std::optional<Json> config = layer.config();
  if (!config)
    throw ValueError(
        fmt::format("{} ({}): this layer has no config() (override Module::config and register a factory "
                    "with register_layer), so it cannot be described or saved as architecture",
                    layer.name().empty() ? layer.type_name() : layer.name(), layer.type_name()));
  Json d = Json::object().set("type", layer.type_name()).set("name", layer.name()).set("config", std::move(*config));
  if (!layer.trainable()) d.set("trainable", false);
  return d;
}

std::shared_ptr<Module> layer_from_description(const Json& description) {
  if (!description.is_object())
    throw ValueError(fmt::format("a layer description is {}, expected an object {{\"type\", \"name\", \"config\"}}",
                                 Json::kind_name(description.kind())));
  const std::string& type = config_string(description, "type", "a layer description");
  const std::string shown = escape_for_message(type, 64);
  const std::string& name = config_string(description, "name", shown);
  const Json& config = config_value(description, "config", shown);
  bool trainable = true;
  if (description.find("trainable")) trainable = config_bool(description, "trainable", shown);
  LayerFactory factory = find_factory(type);
  if (!factory)
    throw ValueError(
        fmt::format("layer type '{}' (layer '{}') is not registered (register_layer; recurrent layers: "
                    "register_recurrent_layers)",
                    shown, escape_for_message(name, 64)));
  std::shared_ptr<Module> layer;
  try {
    layer = factory(config);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("layer '{}' ({}): {}", escape_for_message(name, 64), shown, e.what()));
  }
  if (!layer)
    throw ValueError(fmt::format("layer '{}' ({}): the factory returned null", escape_for_message(name, 64), shown));
  if (layer->type_name() != type)
    throw ValueError(fmt::format("layer '{}': the factory of '{}' made a '{}'", escape_for_message(name, 64), shown,
                                 layer->type_name()));
  layer->set_name(name);
  if (!trainable) layer->set_trainable(false);
  return layer;
}

}  // namespace tg
