#include <tapegrad/nn/training/serialize.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/bytes.h>
#include <tapegrad/core/file_io.h>

namespace tg {

namespace {

constexpr char kMagic[4] = {'T', 'G', 'W', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kChecksumBytes = 8;
// The smallest record: a name length, an empty name, a dtype and a rank of 0.
constexpr std::size_t kMinRecordBytes = 4 + 1 + 1;

// A name read from a file, safe to put in a message.
std::string shown(std::string_view name) { return escape_for_message(name); }

// Elements in little-endian order, whatever the host's.
void put_elements(std::vector<unsigned char>& out, const Tensor& t) {
  const auto bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
  const std::size_t at = out.size();
  out.resize(at + bytes);
  std::memcpy(out.data() + at, t.raw_data(), bytes);
  if constexpr (std::endian::native != std::endian::little) {
    const std::size_t s = dtype_size(t.dtype());
    for (std::size_t i = at; i < at + bytes; i += s)
      for (std::size_t a = 0, b = s - 1; a < b; ++a, --b) std::swap(out[i + a], out[i + b]);
  }
}

void get_elements(Tensor& t, const unsigned char* p) {
  const auto bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
  auto* dst = static_cast<unsigned char*>(t.raw_data());
  std::memcpy(dst, p, bytes);
  t.increment_version();
  if constexpr (std::endian::native != std::endian::little) {
    const std::size_t s = dtype_size(t.dtype());
    for (std::size_t i = 0; i < bytes; i += s)
      for (std::size_t a = 0, b = s - 1; a < b; ++a, --b) std::swap(dst[i + a], dst[i + b]);
  }
}

// One parameter record as read from a file (data points into the file's bytes).
struct Record {
  std::string name;
  DType dtype;
  Shape shape;
  const unsigned char* data;
};

// Bounds-checked reading of the file's bytes; every failure names the file and the offset.
class Reader {
 public:
  Reader(std::span<const unsigned char> bytes, std::size_t end, const std::string& path)
      : bytes_(bytes), end_(end), path_(path) {}

  const unsigned char* take(std::size_t n, const char* what) {
    if (n > end_ - pos_)
      throw IOError(
          fmt::format("load_weights: '{}' is truncated or corrupt: {} needs {} bytes at offset {}, only {} remain",
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
  std::size_t end_;
  std::size_t pos_ = 0;
  const std::string& path_;
};

// `path` is the source's name as shown in messages (escaped by the caller).
std::vector<Record> parse(std::span<const unsigned char> bytes, const std::string& path) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw IOError(
        fmt::format("load_weights: '{}' is not a tapegrad weights file ({} bytes, expected the magic "
                    "\"TGW1\" at its start)",
                    path, bytes.size()));
  if (bytes.size() < 8)
    throw IOError(fmt::format("load_weights: '{}' is truncated: {} bytes, no version", path, bytes.size()));
  const auto version = static_cast<std::uint32_t>(get_uint(bytes.data() + 4, 4));
  if (version != kVersion)
    throw IOError(
        fmt::format("load_weights: '{}' has format version {}, this build reads version {}", path, version, kVersion));
  if (bytes.size() < 12 + kChecksumBytes)
    throw IOError(fmt::format("load_weights: '{}' is truncated: {} bytes, a weights file has at least {}", path,
                              bytes.size(), 12 + kChecksumBytes));
  const std::size_t body = bytes.size() - kChecksumBytes;
  Reader in(bytes, body, path);
  in.take(8, "the header");
  const std::uint64_t count = in.uint(4, "the parameter count");
  // Checked before anything is allocated for the records.
  if (count > (body - in.pos()) / kMinRecordBytes)
    throw IOError(
        fmt::format("load_weights: '{}' is truncated or corrupt: its header claims {} parameters, the {} "
                    "bytes after it hold at most {}",
                    path, count, body - in.pos(), (body - in.pos()) / kMinRecordBytes));
  std::vector<Record> records;
  records.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    Record r;
    const std::uint64_t name_len = in.uint(4, "a name length");
    const unsigned char* name = in.take(name_len, "a parameter name");
    r.name.assign(reinterpret_cast<const char*>(name), name_len);
    const std::uint64_t dtype = in.uint(1, "a dtype");
    if (dtype > 1)
      throw IOError(fmt::format("load_weights: '{}' is corrupt: parameter '{}' has dtype code {} (expected 0 or 1)",
                                path, shown(r.name), dtype));
    r.dtype = dtype == 0 ? DType::f32 : DType::f64;
    const std::uint64_t rank = in.uint(1, "a rank");
    if (rank > static_cast<std::uint64_t>(kMaxRank))
      throw IOError(fmt::format("load_weights: '{}' is corrupt: parameter '{}' has rank {} (at most {})", path,
                                shown(r.name), rank, kMaxRank));
    // The element count is bounded by the bytes left, so a corrupt dim cannot overflow it.
    std::uint64_t numel = 1;
    const std::uint64_t limit = body;
    for (std::uint64_t d = 0; d < rank; ++d) {
      const auto dim = static_cast<std::int64_t>(in.uint(8, "a dimension"));
      if (dim < 0 || (dim > 0 && numel > limit / static_cast<std::uint64_t>(dim)))
        throw IOError(fmt::format("load_weights: '{}' is corrupt: parameter '{}' has dimension {} = {}", path,
                                  shown(r.name), d, dim));
      numel *= static_cast<std::uint64_t>(dim);
      r.shape.push_back(dim);
    }
    if (numel > limit / dtype_size(r.dtype))
      throw IOError(
          fmt::format("load_weights: '{}' is truncated or corrupt: parameter '{}' of shape {} is larger "
                      "than the file",
                      path, shown(r.name), r.shape));
    r.data = in.take(numel * dtype_size(r.dtype), "parameter data");
    records.push_back(std::move(r));
  }
  if (in.pos() != body)
    throw IOError(fmt::format("load_weights: '{}' is corrupt: {} unexpected bytes after the last parameter", path,
                              body - in.pos()));
  const std::uint64_t stored = get_uint(bytes.data() + body, 8);
  const std::uint64_t computed = fnv1a64(bytes.data(), body);
  if (stored != computed)
    throw IOError(fmt::format("load_weights: '{}' is corrupt: checksum {:016x} in the file, {:016x} computed", path,
                              stored, computed));
  return records;
}

}  // namespace

std::vector<unsigned char> weights_to_bytes(const Module& model) {
  std::vector<unsigned char> out(kMagic, kMagic + sizeof kMagic);
  put_uint(out, kVersion, 4);
  const auto params = model.named_parameters();
  put_uint(out, params.size(), 4);
  for (const auto& [name, p] : params) {
    put_uint(out, name.size(), 4);
    out.insert(out.end(), name.begin(), name.end());
    put_uint(out, p.dtype() == DType::f32 ? 0 : 1, 1);
    put_uint(out, static_cast<std::uint64_t>(p.rank()), 1);
    for (std::int64_t d : p.shape()) put_uint(out, static_cast<std::uint64_t>(d), 8);
    put_elements(out, p);
  }
  put_uint(out, fnv1a64(out.data(), out.size()), 8);
  return out;
}

void save_weights(const Module& model, const std::string& path) {
  if (path.empty()) throw IOError("save_weights: the path is empty");
  write_file_atomic(path, weights_to_bytes(model), "save_weights");
}

void load_weights(Module& model, const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path, "load_weights");
  load_weights_from_bytes(model, bytes, path);
}

void load_weights_from_bytes(Module& model, std::span<const unsigned char> bytes, const std::string& source) {
  const std::string path = escape_for_message(source, 4096);
  const std::vector<Record> records = parse(bytes, path);
  auto params = model.named_parameters();
  if (records.size() != params.size()) {
    std::string hint = params.empty() ? " (build the model before loading its weights)" : "";
    throw ShapeError(fmt::format("load_weights: '{}' holds {} parameters, the model has {}{}", path, records.size(),
                                 params.size(), hint));
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    const auto& [name, p] = params[i];
    if (r.name != name)
      throw ShapeError(fmt::format("load_weights: parameter {} is '{}' in the file, '{}' in the model", i,
                                   shown(r.name), shown(name)));
    if (r.shape != p.shape())
      throw ShapeError(fmt::format("load_weights: parameter '{}' has shape {} in the file, {} in the model", name,
                                   r.shape, p.shape()));
    if (r.dtype != p.dtype())
      throw DTypeError(fmt::format("load_weights: parameter '{}' is {} in the file, {} in the model", name,
                                   dtype_name(r.dtype), dtype_name(p.dtype())));
  }
  for (std::size_t i = 0; i < records.size(); ++i) get_elements(params[i].second, records[i].data);
}

}  // namespace tg
