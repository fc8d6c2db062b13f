#pragma once
/// \file
/// Binary elementwise ops with numpy broadcasting, their scalar forms and operators.

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// a + b, a - b, a * b, a / b elementwise with numpy broadcasting; -a.
/// @{
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
/// @}

/// a + s, a - s.
/// @{
Tensor add(const Tensor& a, double s);
Tensor sub(const Tensor& a, double s);
/// @}
/// s - a.
Tensor rsub(double s, const Tensor& a);
/// a * s, a / s.
/// @{
Tensor mul(const Tensor& a, double s);
Tensor div(const Tensor& a, double s);
/// @}
/// s / a.
Tensor rdiv(double s, const Tensor& a);

/// The arithmetic operators, for tensors and for a tensor and a number.
/// @{
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }
/// @}

}  // namespace tg
