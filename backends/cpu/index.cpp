// SPDX-License-Identifier: MIT
#include <algorithm>
#include <cstring>

#include "../dispatch.hpp"
#include "cpu_backend.hpp"
#include "parallel.hpp"

namespace tapeflow::cpu {

using detail::dispatch_all;
using detail::unsupported;
using detail::View;

namespace {
/// How many rows of `row_elems` elements make a parallel_for grain of kParallelGrain elements.
int64_t rows_grain(int64_t row_elems) { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(row_elems, 1)); }

/// Output rows [begin, end) of index_select, rows numbered o·n_idx + j; a gather of single
/// elements (inner == 1, im2col's case) is a typed loop rather than a memcpy per element.
template <typename T>
void gather_elements(T* dst, const T* src, const int64_t* idx, int64_t n_in, int64_t n_idx, int64_t begin,
                     int64_t end) {
  int64_t o = begin / n_idx, j = begin % n_idx;
  for (int64_t r = begin; r < end;) {
    const T* from = src + o * n_in;
    const int64_t stop = std::min(end - r, n_idx - j) + j;
    for (; j < stop; ++j, ++r) dst[r] = from[idx[j]];
    j = 0;
    ++o;
  }
}
}  // namespace

void CpuBackend::index_select(const View& out, const View& x, int dim, const View& index) {
  const int64_t outer = x.outer(dim), inner = x.inner(dim);  // contiguous (the op layer)
  const int64_t n_in = x.shape[dim], n_idx = index.shape[0];
  const std::size_t es = element_size(x.dtype);
  const auto* idx = static_cast<const int64_t*>(index.data);
  // Every output row is written once, so any split of the rows is race-free.
  parallel_for(outer * n_idx, rows_grain(inner), [&](int64_t begin, int64_t end) {
    if (inner == 1) {
      switch (es) {
        case 1: return gather_elements(static_cast<uint8_t*>(out.data), static_cast<const uint8_t*>(x.data), idx, n_in, n_idx, begin, end);
        case 4: return gather_elements(static_cast<uint32_t*>(out.data), static_cast<const uint32_t*>(x.data), idx, n_in, n_idx, begin, end);
        case 8: return gather_elements(static_cast<uint64_t*>(out.data), static_cast<const uint64_t*>(x.data), idx, n_in, n_idx, begin, end);
        default: break;
      }
    }
    const std::size_t bytes = static_cast<std::size_t>(inner) * es;
    const char* src = static_cast<const char*>(x.data);
    char* dst = static_cast<char*>(out.data);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r / n_idx, j = r % n_idx;
      std::memcpy(dst + r * bytes, src + (o * n_in + idx[j]) * bytes, bytes);
    }
  });
}

void CpuBackend::index_add(const View& out, int dim, const View& index, const View& src) {
  const int64_t outer = out.outer(dim), inner = out.inner(dim);  // contiguous (the op layer)
  const int64_t n_out = out.shape[dim], n_idx = index.shape[0];
  const auto* idx = static_cast<const int64_t*>(index.data);
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      unsupported("index_add", DType::Bool);
    } else {
      T* o = static_cast<T*>(out.data);
      const T* s = static_cast<const T*>(src.data);
      // Repeated indices add into the same output row, so threads split what they write:
      // whole outer slices, or (one outer slice) ranges of the inner columns. Each output element
      // sees its additions in index order either way, so results do not depend on threads.
      auto add_rows = [&](int64_t a0, int64_t a1, int64_t i0, int64_t i1) {
        for (int64_t a = a0; a < a1; ++a) {
          T* base = o + a * n_out * inner;
          const T* from = s + a * n_idx * inner;
          if (inner == 1) {
            for (int64_t j = 0; j < n_idx; ++j) base[idx[j]] += from[j];
          } else {
            for (int64_t j = 0; j < n_idx; ++j) {
              T* row = base + idx[j] * inner;
              const T* f = from + j * inner;
              for (int64_t i = i0; i < i1; ++i) row[i] += f[i];
            }
          }
        }
      };
      if (outer > 1 || inner == 1)
        parallel_for(outer, rows_grain(n_idx * inner), [&](int64_t a0, int64_t a1) { add_rows(a0, a1, 0, inner); });
      else
        parallel_for(inner, rows_grain(n_idx), [&](int64_t i0, int64_t i1) { add_rows(0, 1, i0, i1); });
    }
  });
}

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace tapeflow::cpu
