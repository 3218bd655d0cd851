// SPDX-License-Identifier: MIT
// Host memory for CPU tensors. Large buffers are cached by size: a training step frees and
// then asks again for the same sizes every iteration, and memory fresh from the kernel costs a
// page fault per 4 KiB on first touch, which was a tenth of a CNN training step. Small buffers
// go straight to malloc, whose own bins already reuse them.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "cpu_backend.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define TAPEFLOW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAPEFLOW_ASAN 1
#endif
#endif

namespace tapeflow::cpu {

namespace {

constexpr std::size_t kSmall = 256;           // up to here: malloc's 16-byte alignment
constexpr std::size_t kCachedFrom = 64 << 10;  // from here: cached when freed
constexpr std::size_t kPage = 4096;
constexpr std::size_t kCacheLimit = std::size_t{256} << 20;  // idle bytes kept at most

// NOTE: under AddressSanitizer nothing is cached: a reused block would hide a use after free.
#ifdef TAPEFLOW_ASAN
constexpr bool kCaching = false;
#else
constexpr bool kCaching = true;
#endif

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;  // by rounded size
  std::size_t idle_bytes = 0;

  void* take(std::size_t size) {
    std::lock_guard lock(mutex);
    auto it = free_blocks.find(size);
    if (it == free_blocks.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    idle_bytes -= size;
    return p;
  }
  bool keep(void* p, std::size_t size) {
    std::lock_guard lock(mutex);
    if (idle_bytes + size > kCacheLimit) return false;
    free_blocks[size].push_back(p);
    idle_bytes += size;
    return true;
  }
  void release() {
    std::lock_guard lock(mutex);
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) std::free(p);
    free_blocks.clear();
    idle_bytes = 0;
  }
};

// Never destroyed: tensors in static storage may be freed after any other static object.
BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

std::size_t rounded(std::size_t nbytes) {
  if (nbytes >= kCachedFrom) return (nbytes + kPage - 1) / kPage * kPage;
  return (nbytes + 63) / 64 * 64;  // whole cache lines
}

}  // namespace

void* CpuBackend::allocate(std::size_t nbytes) {
  // Small buffers take malloc's 16-byte alignment: glibc's memalign path costs more than a
  // whole tiny op. Large ones get 64 bytes, for aligned vector loads and whole cache lines.
  if (nbytes <= kSmall) {
    void* p = std::malloc(std::max<std::size_t>(nbytes, 1));
    if (!p) throw std::bad_alloc();
    return p;
  }
  const std::size_t size = rounded(nbytes);
  if (kCaching && size >= kCachedFrom)
    if (void* p = cache().take(size)) return p;
  void* p = std::aligned_alloc(64, size);
  if (!p && kCaching) {  // idle blocks of other sizes may be what stands in the way
    release_cached_memory();
    p = std::aligned_alloc(64, size);
  }
  if (!p) throw std::bad_alloc();
  return p;
}

void CpuBackend::deallocate(void* ptr, std::size_t nbytes) {
  if (kCaching && nbytes > kSmall) {
    const std::size_t size = rounded(nbytes);
    if (size >= kCachedFrom && cache().keep(ptr, size)) return;
  }
  std::free(ptr);
}

void release_cached_memory() {
  if (kCaching) cache().release();
}

std::size_t cached_memory_bytes() {
  if (!kCaching) return 0;
  std::lock_guard lock(cache().mutex);
  return cache().idle_bytes;
}

}  // namespace tapeflow::cpu
