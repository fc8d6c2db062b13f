#pragma once
/// \file
/// Shape: the sizes of a tensor's dimensions, held inline (no heap), at most kMaxRank of them.

#include <tapegrad/core/config.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include <fmt/format.h>

namespace tg {

/// The largest rank a Shape holds (its dimensions are stored inline).
inline constexpr int kMaxRank = 6;

/// The dimensions of a tensor, row-major. `Shape{32, 50, 1}`; `Shape{}` is a scalar.
class Shape {
 public:
  /// A scalar: rank 0.
  Shape() = default;
  /// `Shape{32, 50, 1}`; ShapeError past kMaxRank.
  Shape(std::initializer_list<std::int64_t> dims);
  /// The sizes in `dims`; ShapeError past kMaxRank.
  explicit Shape(std::span<const std::int64_t> dims);

  /// Number of dimensions.
  int rank() const { return rank_; }
  /// Size of dimension i; negative i counts from the end. Throws ValueError when out of range.
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(wrap(i))]; }
  /// Size of dimension i, to change it.
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(wrap(i))]; }
  /// Number of elements: the product of the sizes (1 for a scalar). Unchecked: exact for the
  /// shape of every tensor (checked_numel passed when it was created); on a shape built from
  /// arbitrary sizes, call checked_numel.
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  /// Number of elements, checked: the test every tensor's shape passes (Tensor::empty, view,
  /// reshape). ShapeError naming `op`, the shape and the counts when a size is negative, or when
  /// `elem_size` times the product of the non-zero sizes is more than INT64_MAX bytes (numpy's
  /// rule): then every partial product of the sizes, every element offset and the byte count of
  /// the tensor fit in int64, even when a zero size leaves it without elements.
  std::int64_t checked_numel(std::size_t elem_size, const char* op) const {
    std::int64_t n = 1;  // the product of the non-zero sizes
    bool bad = false, zero = false;
    for (int i = 0; i < rank_; ++i) {
      const std::int64_t d = dims_[static_cast<std::size_t>(i)];
      bad |= d < 0;
      zero |= d == 0;
      bad |= __builtin_mul_overflow(n, d > 0 ? d : 1, &n);
    }
    std::int64_t bytes = 0;
    bad |= __builtin_mul_overflow(n, static_cast<std::int64_t>(elem_size), &bytes);
    if (bad) [[unlikely]]
      throw_too_large(elem_size, op);
    return zero ? 0 : n;
  }
  /// The sizes as a span.
  std::span<const std::int64_t> dims() const { return {dims_.data(), static_cast<std::size_t>(rank_)}; }
  /// Iteration over the sizes.
  /// @{
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }
  /// @}

  /// Appends a dimension (throws ShapeError past kMaxRank).
  void push_back(std::int64_t d);

  /// Normalises an axis (negative counts from the end) against this rank, naming `op` in the
  /// error when it is out of range.
  int axis(int a, const char* op) const;

  /// Same rank and sizes.
  /// @{
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  /// @}

  /// "[32,50,1]".
  std::string str() const;

 private:
  int wrap(int i) const;
  [[noreturn]] void throw_too_large(std::size_t elem_size, const char* op) const;
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace tg

// `fmt::format("{}", x)` for a Shape (the same text as str()); hidden from Doxygen.
/// \cond
template <>
struct fmt::formatter<tg::Shape> : fmt::formatter<std::string> {
  auto format(const tg::Shape& s, format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.str(), ctx);
  }
};
/// \endcond
