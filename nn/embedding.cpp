// SPDX-License-Identifier: MIT
#include "embedding.hpp"

#include "../autograd/detail/index_range.hpp"
#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "init.hpp"

namespace tapeflow::nn {

namespace {

int64_t normalize_padding_idx(const char* who, int64_t padding_idx, int64_t num_embeddings) {
  const int64_t p = padding_idx < 0 ? padding_idx + num_embeddings : padding_idx;
  if (p < 0 || p >= num_embeddings)
    throw ValueError(std::string(who) + ": padding_idx " + std::to_string(padding_idx) +
                     " is out of range for " + std::to_string(num_embeddings) + " embeddings");
  return p;
}

}  // namespace

Tensor functional::embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  if (!indices.defined() || !weight.defined()) throw ValueError("embedding: got an undefined indices or weight tensor");
  if (weight.dim() != 2)
    throw ShapeError("embedding: weight must be 2-d [num_embeddings, embedding_dim], got " +
                     shape_str(weight.shape()));
  if (indices.dtype() != DType::Int64)
    throw DTypeError(std::string("embedding: indices must be Int64, got ") + dtype_name(indices.dtype()));
  const int64_t n = weight.size(0);
  Tensor flat = indices.reshape({-1});
  if (const auto bad = detail::index_out_of_range(flat, n))
    throw ValueError("embedding: index " + std::to_string(*bad) + " is out of range for " + std::to_string(n) +
                     " embeddings (valid indices are 0.." + std::to_string(n - 1) + "; indices shape " +
                     shape_str(indices.shape()) + ")");
  Tensor rows = detail::index_select_in_range(weight, 0, flat);
  if (padding_idx && weight.requires_grad() && is_grad_enabled()) {
    // The padding row keeps its value but takes no gradient: select it from a detached copy.
    const int64_t p = normalize_padding_idx("embedding", *padding_idx, n);
    Tensor keep = (flat != static_cast<double>(p)).unsqueeze(1);
    rows = where(keep, rows, detail::index_select_in_range(weight.detach(), 0, flat));
  }
  Shape out = indices.shape();
  out.push_back(weight.size(1));
  return rows.reshape(out);
}

Embedding::Embedding(int64_t num, int64_t dim, EmbeddingOptions options)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim) {
  if (num <= 0 || dim <= 0)
    throw ValueError("Embedding: num_embeddings and embedding_dim must be positive, got " + std::to_string(num) +
                     " and " + std::to_string(dim));
  if (options.padding_idx) padding_idx = normalize_padding_idx("Embedding", *options.padding_idx, num);
  shape_numel({num, dim}, "Embedding");  // name the module when the table cannot exist
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard off;
    weight.slice(0, *padding_idx, *padding_idx + 1).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) { return functional::embedding(indices, weight, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) s += ", padding_idx=" + std::to_string(*padding_idx);
  return s;
}

}  // namespace tapeflow::nn
