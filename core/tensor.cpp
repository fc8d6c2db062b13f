#include <tapegrad/core/tensor.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>

#include <fmt/format.h>

#include <tapegrad/core/random.h>
#include <tapegrad/core/tape.h>

namespace tg {

namespace detail {
// The blocks come from the calling thread's home (core/storage.h): a free list per thread, and a
// block freed on another thread goes back to the home it came from.
// Inline: only this file makes handles, and a tensor's creation is on every op's path.
inline TensorImpl* TensorImpl::create(const Shape& shape, DType dtype, Storage* storage) {
  std::uint32_t home = kNoHome;
  void* mem = allocate_impl_block(sizeof(TensorImpl), home);
  return ::new (mem) TensorImpl(shape, dtype, storage, home);
}

void TensorImpl::release_last_local(TensorImpl* impl) {
  if (impl->refs.release_last_local()) destroy(impl);
}

void TensorImpl::release_shared(TensorImpl* impl) {
  if (impl->refs.release_shared(impl, &destroy_erased)) destroy(impl);
}

void TensorImpl::destroy(TensorImpl* impl) {
  if (impl->counted.load(std::memory_order_relaxed)) Tape::forget_recorded(impl);
  if (impl->storage) impl->storage->release();
  if (impl->grad) impl->grad->release();
  const std::uint32_t home = impl->home;
  impl->~TensorImpl();
  free_impl_block(impl, home);
}
}  // namespace detail

using detail::TensorImpl;

// ---- handle basics ----------------------------------------------------------------------------

void Tensor::throw_undefined() { throw ValueError("Tensor: use of an undefined tensor"); }

void Tensor::throw_dtype(DType want) const {
  throw DTypeError(fmt::format("Tensor::data: tensor of shape {} is {}, accessed as {}", shape(), dtype_name(dtype()),
                               dtype_name(want)));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, const char* op) {
  detail::poll_home();  // tensors other threads dropped last may die here, on the thread that made them
  // The one check of a new shape: past it, numel() and the byte count below cannot overflow.
  auto bytes = static_cast<std::size_t>(shape.checked_numel(dtype_size(dtype), op)) * dtype_size(dtype);
  return Tensor(TensorImpl::create(shape, dtype, Storage::allocate(bytes)));
}

std::int64_t Tensor::flat_index(std::initializer_list<std::int64_t> index, const char* op) const {
  const Shape& s = shape();
  if (static_cast<int>(index.size()) != s.rank())
    throw ValueError(
        fmt::format("{}: index of {} values for a tensor of shape {} (rank {})", op, index.size(), s, s.rank()));
  std::int64_t flat = 0;
  int d = 0;
  for (std::int64_t i : index) {
    if (i < 0 || i >= s[d])
      throw ValueError(fmt::format("{}: index {} out of range [0, {}) in dimension {} of shape {}", op, i, s[d], d, s));
    flat = flat * s[d] + i;
    ++d;
  }
  return flat;
}

double Tensor::item() const {
  if (numel() != 1)
    throw ShapeError(fmt::format("item: tensor of shape {} has {} elements, expected 1", shape(), numel()));
  return dispatch(dtype(), [&]<class T>() { return static_cast<double>(*data<T>()); });
}

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  std::int64_t i = flat_index(index, "at");
  return dispatch(dtype(), [&]<class T>() { return static_cast<double>(data<T>()[i]); });
}

void Tensor::set(std::initializer_list<std::int64_t> index, double value) {
  std::int64_t i = flat_index(index, "set");
  dispatch(dtype(), [&]<class T>() { data<T>()[i] = static_cast<T>(value); });
  increment_version();
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> v(static_cast<std::size_t>(numel()));
  dispatch(dtype(), [&]<class T>() { std::copy_n(data<T>(), v.size(), v.begin()); });
  return v;
}

// ---- autograd ---------------------------------------------------------------------------------

bool Tensor::requires_grad() const {
  const TensorImpl& i = checked();
  if (i.requires_grad) return true;
  return Tape::current().tracked(&i);
}

bool Tensor::is_leaf() const {
  const TensorImpl& i = checked();
  if (!i.counted.load(std::memory_order_relaxed)) return true;
  return !Tape::current().tracked(&i) && Tape::pending_elsewhere(&i) == nullptr;
}

Tensor& Tensor::requires_grad_(bool on) {
  if (!is_leaf())
    throw GraphError(
        fmt::format("requires_grad_: tensor of shape {} is computed by an op; only leaves can be marked "
                    "(use detach() first)",
                    shape()));
  checked().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return Tensor::borrow(checked().grad); }

void Tensor::set_grad(const Tensor& g) {
  TensorImpl& i = checked();
  if (g.defined() && (g.shape() != i.shape || g.dtype() != i.dtype))
    throw ShapeError(fmt::format("set_grad: gradient is {} {}, expected {} {}", g.shape(), dtype_name(g.dtype()),
                                 i.shape, dtype_name(i.dtype)));
  if (g.impl_) g.impl_->retain();
  if (i.grad) i.grad->release();
  i.grad = g.impl_;
}

void Tensor::zero_grad() {
  TensorImpl& i = checked();
  if (i.grad) Tensor::borrow(i.grad).fill_(0.0);
}

void Tensor::retain_grad() { Tape::current().retain_grad(*this); }

void Tensor::backward(bool retain_graph) const { Tape::current().backward(*this, nullptr, retain_graph); }

void Tensor::backward(const Tensor& seed, bool retain_graph) const {
  Tape::current().backward(*this, &seed, retain_graph);
}

// ---- copies and views -------------------------------------------------------------------------

Tensor Tensor::detach() const {
  TensorImpl& i = checked();
  i.storage->retain();
  return Tensor(TensorImpl::create(i.shape, i.dtype, i.storage));
}

Tensor Tensor::view(const Shape& shape) const {
  TensorImpl& i = checked();
  if (shape.checked_numel(dtype_size(i.dtype), "view") != i.shape.numel())
    throw ShapeError(fmt::format("view: cannot view {} ({} elements) as {} ({} elements)", i.shape, i.shape.numel(),
                                 shape, shape.numel()));
  i.storage->retain();
  return Tensor(TensorImpl::create(shape, i.dtype, i.storage));
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype());
  std::memcpy(out.raw_data(), raw_data(), static_cast<std::size_t>(numel()) * dtype_size(dtype()));
  return out;
}

Tensor Tensor::to(DType d) const {
  if (d == dtype()) return clone();
  Tensor out = Tensor::empty(shape(), d);
  dispatch(dtype(),
           [&]<class S>() { dispatch(d, [&]<class D>() { std::copy_n(data<S>(), numel(), out.data<D>()); }); });
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.shape() != shape() || src.dtype() != dtype())
    throw ShapeError(fmt::format("copy_from: source is {} {}, expected {} {}", src.shape(), dtype_name(src.dtype()),
                                 shape(), dtype_name(dtype())));
  if (src.raw_data() != raw_data())
    std::memcpy(raw_data(), src.raw_data(), static_cast<std::size_t>(numel()) * dtype_size(dtype()));
  increment_version();
}

void Tensor::assign_(const Tensor& src) {
  if (!is_leaf())
    throw GraphError(
        fmt::format("assign_: tensor of shape {} is computed by an op; only leaves can be reassigned", shape()));
  TensorImpl& i = checked();
  TensorImpl& s = src.checked();
  s.storage->retain();
  i.storage->release();
  i.storage = s.storage;
  i.shape = s.shape;
  i.dtype = s.dtype;
  if (i.grad) {
    i.grad->release();
    i.grad = nullptr;
  }
}

void Tensor::fill_(double value) {
  dispatch(dtype(), [&]<class T>() { std::fill_n(data<T>(), numel(), static_cast<T>(value)); });
  increment_version();
}

const std::string& Tensor::name() const {
  static const std::string kNone;
  const TensorImpl& i = checked();
  return i.name ? *i.name : kNone;
}

Tensor& Tensor::set_name(std::string name) {
  checked().name = std::make_unique<std::string>(std::move(name));
  return *this;
}

// ---- printing ---------------------------------------------------------------------------------

namespace {
void format_values(std::string& out, const Tensor& t, const double* v, int dim, std::int64_t offset,
                   std::int64_t stride, int indent) {
  const Shape& s = t.shape();
  constexpr std::int64_t kEdge = 3;
  std::int64_t n = s[dim];
  bool cut = n > 2 * kEdge + 1;
  out += '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (cut && i == kEdge) {
      out += dim + 1 == s.rank() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - kEdge;
    }
    std::int64_t inner = stride / std::max<std::int64_t>(s[dim], 1);
    if (dim + 1 == s.rank())
      out += fmt::format("{:.6g}", v[offset + i]);
    else
      format_values(out, t, v, dim + 1, offset + i * inner, inner, indent + 1);
    if (i + 1 < n) out += dim + 1 == s.rank() ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
  }
  out += ']';
}
}  // namespace

std::string Tensor::str() const {
  if (!impl_) return "tensor(undefined)";
  std::vector<double> v = to_vector();
  std::string out = "tensor(";
  if (rank() == 0)
    out += fmt::format("{:.6g}", v[0]);
  else
    format_values(out, *this, v.data(), 0, 0, numel(), 7);
  out += fmt::format(", shape={}, dtype={}", shape(), dtype_name(dtype()));
  if (requires_grad()) out += ", requires_grad";
  out += ')';
  return out;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- creation ---------------------------------------------------------------------------------

Tensor empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }

namespace {
Tensor filled(const Shape& shape, double value, DType dtype, const char* op) {
  Tensor t = Tensor::empty(shape, dtype, op);
  t.fill_(value);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, double value, DType dtype) { return filled(shape, value, dtype, "full"); }
Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype, "zeros");
  std::memset(t.raw_data(), 0, static_cast<std::size_t>(t.numel()) * dtype_size(dtype));
  return t;
}
Tensor ones(const Shape& shape, DType dtype) { return filled(shape, 1.0, dtype, "ones"); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }

namespace {
template <class V>
Tensor from_values(std::span<const V> values, const Shape& shape, DType dtype) {
  const std::int64_t n = shape.checked_numel(dtype_size(dtype), "from_vector");
  if (static_cast<std::int64_t>(values.size()) != n)
    throw ShapeError(fmt::format("from_vector: {} values for shape {} ({} elements)", values.size(), shape, n));
  Tensor t = Tensor::empty(shape, dtype, "from_vector");
  dispatch(dtype, [&]<class T>() { std::copy(values.begin(), values.end(), t.data<T>()); });
  return t;
}
}  // namespace

Tensor from_vector(std::span<const double> values, const Shape& shape, DType dtype) {
  return from_values(values, shape, dtype);
}
Tensor from_vector(std::span<const float> values, const Shape& shape, DType dtype) {
  return from_values(values, shape, dtype);
}
Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype) {
  return from_values(std::span(values.begin(), values.size()), shape, dtype);
}
Tensor tensor(std::initializer_list<double> values, DType dtype) {
  return from_values(std::span(values.begin(), values.size()), Shape{static_cast<std::int64_t>(values.size())}, dtype);
}
Tensor scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    throw ValueError(fmt::format("arange: start {}, stop {}, step {}: expected finite values and a non-zero step",
                                 start, stop, step));
  // In double, and compared before the conversion: (stop - start) / step may be huge or infinite.
  const double count = std::max(0.0, std::ceil((stop - start) / step));
  if (!(count <= static_cast<double>(kMaxArangeCount)))
    throw ValueError(
        fmt::format("arange: start {}, stop {}, step {} give {} values, more than the {} (2^53) arange makes", start,
                    stop, step, count, kMaxArangeCount));
  const auto n = static_cast<std::int64_t>(count);
  Tensor t = Tensor::empty(Shape{n}, dtype, "arange");
  dispatch(dtype, [&]<class T>() {
    for (std::int64_t i = 0; i < n; ++i) t.data<T>()[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor linspace(double start, double stop, std::int64_t n, DType dtype) {
  if (n < 0) throw ValueError(fmt::format("linspace: number of points {} is negative", n));
  Tensor t = Tensor::empty(Shape{n}, dtype, "linspace");
  double step = n > 1 ? (stop - start) / static_cast<double>(n - 1) : 0.0;
  dispatch(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
    if (n > 1) p[n - 1] = static_cast<T>(stop);
  });
  return t;
}

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, dtype, "uniform");
  dispatch(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(g.uniform(low, high));
  });
  return t;
}

Tensor rand(const Shape& shape, DType dtype, Generator* gen) { return uniform(shape, 0.0, 1.0, dtype, gen); }

Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, dtype, "randn");
  dispatch(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(g.normal());
  });
  return t;
}

}  // namespace tg
