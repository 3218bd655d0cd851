// SPDX-License-Identifier: MIT
// What every CUDA kernel file shares: error checks that turn CUDA and cuBLAS failures into
// DeviceError, the per-device context (stream, cuBLAS handle), launch sizes, dtype dispatch and
// the strided indexing of elementwise kernels. Included by .cu files only.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "../../tensor/error.hpp"
#include "../../tensor/shape.hpp"
#include "../dispatch.hpp"
#include "cuda_backend.hpp"

namespace tapeflow::cuda {

/// Throws DeviceError "cuda: <what>: <detail>".
[[noreturn]] void fail(const char* what, const std::string& detail);
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) [[unlikely]] {
    (void)cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    fail(what, std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e));
  }
}
void check(cublasStatus_t s, const char* what);
/// After a launch: a bad launch configuration, or a fault of an earlier kernel on the stream.
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

/// A device's one stream and cuBLAS handle, made current for the calling thread.
struct Context {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
};
Context& context(int device);

/// Caching allocator (allocator.cu).
void* device_allocate(int device, std::size_t nbytes);
void device_free(int device, void* ptr, std::size_t nbytes);
/// Scratch memory for one call, returned to the cache when it goes out of scope. Reuse by a
/// later call is safe without events because every call on a device runs on one stream.
class Scratch {
 public:
  Scratch(int device, std::size_t nbytes)
      : device_(device), nbytes_(nbytes), ptr_(nbytes ? device_allocate(device, nbytes) : nullptr) {}
  ~Scratch() {
    if (ptr_) device_free(device_, ptr_, nbytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  int device_;
  std::size_t nbytes_;
  void* ptr_;
};

constexpr int kThreads = 256;
/// Blocks for a grid-stride loop over n items: enough to fill the GPU, never over the limit.
inline unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}
#define TAPEFLOW_GRID_STRIDE(i, n)                                                            \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

using detail::dispatch_all;
using detail::dispatch_floating;
using detail::unsupported;

/// N strided operands over one shape, dims merged where every operand allows it (so a
/// contiguous or scalar-broadcast call indexes with one division or none). Passed to kernels
/// by value: 16 dims and 4 operands are 640 bytes of parameters.
template <int N>
struct Strided {
  int rank = 0;
  int64_t numel = 1;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];  // elements

  explicit Strided(const detail::View* const (&views)[N]) {
    const detail::View& first = *views[0];
    for (int d = 0; d < first.rank; ++d) numel *= first.shape[d];
    for (int d = 0; d < first.rank; ++d) {
      if (first.shape[d] == 1) continue;
      if (rank > 0) {
        bool merge = true;  // dim d continues the previous kept dim for every operand
        for (int k = 0; k < N; ++k) merge = merge && strides[k][rank - 1] == views[k]->strides[d] * first.shape[d];
        if (merge) {
          shape[rank - 1] *= first.shape[d];
          for (int k = 0; k < N; ++k) strides[k][rank - 1] = views[k]->strides[d];
          continue;
        }
      }
      shape[rank] = first.shape[d];
      for (int k = 0; k < N; ++k) strides[k][rank] = views[k]->strides[d];
      ++rank;
    }
  }

  /// Element offsets of linear index i in each operand.
  __device__ void offsets(int64_t i, int64_t (&off)[N]) const {
    if (rank == 1) {  // the common case after merging: no 64-bit division
      for (int k = 0; k < N; ++k) off[k] = i * strides[k][0];
      return;
    }
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t c = i % shape[d];
      i /= shape[d];
      for (int k = 0; k < N; ++k) off[k] += c * strides[k][d];
    }
  }
};

/// Row-major element strides of a contiguous shape (host).
inline void contiguous(const detail::View& v, int64_t* strides) {
  int64_t s = 1;
  for (int d = v.rank - 1; d >= 0; --d) strides[d] = s, s *= v.shape[d] > 1 ? v.shape[d] : 1;
}

}  // namespace tapeflow::cuda
