#pragma once
/// \file
/// Typed errors. Every message names the op or layer and says what was expected and what came,
/// e.g. `matmul: lhs [32,20] and rhs [10,20]: inner dimensions 20 != 10`.

#include <tapegrad/core/config.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tapegrad/core/utf8.h>

namespace tg {

/// Base of every error tapegrad throws.
class Error : public std::runtime_error {
 public:
  /// An error whose message is `what`.
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// Shapes that do not fit an op or a layer.
class ShapeError : public Error {
 public:
  /// An error whose message is `what`.
  using Error::Error;
};

/// A tensor of the wrong element type.
class DTypeError : public Error {
 public:
  /// An error whose message is `what`.
  using Error::Error;
};

/// A bad argument value: an axis out of range, a negative size, a NaN where none may be.
class ValueError : public Error {
 public:
  /// An error whose message is `what`.
  using Error::Error;
};

/// Misuse of the autograd tape: backward twice on a freed graph, backward of a constant.
class GraphError : public Error {
 public:
  /// An error whose message is `what`.
  using Error::Error;
};

/// A file that cannot be read or written, or whose contents are not what was expected.
class IOError : public Error {
 public:
  /// An error whose message is `what`.
  using Error::Error;
};

/// `text` made safe to echo in a message when it comes from outside the program (a name read
/// from a file, a path): printable ASCII and well-formed UTF-8 stay as they are; control bytes
/// (C0, DEL, and the C1 and bidirectional-text control characters), bytes that are not
/// well-formed UTF-8, and the backslash itself come out as `\xNN` (a backslash as `\\`), so
/// nothing in a message can move a terminal's cursor, recolour it or reorder the text around it.
/// At most `max_bytes` of `text` are shown (cut before a character, never inside one), then
/// `... (N bytes)`. Example: the bytes `w`, ESC, `[2J`, 0xFF come out as the text `w\x1b[2J\xff`.
inline std::string escape_for_message(std::string_view text, std::size_t max_bytes = 256) {
  constexpr char kHex[] = "0123456789abcdef";
  auto byte = [](std::string_view s, std::size_t i) { return static_cast<unsigned char>(s[i]); };
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = byte(text, i);
    const std::size_t n = utf8_sequence_length(text, i);  // 0: not well-formed UTF-8
    const std::size_t take = n == 0 ? 1 : n;
    if (i + take > max_bytes) break;
    char32_t c = n == 1 ? b : 0;
    if (n > 1) {
      c = b & (0x7f >> n);
      for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (byte(text, i + k) & 0x3f);
    }
    const bool control =
        n == 0 || c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
    if (n == 1 && b == '\\') {
      out += "\\\\";
    } else if (control) {
      for (std::size_t k = 0; k < take; ++k) {
        out += "\\x";
        out += kHex[byte(text, i + k) >> 4];
        out += kHex[byte(text, i + k) & 15];
      }
    } else {
      out.append(text.substr(i, n));
    }
    i += take;
  }
  if (i < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace tg
