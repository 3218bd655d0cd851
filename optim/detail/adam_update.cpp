// SPDX-License-Identifier: MIT
// One pass per parameter instead of about a dozen tensor ops (each a full read and write, and
// most an allocation). The expression order and the scalars' rounding to the tensor's dtype
// match the tensor ops in Adam::step, so both paths give the same bits.
#include "adam_update.hpp"

#include <cmath>

#include "fusable.hpp"

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

}  // namespace

bool fused_adam_update(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                       const Tensor& max_exp_avg_sq, const AdamScalars& s) {
  if (!grad.defined() || !exp_avg.defined() || !exp_avg_sq.defined() ||
      !fusable(p, {&grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq}))
    return false;
  if (p.dtype() == DType::Float32) update<float>(p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  else update<double>(p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  bump_versions({&p, &exp_avg, &exp_avg_sq, &max_exp_avg_sq});
  return true;
}

}  // namespace tapeflow::optim::detail
