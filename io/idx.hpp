// SPDX-License-Identifier: MIT
// IDX files, the format of MNIST and Fashion-MNIST: the magic bytes 0x00 0x00 <type code>
// <number of dimensions>, one big-endian uint32 per dimension, then the values, big-endian and
// row-major. Files may be gzipped (recognised by their first bytes, whatever their name).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "../tensor/shape.hpp"
#include "../tensor/tensor.hpp"

namespace tapeflow::io {

/// IDX element types, by their type code (the file's third byte).
enum class IdxType : uint8_t { UByte = 0x08, SByte = 0x09, Short = 0x0B, Int = 0x0C, Float = 0x0D, Double = 0x0E };

/// "ubyte", "sbyte", "short", "int", "float" or "double".
const char* idx_type_name(IdxType type);

/// What an IDX header says: the element type and the sizes.
struct IdxHeader {
  IdxType type = IdxType::UByte;
  Shape shape;
};

/// How read_idx converts the values.
struct IdxOptions {
  /// Result dtype. Empty: Int64 for the integer types, Float32 for float, Float64 for double
  /// (and Float32 for the integer types when `scale` is not 1). Int64 needs an integer type.
  std::optional<DType> dtype = std::nullopt;
  /// Every value is multiplied by this (floating results only): 1.0 / 255 maps pixels to [0, 1].
  double scale = 1.0;
  /// When set, a file holding another element type is refused with an IOError.
  std::optional<IdxType> expected_type = std::nullopt;
};

/// Reads only the header of an IDX file (gzipped or not). Throws IOError naming the file.
IdxHeader read_idx_header(const std::string& path);

/// Reads an IDX file (gzipped or not) into a contiguous CPU tensor of the header's shape.
/// Throws IOError naming the file and the problem (missing file, truncated header, bad magic,
/// unknown type code, sizes that overflow, truncated data, trailing bytes, corrupt gzip stream),
/// DTypeError for a dtype the file's values cannot take, ValueError for a bad scale.
Tensor read_idx(const std::string& path, const IdxOptions& options = {});

/// Images of unsigned-byte pixels as Float32 in [0, 1]: read_idx with dtype Float32, scale
/// 1/255 and expected type ubyte.
Tensor read_idx_images(const std::string& path);

}  // namespace tapeflow::io
