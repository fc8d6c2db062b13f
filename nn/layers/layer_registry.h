#pragma once
/// \file
/// Layers described and made again from their descriptions, as Keras' get_config / from_config:
/// the architecture half of a whole-model file (nn/recurrent/model_file.h).
///
/// A layer's description is a JSON object
///
///     {"type": "Dense", "name": "dense_1", "config": {"units": 1, "activation": "linear"}}
///
/// ("trainable": false added for a frozen layer): its type_name(), its name and its config()
/// (Module::config), in which a wrapper nests its children's descriptions. A registry maps each
/// type name to a factory that makes the layer from its config. The built-in layers of
/// nn/layers are registered from the start; the recurrent ones by register_recurrent_layers
/// (nn/recurrent/model_file.h); a user registers a layer of their own with register_layer:
///
///     tg::register_layer("Affine", [](const tg::Json& c) {
///       return std::make_shared<Affine>(tg::config_int(c, "n", "Affine"));
///     });
///
/// and gives it a config() that returns {"n": n}.

#include <tapegrad/core/config.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <tapegrad/nn/layers/activation.h>
#include <tapegrad/core/json.h>
#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Makes a layer from its config (the "config" member of its description).
using LayerFactory = std::function<std::shared_ptr<Module>(const Json& config)>;

/// Registers `factory` under `type` (a type_name()), replacing one registered before.
/// Thread-safe.
void register_layer(const std::string& type, LayerFactory factory);
/// Whether a factory is registered under `type`.
bool layer_registered(std::string_view type);

/// The description of `layer` (see the file comment). ValueError naming the layer and its type
/// when its config() is nullopt (a layer that cannot be described).
Json describe_layer(const Module& layer);
/// A new layer from a description: its factory called on the config, its name and trainable
/// flag set. ValueError for a description that is not an object of that form, a type without
/// a factory (named, escaped), or a config the factory refuses (the message names the type).
std::shared_ptr<Module> layer_from_description(const Json& description);

/// Member `key` of a layer's config, as a given kind; ValueError naming `layer` and the key
/// when it is missing or of another kind.
/// @{
const Json& config_value(const Json& config, std::string_view key, std::string_view layer);
std::int64_t config_int(const Json& config, std::string_view key, std::string_view layer);
double config_double(const Json& config, std::string_view key, std::string_view layer);
bool config_bool(const Json& config, std::string_view key, std::string_view layer);
const std::string& config_string(const Json& config, std::string_view key, std::string_view layer);
/// @}

/// The name under which `activation` goes in `layer`'s config: a built-in activation's name
/// (activation_from_name reads it back). ValueError naming the layer for any other function.
std::string activation_config(const Activation& activation, const Module& layer);
/// The built-in activation named by member `key` of a layer's config; ValueError naming `layer`.
Activation config_activation(const Json& config, std::string_view key, std::string_view layer);

}  // namespace tg
