// SPDX-License-Identifier: MIT
// Closeness of two tensors for tests: a yes/no answer (allclose) and a readable report of what
// differs (describe_mismatch), which testing::assert_close and the IsCloseTo matcher throw or print.
#pragma once
#include <optional>
#include <string>

#include "tensor.hpp"

namespace tapeflow {

/// How describe_mismatch compares. An element passes when |actual - expected| <= atol +
/// rtol * |expected|; unset tolerances take torch.testing.assert_close's defaults for the
/// dtype (float32: rtol 1.3e-6, atol 1e-5; float64: rtol 1e-7, atol 1e-7; int64 and bool:
/// exact), the looser of the two when the dtypes differ.
struct CloseOptions {
  std::optional<double> rtol = std::nullopt;
  std::optional<double> atol = std::nullopt;
  bool equal_nan = false;     ///< NaN against NaN passes only when set
  bool check_dtype = true;    ///< different dtypes are a mismatch; when false, values are compared
  bool check_device = true;   ///< different devices are a mismatch; when false, both are compared on the CPU
  int max_reported = 5;       ///< mismatching elements listed one by one in the report
};

/// torch.allclose: true when both have the same shape (no broadcasting) and every element has
/// |actual - expected| <= atol + rtol * |expected|. NaN equals NaN only with `equal_nan`; an
/// infinity equals the same infinity. Dtypes may differ (values are compared, integers
/// exactly when both tolerances are 0); tensors off the CPU are copied to it first.
bool allclose(const Tensor& actual, const Tensor& expected, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false);

/// Empty when `actual` is close to `expected` under `options`; otherwise a multi-line report:
/// a shape, dtype or device mismatch stated plainly, or how many elements differ, the greatest
/// absolute and relative differences with their indices, and the first mismatching elements
/// with both values in full precision. Views and non-contiguous tensors compare by logical index.
std::string describe_mismatch(const Tensor& actual, const Tensor& expected, const CloseOptions& options = {});

}  // namespace tapeflow
