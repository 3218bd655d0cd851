// SPDX-License-Identifier: MIT
// Small helpers shared by the test files: float64 tensors and leaves, and element-by-element
// comparison that reports the first mismatching elements.
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <cmath>
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

}  // namespace tapeflow::test
