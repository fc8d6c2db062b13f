#include <tapegrad/nn/layers/softmax.h>

#include <tapegrad/ops/softmax.h>

namespace tg {

Tensor Softmax::forward(const Tensor& x) { return softmax(x, axis_); }

std::shared_ptr<Module> Softmax::clone_unbuilt() const { return std::make_shared<Softmax>(axis_); }

std::optional<Json> Softmax::config() const { return Json::object().set("axis", axis_); }

}  // namespace tg
