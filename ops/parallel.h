#pragma once
/// \file
/// How many threads tapegrad's ops use. Large products (matmul, linear, their gradients) and
/// elementwise work over many elements are split over a pool of worker threads in which the
/// calling thread takes part; small shapes run on the calling thread alone, at no added cost.
/// The pool's threads run kernels on buffers only: they never touch a tape, a tensor or a
/// reference count, so the thread model (docs/reliability.md, "Threads") is unchanged. Several
/// user threads may run ops at once: one of them has the pool at a time, the others run their
/// ops serially. Results do not depend on the thread count (docs/performance.md, "Intra-op
/// parallelism", says how the work is split).
///
/// The default is read once, at the first use: `TAPEGRAD_NUM_THREADS` when set, else
/// `OMP_NUM_THREADS` (the first entry of its list, as OpenMP and PyTorch read it), else the number
/// of CPUs the process may run on (its affinity mask: `taskset`, cgroup cpusets). A variable set
/// to something that is not an integer from 1 to 1024 is ignored with one warning on stderr
/// naming it and the count used instead.

#include <tapegrad/core/config.h>

#include <string_view>

namespace tg {

/// Threads an op may use, the calling thread included (>= 1).
int get_num_threads();

/// Sets the threads ops may use, the calling thread included: 1 runs everything on the calling
/// thread (no worker is started). Waits for an op running on the pool on another thread to end.
/// ValueError when n is not in [1, 1024], or when called from inside a parallel region.
void set_num_threads(int n);

/// The CPUs this process may run on (the size of its affinity mask), the default thread count
/// when no variable sets one.
int available_cpus();

/// A thread count written as `TAPEGRAD_NUM_THREADS` takes it: a decimal integer from 1 to 1024,
/// spaces around it allowed. ValueError naming `name` and the text otherwise.
int parse_num_threads(std::string_view text, std::string_view name = "TAPEGRAD_NUM_THREADS");

}  // namespace tg
