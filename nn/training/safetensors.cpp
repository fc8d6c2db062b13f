#include <tapegrad/nn/training/safetensors.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <tapegrad/core/bytes.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>
#include <tapegrad/core/utf8.h>

namespace tg {

namespace {

constexpr std::string_view kMetadataKey = "__metadata__";

std::string shown(std::string_view name) { return escape_for_message(name); }

// The safetensors names of the dtypes of the format; only F32 and F64 are read.
bool known_dtype(std::string_view s) {
  static constexpr std::string_view kKnown[] = {"BOOL", "U8",   "I8",      "F8_E5M2", "F8_E4M3", "I16", "U16",
                                                "F16",  "BF16", "I32",     "U32",     "F32",     "F64", "I64",
                                                "U64",  "F4",   "F6_E2M3", "F6_E3M2", "F8_E8M0", "C64"};
  return std::find(std::begin(kKnown), std::end(kKnown), s) != std::end(kKnown);
}

const char* safetensors_dtype(DType d) { return d == DType::f32 ? "F32" : "F64"; }

// ---- Writing ---------------------------------------------------------------------------------

void put_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += ch;
    }
  }
  out += '"';
}

void check_name(std::string_view name, const char* what) {
  if (!valid_utf8(name))
    throw ValueError(fmt::format("safetensors: {} '{}' is not well-formed UTF-8 (JSON needs it)", what, shown(name)));
}

// ---- Reading ---------------------------------------------------------------------------------

// One entry of the header, checked against the buffer.
struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

// A strict reader of the header's JSON, led by the format's schema: it reads exactly the values
// the format allows and nothing else, so it never builds a tree and never recurses.
class HeaderReader {
 public:
  HeaderReader(std::string_view text, const std::string& source) : s_(text), source_(source) {}

  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw IOError(fmt::format("load_safetensors: '{}' has a bad header: at byte {} of it, {}", source_, at, what));
  }

  // The character at the cursor as shown in a message.
  std::string got() const {
    if (pos_ >= s_.size()) return "the end of the header";
    const auto c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", static_cast<char>(c));
    return fmt::format("byte 0x{:02x}", c);
  }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  void expect(char c, const char* context) {
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] != c) fail(pos_, fmt::format("expected '{}' {}, got {}", c, context, got()));
    ++pos_;
  }

  // After a member or item: true for ',' (more follow), false for `close`.
  bool more(char close, const char* context) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == ',') {
      ++pos_;
      return true;
    }
    if (pos_ < s_.size() && s_[pos_] == close) {
      ++pos_;
      return false;
    }
    fail(pos_, fmt::format("expected ',' or '{}' {}, got {}", close, context, got()));
  }

  // True (and consumes it) when the next character is `c`.
  bool next_is(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  unsigned hex4(std::size_t at) {
    if (s_.size() - pos_ < 4) fail(at, "a \\u escape needs 4 hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail(at, "a \\u escape needs 4 hex digits");
    }
    return v;
  }

  std::string string(const char* context) {
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] != '"') fail(pos_, fmt::format("expected a string {}, got {}", context, got()));
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail(pos_, "a string is not closed");
      const char c = s_[pos_];
      const auto u = static_cast<unsigned char>(c);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (u < 0x20) fail(pos_, fmt::format("control byte 0x{:02x} inside a string (JSON wants it escaped)", u));
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      const std::size_t at = pos_;
      if (++pos_ >= s_.size()) fail(at, "a string ends inside an escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4(at);
          if (cp >= 0xdc00 && cp <= 0xdfff) fail(at, fmt::format("\\u{:04x} is a lone low surrogate", cp));
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              fail(at, fmt::format("\\u{:04x} is a high surrogate without its low half", cp));
            pos_ += 2;
            const unsigned lo = hex4(at);
            if (lo < 0xdc00 || lo > 0xdfff)
              fail(at, fmt::format("\\u{:04x} is a high surrogate followed by \\u{:04x}, not a low one", cp, lo));
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail(at, fmt::format("unknown escape '\\{}'", escape_for_message(std::string_view(&e, 1))));
      }
    }
  }

  // A JSON number that must be a non-negative integer of at most 2^64 - 1.
  std::uint64_t uint(const std::string& context) {
    skip_space();
    const std::size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-')
      fail(start, fmt::format("expected a non-negative integer {}, got a negative number", context));
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9')
      fail(start, fmt::format("expected a non-negative integer {}, got {}", context, got()));
    if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9')
      fail(start, fmt::format("expected a non-negative integer {}, got a number with a leading zero", context));
    std::uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      const auto d = static_cast<std::uint64_t>(s_[pos_] - '0');
      if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v))
        fail(start, fmt::format("the integer {} is larger than 2^64 - 1", context));
      ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
      fail(start, fmt::format("expected a non-negative integer {}, got a fraction or an exponent", context));
    return v;
  }

  // The whole header: {"name": entry, ..., "__metadata__": {...}}, then only spaces.
  std::vector<Entry> read(SafetensorsMetadata& metadata) {
    std::vector<Entry> entries;
    bool seen_metadata = false;
    expect('{', "at the start of the header");
    if (!next_is('}')) {
      do {
        const std::size_t key_at = (skip_space(), pos_);
        std::string key = string("as a tensor name");
        expect(':', "after a tensor name");
        if (key == kMetadataKey) {
          if (seen_metadata) fail(key_at, "\"__metadata__\" comes twice");
          seen_metadata = true;
          read_metadata(metadata);
        } else {
          Entry e = read_entry(std::move(key));
          entries.push_back(std::move(e));
        }
      } while (more('}', "after a tensor's entry"));
    }
    skip_space();
    if (pos_ != s_.size()) fail(pos_, fmt::format("expected the end of the header after its object, got {}", got()));
    return entries;
  }

  std::size_t pos() const { return pos_; }

 private:
  void read_metadata(SafetensorsMetadata& metadata) {
    expect('{', "to open \"__metadata__\" (an object of strings)");
    if (next_is('}')) return;
    do {
      const std::size_t at = (skip_space(), pos_);
      std::string key = string("as a metadata key");
      expect(':', "after a metadata key");
      std::string value = string(fmt::format("as the value of metadata '{}'", shown(key)).c_str());
      if (!metadata.emplace(key, std::move(value)).second)
        fail(at, fmt::format("metadata key '{}' comes twice", shown(key)));
    } while (more('}', "after a metadata value"));
  }

  Entry read_entry(std::string name) {
    Entry e;
    e.name = std::move(name);
    const std::string who = fmt::format("of tensor '{}'", shown(e.name));
    expect('{', fmt::format("to open the entry {}", who).c_str());
    bool has_dtype = false, has_shape = false, has_offsets = false;
    std::size_t close_at = pos_;
    if (!next_is('}')) {
      do {
        const std::size_t at = (skip_space(), pos_);
        const std::string key = string(fmt::format("as a field name {}", who).c_str());
        expect(':', "after a field name");
        if (key == "dtype") {
          if (has_dtype) fail(at, fmt::format("\"dtype\" comes twice {}", who));
          has_dtype = true;
          const std::size_t dat = (skip_space(), pos_);
          const std::string d = string(fmt::format("as the dtype {}", who).c_str());
          if (d == "F32") {
            e.dtype = DType::f32;
          } else if (d == "F64") {
            e.dtype = DType::f64;
          } else if (known_dtype(d)) {
            throw DTypeError(fmt::format("load_safetensors: '{}': tensor '{}' is {}; tapegrad reads F32 and F64",
                                         source_, shown(e.name), shown(d)));
          } else {
            fail(dat,
                 fmt::format("tensor '{}' has the unknown dtype '{}' (expected F32 or F64)", shown(e.name), shown(d)));
          }
        } else if (key == "shape") {
          if (has_shape) fail(at, fmt::format("\"shape\" comes twice {}", who));
          has_shape = true;
          expect('[', fmt::format("to open the shape {}", who).c_str());
          if (!next_is(']')) {
            do {
              const std::size_t dim_at = (skip_space(), pos_);
              const std::uint64_t d = uint(fmt::format("as a size in the shape {}", who));
              if (e.shape.rank() == kMaxRank)
                fail(dim_at, fmt::format("the shape {} has more than {} sizes", who, kMaxRank));
              if (d > static_cast<std::uint64_t>(INT64_MAX))
                fail(dim_at, fmt::format("a size in the shape {} is {}, more than 2^63 - 1", who, d));
              e.shape.push_back(static_cast<std::int64_t>(d));
            } while (more(']', fmt::format("in the shape {}", who).c_str()));
          }
        } else if (key == "data_offsets") {
          if (has_offsets) fail(at, fmt::format("\"data_offsets\" comes twice {}", who));
          has_offsets = true;
          expect('[', fmt::format("to open the data_offsets {}", who).c_str());
          e.begin = uint(fmt::format("as the begin offset {}", who));
          expect(',', fmt::format("between the two data_offsets {}", who).c_str());
          e.end = uint(fmt::format("as the end offset {}", who));
          expect(']', fmt::format("after the two data_offsets {} (exactly two: [begin, end])", who).c_str());
        } else {
          fail(at, fmt::format("unexpected field '{}' {} (expected dtype, shape and data_offsets)", shown(key), who));
        }
        close_at = pos_;
      } while (more('}', fmt::format("in the entry {}", who).c_str()));
    }
    if (!has_dtype || !has_shape || !has_offsets)
      fail(close_at, fmt::format("the entry {} lacks {}", who,
                                 !has_dtype   ? "\"dtype\""
                                 : !has_shape ? "\"shape\""
                                              : "\"data_offsets\""));
    return e;
  }

  std::string_view s_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

// Copies `bytes` of little-endian elements into t, whatever the host's order.
void copy_in(Tensor& t, const unsigned char* p) {
  const std::size_t bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
  if (bytes == 0) return;
  auto* dst = static_cast<unsigned char*>(t.raw_data());
  std::memcpy(dst, p, bytes);
  if constexpr (std::endian::native != std::endian::little) {
    const std::size_t s = dtype_size(t.dtype());
    for (std::size_t i = 0; i < bytes; i += s)
      for (std::size_t a = 0, b = s - 1; a < b; ++a, --b) std::swap(dst[i + a], dst[i + b]);
  }
}

}  // namespace

std::vector<unsigned char> safetensors_bytes(const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      check_name(k, "metadata key");
      check_name(v, "metadata value");
      if (!first) header += ',';
      first = false;
      put_json_string(header, k);
      header += ':';
      put_json_string(header, v);
    }
    header += '}';
    first = false;
  }
  std::vector<std::string_view> names;
  names.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    check_name(name, "tensor name");
    if (name == kMetadataKey) throw ValueError("safetensors: a tensor cannot be named \"__metadata__\"");
    if (!t.defined()) throw ValueError(fmt::format("safetensors: tensor '{}' is undefined", shown(name)));
    names.push_back(name);
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype());
    if (!first) header += ',';
    first = false;
    put_json_string(header, name);
    header += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", safetensors_dtype(t.dtype()),
                          fmt::join(t.shape().dims(), ","), offset, offset + bytes);
    offset += bytes;
  }
  std::sort(names.begin(), names.end());
  if (auto d = std::adjacent_find(names.begin(), names.end()); d != names.end())
    throw ValueError(fmt::format("safetensors: tensor name '{}' comes twice", shown(*d)));
  header += '}';
  while ((8 + header.size()) % 8 != 0) header += ' ';

  std::vector<unsigned char> out;
  out.reserve(8 + header.size() + static_cast<std::size_t>(offset));
  put_uint(out, header.size(), 8);
  out.insert(out.end(), header.begin(), header.end());
  for (const auto& [name, t] : tensors) {
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
    const std::size_t at = out.size();
    out.resize(at + bytes);
    if (bytes == 0) continue;
    std::memcpy(out.data() + at, t.raw_data(), bytes);
    if constexpr (std::endian::native != std::endian::little) {
      const std::size_t s = dtype_size(t.dtype());
      for (std::size_t i = at; i < at + bytes; i += s)
        for (std::size_t a = 0, b = s - 1; a < b; ++a, --b) std::swap(out[i + a], out[i + b]);
    }
  }
  return out;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  if (path.empty()) throw IOError("save_safetensors: the path is empty");
  write_file_atomic(path, safetensors_bytes(tensors, metadata), "save_safetensors");
}

SafetensorsContents read_safetensors(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path, "load_safetensors");
  return parse_safetensors(bytes, path);
}

SafetensorsContents parse_safetensors(std::span<const unsigned char> bytes, const std::string& source_name) {
  const std::string source = escape_for_message(source_name, 4096);
  if (bytes.size() < 8)
    throw IOError(
        fmt::format("load_safetensors: '{}' is not a safetensors file: {} bytes, the header length alone "
                    "takes 8",
                    source, bytes.size()));
  const std::uint64_t n = get_uint(bytes.data(), 8);
  const std::uint64_t after = bytes.size() - 8;
  if (n > after)
    throw IOError(
        fmt::format("load_safetensors: '{}' is truncated or not a safetensors file: its header length is "
                    "{} bytes, only {} bytes follow it",
                    source, n, after));
  if (n > kMaxSafetensorsHeader)
    throw IOError(fmt::format("load_safetensors: '{}' claims a header of {} bytes, at most {} are read", source, n,
                              kMaxSafetensorsHeader));
  if (n < 2)
    throw IOError(
        fmt::format("load_safetensors: '{}' has a header of {} bytes, too short for a JSON object ({{}})", source, n));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(n));
  if (!valid_utf8(text))
    throw IOError(fmt::format("load_safetensors: '{}' has a bad header: it is not well-formed UTF-8", source));

  SafetensorsContents out;
  HeaderReader reader(text, source);
  std::vector<Entry> entries = reader.read(out.metadata);

  const std::uint64_t buffer = after - n;
  const unsigned char* data = bytes.data() + 8 + n;
  {
    std::vector<std::string_view> names;
    names.reserve(entries.size());
    for (const Entry& e : entries) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    if (auto d = std::adjacent_find(names.begin(), names.end()); d != names.end())
      throw IOError(fmt::format("load_safetensors: '{}' is corrupt: tensor name '{}' comes twice in its header", source,
                                shown(*d)));
  }
  for (const Entry& e : entries) {
    if (e.begin > e.end)
      throw IOError(
          fmt::format("load_safetensors: '{}' is corrupt: tensor '{}' has data_offsets [{}, {}], begin "
                      "after end",
                      source, shown(e.name), e.begin, e.end));
    if (e.end > buffer)
      throw IOError(
          fmt::format("load_safetensors: '{}' is truncated or corrupt: tensor '{}' has data_offsets [{}, "
                      "{}], the buffer holds {} bytes",
                      source, shown(e.name), e.begin, e.end, buffer));
    std::int64_t numel = 0;
    try {
      numel = e.shape.checked_numel(dtype_size(e.dtype), "load_safetensors");
    } catch (const ShapeError&) {
      throw IOError(
          fmt::format("load_safetensors: '{}' is corrupt: tensor '{}' of shape {} has more than 2^63 - 1 "
                      "bytes",
                      source, shown(e.name), e.shape));
    }
    const std::uint64_t need = static_cast<std::uint64_t>(numel) * dtype_size(e.dtype);
    if (need != e.end - e.begin)
      throw IOError(fmt::format(
          "load_safetensors: '{}' is corrupt: tensor '{}' of dtype {} and shape {} needs {} "
          "bytes, its data_offsets [{}, {}] hold {}",
          source, shown(e.name), safetensors_dtype(e.dtype), e.shape, need, e.begin, e.end, e.end - e.begin));
  }
  // By offsets, then name (names are unique): one order without std::stable_sort, whose
  // temporary buffer libstdc++ 12 allocates and frees in a way AddressSanitizer reports as an
  // alloc-dealloc mismatch.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  std::uint64_t at = 0;
  for (const Entry& e : entries) {
    if (e.begin < at)
      throw IOError(
          fmt::format("load_safetensors: '{}' is corrupt: tensor '{}' at [{}, {}] overlaps the tensor "
                      "before it, which ends at {}",
                      source, shown(e.name), e.begin, e.end, at));
    if (e.begin > at)
      throw IOError(
          fmt::format("load_safetensors: '{}' is corrupt: bytes [{}, {}) of the buffer belong to no "
                      "tensor (tensor '{}' begins at {}, expected {})",
                      source, at, e.begin, shown(e.name), e.begin, at));
    at = e.end;
  }
  if (at != buffer)
    throw IOError(
        fmt::format("load_safetensors: '{}' is corrupt: its tensors end at byte {} of the buffer, the "
                    "buffer holds {} bytes",
                    source, at, buffer));

  out.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, "load_safetensors");
    copy_in(t, data + e.begin);
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

void assign_named_parameters(Module& model, const NamedTensors& tensors, const std::string& who,
                             const std::string& source_name) {
  const std::string source = escape_for_message(source_name, 4096);
  auto params = model.named_parameters();
  if (params.empty())
    throw ShapeError(fmt::format("{}: the model has no parameters (build the model before loading its weights)", who));
  std::map<std::string_view, const Tensor*> by_name;
  for (const auto& [name, t] : tensors)
    if (!by_name.emplace(name, &t).second)
      throw ValueError(fmt::format("{}: '{}' holds tensor '{}' twice", who, source, shown(name)));
  std::vector<const Tensor*> sources;
  sources.reserve(params.size());
  for (const auto& [name, p] : params) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw ShapeError(fmt::format("{}: '{}' has no tensor '{}' (the model's parameter {} of {})", who, source,
                                   shown(name), sources.size() + 1, params.size()));
    const Tensor& t = *it->second;
    if (t.shape() != p.shape())
      throw ShapeError(fmt::format("{}: parameter '{}' has shape {} in '{}', {} in the model", who, shown(name),
                                   t.shape(), source, p.shape()));
    if (t.dtype() != p.dtype())
      throw DTypeError(fmt::format("{}: parameter '{}' is {} in '{}', {} in the model", who, shown(name),
                                   dtype_name(t.dtype()), source, dtype_name(p.dtype())));
    sources.push_back(&t);
    by_name.erase(it);
  }
  if (!by_name.empty())
    throw ShapeError(
        fmt::format("{}: '{}' holds tensor '{}' that the model has no parameter for ({} tensors, {} "
                    "parameters)",
                    who, source, shown(by_name.begin()->first), tensors.size(), params.size()));
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor& p = params[i].second;
    const std::size_t bytes = static_cast<std::size_t>(p.numel()) * dtype_size(p.dtype());
    if (bytes != 0) std::memcpy(p.raw_data(), sources[i]->raw_data(), bytes);
    p.increment_version();
  }
}

void save_safetensors(const Module& model, const std::string& path) {
  write_safetensors(path, model.named_parameters(), {{"format", "tapegrad"}});
}

void load_safetensors(Module& model, const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path, "load_safetensors");
  load_safetensors_from_bytes(model, bytes, path);
}

void load_safetensors_from_bytes(Module& model, std::span<const unsigned char> bytes, const std::string& source) {
  const SafetensorsContents contents = parse_safetensors(bytes, source);
  assign_named_parameters(model, contents.tensors, "load_safetensors", source);
}

}  // namespace tg
