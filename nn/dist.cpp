#include "nn/dist.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <fmt/format.h>

#ifdef TAPEGRAD_HAVE_MPI
#include <mpi.h>
#endif

namespace tg::dist {

namespace {

#ifdef TAPEGRAD_HAVE_MPI
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
#endif

// Sums buffer[0, n) across ranks in place; the identity on one process.
template <class T>
void sum_in_place(T* buffer, std::size_t n, const char* what) {
#ifdef TAPEGRAD_HAVE_MPI
  if (n == 0 || world_size() == 1) return;
  (void)what;
  check(MPI_Allreduce(MPI_IN_PLACE, buffer, static_cast<int>(n), mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
#else
  (void)buffer;
  (void)n;
  (void)what;
#endif
}

}  // namespace

bool available() {
#ifdef TAPEGRAD_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

bool initialized() {
#ifdef TAPEGRAD_HAVE_MPI
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init != 0 && fin == 0;
#else
  return false;
#endif
}

int rank() {
#ifdef TAPEGRAD_HAVE_MPI
  if (!initialized()) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
#else
  return 0;
#endif
}

int world_size() {
#ifdef TAPEGRAD_HAVE_MPI
  if (!initialized()) return 1;
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
#else
  return 1;
#endif
}

// ---- Session ------------------------------------------------------------------------------------

Session::Session() { start(nullptr, nullptr); }
Session::Session(int& argc, char**& argv) { start(&argc, &argv); }

void Session::start(int* argc, char*** argv) {
  uncaught_ = std::uncaught_exceptions();
#ifdef TAPEGRAD_HAVE_MPI
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    if (!launched()) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) throw DistError("dist: MPI_Init failed");
    owns_ = true;
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
#else
  (void)argc;
  (void)argv;
#endif
}

Session::~Session() {
#ifdef TAPEGRAD_HAVE_MPI
  if (!owns_ || !initialized()) return;
  if (std::uncaught_exceptions() > uncaught_ && world_size() > 1) abort(1);
  MPI_Finalize();
#endif
}

void abort(int code) {
#ifdef TAPEGRAD_HAVE_MPI
  if (initialized()) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

// ---- collectives --------------------------------------------------------------------------------

void broadcast(const std::vector<Tensor>& tensors, int root) {
#ifdef TAPEGRAD_HAVE_MPI
  if (world_size() == 1) return;
  if (root < 0 || root >= world_size())
    throw ValueError(fmt::format("dist::broadcast: root {} is not a rank of a world of {}", root, world_size()));
  for (const Tensor& t : tensors) {
    Tensor handle = t;
    const auto n = static_cast<int>(t.numel());
    check(MPI_Bcast(handle.raw_data(), n, t.dtype() == DType::f64 ? MPI_DOUBLE : MPI_FLOAT, root, MPI_COMM_WORLD),
          "MPI_Bcast");
  }
#else
  (void)tensors;
  if (root != 0) throw ValueError(fmt::format("dist::broadcast: root {} is not a rank of a world of 1", root));
#endif
}

void all_reduce_sum(std::span<double> values) { sum_in_place(values.data(), values.size(), "all_reduce_sum"); }

void barrier() {
#ifdef TAPEGRAD_HAVE_MPI
  if (world_size() > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

// ---- GradientReducer ----------------------------------------------------------------------------

GradientReducer::GradientReducer(std::vector<Tensor> parameters, std::size_t bucket_bytes)
    : params_(std::move(parameters)), bucket_bytes_(bucket_bytes) {
  if (bucket_bytes_ < sizeof(double))
    throw ValueError(fmt::format("GradientReducer: bucket_bytes must be >= {}, got {}", sizeof(double), bucket_bytes));
  std::size_t n32 = 0, n64 = 0;
  for (const Tensor& p : params_) {
    if (!p.defined()) throw ValueError("GradientReducer: a parameter is an undefined tensor");
    (p.dtype() == DType::f64 ? n64 : n32) += static_cast<std::size_t>(p.numel());
  }
  buffer32_.resize(std::min(n32, bucket_elements(DType::f32)));
  buffer64_.resize(std::min(n64, bucket_elements(DType::f64)));
  stats_.reserve(params_.size() + 16);
}

std::size_t GradientReducer::bucket_elements(DType dtype) const { return bucket_bytes_ / dtype_size(dtype); }

template <class T>
void GradientReducer::reduce_dtype(DType dtype, std::vector<T>& buffer, double weight) {
  const std::size_t cap = buffer.size();
  if (cap == 0) return;
  const T w = static_cast<T>(weight);
  std::size_t total = 0;
  for (const Tensor& p : params_)
    if (p.dtype() == dtype) total += static_cast<std::size_t>(p.numel());
  // Bucket b holds the elements [b * cap, (b + 1) * cap) of this dtype's gradients laid end to end.
  for (std::size_t begin = 0; begin < total; begin += cap) {
    const std::size_t end = std::min(total, begin + cap);
    std::size_t offset = 0;
    for (const Tensor& p : params_) {
      if (p.dtype() != dtype) continue;
      const auto n = static_cast<std::size_t>(p.numel());
      const std::size_t lo = std::max(begin, offset), hi = std::min(end, offset + n);
      if (lo < hi) {
        T* dst = buffer.data() + (lo - begin);
        const Tensor g = p.grad();
        if (g.defined()) {
          const T* src = g.data<T>() + (lo - offset);
          for (std::size_t i = 0; i < hi - lo; ++i) dst[i] = src[i] * w;
        } else {
          std::fill(dst, dst + (hi - lo), T(0));
        }
      }
      offset += n;
    }
    sum_in_place(buffer.data(), end - begin, "gradients");
    ++last_calls_;
    offset = 0;
    for (const Tensor& p : params_) {
      if (p.dtype() != dtype) continue;
      const auto n = static_cast<std::size_t>(p.numel());
      const std::size_t lo = std::max(begin, offset), hi = std::min(end, offset + n);
      Tensor g = p.grad();
      if (lo < hi && g.defined()) std::memcpy(g.data<T>() + (lo - offset), buffer.data() + (lo - begin), (hi - lo) * sizeof(T));
      offset += n;
    }
  }
}

void GradientReducer::all_reduce(double weight, std::span<double> stats) {
  last_calls_ = 0;
  // One small reduction first: the caller's stats and, per parameter, how many ranks have a
  // gradient, so a gradient missing here but present elsewhere is created before packing.
  stats_.assign(stats.begin(), stats.end());
  for (const Tensor& p : params_) stats_.push_back(p.grad().defined() ? 1.0 : 0.0);
  sum_in_place(stats_.data(), stats_.size(), "stats");
  ++last_calls_;
  std::copy(stats_.begin(), stats_.begin() + static_cast<std::ptrdiff_t>(stats.size()), stats.begin());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (stats_[stats.size() + i] > 0 && !p.grad().defined()) p.set_grad(zeros_like(p));
  }
  reduce_dtype(DType::f32, buffer32_, weight);
  reduce_dtype(DType::f64, buffer64_, weight);
}

}  // namespace tg::dist
