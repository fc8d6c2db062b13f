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

/// Whether the storage and tensor pools recycle memory. The sanitizer build turns them off
/// (TAPEGRAD_NO_POOL), so every tensor is a fresh allocation there and "no allocation once warm"
/// checks do not apply.
bool pooling_enabled();

}  // namespace tg::testing
