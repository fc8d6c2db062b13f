#include <tapegrad/nn/recurrent/torch_names.h>

#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>
#include <tapegrad/nn/layers/conv.h>
#include <tapegrad/nn/layers/dense.h>
#include <tapegrad/nn/layers/embedding.h>
#include <tapegrad/nn/layers/normalization.h>
#include <tapegrad/nn/layers/sequential.h>
#include <tapegrad/nn/recurrent/gru.h>
#include <tapegrad/nn/recurrent/lstm.h>
#include <tapegrad/nn/recurrent/rnn.h>

namespace tg {

namespace {

// ---- Layout conversions (values as doubles: exact for float32) -------------------------------

Tensor make(const std::vector<double>& v, const Shape& shape, DType dtype) {
  return from_vector(std::span<const double>(v), shape, dtype);
}

// [r, c] -> [c, r].
Tensor transposed(const Tensor& t) {
  const std::int64_t r = t.size(0), c = t.size(1);
  const std::vector<double> v = t.to_vector();
  std::vector<double> out(v.size());
  for (std::int64_t i = 0; i < r; ++i)
    for (std::int64_t j = 0; j < c; ++j)
      out[static_cast<std::size_t>(j * r + i)] = v[static_cast<std::size_t>(i * c + j)];
  return make(out, Shape{c, r}, t.dtype());
}

// Axes 0 and 2 of a rank-3 tensor swapped: [a, b, c] -> [c, b, a] (its own inverse).
Tensor swapped_0_2(const Tensor& t) {
  const std::int64_t a = t.size(0), b = t.size(1), c = t.size(2);
  const std::vector<double> v = t.to_vector();
  std::vector<double> out(v.size());
  for (std::int64_t i = 0; i < a; ++i)
    for (std::int64_t j = 0; j < b; ++j)
      for (std::int64_t k = 0; k < c; ++k)
        out[static_cast<std::size_t>((k * b + j) * a + i)] = v[static_cast<std::size_t>((i * b + j) * c + k)];
  return make(out, Shape{c, b, a}, t.dtype());
}

// The first two of the blocks of `block` rows along axis 0 swapped (GRU's z, r <-> r, z); its
// own inverse. Works on [3u] and [3u, X].
Tensor first_blocks_swapped(const Tensor& t, std::int64_t block) {
  const std::vector<double> v = t.to_vector();
  const std::size_t row = t.rank() == 1 ? 1 : static_cast<std::size_t>(t.size(1));
  const std::size_t n = static_cast<std::size_t>(block) * row;
  std::vector<double> out = v;
  std::copy(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), out.begin() + static_cast<std::ptrdiff_t>(n));
  std::copy(v.begin() + static_cast<std::ptrdiff_t>(n), v.begin() + static_cast<std::ptrdiff_t>(2 * n), out.begin());
  return make(out, t.shape(), t.dtype());
}

Tensor sum(const Tensor& a, const Tensor& b) {
  std::vector<double> v = a.to_vector();
  const std::vector<double> w = b.to_vector();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] += w[i];
  return make(v, a.shape(), a.dtype());
}

// A row of a [2, n] tensor as [n], or [n] tensors stacked as [2, n].
Tensor row(const Tensor& t, std::int64_t i) {
  const std::vector<double> v = t.to_vector();
  const std::int64_t n = t.size(1);
  return make(std::vector<double>(v.begin() + i * n, v.begin() + (i + 1) * n), Shape{n}, t.dtype());
}
Tensor rows(const Tensor& a, const Tensor& b) {
  std::vector<double> v = a.to_vector();
  const std::vector<double> w = b.to_vector();
  v.insert(v.end(), w.begin(), w.end());
  return make(v, Shape{2, a.size(0)}, a.dtype());
}

Tensor copy(const Tensor& t) { return make(t.to_vector(), t.shape(), t.dtype()); }

// ---- The walk --------------------------------------------------------------------------------

enum class Kind { linear, conv1d, layer_norm, embedding, rnn, lstm, gru };

// A layer with weights and its torch.nn counterpart. `params` are the layer's parameters in the
// order the conversions below take them (kernel, [recurrent_kernel,] bias, ...).
struct Mapped {
  Kind kind;
  std::string prefix;  // "0." (or "" for a model that is the layer itself)
  std::string label;   // "Dense '0'" for messages
  std::vector<Tensor> params;
  std::int64_t units = 0;  // recurrent layers: the gate block size
};

std::string shown_path(const std::string& prefix) {
  return prefix.empty() ? std::string("(the model)") : prefix.substr(0, prefix.size() - 1);
}

// The own parameters of `m` named in `names`, in that order; ValueError when one is missing or
// undefined (an unbuilt layer).
std::vector<Tensor> take(const Module& m, const std::string& label, std::initializer_list<const char*> names) {
  std::vector<Tensor> out;
  for (const char* want : names) {
    const Tensor* found = nullptr;
    for (const auto& [n, p] : m.own_parameters())
      if (n == want) found = &p;
    if (found == nullptr || !found->defined())
      throw ValueError(fmt::format("torch names: {} has no parameter '{}' (build the model first)", label, want));
    out.push_back(*found);
  }
  if (m.own_parameters().size() != names.size())
    throw ValueError(fmt::format("torch names: {} has {} parameters, its torch.nn counterpart maps {}", label,
                                 m.own_parameters().size(), names.size()));
  return out;
}

void walk(const Module& m, const std::string& prefix, std::vector<Mapped>& out) {
  const std::string label = fmt::format("{} '{}' (torch path '{}')", m.type_name(), escape_for_message(m.name()),
                                        escape_for_message(shown_path(prefix)));
  auto add = [&](Kind k, const Module& holder, std::initializer_list<const char*> names, std::int64_t units = 0) {
    out.push_back(Mapped{k, prefix, label, take(holder, label, names), units});
  };
  if (dynamic_cast<const Dense*>(&m) != nullptr) return add(Kind::linear, m, {"kernel", "bias"});
  if (dynamic_cast<const Conv1D*>(&m) != nullptr) return add(Kind::conv1d, m, {"kernel", "bias"});
  if (dynamic_cast<const LayerNormalization*>(&m) != nullptr) return add(Kind::layer_norm, m, {"gamma", "beta"});
  if (dynamic_cast<const Embedding*>(&m) != nullptr) return add(Kind::embedding, m, {"embeddings"});
  if (dynamic_cast<const RNN*>(&m) != nullptr) {
    const Module* cell = nullptr;
    for (const auto& [n, c] : m.children())
      if (n == "cell") cell = c.get();
    if (cell == nullptr || m.children().size() != 1 || !m.own_parameters().empty())
      throw ValueError(fmt::format("torch names: {} is not one cell unrolled; no torch.nn module maps it", label));
    if (const auto* c = dynamic_cast<const SimpleRNNCell*>(cell))
      return add(Kind::rnn, *c, {"kernel", "recurrent_kernel", "bias"}, c->state_sizes().at(0));
    if (const auto* c = dynamic_cast<const LSTMCell*>(cell))
      return add(Kind::lstm, *c, {"kernel", "recurrent_kernel", "bias"}, c->units());
    if (const auto* c = dynamic_cast<const GRUCell*>(cell)) {
      add(Kind::gru, *c, {"kernel", "recurrent_kernel", "bias"}, c->units());
      if (out.back().params[2].rank() != 2)
        throw ValueError(
            fmt::format("torch names: {} has one bias {} (reset_after = false); torch.nn.GRU applies "
                        "the reset gate after the recurrent product (reset_after = true) only",
                        label, out.back().params[2].shape()));
      return;
    }
    throw ValueError(
        fmt::format("torch names: {} unrolls a {}, which has no torch.nn counterpart (SimpleRNNCell, "
                    "LSTMCell and GRUCell have)",
                    label, cell->type_name()));
  }
  if (!m.own_parameters().empty())
    throw ValueError(
        fmt::format("torch names: {} has no torch.nn counterpart (mapped: Dense, Conv1D, "
                    "LayerNormalization, Embedding, SimpleRNN, LSTM, GRU)",
                    label));
  // torch.nn.Sequential names its layers by position; other containers by their children's names.
  const bool positional = dynamic_cast<const Sequential*>(&m) != nullptr;
  std::size_t index = 0;
  for (const auto& [name, child] : m.children())
    walk(*child, prefix + (positional ? std::to_string(index++) : name) + ".", out);
}

std::vector<Mapped> mapped_layers(const Module& model) {
  std::vector<Mapped> layers;
  walk(model, "", layers);
  return layers;
}

// The torch tensors of one layer, in state_dict order.
void to_torch(const Mapped& l, NamedTensors& out) {
  const auto& p = l.params;
  const std::string& at = l.prefix;
  switch (l.kind) {
    case Kind::linear:
      out.emplace_back(at + "weight", transposed(p[0]));
      out.emplace_back(at + "bias", copy(p[1]));
      return;
    case Kind::conv1d:
      out.emplace_back(at + "weight", swapped_0_2(p[0]));
      out.emplace_back(at + "bias", copy(p[1]));
      return;
    case Kind::layer_norm:
      out.emplace_back(at + "weight", copy(p[0]));
      out.emplace_back(at + "bias", copy(p[1]));
      return;
    case Kind::embedding: out.emplace_back(at + "weight", copy(p[0])); return;
    case Kind::rnn:
    case Kind::lstm:
      out.emplace_back(at + "weight_ih_l0", transposed(p[0]));
      out.emplace_back(at + "weight_hh_l0", transposed(p[1]));
      out.emplace_back(at + "bias_ih_l0", copy(p[2]));
      out.emplace_back(at + "bias_hh_l0", zeros(p[2].shape(), p[2].dtype()));
      return;
    case Kind::gru:
      out.emplace_back(at + "weight_ih_l0", first_blocks_swapped(transposed(p[0]), l.units));
      out.emplace_back(at + "weight_hh_l0", first_blocks_swapped(transposed(p[1]), l.units));
      out.emplace_back(at + "bias_ih_l0", first_blocks_swapped(row(p[2], 0), l.units));
      out.emplace_back(at + "bias_hh_l0", first_blocks_swapped(row(p[2], 1), l.units));
      return;
  }
}

}  // namespace

NamedTensors to_torch_state_dict(const Module& model) {
  NamedTensors out;
  for (const Mapped& l : mapped_layers(model)) to_torch(l, out);
  return out;
}

void load_torch_state_dict(Module& model, const NamedTensors& state, const std::string& source_name) {
  const std::string source = escape_for_message(source_name, 4096);
  const std::vector<Mapped> layers = mapped_layers(model);
  if (layers.empty())
    throw ValueError("load_torch: the model has no layer with weights (build the model before loading its weights)");
  std::map<std::string_view, const Tensor*> by_name;
  for (const auto& [name, t] : state)
    if (!by_name.emplace(name, &t).second)
      throw ValueError(fmt::format("load_torch: '{}' holds tensor '{}' twice", source, escape_for_message(name)));

  // The torch tensors the model expects, in its layout: the same conversion as saving, so the
  // expected shapes come from the model itself.
  NamedTensors expected;
  for (const Mapped& l : layers) to_torch(l, expected);
  std::map<std::string, const Tensor*> found;
  for (const auto& [name, want] : expected) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw ShapeError(
          fmt::format("load_torch: '{}' has no tensor '{}' (torch.nn names of the model: {} tensors, "
                      "the file has {})",
                      source, name, expected.size(), state.size()));
    const Tensor& t = *it->second;
    if (t.shape() != want.shape())
      throw ShapeError(fmt::format("load_torch: tensor '{}' has shape {} in '{}', the model expects {}", name,
                                   t.shape(), source, want.shape()));
    if (t.dtype() != want.dtype())
      throw DTypeError(fmt::format("load_torch: tensor '{}' is {} in '{}', the model is {}", name,
                                   dtype_name(t.dtype()), source, dtype_name(want.dtype())));
    found.emplace(name, &t);
    by_name.erase(it);
  }
  if (!by_name.empty())
    throw ShapeError(
        fmt::format("load_torch: '{}' holds tensor '{}' that no layer of the model maps ({} tensors, "
                    "the model maps {})",
                    source, escape_for_message(by_name.begin()->first), state.size(), expected.size()));

  // New values in tapegrad layout, all made before any parameter changes.
  std::vector<std::pair<Tensor, Tensor>> writes;  // parameter, value
  for (const Mapped& l : layers) {
    auto get = [&](const char* name) -> const Tensor& { return *found.at(l.prefix + name); };
    const auto& p = l.params;
    switch (l.kind) {
      case Kind::linear:
        writes.emplace_back(p[0], transposed(get("weight")));
        writes.emplace_back(p[1], get("bias"));
        break;
      case Kind::conv1d:
        writes.emplace_back(p[0], swapped_0_2(get("weight")));
        writes.emplace_back(p[1], get("bias"));
        break;
      case Kind::layer_norm:
        writes.emplace_back(p[0], get("weight"));
        writes.emplace_back(p[1], get("bias"));
        break;
      case Kind::embedding: writes.emplace_back(p[0], get("weight")); break;
      case Kind::rnn:
      case Kind::lstm:
        writes.emplace_back(p[0], transposed(get("weight_ih_l0")));
        writes.emplace_back(p[1], transposed(get("weight_hh_l0")));
        writes.emplace_back(p[2], sum(get("bias_ih_l0"), get("bias_hh_l0")));
        break;
      case Kind::gru:
        writes.emplace_back(p[0], transposed(first_blocks_swapped(get("weight_ih_l0"), l.units)));
        writes.emplace_back(p[1], transposed(first_blocks_swapped(get("weight_hh_l0"), l.units)));
        writes.emplace_back(p[2], rows(first_blocks_swapped(get("bias_ih_l0"), l.units),
                                       first_blocks_swapped(get("bias_hh_l0"), l.units)));
        break;
    }
  }
  for (auto& [param, value] : writes) {
    const std::size_t bytes = static_cast<std::size_t>(param.numel()) * dtype_size(param.dtype());
    if (bytes != 0) std::memcpy(param.raw_data(), value.raw_data(), bytes);
    param.increment_version();
  }
}

void save_torch_safetensors(const Module& model, const std::string& path) {
  write_safetensors(path, to_torch_state_dict(model), {{"format", "pt"}});
}

void load_torch_safetensors(Module& model, const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path, "load_torch");
  load_torch_safetensors_from_bytes(model, bytes, path);
}

void load_torch_safetensors_from_bytes(Module& model, std::span<const unsigned char> bytes, const std::string& source) {
  const SafetensorsContents contents = parse_safetensors(bytes, source);
  load_torch_state_dict(model, contents.tensors, source);
}

}  // namespace tg
