// SPDX-License-Identifier: MIT
// cuBLAS, loaded when a GPU is first used instead of at program start. Linking libcublas would
// map it and libcublasLt into every process that links tapeflow, GPU or not: about 220 MB of
// resident memory and 0.1 s before main(), which every CPU user, the REPL and each test would
// pay. So the few cuBLAS functions the backend calls are defined here (hidden: compiled with
// -fvisibility=hidden, they bind inside libtapeflow only and never shadow a user's cuBLAS),
// and each forwards to the real one, found with dlopen on first use.
#include <dlfcn.h>

#include <string>

#include "common.cuh"

namespace tapeflow::cuda {
namespace {

void* library() {
  static void* handle = [] {
    const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
#ifdef TAPEFLOW_CUDA_LIB_DIR
    if (!h) h = dlopen((std::string(TAPEFLOW_CUDA_LIB_DIR) + "/" + name).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
    if (!h) {
      const char* why = dlerror();
      fail("loading cuBLAS", name + " cannot be loaded (" + (why ? why : "unknown reason") +
                                 "); install the CUDA toolkit's cuBLAS or add its directory to LD_LIBRARY_PATH");
    }
    return h;
  }();
  return handle;
}

template <typename F>
F real(F, const char* name) {
  void* f = dlsym(library(), name);
  if (!f) fail("loading cuBLAS", std::string("libcublas has no ") + name);
  return reinterpret_cast<F>(f);
}

}  // namespace
}  // namespace tapeflow::cuda

using tapeflow::cuda::real;

// Each forwarder finds its target once (a thread-safe static) and then only calls through.
#define TAPEFLOW_REAL(name) static const auto target = real(&name, #name)

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  TAPEFLOW_REAL(cublasCreate_v2);
  return target(handle);
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  TAPEFLOW_REAL(cublasSetStream_v2);
  return target(handle, stream);
}

const char* cublasGetStatusName(cublasStatus_t status) {
  TAPEFLOW_REAL(cublasGetStatusName);
  return target(status);
}

const char* cublasGetStatusString(cublasStatus_t status) {
  TAPEFLOW_REAL(cublasGetStatusString);
  return target(status);
}

cublasStatus_t cublasSgemm_v2_64(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                 int64_t n, int64_t k, const float* alpha, const float* a, int64_t lda,
                                 const float* b, int64_t ldb, const float* beta, float* c, int64_t ldc) {
  TAPEFLOW_REAL(cublasSgemm_v2_64);
  return target(handle, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

cublasStatus_t cublasDgemm_v2_64(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                 int64_t n, int64_t k, const double* alpha, const double* a, int64_t lda,
                                 const double* b, int64_t ldb, const double* beta, double* c, int64_t ldc) {
  TAPEFLOW_REAL(cublasDgemm_v2_64);
  return target(handle, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                         int n, int k, const float* alpha, const float* a, int lda,
                                         long long stride_a, const float* b, int ldb, long long stride_b,
                                         const float* beta, float* c, int ldc, long long stride_c, int count) {
  TAPEFLOW_REAL(cublasSgemmStridedBatched);
  return target(handle, ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, count);
}

cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                         int n, int k, const double* alpha, const double* a, int lda,
                                         long long stride_a, const double* b, int ldb, long long stride_b,
                                         const double* beta, double* c, int ldc, long long stride_c, int count) {
  TAPEFLOW_REAL(cublasDgemmStridedBatched);
  return target(handle, ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, count);
}

}  // extern "C"
