#pragma once
// For tests that check error messages: the message of the E that f throws, or a text saying
// that f threw something else or nothing.

#include <exception>
#include <functional>
#include <string>

namespace tg::testing {

template <class E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

}  // namespace tg::testing
