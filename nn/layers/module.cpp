#include <tapegrad/nn/layers/module.h>

#include <fmt/format.h>

#include <tapegrad/core/random.h>
#include <tapegrad/core/tape.h>

namespace tg {

std::string dims_str(const Dims& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += dims[i] < 0 ? "None" : std::to_string(dims[i]);
  }
  if (dims.size() == 1) s += ",";
  return s + ")";
}

Tensor Module::operator()(const Tensor& x) {
  if (!built_) {
    Dims d(x.shape().begin(), x.shape().end());
    if (!d.empty()) d[0] = -1;
    build(d);
  }
  return forward(x);
}

Tensor Module::operator()(const Tensor& x, const Tensor& mask) {
  if (!mask.defined()) return (*this)(x);
  if (!built_) {
    Dims d(x.shape().begin(), x.shape().end());
    if (!d.empty()) d[0] = -1;
    build(d);
  }
  return forward_masked(x, mask);
}

Tensor Module::forward_masked(const Tensor& x, const Tensor& mask) {
  if (!supports_masking())
    throw ValueError(
        fmt::format("{} ({}): does not support masking, but input {} comes with a mask {} (from an "
                    "Embedding with mask_zero or a Masking layer before it)",
                    name_.empty() ? type_name_ : name_, type_name_, x.shape(), mask.shape()));
  return forward(x);
}

Tensor Module::compute_mask(const Tensor&, const Tensor& mask) const { return supports_masking() ? mask : Tensor(); }

Dims Module::build(const Dims& input) {
  if (built_) return output_dims_;
  output_dims_ = on_build(input);
  input_dims_ = input;
  built_ = true;
  return output_dims_;
}

Tensor Module::register_parameter(std::string name, Tensor value) {
  if (!value.defined()) throw ValueError(fmt::format("{}: parameter '{}' is undefined", type_name_, name));
  value.requires_grad_(trainable_);
  value.set_name(name_.empty() ? name : name_ + "." + name);
  params_.emplace_back(std::move(name), value);
  return value;
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [n, p] : params_) out.emplace_back(prefix + n, p);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

void Module::zero_grad() {  // walks the tree: no parameter list is built, nothing allocated
  for (auto& [n, p] : params_) p.zero_grad();
  for (auto& [n, c] : children_) c->zero_grad();
}

constinit thread_local bool detail::t_eval_mode = false;

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::to(DType dtype) {
  for (auto& [n, p] : params_)
    if (p.dtype() != dtype) p.assign_(p.to(dtype));
  for (auto& [n, c] : children_) c->to(dtype);
  on_parameters_changed();
}

std::string Module::summary() const {
  constexpr int kW1 = 33, kW2 = 25, kW3 = 10;
  const std::string rule(kW1 + kW2 + kW3 + 4, '_');
  const std::string heavy(kW1 + kW2 + kW3 + 4, '=');
  std::string s = fmt::format("Model: \"{}\"\n{}\n", name_.empty() ? type_name_ : name_, rule);
  s += fmt::format(" {:<{}}{:<{}}{:<{}}\n{}\n", "Layer (type)", kW1, "Output Shape", kW2, "Param #", kW3, heavy);
  auto row = [&](const Module& m, const std::string& label) {
    std::string out = m.built() ? dims_str(m.output_dims()) : "?";
    return fmt::format(" {:<{}}{:<{}}{:<{}}\n", fmt::format("{} ({})", label, m.type_name()), kW1, out, kW2,
                       m.num_parameters(), kW3);
  };
  if (children_.empty()) {
    s += row(*this, name_.empty() ? type_name_ : name_);
  } else {
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (i) s += "\n";
      s += row(*children_[i].second, children_[i].second->name());
    }
  }
  // A frozen parameter (requires_grad_(false)) gets no gradient and no update.
  std::int64_t total = 0, trainable = 0;
  for (const Tensor& p : parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  s += fmt::format("{}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\n{}\n", heavy, total,
                   trainable, total - trainable, rule);
  return s;
}

void Module::set_trainable(bool on) {
  trainable_ = on;
  for (auto& [n, p] : params_) {
    if (!on) p.set_grad(Tensor());
    p.requires_grad_(on);
  }
  for (auto& [n, c] : children_) c->set_trainable(on);
}

std::vector<Tensor> Module::trainable_parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

namespace {
template <class M, class Out>
void collect_modules(M& m, const std::string& path, Out& out) {
  out.emplace_back(path, &m);
  for (const auto& [n, c] : m.children()) collect_modules<M>(*c, path.empty() ? n : path + "." + n, out);
}
}  // namespace

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules<Module>(*this, "", out);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  collect_modules<const Module>(*this, "", out);
  return out;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
  return *this;
}

namespace {
// Builds the modules of `copy` that are built in `original` (a layer may be built on its own, as
// Dense(in, units) in a Sequential never run), parents first: building a parent builds children.
void build_like(const Module& original, Module& copy) {
  if (original.built() && !copy.built()) copy.build(original.input_dims());
  const auto& a = original.children();
  const auto& b = copy.children();
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) build_like(*a[i].second, *b[i].second);
}
}  // namespace

std::shared_ptr<Module> Module::clone_unbuilt() const {
  throw ValueError(
      fmt::format("{} ({}): this layer cannot be cloned (override Module::clone_unbuilt to make a new "
                  "one of the same configuration)",
                  name_.empty() ? type_name_ : name_, type_name_));
}

std::shared_ptr<Module> Module::clone() const {
  const std::string label = name_.empty() ? type_name_ : name_;
  // Making and building the copy draws weights that are overwritten at once: the caller's random
  // sequence goes on as if there had been no copy.
  const Generator saved = default_generator();
  std::shared_ptr<Module> copy;
  try {
    copy = clone_unbuilt();
    if (!copy) throw ValueError(fmt::format("{} ({}): clone_unbuilt returned null", label, type_name_));
    build_like(*this, *copy);
  } catch (...) {
    default_generator() = saved;
    throw;
  }
  default_generator() = saved;

  auto from = named_modules();
  auto to = copy->named_modules();
  auto mismatch = [&](const std::string& what) {
    return ValueError(fmt::format("{} ({}): clone_unbuilt made a different layer: {}", label, type_name_, what));
  };
  if (from.size() != to.size()) throw mismatch(fmt::format("{} modules, expected {}", to.size(), from.size()));
  for (std::size_t i = 0; i < from.size(); ++i) {
    const Module& src = *from[i].second;
    Module& dst = *to[i].second;
    if (from[i].first != to[i].first || src.type_name_ != dst.type_name_ || src.params_.size() != dst.params_.size())
      throw mismatch(fmt::format("module '{}' ({}) where '{}' ({}) was expected", to[i].first, dst.type_name_,
                                 from[i].first, src.type_name_));
    for (std::size_t k = 0; k < src.params_.size(); ++k)
      if (src.params_[k].first != dst.params_[k].first ||
          src.params_[k].second.shape() != dst.params_[k].second.shape())
        throw mismatch(fmt::format("parameter '{}' {} where '{}' {} was expected", dst.params_[k].first,
                                   dst.params_[k].second.shape(), src.params_[k].first, src.params_[k].second.shape()));
  }
  for (std::size_t i = 0; i < from.size(); ++i) {
    const Module& src = *from[i].second;
    Module& dst = *to[i].second;
    dst.name_ = src.name_;
    dst.training_ = src.training_;
    dst.trainable_ = src.trainable_;
    for (std::size_t k = 0; k < src.params_.size(); ++k) {
      Tensor& p = dst.params_[k].second;
      p.assign_(src.params_[k].second.clone());
      p.requires_grad_(src.params_[k].second.requires_grad());
    }
  }
  for (auto it = to.rbegin(); it != to.rend(); ++it) it->second->on_parameters_changed();
  return copy;
}

}  // namespace tg
