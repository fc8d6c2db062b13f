#pragma once
/// \file
/// Subnormal floats flushed to zero while the large kernels run (the MXCSR's FTZ and DAZ bits,
/// x86-64), as TensorFlow's CPU executor (and so Keras) runs by default. A product that meets
/// subnormal operands otherwise takes a microcode assist per operation: training SimpleRNN(512)
/// (`tapegrad_train_bench --workload xlarge_rnn`) ran its epoch in 57.9 s with them and 5.5 s
/// flushed, the same loss to six digits (docs/performance.md, "Subnormal floats").
///
/// The scope sets the bits only for its own duration and puts the caller's mode back (the
/// exception flags the product raised stay raised), so a user's own floating-point code never
/// sees a changed mode. Setting and restoring costs two
/// register writes; the GEMM entry points open a scope only for products of at least
/// kFlushMinMacs multiply-adds (gemm.h), so small products (a seed workload's step) pay nothing.
/// Results differ from unflushed ones only where a value below the smallest normal float
/// (1.2e-38, or 2.2e-308 in double) would have been read or written.

#include <atomic>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define TAPEGRAD_HAS_MXCSR 1
#else
#define TAPEGRAD_HAS_MXCSR 0
#endif

namespace tg::kernels {

namespace detail {
/// Whether the scopes flush (tg::set_flush_denormal); true unless the user turned it off.
extern std::atomic<bool> g_flush_denormal;
}  // namespace detail

/// FTZ and DAZ set for the scope's lifetime when flushing is on, the MXCSR restored after.
class FlushDenormalScope {
 public:
  FlushDenormalScope() {
#if TAPEGRAD_HAS_MXCSR
    if (!detail::g_flush_denormal.load(std::memory_order_relaxed)) return;
    saved_ = _mm_getcsr();
    if ((saved_ & kBits) != kBits) {
      _mm_setcsr(saved_ | kBits);
      changed_ = true;
    }
#endif
  }
  ~FlushDenormalScope() {
#if TAPEGRAD_HAS_MXCSR
    if (changed_) _mm_setcsr(saved_ | (_mm_getcsr() & kFlags));  // the caller's mode, the flags raised kept
#endif
  }
  FlushDenormalScope(const FlushDenormalScope&) = delete;
  FlushDenormalScope& operator=(const FlushDenormalScope&) = delete;

 private:
  static constexpr unsigned kBits = 0x8040;  // FTZ (bit 15) and DAZ (bit 6)
  static constexpr unsigned kFlags = 0x3f;   // the sticky exception flags (bits 0-5)
  unsigned saved_ = 0;
  bool changed_ = false;
};

}  // namespace tg::kernels
