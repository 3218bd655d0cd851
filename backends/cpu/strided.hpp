// SPDX-License-Identifier: MIT
// The loop engine behind every CPU elementwise kernel: N same-shaped strided operands are
// walked so that the output's memory is visited in order, handing each innermost run to a
// kernel as (pointers, byte strides, count).
//
// Three steps make strided work run near memory speed:
// - dims are put in the output's memory order (largest stride outermost), so writing into a
//   transposed or permuted view walks its memory forwards;
// - dims that are contiguous for every operand are merged, so a contiguous or simply broadcast
//   operation becomes a single run the compiler can vectorise;
// - when an input's layout crosses the output's (a transposing copy, x.t() + y), the two dims
//   involved are walked in square tiles, so every cache line fetched from the input is used
//   whole before it is evicted, instead of one element per line.
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
#include "parallel.hpp"

namespace tapeflow::cpu {

template <int N>
struct Strided {
  /// Tile edge in elements: a tile's input lines (kTile of them, 64 bytes each) and its output
  /// rows (kTile x kTile elements) stay in L1/L2 together.
  static constexpr int64_t kTile = 64;
  /// An input whose stride along the run exceeds this many bytes wastes most of each cache line.
  static constexpr int64_t kLineBytes = 64;

  int rank = 0;
  int64_t shape[kMaxDims];
  int64_t stride[N][kMaxDims];  // bytes
  char* base[N];
  int tile_dim = -1;  // the dim tiled together with the innermost one; -1: plain row-major runs

  explicit Strided(const std::array<const detail::View*, N>& ops) {
    const detail::View& out = *ops[0];
    for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(ops[k]->data);
    // Drop size-1 dims.
    for (int d = 0; d < out.rank; ++d) {
      if (out.shape[d] == 1) continue;
      shape[rank] = out.shape[d];
      for (int k = 0; k < N; ++k)
        stride[k][rank] = ops[k]->strides[d] * static_cast<int64_t>(element_size(ops[k]->dtype));
      ++rank;
    }
    sort_dims();
    merge_dims();
    if (rank == 0) {  // a single element
      rank = 1;
      shape[0] = 1;
      for (int k = 0; k < N; ++k) stride[k][0] = 0;
    }
    choose_tile();
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= shape[d];
    return n;
  }

  /// Calls run(ptrs, inner_strides, count) over every element, split across threads when the
  /// work is large; each element is handed to exactly one run.
  template <typename Run>
  void for_each(Run&& run) const {
    if (tile_dim < 0) {
      parallel_for(numel(), kParallelGrain, [&](int64_t b, int64_t e) { for_range(b, e, run); });
    } else {
      parallel_for(tiles(), std::max<int64_t>(1, kParallelGrain / (kTile * kTile)),
                   [&](int64_t b, int64_t e) { for_tiles(b, e, run); });
    }
  }

 private:
  /// Calls run(ptrs, inner_strides, count) over the elements [begin, end) of the (sorted,
  /// merged) dims in row-major order.
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

  /// Number of tiles when tiled: the other dims' elements x tiles along tile_dim x tiles along
  /// the innermost dim.
  int64_t tiles() const {
    const int last = rank - 1;
    int64_t n = ceil_div(shape[tile_dim], kTile) * ceil_div(shape[last], kTile);
    for (int d = 0; d < last; ++d)
      if (d != tile_dim) n *= shape[d];
    return n;
  }

  /// Calls run over the tiles [begin, end): within a tile, one run of up to kTile elements
  /// along the innermost dim per index of tile_dim.
  template <typename Run>
  void for_tiles(int64_t begin, int64_t end, Run&& run) const {
    const int last = rank - 1;
    const int64_t ni = ceil_div(shape[last], kTile), nj = ceil_div(shape[tile_dim], kTile);
    int64_t inner_stride[N];
    for (int op = 0; op < N; ++op) inner_stride[op] = stride[op][last];
    for (int64_t t = begin; t < end; ++t) {
      int64_t rest = t;
      const int64_t i0 = rest % ni * kTile;
      rest /= ni;
      const int64_t j0 = rest % nj * kTile;
      rest /= nj;
      int64_t off[N] = {};
      for (int d = last - 1; d >= 0; --d) {
        if (d == tile_dim) continue;
        const int64_t c = rest % shape[d];
        rest /= shape[d];
        for (int op = 0; op < N; ++op) off[op] += c * stride[op][d];
      }
      const int64_t n = std::min(kTile, shape[last] - i0), j1 = std::min(j0 + kTile, shape[tile_dim]);
      for (int64_t j = j0; j < j1; ++j) {
        char* p[N];
        for (int op = 0; op < N; ++op) p[op] = base[op] + off[op] + j * stride[op][tile_dim] + i0 * stride[op][last];
        run(p, inner_stride, n);
      }
    }
  }

  static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

  // Whether dim a, now outside dim b, belongs inside it: the first operand whose strides along
  // the two differ (ignoring broadcast zeros) decides, the output first. Undecided keeps the
  // order (TensorIterator's rule in PyTorch).
  bool belongs_inside(int a, int b) const {
    for (int k = 0; k < N; ++k) {
      const int64_t sa = stride[k][a], sb = stride[k][b];
      if (sa == 0 || sb == 0 || sa == sb) continue;
      return sa < sb;
    }
    return false;
  }

  void sort_dims() {
    int perm[kMaxDims];
    for (int d = 0; d < rank; ++d) perm[d] = d;
    // Insertion sort: rank is small, and it is stable for undecided pairs.
    for (int i = 1; i < rank; ++i)
      for (int j = i; j > 0 && belongs_inside(perm[j - 1], perm[j]); --j) std::swap(perm[j - 1], perm[j]);
    int64_t sorted_shape[kMaxDims], sorted_stride[N][kMaxDims];
    for (int d = 0; d < rank; ++d) {
      sorted_shape[d] = shape[perm[d]];
      for (int k = 0; k < N; ++k) sorted_stride[k][d] = stride[k][perm[d]];
    }
    std::copy(sorted_shape, sorted_shape + rank, shape);
    for (int k = 0; k < N; ++k) std::copy(sorted_stride[k], sorted_stride[k] + rank, stride[k]);
  }

  // Merges a dim into the next inner one when every operand allows.
  void merge_dims() {
    int merged = 0;
    for (int d = 0; d < rank; ++d) {
      if (merged > 0) {
        bool can = true;
        for (int k = 0; k < N; ++k) can = can && stride[k][merged - 1] == stride[k][d] * shape[d];
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
  }

  // Tiles when some input strides across whole cache lines along the innermost dim but is
  // denser along another: of the dims long enough to make a tile, the one where that input is
  // densest is tiled with the innermost.
  void choose_tile() {
    constexpr int64_t kMinEdge = 8;
    const int last = rank - 1;
    if (last < 1 || shape[last] < kMinEdge || numel() < kTile * kTile / 4) return;
    for (int k = 1; k < N && tile_dim < 0; ++k) {
      if (stride[k][last] <= kLineBytes) continue;
      for (int d = 0; d < last; ++d)
        if (shape[d] >= kMinEdge && stride[k][d] > 0 && stride[k][d] < stride[k][last] &&
            (tile_dim < 0 || stride[k][d] < stride[k][tile_dim]))
          tile_dim = d;
    }
  }
};

}  // namespace tapeflow::cpu
