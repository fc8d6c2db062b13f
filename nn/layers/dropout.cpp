#include <tapegrad/nn/layers/dropout.h>

#include <fmt/format.h>

#include <tapegrad/ops/elementwise.h>

namespace tg {

namespace {
void check_rate(double rate, const char* who) {
  if (!(rate >= 0.0 && rate < 1.0)) throw ValueError(fmt::format("{}: rate must be in [0, 1), got {}", who, rate));
}
}  // namespace

Tensor dropout(const Tensor& x, double rate, Generator& gen) {
  check_rate(rate, "dropout");
  if (rate == 0.0) return x;
  Tensor mask = Tensor::empty(x.shape(), x.dtype());
  const double scale = 1.0 / (1.0 - rate);
  dispatch(x.dtype(), [&]<class T>() {
    T* m = mask.data<T>();
    for (std::int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() >= rate ? static_cast<T>(scale) : T(0);
  });
  return x * mask;
}

Dropout::Dropout(double rate) : Module("Dropout"), rate_(rate) { check_rate(rate, "Dropout"); }

Dropout::Dropout(double rate, std::uint32_t seed) : Dropout(rate) {
  seed_ = seed;
  generator_.emplace(seed);
}

Tensor Dropout::forward(const Tensor& x) {
  if (!training() || rate_ == 0.0) return x;
  return dropout(x, rate_, generator_ ? *generator_ : default_generator());
}

std::shared_ptr<Module> Dropout::clone_unbuilt() const {
  auto copy = std::make_shared<Dropout>(rate_);
  copy->seed_ = seed_;
  copy->generator_ = generator_;
  return copy;
}

std::optional<Json> Dropout::config() const {
  return Json::object().set("rate", rate_).set("seed", seed_ ? Json(static_cast<std::int64_t>(*seed_)) : Json());
}

}  // namespace tg
