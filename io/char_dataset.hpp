// SPDX-License-Identifier: MIT
// CharDataset: a text as a character-level language-modelling dataset (predict the next byte).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../tensor/tensor.hpp"
#include "dataset.hpp"

namespace tapeflow::io {

/// The vocabulary is the distinct bytes of the text, sorted by byte value (0x00 first, UTF-8
/// multi-byte characters are several entries). Example i is the window of seq_len + 1 bytes
/// starting at i * stride: inputs are its first seq_len bytes, targets its last seq_len (the same
/// sequence shifted by one), both as Int64 indices. The default stride, seq_len, makes windows
/// that overlap by one byte, so every pair of neighbouring bytes is one (input, target) pair
/// exactly once; stride 1 gives every window.
class CharDataset : public Dataset {
 public:
  /// Throws ValueError for seq_len or stride below 1 and for a text shorter than seq_len + 1.
  CharDataset(std::string text, int64_t seq_len, std::optional<int64_t> stride = std::nullopt);
  /// The text of a file (bytes, as is). Throws IOError naming the file when it cannot be read.
  static CharDataset from_file(const std::string& path, int64_t seq_len, std::optional<int64_t> stride = std::nullopt);

  /// Number of windows: (text size - seq_len - 1) / stride + 1.
  int64_t size() const override;
  /// Int64 inputs and targets, both [indices.size(), seq_len].
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  int64_t seq_len() const;
  int64_t stride() const;
  const std::string& text() const;
  /// Number of distinct bytes in the text.
  int64_t vocab_size() const;
  /// The distinct bytes, sorted: vocab()[i] is the character of index i.
  const std::string& vocab() const;
  /// Throws ValueError for a byte that is not in the text.
  int64_t char_to_index(char c) const;
  /// Throws ValueError for an index outside [0, vocab_size()).
  char index_to_char(int64_t index) const;
  /// Int64 [text.size()] of indices; throws ValueError naming the first byte not in the vocabulary.
  Tensor encode(const std::string& text) const;
  /// The characters of an Int64 tensor of indices (any shape, row-major); throws DTypeError for
  /// another dtype and ValueError for an index outside the vocabulary.
  std::string decode(const Tensor& indices) const;

 private:
  std::shared_ptr<const std::string> text_;  // shared: DataLoader copies datasets
  std::string vocab_;
  std::vector<int64_t> index_of_;  // by byte value; -1 for bytes not in the text
  int64_t seq_len_ = 0;
  int64_t stride_ = 0;
  int64_t size_ = 0;
};

}  // namespace tapeflow::io
