#pragma once
// Counts the calls to the global operator new made by this thread while an AllocCounter lives.
// The replacement operators live in alloc_counter.cpp; outside a counting scope they only
// forward to malloc and free, so the other tests of the runner are unaffected.

#include <cstdint>

namespace tg::testing {

class AllocCounter {
 public:
  AllocCounter();
  ~AllocCounter();
  AllocCounter(const AllocCounter&) = delete;
  AllocCounter& operator=(const AllocCounter&) = delete;
  /// Calls to operator new (any form) since construction.
  std::uint64_t count() const;

 private:
  bool previous_;
  std::uint64_t start_;
};

}  // namespace tg::testing
