#include <tapegrad/core/storage.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

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

static_assert(sizeof(Storage) <= Storage::kHeader, "the storage header must fit in front of the data");

namespace detail {

constinit thread_local std::uint32_t t_home_id = kNoHome;

// An object whose counts its owner must merge (RefCount::release_shared handed it over).
struct MergeItem {
  void* object;
  RefCount* count;
  void (*destroy)(void*);
};

namespace {
std::atomic<std::uint64_t> g_system_bytes{0};

// Blocks of 2 MiB and more (a dataset, a large model's activations) are aligned to 2 MiB and
// offered to the kernel for transparent huge pages: a minibatch gathered from random rows of a
// 14 MB target tensor then misses the TLB once per 2 MiB rather than once per 4 KiB row piece
// (docs/performance.md, "Pooled storage").
void* system_alloc(std::size_t block) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  void* p = nullptr;
  if (block < kHugePage) {
    p = std::aligned_alloc(64, block);
  } else {
    p = std::aligned_alloc(kHugePage, block);  // block is a power of two, so a multiple
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, block, MADV_HUGEPAGE);  // advice only: its failure changes nothing
#endif
  }
  if (p) g_system_bytes.fetch_add(block, std::memory_order_relaxed);
  return p;
}

void system_free(void* p, std::size_t block) {
  g_system_bytes.fetch_sub(block, std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

// What one thread owns, the part other threads reach: the blocks and counts they hand back, and
// its tape (attached by core/tape.cpp). Homes are never destroyed: when a thread ends, its home
// returns its cache to the system and waits, parked, for the next new thread.
struct ThreadHome {
  explicit ThreadHome(std::uint32_t home_id) : id(home_id) {}

  const std::uint32_t id;
  std::atomic<Storage*> remote_blocks{nullptr};  // its buffers freed on other threads
  std::atomic<void*> remote_impls{nullptr};      // its handle blocks freed on other threads
  std::atomic<std::uint64_t> remote_bytes{0};    // bytes of its buffers freed elsewhere, not yet counted
  std::atomic<bool>* has_merges = nullptr;       // its thread's flag: merges is not empty
  std::atomic<bool> parked{false};               // no thread lives in it
  std::mutex mutex;                              // guards merges, and parking against merging
  std::vector<MergeItem> merges;
  PoolStats parked_stats;  // the counters, kept for the next thread while parked
  std::atomic<void*> attached{nullptr};
  void (*park_attached)(void*) = nullptr;

  // Merges the counts other threads handed over; objects left without references die here.
  void take_merges() {
    std::vector<MergeItem> items;
    {
      std::lock_guard lock(mutex);
      items.swap(merges);
      if (has_merges) has_merges->store(false, std::memory_order_relaxed);
    }
    for (const MergeItem& m : items)
      if (m.count->merge(-1) == 0) m.destroy(m.object);
  }

  // A buffer freed on a thread that is not its home's goes back to its home, or straight to the
  // system when its home is parked (or the pool is off).
  static void free_remote(Storage* s, std::size_t block);
};

// The part of a home only its thread touches: its free lists and counters, in constant-initialised
// thread-local storage (no guard on access, no pointer to follow on the hot paths).
struct LocalPool {
  static constexpr int kClasses = 48;
  Storage* free_[kClasses] = {};
  void* free_impls = nullptr;
  PoolStats stats;
  ThreadHome* home = nullptr;
  std::atomic<bool> has_merges{false};  // set by other threads (through ThreadHome::has_merges)

  // Takes in the buffers and handle blocks other threads freed.
  void take_remote() {
    stats.bytes_in_use -= home->remote_bytes.exchange(0, std::memory_order_acquire);
    Storage* s = home->remote_blocks.exchange(nullptr, std::memory_order_acquire);
    while (s) {
      Storage* next = s->next_free_.load(std::memory_order_relaxed);
      s->next_free_.store(free_[s->size_class_], std::memory_order_relaxed);
      free_[s->size_class_] = s;
      stats.bytes_cached += std::size_t{1} << s->size_class_;
      s = next;
    }
    if (void* list = home->remote_impls.exchange(nullptr, std::memory_order_acquire)) {
      void* tail = list;
      while (*static_cast<void**>(tail)) tail = *static_cast<void**>(tail);
      *static_cast<void**>(tail) = free_impls;
      free_impls = list;
    }
  }

  void release_cached() {
    for (Storage*& head : free_) {
      while (head) {
        Storage* next = head->next_free_.load(std::memory_order_relaxed);
        system_free(head, std::size_t{1} << head->size_class_);
        head = next;
      }
    }
    stats.bytes_cached = 0;
  }
};

namespace {
// Homes by id, for the threads that free into another thread's home or hand it counts to merge:
// chunks of 4096 made on demand, never moved, so a lookup takes no lock.
constexpr std::uint32_t kChunkBits = 12;
constexpr std::uint32_t kChunk = 1u << kChunkBits;
constexpr std::uint32_t kChunks = 4096;  // 16M homes: more threads than any machine runs at once
constinit std::atomic<std::atomic<ThreadHome*>*> g_homes[kChunks] = {};

struct Registry {
  std::mutex mutex;
  std::vector<ThreadHome*> parked;
  std::uint32_t next_id = 1;
};
// Leaked on purpose: threads may end after static destructors have run.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

ThreadHome* home_by_id(std::uint32_t id) {
  if (id == 0 || id >= kChunk * kChunks) return nullptr;
  std::atomic<ThreadHome*>* chunk = g_homes[id >> kChunkBits].load(std::memory_order_acquire);
  return chunk ? chunk[id & (kChunk - 1)].load(std::memory_order_acquire) : nullptr;
}

constinit thread_local LocalPool t_pool;
constinit thread_local bool t_home_ended = false;

// Gives the home up when its thread ends (a thread_local with a destructor, made only when the
// thread takes a home: the hot paths read the constant-initialised t_pool).
struct HomeExit {
  bool armed = false;
  ~HomeExit();
};
thread_local HomeExit t_home_exit;

[[gnu::noinline]] ThreadHome* take_home() {
  Registry& r = registry();
  ThreadHome* h = nullptr;
  {
    std::lock_guard lock(r.mutex);
    if (!r.parked.empty()) {
      h = r.parked.back();
      r.parked.pop_back();
    } else {
      const std::uint32_t id = r.next_id;
      if (id >= kChunk * kChunks) throw std::bad_alloc();
      ++r.next_id;
      h = new ThreadHome(id);
      std::atomic<ThreadHome*>* chunk = g_homes[id >> kChunkBits].load(std::memory_order_relaxed);
      if (!chunk) {
        chunk = new std::atomic<ThreadHome*>[kChunk]();
        g_homes[id >> kChunkBits].store(chunk, std::memory_order_release);
      }
      chunk[id & (kChunk - 1)].store(h, std::memory_order_release);
    }
  }
  {
    // Ordered after the parking thread's last use of its counts, and before this thread's first.
    std::lock_guard lock(h->mutex);
    h->parked.store(false, std::memory_order_relaxed);
    h->has_merges = &t_pool.has_merges;
  }
  t_pool.home = h;
  t_pool.stats = h->parked_stats;
  t_home_id = h->id;
  // A thread that already gave its home up (a thread_local destructor allocating after ours)
  // keeps this one until the process ends.
  if (!t_home_ended) t_home_exit.armed = true;
  return h;
}

inline ThreadHome* current_home() {
  ThreadHome* h = t_pool.home;
  if (!h) [[unlikely]]
    h = take_home();
  return h;
}

HomeExit::~HomeExit() {
  ThreadHome* h = t_pool.home;
  if (!armed || !h) return;
  // The tape first: clearing it drops the tensors it holds while this thread still owns them.
  if (void* a = h->attached.load(std::memory_order_relaxed); a && h->park_attached) h->park_attached(a);
  // Merge what other threads handed over until nothing is left, then park under the lock: from
  // then on a thread that hands this home a count merges it itself, and this thread counts as a
  // stranger to its former objects.
  for (;;) {
    {
      std::lock_guard lock(h->mutex);
      if (h->merges.empty()) {
        h->parked.store(true, std::memory_order_release);
        h->has_merges = nullptr;
        t_home_id = kNoHome;
        break;
      }
    }
    h->take_merges();
  }
  t_pool.take_remote();
  t_pool.release_cached();
  while (void* block = t_pool.free_impls) {
    t_pool.free_impls = *static_cast<void**>(block);
    ::operator delete(block);
  }
  h->parked_stats = t_pool.stats;
  t_pool.stats = {};
  t_pool.home = nullptr;
  t_home_ended = true;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.parked.push_back(h);
}
}  // namespace

void ThreadHome::free_remote(Storage* s, std::size_t block) {
  ThreadHome* home = home_by_id(s->home_);
  if (!home) {
    system_free(s, block);
    return;
  }
  home->remote_bytes.fetch_add(block, std::memory_order_relaxed);
  if (!kPooling || home->parked.load(std::memory_order_acquire)) {
    system_free(s, block);
    return;
  }
  Storage* head = home->remote_blocks.load(std::memory_order_relaxed);
  do {
    s->next_free_.store(head, std::memory_order_relaxed);
  } while (!home->remote_blocks.compare_exchange_weak(head, s, std::memory_order_release, std::memory_order_relaxed));
}

// ---- reference counts ---------------------------------------------------------------------------

// The owner dropped its last local reference while other threads hold some: it gives the object
// up and the shared count becomes the whole count.
bool RefCount::merge_last_local() {
  std::int32_t s = shared_.load(std::memory_order_acquire);
  if (s == 0) return true;
  owner_.store(0, std::memory_order_relaxed);
  std::int32_t next = 0;
  do {
    next = (s & ~(kMerged | kQueued)) | kMerged;
  } while (!shared_.compare_exchange_weak(s, next, std::memory_order_acq_rel, std::memory_order_acquire));
  return next == kMerged;
}

// A thread that is not the owner drops a reference. At zero (and not merged) the reference is not
// subtracted but handed, with the object, to the owner, whose merge subtracts it.
bool RefCount::release_shared(void* object, void (*destroy)(void*)) {
  std::int32_t s = shared_.load(std::memory_order_relaxed);
  std::int32_t next = 0;
  bool hand_over = false;
  do {
    hand_over = s == 0;
    next = hand_over ? kQueued : s - kOne;
  } while (!shared_.compare_exchange_weak(s, next, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (!hand_over) return next == kMerged;
  ThreadHome* home = home_by_id(owner_.load(std::memory_order_relaxed));
  bool dead = false;
  {
    std::lock_guard lock(home->mutex);
    if (!home->parked.load(std::memory_order_relaxed)) {
      home->merges.push_back({object, this, destroy});
      home->has_merges->store(true, std::memory_order_release);
      return false;
    }
    // The owner thread has ended: merge here, under the lock that keeps a new thread from taking
    // the home (and these counts) over meanwhile.
    dead = merge(-1) == 0;
  }
  if (dead) destroy(object);
  return false;
}

std::int32_t RefCount::merge(std::int32_t extra) {
  std::int32_t s = shared_.load(std::memory_order_relaxed);
  std::int32_t refs = 0;
  do {
    refs = (s >> 2) + static_cast<std::int32_t>(local_) + extra;  // s >> 2: the count, flags dropped
  } while (
      !shared_.compare_exchange_weak(s, refs * kOne | kMerged, std::memory_order_acq_rel, std::memory_order_relaxed));
  local_ = 0;
  owner_.store(0, std::memory_order_relaxed);
  return refs;
}

// ---- homes ----------------------------------------------------------------------------------------

void poll_home() {
  if (t_pool.has_merges.load(std::memory_order_relaxed)) [[unlikely]]
    t_pool.home->take_merges();
}

std::uint32_t current_home_id() { return current_home()->id; }

void* allocate_impl_block(std::size_t bytes, std::uint32_t& home) {
  if (!t_pool.home) [[unlikely]]
    take_home();
  home = t_home_id;
  void* mem = t_pool.free_impls;
  if (!mem && t_pool.home->remote_impls.load(std::memory_order_relaxed)) [[unlikely]] {
    t_pool.take_remote();
    mem = t_pool.free_impls;
  }
  if (!mem) return ::operator new(bytes);
  t_pool.free_impls = *static_cast<void**>(mem);
  return mem;
}

void free_impl_block(void* block, std::uint32_t home) {
  if (!kPooling) {
    ::operator delete(block);
    return;
  }
  if (home == t_home_id) [[likely]] {
    *static_cast<void**>(block) = t_pool.free_impls;
    t_pool.free_impls = block;
    return;
  }
  ThreadHome* owner = home_by_id(home);
  if (!owner || owner->parked.load(std::memory_order_acquire)) {
    ::operator delete(block);
    return;
  }
  void* head = owner->remote_impls.load(std::memory_order_relaxed);
  do {
    *static_cast<void**>(block) = head;
  } while (
      !owner->remote_impls.compare_exchange_weak(head, block, std::memory_order_release, std::memory_order_relaxed));
}

void attach_to_home(void* object, void (*park)(void*)) {
  ThreadHome* h = current_home();
  h->park_attached = park;
  h->attached.store(object, std::memory_order_release);
}

void* attached_to_home(std::uint32_t id) {
  ThreadHome* h = home_by_id(id);
  return h ? h->attached.load(std::memory_order_acquire) : nullptr;
}

}  // namespace detail

// ---- storage ------------------------------------------------------------------------------------

Storage* Storage::allocate(std::size_t bytes) {
  // The largest block the size classes hold is 2^(kClasses - 1) bytes (128 TiB, the whole user
  // address space of x86-64 with 4-level paging). Past it, nothing is served: refused here, before
  // bytes + kHeader can wrap or a class can index past the free lists.
  constexpr std::size_t kMaxBytes = (std::size_t{1} << (detail::LocalPool::kClasses - 1)) - kHeader;
  if (bytes > kMaxBytes) [[unlikely]]
    throw std::bad_alloc();
  std::size_t total = bytes + kHeader;
  auto cls = static_cast<std::uint32_t>(std::bit_width(std::max<std::size_t>(total, 128) - 1));
  std::size_t block = std::size_t{1} << cls;
  detail::LocalPool& pool = detail::t_pool;
  if (!pool.home) [[unlikely]]
    detail::take_home();
  const std::uint32_t home = detail::t_home_id;
  Storage* s = kPooling ? pool.free_[cls] : nullptr;
  if (kPooling && !s && pool.home->remote_blocks.load(std::memory_order_relaxed)) {
    pool.take_remote();  // buffers other threads freed, before asking the system
    s = pool.free_[cls];
  }
  if (s) {
    pool.free_[cls] = s->next_free_.load(std::memory_order_relaxed);
    pool.stats.bytes_cached -= block;
    ++pool.stats.reuses;
  } else {
    void* p = detail::system_alloc(block);
    if (!p) throw std::bad_alloc();
    s = ::new (p) Storage;
    ++pool.stats.system_allocs;
  }
  s->refs_.init(home);
  s->size_class_ = cls;
  s->home_ = home;
  s->bytes_ = bytes;
  s->next_free_.store(nullptr, std::memory_order_relaxed);
  s->version_ = 0;  // a reused block's elements are new ones
  pool.stats.bytes_in_use += block;
  return s;
}

void Storage::release_last_local(Storage* s) {
  if (s->refs_.release_last_local()) free(s);
}

void Storage::release_shared(Storage* s) {
  if (s->refs_.release_shared(s, &free_erased)) free(s);
}

void Storage::free(Storage* s) {
  const std::size_t block = std::size_t{1} << s->size_class_;
  if (s->home_ != detail::t_home_id) [[unlikely]] {
    detail::ThreadHome::free_remote(s, block);
    return;
  }
  detail::LocalPool& pool = detail::t_pool;
  pool.stats.bytes_in_use -= block;
  if (!kPooling) {
    detail::system_free(s, block);
    return;
  }
  s->next_free_.store(pool.free_[s->size_class_], std::memory_order_relaxed);
  pool.free_[s->size_class_] = s;
  pool.stats.bytes_cached += block;
}

PoolStats pool_stats() {
  detail::current_home();
  detail::t_pool.take_remote();
  return detail::t_pool.stats;
}

void pool_release_cached() {
  detail::current_home();
  detail::t_pool.take_remote();
  detail::t_pool.release_cached();
}

std::uint64_t pool_system_bytes() { return detail::g_system_bytes.load(std::memory_order_relaxed); }

}  // namespace tg
