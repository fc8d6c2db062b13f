#pragma once
/// \file
/// Storage: reference-counted, 64-byte aligned buffers from a caching pool. A freed buffer goes
/// back to a per-thread free list of its size class (powers of two) and is handed out again, so a
/// warm training step does not call malloc.

#include <tapegrad/core/config.h>

#include <cstddef>
#include <cstdint>

namespace tg {

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

  /// Reference count, and adding and dropping a reference (the last release frees the buffer).
  /// @{
  std::uint32_t refs() const { return refs_; }
  void retain() { ++refs_; }
  void release() {
    if (--refs_ == 0) free(this);
  }
  /// @}

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
  friend struct StoragePool;
  friend void pool_release_cached();
  static void free(Storage* s);
  std::uint32_t refs_ = 1;
  std::uint32_t size_class_ = 0;
  std::size_t bytes_ = 0;
  Storage* next_free_ = nullptr;
  std::uint64_t version_ = 0;
};

/// Counters of the calling thread's pool.
struct PoolStats {
  std::uint64_t system_allocs = 0;  ///< buffers obtained from the system
  std::uint64_t reuses = 0;         ///< buffers served from the free lists
  std::uint64_t bytes_cached = 0;   ///< bytes held in free lists now
  std::uint64_t bytes_in_use = 0;   ///< bytes handed out and not yet freed
};

/// This thread's pool counters.
PoolStats pool_stats();

/// Returns every cached buffer of this thread's pool to the system.
void pool_release_cached();

}  // namespace tg
