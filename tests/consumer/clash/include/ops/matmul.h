#pragma once
// The application's own ops/matmul.h, searched before tapegrad's headers (clash/main.cpp): a
// product of its own row-major matrices, nothing like tg::matmul.

#include <vector>

#include <core/shape.h>

struct Matrix {
  Shape shape;
  std::vector<double> values;
};

// [n,k] x [k,m] -> [n,m]
inline Matrix matmul(const Matrix& a, const Matrix& b) {
  Matrix c{{a.shape.rows, b.shape.cols}, {}};
  c.values.assign(static_cast<std::size_t>(numel(c.shape)), 0.0);
  for (int i = 0; i < a.shape.rows; ++i)
    for (int k = 0; k < a.shape.cols; ++k)
      for (int j = 0; j < b.shape.cols; ++j)
        c.values[static_cast<std::size_t>(i * c.shape.cols + j)] +=
            a.values[static_cast<std::size_t>(i * a.shape.cols + k)] *
            b.values[static_cast<std::size_t>(k * b.shape.cols + j)];
  return c;
}
