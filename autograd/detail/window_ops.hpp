// SPDX-License-Identifier: MIT
// Differentiable sliding-window primitives behind nn::functional::conv2d and max_pool2d. Private:
// nn/ validates the user's arguments (naming conv2d or max_pool2d) and builds the Window2d.
#pragma once
#include "../../backends/backend.hpp"
#include "../../tensor/tensor.hpp"

namespace tapeflow::detail {

/// x [N, C, H, W] -> columns [C·kh·kw (+1 with ones_row), N·OH·OW]: row (c, i, j) holds tap
/// (i, j) of channel c for every window (n, oh, ow), 0 for padding taps; a last row of ones
/// (ones_row) folds a bias into the GEMM. Differentiable to any order: its adjoint is col2im.
Tensor im2col(const Tensor& x, const Window2d& w, bool ones_row);
/// im2col's adjoint: columns [C·kh·kw (+1), N·OH·OW] summed back into x_shape [N, C, H, W]
/// (an extra last row is ignored). Differentiable to any order: its adjoint is im2col.
Tensor col2im(const Tensor& cols, const Shape& x_shape, const Window2d& w);
/// Max pooling of x [N, C, H, W] -> [N, C, OH, OW]; padding taps never win, a NaN always does
/// (PyTorch's rule: a NaN is never hidden); the gradient goes to
/// each window's first maximum. Differentiable to any order.
Tensor max_pool2d(const Tensor& x, const Window2d& w);

}  // namespace tapeflow::detail
