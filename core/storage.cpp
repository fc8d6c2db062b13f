#include <tapegrad/core/storage.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tg {

// Under the sanitizers every buffer goes straight to the system, so AddressSanitizer sees each
// use after free instead of a recycled block.
#ifdef TAPEGRAD_NO_POOL
constexpr bool kPooling = false;
#else
constexpr bool kPooling = true;
#endif

struct StoragePool {
  static constexpr int kClasses = 48;
  Storage* free_[kClasses] = {};
  PoolStats stats;

  static StoragePool& get();
};

// Constant-initialised and trivially destructible: no guard on access, and nothing to destroy at
// thread exit, so tensors in static objects may still free into it.
constinit thread_local StoragePool t_pool;
StoragePool& StoragePool::get() { return t_pool; }

// Blocks of 2 MiB and more (a dataset, a large model's activations) are aligned to 2 MiB and
// offered to the kernel for transparent huge pages: a minibatch gathered from random rows of a
// 14 MB target tensor then misses the TLB once per 2 MiB rather than once per 4 KiB row piece
// (docs/performance.md, "Pooled storage").
namespace {
void* system_alloc(std::size_t block) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  if (block < kHugePage) return std::aligned_alloc(64, block);
  void* p = std::aligned_alloc(kHugePage, block);  // block is a power of two, so a multiple
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p) madvise(p, block, MADV_HUGEPAGE);  // advice only: its failure changes nothing
#endif
  return p;
}
}  // namespace

Storage* Storage::allocate(std::size_t bytes) {
  // The largest block the size classes hold is 2^(kClasses - 1) bytes (128 TiB, the whole user
  // address space of x86-64 with 4-level paging). Past it, nothing is served: refused here, before
  // bytes + kHeader can wrap or a class can index past the free lists.
  constexpr std::size_t kMaxBytes = (std::size_t{1} << (StoragePool::kClasses - 1)) - kHeader;
  if (bytes > kMaxBytes) [[unlikely]]
    throw std::bad_alloc();
  std::size_t total = bytes + kHeader;
  auto cls = static_cast<std::uint32_t>(std::bit_width(std::max<std::size_t>(total, 128) - 1));
  std::size_t block = std::size_t{1} << cls;
  StoragePool& pool = StoragePool::get();
  Storage* s = nullptr;
  if (kPooling && pool.free_[cls]) {
    s = pool.free_[cls];
    pool.free_[cls] = s->next_free_;
    pool.stats.bytes_cached -= block;
    ++pool.stats.reuses;
  } else {
    void* p = system_alloc(block);
    if (!p) throw std::bad_alloc();
    s = ::new (p) Storage;
    ++pool.stats.system_allocs;
  }
  s->refs_ = 1;
  s->size_class_ = cls;
  s->bytes_ = bytes;
  s->next_free_ = nullptr;
  pool.stats.bytes_in_use += block;
  return s;
}

void Storage::free(Storage* s) {
  StoragePool& pool = StoragePool::get();
  std::size_t block = std::size_t{1} << s->size_class_;
  pool.stats.bytes_in_use -= block;
  if (!kPooling) {
    std::free(s);
    return;
  }
  s->next_free_ = pool.free_[s->size_class_];
  pool.free_[s->size_class_] = s;
  pool.stats.bytes_cached += block;
}

PoolStats pool_stats() { return StoragePool::get().stats; }

void pool_release_cached() {
  StoragePool& pool = StoragePool::get();
  for (Storage*& head : pool.free_) {
    while (head) {
      Storage* next = head->next_free_;
      std::free(head);
      head = next;
    }
  }
  pool.stats.bytes_cached = 0;
}

}  // namespace tg
