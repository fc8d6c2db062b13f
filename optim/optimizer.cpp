#include <tapegrad/optim/optimizer.h>

#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

namespace {

bool valid_rate(double lr) { return std::isfinite(lr) && lr > 0; }
bool valid_decay(double wd) { return std::isfinite(wd) && wd >= 0; }

}  // namespace

std::vector<ParamGroup> Optimizer::one_group(std::vector<Tensor> params) {
  std::vector<ParamGroup> groups(1);
  groups[0].params = std::move(params);
  return groups;
}

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, double lr, double weight_decay)
    : name_(std::move(name)), lr_(lr), weight_decay_(weight_decay) {
  require(valid_rate(lr), "learning rate", "> 0 and finite", lr);
  require(valid_decay(weight_decay), "weight_decay", ">= 0 and finite", weight_decay);
  if (groups.empty()) throw ValueError(fmt::format("{}: got no parameter groups", name_));
  std::size_t total = 0;
  for (const ParamGroup& group : groups) total += group.params.size();
  if (total == 0)
    throw ValueError(
        fmt::format("{}: got an empty parameter list (build the model before creating its optimizer)", name_));
  params_.reserve(total);
  group_of_.reserve(total);
  const std::size_t n_groups = groups.size();
  for (std::size_t g = 0; g < n_groups; ++g) {
    ParamGroup& group = groups[g];
    if (group.params.empty()) throw ValueError(fmt::format("{}: group {} of {} has no parameters", name_, g, n_groups));
    const double group_lr = group.lr.value_or(lr), group_wd = group.weight_decay.value_or(weight_decay);
    if (!valid_rate(group_lr))
      throw ValueError(fmt::format("{}: group {}: learning rate must be > 0 and finite, got {}", name_, g, group_lr));
    if (!valid_decay(group_wd))
      throw ValueError(fmt::format("{}: group {}: weight_decay must be >= 0 and finite, got {}", name_, g, group_wd));
    // A group without its own rate follows the base rate exactly (factor 1, no rounding).
    const double factor = group.lr ? group_lr / lr : 1.0;
    groups_.push_back(Group{params_.size(), params_.size() + group.params.size(), group_lr, factor, group_wd});
    for (Tensor& p : group.params) {
      params_.push_back(std::move(p));
      group_of_.push_back(g);
    }
  }
  auto in_group = [&](std::size_t i) {
    return n_groups > 1 ? fmt::format(" (group {})", group_of_[i]) : std::string();
  };
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined())
      throw ValueError(
          fmt::format("{}: parameter {}{} of {} is an undefined tensor", name_, i, in_group(i), params_.size()));
    for (std::size_t j = 0; j < i; ++j)
      if (params_[j].is_same(params_[i]))
        throw ValueError(fmt::format("{}: parameter {}{} ('{}') appears twice in the list (also at {}{})", name_, i,
                                     in_group(i), params_[i].name(), j, in_group(j)));
  }
}

void Optimizer::require(bool ok, const char* what, const char* rule, double value) const {
  if (!ok) throw ValueError(fmt::format("{}: {} must be {}, got {}", name_, what, rule, value));
}

const Optimizer::Group& Optimizer::group(std::size_t g) const {
  if (g >= groups_.size())
    throw ValueError(fmt::format("{}: group {} does not exist (it has {})", name_, g, groups_.size()));
  return groups_[g];
}

std::span<const Tensor> Optimizer::group_parameters(std::size_t g) const {
  const Group& grp = group(g);
  return std::span<const Tensor>(params_).subspan(grp.begin, grp.end - grp.begin);
}

void Optimizer::set_learning_rate(double lr) {
  require(valid_rate(lr), "learning rate", "> 0 and finite", lr);
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const double rate = groups_[g].lr_factor == 1.0 ? lr : lr * groups_[g].lr_factor;
    if (!valid_rate(rate))
      throw ValueError(
          fmt::format("{}: learning rate {} makes group {}'s rate {} (factor {}); it must be > 0 and finite", name_, lr,
                      g, rate, groups_[g].lr_factor));
  }
  lr_ = lr;
  for (Group& grp : groups_) grp.lr = grp.lr_factor == 1.0 ? lr : lr * grp.lr_factor;
}

void Optimizer::set_group_learning_rate(std::size_t g, double lr) {
  group(g);  // checks g
  if (!valid_rate(lr))
    throw ValueError(fmt::format("{}: group {}: learning rate must be > 0 and finite, got {}", name_, g, lr));
  groups_[g].lr = lr;
  groups_[g].lr_factor = lr == lr_ ? 1.0 : lr / lr_;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  ++iterations_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.requires_grad()) continue;  // frozen, even with a gradient left from before
    Tensor g = p.grad();
    if (g.defined() && (g.shape() != p.shape() || g.dtype() != p.dtype()))
      throw ShapeError(fmt::format("{}::step: parameter {} ('{}') is {} {} but its gradient is {} {}", name_, i,
                                   p.name(), p.shape(), dtype_name(p.dtype()), g.shape(), dtype_name(g.dtype())));
    const Group& grp = groups_[group_of_[i]];
    update(i, p, g, grp.lr, grp.weight_decay);
    p.increment_version();  // a graph recorded before this step saved the old weights
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::track_state(std::vector<Tensor>& per_parameter, std::string name) {
  tensor_state_.emplace_back(&per_parameter, std::move(name));
}

void Optimizer::track_state(std::vector<std::int64_t>& per_parameter, std::string name) {
  counter_state_.emplace_back(&per_parameter, std::move(name));
}

void Optimizer::save_state(OptimizerState& into) const {
  const std::size_t n = params_.size(), total = tensor_state_.size() * n;
  into.owner_ = this;
  into.iterations_ = iterations_;
  if (into.tensors_.size() != total) {
    into.tensors_.assign(total, Tensor());
    into.defined_.assign(total, 0);
  }
  for (std::size_t k = 0; k < tensor_state_.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) {
      const Tensor& state = (*tensor_state_[k].first)[i];
      Tensor& copy = into.tensors_[k * n + i];
      into.defined_[k * n + i] = state.defined() ? 1 : 0;
      if (!state.defined()) continue;
      if (copy.defined() && copy.shape() == state.shape() && copy.dtype() == state.dtype())
        copy.copy_from(state);
      else
        copy = state.clone();
    }
  into.counters_.clear();  // keeps its capacity
  for (const auto& counters : counter_state_)
    into.counters_.insert(into.counters_.end(), counters.first->begin(), counters.first->end());
}

void Optimizer::restore_state(const OptimizerState& from) {
  if (from.owner_ != this)
    throw ValueError(fmt::format("{}::restore_state: the state was {}", name_,
                                 from.owner_ ? "saved from another optimizer" : "never saved"));
  const std::size_t n = params_.size();
  iterations_ = from.iterations_;
  for (std::size_t k = 0; k < tensor_state_.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) {
      Tensor& state = (*tensor_state_[k].first)[i];
      const Tensor& copy = from.tensors_[k * n + i];
      if (!from.defined_[k * n + i])
        state = Tensor();
      else if (state.defined() && state.shape() == copy.shape() && state.dtype() == copy.dtype())
        state.copy_from(copy);
      else
        state = copy.clone();
    }
  std::size_t at = 0;
  for (const auto& counters : counter_state_)
    for (std::int64_t& c : *counters.first) c = from.counters_[at++];
}

bool Optimizer::state_is_finite(std::size_t index) const {
  for (const auto& buffers : tensor_state_) {
    const Tensor& state = (*buffers.first)[index];
    if (!state.defined()) continue;
    // NaN and infinity fail |v| <= max; an integer flag and no early exit let the loop vectorise.
    const int bad = dispatch(state.dtype(), [&]<class T>() {
      const T* v = state.data<T>();
      int any = 0;
      for (std::int64_t j = 0, n = state.numel(); j < n; ++j) any |= !(std::abs(v[j]) <= std::numeric_limits<T>::max());
      return any;
    });
    if (bad) return false;
  }
  return true;
}

bool Optimizer::ensure_state(Tensor& state, const Tensor& param) {
  if (state.defined() && state.shape() == param.shape() && state.dtype() == param.dtype()) return false;
  state = zeros(param.shape(), param.dtype());
  return true;
}

// ---- state_dict -----------------------------------------------------------------------------------

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict dict;
  dict.optimizer = name_;
  const std::size_t n = params_.size();
  for (std::size_t i = 0; i < n; ++i)
    for (const auto& [buffers, buffer_name] : tensor_state_)
      if ((*buffers)[i].defined())
        dict.tensors.emplace_back(fmt::format("state.{}.{}", i, buffer_name), (*buffers)[i].clone());
  dict.counters.emplace_back("iterations", iterations_);
  dict.counters.emplace_back("parameters", static_cast<std::int64_t>(n));
  dict.counters.emplace_back("groups", static_cast<std::int64_t>(groups_.size()));
  for (std::size_t g = 0; g < groups_.size(); ++g)
    dict.counters.emplace_back(fmt::format("group.{}.parameters", g),
                               static_cast<std::int64_t>(groups_[g].end - groups_[g].begin));
  for (std::size_t i = 0; i < n; ++i)
    for (const auto& [counters, counter_name] : counter_state_)
      dict.counters.emplace_back(fmt::format("state.{}.{}", i, counter_name), (*counters)[i]);
  dict.values.emplace_back("lr", lr_);
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    dict.values.emplace_back(fmt::format("group.{}.lr", g), groups_[g].lr);
    dict.values.emplace_back(fmt::format("group.{}.lr_factor", g), groups_[g].lr_factor);
    dict.values.emplace_back(fmt::format("group.{}.weight_decay", g), groups_[g].weight_decay);
  }
  return dict;
}

void Optimizer::load_state_dict(const OptimizerStateDict& dict) {
  auto fail = [&](const std::string& why) { throw ValueError(fmt::format("{}::load_state_dict: {}", name_, why)); };
  if (dict.optimizer != name_)
    fail(fmt::format("the state is of {}, expected {}", dict.optimizer.empty() ? "no named optimizer" : dict.optimizer,
                     name_));
  // Every entry by name; each is taken once below, and whatever is left is unknown.
  auto index = [&](const auto& entries, const char* kind) {
    std::map<std::string, decltype(&entries.front().second)> by_name;
    for (const auto& entry : entries)
      if (!by_name.emplace(entry.first, &entry.second).second)
        fail(fmt::format("{} '{}' appears twice", kind, entry.first));
    return by_name;
  };
  auto counters = index(dict.counters, "counter");
  auto values = index(dict.values, "value");
  auto tensors = index(dict.tensors, "tensor");
  auto take = [&](auto& by_name, const std::string& key, const char* kind) {
    auto it = by_name.find(key);
    if (it == by_name.end()) fail(fmt::format("no {} '{}'", kind, key));
    auto value = *it->second;
    by_name.erase(it);
    return value;
  };
  auto take_counter = [&](const std::string& key, std::int64_t expected_min) {
    const std::int64_t v = take(counters, key, "counter");
    if (v < expected_min) fail(fmt::format("counter '{}' must be >= {}, got {}", key, expected_min, v));
    return v;
  };
  auto take_value = [&](const std::string& key, bool rate) {
    const double v = take(values, key, "value");
    if (rate ? !valid_rate(v) : !valid_decay(v))
      fail(fmt::format("value '{}' must be {} and finite, got {}", key, rate ? "> 0" : ">= 0", v));
    return v;
  };

  const std::size_t n = params_.size();
  const std::int64_t n_params = take_counter("parameters", 0), n_groups = take_counter("groups", 0);
  if (n_params != static_cast<std::int64_t>(n) || n_groups != static_cast<std::int64_t>(groups_.size()))
    fail(fmt::format("the state is of {} parameters in {} groups, this optimizer has {} in {}", n_params, n_groups, n,
                     groups_.size()));
  std::vector<Group> groups = groups_;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::int64_t count = take_counter(fmt::format("group.{}.parameters", g), 0);
    const auto expected = static_cast<std::int64_t>(groups[g].end - groups[g].begin);
    if (count != expected)
      fail(fmt::format("group {} of the state has {} parameters, this optimizer's has {}", g, count, expected));
    groups[g].lr = take_value(fmt::format("group.{}.lr", g), true);
    groups[g].lr_factor = take_value(fmt::format("group.{}.lr_factor", g), true);
    groups[g].weight_decay = take_value(fmt::format("group.{}.weight_decay", g), false);
  }
  const double lr = take_value("lr", true);
  const std::int64_t iterations = take_counter("iterations", 0);

  std::vector<std::vector<std::int64_t>> counter_values(counter_state_.size(), std::vector<std::int64_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < counter_state_.size(); ++k)
      counter_values[k][i] = take_counter(fmt::format("state.{}.{}", i, counter_state_[k].second), 0);

  std::vector<const Tensor*> found(tensor_state_.size() * n, nullptr);  // [k * n + i]
  for (std::size_t i = 0; i < n; ++i) {
    const Tensor& p = params_[i];
    std::size_t present = 0, absent_at = 0, present_at = 0;
    for (std::size_t k = 0; k < tensor_state_.size(); ++k) {
      const std::string key = fmt::format("state.{}.{}", i, tensor_state_[k].second);
      auto it = tensors.find(key);
      if (it == tensors.end()) {
        absent_at = k;
        continue;
      }
      const Tensor& t = *it->second;
      if (!t.defined()) fail(fmt::format("tensor '{}' is undefined", key));
      if (t.shape() != p.shape() || t.dtype() != p.dtype())
        fail(fmt::format("tensor '{}' is {} {}, expected {} {} as parameter {} ('{}')", key, dtype_name(t.dtype()),
                         t.shape(), dtype_name(p.dtype()), p.shape(), i, p.name()));
      found[k * n + i] = &t;
      tensors.erase(it);
      ++present;
      present_at = k;
    }
    if (present != 0 && present != tensor_state_.size())
      fail(fmt::format("parameter {} has 'state.{}.{}' but no 'state.{}.{}'", i, i, tensor_state_[present_at].second, i,
                       tensor_state_[absent_at].second));
  }
  if (!counters.empty()) fail(fmt::format("unknown counter '{}'", counters.begin()->first));
  if (!values.empty()) fail(fmt::format("unknown value '{}'", values.begin()->first));
  if (!tensors.empty()) fail(fmt::format("unknown tensor '{}'", tensors.begin()->first));

  // Everything checked: nothing below throws.
  iterations_ = iterations;
  lr_ = lr;
  groups_ = std::move(groups);
  for (std::size_t k = 0; k < counter_state_.size(); ++k) *counter_state_[k].first = counter_values[k];
  for (std::size_t k = 0; k < tensor_state_.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) {
      const Tensor* t = found[k * n + i];
      (*tensor_state_[k].first)[i] = t ? t->clone() : Tensor();
    }
}

}  // namespace tg
