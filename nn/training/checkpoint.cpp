#include <tapegrad/nn/training/checkpoint.h>

#include <bit>
#include <cstring>
#include <map>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/bytes.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>
#include <tapegrad/core/random.h>
#include <tapegrad/core/tape.h>
#include <tapegrad/nn/training/batches.h>

namespace tg {

static_assert(std::endian::native == std::endian::little, "checkpoints are written on little-endian hosts");

namespace {

constexpr char kMagic[4] = {'T', 'G', 'C', '1'};
constexpr std::uint32_t kVersion = 1;
enum Kind : std::uint8_t { kTensor = 0, kDouble = 1, kInt = 2, kString = 3, kInts = 4 };

class Writer {
 public:
  void uint(std::uint64_t v, int bytes) { put_uint(out_, v, bytes); }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void name(const std::string& n, Kind kind) {
    uint(n.size(), 4);
    raw(n.data(), n.size());
    uint(kind, 1);
    ++count_;
  }
  void tensor(const std::string& n, const Tensor& t) {
    name(n, kTensor);
    uint(t.dtype() == DType::f32 ? 0 : 1, 1);
    uint(static_cast<std::uint64_t>(t.rank()), 1);
    for (int d = 0; d < t.rank(); ++d) uint(static_cast<std::uint64_t>(t.size(d)), 8);
    raw(t.raw_data(), static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()));
  }
  void real(const std::string& n, double v) {
    name(n, kDouble);
    uint(std::bit_cast<std::uint64_t>(v), 8);
  }
  void integer(const std::string& n, std::int64_t v) {
    name(n, kInt);
    uint(static_cast<std::uint64_t>(v), 8);
  }
  void integers(const std::string& n, std::span<const std::int64_t> v) {
    name(n, kInts);
    uint(v.size(), 8);
    for (std::int64_t e : v) uint(static_cast<std::uint64_t>(e), 8);
  }
  void text(const std::string& n, const std::string& s) {
    name(n, kString);
    uint(s.size(), 8);
    raw(s.data(), s.size());
  }
  std::vector<unsigned char> finish() {
    std::vector<unsigned char> file(kMagic, kMagic + 4);
    for (std::uint32_t v : {kVersion, count_}) put_uint(file, v, 4);
    file.insert(file.end(), out_.begin(), out_.end());
    const std::uint64_t sum = fnv1a64(file.data(), file.size());
    put_uint(file, sum, 8);
    return file;
  }

 private:
  std::vector<unsigned char> out_;
  std::uint32_t count_ = 0;
};

using Value = std::variant<Tensor, double, std::int64_t, std::string, std::vector<std::int64_t>>;

// Bounds-checked reading; every failure names the file and the offset.
class Reader {
 public:
  Reader(std::span<const unsigned char> bytes, std::size_t end, const std::string& path)
      : bytes_(bytes), end_(end), path_(path) {}
  const unsigned char* take(std::size_t n, const char* what) {
    if (n > end_ - pos_)
      throw IOError(
          fmt::format("load_checkpoint: '{}' is truncated or corrupt: {} needs {} bytes at offset {}, only {} remain",
                      path_, what, n, pos_, end_ - pos_));
    const unsigned char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::uint64_t uint(int bytes, const char* what) {
    return get_uint(take(static_cast<std::size_t>(bytes), what), bytes);
  }
  std::size_t pos() const { return pos_; }

 private:
  std::span<const unsigned char> bytes_;
  std::size_t end_, pos_ = 0;
  const std::string& path_;
};

std::map<std::string, Value> parse(std::span<const unsigned char> bytes, const std::string& path) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0)
    throw IOError(fmt::format(
        "load_checkpoint: '{}' is not a tapegrad checkpoint ({} bytes, expected the magic \"TGC1\" at its start)", path,
        bytes.size()));
  if (bytes.size() < 4 + 4 + 4 + 8)
    throw IOError(fmt::format("load_checkpoint: '{}' is truncated ({} bytes)", path, bytes.size()));
  const std::size_t body = bytes.size() - 8;
  Reader r(bytes, body, path);
  r.take(4, "the magic");
  const auto version = r.uint(4, "the version");
  if (version != kVersion)
    throw IOError(fmt::format("load_checkpoint: '{}' has format version {}; this tapegrad reads version {}", path,
                              version, kVersion));
  if (get_uint(bytes.data() + body, 8) != fnv1a64(bytes.data(), body))
    throw IOError(fmt::format("load_checkpoint: '{}' fails its checksum (the file is corrupt)", path));
  const auto count = r.uint(4, "the entry count");
  if (count > (body - r.pos()) / 6)
    throw IOError(fmt::format("load_checkpoint: '{}' claims {} entries, more than its {} bytes can hold", path, count,
                              bytes.size()));
  std::map<std::string, Value> entries;
  for (std::uint64_t e = 0; e < count; ++e) {
    const auto len = r.uint(4, "an entry's name length");
    const auto* p = r.take(len, "an entry's name");
    std::string name(reinterpret_cast<const char*>(p), len);
    const auto kind = r.uint(1, "an entry's kind");
    Value v;
    if (kind == kTensor) {
      const auto dt = r.uint(1, "a dtype");
      const auto rank = r.uint(1, "a rank");
      if (dt > 1 || rank > static_cast<std::uint64_t>(kMaxRank))
        throw IOError(
            fmt::format("load_checkpoint: '{}': entry '{}' has dtype code {} and rank {} (expected 0 or 1, "
                        "and at most {})",
                        path, escape_for_message(name), dt, rank, kMaxRank));
      Shape shape;
      for (std::uint64_t d = 0; d < rank; ++d) {
        const auto size = r.uint(8, "a dimension");
        if (size > (std::uint64_t{1} << 62))
          throw IOError(fmt::format("load_checkpoint: '{}': entry '{}' has a dimension of {}", path,
                                    escape_for_message(name), size));
        shape.push_back(static_cast<std::int64_t>(size));
      }
      const DType dtype = dt == 0 ? DType::f32 : DType::f64;
      std::uint64_t elements = 1;
      for (int d = 0; d < shape.rank(); ++d) {
        const auto s = static_cast<std::uint64_t>(shape[d]);
        if (s != 0 && elements > (body - r.pos()) / s)
          throw IOError(fmt::format("load_checkpoint: '{}': entry '{}' of shape {} is larger than the file", path,
                                    escape_for_message(name), shape));
        elements *= s;
      }
      const std::size_t n = static_cast<std::size_t>(elements) * dtype_size(dtype);
      const auto* data = r.take(n, "a tensor's elements");
      Tensor t = Tensor::empty(shape, dtype);
      std::memcpy(t.raw_data(), data, n);
      v = t;
    } else if (kind == kDouble) {
      v = std::bit_cast<double>(r.uint(8, "a float64"));
    } else if (kind == kInt) {
      v = static_cast<std::int64_t>(r.uint(8, "an integer"));
    } else if (kind == kString) {
      const auto n = r.uint(8, "a string's length");
      const auto* s = r.take(n, "a string");
      v = std::string(reinterpret_cast<const char*>(s), n);
    } else if (kind == kInts) {
      const auto n = r.uint(8, "a list's length");
      if (n > (body - r.pos()) / 8)
        throw IOError(fmt::format("load_checkpoint: '{}': entry '{}' claims {} integers, more than the file holds",
                                  path, escape_for_message(name), n));
      std::vector<std::int64_t> list(static_cast<std::size_t>(n));
      for (auto& e : list) e = static_cast<std::int64_t>(r.uint(8, "an integer"));
      v = std::move(list);
    } else {
      throw IOError(fmt::format("load_checkpoint: '{}': entry '{}' has the unknown kind {}", path,
                                escape_for_message(name), kind));
    }
    if (!entries.emplace(std::move(name), std::move(v)).second)
      throw IOError(fmt::format("load_checkpoint: '{}' holds two entries named '{}'", path, escape_for_message(name)));
  }
  if (r.pos() != body)
    throw IOError(fmt::format("load_checkpoint: '{}' has {} bytes after its last entry", path, body - r.pos()));
  return entries;
}

template <class T>
const T& get(const std::map<std::string, Value>& entries, const std::string& name, const std::string& path) {
  auto it = entries.find(name);
  if (it == entries.end())
    throw ValueError(fmt::format("load_checkpoint: '{}' has no entry '{}'", path, escape_for_message(name)));
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw IOError(fmt::format("load_checkpoint: '{}': entry '{}' is of the wrong kind", path, name));
  return *v;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

void save_checkpoint(const std::string& path, const TrainingContext& context, int epochs_done) {
  if (!context.model || !context.optimizer)
    throw ValueError("save_checkpoint: the training context needs a model and an optimizer");
  NoGradGuard no_grad;
  Writer w;
  w.integer("epochs_done", epochs_done);
  for (const auto& [name, p] : context.model->named_parameters()) w.tensor("model." + name, p);
  const OptimizerStateDict opt = context.optimizer->state_dict();
  w.text("optimizer", opt.optimizer);
  for (const auto& [name, t] : opt.tensors) w.tensor("optimizer.tensor." + name, t);
  for (const auto& [name, v] : opt.counters) w.integer("optimizer.counter." + name, v);
  for (const auto& [name, v] : opt.values) w.real("optimizer.value." + name, v);
  if (context.generator) w.text("generator", context.generator->state());
  w.text("default_generator", default_generator().state());
  if (context.plan) w.integers("plan.order", context.plan->order());
  w.integer("callbacks", static_cast<std::int64_t>(context.callbacks.size()));
  for (std::size_t i = 0; i < context.callbacks.size(); ++i) {
    const Callback& c = *context.callbacks[i];
    const std::string key = fmt::format("callback.{}", i);
    w.text(key, c.name());
    CallbackState state;
    c.save_state(state);
    for (const auto& [k, v] : state.values) w.real(key + ".value." + k, v);
    for (const auto& [k, t] : state.tensors) w.tensor(key + ".tensor." + k, t);
  }
  write_file_atomic(path, w.finish(), "save_checkpoint");
}

int load_checkpoint(const std::string& path, const TrainingContext& context) {
  if (!context.model || !context.optimizer)
    throw ValueError("load_checkpoint: the training context needs a model and an optimizer");
  const std::string shown = escape_for_message(path);
  const std::vector<unsigned char> bytes = read_file(path, "load_checkpoint");
  const std::map<std::string, Value> entries = parse(bytes, shown);

  // Everything is checked before anything changes.
  const std::int64_t epochs_done = get<std::int64_t>(entries, "epochs_done", shown);
  if (epochs_done < 0 || epochs_done > 1'000'000'000)
    throw IOError(fmt::format("load_checkpoint: '{}' holds {} epochs done", shown, epochs_done));
  const auto named = context.model->named_parameters();
  std::size_t in_file = 0;
  for (const auto& [name, value] : entries) in_file += starts_with(name, "model.") ? 1 : 0;
  if (in_file != named.size())
    throw ShapeError(
        fmt::format("load_checkpoint: '{}' holds {} parameters, the model has {}", shown, in_file, named.size()));
  for (const auto& [name, p] : named) {
    const Tensor& t = get<Tensor>(entries, "model." + name, shown);
    if (t.shape() != p.shape())
      throw ShapeError(fmt::format("load_checkpoint: '{}': parameter '{}' is {} in the file, {} in the model", shown,
                                   name, t.shape(), p.shape()));
    if (t.dtype() != p.dtype())
      throw DTypeError(fmt::format("load_checkpoint: '{}': parameter '{}' is {} in the file, {} in the model", shown,
                                   name, dtype_name(t.dtype()), dtype_name(p.dtype())));
  }
  OptimizerStateDict opt;
  opt.optimizer = get<std::string>(entries, "optimizer", shown);
  for (const auto& [name, value] : entries) {
    if (starts_with(name, "optimizer.tensor."))
      opt.tensors.emplace_back(name.substr(17), std::get<Tensor>(value));
    else if (starts_with(name, "optimizer.counter."))
      opt.counters.emplace_back(name.substr(18), std::get<std::int64_t>(value));
    else if (starts_with(name, "optimizer.value."))
      opt.values.emplace_back(name.substr(16), std::get<double>(value));
  }
  const std::int64_t n_callbacks = get<std::int64_t>(entries, "callbacks", shown);
  if (n_callbacks != static_cast<std::int64_t>(context.callbacks.size()))
    throw ValueError(fmt::format("load_checkpoint: '{}' was saved with {} callbacks, this training has {}", shown,
                                 n_callbacks, context.callbacks.size()));
  std::vector<CallbackState> states(context.callbacks.size());
  for (std::size_t i = 0; i < context.callbacks.size(); ++i) {
    const std::string key = fmt::format("callback.{}", i);
    const std::string& saved = get<std::string>(entries, key, shown);
    if (saved != context.callbacks[i]->name())
      throw ValueError(fmt::format("load_checkpoint: '{}': callback {} was a {} when saved, it is a {} here", shown, i,
                                   escape_for_message(saved), context.callbacks[i]->name()));
    for (const auto& [name, value] : entries) {
      if (starts_with(name, key + ".value."))
        states[i].values[name.substr(key.size() + 7)] = std::get<double>(value);
      else if (starts_with(name, key + ".tensor."))
        states[i].tensors[name.substr(key.size() + 8)] = std::get<Tensor>(value);
    }
  }
  Generator probe;
  const std::string* generator_state = nullptr;
  if (context.generator && entries.count("generator")) {
    generator_state = &get<std::string>(entries, "generator", shown);
    probe.set_state(*generator_state);
  }
  const std::string& default_state = get<std::string>(entries, "default_generator", shown);
  probe.set_state(default_state);
  const std::vector<std::int64_t>* order = nullptr;
  if (context.plan && entries.count("plan.order")) {
    order = &get<std::vector<std::int64_t>>(entries, "plan.order", shown);
    BatchPlan(static_cast<std::int64_t>(order->size()), 1).set_order(*order);  // a permutation?
    if (static_cast<std::int64_t>(order->size()) != static_cast<std::int64_t>(context.plan->order().size()))
      throw ValueError(fmt::format("load_checkpoint: '{}' was saved training on {} samples, this training has {}",
                                   shown, order->size(), context.plan->order().size()));
  }

  // The optimizer checks its own entries before changing anything.
  context.optimizer->load_state_dict(opt);
  {
    NoGradGuard no_grad;
    for (const auto& [name, p] : named) Tensor(p).copy_from(get<Tensor>(entries, "model." + name, shown));
  }
  default_generator().set_state(default_state);
  if (generator_state) context.generator->set_state(*generator_state);
  if (order) context.plan->set_order(*order);
  for (std::size_t i = 0; i < context.callbacks.size(); ++i) context.callbacks[i]->load_state(states[i]);
  return static_cast<int>(epochs_done);
}

}  // namespace tg
