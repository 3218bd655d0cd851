// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>

namespace tapeflow {

enum class DeviceType : uint8_t { CPU, CUDA };

/// Where a tensor's storage lives. Device::cpu() is the default everywhere.
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  /// "cpu" or "cuda:0".
  std::string str() const;
};

/// Prints str(): "cpu" or "cuda:0".
std::ostream& operator<<(std::ostream& os, const Device& device);

/// True when this build has the CUDA backend and a GPU is visible.
bool cuda_is_available();
/// Number of visible GPUs (0 in a build without CUDA).
int cuda_device_count();
/// Waits until every queued GPU kernel and copy has finished (CUDA ops return before their
/// kernels do; only copies to the host wait). For timing; a no-op without CUDA.
void cuda_synchronize();
/// Returns the GPU memory the caching allocator keeps for reuse to the driver (PyTorch's
/// torch.cuda.empty_cache()); the allocator also does so itself before reporting out of memory.
void cuda_empty_cache();

}  // namespace tapeflow
