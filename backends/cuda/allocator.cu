// SPDX-License-Identifier: MIT
// Device memory through cudaMalloc with a cache: a freed block goes on a free list for its
// (rounded) size and the next request of that size takes it, so a training loop stops paying
// cudaMalloc/cudaFree (each a device-wide synchronisation) per tensor. Blocks are handed out
// again only on the same device, whose one stream orders their old and new uses, so no events
// are needed. Never managed memory: its page migration would hide transfers in every kernel.
#include <cstdio>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "common.cuh"

namespace tapeflow::cuda {

namespace {

// Small sizes round to 512 bytes (cudaMalloc's own granularity), large ones to 2 MiB so that
// batches of slightly different sizes share blocks; the waste is under 1/8 for large blocks
// of 16 MiB and more, and bounded by 2 MiB below.
std::size_t rounded(std::size_t n) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t{2} << 20;
  if (n < (std::size_t{1} << 20)) return (n + kSmall - 1) / kSmall * kSmall;
  return (n + kLarge - 1) / kLarge * kLarge;
}

struct Pool {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> idle;  // rounded size -> blocks
  std::size_t idle_bytes = 0;
};

std::vector<Pool>& pools() {
  static auto* p = new std::vector<Pool>(static_cast<std::size_t>(device_count()));  // never destroyed, see device.cu
  return *p;
}

std::string mib(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

// Idle blocks may still be named by kernels queued on the stream: wait for it first (cudaFree
// would too, implicitly). A block leaves the list before it is freed, so a failure part-way
// leaves no freed pointer behind to be handed out again.
void release(int device, Pool& pool) {
  check(cudaStreamSynchronize(context(device).stream), "cudaFree");
  for (auto it = pool.idle.begin(); it != pool.idle.end(); it = pool.idle.erase(it)) {
    while (!it->second.empty()) {
      void* b = it->second.back();
      it->second.pop_back();
      pool.idle_bytes -= it->first;
      check(cudaFree(b), "cudaFree");
    }
  }
}

}  // namespace

void* device_allocate(int device, std::size_t nbytes) {
  const std::size_t size = rounded(nbytes);
  Pool& pool = pools()[static_cast<std::size_t>(device)];
  {
    std::lock_guard lock(pool.mutex);
    auto it = pool.idle.find(size);
    if (it != pool.idle.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      pool.idle_bytes -= size;
      return p;
    }
  }
  context(device);  // makes the device current
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {
    // Out of memory: give the cache back to the driver and try once more.
    (void)cudaGetLastError();
    std::size_t given_back = 0;
    {
      std::lock_guard lock(pool.mutex);
      given_back = pool.idle_bytes;
      release(device, pool);
    }
    e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      std::size_t free = 0, total = 0;
      if (cudaMemGetInfo(&free, &total) != cudaSuccess) (void)cudaGetLastError();
      // make_tensor adds the op and the shape; a kernel's scratch memory reaches the user as is.
      throw OutOfMemoryError("cuda:" + std::to_string(device) + " is out of memory: " + mib(size) +
                             " requested, " + mib(free) + " free of " + mib(total) + " after tapeflow gave back " +
                             mib(given_back) + " of cached blocks");
    }
  }
  check(e, "cudaMalloc");
  return p;
}

void device_free(int device, void* ptr, std::size_t nbytes) {
  Pool& pool = pools()[static_cast<std::size_t>(device)];
  std::lock_guard lock(pool.mutex);
  const std::size_t size = rounded(nbytes);
  pool.idle[size].push_back(ptr);
  pool.idle_bytes += size;
}

void empty_cache() {
  auto& all = pools();
  for (std::size_t d = 0; d < all.size(); ++d) {
    std::lock_guard lock(all[d].mutex);
    if (all[d].idle_bytes == 0) continue;
    release(static_cast<int>(d), all[d]);
  }
}

std::size_t cached_bytes() {
  std::size_t total = 0;
  for (Pool& p : pools()) {
    std::lock_guard lock(p.mutex);
    total += p.idle_bytes;
  }
  return total;
}

}  // namespace tapeflow::cuda
