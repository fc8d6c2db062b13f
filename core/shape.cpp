#include <tapegrad/core/shape.h>

#include <tapegrad/core/error.h>

#include <cstdint>

namespace tg {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > kMaxRank)
    throw ShapeError(fmt::format("Shape: rank {} is more than the {} supported", dims.size(), kMaxRank));
  for (std::int64_t d : dims) {
    if (d < 0) throw ShapeError(fmt::format("Shape: negative dimension {}", d));
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
}

void Shape::push_back(std::int64_t d) {
  if (rank_ == kMaxRank)
    throw ShapeError(fmt::format("Shape: rank {} is more than the {} supported", rank_ + 1, kMaxRank));
  if (d < 0) throw ShapeError(fmt::format("Shape: negative dimension {}", d));
  dims_[static_cast<std::size_t>(rank_++)] = d;
}

int Shape::wrap(int i) const {
  int j = i < 0 ? i + rank_ : i;
  if (j < 0 || j >= rank_)
    throw ValueError(fmt::format("Shape {}: index {} out of range for rank {}", str(), i, rank_));
  return j;
}

int Shape::axis(int a, const char* op) const {
  int j = a < 0 ? a + rank_ : a;
  if (j < 0 || j >= rank_)
    throw ValueError(fmt::format("{}: axis {} out of range for a tensor of shape {} (rank {})", op, a, str(), rank_));
  return j;
}

void Shape::throw_too_large(std::size_t elem_size, const char* op) const {
  for (int i = 0; i < rank_; ++i)
    if (dims_[static_cast<std::size_t>(i)] < 0)
      throw ShapeError(fmt::format("{}: shape {} has the negative size {} in dimension {}", op, str(),
                                   dims_[static_cast<std::size_t>(i)], i));
  // The counts in double: exact enough to say how far past the limit they are.
  double n = 1;
  bool zero = false;
  for (std::int64_t d : *this) {
    zero |= d == 0;
    n *= d > 0 ? static_cast<double>(d) : 1.0;
  }
  const double bytes = n * static_cast<double>(elem_size);
  throw ShapeError(
      fmt::format("{}: shape {} {} {:.4g} elements of {} bytes ({:.4g} bytes); a tensor's sizes{} may multiply to at "
                  "most {} bytes (INT64_MAX)",
                  op, str(), zero ? "has no elements, but its non-zero sizes multiply to" : "holds", n, elem_size,
                  bytes, zero ? " (zero sizes counted as 1)" : "", INT64_MAX));
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[static_cast<std::size_t>(i)] != o.dims_[static_cast<std::size_t>(i)]) return false;
  return true;
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(begin(), end(), ",")); }

}  // namespace tg
