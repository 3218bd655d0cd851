// SPDX-License-Identifier: MIT
#include "char_dataset.hpp"

#include <cstdio>
#include <utility>

#include "../tensor/error.hpp"
#include "detail/file.hpp"

namespace tapeflow::io {
namespace {

// A byte as it reads in a message: 'a', or '\x0A' when it is not printable.
std::string show(char c) {
  const auto u = static_cast<unsigned char>(c);
  char buf[16];
  if (u >= 0x20 && u < 0x7f) std::snprintf(buf, sizeof buf, "'%c'", c);
  else std::snprintf(buf, sizeof buf, "'\\x%02X'", u);
  return buf;
}

}  // namespace

CharDataset::CharDataset(std::string text, int64_t seq_len, std::optional<int64_t> stride)
    : seq_len_(seq_len), stride_(stride.value_or(seq_len)) {
  if (seq_len_ < 1) throw ValueError("CharDataset: seq_len must be at least 1, got " + std::to_string(seq_len_));
  if (stride_ < 1) throw ValueError("CharDataset: stride must be at least 1, got " + std::to_string(stride_));
  const auto n = static_cast<int64_t>(text.size());
  if (n <= seq_len_)
    throw ValueError("CharDataset: a text of " + std::to_string(n) + " characters is too short for seq_len " +
                     std::to_string(seq_len_) + " (an example needs seq_len + 1 = " + std::to_string(seq_len_ + 1) +
                     ")");
  size_ = (n - seq_len_ - 1) / stride_ + 1;

  bool seen[256] = {};
  for (char c : text) seen[static_cast<unsigned char>(c)] = true;
  index_of_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    if (!seen[b]) continue;
    index_of_[static_cast<std::size_t>(b)] = static_cast<int64_t>(vocab_.size());
    vocab_.push_back(static_cast<char>(b));
  }
  text_ = std::make_shared<const std::string>(std::move(text));
}

CharDataset CharDataset::from_file(const std::string& path, int64_t seq_len, std::optional<int64_t> stride) {
  std::string text = detail::read_file("CharDataset", path);
  try {
    return CharDataset(std::move(text), seq_len, stride);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (file " + path + ")");
  }
}

int64_t CharDataset::size() const { return size_; }

Batch CharDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto batch = static_cast<int64_t>(indices.size());
  std::vector<int64_t> inputs(static_cast<std::size_t>(batch * seq_len_));
  std::vector<int64_t> targets(inputs.size());
  const std::string& text = *text_;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t i = indices[static_cast<std::size_t>(b)];
    if (i < 0 || i >= size_)
      throw ValueError("CharDataset: index " + std::to_string(i) + " is out of range for " + std::to_string(size_) +
                       " examples");
    const int64_t start = i * stride_;
    for (int64_t t = 0; t < seq_len_; ++t) {
      const auto at = static_cast<std::size_t>(b * seq_len_ + t);
      inputs[at] = index_of_[static_cast<unsigned char>(text[static_cast<std::size_t>(start + t)])];
      targets[at] = index_of_[static_cast<unsigned char>(text[static_cast<std::size_t>(start + t + 1)])];
    }
  }
  return {tensor(inputs, {batch, seq_len_}), tensor(targets, {batch, seq_len_})};
}

int64_t CharDataset::seq_len() const { return seq_len_; }
int64_t CharDataset::stride() const { return stride_; }
const std::string& CharDataset::text() const { return *text_; }
int64_t CharDataset::vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
const std::string& CharDataset::vocab() const { return vocab_; }

int64_t CharDataset::char_to_index(char c) const {
  const int64_t i = index_of_[static_cast<unsigned char>(c)];
  if (i < 0) throw ValueError("CharDataset: character " + show(c) + " is not in the vocabulary");
  return i;
}

char CharDataset::index_to_char(int64_t index) const {
  if (index < 0 || index >= vocab_size())
    throw ValueError("CharDataset: index " + std::to_string(index) + " is outside the vocabulary of " +
                     std::to_string(vocab_size()) + " characters");
  return vocab_[static_cast<std::size_t>(index)];
}

Tensor CharDataset::encode(const std::string& text) const {
  std::vector<int64_t> out(text.size());
  for (std::size_t k = 0; k < text.size(); ++k) {
    const int64_t i = index_of_[static_cast<unsigned char>(text[k])];
    if (i < 0)
      throw ValueError("CharDataset::encode: character " + show(text[k]) + " at position " + std::to_string(k) +
                       " is not in the vocabulary");
    out[k] = i;
  }
  return tensor(out, {static_cast<int64_t>(out.size())});
}

std::string CharDataset::decode(const Tensor& indices) const {
  if (!indices.defined()) throw ValueError("CharDataset::decode: undefined tensor");
  if (indices.dtype() != DType::Int64)
    throw DTypeError(std::string("CharDataset::decode: indices must be int64, got ") + dtype_name(indices.dtype()));
  std::string out;
  out.reserve(static_cast<std::size_t>(indices.numel()));
  for (int64_t i : indices.to_vector<int64_t>()) {
    if (i < 0 || i >= vocab_size())
      throw ValueError("CharDataset::decode: index " + std::to_string(i) + " is outside the vocabulary of " +
                       std::to_string(vocab_size()) + " characters");
    out.push_back(vocab_[static_cast<std::size_t>(i)]);
  }
  return out;
}

}  // namespace tapeflow::io
