// SPDX-License-Identifier: MIT
// Size2 as text, for conv2d's and pooling's error messages ("[2,3]") and printing ("(2, 3)").
#pragma once
#include <string>

#include "../conv.hpp"

namespace tapeflow::nn::detail {

// Appended piece by piece: `"(" + std::to_string(..) + ...` trips GCC 12's bogus -Wrestrict.
inline std::string joined(const char* open, const Size2& s, const char* sep, const char* close) {
  std::string r = open;
  r += std::to_string(s.h);
  r += sep;
  r += std::to_string(s.w);
  r += close;
  return r;
}
/// "[h,w]", the format of shapes in error messages.
inline std::string size2_str(const Size2& s) { return joined("[", s, ",", "]"); }
/// "(h, w)", PyTorch's format in a module's printed form.
inline std::string pair_str(const Size2& s) { return joined("(", s, ", ", ")"); }

}  // namespace tapeflow::nn::detail
