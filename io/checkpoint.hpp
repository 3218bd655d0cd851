// SPDX-License-Identifier: MIT
// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), so files
// move between tapeflow and Python: an 8-byte little-endian header length N, N bytes of JSON
// naming each tensor's dtype, shape and byte range, then the raw little-endian data.
#pragma once
#include <map>
#include <string>

#include "../tensor/state_dict.hpp"

namespace tapeflow::nn {
class Module;
}
namespace tapeflow::optim {
class Optimizer;
}

namespace tapeflow::io {

/// Free-form string pairs stored in a checkpoint's header (safetensors' "__metadata__").
using Metadata = std::map<std::string, std::string>;

/// The metadata key save(optimizer) sets to the optimizer's name ("Adam"), which
/// load(optimizer) checks; it overrides a user entry of the same name.
inline constexpr const char* kOptimizerMetadataKey = "tapeflow.optimizer";

/// Writes `tensors` as a safetensors file, atomically: a failure part way leaves the previous
/// file at `path` intact. Tensors on any device, of any layout, are written contiguous and
/// little-endian, in name order (F32, F64, I64 or BOOL). Throws ValueError for an undefined
/// tensor, the reserved name "__metadata__" or a name or metadata string that is not UTF-8,
/// and IOError naming the file when it cannot be written.
void save(const StateDict& tensors, const std::string& path, const Metadata& metadata = {});
/// Writes module.state_dict(): every parameter and buffer by dotted name ("0.weight").
void save(const nn::Module& module, const std::string& path, const Metadata& metadata = {});
/// Writes optimizer.state_dict() (learning rates, parameter numbers, per-parameter state), with
/// the optimizer's name under kOptimizerMetadataKey.
void save(const optim::Optimizer& optimizer, const std::string& path, const Metadata& metadata = {});

/// Reads every tensor of a safetensors file as contiguous CPU tensors. F32, F64, I64 and BOOL
/// keep their dtype; the other integer dtypes (I8, I16, I32, U8, U16, U32, and U64 whose values
/// fit) become Int64; half-precision and 8-bit float dtypes are refused. Throws IOError naming
/// the file and the problem: a file too short or cut, a header that is not a JSON object of
/// well-formed entries, unknown dtypes, sizes that overflow, byte ranges that do not match
/// their tensor, leave the buffer, overlap or leave holes, trailing bytes, duplicate names.
StateDict load(const std::string& path);
/// The header's "__metadata__" (empty when there is none); the header is checked as by load(),
/// the tensor data is not read.
Metadata load_metadata(const std::string& path);

/// Loads a checkpoint into `module`'s parameters and buffers, in place. Names, shapes and
/// dtypes must match (with `strict`, the file and the module must hold the same names);
/// otherwise throws IOError naming the file and the mismatch, and the module is unchanged.
void load(nn::Module& module, const std::string& path, bool strict = true);
/// Restores an optimizer saved by save(optimizer) into one of the same kind over parameters of
/// the same shapes, dtypes and grouping; training then continues bit-identically. Throws
/// IOError naming the file and the mismatch, and the optimizer is unchanged.
void load(optim::Optimizer& optimizer, const std::string& path);

}  // namespace tapeflow::io
