// SPDX-License-Identifier: MIT
// Batched GEMM through cuBLAS. cuBLAS is column-major: a row-major C = A·B is the column-major
// Cᵀ = Bᵀ·Aᵀ, so the operands go in swapped. Batch dims that merge into one stride per operand
// (the usual case, broadcast stride 0 included) are one strided-batched call.
#include <climits>

#include "../blas_layout.hpp"
#include "common.cuh"

namespace tapeflow::cuda {

using detail::View;

namespace {

// cuBLAS takes each operand as laid out, or transposed.
struct Operand {
  cublasOperation_t op;
  int64_t ld;
};

Operand gemm_layout(const View& v) {
  const detail::BlasOperand o = detail::blas_layout(v);
  return {o.transposed ? CUBLAS_OP_T : CUBLAS_OP_N, o.ld};
}

int blas_int(int64_t v, const char* what) {
  if (v > INT_MAX) fail("matmul", std::string(what) + " of " + std::to_string(v) + " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}

void gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* a,
                  int lda, int64_t sa, const float* b, int ldb, int64_t sb, float* c, int ldc, int64_t sc, int count) {
  const float one = 1.0f, zero = 0.0f;
  check(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &one, a, lda, sa, b, ldb, sb, &zero, c, ldc, sc, count),
        "matmul (cublasSgemmStridedBatched)");
}
void gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double* a,
                  int lda, int64_t sa, const double* b, int ldb, int64_t sb, double* c, int ldc, int64_t sc,
                  int count) {
  const double one = 1.0, zero = 0.0;
  check(cublasDgemmStridedBatched(h, ta, tb, m, n, k, &one, a, lda, sa, b, ldb, sb, &zero, c, ldc, sc, count),
        "matmul (cublasDgemmStridedBatched)");
}

}  // namespace

void CudaBackend::matmul(const View& out, const View& a, const View& b) {
  const int r = out.rank;
  const int64_t m = out.shape[r - 2], n = out.shape[r - 1], k = a.shape[r - 1];
  int64_t batches = 1;
  for (int d = 0; d < r - 2; ++d) batches *= out.shape[d];
  if (m == 0 || n == 0 || batches == 0) return;
  Context& c = context(index_);
  if (k == 0) {
    check(cudaMemsetAsync(out.data, 0, static_cast<std::size_t>(batches * m * n) * element_size(out.dtype), c.stream),
          "matmul");
    return;
  }
  const Operand la = gemm_layout(a), lb = gemm_layout(b);

  // Batch dims merged where all three operands allow it; the innermost merged dim is one
  // strided-batched call, the others (rare) a host loop over calls.
  int rank = 0;
  int64_t shape[kMaxDims], sa[kMaxDims], sb[kMaxDims], so[kMaxDims];
  int64_t out_stride = m * n;
  int64_t ostr[kMaxDims];
  for (int d = r - 3; d >= 0; --d) ostr[d] = out_stride, out_stride *= out.shape[d];
  for (int d = 0; d < r - 2; ++d) {
    if (out.shape[d] == 1) continue;
    if (rank > 0 && sa[rank - 1] == a.strides[d] * out.shape[d] && sb[rank - 1] == b.strides[d] * out.shape[d] &&
        so[rank - 1] == ostr[d] * out.shape[d]) {
      shape[rank - 1] *= out.shape[d];
      sa[rank - 1] = a.strides[d], sb[rank - 1] = b.strides[d], so[rank - 1] = ostr[d];
      continue;
    }
    shape[rank] = out.shape[d], sa[rank] = a.strides[d], sb[rank] = b.strides[d], so[rank] = ostr[d];
    ++rank;
  }
  const int64_t count = rank ? shape[rank - 1] : 1;
  const int64_t step_a = rank ? sa[rank - 1] : 0, step_b = rank ? sb[rank - 1] : 0, step_o = rank ? so[rank - 1] : 0;
  const int64_t calls = batches / count;

  dispatch_floating(out.dtype, "matmul", [&](auto zero) {
    using T = decltype(zero);
    int64_t coord[kMaxDims] = {};
    for (int64_t call = 0; call < calls; ++call) {
      int64_t ao = 0, bo = 0, oo = 0;
      for (int d = 0; d + 1 < rank; ++d) ao += coord[d] * sa[d], bo += coord[d] * sb[d], oo += coord[d] * so[d];
      // Column-major Cᵀ[n, m] = Bᵀ[n, k] · Aᵀ[k, m].
      gemm_batched(c.blas, lb.op, la.op, blas_int(n, "n"), blas_int(m, "m"), blas_int(k, "k"),
                   static_cast<const T*>(b.data) + bo, blas_int(lb.ld, "leading dimension"), step_b,
                   static_cast<const T*>(a.data) + ao, blas_int(la.ld, "leading dimension"), step_a,
                   static_cast<T*>(out.data) + oo, blas_int(n, "n"), step_o, blas_int(count, "batch count"));
      for (int d = rank - 2; d >= 0; --d) {
        if (++coord[d] < shape[d]) break;
        coord[d] = 0;
      }
    }
  });
}

}  // namespace tapeflow::cuda
