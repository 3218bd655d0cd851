// SPDX-License-Identifier: MIT
// Explicit registration: static self-registration objects get dropped by linkers from static
// libraries, and a switch makes a missing backend a compile-time question.
#include "../tensor/detail/check.hpp"
#include "backend.hpp"
#include "cpu/cpu_backend.hpp"

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
      throw DeviceError("tapeflow was built without CUDA: no backend for " + device.str() +
                        " (rebuild with nvcc available and -Dcuda=enabled)");
  }
  throw InternalError("backend_for: unknown device type");
}

}  // namespace detail

bool cuda_is_available() { return false; }
int cuda_device_count() { return 0; }

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
std::ostream& operator<<(std::ostream& os, const Device& device) { return os << device.str(); }

}  // namespace tapeflow
