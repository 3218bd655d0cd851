// SPDX-License-Identifier: MIT
// One pass per parameter instead of two to six tensor ops (each a full read and write, most an
// allocation): p.sub_(d * lr) alone read and wrote the parameter's size twice. The expression
// order and the scalars' rounding to the tensor's dtype match SGD::step's tensor ops, so both
// paths give the same bits.
#include "sgd_update.hpp"

#include "fusable.hpp"

namespace tapeflow::optim::detail {

namespace {

template <typename T>
void update(const Tensor& p_t, const Tensor& g_t, const Tensor& buf_t, bool first_step, const SGDScalars& s) {
  T* p = p_t.data_ptr<T>();
  const T* g = g_t.data_ptr<T>();
  T* buf = buf_t.defined() ? buf_t.data_ptr<T>() : nullptr;
  // Scalars round to T first, as a C++ scalar meeting a tensor does.
  const T lr = T(s.lr), wd = T(s.weight_decay), momentum = T(s.momentum), keep = T(1.0 - s.dampening);
  const bool decay = s.weight_decay != 0, nesterov = s.nesterov;
  const int64_t n = p_t.numel();
  for (int64_t k = 0; k < n; ++k) {
    T d = g[k];
    if (decay) d = d + p[k] * wd;
    if (buf) {
      buf[k] = first_step ? d : buf[k] * momentum + d * keep;
      d = nesterov ? d + buf[k] * momentum : buf[k];
    }
    p[k] = p[k] - d * lr;
  }
}

}  // namespace

bool fused_sgd_update(const Tensor& p, const Tensor& grad, const Tensor& momentum_buffer, bool first_step,
                      const SGDScalars& s) {
  if (!grad.defined() || (s.momentum != 0) != momentum_buffer.defined() || !fusable(p, {&grad, &momentum_buffer}))
    return false;
  if (p.dtype() == DType::Float32) update<float>(p, grad, momentum_buffer, first_step, s);
  else update<double>(p, grad, momentum_buffer, first_step, s);
  bump_versions({&p, &momentum_buffer});
  return true;
}

}  // namespace tapeflow::optim::detail
