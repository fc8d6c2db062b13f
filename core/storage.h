#pragma once
/// \file
/// Storage: reference-counted, 64-byte aligned buffers from a caching pool. A freed buffer goes
/// back to a per-thread free list of its size class (powers of two) and is handed out again, so a
/// warm training step does not call malloc.
///
/// Threads: every thread that allocates has a home (its pool, its free list of tensor handles,
/// and the owner id of the reference counts it starts). A buffer freed on another thread goes
/// back to its home's pool (a lock-free list the home takes in on its next miss), so a loader
/// thread's batches freed by a trainer are reused by the loader: no pool grows with what other
/// threads free. A home left by a finished thread returns its cache to the system and is taken
/// over by the next new thread.

#include <tapegrad/core/config.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tg {

namespace detail {
struct ThreadHome;
struct LocalPool;

/// The home id of a thread that has none (before its first allocation, or after it ended).
inline constexpr std::uint32_t kNoHome = 0xffffffffu;

/// The calling thread's home id, read by every reference count operation (homes are numbered
/// from 1; 0 is the owner of a count no thread owns any more). Initial-exec TLS: one load from
/// the thread pointer, no call, also in the shared library.
#if defined(__GNUC__)
extern constinit thread_local std::uint32_t t_home_id __attribute__((tls_model("initial-exec")));
#else
extern constinit thread_local std::uint32_t t_home_id;
#endif

/// A reference count biased towards the thread that made the object (biased reference counting,
/// Choi et al., PACT 2018, as in CPython's free-threaded build). The owner counts with plain
/// increments in `local_`; other threads count atomically in `shared_`, which may go below zero
/// (a handle the owner made and another thread dropped). The object dies when the sum is zero:
/// - the owner's last local reference merges the two counts and gives up ownership;
/// - another thread's release that finds `shared_` at zero hands the object to its owner (the
///   owner's queue, taken in at its next Tensor::empty or when it ends), which merges them; if
///   the owner thread has ended, the releasing thread merges them itself.
/// So the owner thread, which touches its tensors most, never pays for an atomic operation.
class RefCount {
 public:
  /// One reference, owned by home `owner`.
  explicit RefCount(std::uint32_t owner) : owner_(owner) {}
  /// The same for an object made again in place.
  void init(std::uint32_t owner) {
    local_ = 1;
    owner_.store(owner, std::memory_order_relaxed);
    shared_.store(0, std::memory_order_relaxed);
  }
  /// Adds a reference.
  void retain() {
    if (owner_.load(std::memory_order_relaxed) == t_home_id) [[likely]]
      ++local_;
    else
      shared_.fetch_add(kOne, std::memory_order_relaxed);
  }
  /// Dropping a reference, in two steps so that the inlined part stays small: the owner thread
  /// drops a local one (true: it was its last, call release_last_local); any other thread calls
  /// release_shared. Both return true when the object must be freed now. `object` and
  /// `destroy` are handed to the owner thread when it has to merge the counts.
  /// @{
  bool owned() const { return owner_.load(std::memory_order_relaxed) == t_home_id; }
  bool drop_local() { return --local_ == 0; }
  bool release_last_local() { return shared_.load(std::memory_order_acquire) == 0 || merge_last_local(); }
  bool release_shared(void* object, void (*destroy)(void*));
  /// @}
  /// Whether the calling thread can tell that its handle is the only reference (false when it
  /// cannot tell cheaply: then the caller must assume the object is shared).
  bool unique() const {
    if (owner_.load(std::memory_order_relaxed) == t_home_id)
      return local_ == 1 && shared_.load(std::memory_order_acquire) == 0;
    return shared_.load(std::memory_order_acquire) == (kOne | kMerged);
  }

  /// For the owner's queue: merges the counts, less `extra`, and gives up ownership; returns the
  /// number of references left. Only the owner, or any thread once the owner has ended.
  std::int32_t merge(std::int32_t extra);

 private:
  static constexpr std::int32_t kMerged = 1;  // the owner gave up: shared_ holds the whole count
  static constexpr std::int32_t kQueued = 2;  // handed to the owner's queue, which holds one reference
  static constexpr std::int32_t kOne = 4;     // one reference in shared_ (the low bits are flags)
  bool merge_last_local();

  std::uint32_t local_ = 1;
  std::atomic<std::uint32_t> owner_{kNoHome};
  std::atomic<std::int32_t> shared_{0};
};

/// Takes in what other threads handed back to the calling thread: counts to merge (objects that
/// may die now) and freed blocks. Tensor::empty calls it; cheap when there is nothing.
void poll_home();
/// A TensorImpl-sized block from the calling thread's free list; sets `home` to its home id.
void* allocate_impl_block(std::size_t bytes, std::uint32_t& home);
/// Returns a block from allocate_impl_block to its home.
void free_impl_block(void* block, std::uint32_t home);
/// The calling thread's home id, making the home on first use.
std::uint32_t current_home_id();
/// Attaches an object to the calling thread's home (the tape): `park` runs when the thread ends,
/// before the home is given up, and the object passes with the home to the next thread.
void attach_to_home(void* object, void (*park)(void*));
/// The object attached to home `id` (null when none).
void* attached_to_home(std::uint32_t id);
}  // namespace detail

/// A buffer of raw bytes with an intrusive reference count. Create with Storage::allocate.
class Storage {
 public:
  /// A new buffer of at least `bytes` bytes, 64-byte aligned, contents uninitialised;
  /// std::bad_alloc past 128 TiB (the largest size class) or when the system has no memory.
  static Storage* allocate(std::size_t bytes);

  /// The first byte of the buffer.
  void* data() { return reinterpret_cast<std::byte*>(this) + kHeader; }
  /// Usable size of the buffer.
  std::size_t bytes() const { return bytes_; }

  /// Adding and dropping a reference (the last release frees the buffer), from any thread.
  /// @{
  void retain() { refs_.retain(); }
  void release() {
    if (refs_.owned()) [[likely]] {
      if (refs_.drop_local()) release_last_local(this);
    } else {
      release_shared(this);
    }
  }
  /// @}
  /// Whether the calling thread holds the only reference (nothing else can see the elements).
  bool unique() const { return refs_.unique(); }

  /// In-place writes to the buffer so far (Tensor::increment_version): every alias of the buffer
  /// (views, detach()) shares it, and the tape compares it when a backward rule reads a tensor it
  /// saved, so that a rule never computes with elements changed since the forward.
  /// @{
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }
  /// @}

  /// Bytes before the data: the header is one cache line so the data stay aligned.
  static constexpr std::size_t kHeader = 64;

 private:
  friend struct detail::ThreadHome;
  friend struct detail::LocalPool;
  static void free(Storage* s);
  static void free_erased(void* s) { free(static_cast<Storage*>(s)); }
  static void release_last_local(Storage* s);
  static void release_shared(Storage* s);
  detail::RefCount refs_{detail::kNoHome};
  std::uint32_t size_class_ = 0;
  std::uint32_t home_ = detail::kNoHome;  // the home whose pool the block returns to
  std::size_t bytes_ = 0;
  std::atomic<Storage*> next_free_{nullptr};  // link in a free list (the remote one is shared)
  std::uint64_t version_ = 0;
};

/// Counters of the calling thread's pool. A pool a finished thread left is taken over, counters
/// included, by the next new thread.
struct PoolStats {
  std::uint64_t system_allocs = 0;  ///< buffers obtained from the system
  std::uint64_t reuses = 0;         ///< buffers served from the free lists
  std::uint64_t bytes_cached = 0;   ///< bytes held in free lists now
  std::uint64_t bytes_in_use = 0;   ///< bytes handed out and not yet freed (on any thread)
};

/// This thread's pool counters (after taking in the buffers other threads freed).
PoolStats pool_stats();

/// Returns every cached buffer of this thread's pool to the system.
void pool_release_cached();

/// Bytes all pools hold from the system now (handed out and cached), over all threads.
std::uint64_t pool_system_bytes();

}  // namespace tg
