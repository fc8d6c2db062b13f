#pragma once
/// \file
/// The language check every tapegrad header makes first, so that a program compiled as C++17 or
/// older is told what it needs before the first C++20 construct (a concept in core/dtype.h) fails
/// to parse.

#if !defined(__cplusplus) || __cplusplus < 202002L
#error \
    "tapegrad needs C++20: compile with -std=c++20 (or CMake's cxx_std_20, which the tapegrad::tapegrad target requests)"
#endif
