#pragma once
/// \file
/// Generator: a seedable MT19937 whose doubles and normals follow numpy's legacy RandomState, so
/// `Generator g(42); g.uniform()` gives `np.random.seed(42); np.random.rand()` bit for bit.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <random>
#include <string>

namespace tg {

/// The source of every random choice in tapegrad (initialisers, shuffling, dropout, data).
class Generator {
 public:
  /// A generator started from `seed` (5489 is the MT19937 default).
  explicit Generator(std::uint32_t seed = 5489u) { this->seed(seed); }

  /// Restarts the sequence (numpy's `np.random.seed(seed)`).
  void seed(std::uint32_t seed) {
    engine_.seed(seed);
    has_gauss_ = false;
  }
  /// 32 random bits.
  std::uint32_t next_u32() { return static_cast<std::uint32_t>(engine_()); }
  /// A double in [0, 1) with 53 random bits (numpy's `random_sample`).
  double uniform() {
    std::uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
  /// A double in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  /// A standard normal (numpy's legacy polar method, which caches the second value).
  double normal();
  /// An integer in [0, n), unbiased.
  std::uint64_t below(std::uint64_t n);

  /// The whole state (the engine's words and the cached normal) as text, for checkpoints:
  /// a generator given it with set_state draws the same numbers from there on.
  std::string state() const;
  /// Puts back a state from state(). ValueError for text that is not one (nothing changed).
  void set_state(const std::string& state);

 private:
  std::mt19937 engine_;
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

/// The generator used when none is given: the calling thread's own. Each thread has one, so
/// threads that build models or shuffle at the same time never share (or race on) a sequence.
/// A thread's default generator starts, at its first draw, from the seed of the latest
/// manual_seed call made on any thread (42 when there was none); after that only manual_seed
/// on that thread restarts it. So after `manual_seed(s)`, a model built on a new worker thread
/// gets the same weights as one built on the calling thread, and models built on several new
/// threads at once get those same weights each.
Generator& default_generator();
/// Restarts the calling thread's default generator from `seed`, and makes `seed` the start of
/// every thread's default generator that has not drawn yet (threads started later included).
/// The same seed followed by the same calls gives the same numbers on whichever thread.
void manual_seed(std::uint32_t seed);

}  // namespace tg
