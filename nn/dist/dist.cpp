#include <tapegrad/nn/dist/dist.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <fmt/format.h>

#include <mpi.h>

namespace tg::dist {

namespace {

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) length = 0;
  throw DistError(fmt::format("dist: {} failed on rank {} of {}: {}", call, rank(), world_size(),
                              length > 0 ? std::string(text, static_cast<std::size_t>(length)) : "unknown MPI error"));
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}

// Sums buffer[0, n) across ranks in place; the identity on one process.
template <class T>
void sum_in_place(T* buffer, std::size_t n) {
  if (n == 0 || world_size() == 1) return;
  check(MPI_Allreduce(MPI_IN_PLACE, buffer, static_cast<int>(n), mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
}

}  // namespace

bool launched() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK"); }

bool initialized() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init != 0 && fin == 0;
}

int rank() {
  if (!initialized()) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  if (!initialized()) return 1;
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// ---- Session ------------------------------------------------------------------------------------

Session::Session() { start(nullptr, nullptr); }
Session::Session(int& argc, char**& argv) { start(&argc, &argv); }

void Session::start(int* argc, char*** argv) {
  uncaught_ = std::uncaught_exceptions();
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    if (!launched()) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) throw DistError("dist: MPI_Init failed");
    owns_ = true;
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
}

Session::~Session() {
  if (!owns_ || !initialized()) return;
  if (std::uncaught_exceptions() > uncaught_ && world_size() > 1) abort(1);
  MPI_Finalize();
}

void abort(int code) {
  if (initialized()) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

// ---- collectives --------------------------------------------------------------------------------

void broadcast(const std::vector<Tensor>& tensors, int root) {
  if (world_size() == 1) return;
  if (root < 0 || root >= world_size())
    throw ValueError(fmt::format("dist::broadcast: root {} is not a rank of a world of {}", root, world_size()));
  for (const Tensor& t : tensors) {
    Tensor handle = t;
    const auto n = static_cast<int>(t.numel());
    check(MPI_Bcast(handle.raw_data(), n, t.dtype() == DType::f64 ? MPI_DOUBLE : MPI_FLOAT, root, MPI_COMM_WORLD),
          "MPI_Bcast");
    handle.increment_version();
  }
}

void all_reduce_sum(std::span<double> values) { sum_in_place(values.data(), values.size()); }

void barrier() {
  if (world_size() > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

// ---- the world as a ProcessGroup ----------------------------------------------------------------

namespace {

class World final : public ProcessGroup {
 public:
  int rank() const override { return dist::rank(); }
  int size() const override { return world_size(); }
  void all_reduce_sum(std::span<double> values) override { sum_in_place(values.data(), values.size()); }
  void all_reduce_sum(std::span<float> values) override { sum_in_place(values.data(), values.size()); }
  void broadcast(const std::vector<Tensor>& tensors, int root) override { dist::broadcast(tensors, root); }
};

}  // namespace

ProcessGroup& world() {
  if (launched() && !initialized())
    throw ValueError(
        "dist::world: the program was started by an MPI launcher but MPI is not initialised: create a "
        "tg::dist::Session first");
  static World group;
  return group;
}

}  // namespace tg::dist
