// SPDX-License-Identifier: MIT
// The extent of a dilated kernel window and of a padded input, for conv2d's and pooling's
// geometry. Kernel, dilation and padding are user numbers: each product and sum is checked, so a
// huge one is refused (ShapeError naming the op) instead of wrapping into a garbage output size
// or an undersized index buffer.
#pragma once
#include <cstdint>
#include <string>

#include "../../tensor/error.hpp"
#include "../conv.hpp"
#include "size2_format.hpp"

namespace tapeflow::nn::detail {

struct WindowSpan {
  Size2 span;    ///< dilation·(kernel − 1) + 1 per axis
  Size2 padded;  ///< in + 2·padding per axis
};

/// Expects kernel, dilation >= 1 and padding >= 0 (checked by the caller, with its own words).
inline WindowSpan window_span(const std::string& op, int64_t in_h, int64_t in_w, Size2 kernel, Size2 padding,
                              Size2 dilation) {
  auto overflow = [&](const std::string& what) {
    throw ShapeError(op + ": " + what + " is too large: the window geometry overflows 64 bits");
  };
  WindowSpan r{0, 0};
  if (__builtin_mul_overflow(dilation.h, kernel.h - 1, &r.span.h) || __builtin_add_overflow(r.span.h, 1, &r.span.h) ||
      __builtin_mul_overflow(dilation.w, kernel.w - 1, &r.span.w) || __builtin_add_overflow(r.span.w, 1, &r.span.w))
    overflow("kernel " + size2_str(kernel) + " with dilation " + size2_str(dilation));
  if (__builtin_mul_overflow(padding.h, 2, &r.padded.h) || __builtin_add_overflow(r.padded.h, in_h, &r.padded.h) ||
      __builtin_mul_overflow(padding.w, 2, &r.padded.w) || __builtin_add_overflow(r.padded.w, in_w, &r.padded.w))
    overflow("padding " + size2_str(padding));
  return r;
}

}  // namespace tapeflow::nn::detail
