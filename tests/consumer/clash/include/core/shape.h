#pragma once
// The application's own core/shape.h, searched before tapegrad's headers (clash/main.cpp): a grid
// size, nothing like tg::Shape. A tapegrad header that took this file for its own would not
// compile.

struct Shape {
  int rows = 0;
  int cols = 0;
};

inline int numel(const Shape& s) { return s.rows * s.cols; }
