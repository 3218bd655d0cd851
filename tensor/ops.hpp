// SPDX-License-Identifier: MIT
// Every differentiable op of tapeflow. Binary ops broadcast like NumPy (by strides, without
// copies) and promote dtypes (Bool < Int64 < Float32 < Float64); a C++ scalar on either side
// takes the tensor's dtype. Errors name the op, its name scope, and the shapes or dtypes.
#pragma once
#include <optional>
#include <vector>

#include "tensor.hpp"

namespace tapeflow {

// --- elementwise -------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
/// True division: integer inputs give Float32.
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
/// a^b elementwise (floating dtypes); the gradient for b needs a > 0.
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
/// Gradient sign(x) (0 at 0).
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
/// Gradient 1 where x > 0, else 0.
Tensor relu(const Tensor& x);
/// The Gauss error function (exact GELU is built on it).
Tensor erf(const Tensor& x);
/// Elementwise larger value; where equal, each side gets half the gradient. A NaN on either side
/// is the result (PyTorch's rule), so clamp passes NaN through too.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// Limits x to [min, max]; either bound may be omitted.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
/// cond ? a : b elementwise; cond is Bool; all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// -1, 0 or 1 (not differentiable).
Tensor sign(const Tensor& x);

// --- comparisons: Bool results, not differentiable ----------------------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// --- reductions: axes may be negative; empty axes reduce everything ------------------------
/// Bool and Int64 sum to Int64.
Tensor sum(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
/// Floating dtypes only.
Tensor mean(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
/// Values only (use argmax for positions); ties share the gradient equally.
Tensor max(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
/// Int64 position of the first largest value along `axis` (all elements, flattened, if omitted).
Tensor argmax(const Tensor& x, std::optional<int64_t> axis = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> axis = std::nullopt, bool keepdim = false);
/// log(sum(exp(x))) over the axes, computed stably.
Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdim = false);

// --- linear algebra ---------------------------------------------------------------------
/// NumPy matmul: 1-d operands are promoted and the added dim removed; leading (batch) dims
/// broadcast. Floating dtypes; throws ShapeError when inner dimensions differ.
Tensor matmul(const Tensor& a, const Tensor& b);

// --- neural-network functions -----------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
/// Mean over the batch of -log softmax(logits)[i, targets[i]]; logits [N, C], targets Int64 [N]
/// in [0, C). One fused op, stable for large logits.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
/// Mean of (input - target)^2 over all elements (target broadcasts to input).
Tensor mse_loss(const Tensor& input, const Tensor& target);
/// Int64 tensor of shape indices.shape + [num_classes] with a 1 at each index.
Tensor one_hot(const Tensor& indices, int64_t num_classes);

// --- shape ops: views share storage and never copy ----------------------------------------
/// One size may be -1. A view when the strides allow it, else a copy.
Tensor reshape(const Tensor& x, const Shape& shape);
/// Like reshape but never copies: throws ShapeError when the strides do not allow a view.
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const Shape& dims);
/// Removes all size-1 dims, or just `dim` (which must have size 1).
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
/// Broadcast view (stride 0 along expanded dims); -1 keeps a size.
Tensor expand(const Tensor& x, const Shape& shape);
/// Elements start, start+step, ... below end along dim (Python slice rules, step > 0).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
/// Gathers entries of a 1-d Int64 `index` along `dim` (a copy).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// Joins tensors along an existing dim; all other sizes must agree.
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Joins tensors along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Deep copy (differentiable).
Tensor clone(const Tensor& x);

// --- operators --------------------------------------------------------------------------
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, double b);
Tensor operator!=(const Tensor& a, double b);
Tensor operator<(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, double b);

}  // namespace tapeflow
