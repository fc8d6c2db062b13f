#include <tapegrad/ops/kernels/parallel.h>
#include <tapegrad/ops/kernels/rows.h>

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>

namespace tg::kernels {

// ---- thread counts ----------------------------------------------------------------------------

int affinity_cpus() {
  // The mask may be larger than cpu_set_t on machines with more than 1024 CPUs: grow it.
  for (int size = 1024; size <= (1 << 16); size *= 2) {
    cpu_set_t* set = CPU_ALLOC(static_cast<std::size_t>(size));
    if (set == nullptr) break;
    const std::size_t bytes = CPU_ALLOC_SIZE(static_cast<std::size_t>(size));
    CPU_ZERO_S(bytes, set);
    if (sched_getaffinity(0, bytes, set) == 0) {
      const int count = CPU_COUNT_S(bytes, set);
      CPU_FREE(set);
      return std::max(count, 1);
    }
    CPU_FREE(set);
  }
  return std::max(static_cast<int>(std::thread::hardware_concurrency()), 1);
}

int parse_thread_count(std::string_view text, bool omp_list) {
  if (omp_list) text = text.substr(0, text.find(','));
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  if (text.empty() || text.size() > 6) return 0;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= kMaxThreads ? value : 0;
}

DefaultThreads default_threads(const char* tapegrad_env, const char* omp_env, int cpus) {
  DefaultThreads d;
  const auto bad = [&](const char* name, const char* value) {
    if (!d.warning.empty()) d.warning += "; ";
    d.warning += std::string(name) + "='" + value + "' is not a thread count (an integer from 1 to " +
                 std::to_string(kMaxThreads) + "): ignored";
  };
  if (tapegrad_env != nullptr) {
    if (const int t = parse_thread_count(tapegrad_env); t > 0) {
      d.threads = t;
      d.source = "TAPEGRAD_NUM_THREADS";
      return d;
    }
    bad("TAPEGRAD_NUM_THREADS", tapegrad_env);
  }
  if (omp_env != nullptr) {
    if (const int t = parse_thread_count(omp_env, true); t > 0) {
      d.threads = t;
      d.source = "OMP_NUM_THREADS";
      if (!d.warning.empty()) d.warning += "; using OMP_NUM_THREADS=" + std::to_string(t);
      return d;
    }
    bad("OMP_NUM_THREADS", omp_env);
  }
  d.threads = std::clamp(cpus, 1, kMaxThreads);
  d.source = "affinity";
  if (!d.warning.empty()) d.warning += "; using " + std::to_string(d.threads) + " (the CPUs this process may run on)";
  return d;
}

// ---- the pool ---------------------------------------------------------------------------------

namespace detail {
std::atomic<int> g_threads{0};
thread_local bool t_in_region = false;
bool in_region() noexcept { return t_in_region; }
}  // namespace detail

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until `done()` or kSpinMicros have passed on the wall clock; true when done. (Tried:
// counting the thread's own CPU time, to keep a preempted worker spinning; on the loaded VM it
// brought the worker in no more often, and a spinning worker takes from the caller's share.)
template <class Done>
bool spin_until(Done done) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 128 == 0 && Clock::now() - start > std::chrono::microseconds(kSpinMicros)) return done();
  }
}

// The claim word: the region's epoch (32 bits), its part count (16) and the next unclaimed part
// (16). A claim is a compare-and-swap on it, so a worker still holding an old region's word
// cannot take a part of the next one.
constexpr std::uint64_t claim_word(std::uint32_t epoch, int parts) {
  return (std::uint64_t{epoch} << 32) | (static_cast<std::uint64_t>(parts) << 16);
}
static_assert(kMaxThreads < (1 << 16));

class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() { stop_workers(); }

  bool try_enter() {
    bool free = false;
    return busy_.compare_exchange_strong(free, true, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void enter_blocking() {
    while (!try_enter()) std::this_thread::yield();
  }
  void leave() { busy_.store(false, std::memory_order_release); }
  std::uint64_t forked() const { return forked_.load(std::memory_order_relaxed); }
  // With the pool entered: forgets the misses (set_num_threads: forking is tried again).
  void reset_misses() {
    misses_ = 0;
    serial_left_ = 0;
  }
  // With the pool entered: true when this region is to run serially (see run).
  bool backing_off() {
    if (serial_left_ == 0) return false;
    --serial_left_;
    return true;
  }

  // With the pool entered: runs the parts of [0, n) with `workers` workers and the caller.
  void run(std::int64_t n, int parts, detail::RangeFn fn, int workers) {
    if (static_cast<int>(threads_.size()) != workers) {
      stop_workers();
      start_workers(workers);
    }
    forked_.fetch_add(1, std::memory_order_relaxed);
    job_ = Job{n, fn};
    done_.store(0, std::memory_order_relaxed);
    ++epoch_value_;
    claim_.store(claim_word(epoch_value_, parts), std::memory_order_release);
    epoch_.store(epoch_value_, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) epoch_.notify_all();
    const int mine = run_parts();
    // Workers that never get a part in time (their CPUs taken by other processes: they wake or
    // are scheduled too late) make a fork cost without helping: after kMisses such regions in
    // a row, the next kSerialRegions run on the caller alone, then forking is tried again.
    misses_ = mine == parts ? misses_ + 1 : 0;
    if (misses_ >= kMisses) {
      misses_ = 0;
      serial_left_ = kSerialRegions;
    }
    // Join: spin while the workers finish their parts, then sleep until the last one wakes us.
    if (!spin_until([&] { return done_.load(std::memory_order_acquire) == parts; })) {
      caller_waiting_.store(true, std::memory_order_seq_cst);
      for (int d; (d = done_.load(std::memory_order_seq_cst)) != parts;) done_.wait(d, std::memory_order_seq_cst);
      caller_waiting_.store(false, std::memory_order_relaxed);
    }
  }

  // With the pool entered (or from the destructor): ends and joins the workers.
  void stop_workers() {
    if (threads_.empty()) return;
    stop_.store(true, std::memory_order_relaxed);
    ++epoch_value_;
    epoch_.store(epoch_value_, std::memory_order_seq_cst);
    epoch_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    stop_.store(false, std::memory_order_relaxed);
  }

 private:
  struct Job {
    std::int64_t n = 0;
    detail::RangeFn fn{};
  };

  void start_workers(int count) {
    threads_.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) threads_.emplace_back([this, seen = epoch_value_] { worker(seen); });
  }

  void worker(std::uint32_t seen) {
    detail::t_in_region = true;  // a region a worker's part enters runs serially
    for (;;) {
      if (!spin_until([&] { return epoch_.load(std::memory_order_acquire) != seen; })) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (epoch_.load(std::memory_order_seq_cst) == seen) epoch_.wait(seen, std::memory_order_seq_cst);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = epoch_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_relaxed)) return;
      run_parts();
    }
  }

  // Claims and runs parts of the current region until none is left; returns how many it ran.
  int run_parts() {
    int ran = 0;
    std::uint64_t word = claim_.load(std::memory_order_acquire);
    for (;;) {
      const auto next = static_cast<int>(word & 0xffff);
      const auto parts = static_cast<int>((word >> 16) & 0xffff);
      if (next >= parts) return ran;
      if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      // The region cannot end before this part is counted, so job_ is still this region's.
      const Job& job = job_;
      const std::int64_t begin = job.n * next / parts, end = job.n * (next + 1) / parts;
      job.fn.call(job.fn.obj, begin, end);
      ++ran;
      if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == parts && caller_waiting_.load(std::memory_order_seq_cst))
        done_.notify_one();
      word = claim_.load(std::memory_order_acquire);
    }
  }

  static constexpr int kMisses = 8, kSerialRegions = 64;
  int misses_ = 0, serial_left_ = 0;  // the region holder's
  std::atomic<std::uint64_t> forked_{0};
  Job job_;  // written by the region's caller before it publishes the claim word
  std::vector<std::thread> threads_;
  std::uint32_t epoch_value_ = 0;  // the caller's copy of epoch_
  alignas(64) std::atomic<std::uint32_t> epoch_{0};
  alignas(64) std::atomic<std::uint64_t> claim_{0};
  alignas(64) std::atomic<int> done_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<bool> busy_{false};
};

Pool& pool() {
  static Pool instance;
  return instance;
}

std::mutex& config_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

int detail::init_threads() {
  std::lock_guard lock(config_mutex());
  if (const int t = g_threads.load(std::memory_order_relaxed); t != 0) return t;
  const DefaultThreads d =
      default_threads(std::getenv("TAPEGRAD_NUM_THREADS"), std::getenv("OMP_NUM_THREADS"), affinity_cpus());
  if (!d.warning.empty()) std::fprintf(stderr, "tapegrad: %s\n", d.warning.c_str());
  g_threads.store(d.threads, std::memory_order_relaxed);
  return d.threads;
}

bool set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads || detail::t_in_region) return false;
  std::lock_guard lock(config_mutex());
  Pool& p = pool();
  p.enter_blocking();  // a region running on another thread ends first
  if (detail::g_threads.load(std::memory_order_relaxed) != n) {
    p.stop_workers();  // the next region that forks starts n - 1
    detail::g_threads.store(n, std::memory_order_relaxed);
  }
  p.reset_misses();
  p.leave();
  return true;
}

std::uint64_t regions_forked() { return pool().forked(); }

void detail::parallel_for_impl(std::int64_t n, int parts, RangeFn fn) {
  Pool& p = pool();
  if (!p.try_enter()) {  // another thread's region holds the workers
    fn.call(fn.obj, 0, n);
    return;
  }
  t_in_region = true;
  if (p.backing_off())
    fn.call(fn.obj, 0, n);
  else
    p.run(n, parts, fn, num_threads() - 1);
  t_in_region = false;
  p.leave();
}

// ---- GEMM on blocks of C ----------------------------------------------------------------------

std::int64_t GemmSplit::begin(int i) const {
  if (i >= count) return extent;
  return extent * i / count / 16 * 16;
}

GemmSplit gemm_split(std::int64_t m, std::int64_t n, std::int64_t k) {
  constexpr std::int64_t kMinEdge = 64, kMaxBlocks = 8;
  if (m <= 0 || n <= 0 || k <= 0) return {false, 1, n};
  const double macs = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (macs < static_cast<double>(kGemmForkMacs)) return {false, 1, n};
  const auto by_work = static_cast<std::int64_t>(std::min(macs / static_cast<double>(kGemmBlockMacs), 1e6));
  const std::int64_t cols = std::min({n / kMinEdge, by_work, kMaxBlocks});
  const std::int64_t rows = std::min({m / kMinEdge, by_work, kMaxBlocks});
  if (std::max(cols, rows) < 2) return {false, 1, n};
  if (cols >= rows) return {false, static_cast<int>(cols), n};
  return {true, static_cast<int>(rows), m};
}

int gemm_k_chunks(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k) {
  if (!trans_a || trans_b || k < kGemmSplitK || m < 64 || n < 64) return 1;
  return static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= 2.0 * kGemmBlockMacs ? 2 : 1;
}

std::int64_t gemm_k_begin(std::int64_t k, int chunks, int i) { return i >= chunks ? k : k * i / chunks / 16 * 16; }

namespace {
template <class T>
T* k_chunk_buffer(std::size_t count) {  // the caller's; the pool's workers write their chunk into it
  thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

// parallel_gemm over `chunks` ranges of K: chunk 0 into C (with beta and the bias), the others
// into scratch blocks, added into C in chunk order after the join.
template <class T>
void gemm_by_k_chunks(int chunks, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                      const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc,
                      const T* bias, std::int64_t ld_bias) {
  T* scratch = k_chunk_buffer<T>(static_cast<std::size_t>((chunks - 1) * m * n));
  auto begin = [&](int i) { return gemm_k_begin(k, chunks, i); };
  auto run = [&](int i) {
    const std::int64_t k0 = begin(i), kc = begin(i + 1) - k0;
    const T* ai = trans_a ? a + k0 * lda : a + k0;  // A^T's rows k0.., or A's columns
    const T* bi = trans_b ? b + k0 : b + k0 * ldb;
    if (i == 0)
      gemm(trans_a, trans_b, m, n, kc, alpha, ai, lda, bi, ldb, beta, c, ldc, bias, ld_bias);
    else
      gemm(trans_a, trans_b, m, n, kc, alpha, ai, lda, bi, ldb, T(0), scratch + (i - 1) * m * n, n);
  };
  if (num_threads() == 1 || in_parallel_region()) {
    for (int i = 0; i < chunks; ++i) run(i);
  } else {
    parallel_for(chunks, 1, [&](std::int64_t first, std::int64_t last) {
      for (auto i = static_cast<int>(first); i < last; ++i) run(i);
    });
  }
  for (int i = 1; i < chunks; ++i) add_rows(scratch + (i - 1) * m * n, n, c, ldc, m, n);
}
}  // namespace

template <class T>
void parallel_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                   std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc, const T* bias,
                   std::int64_t ld_bias) {
  if (const int chunks = gemm_k_chunks(trans_a, trans_b, m, n, k); chunks > 1) {
    gemm_by_k_chunks(chunks, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
    return;
  }
  const GemmSplit split = gemm_split(m, n, k);
  // One thread takes the whole product: its blocks would each pack the shared operand again
  // (a weight gradient's A^T four times: +12 % on 256 x 256 x 6399).
  if (split.count < 2 || num_threads() == 1 || in_parallel_region()) {
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, ld_bias);
    return;
  }
  parallel_for(split.count, 1, [&](std::int64_t first, std::int64_t last) {
    for (auto i = static_cast<int>(first); i < last; ++i) {
      const std::int64_t lo = split.begin(i), hi = split.begin(i + 1);
      if (split.by_rows)  // rows [lo, hi) of C: rows of A (columns when transposed)
        gemm(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc,
             ldc, bias != nullptr && ld_bias > 0 ? bias + lo * ld_bias : bias, ld_bias);
      else  // columns [lo, hi) of C: columns of B (rows when transposed)
        gemm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc,
             bias != nullptr ? bias + lo : nullptr, ld_bias);
    }
  });
}

template void parallel_gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                   std::int64_t, const float*, std::int64_t, float, float*, std::int64_t, const float*,
                                   std::int64_t);
template void parallel_gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                    std::int64_t, const double*, std::int64_t, double, double*, std::int64_t,
                                    const double*, std::int64_t);

// ---- B packed in column shards ----------------------------------------------------------------

template <class T>
ShardedPackedB<T>::Buffer::~Buffer() {
  if (data_ != nullptr) ::operator delete (data_, std::align_val_t{64});
}

template <class T>
void ShardedPackedB<T>::Buffer::reserve(std::size_t count) {
  if (count <= size_) return;
  if (data_ != nullptr) ::operator delete (data_, std::align_val_t{64});
  data_ = nullptr;
  size_ = 0;
  data_ = static_cast<T*>(::operator new (count * sizeof(T), std::align_val_t{64}));
  size_ = count;
}

template <class T>
void ShardedPackedB<T>::pack(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* b, std::int64_t ldb,
                             int shards) {
  m_ = m;
  n_ = n;
  k_ = k;
  begins_.clear();
  offsets_.clear();
  plans_.clear();
  if (n <= 0) {
    begins_.push_back(0);
    return;
  }
  std::int64_t count = shards > 0 ? shards : std::min<std::int64_t>(kMaxShards, n / kShardColumns);
  count = std::clamp<std::int64_t>(count, 1, std::max<std::int64_t>(1, n / 16));
  constexpr std::int64_t kAlign = 64 / sizeof(T);
  std::int64_t total = 0;
  for (std::int64_t s = 0; s <= count; ++s) begins_.push_back(s == count ? n : n * s / count / 16 * 16);
  for (std::int64_t s = 0; s < count; ++s) {
    const std::int64_t width = begins_[static_cast<std::size_t>(s) + 1] - begins_[static_cast<std::size_t>(s)];
    offsets_.push_back(total);
    total += (packed_b_size<T>(m, width, k) + kAlign - 1) / kAlign * kAlign;
    plans_.push_back(plan_packed_b<T>(m, width, k));
  }
  packed_.reserve(static_cast<std::size_t>(std::max<std::int64_t>(total, 1)));
  for (std::int64_t s = 0; s < count; ++s) {
    const auto i = static_cast<std::size_t>(s);
    const std::int64_t j0 = begins_[i], width = begins_[i + 1] - j0;
    pack_b_for<T>(trans_b, m, width, k, trans_b ? b + j0 * ldb : b + j0, ldb, packed_.data() + offsets_[i]);
  }
}

template class ShardedPackedB<float>;
template class ShardedPackedB<double>;

}  // namespace tg::kernels
