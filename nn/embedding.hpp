// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "module.hpp"

namespace tapeflow::nn {

namespace functional {
/// Looks up rows of `weight` [num_embeddings, dim]: Int64 `indices` of any shape give
/// [*indices.shape, dim]. Rows equal to `padding_idx` (negative counts from the end) are returned
/// as they are but receive no gradient. Throws DTypeError for non-Int64 indices and ValueError
/// naming the index for one outside [0, num_embeddings).
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt);
}  // namespace functional

struct EmbeddingOptions {
  /// This row starts at zero and is never updated by gradients (negative counts from the end).
  std::optional<int64_t> padding_idx = std::nullopt;
};

/// A lookup table of `num_embeddings` trainable vectors of size `embedding_dim`, drawn N(0, 1)
/// like LibTorch: Int64 indices [...] -> [..., embedding_dim].
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options = {});
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  /// Draws fresh N(0, 1) values (and zeroes the padding row).
  void reset_parameters();

  Tensor weight;  ///< [num_embeddings, embedding_dim]
  int64_t num_embeddings;
  int64_t embedding_dim;
  /// Normalised to [0, num_embeddings) when given.
  std::optional<int64_t> padding_idx;
};

}  // namespace tapeflow::nn
