// SPDX-License-Identifier: MIT
// CRC-32C (Castagnoli), the checksum of TFRecord framing in TensorBoard event files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tapeflow::io::detail {

/// CRC-32C of `n` bytes (reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF):
/// crc32c("123456789") == 0xE3069283. `crc` continues a checksum over earlier bytes.
uint32_t crc32c(const void* data, std::size_t n, uint32_t crc = 0);
inline uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8. A CRC computed over data that
/// itself holds CRCs is weak, so TFRecord stores this rotated and offset value instead.
inline uint32_t mask_crc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

}  // namespace tapeflow::io::detail
