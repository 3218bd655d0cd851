// SPDX-License-Identifier: MIT
// The loop engine behind every CPU elementwise kernel: N same-shaped strided operands are
// walked in row-major order, handing the innermost run to a kernel as (pointers, byte strides,
// count). Dims that are contiguous for every operand are merged first, so a contiguous or
// simply broadcast operation becomes a single run the compiler can vectorise.
//
// Why not xtensor here: an xt::adapt over strided buffers costs ~280 ns per call on this
// machine for a 4-element add (measured), more than the whole per-op budget; these loops cost
// a few ns. xtensor serves where per-call cost is amortised (see tests and interop).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>

#include "../../tensor/shape.hpp"
#include "../backend.hpp"

namespace tapeflow::cpu {

template <int N>
struct Strided {
  int rank = 0;
  int64_t shape[kMaxDims];
  int64_t stride[N][kMaxDims];  // bytes
  char* base[N];

  explicit Strided(const std::array<const detail::View*, N>& ops) {
    const detail::View& out = *ops[0];
    for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(ops[k]->data);
    // Drop size-1 dims, then merge a dim into the next inner one when every operand allows.
    for (int d = 0; d < out.rank; ++d) {
      if (out.shape[d] == 1) continue;
      shape[rank] = out.shape[d];
      for (int k = 0; k < N; ++k)
        stride[k][rank] = ops[k]->strides[d] * static_cast<int64_t>(element_size(ops[k]->dtype));
      ++rank;
    }
    int merged = 0;
    for (int d = 0; d < rank; ++d) {
      if (merged > 0) {
        bool can = true;
        for (int k = 0; k < N; ++k)
          can = can && stride[k][merged - 1] == stride[k][d] * shape[d];
        if (can) {
          shape[merged - 1] *= shape[d];
          for (int k = 0; k < N; ++k) stride[k][merged - 1] = stride[k][d];
          continue;
        }
      }
      shape[merged] = shape[d];
      for (int k = 0; k < N; ++k) stride[k][merged] = stride[k][d];
      ++merged;
    }
    rank = merged;
    if (rank == 0) {  // a single element
      rank = 1;
      shape[0] = 1;
      for (int k = 0; k < N; ++k) stride[k][0] = 0;
    }
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= shape[d];
    return n;
  }

  /// Calls run(ptrs, inner_strides, count) over the elements [begin, end) in row-major order.
  template <typename Run>
  void for_range(int64_t begin, int64_t end, Run&& run) const {
    const int last = rank - 1;
    const int64_t inner = shape[last];
    int64_t coord[kMaxDims] = {};
    int64_t outer = begin / inner, k = begin % inner;
    for (int d = last - 1; d >= 0; --d) {
      coord[d] = outer % shape[d];
      outer /= shape[d];
    }
    int64_t inner_stride[N];
    for (int op = 0; op < N; ++op) inner_stride[op] = stride[op][last];
    int64_t i = begin;
    while (i < end) {
      char* p[N];
      for (int op = 0; op < N; ++op) {
        int64_t off = k * stride[op][last];
        for (int d = 0; d < last; ++d) off += coord[d] * stride[op][d];
        p[op] = base[op] + off;
      }
      int64_t n = std::min(inner - k, end - i);
      run(p, inner_stride, n);
      i += n;
      k = 0;
      for (int d = last - 1; d >= 0; --d) {
        if (++coord[d] < shape[d]) break;
        coord[d] = 0;
      }
    }
  }
};

}  // namespace tapeflow::cpu
