// SPDX-License-Identifier: MIT
#pragma once
#include <array>
#include <cstddef>
#include <initializer_list>
#include <vector>

namespace tapeflow::detail {

/// N elements inline, the rest on the heap: tape entries stay one allocation for ops with up
/// to N inputs, while custom Functions may take any number.
template <typename T, std::size_t N>
class SmallVector {
 public:
  SmallVector() = default;
  SmallVector(std::initializer_list<T> values) {
    for (const T& v : values) push_back(v);
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void push_back(T v) {
    if (size_ < N) inline_[size_] = std::move(v);
    else heap_.push_back(std::move(v));
    ++size_;
  }
  T& operator[](std::size_t i) { return i < N ? inline_[i] : heap_[i - N]; }
  const T& operator[](std::size_t i) const { return i < N ? inline_[i] : heap_[i - N]; }
  void clear() {
    for (std::size_t i = 0; i < size_ && i < N; ++i) inline_[i] = T();
    heap_.clear();
    size_ = 0;
  }

 private:
  std::array<T, N> inline_{};
  std::vector<T> heap_;
  std::size_t size_ = 0;
};

}  // namespace tapeflow::detail
