// SPDX-License-Identifier: MIT
// NumPy's .npy files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// the magic bytes "\x93NUMPY", a version, a header that is a Python dict literal giving
// 'descr' (the dtype), 'fortran_order' and 'shape', then the raw values.
#pragma once
#include <string>

#include "../tensor/tensor.hpp"

namespace tapeflow::io {

/// Writes `t` as a .npy file (version 1.0, C order; '<f4', '<f8', '<i8' or '|b1'), atomically:
/// a failure part way leaves the previous file intact. Tensors on any device and of any layout
/// are accepted. Throws IOError naming the file when it cannot be written.
void save_npy(const Tensor& t, const std::string& path);

/// Reads a .npy file (versions 1.0, 2.0 and 3.0) into a contiguous CPU tensor: float32 and
/// float64 keep their dtype, bool is Bool, and every integer type (int8 to int64, uint8 to
/// uint32, and uint64 whose values fit) becomes Int64. Both byte orders and both C and Fortran
/// order load, the values in row-major order. Throws IOError naming the file and the problem:
/// bad magic or version, a header that is not a dict of exactly descr/fortran_order/shape,
/// an unsupported dtype (float16, complex, strings, objects, structured), sizes that overflow,
/// data shorter or longer than the header says.
Tensor load_npy(const std::string& path);

}  // namespace tapeflow::io
