#include <tapegrad/core/random.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {

double Generator::normal() {
  if (has_gauss_) {
    has_gauss_ = false;
    return gauss_;
  }
  double x1, x2, r2;
  do {
    x1 = 2.0 * uniform() - 1.0;
    x2 = 2.0 * uniform() - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  double f = std::sqrt(-2.0 * std::log(r2) / r2);
  gauss_ = f * x1;
  has_gauss_ = true;
  return f * x2;
}

std::uint64_t Generator::below(std::uint64_t n) {
  if (n <= 1) return 0;
  // Rejection sampling on the smallest mask covering n - 1 (numpy's bounded method).
  std::uint64_t mask = n - 1;
  for (int s = 1; s < 64; s <<= 1) mask |= mask >> s;
  for (;;) {
    std::uint64_t v = next_u32();
    if (mask > 0xffffffffu) v = (v << 32) | next_u32();
    v &= mask;
    if (v < n) return v;
  }
}

std::string Generator::state() const {
  std::ostringstream out;
  out << engine_ << ' ' << (has_gauss_ ? 1 : 0) << ' ' << std::bit_cast<std::uint64_t>(gauss_);
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  std::mt19937 engine;
  int has_gauss = -1;
  std::uint64_t gauss_bits = 0;
  in >> engine >> has_gauss >> gauss_bits;
  if (in.fail() || (has_gauss != 0 && has_gauss != 1) || !(in >> std::ws).eof())
    throw ValueError(fmt::format("Generator::set_state: not a generator state ({} bytes)", state.size()));
  engine_ = engine;
  has_gauss_ = has_gauss == 1;
  gauss_ = std::bit_cast<double>(gauss_bits);
}

namespace {
// The seed of the latest manual_seed, where a thread's default generator starts.
std::atomic<std::uint32_t> g_seed{42};

struct ThreadGenerator {
  Generator gen;
  bool seeded = false;
};
thread_local ThreadGenerator t_generator;
}  // namespace

Generator& default_generator() {
  ThreadGenerator& t = t_generator;
  if (!t.seeded) [[unlikely]] {
    t.gen.seed(g_seed.load(std::memory_order_relaxed));
    t.seeded = true;
  }
  return t.gen;
}

void manual_seed(std::uint32_t seed) {
  g_seed.store(seed, std::memory_order_relaxed);
  ThreadGenerator& t = t_generator;
  t.gen.seed(seed);
  t.seeded = true;
}

}  // namespace tg
