// SPDX-License-Identifier: MIT
#include <cstring>

#include "cpu_backend.hpp"
#include "dispatch.hpp"

namespace tapeflow::cpu {

using detail::View;

namespace {
// x viewed as [outer, size(dim), inner] (contiguous, guaranteed by the op layer).
void split(const View& v, int dim, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int d = 0; d < dim; ++d) outer *= v.shape[d];
  for (int d = dim + 1; d < v.rank; ++d) inner *= v.shape[d];
}
}  // namespace

void CpuBackend::index_select(const View& out, const View& x, int dim, const View& index) {
  int64_t outer, inner;
  split(x, dim, outer, inner);
  const int64_t n_in = x.shape[dim], n_idx = index.shape[0];
  const std::size_t bytes = static_cast<std::size_t>(inner) * element_size(x.dtype);
  const auto* idx = static_cast<const int64_t*>(index.data);
  const char* src = static_cast<const char*>(x.data);
  char* dst = static_cast<char*>(out.data);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j)
      std::memcpy(dst + (o * n_idx + j) * bytes, src + (o * n_in + idx[j]) * bytes, bytes);
}

void CpuBackend::index_add(const View& out, int dim, const View& index, const View& src) {
  int64_t outer, inner;
  split(out, dim, outer, inner);
  const int64_t n_out = out.shape[dim], n_idx = index.shape[0];
  const auto* idx = static_cast<const int64_t*>(index.data);
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      unsupported("index_add", DType::Bool);
    } else {
      T* o = static_cast<T*>(out.data);
      const T* s = static_cast<const T*>(src.data);
      for (int64_t a = 0; a < outer; ++a)
        for (int64_t j = 0; j < n_idx; ++j) {
          T* row = o + (a * n_out + idx[j]) * inner;
          const T* from = s + (a * n_idx + j) * inner;
          for (int64_t i = 0; i < inner; ++i) row[i] += from[i];
        }
    }
  });
}

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace tapeflow::cpu
