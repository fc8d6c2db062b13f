#include <tapegrad/core/json.h>

#include <charconv>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/core/utf8.h>

namespace tg {

const char* Json::kind_name(Kind kind) {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::boolean: return "boolean";
    case Kind::integer: return "integer";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::array: return "array";
    case Kind::object: return "object";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_kind(Json::Kind want, Json::Kind got) {
  throw ValueError(fmt::format("json: expected {}, got {}", Json::kind_name(want), Json::kind_name(got)));
}
}  // namespace

bool Json::as_bool() const {
  if (kind() != Kind::boolean) wrong_kind(Kind::boolean, kind());
  return std::get<bool>(value_);
}

std::int64_t Json::as_int() const {
  if (kind() != Kind::integer) wrong_kind(Kind::integer, kind());
  return std::get<std::int64_t>(value_);
}

double Json::as_double() const {
  if (kind() == Kind::integer) return static_cast<double>(std::get<std::int64_t>(value_));
  if (kind() != Kind::number) wrong_kind(Kind::number, kind());
  return std::get<double>(value_);
}

const std::string& Json::as_string() const {
  if (kind() != Kind::string) wrong_kind(Kind::string, kind());
  return std::get<std::string>(value_);
}

const Json::Array& Json::as_array() const {
  if (kind() != Kind::array) wrong_kind(Kind::array, kind());
  return std::get<Array>(value_);
}

const Json::Object& Json::as_object() const {
  if (kind() != Kind::object) wrong_kind(Kind::object, kind());
  return std::get<Object>(value_);
}

Json& Json::set(std::string key, Json value) {
  if (kind() != Kind::object) wrong_kind(Kind::object, kind());
  for (auto& [k, v] : std::get<Object>(value_))
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  std::get<Object>(value_).emplace_back(std::move(key), std::move(value));
  return *this;
}

const Json* Json::find(std::string_view key) const {
  if (kind() != Kind::object) return nullptr;
  for (const auto& [k, v] : std::get<Object>(value_))
    if (k == key) return &v;
  return nullptr;
}

// ---- writer -----------------------------------------------------------------------------------

namespace {
void dump_string(const std::string& s, std::string& out) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += ch;
    }
  }
  out += '"';
}

void dump_value(const Json& v, std::string& out) {
  switch (v.kind()) {
    case Json::Kind::null: out += "null"; break;
    case Json::Kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case Json::Kind::integer: out += std::to_string(v.as_int()); break;
    case Json::Kind::number: {
      const double d = v.as_double();
      if (!std::isfinite(d)) throw ValueError(fmt::format("json: {} has no JSON form", d));
      std::string s = fmt::format("{}", d);  // the shortest text that reads back to d
      // Keep it a number, not an integer, when read back.
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      out += s;
      break;
    }
    case Json::Kind::string: dump_string(v.as_string(), out); break;
    case Json::Kind::array: {
      out += '[';
      bool first = true;
      for (const Json& item : v.as_array()) {
        if (!first) out += ',';
        first = false;
        dump_value(item, out);
      }
      out += ']';
      break;
    }
    case Json::Kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.as_object()) {
        if (!first) out += ',';
        first = false;
        dump_string(k, out);
        out += ':';
        dump_value(item, out);
      }
      out += '}';
      break;
    }
  }
}
}  // namespace

std::string Json::dump() const {
  std::string out;
  dump_value(*this, out);
  return out;
}

// ---- reader -----------------------------------------------------------------------------------

namespace {
constexpr int kMaxDepth = 64;

class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  Json document() {
    skip_space();
    Json v = value(0);
    skip_space();
    if (i_ != s_.size()) fail("unexpected text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    const std::string_view near = s_.substr(i_ < s_.size() ? i_ : s_.size(), 16);
    throw ValueError(fmt::format("json: {} at byte {} (found '{}')", what, i_, escape_for_message(near, 16)));
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  void expect(char c) {
    if (i_ >= s_.size() || s_[i_] != c) fail(fmt::format("expected '{}'", c));
    ++i_;
  }

  Json value(int depth) {
    if (depth >= kMaxDepth) fail(fmt::format("values nested deeper than {} levels", kMaxDepth));
    if (i_ >= s_.size()) fail("unexpected end of text");
    const char c = s_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Json(string());
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (eat("true")) return Json(true);
    if (eat("false")) return Json(false);
    if (eat("null")) return Json();
    fail("expected a value");
  }

  Json object(int depth) {
    expect('{');
    Json::Object members;
    skip_space();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return Json(std::move(members));
    }
    while (true) {
      skip_space();
      if (i_ >= s_.size() || s_[i_] != '"') fail("expected a member name in quotes");
      const std::size_t at = i_;
      std::string key = string();
      for (const auto& [k, v] : members)
        if (k == key) {
          i_ = at;
          fail("duplicate member name");
        }
      skip_space();
      expect(':');
      skip_space();
      Json v = value(depth + 1);
      members.emplace_back(std::move(key), std::move(v));
      skip_space();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      expect('}');
      return Json(std::move(members));
    }
  }

  Json array(int depth) {
    expect('[');
    Json::Array items;
    skip_space();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return Json(std::move(items));
    }
    while (true) {
      skip_space();
      items.push_back(value(depth + 1));
      skip_space();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      expect(']');
      return Json(std::move(items));
    }
  }

  unsigned hex4() {
    if (s_.size() - i_ < 4) fail("a \\u escape needs 4 hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else {
        --i_;
        fail("a \\u escape needs 4 hex digits");
      }
    }
    return v;
  }

  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("a control character inside a string");
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) fail("unterminated string");
        const char e = s_[i_++];
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
            unsigned cp = hex4();
            if (cp >= 0xdc00 && cp <= 0xdfff) fail("a lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (!eat("\\u")) fail("a high surrogate without its low half");
              const unsigned lo = hex4();
              if (lo < 0xdc00 || lo > 0xdfff) fail("a high surrogate without its low half");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            append_utf8(out, cp);
            break;
          }
          default: --i_; fail("an unknown escape");
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      const std::size_t n = utf8_sequence_length(s_, i_);
      if (n == 0) fail("invalid UTF-8 inside a string");
      out.append(s_.substr(i_, n));
      i_ += n;
    }
  }

  Json number() {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ - from;
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
      if (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') fail("a number with a leading zero");
    } else if (digits() == 0) {
      fail("a number needs digits");
    }
    bool integer = true;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      integer = false;
      if (digits() == 0) fail("a fraction needs digits");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      integer = false;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (digits() == 0) fail("an exponent needs digits");
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    if (integer) {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(first, last, v);
      if (ec != std::errc() || p != last) {
        i_ = start;
        fail("an integer outside the 64-bit range");
      }
      return Json(v);
    }
    double d = 0.0;
    auto [p, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || p != last || !std::isfinite(d)) {
      i_ = start;
      fail("a number outside the double range");
    }
    return Json(d);
  }

  std::string_view s_;
  std::size_t i_ = 0;
};
}  // namespace

Json Json::parse(std::string_view text) { return Reader(text).document(); }

}  // namespace tg
