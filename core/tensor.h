#pragma once
/// \file
/// Tensor: a cheap, reference-counted handle to an N-d array of float32 or float64 in contiguous
/// row-major storage. Copying a Tensor shares the data; `clone()` copies it. Tensors that come
/// out of recorded ops carry a slot on the tape, through which backward passes gradients.

#include <tapegrad/core/config.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/dtype.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/shape.h>
#include <tapegrad/core/storage.h>

namespace tg {

class Generator;

namespace detail {
inline constexpr std::uint32_t kNoSlot = 0xffffffffu;

/// The shared state behind Tensor handles. Pooled; users never touch it.
///
/// Threads: the reference count is biased (core/storage.h, RefCount), so handles are copied and
/// dropped on any thread. The slot, `epoch` and `counted` are written by the tape that records
/// the tensor; a parameter used by several threads' tapes at once is written by each, so they are
/// atomics, and the slot carries the low half of its epoch: a tape takes a slot only when both
/// halves name its current recording, so it never reads another tape's slot beside its epoch.
struct TensorImpl {
  RefCount refs;
  std::uint32_t home;  // the home whose free list the block returns to; an op output's home is
                       // also the thread whose tape recorded it
  std::atomic<std::uint64_t> slot_and_tag{kNoSlot};  // slot | (epoch & 0xffffffff) << 32
  std::atomic<std::uint64_t> epoch{0};               // the recording the slot belongs to (unique over all tapes)
  DType dtype = DType::f32;
  bool requires_grad = false;        // a leaf whose gradient the user wants (a parameter)
  std::atomic<bool> counted{false};  // counted among the tape's live non-leaf tensors
  Shape shape;
  Storage* storage = nullptr;
  TensorImpl* grad = nullptr;
  std::unique_ptr<std::string> name;  // rarely set: a pointer keeps creation cheap

  TensorImpl(const Shape& s, DType d, Storage* st, std::uint32_t h)
      : refs(h), home(h), dtype(d), shape(s), storage(st) {}
  static TensorImpl* create(const Shape& shape, DType dtype, Storage* storage);
  /// The slot last recorded (kNoSlot when none); Tape::tracked says whether it is current.
  std::uint32_t slot() const { return static_cast<std::uint32_t>(slot_and_tag.load(std::memory_order_relaxed)); }
  void retain() { refs.retain(); }
  void release() {
    if (refs.owned()) [[likely]] {
      if (refs.drop_local()) release_last_local(this);
    } else {
      release_shared(this);
    }
  }

 private:
  static void destroy(TensorImpl* impl);
  static void destroy_erased(void* impl) { destroy(static_cast<TensorImpl*>(impl)); }
  static void release_last_local(TensorImpl* impl);
  static void release_shared(TensorImpl* impl);
};
}  // namespace detail

/// An N-d array that can take part in automatic differentiation.
class Tensor {
 public:
  /// An undefined handle (defined() is false).
  Tensor() = default;
  /// Handles share the tensor: copying one copies no elements.
  Tensor(const Tensor& o) : impl_(o.impl_) {
    if (impl_) impl_->retain();
  }
  /// Takes over the handle; `o` becomes undefined.
  Tensor(Tensor&& o) noexcept : impl_(o.impl_) { o.impl_ = nullptr; }
  /// Makes this handle share `o`'s tensor.
  Tensor& operator=(const Tensor& o) {
    if (o.impl_) o.impl_->retain();
    reset();
    impl_ = o.impl_;
    return *this;
  }
  /// Takes over `o`'s handle.
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      reset();
      impl_ = o.impl_;
      o.impl_ = nullptr;
    }
    return *this;
  }
  ~Tensor() { reset(); }

  /// A new tensor of this shape and dtype with uninitialised contents. The shape passes
  /// Shape::checked_numel (a ShapeError naming `op` when its sizes or bytes overflow int64); a
  /// request the pool cannot serve throws std::bad_alloc.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, const char* op = "empty");

  /// False for a default-constructed handle.
  bool defined() const { return impl_ != nullptr; }
  /// defined().
  explicit operator bool() const { return defined(); }

  /// The dimensions.
  const Shape& shape() const { return checked().shape; }
  /// Number of dimensions.
  int rank() const { return shape().rank(); }
  /// Size of one dimension; negative axes count from the end.
  std::int64_t size(int axis) const { return shape()[axis]; }
  /// Number of elements.
  std::int64_t numel() const { return shape().numel(); }
  /// Element type.
  DType dtype() const { return checked().dtype; }

  /// Typed pointer to the elements; throws DTypeError when T is not the tensor's dtype.
  template <Element T>
  T* data() {
    check_dtype(dtype_of<T>);
    return static_cast<T*>(raw_data());
  }
  template <Element T>
  /// Typed pointer to the elements, read-only.
  const T* data() const {
    check_dtype(dtype_of<T>);
    return static_cast<const T*>(raw_data());
  }
  /// Untyped pointer to the elements.
  /// @{
  void* raw_data() { return checked().storage->data(); }
  const void* raw_data() const { return checked().storage->data(); }
  /// @}

  /// The single element of a one-element tensor, as double.
  double item() const;
  /// Element at a full index, as double (bounds-checked).
  double at(std::initializer_list<std::int64_t> index) const;
  /// Writes one element (bounds-checked), in place: not recorded on the tape.
  void set(std::initializer_list<std::int64_t> index, double value);
  /// The elements as doubles, in row-major order.
  std::vector<double> to_vector() const;

  /// True for a parameter-like leaf marked with requires_grad_, and for every tensor computed
  /// from one while the tape was recording.
  bool requires_grad() const;
  /// Marks a leaf tensor as needing its gradient. Throws GraphError on a non-leaf.
  Tensor& requires_grad_(bool on = true);
  /// True when this tensor was not produced by a recorded op.
  bool is_leaf() const;

  /// The accumulated gradient (undefined until a backward reaches this tensor).
  Tensor grad() const;
  /// Replaces the gradient (undefined clears it).
  void set_grad(const Tensor& g);
  /// Sets the gradient to zero in place (keeps its buffer) or leaves it undefined.
  void zero_grad();
  /// Keeps the gradient of this non-leaf tensor in grad() after backward.
  void retain_grad();

  /// Reverse-mode differentiation from this scalar: fills the gradients of every leaf it
  /// depends on (`+=`), then frees the graph unless retain_graph.
  void backward(bool retain_graph = false) const;
  /// The same from a tensor of any shape, with `seed` the gradient of the output.
  void backward(const Tensor& seed, bool retain_graph = false) const;

  /// A tensor sharing these elements, cut off from the tape.
  Tensor detach() const;
  /// A copy of the elements, cut off from the tape.
  Tensor clone() const;
  /// A copy converted to another dtype (cut off from the tape).
  Tensor to(DType dtype) const;
  /// Copies the elements of `src` (same shape) into this tensor, in place, unrecorded.
  void copy_from(const Tensor& src);
  /// Makes this handle (and every copy of it) refer to `src`'s elements, shape and dtype, like
  /// PyTorch's `t.data = src`. Only for tensors not produced by a recorded op.
  void assign_(const Tensor& src);
  /// Sets every element to `value` in place, unrecorded.
  void fill_(double value);
  /// How many in-place writes (fill_, copy_from, set, an optimizer's step, increment_version)
  /// the elements have had: shared by every tensor over the same elements (views, detach()).
  std::uint64_t version() const { return checked().storage->version(); }
  /// Marks the elements as written in place. fill_, copy_from, set and Optimizer::step do it
  /// themselves; code that writes through data<T>() calls it, so that a backward rule that saved
  /// this tensor refuses the changed elements (GraphError) instead of computing a wrong gradient.
  void increment_version() { checked().storage->bump_version(); }

  /// A tensor sharing the elements with another shape of the same numel (unrecorded; the op
  /// `tg::reshape` records). The shape passes Shape::checked_numel, so a product of sizes that
  /// wraps around to this numel is a ShapeError.
  Tensor view(const Shape& shape) const;

  /// Optional name, shown in graph exports (modules name their parameters).
  const std::string& name() const;
  /// Sets the name; returns *this.
  Tensor& set_name(std::string name);

  /// "tensor([[1, 2], [3, 4]], shape=[2,2], dtype=float32)", truncated when large.
  std::string str() const;

  /// The same underlying tensor (not elementwise equality).
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  /// For the tape and op implementations.
  detail::TensorImpl* impl() const { return impl_; }
  /// Takes over one reference of `impl`.
  explicit Tensor(detail::TensorImpl* impl) : impl_(impl) {}
  /// Adds a reference to `impl`.
  static Tensor borrow(detail::TensorImpl* impl) {
    if (impl) impl->retain();
    return Tensor(impl);
  }

 private:
  void reset() {
    if (impl_) impl_->release();
    impl_ = nullptr;
  }
  detail::TensorImpl& checked() const {
    if (!impl_) [[unlikely]]
      throw_undefined();
    return *impl_;
  }
  void check_dtype(DType want) const {
    if (checked().dtype != want) [[unlikely]]
      throw_dtype(want);
  }
  [[noreturn]] static void throw_undefined();
  [[noreturn]] void throw_dtype(DType want) const;
  std::int64_t flat_index(std::initializer_list<std::int64_t> index, const char* op) const;

  detail::TensorImpl* impl_ = nullptr;
};

/// Writes t.str().
std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation ---------------------------------------------------------------------------------

/// The most values `arange` makes: 2^53, the last count up to which every index is exact in a
/// double (beyond it, start + i * step repeats values). Counts up to it are limited by memory only.
inline constexpr std::int64_t kMaxArangeCount = std::int64_t{1} << 53;

/// Uninitialised.
Tensor empty(const Shape& shape, DType dtype = DType::f32);
/// Filled with 0.
Tensor zeros(const Shape& shape, DType dtype = DType::f32);
/// Filled with 1.
Tensor ones(const Shape& shape, DType dtype = DType::f32);
/// Filled with `value`.
Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
/// Zeros of t's shape and dtype.
Tensor zeros_like(const Tensor& t);
/// Ones of t's shape and dtype.
Tensor ones_like(const Tensor& t);
/// A tensor holding `values` (row-major) with `shape`; numel must match.
Tensor from_vector(std::span<const double> values, const Shape& shape, DType dtype = DType::f32);
/// The same from floats.
Tensor from_vector(std::span<const float> values, const Shape& shape, DType dtype = DType::f32);
/// `tensor({1, 2, 3, 4}, {2, 2})`.
Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype = DType::f32);
/// A 1-D tensor of `values`.
Tensor tensor(std::initializer_list<double> values, DType dtype = DType::f32);
/// A one-element tensor of shape [].
Tensor scalar(double value, DType dtype = DType::f32);
/// start, start + step, ... below stop (1-D). ValueError for a non-finite start, stop or step,
/// a zero step, or more than kMaxArangeCount values.
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::f32);
/// `n` points from start to stop, both included (numpy's linspace).
Tensor linspace(double start, double stop, std::int64_t n, DType dtype = DType::f32);
/// Uniform in [0, 1) from `gen` (the default generator when null).
Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr);
/// Standard normal from `gen`.
Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr);
/// Uniform in [low, high) from `gen`.
Tensor uniform(const Shape& shape, double low, double high, DType dtype = DType::f32, Generator* gen = nullptr);

}  // namespace tg

// `fmt::format("{}", x)` for a Tensor (the same text as str()); hidden from Doxygen.
/// \cond
template <>
struct fmt::formatter<tg::Tensor> : fmt::formatter<std::string> {
  auto format(const tg::Tensor& t, format_context& ctx) const {
    return fmt::formatter<std::string>::format(t.str(), ctx);
  }
};
/// \endcond
