// SPDX-License-Identifier: MIT
// Decoding UTF-8 one code point at a time, for writers whose readers reject invalid text
// (Graphviz, XML): they replace what does not decode rather than emit a broken file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tapeflow::io::detail {

/// The length in bytes of the valid UTF-8 sequence at s[i], with its code point in `cp`; 0 when
/// the bytes there are not one (truncated, overlong, a surrogate or past U+10FFFF).
inline std::size_t utf8_decode(std::string_view s, std::size_t i, uint32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (len > 1 && (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  return len;
}

}  // namespace tapeflow::io::detail
