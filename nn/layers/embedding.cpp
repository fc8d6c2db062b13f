#include <tapegrad/nn/layers/embedding.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/ops/embedding.h>
#include <tapegrad/ops/mask.h>

namespace tg {

Embedding::Embedding(std::int64_t vocabulary, std::int64_t dim, EmbeddingOptions options)
    : Module("Embedding"), vocabulary_(vocabulary), dim_(dim), options_(options) {
  if (vocabulary <= 0 || dim <= 0)
    throw ValueError(fmt::format("Embedding: vocabulary {} and dim {}: both must be positive", vocabulary, dim));
  embeddings = register_parameter("embeddings", init::uniform({vocabulary, dim}, -0.05, 0.05));
}

Dims Embedding::on_build(const Dims& input) {
  Dims out = input;
  out.push_back(dim_);
  return out;
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(ids, embeddings); }

Tensor Embedding::compute_mask(const Tensor& ids, const Tensor&) const {
  return options_.mask_zero ? mask_not_equal(ids, 0.0) : Tensor();
}

std::shared_ptr<Module> Embedding::clone_unbuilt() const {
  return std::make_shared<Embedding>(vocabulary_, dim_, options_);
}

std::optional<Json> Embedding::config() const {
  return Json::object().set("vocabulary", vocabulary_).set("dim", dim_).set("mask_zero", options_.mask_zero);
}

}  // namespace tg
