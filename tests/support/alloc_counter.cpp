// The test runner's one replacement of the global allocation functions (see alloc_counter.h).

#include "support/alloc_counter.h"

#include <cstdlib>
#include <new>

#include <tapegrad/core/storage.h>
#include <tapegrad/core/tensor.h>

namespace {
thread_local bool counting = false;
thread_local std::uint64_t allocations = 0;

void* allocate(std::size_t size) {
  if (counting) ++allocations;
  if (size == 0) size = 1;
  if (void* p = std::malloc(size)) return p;
  throw std::bad_alloc();
}

void* allocate_aligned(std::size_t size, std::align_val_t align) {
  if (counting) ++allocations;
  const auto a = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded == 0 ? a : rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t align) { return allocate_aligned(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return allocate_aligned(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace tg::testing {

AllocCounter::AllocCounter() : previous_(counting), start_(allocations) { counting = true; }
AllocCounter::~AllocCounter() { counting = previous_; }
std::uint64_t AllocCounter::count() const { return allocations - start_; }

bool pooling_enabled() {
  { Tensor warm = Tensor::empty({1000}); }
  const std::uint64_t before = pool_stats().reuses;
  { Tensor again = Tensor::empty({1000}); }
  return pool_stats().reuses > before;
}

}  // namespace tg::testing
