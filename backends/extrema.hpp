// SPDX-License-Identifier: MIT
// maximum and minimum of two elements, one definition for every kernel that takes them (the
// elementwise ops and AMSGrad's running maximum, on both backends). Plain constexpr: nvcc's
// --expt-relaxed-constexpr lets device code call it.
#pragma once

namespace tapeflow::detail {

/// A NaN on either side is the result (x's when both are), as in PyTorch and NumPy;
/// `x < y ? y : x` alone would answer maximum(1, NaN) = 1 but maximum(NaN, 1) = NaN.
template <typename T>
constexpr T nan_maximum(T x, T y) {
  return x < y || (y != y && x == x) ? y : x;
}

/// minimum with maximum's NaN rule.
template <typename T>
constexpr T nan_minimum(T x, T y) {
  return y < x || (y != y && x == x) ? y : x;
}

}  // namespace tapeflow::detail
