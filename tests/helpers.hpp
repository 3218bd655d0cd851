// SPDX-License-Identifier: MIT
// Small helpers shared by the test files: float64 tensors and leaves, element-by-element
// comparison that reports the first mismatching elements, and the CUDA skip.
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace tapeflow::test {

/// Whether this test binary runs under AddressSanitizer: its quarantine keeps freed memory
/// resident on purpose, so tests that measure the process's memory cannot mean anything there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

inline Tensor f64(std::vector<double> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Float64}); }

/// A float64 leaf that requires grad.
inline Tensor leaf(std::vector<double> v, Shape shape = {}) {
  Tensor t = f64(std::move(v), std::move(shape));
  t.requires_grad_();
  return t;
}

inline std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

/// A tensor's values as raw bytes, row-major: equal bytes mean bit-identical values.
inline std::vector<unsigned char> bytes_of(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  std::vector<unsigned char> out(static_cast<std::size_t>(c.numel()) * element_size(c.dtype()));
  c.copy_to_host(out.data(), c.dtype());
  return out;
}

inline GradOptions with_create_graph() {
  GradOptions o;
  o.create_graph = true;
  return o;
}

/// Exact comparison with tol == 0, else |got - expected| <= tol * (1 + |expected|) per element.
inline void require_values(const Tensor& t, const std::vector<double>& expected, double tol = 0.0) {
  std::vector<double> got = t.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", expected " << expected[i] << " (difference "
                            << got[i] - expected[i] << ")");
    if (tol == 0.0) CHECK(got[i] == expected[i]);
    else CHECK(std::abs(got[i] - expected[i]) <= tol * (1.0 + std::abs(expected[i])));
  }
}

// --- CUDA ---------------------------------------------------------------------------------

/// Why CUDA tests cannot run in this process ("" when a GPU is available): the DeviceError a
/// user asking for a CUDA tensor gets, which says whether the build lacks CUDA or the machine
/// a GPU.
inline std::string cuda_unavailable_reason() {
  if (cuda_is_available()) return "";
  try {
    (void)tensor({0.0f}).to(Device::cuda(0));
  } catch (const DeviceError& e) {
    return e.what();
  }
  return "cuda_is_available() is false, yet a CUDA tensor could be made";
}

/// Catch2 v2 has no SKIP. Without a GPU this says that `what` was skipped and why, twice: as a
/// WARN (the console reporter prints warnings of passing tests) and on stderr (written past
/// Catch2's redirection of std::cerr, so `meson test`, which runs the JUnit reporter, keeps it
/// in its log). Then it checks that the device count agrees, so a skipped test still asserts
/// something, and returns true: the caller returns.
///   if (skip_without_cuda("the gradient table on CUDA")) return;
inline bool skip_without_cuda(const std::string& what) {
  if (cuda_is_available()) return false;
  const std::string line = "SKIPPED on CUDA: " + what + ": " + cuda_unavailable_reason();
  WARN(line);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  CHECK(cuda_device_count() == 0);
  return true;
}

/// The device a CPU-vs-device comparison runs against: the first GPU, or, without one, the
/// CPU itself (the comparison's machinery still runs, through the same code, and can fail),
/// saying so as skip_without_cuda does.
inline Device parity_device(const std::string& what) {
  if (cuda_is_available()) return Device::cuda(0);
  const std::string line = "SKIPPED on CUDA: " + what + ": " + cuda_unavailable_reason() +
                           " (compared the CPU against itself through the same code instead)";
  WARN(line);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  return Device::cpu();
}

// --- comparison across devices ----------------------------------------------------------------

/// An element passes when |actual - expected| <= atol + rtol * |expected|.
struct Tolerance {
  double rtol = 0.0;
  double atol = 0.0;
};

/// What two devices may differ by, per dtype: float32 1e-5 (relative and absolute: a different
/// summation order or libm), float64 1e-12, Int64 and Bool exactly.
inline Tolerance device_tolerance(DType dtype, double scale = 1.0) {
  switch (dtype) {
    case DType::Float32: return {1e-5 * scale, 1e-5 * scale};
    case DType::Float64: return {1e-12 * scale, 1e-12 * scale};
    case DType::Int64:
    case DType::Bool: return {0.0, 0.0};
  }
  return {};
}

/// "" when `actual` (on any device) has `expected`'s shape and dtype and every element passes
/// `tol`; NaN must meet NaN and an infinity the same infinity. Otherwise a report: what differs,
/// how many elements, and the first few with both values in full precision. Written here, not
/// with tapeflow's allclose, so the tests of a backend do not lean on the library's own code.
inline std::string mismatch(const Tensor& actual, const Tensor& expected, Tolerance tol, int max_reported = 6) {
  std::ostringstream out;
  out.precision(17);
  if (!actual.defined() || !expected.defined()) {
    if (actual.defined() != expected.defined())
      out << (actual.defined() ? "expected an undefined tensor" : "got an undefined tensor");
    return out.str();
  }
  if (actual.shape() != expected.shape()) {
    out << "shape " << shape_str(actual.shape()) << " != expected " << shape_str(expected.shape());
    return out.str();
  }
  if (actual.dtype() != expected.dtype()) {
    out << "dtype " << dtype_name(actual.dtype()) << " != expected " << dtype_name(expected.dtype());
    return out.str();
  }
  int64_t bad = 0;
  auto report = [&](std::size_t i, auto a, auto e) {
    if (bad++ < max_reported) out << "  element " << i << ": got " << a << ", expected " << e << "\n";
  };
  if (!is_floating(expected.dtype())) {
    const std::vector<int64_t> a = actual.to_vector<int64_t>(), e = expected.to_vector<int64_t>();
    for (std::size_t i = 0; i < e.size(); ++i)
      if (a[i] != e[i]) report(i, a[i], e[i]);
  } else {
    const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
    for (std::size_t i = 0; i < e.size(); ++i) {
      bool ok;
      if (std::isnan(e[i]) || std::isnan(a[i])) ok = std::isnan(e[i]) && std::isnan(a[i]);
      else if (std::isinf(e[i]) || std::isinf(a[i])) ok = a[i] == e[i];
      else ok = std::abs(a[i] - e[i]) <= tol.atol + tol.rtol * std::abs(e[i]);
      if (!ok) report(i, a[i], e[i]);
    }
  }
  if (!bad) return "";
  std::ostringstream head;
  head << bad << " of " << expected.numel() << " elements differ (" << dtype_name(expected.dtype()) << ", shape "
       << shape_str(expected.shape()) << ", rtol " << tol.rtol << ", atol " << tol.atol << "):\n";
  return head.str() + out.str();
}

}  // namespace tapeflow::test
