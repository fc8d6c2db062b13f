#pragma once
/// \file
/// Json: a small JSON value, its writer and a strict reader, for layer configurations
/// (Module::config) and the whole-model file. Objects keep their members in insertion order, so
/// a configuration is written the same way every time. Integers and other numbers are kept
/// apart: an integer is read into an int64 exactly, a number with a fraction or an exponent into
/// a double, and a double is written with the fewest digits that read back to the same value.
///
/// The reader takes RFC 8259 JSON and nothing else (no comments, trailing commas, NaN, leading
/// zeros, unescaped control characters or invalid UTF-8), nests at most 64 levels deep, and
/// refuses a duplicate key in an object. Every refusal is a ValueError that gives the byte
/// offset and, escaped (escape_for_message), what was found there.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tg {

/// A JSON value: null, a boolean, an integer, a number, a string, an array or an object.
class Json {
 public:
  /// The kinds of value.
  enum class Kind { null, boolean, integer, number, string, array, object };
  /// An array's items.
  using Array = std::vector<Json>;
  /// An object's members, in order.
  using Object = std::vector<std::pair<std::string, Json>>;

  /// null.
  Json() = default;
  /// A boolean.
  Json(bool b) : value_(b) {}
  /// An integer.
  /// @{
  Json(int i) : value_(static_cast<std::int64_t>(i)) {}
  Json(std::int64_t i) : value_(i) {}
  /// @}
  /// A number.
  Json(double d) : value_(d) {}
  /// A string.
  /// @{
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  /// @}
  /// An array.
  Json(Array a) : value_(std::move(a)) {}
  /// An object.
  Json(Object o) : value_(std::move(o)) {}
  /// An empty object, to fill with set.
  static Json object() { return Json(Object{}); }

  /// The kind of value.
  Kind kind() const { return static_cast<Kind>(value_.index()); }
  /// "null", "boolean", "integer", "number", "string", "array", "object".
  static const char* kind_name(Kind kind);
  /// Whether it is an object.
  bool is_object() const { return kind() == Kind::object; }

  /// The value, as its kind (ValueError naming both kinds for another kind; an integer also
  /// reads as a double).
  /// @{
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;
  /// @}

  /// Sets member `key` of an object (replacing it, or appended); returns *this.
  Json& set(std::string key, Json value);
  /// Member `key` of an object, or null when it has none (or is not an object).
  const Json* find(std::string_view key) const;

  /// Compact JSON text (no spaces), the members in order.
  std::string dump() const;
  /// Reads one JSON text (whitespace around it allowed). ValueError on anything else.
  static Json parse(std::string_view text);

  /// Same kind and value (members compared in order).
  bool operator==(const Json& other) const = default;

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> value_ = nullptr;
};

}  // namespace tg
