// SPDX-License-Identifier: MIT
// One pass per parameter instead of two to a dozen tensor ops (each a full read and write, most
// an allocation, and on a GPU each a kernel launch). The passes themselves are backend kernels;
// this file decides when they may run and does the bookkeeping they owe the tensors.
#include "fused_update.hpp"

#include <initializer_list>

#include "../../tensor/detail/tensor_impl.hpp"

namespace tapeflow::optim::detail {

namespace {

using tapeflow::detail::View;

/// True when p is a contiguous float32 or float64 tensor and every defined tensor in `others`
/// matches it (device, dtype, shape, contiguous) in a buffer of its own: the passes read each
/// element once, so an alias would change results. Undefined entries are skipped.
bool fusable(const Tensor& p, std::initializer_list<const Tensor*> others) {
  if (!(p.dtype() == DType::Float32 || p.dtype() == DType::Float64) || !p.is_contiguous()) return false;
  for (const Tensor* t : others) {
    if (!t->defined()) continue;
    if (t->device() != p.device() || t->dtype() != p.dtype() || t->shape() != p.shape() || !t->is_contiguous() ||
        t->impl()->storage == p.impl()->storage)
      return false;
    for (const Tensor* u : others)
      if (u != t && u->defined() && u->impl()->storage == t->impl()->storage) return false;
  }
  return true;
}

/// An absent buffer is a view with null data.
View view_of(const Tensor& t) {
  return t.defined() ? t.impl()->view() : View{nullptr, DType::Float32, 0, nullptr, nullptr};
}

/// Writes by a backend kernel bypass the version counters: bump them as the in-place ops
/// would, so a tape entry that saved one of these tensors still notices.
void bump_versions(std::initializer_list<const Tensor*> written) {
  for (const Tensor* t : written)
    if (t->defined()) ++t->impl()->storage->version;
}

}  // namespace

bool fused_sgd_update(const Tensor& p, const Tensor& grad, const Tensor& momentum_buffer, bool first_step,
                      const SGDScalars& s) {
  if (!grad.defined() || (s.momentum != 0) != momentum_buffer.defined() || !fusable(p, {&grad, &momentum_buffer}))
    return false;
  tapeflow::detail::backend_for_op(p.device(), "SGD")
      .sgd_update(view_of(p), view_of(grad), view_of(momentum_buffer), first_step, s);
  bump_versions({&p, &momentum_buffer});
  return true;
}

bool fused_adam_update(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                       const Tensor& max_exp_avg_sq, const AdamScalars& s) {
  if (!grad.defined() || !exp_avg.defined() || !exp_avg_sq.defined() ||
      !fusable(p, {&grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq}))
    return false;
  tapeflow::detail::backend_for_op(p.device(), "Adam")
      .adam_update(view_of(p), view_of(grad), view_of(exp_avg), view_of(exp_avg_sq), view_of(max_exp_avg_sq), s);
  bump_versions({&p, &exp_avg, &exp_avg_sq, &max_exp_avg_sq});
  return true;
}

bool fused_rmsprop_update(const Tensor& p, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                          const Tensor& momentum_buffer, const RMSpropScalars& s) {
  if (!grad.defined() || !square_avg.defined() || (s.momentum > 0) != momentum_buffer.defined() ||
      !fusable(p, {&grad, &square_avg, &grad_avg, &momentum_buffer}))
    return false;
  tapeflow::detail::backend_for_op(p.device(), "RMSprop")
      .rmsprop_update(view_of(p), view_of(grad), view_of(square_avg), view_of(grad_avg), view_of(momentum_buffer),
                      s);
  bump_versions({&p, &square_avg, &grad_avg, &momentum_buffer});
  return true;
}

bool fused_adagrad_update(const Tensor& p, const Tensor& grad, const Tensor& sum, const AdagradScalars& s) {
  if (!grad.defined() || !sum.defined() || !fusable(p, {&grad, &sum})) return false;
  tapeflow::detail::backend_for_op(p.device(), "Adagrad").adagrad_update(view_of(p), view_of(grad), view_of(sum), s);
  bump_versions({&p, &sum});
  return true;
}

}  // namespace tapeflow::optim::detail
