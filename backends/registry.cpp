// SPDX-License-Identifier: MIT
// Explicit registration: static self-registration objects get dropped by linkers from static
// libraries, and a switch makes a missing backend a compile-time question.
#include "../tensor/detail/check.hpp"
#include "backend.hpp"
#include "cpu/cpu_backend.hpp"
#ifdef TAPEFLOW_WITH_CUDA
#include "cuda/cuda_backend.hpp"
#endif

namespace tapeflow {

namespace detail {

const char* unary_name(UnaryKind k) {
  switch (k) {
#define UNARY(name, str, domain) \
  case UnaryKind::name: return str;
#include "../tensor/detail/ops.def"
  }
  return "?";
}

const char* binary_name(BinaryKind k) {
  switch (k) {
#define BINARY(name, str, domain) \
  case BinaryKind::name: return str;
#define COMPARE(name, str) \
  case BinaryKind::name: return str;
#include "../tensor/detail/ops.def"
  }
  return "?";
}

bool is_comparison(BinaryKind k) {
  switch (k) {
#define BINARY(name, str, domain) \
  case BinaryKind::name: return false;
#define COMPARE(name, str) \
  case BinaryKind::name: return true;
#include "../tensor/detail/ops.def"
  }
  return false;
}

Backend& backend_for(Device device) {
  switch (device.type) {
    case DeviceType::CPU: return cpu::cpu_backend();
    case DeviceType::CUDA:
#ifdef TAPEFLOW_WITH_CUDA
      return cuda::cuda_backend(device.index);
#else
      throw DeviceError("tapeflow was built without CUDA: no backend for " + device.str() +
                        " (rebuild with nvcc available and -Dcuda=enabled)");
#endif
  }
  throw InternalError("backend_for: unknown device type");
}

}  // namespace detail

#ifdef TAPEFLOW_WITH_CUDA
bool cuda_is_available() { return cuda::device_count() > 0; }
int cuda_device_count() { return cuda::device_count(); }
void cuda_synchronize() {
  if (cuda::device_count() > 0) cuda::synchronize();
}
void cuda_empty_cache() {
  if (cuda::device_count() > 0) cuda::empty_cache();
}
#else
bool cuda_is_available() { return false; }
int cuda_device_count() { return 0; }
void cuda_synchronize() {}
void cuda_empty_cache() {}
#endif

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
std::ostream& operator<<(std::ostream& os, const Device& device) { return os << device.str(); }

}  // namespace tapeflow
