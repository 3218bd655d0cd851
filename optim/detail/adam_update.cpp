// SPDX-License-Identifier: MIT
// One pass per parameter instead of about a dozen tensor ops (each a full read and write, and
// most an allocation). The expression order and the scalars' rounding to the tensor's dtype
// match the tensor ops in Adam::step, so both paths give the same bits.
#include "adam_update.hpp"

#include <cmath>

#include "../../tensor/detail/tensor_impl.hpp"

namespace tapeflow::optim::detail {

namespace {

template <typename T>
void update(const Tensor& p_t, const Tensor& g_t, const Tensor& m_t, const Tensor& v_t, const Tensor& mx_t,
            const AdamScalars& s) {
  T* p = p_t.data_ptr<T>();
  const T* g = g_t.data_ptr<T>();
  T* m = m_t.data_ptr<T>();
  T* v = v_t.data_ptr<T>();
  T* mx = mx_t.defined() ? mx_t.data_ptr<T>() : nullptr;
  // Scalars round to T first, as a C++ scalar meeting a tensor does.
  const T b1 = T(s.beta1), c1 = T(1.0 - s.beta1), b2 = T(s.beta2), c2 = T(1.0 - s.beta2);
  const T wd = T(s.weight_decay), decay = T(s.decay_factor), bc2 = T(s.bias_correction2_sqrt), eps = T(s.eps),
          step = T(s.step_size);
  const bool l2 = s.weight_decay != 0, decoupled = s.decay_factor != 1.0;
  const int64_t n = p_t.numel();
  for (int64_t k = 0; k < n; ++k) {
    if (decoupled) p[k] = p[k] * decay;
    T gk = g[k];
    if (l2) gk = gk + p[k] * wd;
    m[k] = m[k] * b1 + gk * c1;
    v[k] = v[k] * b2 + gk * gk * c2;
    T second = v[k];
    if (mx) second = mx[k] = mx[k] < v[k] ? v[k] : mx[k];  // maximum(), NaN as it treats it
    const T denom = std::sqrt(second) / bc2 + eps;
    p[k] = p[k] - m[k] / denom * step;
  }
}

bool fits(const Tensor& t, const Tensor& p) {
  return t.defined() && t.device() == p.device() && t.dtype() == p.dtype() && t.shape() == p.shape() &&
         t.is_contiguous();
}

}  // namespace

bool fused_adam_update(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                       const Tensor& max_exp_avg_sq, const AdamScalars& s) {
  if (!p.device().is_cpu() || !(p.dtype() == DType::Float32 || p.dtype() == DType::Float64)) return false;
  if (!fits(p, p) || !fits(grad, p) || !fits(exp_avg, p) || !fits(exp_avg_sq, p)) return false;
  if (max_exp_avg_sq.defined() && !fits(max_exp_avg_sq, p)) return false;
  // Distinct buffers only: the loop reads each element once, so an alias would change results.
  const void* bufs[] = {p.impl()->storage.get(), grad.impl()->storage.get(), exp_avg.impl()->storage.get(),
                        exp_avg_sq.impl()->storage.get(),
                        max_exp_avg_sq.defined() ? max_exp_avg_sq.impl()->storage.get() : nullptr};
  for (int a = 0; a < 5; ++a)
    for (int b = a + 1; b < 5; ++b)
      if (bufs[a] && bufs[a] == bufs[b]) return false;
  if (p.dtype() == DType::Float32) update<float>(p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  else update<double>(p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  // Writes through data pointers bypass the version counter: bump it as the in-place ops would,
  // so a tape entry that saved one of these tensors still notices.
  for (const Tensor* t : {&p, &exp_avg, &exp_avg_sq, &max_exp_avg_sq})
    if (t->defined()) ++t->impl()->storage->version;
  return true;
}

}  // namespace tapeflow::optim::detail
