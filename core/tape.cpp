#include <tapegrad/core/tape.h>

#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

namespace tg {

namespace {
thread_local bool g_grad_enabled = true;

// Adds src into dst elementwise (same shape and dtype, checked by the caller).
void add_into(Tensor& dst, const Tensor& src) {
  dispatch(dst.dtype(), [&]<class T>() {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const std::int64_t n = dst.numel();
    for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

bool all_finite(const Tensor& t) {
  return dispatch(t.dtype(), [&]<class T>() {
    const T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  });
}

// A gradient buffer may be taken over only when nothing else can see or change its elements.
[[gnu::always_inline]] inline bool exclusively_held(const Tensor& t) {
  return t.impl()->refs.unique() && t.impl()->storage->unique();
}

// Recording epochs, unique over all tapes: a tensor recorded on one thread is never taken for a
// node of another thread's recording.
std::atomic<std::uint64_t> g_next_epoch{1};

// This thread's tape (null until its first use, and after its thread gave it up).
constinit thread_local Tape* t_tape = nullptr;

constexpr std::uint64_t kLow32 = 0xffffffffu;
}  // namespace

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
bool grad_enabled() { return g_grad_enabled; }

Tape::Tape(std::uint32_t id)
    : epoch_(g_next_epoch.fetch_add(1, std::memory_order_relaxed)),
      id_(id),
      published_epoch_(epoch_),
      remote_dead_((epoch_ & kLow32) << 32) {}

Tape& Tape::current() {
  if (Tape* t = t_tape) [[likely]]
    return *t;
  return attach();
}

// A tape belongs to its thread's home (core/storage.h) and passes with it to the next thread
// when its thread ends: never destroyed, so a tensor may always look up the tape it came from.
Tape& Tape::attach() {
  const std::uint32_t home = detail::current_home_id();
  auto* t = static_cast<Tape*>(detail::attached_to_home(home));
  if (!t) {
    t = new Tape(home);
    detail::attach_to_home(t, &Tape::park);
  }
  t_tape = t;
  return *t;
}

// Its thread ends: the recording is released (its tensors become constants) and the buffers
// returned, before the home passes on.
void Tape::park(void* tape) {
  auto* t = static_cast<Tape*>(tape);
  t->clear();
  t->nodes_ = {};
  t->io_ = {};
  t->saved_ = {};
  t->saved_versions_ = {};
  t->slots_ = {};
  t->objects_ = {};
  t->inputs_ = {};
  t->anomaly_ = false;
  t->trace_inputs_ = false;
  t_tape = nullptr;
}

// ---- recording --------------------------------------------------------------------------------

// The slot is written with the low half of the epoch beside it, in one word: a parameter that
// several threads' recordings take at once gets its slot and epoch written by each, and a tape
// must never read another tape's slot beside its own epoch.
void Tape::take_slot(detail::TensorImpl* impl, std::uint32_t slot) const {
  impl->slot_and_tag.store(slot | (epoch_ & 0xffffffffu) << 32, std::memory_order_relaxed);
  impl->epoch.store(epoch_, std::memory_order_relaxed);
}

std::uint32_t Tape::slot_of(const Tensor& t) {
  detail::TensorImpl* impl = t.impl();
  if (!impl) return detail::kNoSlot;
  if (const std::uint32_t s = tracked_slot(impl); s != detail::kNoSlot) return s;
  if (!impl->requires_grad) return detail::kNoSlot;
  auto id = static_cast<std::uint32_t>(slots_.size());
  slots_.push_back({impl->shape, impl->dtype, detail::kLeafNode, Tensor(), t});
  take_slot(impl, id);
  if (impl->counted.load(std::memory_order_relaxed)) impl->counted.store(false, std::memory_order_relaxed);
  return id;
}

NodeRef Tape::record(const char* name, BackwardFn fn, std::span<const Tensor* const> inputs,
                     std::span<Tensor* const> outputs) {
  if (anomaly_) {
    for (Tensor* out : outputs)
      if (!all_finite(*out))
        throw ValueError(
            fmt::format("anomaly: {} produced a non-finite value in its output of shape {}", name, out->shape()));
  }
  if (!g_grad_enabled || in_backward_) return {};
  bool any = false;
  for (const Tensor* in : inputs) {
    const detail::TensorImpl* impl = in->impl();
    if (impl && (impl->requires_grad || tracked(impl))) {
      any = true;
      break;
    }
  }
  // An op output of another thread's recording still pending there is refused, never a silent
  // cut through that graph (below, the inputs that take no slot are looked at when recording).
  if (!any) {
    check_not_pending_elsewhere(name, inputs);
    return {};
  }

  auto node_id = static_cast<std::uint32_t>(nodes_.size());
  detail::Node& node = nodes_.emplace_back();
  node.fn = fn;
  node.name = name;
  node.io_begin = static_cast<std::uint32_t>(io_.size());
  node.n_in = static_cast<std::uint16_t>(inputs.size());
  node.n_out = static_cast<std::uint16_t>(outputs.size());
  node.saved_begin = static_cast<std::uint32_t>(saved_.size());
  node.n_saved = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor* in = inputs[k];
    std::uint32_t s = slot_of(*in);
    if (s == detail::kNoSlot && in->defined()) {
      if (in->impl()->counted.load(std::memory_order_relaxed)) [[unlikely]] {
        if (const Tape* other = pending_elsewhere(in->impl())) {
          // Nothing of this node stays recorded.
          io_.resize(node.io_begin);
          while (!inputs_.empty() && inputs_.back().first >= node.io_begin) inputs_.pop_back();
          nodes_.pop_back();
          throw_pending_elsewhere(name, k, in->impl(), *other);
        }
      }
      if (trace_inputs_) inputs_.emplace_back(static_cast<std::uint32_t>(io_.size()), *in);
    }
    io_.push_back(s);
  }
  for (Tensor* out : outputs) {
    detail::TensorImpl* impl = out->impl();
    auto id = static_cast<std::uint32_t>(slots_.size());
    detail::Slot& slot = slots_.emplace_back();
    slot.shape = impl->shape;
    slot.dtype = impl->dtype;
    slot.node = node_id;
    take_slot(impl, id);
    impl->counted.store(true, std::memory_order_relaxed);
    ++live_;
    io_.push_back(id);
  }
  return {this, node_id};
}

NodeRef record(const char* name, BackwardFn fn, std::initializer_list<const Tensor*> inputs, Tensor& output) {
  Tensor* out = &output;
  return Tape::current().record(name, fn, std::span(inputs.begin(), inputs.size()), std::span(&out, 1));
}

NodeRef record(const char* name, BackwardFn fn, std::span<const Tensor> inputs, std::span<Tensor> outputs) {
  constexpr std::size_t kInline = 256;
  const Tensor* in_inline[kInline];
  Tensor* out_inline[kInline];
  std::vector<const Tensor*> in_heap;
  std::vector<Tensor*> out_heap;
  std::span<const Tensor*> ins, outs_c;
  if (inputs.size() <= kInline) {
    ins = std::span(in_inline, inputs.size());
  } else {
    in_heap.resize(inputs.size());
    ins = in_heap;
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) ins[i] = &inputs[i];
  std::span<Tensor*> outs;
  if (outputs.size() <= kInline) {
    outs = std::span(out_inline, outputs.size());
  } else {
    out_heap.resize(outputs.size());
    outs = out_heap;
  }
  for (std::size_t i = 0; i < outputs.size(); ++i) outs[i] = &outputs[i];
  return Tape::current().record(name, fn, ins, outs);
}

NodeRef& NodeRef::save(const Tensor& t) {
  detail::Node& node = tape_->nodes_[node_];
  tape_->saved_.push_back(t.defined() ? t.detach() : Tensor());
  tape_->saved_versions_.push_back(t.defined() ? t.version() : 0);
  ++node.n_saved;
  return *this;
}

std::uint32_t NodeRef::keep(std::shared_ptr<void> object) {
  tape_->objects_.push_back(std::move(object));
  return static_cast<std::uint32_t>(tape_->objects_.size() - 1);
}

std::byte* NodeRef::attr_bytes() { return tape_->nodes_[node_].attrs.data(); }

inline void Tape::forget_current() {
  --live_;
  if (remote_dead_.load(std::memory_order_relaxed) & kLow32) [[unlikely]]
    live_ -=
        static_cast<std::int64_t>(remote_dead_.exchange((epoch_ & kLow32) << 32, std::memory_order_acquire) & kLow32);
  if (live_ <= 0 && !in_backward_) clear();
}

// A counted tensor died: when none is left, nothing can reach the recording any more.
void Tape::forget_recorded(const detail::TensorImpl* impl) {
  const std::uint64_t epoch = impl->epoch.load(std::memory_order_relaxed);
  Tape* mine = t_tape;
  if (mine && epoch == mine->epoch_) {
    mine->forget_current();
    return;
  }
  if (impl->home == detail::t_home_id) return;  // of an earlier recording of this thread's
  // Died on another thread than the one whose recording it is an output of: counted there, for
  // that thread to take off, unless that recording is over.
  auto* owner = static_cast<Tape*>(detail::attached_to_home(impl->home));
  if (!owner || owner->published_epoch_.load(std::memory_order_acquire) != epoch) return;
  std::uint64_t dead = owner->remote_dead_.load(std::memory_order_relaxed);
  do {
    if ((dead >> 32) != (epoch & kLow32)) return;  // the recording ended meanwhile
  } while (
      !owner->remote_dead_.compare_exchange_weak(dead, dead + 1, std::memory_order_release, std::memory_order_relaxed));
}

const Tape* Tape::pending_elsewhere(const detail::TensorImpl* impl) {
  if (impl->home == detail::t_home_id || impl->slot() == detail::kNoSlot ||
      !impl->counted.load(std::memory_order_relaxed))
    return nullptr;
  const auto* owner = static_cast<const Tape*>(detail::attached_to_home(impl->home));
  if (!owner || owner == t_tape) return nullptr;
  const std::uint64_t epoch = impl->epoch.load(std::memory_order_relaxed);
  return owner->published_epoch_.load(std::memory_order_acquire) == epoch ? owner : nullptr;
}

void Tape::check_not_pending_elsewhere(const char* op, std::span<const Tensor* const> inputs) const {
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const detail::TensorImpl* impl = inputs[k]->impl();
    if (impl && impl->counted.load(std::memory_order_relaxed) && !tracked(impl)) [[unlikely]]
      if (const Tape* other = pending_elsewhere(impl)) throw_pending_elsewhere(op, k, impl, *other);
  }
}

void Tape::throw_pending_elsewhere(const char* op, std::size_t input, const detail::TensorImpl* impl,
                                   const Tape& other) const {
  throw GraphError(
      fmt::format("{}: input {} (shape {}) is an output of a graph still pending on thread #{}'s tape, and this op "
                  "records on thread #{}'s: a graph belongs to the thread that recorded it. Finish it there (backward, "
                  "or drop its outputs) or compute it under NoGradGuard, or pass detach() of it here",
                  op, input, impl->shape, other.id_, id_));
}

void Tape::clear() {
  // A new epoch first, so that tensors released below no longer count against this recording.
  epoch_ = g_next_epoch.fetch_add(1, std::memory_order_relaxed);
  published_epoch_.store(epoch_, std::memory_order_release);
  remote_dead_.store((epoch_ & kLow32) << 32, std::memory_order_release);
  live_ = 0;
  nodes_.clear();
  io_.clear();
  saved_.clear();
  saved_versions_.clear();
  slots_.clear();
  objects_.clear();
  inputs_.clear();
}

void Tape::retain_grad(const Tensor& t) {
  detail::TensorImpl* impl = t.impl();
  const std::uint32_t s = tracked_slot(impl);
  if (s == detail::kNoSlot || slots_[s].node == detail::kLeafNode) return;  // a leaf keeps its gradient anyway
  slots_[s].owner = t;
}

// ---- backward ---------------------------------------------------------------------------------

std::uint32_t BackwardContext::in_slot(int i) const {
  return tape_.io_[node_.io_begin + static_cast<std::uint32_t>(i)];
}

const Tensor& BackwardContext::grad_output(int i) const {
  return tape_.slots_[tape_.io_[node_.io_begin + node_.n_in + static_cast<std::uint32_t>(i)]].grad;
}

Tensor BackwardContext::take_grad_output(int i) {
  detail::Slot& out = tape_.slots_[tape_.io_[node_.io_begin + node_.n_in + static_cast<std::uint32_t>(i)]];
  // A retained gradient is still read after the rule runs: share it instead of moving it out.
  if (out.owner.defined()) return out.grad;
  return std::move(out.grad);
}

Tensor BackwardContext::writable_grad_output(int i) {
  Tensor g = take_grad_output(i);
  if (g.defined() && !exclusively_held(g)) g = g.clone();
  return g;
}

bool BackwardContext::needs_grad(int i) const { return in_slot(i) != detail::kNoSlot; }

const Shape& BackwardContext::input_shape(int i) const {
  std::uint32_t s = in_slot(i);
  if (s == detail::kNoSlot) throw GraphError(fmt::format("{} backward: input {} has no gradient slot", node_.name, i));
  return tape_.slots_[s].shape;
}

DType BackwardContext::input_dtype(int i) const {
  std::uint32_t s = in_slot(i);
  if (s == detail::kNoSlot) throw GraphError(fmt::format("{} backward: input {} has no gradient slot", node_.name, i));
  return tape_.slots_[s].dtype;
}

const Tensor& BackwardContext::saved(int i) const {
  const std::uint32_t k = node_.saved_begin + static_cast<std::uint32_t>(i);
  const Tensor& t = tape_.saved_[k];
  if (t.defined() && t.version() != tape_.saved_versions_[k]) [[unlikely]]
    tape_.throw_modified(node_, k);
  return t;
}

void Tape::throw_modified(const detail::Node& node, std::uint32_t index) const {
  const Tensor& t = saved_[index];
  // The saved alias has no name; a leaf over the same elements (a parameter) may have one.
  std::string what = fmt::format("a tensor of shape {} ({})", t.shape(), dtype_name(t.dtype()));
  for (const detail::Slot& s : slots_)
    if (s.owner.defined() && !s.owner.name().empty() && s.owner.raw_data() == t.raw_data()) {
      what = fmt::format("'{}' {} ({})", s.owner.name(), t.shape(), dtype_name(t.dtype()));
      break;
    }
  throw GraphError(fmt::format(
      "{}: {} that this op saved for backward was modified in place after the forward (it is at version {}, "
      "saved at version {}): backward would compute the gradient from changed values. Modify it after backward, "
      "or modify a clone()",
      node.name, what, t.version(), saved_versions_[index]));
}

const Shape& BackwardContext::output_shape(int i) const {
  return tape_.slots_[tape_.io_[node_.io_begin + node_.n_in + static_cast<std::uint32_t>(i)]].shape;
}

DType BackwardContext::output_dtype(int i) const {
  return tape_.slots_[tape_.io_[node_.io_begin + node_.n_in + static_cast<std::uint32_t>(i)]].dtype;
}

void* BackwardContext::object(std::uint32_t index) const { return tape_.objects_[index].get(); }

Tensor& BackwardContext::grad_input(int i) {
  detail::Slot& slot = tape_.slots_[in_slot(i)];
  if (slot.node == detail::kLeafNode) {
    detail::TensorImpl* leaf = slot.owner.impl();
    if (!leaf->grad) {
      Tensor z = zeros(slot.shape, slot.dtype);
      leaf->grad = z.impl();
      leaf->grad->retain();
    }
    // The slot keeps a handle on the leaf's own gradient, so the reference stays valid.
    if (slot.grad.impl() != leaf->grad) slot.grad = Tensor::borrow(leaf->grad);
    return slot.grad;
  }
  if (!slot.grad.defined()) slot.grad = zeros(slot.shape, slot.dtype);
  return slot.grad;
}

BackwardContext::GradTarget BackwardContext::grad_target(int i) {
  detail::Slot& slot = tape_.slots_[in_slot(i)];
  const bool leaf = slot.node == detail::kLeafNode;
  if (leaf ? slot.owner.impl()->grad != nullptr : slot.grad.defined()) return {grad_input(i), false};
  Tensor fresh = Tensor::empty(slot.shape, slot.dtype);
  if (leaf) {
    detail::TensorImpl* impl = slot.owner.impl();
    impl->grad = fresh.impl();
    impl->grad->retain();
  }
  slot.grad = std::move(fresh);
  return {slot.grad, true};
}

void BackwardContext::accumulate(int i, Tensor g) {
  std::uint32_t id = in_slot(i);
  if (id == detail::kNoSlot || !g.defined()) return;
  detail::Slot& slot = tape_.slots_[id];
  if (g.shape() != slot.shape || g.dtype() != slot.dtype)
    throw GraphError(fmt::format("{} backward: gradient for input {} is {} {}, expected {} {}", node_.name, i,
                                 g.shape(), dtype_name(g.dtype()), slot.shape, dtype_name(slot.dtype)));
  if (tape_.anomaly_ && !all_finite(g))
    throw ValueError(fmt::format("anomaly: {} backward produced a non-finite gradient for input {} of shape {}",
                                 node_.name, i, slot.shape));
  detail::TensorImpl* leaf = slot.node == detail::kLeafNode ? slot.owner.impl() : nullptr;
  if (leaf) {
    if (!leaf->grad) {
      if (!exclusively_held(g)) g = g.clone();
      leaf->grad = g.impl();
      leaf->grad->retain();
      return;
    }
    Tensor lg = Tensor::borrow(leaf->grad);
    add_into(lg, g);
    return;
  }
  if (!slot.grad.defined())
    slot.grad = exclusively_held(g) ? std::move(g) : g.clone();
  else
    add_into(slot.grad, g);
}

void Tape::backward(const Tensor& root, const Tensor* seed, bool retain_graph) {
  detail::TensorImpl* impl = root.impl();
  if (!impl) throw GraphError("backward: called on an undefined tensor");
  if (in_backward_) throw GraphError("backward: called from inside a backward rule");
  if (!tracked(impl) && !impl->requires_grad) {
    if (const Tape* other = pending_elsewhere(impl))
      throw GraphError(fmt::format(
          "backward: this tensor of shape {} is an output of a graph pending on thread #{}'s tape, not on this "
          "one (thread #{}'s): call backward on the thread that recorded it",
          impl->shape, other->id_, id_));
    if (impl->slot() != detail::kNoSlot && impl->epoch.load(std::memory_order_relaxed) < epoch_)
      throw GraphError(
          fmt::format("backward: the graph behind this tensor of shape {} was already freed (by an earlier "
                      "backward, or a Tape::clear); pass retain_graph = true to the first backward to call it again",
                      impl->shape));
    throw GraphError(
        fmt::format("backward: this tensor of shape {} does not require grad: it was not computed from any "
                    "tensor with requires_grad while recording was on",
                    impl->shape));
  }
  Tensor seed_value;
  if (seed) {
    if (seed->shape() != impl->shape || seed->dtype() != impl->dtype)
      throw ShapeError(fmt::format("backward: seed gradient is {} {}, expected {} {} like the output", seed->shape(),
                                   dtype_name(seed->dtype()), impl->shape, dtype_name(impl->dtype)));
    seed_value = seed->clone();
  } else {
    if (impl->shape.numel() != 1)
      throw GraphError(
          fmt::format("backward: output of shape {} is not a scalar; pass a seed gradient of that shape", impl->shape));
    seed_value = ones(impl->shape, impl->dtype);
  }

  std::uint32_t root_slot = slot_of(root);
  detail::Slot& rs = slots_[root_slot];
  if (rs.node == detail::kLeafNode) {  // a leaf differentiated with respect to itself
    Tensor leaf = rs.owner;
    Tensor g = leaf.grad();
    if (!g.defined())
      leaf.set_grad(seed_value);
    else
      add_into(g, seed_value);
    if (!retain_graph) clear();
    return;
  }
  rs.grad = std::move(seed_value);

  NoGradGuard no_grad;
  in_backward_ = true;
  try {
    for (std::int64_t n = rs.node; n >= 0; --n) {
      detail::Node& node = nodes_[static_cast<std::size_t>(n)];
      bool reached = false;
      for (std::uint32_t o = 0; o < node.n_out; ++o)
        reached |= slots_[io_[node.io_begin + node.n_in + o]].grad.defined();
      if (!reached) continue;
      BackwardContext ctx(*this, node);
      node.fn(ctx);
      // Rules that add into grad_input() in place bypass accumulate's check: look at the result.
      if (anomaly_) {
        for (std::uint32_t i = 0; i < node.n_in; ++i) {
          const std::uint32_t s = io_[node.io_begin + i];
          if (s == detail::kNoSlot) continue;
          const detail::Slot& in = slots_[s];
          const Tensor g = in.node == detail::kLeafNode ? in.owner.grad() : in.grad;
          if (g.defined() && !all_finite(g))
            throw ValueError(fmt::format("anomaly: {} backward produced a non-finite gradient for input {} of shape {}",
                                         node.name, i, in.shape));
        }
      }
      for (std::uint32_t o = 0; o < node.n_out; ++o) {
        detail::Slot& out = slots_[io_[node.io_begin + node.n_in + o]];
        if (out.owner.defined() && out.grad.defined()) {  // retain_grad on a non-leaf
          Tensor g = out.owner.grad();
          if (!g.defined())
            out.owner.set_grad(out.grad.clone());
          else
            add_into(g, out.grad);
        }
        out.grad = Tensor();
      }
    }
  } catch (...) {
    in_backward_ = false;
    clear();
    throw;
  }
  in_backward_ = false;
  if (!retain_graph) clear();
}

// ---- inspection -------------------------------------------------------------------------------

namespace {
// A DOT string literal's contents: quotes and backslashes escaped, newlines as \n.
std::string dot_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

std::string Tape::to_dot() const {
  std::string out =
      "digraph tape {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
      "  edge [fontname=\"Helvetica\", fontsize=8];\n";
  for (std::uint32_t s = 0; s < slots_.size(); ++s) {
    const detail::Slot& slot = slots_[s];
    if (slot.node != detail::kLeafNode) continue;
    std::string name =
        slot.owner.defined() && !slot.owner.name().empty() ? slot.owner.name() : fmt::format("param{}", s);
    out += fmt::format(
        "  s{} [class=\"parameter\", shape=ellipse, style=filled, fillcolor=\"#fde6b0\", label=\"{}\\n{}\"];\n", s,
        dot_escape(name), slot.shape);
  }
  // Traced inputs, one graph node per tensor however many ops read it.
  std::unordered_map<std::uint32_t, std::uint32_t> input_of_io;  // io_ position -> input id
  std::unordered_map<const detail::TensorImpl*, std::uint32_t> input_ids;
  std::vector<Shape> input_shapes;
  for (const auto& [io, t] : inputs_) {
    auto [it, fresh] = input_ids.emplace(t.impl(), static_cast<std::uint32_t>(input_ids.size()));
    input_of_io[io] = it->second;
    if (!fresh) continue;
    input_shapes.push_back(t.shape());
    std::string name = t.name().empty() ? "input" : t.name();
    out +=
        fmt::format("  i{} [class=\"input\", shape=house, style=filled, fillcolor=\"#e4e4e4\", label=\"{}\\n{}\"];\n",
                    it->second, dot_escape(name), t.shape());
  }
  std::vector<bool> read(slots_.size(), false);
  for (std::uint32_t n = 0; n < nodes_.size(); ++n) {
    const detail::Node& node = nodes_[n];
    out += fmt::format("  n{} [class=\"op\", shape=box, style=filled, fillcolor=\"#dbe8f7\", label=\"{}\"];\n", n,
                       dot_escape(node.name));
    for (std::uint32_t i = 0; i < node.n_in; ++i) {
      const std::uint32_t io = node.io_begin + i;
      std::uint32_t s = io_[io];
      if (s == detail::kNoSlot) {
        auto it = input_of_io.find(io);
        if (it != input_of_io.end())
          out += fmt::format("  i{} -> n{} [label=\"{}\"];\n", it->second, n, input_shapes[it->second]);
        continue;
      }
      read[s] = true;
      const detail::Slot& slot = slots_[s];
      std::string from = slot.node == detail::kLeafNode ? fmt::format("s{}", s) : fmt::format("n{}", slot.node);
      out += fmt::format("  {} -> n{} [label=\"{}\"];\n", from, n, slot.shape);
    }
  }
  for (std::uint32_t s = 0; s < slots_.size(); ++s) {
    const detail::Slot& slot = slots_[s];
    if (slot.node == detail::kLeafNode || read[s]) continue;
    out += fmt::format(
        "  o{} [class=\"output\", shape=doubleoctagon, style=filled, fillcolor=\"#cdebc5\", label=\"output\"];\n"
        "  n{} -> o{} [label=\"{}\"];\n",
        s, slot.node, s, slot.shape);
  }
  out += "}\n";
  return out;
}

}  // namespace tg
