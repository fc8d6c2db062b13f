#pragma once
/// \file
/// Element types: float32 (the default) and float64 (exact gradient checks).

#include <tapegrad/core/config.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace tg {

/// The element type of a tensor.
enum class DType : std::uint8_t { f32, f64 };

/// Bytes per element.
constexpr std::size_t dtype_size(DType d) { return d == DType::f32 ? 4 : 8; }

/// "float32" or "float64".
constexpr std::string_view dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }

/// The DType of a C++ element type: `dtype_of<float>` is DType::f32.
template <class T>
inline constexpr DType dtype_of = std::is_same_v<T, double> ? DType::f64 : DType::f32;

template <class T>
concept Element = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Calls `f.template operator()<T>()` with T the C++ type of `d`:
/// `dispatch(x.dtype(), [&]<class T>() { kernel(x.data<T>(), ...); });`
template <class F>
decltype(auto) dispatch(DType d, F&& f) {
  if (d == DType::f32) return f.template operator()<float>();
  return f.template operator()<double>();
}

}  // namespace tg
