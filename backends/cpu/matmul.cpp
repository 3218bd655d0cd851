// SPDX-License-Identifier: MIT
// GEMM straight through CBLAS: xtensor-blas's xlinalg would add seconds of compile time per
// translation unit for the same call.
#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "../../tensor/shape.hpp"

#include "../dispatch.hpp"
#include "cpu_backend.hpp"

namespace tapeflow::cpu {

using detail::dispatch_floating;
using detail::View;

namespace {

// How one operand's last two dims map onto BLAS: row-major as is (NoTrans) or its transpose.
struct Operand {
  CBLAS_TRANSPOSE trans;
  int64_t ld;
};

Operand gemm_layout(const View& v) {
  const int64_t rows = v.shape[v.rank - 2], cols = v.shape[v.rank - 1];
  const int64_t rs = v.strides[v.rank - 2], cs = v.strides[v.rank - 1];
  if (cs == 1 && (rs >= std::max<int64_t>(cols, 1) || rows == 1)) return {CblasNoTrans, std::max<int64_t>({rs, cols, 1})};
  if (rs == 1 && (cs >= std::max<int64_t>(rows, 1) || cols == 1)) return {CblasTrans, std::max<int64_t>({cs, rows, 1})};
  throw InternalError("cpu backend: matmul operand is not BLAS-compatible (the op layer should have made it contiguous)");
}

}  // namespace

void CpuBackend::matmul(const View& out, const View& a, const View& b) {
  const int r = out.rank;
  const int64_t m = out.shape[r - 2], n = out.shape[r - 1], k = a.shape[r - 1];
  int64_t batches = 1;
  for (int d = 0; d < r - 2; ++d) batches *= out.shape[d];
  if (m == 0 || n == 0 || batches == 0) return;
  const std::size_t es = element_size(out.dtype);
  if (k == 0) {
    std::memset(out.data, 0, static_cast<std::size_t>(batches * m * n) * es);
    return;
  }
  const Operand la = gemm_layout(a), lb = gemm_layout(b);
  int64_t coord[kMaxDims] = {};
  for (int64_t i = 0; i < batches; ++i) {
    int64_t ao = 0, bo = 0;
    for (int d = 0; d < r - 2; ++d) ao += coord[d] * a.strides[d], bo += coord[d] * b.strides[d];
    const int64_t oo = i * m * n;
    dispatch_floating(out.dtype, "matmul", [&](auto zero) {
      using T = decltype(zero);
      const T* ap = static_cast<const T*>(a.data) + ao;
      const T* bp = static_cast<const T*>(b.data) + bo;
      T* op = static_cast<T*>(out.data) + oo;
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, la.trans, lb.trans, m, n, k, 1.0f, ap, la.ld, bp, lb.ld, 0.0f, op, n);
      else
        cblas_dgemm(CblasRowMajor, la.trans, lb.trans, m, n, k, 1.0, ap, la.ld, bp, lb.ld, 0.0, op, n);
    });
    for (int d = r - 3; d >= 0; --d) {
      if (++coord[d] < out.shape[d]) break;
      coord[d] = 0;
    }
  }
}

}  // namespace tapeflow::cpu
