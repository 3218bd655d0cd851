// SPDX-License-Identifier: MIT
// GEMM straight through CBLAS: xtensor-blas's xlinalg would add seconds of compile time per
// translation unit for the same call.
#include <cblas.h>

#include <cstring>

#include "../../tensor/shape.hpp"

#include "../blas_layout.hpp"
#include "../dispatch.hpp"
#include "cpu_backend.hpp"

namespace tapeflow::cpu {

using detail::dispatch_floating;
using detail::View;

namespace {

// The row-major CBLAS call takes each operand as laid out, or transposed.
struct Operand {
  CBLAS_TRANSPOSE trans;
  int64_t ld;
};

Operand gemm_layout(const View& v) {
  const detail::BlasOperand o = detail::blas_layout(v);
  return {o.transposed ? CblasTrans : CblasNoTrans, o.ld};
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
