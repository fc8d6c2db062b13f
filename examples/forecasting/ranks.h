#pragma once
// The processes forecast runs on. With tapegrad::dist (the build links ranks_mpi.cpp when CMake
// finds MPI) a run under mpirun is data-parallel over the MPI world; otherwise (ranks_local.cpp)
// forecast is one process. forecast.cpp is the same in both builds.

#include <memory>

#include <tapegrad/nn/training/process_group.h>

namespace forecast {

class Ranks {
 public:
  /// Starts MPI when an MPI launcher started the program (it may take its own arguments).
  Ranks(int& argc, char**& argv);
  ~Ranks();
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  /// The group for FitOptions::process_group (a world of one without MPI).
  tg::ProcessGroup* group() const;
  int rank() const;
  int size() const;
  /// Ends every rank with `code`, for an error only this rank saw.
  [[noreturn]] void abort_all(int code) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace forecast
