// SPDX-License-Identifier: MIT
#include <algorithm>

#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/node.hpp"

namespace tapeflow {

using namespace detail;

namespace {

struct MatMul {  // C = A·B;  dA = G·Bᵀ, dB = Aᵀ·G (summed over broadcast batch dims)
  static constexpr const char* name = "matmul";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) {
    c.save(a);
    c.save(b);
    return kernel::matmul(a, b);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor a = c.saved(0), b = c.saved(1);
    Grads r;
    // An operand that is the transpose of a contiguous matrix (Linear's weight.t()) gets its
    // gradient in that layout too: computed as the transpose of a contiguous product, it reaches
    // the weight contiguous through transpose's backward, instead of as a strided view that
    // accumulating into .grad() would copy element by element (15% of an MLP step).
    Tensor ga, gb;
    if (c.needs_grad(0))
      ga = column_major(a) ? matmul(b, g.transpose(-1, -2)).transpose(-1, -2) : matmul(g, b.transpose(-1, -2));
    if (c.needs_grad(1))
      gb = column_major(b) ? matmul(g.transpose(-1, -2), a).transpose(-1, -2) : matmul(a.transpose(-1, -2), g);
    r.push_back(ga.defined() ? sum_to(ga, a.shape()) : Tensor());
    r.push_back(gb.defined() ? sum_to(gb, b.shape()) : Tensor());
    return r;
  }

  /// Whether t's last two dims are stored column by column, as a transposed contiguous matrix is.
  static bool column_major(const Tensor& t) {
    const int64_t r = t.dim();
    if (r < 2 || t.size(-1) < 2 || t.size(-2) < 2) return false;
    return t.strides()[r - 2] == 1 && t.strides()[r - 1] == t.size(-2);
  }
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  TAPEFLOW_CHECK(a.defined() && b.defined(), ValueError, "matmul", "got an undefined tensor");
  TAPEFLOW_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError, "matmul", "needs tensors of at least 1 dim, got shapes ",
                 a.shape(), " and ", b.shape());
  TAPEFLOW_CHECK(is_floating(a.dtype()) && is_floating(b.dtype()), DTypeError, "matmul",
                 "expects floating tensors, got ", a.dtype(), " and ", b.dtype());
  kernel::check_same_device("matmul", a, b);
  const int64_t k_a = a.shape().back(), k_b = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  TAPEFLOW_CHECK(k_a == k_b, ShapeError, "matmul", "shapes ", a.shape(), " and ", b.shape(),
                 " are not compatible (inner dimensions ", k_a, " != ", k_b, ")");
  DType t = promote_types(a.dtype(), b.dtype());
  Tensor x = a.dtype() == t ? a : a.to(t), y = b.dtype() == t ? b : b.to(t);
  // NumPy: a 1-d operand gains a dim for the product, and loses it afterwards.
  const bool va = x.dim() == 1, vb = y.dim() == 1;
  if (va) x = x.unsqueeze(0);
  if (vb) y = y.unsqueeze(-1);
  // Batch dims are checked here, where the message can give both full shapes.
  for (int64_t i = 3; i <= std::max(x.dim(), y.dim()); ++i) {
    const int64_t p = i <= x.dim() ? x.shape()[x.dim() - i] : 1, q = i <= y.dim() ? y.shape()[y.dim() - i] : 1;
    TAPEFLOW_CHECK(p == q || p == 1 || q == 1, ShapeError, "matmul", "batch dimensions of shapes ", a.shape(),
                   " and ", b.shape(), " do not broadcast (", p, " vs ", q, ")");
  }
  Tensor out = apply2<MatMul>(x, y);
  if (va) out = out.squeeze(-2);
  if (vb) out = out.squeeze(-1);
  return out;
}

}  // namespace tapeflow
