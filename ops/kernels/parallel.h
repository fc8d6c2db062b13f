#pragma once
/// \file
/// Intra-op parallelism over plain buffers: a pool of persistent worker threads and a fork-join
/// `parallel_for` in which the calling thread takes part, the GEMM split into independent
/// sub-GEMMs on blocks of C (`parallel_gemm`), and B packed in column shards for a product
/// repeated with the same B (`ShardedPackedB`, a recurrent scan's steps). No tensors, no tape,
/// no exceptions: the functions handed to the pool run kernels on buffers and must not throw
/// (an exception escaping one ends the program, as from a noexcept function).
///
/// - The pool: `num_threads()` threads in all, the caller and num_threads() - 1 workers, started
///   by the first region that forks (none for 1 thread). A fork wakes the workers by bumping an
///   epoch they spin on (then sleep on, futex, after kSpinMicros without work); parts are claimed
///   from a shared counter, so a worker that is late (descheduled on a busy machine) leaves its
///   part to whoever is free, the caller included. A warm fork/join allocates nothing. After 8
///   regions in a row whose parts the caller ran alone (workers that do not get a CPU in time),
///   the next 64 run serially without a fork; set_num_threads starts afresh.
/// - One region at a time: a region entered while another holds the pool (another user thread),
///   and any region entered from inside a region (a worker, or the caller in its own part), runs
///   serially on its thread: no deadlock, no queue.
/// - Determinism: `parallel_for` hands each index to exactly one call of fn; which thread runs
///   it does not matter to callers whose output element depends only on its inputs (elementwise
///   maps). parallel_gemm and ShardedPackedB split C into blocks chosen from the shape alone,
///   never from the thread count, so their results are the same at every thread count from two
///   (and, on the v4 kernels with A not transposed, the same bits as one kernels::gemm call; the
///   v2 and v3 kernels choose tiles from a block's sizes and may differ from the whole in the last
///   bits: tests/ops/parallel_test.cpp).
///   Reductions are not split here.
/// Design and figures: docs/performance.md, section "Intra-op parallelism".

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <tapegrad/ops/kernels/gemm.h>

namespace tg::kernels {

/// The largest thread count accepted (set_num_threads, the environment variables).
inline constexpr int kMaxThreads = 1024;
/// How long an idle worker spins for the next fork before it sleeps (microseconds).
inline constexpr int kSpinMicros = 100;

/// CPUs this process may run on: the size of its affinity mask (sched_getaffinity), at least 1.
int affinity_cpus();

/// A thread count as an environment variable gives it: a decimal integer in [1, kMaxThreads],
/// spaces around it allowed. With `omp_list`, the first entry of an OpenMP list ("4,2" gives
/// 4). 0 when the text is not one (empty, a sign, other characters, 0, too large).
int parse_thread_count(std::string_view text, bool omp_list = false);

/// The default thread count and where it came from.
struct DefaultThreads {
  int threads = 1;
  std::string source;   ///< "TAPEGRAD_NUM_THREADS", "OMP_NUM_THREADS" or "affinity"
  std::string warning;  ///< non-empty when a variable was set to a value that is not a count
};
/// TAPEGRAD_NUM_THREADS when set (`tapegrad_env`, nullptr when unset), else OMP_NUM_THREADS (its
/// list's first entry), else `cpus`. A value that is not a count is skipped with a warning that
/// names it and says what is used instead.
DefaultThreads default_threads(const char* tapegrad_env, const char* omp_env, int cpus);

namespace detail {
/// 0 until the pool is sized: the first num_threads() reads the environment.
extern std::atomic<int> g_threads;
int init_threads();
/// True on a pool worker, and on a caller while it runs a region. Out of line: an extern
/// thread_local read inline in other files goes through GCC's TLS wrapper, which
/// UndefinedBehaviorSanitizer flagged as a null load on pool workers.
bool in_region() noexcept;

/// fn(begin, end), type-erased without allocation.
struct RangeFn {
  void* obj;
  void (*call)(void* obj, std::int64_t begin, std::int64_t end) noexcept;
};
void parallel_for_impl(std::int64_t n, int parts, RangeFn fn);
}  // namespace detail

/// Threads a region uses, the caller included (>= 1). The first call sizes the pool from the
/// environment (default_threads; a warning goes to stderr once when a variable is malformed).
inline int num_threads() {
  const int t = detail::g_threads.load(std::memory_order_relaxed);
  return t != 0 ? t : detail::init_threads();
}

/// Sets the thread count, 1 <= n <= kMaxThreads. Waits for a region running on another thread
/// to end; the workers are restarted by the next region that forks. Returns false (and changes
/// nothing) when n is out of range or the calling thread is inside a region.
bool set_num_threads(int n);

/// Regions that have run on the pool (forked to its workers) since the program started: what
/// tests and benchmarks read to tell whether an op went parallel.
std::uint64_t regions_forked();

/// True on a pool worker, and on a caller while it runs a region: a region entered here runs
/// serially.
inline bool in_parallel_region() { return detail::in_region(); }

/// Runs fn(begin, end) over a partition of [0, n) into at most num_threads() contiguous ranges of
/// at least `grain` indices each, the caller taking one; returns when all have run. With one
/// range (n < 2 * grain, one thread, inside a region, or the pool held by another thread) it is
/// fn(0, n) on the calling thread, with nothing else done. fn must not throw.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const std::int64_t most = n / grain;
  if (most < 2 || detail::in_region()) {
    fn(std::int64_t{0}, n);
    return;
  }
  const int threads = num_threads();
  if (threads == 1) {
    fn(std::int64_t{0}, n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  detail::RangeFn erased{const_cast<void*>(static_cast<const void*>(&fn)),
                         [](void* obj, std::int64_t b, std::int64_t e) noexcept { (*static_cast<Fn*>(obj))(b, e); }};
  detail::parallel_for_impl(n, static_cast<int>(most < threads ? most : threads), erased);
}

/// Elements per part of elementwise work: the least that pays a fork and join. A cheap map
/// (add, mul, neg: bound by memory), and one computing tanh, sigmoid, exp or log. A fork that
/// finds the workers asleep (no region for kSpinMicros) pays for waking them, 3-15 us on a
/// shared VM: a part is at least about that much work, so a cold fork costs little more than
/// running serially (the caller claims the parts the workers are too late for).
inline constexpr std::int64_t kElementwiseGrain = std::int64_t{1} << 15;
inline constexpr std::int64_t kMathGrain = std::int64_t{1} << 14;

/// The blocks parallel_gemm splits C into: `count` blocks along columns (by_rows false) or rows,
/// block i covering [begin(i), begin(i + 1)). Chosen from the shape alone.
struct GemmSplit {
  bool by_rows = false;
  int count = 1;
  std::int64_t extent = 0;  ///< n (columns) or m (rows)
  std::int64_t begin(int i) const;
};
/// Blocks at least 64 wide (columns) or tall (rows), on multiples of 16, each at least
/// kGemmBlockMacs multiply-adds, at most 8; one block (no split) when the product is smaller,
/// or below kGemmForkMacs in all.
inline constexpr std::int64_t kGemmBlockMacs = std::int64_t{1} << 19;
/// No product (nor batch of products) forks below this many multiply-adds. A fork now and then
/// wakes a sleeping worker, and the rows it writes are then read from its core's cache: an LSTM
/// layer's input projection (1600 x 20 x 80, 2.6M) and its input gradient, forked twice a batch,
/// made the lstm workload 18-20 % slower at two threads than at one on the development VM. A
/// large_rnn step (64 x 256 x 256, 2^22) still splits.
inline constexpr std::int64_t kGemmForkMacs = std::int64_t{1} << 22;
GemmSplit gemm_split(std::int64_t m, std::int64_t n, std::int64_t k);

/// A weight gradient A^T B whose K (the batch's rows) is at least this long, and whose C is at
/// least 64 x 64, is split along K instead (gemm_k_chunks).
inline constexpr std::int64_t kGemmSplitK = 4096;
/// The ranges of K parallel_gemm splits a product into (1: none): two for a weight gradient
/// (A^T B, B not transposed) with K >= kGemmSplitK, M and N >= 64 and at least 2 kGemmBlockMacs
/// multiply-adds. Each range is a whole product of its own, its operands packed once (a split of
/// C's columns made every block read all of A^T without packing it: the large RNN's
/// 256 x 6399 x 256). Chosen from the shape alone, at every thread count, one included.
int gemm_k_chunks(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k);
/// The first index of K in range i of `chunks` (i = chunks gives k): multiples of 16.
std::int64_t gemm_k_begin(std::int64_t k, int chunks, int i);

/// kernels::gemm with C split by gemm_split into independent sub-GEMMs run on the pool (each a
/// kernels::gemm call on its block of rows or columns of C). A product too small to split, and
/// any product at one thread or inside a region, is one kernels::gemm call. The same arguments
/// as kernels::gemm; the same bits at every thread count from 2 (the blocks come from the
/// shape), and those of the one call where the blocks' kernels accumulate as the whole's do: all
/// the layers' and scans' products tested (tests/ops/parallel_test.cpp); a block whose rows
/// leave a remainder tile may take a kernel that splits K in two chains, and differ from the
/// whole in the last bits. A product split along K (gemm_k_chunks) computes range 0 into C (with
/// beta and the bias) and each other range into a scratch block, added into C in range order
/// after the join: the same bits at every thread count, one included, and not those of one
/// kernels::gemm call.
template <class T>
void parallel_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                   std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc,
                   const T* bias = nullptr, std::int64_t ld_bias = 0);

/// op(B) [K,N] packed once for many products op(A)[M,K] x op(B) with A not transposed (a
/// recurrent kernel multiplied at every step of a sequence), in column shards: shard s covers
/// columns [begin(s), begin(s + 1)) of B and C, packed by pack_b_for and planned by plan_packed_b
/// on its own, so that each thread computes its own slice of C (and can finish it, an
/// activation over the slice, before the join). The results are the same bits at any thread
/// count (the shards are chosen from the shape), and those of one gemm_packed_b call over all of
/// B when the slices' kernels accumulate as the whole's do: tested on the scans' shapes; a
/// product whose rows leave a remainder tile may take, in a narrower slice, a kernel that splits
/// K in two chains, and differ from the whole in the last bits.
///
///     ShardedPackedB<float> u_packed;                    // per sequence:
///     u_packed.pack(false, b, h, h, u, h);               // h_prev U, U [H,H]
///     u_packed.multiply(h_prev, h, 0.0f, z, h, xw_t, ld_xw,   // per step: z = h_prev U + xw_t
///                       [&](std::int64_t j0, std::int64_t j1) { /* tanh of z[:, j0:j1] */ });
///
/// pack allocates when the shape grows; multiply allocates nothing.
template <class T>
class ShardedPackedB {
 public:
  /// Packs op(B) (B stored [K,N] with leading dimension ldb, or [N,K] when trans_b) for products
  /// with `m` rows, in `shards` column shards (0: N / kShardColumns of them, at least 1 and at
  /// most kMaxShards; chosen from the shape, not the thread count, so that the results are the
  /// same at any thread count). Shard edges fall on multiples of 16 columns.
  void pack(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* b, std::int64_t ldb, int shards = 0);

  /// C = op(A) B + bias + beta * C for the packed m, n, k (A [M,K] row-major, leading dimension
  /// lda; bias as in kernels::gemm: ld_bias 0 is one row [N] for every row, otherwise an [M,N]
  /// matrix), the shards run on the pool; then, on the thread that computed it and before the
  /// join, epilogue(j0, j1) for each shard's columns [j0, j1) of C. The epilogue must touch only
  /// those columns (of C or of buffers laid out like it) and must not throw.
  template <class F>
  void multiply(const T* a, std::int64_t lda, T beta, T* c, std::int64_t ldc, const T* bias, std::int64_t ld_bias,
                F&& epilogue) const {
    const int count = shards();
    parallel_for(count, 1, [&](std::int64_t s0, std::int64_t s1) {
      for (std::int64_t s = s0; s < s1; ++s) {
        const auto i = static_cast<std::size_t>(s);
        const std::int64_t j0 = begins_[i];
        kernels::gemm_planned(plans_[i], a, lda, packed_.data() + offsets_[i], beta, c + j0, ldc,
                              bias ? bias + j0 : nullptr, ld_bias);
        epilogue(j0, begins_[i + 1]);
      }
    });
  }
  /// The same without an epilogue.
  void multiply(const T* a, std::int64_t lda, T beta, T* c, std::int64_t ldc, const T* bias = nullptr,
                std::int64_t ld_bias = 0) const {
    multiply(a, lda, beta, c, ldc, bias, ld_bias, [](std::int64_t, std::int64_t) {});
  }

  int shards() const { return static_cast<int>(plans_.size()); }
  /// First column of shard s (begin(shards()) is n).
  std::int64_t begin(int s) const { return begins_[static_cast<std::size_t>(s)]; }
  std::int64_t m() const { return m_; }
  std::int64_t n() const { return n_; }
  std::int64_t k() const { return k_; }

  /// The width of the shards pack chooses by itself, and their most.
  static constexpr std::int64_t kShardColumns = 64;
  static constexpr int kMaxShards = 16;

 private:
  // Grows only; 64-byte aligned, as are the shards in it.
  struct Buffer {
    T* data_ = nullptr;
    std::size_t size_ = 0;
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
    Buffer& operator=(Buffer&& o) noexcept {
      std::swap(data_, o.data_);
      std::swap(size_, o.size_);
      return *this;
    }
    ~Buffer();
    void reserve(std::size_t count);
    T* data() const { return data_; }
  };
  std::int64_t m_ = 0, n_ = 0, k_ = 0;
  Buffer packed_;
  std::vector<std::int64_t> begins_;   // shards + 1 column edges
  std::vector<std::int64_t> offsets_;  // each shard's start in packed_
  std::vector<PackedPlan<T>> plans_;
};

}  // namespace tg::kernels
