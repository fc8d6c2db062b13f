#pragma once
/// \file
/// Typed errors. Every message names the op or layer and says what was expected and what came,
/// e.g. `matmul: lhs [32,20] and rhs [10,20]: inner dimensions 20 != 10`.

#include <tapegrad/core/config.h>

#include <stdexcept>
#include <string>

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

}  // namespace tg
