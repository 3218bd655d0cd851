// SPDX-License-Identifier: MIT
// Opt-in interop with xtensor: `#include <tapeflow/xtensor.hpp>`. It pulls in xtensor (about
// 2 s of parsing), which is why tapeflow.hpp never includes it. Not for clang-repl-19 sessions:
// Debian's xtensor 0.24 does not parse under clang 19 (see samples/repl/README.md).
//
//   Tensor t = randn({2, 3});
//   auto x = tapeflow::as_xtensor<float>(t);        // no copy: x(1, 2) reads t's memory
//   x(0, 0) = 1.f;                                  // and writes it
//   Tensor u = tapeflow::from_xtensor(xt::sin(x));  // any expression, evaluated and copied
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xexpression.hpp>

#include "tensor/tensor.hpp"

namespace tapeflow {

namespace detail {
// Whether the elements fill exactly numel consecutive slots: visited from the smallest stride
// up, each dimension's stride must be the product of the sizes before it.
inline bool is_dense(const tapeflow::Shape& shape, const tapeflow::Shape& strides) {
  std::vector<std::size_t> order;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return true;  // nothing to address
    if (shape[d] != 1) order.push_back(d);
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return strides[a] < strides[b]; });
  int64_t expected = 1;
  for (std::size_t d : order) {
    if (strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

// The tapeflow element type an xtensor value type is stored as: narrower integers widen to
// Int64, float stays Float32, any other floating type becomes Float64.
template <typename V>
using stored_as_t = std::conditional_t<
    std::is_same_v<V, bool>, bool,
    std::conditional_t<std::is_same_v<V, float>, float,
                       std::conditional_t<std::is_floating_point_v<V>, double, int64_t>>>;
}  // namespace detail

/// A zero-copy xtensor view of a CPU tensor's elements, with the tensor's shape (dynamic rank).
/// The tensor must be dense: contiguous, or a permutation of a contiguous tensor such as a
/// transpose (xtensor's adaptors need exactly numel elements behind them, so slices with gaps
/// and expands are refused: call .contiguous() first). T is the tensor's element type (float,
/// double, int64_t or bool; `const T` for a read-only view); another type throws DTypeError,
/// a tensor off the CPU DeviceError. The view holds a handle to the tensor, so it stays valid
/// on its own. Writes through it bypass the tape's version counter: do not write to a tensor
/// the tape has saved.
template <typename T>
auto as_xtensor(const Tensor& t) {
  using Shape = std::vector<std::size_t>;
  // A shared_ptr in the allocator's place makes xtensor hold it as the owner of the memory.
  using Owner = std::shared_ptr<detail::TensorImpl>;
  using Buffer = xt::xbuffer_adaptor<T*, xt::smart_ownership, Owner>;
  using View = xt::xarray_adaptor<Buffer, xt::layout_type::dynamic, Shape>;
  T* data = t.data_ptr<T>();
  const std::size_t rank = static_cast<std::size_t>(t.dim());
  Shape shape(rank);
  typename View::strides_type strides(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    shape[d] = static_cast<std::size_t>(t.shape()[d]);
    strides[d] = static_cast<typename View::strides_type::value_type>(t.strides()[d]);
  }
  if (!detail::is_dense(t.shape(), t.strides()))
    throw ValueError("as_xtensor: needs a contiguous tensor or a permutation of one, got shape " +
                     shape_str(t.shape()) + " with strides " + shape_str(t.strides()) +
                     "; call .contiguous() first");
  return View(Buffer(std::move(data), static_cast<std::size_t>(t.numel()), Owner(t.impl_ptr())), shape, strides);
}

/// A new CPU tensor holding the values of any xtensor expression, evaluated row-major and
/// copied. The dtype follows the expression's value type (bool → Bool, float → Float32, other
/// floating types → Float64, integers → Int64) unless options.dtype says otherwise.
template <class E>
Tensor from_xtensor(const xt::xexpression<E>& expression, const Options& options = {}) {
  using Value = std::decay_t<typename E::value_type>;
  static_assert(std::is_arithmetic_v<Value>, "from_xtensor: the expression must hold numbers or bools");
  using Stored = detail::stored_as_t<Value>;
  const xt::xarray<Stored, xt::layout_type::row_major> values = xt::cast<Stored>(expression.derived_cast());
  const Shape shape(values.shape().begin(), values.shape().end());
  return from_blob(values.data(), shape, dtype_of<Stored>(), options);
}

}  // namespace tapeflow
