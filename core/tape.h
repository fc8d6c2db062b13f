#pragma once
/// \file
/// The tape: a flat, append-only record of differentiable ops in creation order. Backward walks
/// it in reverse, once, without recursion, and accumulates gradients with `+=`, so a weight used
/// by 50 time steps of an RNN collects the sum of its 50 contributions: backpropagation through
/// time is nothing but this walk.
///
/// Ops record themselves through `record()`; users only see Tensor::backward, NoGradGuard and
/// the inspection functions at the end of this file.

#include <tapegrad/core/config.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

class BackwardContext;
/// A backward rule: reads the gradients of a node's outputs and adds those of its inputs.
using BackwardFn = void (*)(BackwardContext&);

/// Turns recording off while it lives (evaluation, optimizer steps, numeric checks).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Whether ops are being recorded on this thread.
bool grad_enabled();

namespace detail {
inline constexpr std::size_t kAttrBytes = 64;
inline constexpr std::uint32_t kLeafNode = 0xffffffffu;

struct Node {
  Node() {}  // leaves the attribute bytes uninitialised: recording writes what it needs
  BackwardFn fn;
  const char* name;
  std::uint32_t io_begin;  // inputs' then outputs' slot ids in Tape::io_
  std::uint16_t n_in, n_out;
  std::uint32_t saved_begin, n_saved;
  alignas(8) std::array<std::byte, kAttrBytes> attrs;
};

struct Slot {
  Shape shape;
  DType dtype;
  std::uint32_t node;  // producing node, or kLeafNode
  Tensor grad;         // running gradient of a non-leaf
  Tensor owner;        // a leaf, or a non-leaf that retains its gradient
};
}  // namespace detail

class Tape;

/// Handle on the node an op just recorded; false when nothing was recorded.
class NodeRef {
 public:
  NodeRef() = default;
  /// Node `node` of `tape`.
  NodeRef(Tape* tape, std::uint32_t node) : tape_(tape), node_(node) {}
  /// Whether a node was recorded.
  explicit operator bool() const { return tape_ != nullptr; }

  /// Keeps `t`'s elements for the backward rule (as a detached alias: no copy), with their
  /// version: BackwardContext::saved refuses them if they are written in place before backward.
  NodeRef& save(const Tensor& t);
  /// Stores plain attributes for the backward rule (an axis, a scalar, a permutation).
  /// Keeps an object alive until the recording is freed; returns its index for
  /// BackwardContext::object (custom functions keep their context this way).
  std::uint32_t keep(std::shared_ptr<void> object);
  template <class A>
  /// Copies `a` (trivially copyable, at most 64 bytes) into the node; BackwardContext::attrs
  /// reads it back.
  NodeRef& attrs(const A& a) {
    static_assert(std::is_trivially_copyable_v<A> && sizeof(A) <= detail::kAttrBytes,
                  "node attributes must be trivially copyable and at most 64 bytes");
    std::memcpy(attr_bytes(), &a, sizeof(A));
    return *this;
  }

 private:
  std::byte* attr_bytes();
  Tape* tape_ = nullptr;
  std::uint32_t node_ = 0;
};

/// Records an op with one output if recording is on and an input needs a gradient.
NodeRef record(const char* name, BackwardFn fn, std::initializer_list<const Tensor*> inputs, Tensor& output);
/// The same for any number of inputs and outputs (concat, custom functions).
NodeRef record(const char* name, BackwardFn fn, std::span<const Tensor> inputs, std::span<Tensor> outputs);

/// What a backward rule sees of its node.
class BackwardContext {
 public:
  /// The op's name, as given to record.
  const char* op() const { return node_.name; }
  /// Number of inputs and outputs of the node.
  /// @{
  int num_inputs() const { return node_.n_in; }
  int num_outputs() const { return node_.n_out; }
  /// @}

  /// Gradient of output i (undefined when no gradient reached it).
  const Tensor& grad_output(int i = 0) const;
  /// Moves the gradient of output i out of the tape (for rules that pass it straight through).
  Tensor take_grad_output(int i = 0);
  /// The gradient of output i as a buffer the rule may overwrite and pass to accumulate: moved
  /// out of the tape when nothing else holds its elements, a copy otherwise. Elementwise rules
  /// of one input transform it in place, so their backward allocates nothing. Once per output.
  Tensor writable_grad_output(int i = 0);
  /// Whether input i needs a gradient; rules skip the work for those that do not.
  bool needs_grad(int i) const;
  /// Shape and dtype of input i, as recorded.
  /// @{
  const Shape& input_shape(int i) const;
  DType input_dtype(int i) const;
  /// @}
  /// The i-th tensor kept with NodeRef::save. GraphError, naming the op and the tensor, when its
  /// elements were written in place since they were saved (Tensor::version): the rule would
  /// compute the gradient from values the forward never saw.
  const Tensor& saved(int i) const;
  /// Shape and dtype of output i, as recorded.
  /// @{
  const Shape& output_shape(int i) const;
  DType output_dtype(int i) const;
  /// @}
  /// An object kept with NodeRef::keep.
  void* object(std::uint32_t index) const;
  template <class A>
  /// The attributes stored with NodeRef::attrs, as an `A`.
  const A& attrs() const {
    return *reinterpret_cast<const A*>(node_.attrs.data());
  }

  /// Input i's gradient buffer, zero-filled on first access: kernels add into it in place.
  Tensor& grad_input(int i);
  /// Where a rule puts input i's gradient when its kernel can either write or add (a GEMM's
  /// beta, a copy or a sum).
  struct GradTarget {
    Tensor& buffer;  ///< the gradient buffer of input i
    bool first;      ///< buffer is uninitialised: write every element, do not add
  };
  /// Input i's gradient buffer without grad_input's zero fill. For the first contribution the
  /// buffer is uninitialised and `first` is true: the rule must write every element before it
  /// returns (or throws). Otherwise it holds the running gradient, to add into.
  ///
  ///     auto [dx, first] = ctx.grad_target(0);
  ///     kernels::gemm(false, true, m, k, n, 1.0f, dy, n, w, n, first ? 0.0f : 1.0f, dx.data<float>(), k);
  GradTarget grad_target(int i);
  /// Adds `g` to input i's gradient after checking its shape and dtype; when `g` is the first
  /// contribution and nothing else holds it, it is taken over without a copy.
  void accumulate(int i, Tensor g);

 private:
  friend class Tape;
  BackwardContext(Tape& tape, detail::Node& node) : tape_(tape), node_(node) {}
  std::uint32_t in_slot(int i) const;
  Tape& tape_;
  detail::Node& node_;
};

/// The recording of this thread. One tape per thread; it is reset by each backward (unless the
/// graph is retained) and whenever no tensor that could reach it is alive any more.
///
/// Threads: a graph belongs to the thread that recorded it. Its pending outputs used as op
/// inputs (or backward from) on another thread are a GraphError naming both threads; once it is
/// released (backward, Tape::clear, its outputs dropped, or its thread ended) its tensors are
/// constants that any thread may use. Parameters (leaves) take part in every thread's graphs.
class Tape {
 public:
  /// This thread's tape.
  static Tape& current();

  /// Nodes recorded since the last reset.
  std::size_t num_nodes() const { return nodes_.size(); }
  /// Tensors with a gradient slot (op outputs and the leaves they read).
  std::size_t num_slots() const { return slots_.size(); }
  /// Forgets the recording; tensors computed so far become constants.
  void clear();
  /// Graphviz DOT of the recording, for looking at a graph (an RNN unrolled over time):
  /// - ops are boxes named by op (`rnn_tanh_step`, `linear`), one per recorded node;
  /// - parameters, the leaves that require a gradient, are gold ellipses (`class="parameter"`)
  ///   labelled with their name (Tensor::set_name; modules name theirs) and shape;
  /// - inputs, the tensors ops read without a gradient, are grey houses (`class="input"`)
  ///   labelled with their name or "input" and their shape, but only those read while
  ///   set_trace_inputs(true) was on (the tape does not keep them otherwise);
  /// - outputs, the op results no recorded op reads, are green double octagons
  ///   (`class="output"`);
  /// - every edge carries the shape of the tensor that flows along it.
  std::string to_dot() const;
  /// Keeps the inputs that need no gradient (the data) in the recording for to_dot. Off by
  /// default: it holds those tensors until the recording is freed.
  void set_trace_inputs(bool on) { trace_inputs_ = on; }
  /// Whether inputs are kept for to_dot (set_trace_inputs).
  bool trace_inputs() const { return trace_inputs_; }

  /// Optional check after every backward rule and forward op: the first non-finite value
  /// names the op that made it (slow; off by default).
  void set_anomaly_detection(bool on) { anomaly_ = on; }
  /// Whether anomaly detection is on.
  bool anomaly_detection() const { return anomaly_; }

  /// Current recording epoch: a new one at every reset, never the same on two tapes.
  std::uint64_t epoch() const { return epoch_; }
  /// The number of the thread this tape belongs to, as error messages name it (numbers of
  /// ended threads are given to new ones).
  std::uint32_t thread_number() const { return id_; }

  /// For Tensor::backward, Tensor::retain_grad and record(); not for users.
  /// @{
  void retain_grad(const Tensor& t);
  void backward(const Tensor& root, const Tensor* seed, bool retain_graph);
  NodeRef record(const char* name, BackwardFn fn, std::span<const Tensor* const> inputs,
                 std::span<Tensor* const> outputs);
  /// A tensor an op output of some recording died (on any thread).
  static void forget_recorded(const detail::TensorImpl* impl);
  /// @}
  /// The slot `impl` holds in the current recording, or kNoSlot.
  std::uint32_t tracked_slot(const detail::TensorImpl* impl) const {
    const std::uint64_t slot_and_tag = impl->slot_and_tag.load(std::memory_order_relaxed);
    return impl->epoch.load(std::memory_order_relaxed) == epoch_ && (slot_and_tag >> 32) == (epoch_ & 0xffffffffu)
               ? static_cast<std::uint32_t>(slot_and_tag)
               : detail::kNoSlot;
  }
  /// Whether `impl` holds a slot of the current recording.
  bool tracked(const detail::TensorImpl* impl) const { return tracked_slot(impl) != detail::kNoSlot; }
  /// The tape of another thread whose pending recording `impl` is an output of, or null.
  static const Tape* pending_elsewhere(const detail::TensorImpl* impl);

 private:
  friend class NodeRef;
  friend class BackwardContext;
  explicit Tape(std::uint32_t id);
  static Tape& attach();
  static void park(void* tape);
  void forget_current();
  void take_slot(detail::TensorImpl* impl, std::uint32_t slot) const;
  void check_not_pending_elsewhere(const char* op, std::span<const Tensor* const> inputs) const;
  [[noreturn]] void throw_pending_elsewhere(const char* op, std::size_t input, const detail::TensorImpl* impl,
                                            const Tape& other) const;
  std::uint32_t slot_of(const Tensor& t);
  [[noreturn]] void throw_modified(const detail::Node& node, std::uint32_t index) const;

  std::vector<detail::Node> nodes_;
  std::vector<std::uint32_t> io_;
  std::vector<Tensor> saved_;
  std::vector<std::uint64_t> saved_versions_;  // each saved tensor's Tensor::version when saved
  std::vector<detail::Slot> slots_;
  std::vector<std::shared_ptr<void>> objects_;
  std::vector<std::pair<std::uint32_t, Tensor>> inputs_;  // (position in io_, tensor) when traced
  std::uint64_t epoch_;
  std::int64_t live_ = 0;   // non-leaf tensors alive outside the tape that hold a slot
  const std::uint32_t id_;  // its thread's home id
  // For other threads: the current epoch, and (its low 32 bits << 32) + the number of this
  // recording's outputs that died on another thread, which forget_current takes off live_.
  std::atomic<std::uint64_t> published_epoch_;
  std::atomic<std::uint64_t> remote_dead_;
  bool in_backward_ = false;
  bool anomaly_ = false;
  bool trace_inputs_ = false;
};

/// This thread's tape.
inline Tape& tape() { return Tape::current(); }

}  // namespace tg
