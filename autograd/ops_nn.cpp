// SPDX-License-Identifier: MIT
// Softmax, log-softmax and the fused softmax + cross-entropy: one kernel each, stable for
// large logits (the kernels subtract the row maximum).
#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/index_range.hpp"
#include "detail/node.hpp"

namespace tapeflow {

using namespace detail;

namespace {

struct Softmax {  // dx = y ⊙ (g - sum(g ⊙ y))
  static constexpr const char* name = "softmax";
  static Tensor forward(Ctx& c, const Tensor& x, int64_t dim) {
    c.i0 = dim;
    Tensor y = kernel::softmax(SoftmaxKind::Softmax, x, dim);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor y = c.saved(0);
    return {y * (g - sum(g * y, {c.i0}, true))};
  }
};

struct LogSoftmax {  // dx = g - softmax(x) ⊙ sum(g)
  static constexpr const char* name = "log_softmax";
  static Tensor forward(Ctx& c, const Tensor& x, int64_t dim) {
    c.i0 = dim;
    Tensor y = kernel::softmax(SoftmaxKind::LogSoftmax, x, dim);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    return {g - exp(c.saved(0)) * sum(g, {c.i0}, true)};
  }
};

struct CrossEntropy {  // L = mean_i(lse(x_i) - x_i[t_i]);  dx = (softmax(x) - onehot(t)) · g / N
  static constexpr const char* name = "cross_entropy";
  static Tensor forward(Ctx& c, const Tensor& logits, const Tensor& targets) {
    c.save(logits);
    c.save(targets);
    return kernel::cross_entropy(logits, targets);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor x = c.saved(0), t = c.saved(1);
    const int64_t n = x.shape()[0], classes = x.shape()[1];
    Tensor target = one_hot(t, classes).to(x.dtype());
    Grads r;
    r.push_back((softmax(x, 1) - target) * (g / static_cast<double>(std::max<int64_t>(n, 1))));
    r.push_back(Tensor());
    return r;
  }
};

void check_softmax_input(const char* op, const Tensor& x) {
  TAPEFLOW_CHECK(x.defined(), ValueError, op, "got an undefined tensor");
  TAPEFLOW_CHECK(is_floating(x.dtype()), DTypeError, op, "expects a floating tensor, got ", x.dtype());
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  check_softmax_input("softmax", x);
  const int64_t d = kernel::normalize_axis("softmax", dim, x.dim());  // a 0-d tensor takes 0 or -1
  if (x.dim() == 0) return softmax(x.reshape({1}), 0).reshape({});
  return apply1<Softmax>(x, d);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_softmax_input("log_softmax", x);
  const int64_t d = kernel::normalize_axis("log_softmax", dim, x.dim());
  if (x.dim() == 0) return log_softmax(x.reshape({1}), 0).reshape({});
  return apply1<LogSoftmax>(x, d);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  check_softmax_input("cross_entropy", logits);
  TAPEFLOW_CHECK(targets.defined() && targets.dtype() == DType::Int64, DTypeError, "cross_entropy",
                 "targets must be int64 class indices, got ", targets.defined() ? dtype_name(targets.dtype()) : "undefined");
  TAPEFLOW_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.shape()[0] == logits.shape()[0],
                 ShapeError, "cross_entropy", "expects logits [N, C] and targets [N], got ", logits.shape(),
                 " and ", targets.shape());
  kernel::check_same_device("cross_entropy", logits, targets);
  const int64_t classes = logits.shape()[1];
  if (const auto bad = detail::index_out_of_range(targets, classes))
    detail::fail<ValueError>("cross_entropy", "target ", *bad, " is out of range for ", classes, " classes");
  return apply2<CrossEntropy>(logits, targets);
}

}  // namespace tapeflow
