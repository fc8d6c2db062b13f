// A program built against the installed tapegrad::dist (tests/consumer/run.sh). Started without
// an MPI launcher it is rank 0 of a world of one, and MPI is never initialised. Exits non-zero
// otherwise.
#include <tapegrad/nn/dist/dist.h>

#include <cstdio>

int main() {
  tg::dist::Session mpi;  // does nothing without a launcher
  tg::ProcessGroup& world = tg::dist::world();
  std::printf("consumer_dist: rank %d of %d, MPI initialised: %s\n", world.rank(), world.size(),
              tg::dist::initialized() ? "yes" : "no");
  return world.size() == 1 && world.rank() == 0 && !tg::dist::initialized() ? 0 : 1;
}
