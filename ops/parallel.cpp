#include <tapegrad/ops/parallel.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/kernels/parallel.h>

namespace tg {

int get_num_threads() { return kernels::num_threads(); }

void set_num_threads(int n) {
  if (n < 1 || n > kernels::kMaxThreads)
    throw ValueError(
        fmt::format("set_num_threads: {} threads; expected a count from 1 to {}", n, kernels::kMaxThreads));
  if (kernels::in_parallel_region())
    throw ValueError(
        fmt::format("set_num_threads({}): called from inside a parallel region (a pool thread's work)", n));
  kernels::set_num_threads(n);
}

int available_cpus() { return kernels::affinity_cpus(); }

int parse_num_threads(std::string_view text, std::string_view name) {
  const int n = kernels::parse_thread_count(text);
  if (n == 0)
    throw ValueError(
        fmt::format("{}='{}': expected a thread count, an integer from 1 to {}", name, text, kernels::kMaxThreads));
  return n;
}

}  // namespace tg
