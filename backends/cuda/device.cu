// SPDX-License-Identifier: MIT
// Devices, their streams and cuBLAS handles, host copies, and the error translation.
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "common.cuh"

namespace tapeflow::cuda {

void fail(const char* what, const std::string& detail) {
  throw DeviceError(std::string("cuda: ") + what + ": " + detail);
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    fail(what, std::string(cublasGetStatusName(s)) + ": " + cublasGetStatusString(s));
}

namespace {

// Asked once: a process without a driver or a GPU gets 0 (the runtime's reason is kept for
// the error a CUDA tensor then gets).
struct Devices {
  int count = 0;
  std::string why_none;
  std::vector<std::unique_ptr<CudaBackend>> backends;
  // Made on first use (a stream and a cuBLAS handle cost milliseconds), then never freed.
  std::unique_ptr<std::atomic<Context*>[]> contexts;
  std::mutex mutex;  // serialises context creation
  Devices() {
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      count = 0;
      why_none = std::string("the CUDA runtime finds no usable GPU (") + cudaGetErrorName(e) + ": " +
                 cudaGetErrorString(e) + ")";
    } else if (count == 0) {
      why_none = "the CUDA runtime sees no GPU";
    }
    for (int i = 0; i < count; ++i) backends.push_back(std::make_unique<CudaBackend>(i));
    contexts.reset(new std::atomic<Context*>[static_cast<std::size_t>(count)]());
  }
};

// Never destroyed: tensors in static storage may free device memory during exit, after a
// destroyed context would have been gone (the driver reclaims everything at exit anyway).
Devices& devices() {
  static Devices* d = new Devices();
  return *d;
}

}  // namespace

int device_count() { return devices().count; }

CudaBackend& cuda_backend(int index) {
  Devices& d = devices();
  if (d.count == 0)
    throw DeviceError("cuda:" + std::to_string(index) + " is not available: " + d.why_none);
  if (index < 0 || index >= d.count)
    throw DeviceError("cuda:" + std::to_string(index) + " does not exist: this machine has " +
                      std::to_string(d.count) + " GPU" + (d.count == 1 ? "" : "s"));
  return *d.backends[static_cast<std::size_t>(index)];
}

Context& context(int device) {
  int current = -1;
  check(cudaGetDevice(&current), "cudaGetDevice");
  if (current != device) check(cudaSetDevice(device), "cudaSetDevice");
  std::atomic<Context*>& slot = devices().contexts[static_cast<std::size_t>(device)];
  if (Context* c = slot.load(std::memory_order_acquire)) [[likely]] return *c;
  std::lock_guard lock(devices().mutex);
  if (Context* c = slot.load(std::memory_order_acquire)) return *c;
  auto fresh = std::make_unique<Context>(Context{device, nullptr, nullptr});
  // Non-blocking: the legacy default stream would serialise with every other stream.
  check(cudaStreamCreateWithFlags(&fresh->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  if (const cublasStatus_t st = cublasCreate(&fresh->blas); st != CUBLAS_STATUS_SUCCESS) {
    (void)cudaStreamDestroy(fresh->stream);
    check(st, "cublasCreate");
  }
  check(cublasSetStream(fresh->blas, fresh->stream), "cublasSetStream");
  slot.store(fresh.get(), std::memory_order_release);
  return *fresh.release();
}

void synchronize() {
  Devices& d = devices();
  for (int i = 0; i < d.count; ++i)
    if (d.contexts[static_cast<std::size_t>(i)].load(std::memory_order_acquire))
      check(cudaStreamSynchronize(context(i).stream), "synchronize");
}

void* CudaBackend::allocate(std::size_t nbytes) { return device_allocate(index_, nbytes); }
void CudaBackend::deallocate(void* ptr, std::size_t nbytes) { device_free(index_, ptr, nbytes); }

// Both copies wait for the stream: the host buffer belongs to the caller once we return, and
// a copy to the host is how results (item(), to_vector()) reach it.
void CudaBackend::copy_from_host(void* dst, const void* src, std::size_t n) {
  if (!n) return;
  Context& c = context(index_);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c.stream), "copy to the GPU");
  check(cudaStreamSynchronize(c.stream), "copy to the GPU");
}
void CudaBackend::copy_to_host(void* dst, const void* src, std::size_t n) {
  if (!n) return;
  Context& c = context(index_);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c.stream), "copy to the host");
  check(cudaStreamSynchronize(c.stream), "copy to the host");
}

}  // namespace tapeflow::cuda
