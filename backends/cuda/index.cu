// SPDX-License-Identifier: MIT
// index_select (a gather of rows along one dim) and its adjoint index_add. Indices are in range
// (the op layer checks them first).
#include "common.cuh"

namespace tapeflow::cuda {

using detail::View;

namespace {

// Copies elements as unsigned words of their size: a gather does not care what they hold.
template <typename W>
__global__ void gather(W* out, const W* x, const int64_t* idx, int64_t total, int64_t n_in, int64_t n_idx,
                       int64_t inner) {
  TAPEFLOW_GRID_STRIDE(r, total) {
    const int64_t i = r % inner, row = r / inner;
    const int64_t o = row / n_idx, j = row % n_idx;
    out[r] = x[(o * n_in + idx[j]) * inner + i];
  }
}

__device__ void add_to(float* p, float v) { atomicAdd(p, v); }
__device__ void add_to(double* p, double v) { atomicAdd(p, v); }
__device__ void add_to(int64_t* p, int64_t v) {  // wraps, as int64 addition does on the CPU
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// Repeated indices add into one element from several threads, hence the atomics (so the order
// of float additions, unlike on the CPU, is not fixed).
template <typename T>
__global__ void scatter_add(T* out, const T* src, const int64_t* idx, int64_t total, int64_t n_out, int64_t n_idx,
                            int64_t inner) {
  TAPEFLOW_GRID_STRIDE(r, total) {
    const int64_t i = r % inner, row = r / inner;
    const int64_t o = row / n_idx, j = row % n_idx;
    add_to(out + (o * n_out + idx[j]) * inner + i, src[r]);
  }
}

}  // namespace

void CudaBackend::index_select(const View& out, const View& x, int dim, const View& index) {
  const int64_t outer = x.outer(dim), inner = x.inner(dim);  // contiguous (the op layer)
  const int64_t n_in = x.shape[dim], n_idx = index.shape[0], total = outer * n_idx * inner;
  if (total == 0) return;
  const auto* idx = static_cast<const int64_t*>(index.data);
  cudaStream_t s = context(index_).stream;
  switch (element_size(x.dtype)) {
    case 1:
      gather<<<blocks_for(total), kThreads, 0, s>>>(static_cast<uint8_t*>(out.data), static_cast<const uint8_t*>(x.data),
                                                    idx, total, n_in, n_idx, inner);
      break;
    case 4:
      gather<<<blocks_for(total), kThreads, 0, s>>>(static_cast<uint32_t*>(out.data),
                                                    static_cast<const uint32_t*>(x.data), idx, total, n_in, n_idx, inner);
      break;
    case 8:
      gather<<<blocks_for(total), kThreads, 0, s>>>(static_cast<uint64_t*>(out.data),
                                                    static_cast<const uint64_t*>(x.data), idx, total, n_in, n_idx, inner);
      break;
    default: unsupported("index_select", x.dtype);
  }
  check_launch("index_select");
}

void CudaBackend::index_add(const View& out, int dim, const View& index, const View& src) {
  const int64_t outer = out.outer(dim), inner = out.inner(dim);  // contiguous (the op layer)
  const int64_t n_out = out.shape[dim], n_idx = index.shape[0], total = outer * n_idx * inner;
  if (total == 0) return;
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      unsupported("index_add", DType::Bool);
    } else {
      scatter_add<<<blocks_for(total), kThreads, 0, context(index_).stream>>>(
          static_cast<T*>(out.data), static_cast<const T*>(src.data), static_cast<const int64_t*>(index.data), total,
          n_out, n_idx, inner);
      check_launch("index_add");
    }
  });
}

}  // namespace tapeflow::cuda
