#pragma once
/// \file
/// Embedding: integer ids [B, T] (held in a float tensor) -> learned vectors [B, T, dim], as
/// Keras' Embedding. With mask_zero, id 0 is padding: the layer also makes the mask of the
/// sequence (nn/layers/module.h, "Masking"), so recurrent layers after it in a Sequential skip the
/// padded steps:
///
///     tg::Sequential model(tg::Embedding(10000, 32, {.mask_zero = true}),
///                          tg::SimpleRNN(32), tg::Dense(1, tg::activations::sigmoid));

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Embedding's options.
struct EmbeddingOptions {
  /// Id 0 marks padding: compute_mask returns ids != 0. Id 0 still has a row (so the vocabulary
  /// must count it), as in Keras.
  bool mask_zero = false;
};

/// Keras' Embedding(vocabulary, dim): a lookup of ids [B, T] in a learned table [vocabulary, dim].
class Embedding : public Module {
 public:
  /// A table `embeddings` [vocabulary, dim] drawn uniformly from [-0.05, 0.05] (Keras' default).
  /// ValueError unless both sizes are positive.
  Embedding(std::int64_t vocabulary, std::int64_t dim, EmbeddingOptions options = {});

  /// ids of any shape (usually [B, T]) -> ids' shape + [dim]. ValueError naming the first id
  /// that is not a whole number in [0, vocabulary).
  Tensor forward(const Tensor& ids) override;
  /// With mask_zero: a [B, T] tensor, 1 where the id is not 0 and 0 where it is (unrecorded);
  /// otherwise undefined. The incoming mask is ignored: the ids define the sequence.
  Tensor compute_mask(const Tensor& ids, const Tensor& mask) const override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// Number of ids, i.e. rows of the table (ids lie in [0, vocabulary)).
  std::int64_t vocabulary() const { return vocabulary_; }
  /// Size of each vector, i.e. columns of the table.
  std::int64_t dim() const { return dim_; }
  /// The options given to the constructor.
  const EmbeddingOptions& options() const { return options_; }
  /// The table [vocabulary, dim]; row i is the vector of id i. Made by the constructor.
  Tensor embeddings;

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t vocabulary_, dim_;
  EmbeddingOptions options_;
};

}  // namespace tg
