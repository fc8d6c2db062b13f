#include <tapegrad/nn/recurrent/model_file.h>

#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <mutex>

#include <fmt/format.h>

#include <tapegrad/core/bytes.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>
#include <tapegrad/nn/layers/layer_registry.h>
#include <tapegrad/nn/recurrent/bidirectional.h>
#include <tapegrad/nn/recurrent/gru.h>
#include <tapegrad/nn/recurrent/ln_rnn.h>
#include <tapegrad/nn/recurrent/lstm.h>
#include <tapegrad/nn/recurrent/rnn.h>
#include <tapegrad/nn/training/serialize.h>

namespace tg {

namespace {
constexpr unsigned char kMagic[4] = {'T', 'G', 'M', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr const char* kFormat = "tapegrad-model";

// The header's checksum: FNV-1a 64 started from 1469598103934665603, not FNV's offset basis
// (core/bytes.h, 14695981039346656037). Part of the TGM1 format as written, so kept.
std::uint64_t header_checksum(const unsigned char* data, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::shared_ptr<RecurrentCell> cell_from(const Json& c, std::string_view layer) {
  auto cell = std::dynamic_pointer_cast<RecurrentCell>(layer_from_description(config_value(c, "cell", layer)));
  if (!cell) throw ValueError(fmt::format("{}: config 'cell' does not describe a recurrent cell", layer));
  return cell;
}

std::shared_ptr<RNN> rnn_from(const Json& c, std::string_view key) {
  auto layer = std::dynamic_pointer_cast<RNN>(layer_from_description(config_value(c, key, "Bidirectional")));
  if (!layer) throw ValueError(fmt::format("Bidirectional: config '{}' does not describe a recurrent layer", key));
  return layer;
}
// A layer's sizes that become dimensions of its parameters can be no larger than the elements
// the file holds: checked before anything is built, so a forged header cannot make load_model
// allocate far more than the file's size.
void check_sizes(const Json& v, std::uint64_t weight_bytes) {
  if (v.kind() == Json::Kind::array) {
    for (const Json& item : v.as_array()) check_sizes(item, weight_bytes);
    return;
  }
  if (v.kind() != Json::Kind::object) return;
  for (const auto& [key, item] : v.as_object()) {
    const bool size_key =
        key == "units" || key == "filters" || key == "kernel_size" || key == "vocabulary" || key == "dim";
    if (size_key && item.kind() == Json::Kind::integer && item.as_int() > 0 &&
        static_cast<std::uint64_t>(item.as_int()) > weight_bytes / 4)
      throw ValueError(
          fmt::format("'{}' is {}, more than the {} bytes of weights could hold", key, item.as_int(), weight_bytes));
    check_sizes(item, weight_bytes);
  }
}
}  // namespace

void register_recurrent_layers() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_layer("SimpleRNNCell", [](const Json& c) {
      return std::make_shared<SimpleRNNCell>(config_int(c, "units", "SimpleRNNCell"),
                                             config_activation(c, "activation", "SimpleRNNCell"));
    });
    register_layer("LSTMCell",
                   [](const Json& c) { return std::make_shared<LSTMCell>(config_int(c, "units", "LSTMCell")); });
    register_layer("GRUCell", [](const Json& c) {
      return std::make_shared<GRUCell>(config_int(c, "units", "GRUCell"),
                                       GRUOptions{.reset_after = config_bool(c, "reset_after", "GRUCell")});
    });
    register_layer("LNSimpleRNNCell", [](const Json& c) {
      return std::make_shared<LNSimpleRNNCell>(config_int(c, "units", "LNSimpleRNNCell"),
                                               config_activation(c, "activation", "LNSimpleRNNCell"));
    });
    register_layer("SimpleRNN", [](const Json& c) {
      return std::make_shared<SimpleRNN>(config_int(c, "units", "SimpleRNN"), rnn_options_from_config(c, "SimpleRNN"),
                                         config_activation(c, "activation", "SimpleRNN"));
    });
    register_layer("LSTM", [](const Json& c) {
      return std::make_shared<LSTM>(config_int(c, "units", "LSTM"), rnn_options_from_config(c, "LSTM"));
    });
    register_layer("GRU", [](const Json& c) {
      return std::make_shared<GRU>(config_int(c, "units", "GRU"), rnn_options_from_config(c, "GRU"),
                                   GRUOptions{.reset_after = config_bool(c, "reset_after", "GRU")});
    });
    register_layer("RNN", [](const Json& c) {
      return std::make_shared<RNN>(cell_from(c, "RNN"), rnn_options_from_config(c, "RNN"));
    });
    register_layer("Bidirectional", [](const Json& c) {
      const std::string& merge = config_string(c, "merge", "Bidirectional");
      if (merge != "concat" && merge != "sum")
        throw ValueError(fmt::format("Bidirectional: merge '{}' is not concat or sum", escape_for_message(merge)));
      return std::make_shared<Bidirectional>(rnn_from(c, "forward_layer"), rnn_from(c, "backward_layer"),
                                             merge == "sum" ? MergeMode::sum : MergeMode::concat);
    });
  });
}

std::vector<unsigned char> model_to_bytes(const Sequential& model) {
  register_recurrent_layers();
  const std::string label = model.name().empty() ? model.type_name() : model.name();
  if (!model.built())
    throw ValueError(fmt::format("save_model: model '{}' is not built; give it an Input or run it once first", label));
  const auto params = model.parameters();
  DType dtype = params.empty() ? DType::f32 : params[0].dtype();
  for (const Tensor& p : params)
    if (p.dtype() != dtype)
      throw ValueError(fmt::format("save_model: model '{}' mixes {} and {} parameters; convert it with to() first",
                                   label, dtype_name(dtype), dtype_name(p.dtype())));
  Json::Array input;
  for (std::int64_t d : model.input_dims()) {
    if (d < 0)
      input.emplace_back();
    else
      input.emplace_back(d);
  }
  Json header = Json::object();
  header.set("format", kFormat);
  header.set("version", static_cast<std::int64_t>(kVersion));
  header.set("dtype", std::string(dtype_name(dtype)));
  header.set("input_shape", Json(std::move(input)));
  header.set("model", describe_layer(model));
  const std::string text = header.dump();
  std::vector<unsigned char> out(kMagic, kMagic + sizeof kMagic);
  put_uint(out, kVersion, 4);
  put_uint(out, text.size(), 8);
  out.insert(out.end(), text.begin(), text.end());
  put_uint(out, header_checksum(reinterpret_cast<const unsigned char*>(text.data()), text.size()), 8);
  const std::vector<unsigned char> weights = weights_to_bytes(model);
  out.insert(out.end(), weights.begin(), weights.end());
  return out;
}

void save_model(const Sequential& model, const std::string& path) {
  if (path.empty()) throw IOError("save_model: the path is empty");
  write_file_atomic(path, model_to_bytes(model), "save_model");
}

std::unique_ptr<Sequential> load_model_from_bytes(std::span<const unsigned char> bytes, const std::string& source) {
  register_recurrent_layers();
  const std::string path = escape_for_message(source, 4096);
  auto bad = [&](const std::string& what) { return IOError(fmt::format("load_model: '{}': {}", path, what)); };
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kMagic, 4) != 0)
    throw bad("not a tapegrad model file (expected the magic TGM1)");
  const auto version = get_uint(bytes.data() + 4, 4);
  if (version != kVersion) throw bad(fmt::format("format version {}, this build reads version {}", version, kVersion));
  const std::uint64_t header_len = get_uint(bytes.data() + 8, 8);
  if (header_len > bytes.size() - 16 || bytes.size() - 16 - header_len < 8)
    throw bad(
        fmt::format("header of {} bytes does not fit in the file's {} bytes (truncated?)", header_len, bytes.size()));
  const unsigned char* h = bytes.data() + 16;
  if (get_uint(h + header_len, 8) != header_checksum(h, header_len))
    throw bad("the header fails its checksum (corrupted)");
  const std::span<const unsigned char> weights = bytes.subspan(16 + header_len + 8);

  std::unique_ptr<Sequential> model;
  try {
    const Json header = Json::parse(std::string_view(reinterpret_cast<const char*>(h), header_len));
    const char* what = "the model file's header";
    if (config_string(header, "format", what) != kFormat)
      throw ValueError(fmt::format("format is '{}', expected '{}'",
                                   escape_for_message(config_string(header, "format", what), 64), kFormat));
    if (config_int(header, "version", what) != kVersion)
      throw ValueError(fmt::format("header version {}, expected {}", config_int(header, "version", what), kVersion));
    const std::string& dtype = config_string(header, "dtype", what);
    if (dtype != "float32" && dtype != "float64")
      throw ValueError(fmt::format("dtype '{}' is not float32 or float64", escape_for_message(dtype, 64)));
    const Json& input = config_value(header, "input_shape", what);
    if (input.kind() != Json::Kind::array || input.as_array().empty() ||
        input.as_array().size() > static_cast<std::size_t>(kMaxRank))
      throw ValueError(fmt::format("input_shape must be an array of 1 to {} sizes", kMaxRank));
    Dims dims;
    for (const Json& d : input.as_array()) {
      if (d.kind() == Json::Kind::null) {
        dims.push_back(-1);
        continue;
      }
      if (d.kind() != Json::Kind::integer || d.as_int() <= 0 || d.as_int() > (std::int64_t{1} << 40))
        throw ValueError("input_shape holds a size that is not null or a positive integer");
      dims.push_back(d.as_int());
    }
    const Json& description = config_value(header, "model", what);
    check_sizes(description, weights.size());
    if (dims.back() > 0 && static_cast<std::uint64_t>(dims.back()) > weights.size())
      throw ValueError(fmt::format("input_shape has {} features, more than the weights could use", dims.back()));
    if (config_string(description, "type", "the model's description") != "Sequential")
      throw ValueError("the model is not a Sequential");
    const Json& layers = config_value(config_value(description, "config", "Sequential"), "layers", "Sequential");
    if (layers.kind() != Json::Kind::array) throw ValueError("Sequential: config 'layers' is not an array");
    model = std::make_unique<Sequential>();
    model->set_name(config_string(description, "name", "Sequential"));
    for (const Json& d : layers.as_array()) model->add(layer_from_description(d));
    model->build(dims);
    if (const Json* t = description.find("trainable"); t && t->kind() == Json::Kind::boolean && !t->as_bool())
      model->set_trainable(false);
    if (dtype == "float64") model->to(DType::f64);
    load_weights_from_bytes(*model, weights, source);
  } catch (const Error& e) {
    throw bad(e.what());
  } catch (const std::bad_alloc&) {
    throw bad("the architecture needs more memory than there is");
  } catch (const std::length_error&) {
    throw bad("the architecture needs more memory than there is");
  }
  return model;
}

std::unique_ptr<Sequential> load_model(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path, "load_model");
  return load_model_from_bytes(bytes, path);
}

}  // namespace tg
