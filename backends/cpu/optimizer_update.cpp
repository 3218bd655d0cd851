// SPDX-License-Identifier: MIT
// SGD's and Adam's per-parameter updates as one pass over the elements (optim/'s fused path).
// The expression order and the scalars' rounding to the tensor's dtype match the optimizers'
// tensor ops, so both paths give the same bits; every element is independent, so splitting the
// pass across threads changes nothing either.
#include <cmath>

#include "../dispatch.hpp"
#include "../extrema.hpp"
#include "cpu_backend.hpp"
#include "parallel.hpp"

namespace tapeflow::cpu {

using detail::View;

void CpuBackend::sgd_update(const View& p_v, const View& g_v, const View& buf_v, bool first_step,
                            const detail::SGDScalars& s) {
  detail::dispatch_floating(p_v.dtype, "sgd_update", [&](auto zero) {
    using T = decltype(zero);
    T* p = static_cast<T*>(p_v.data);
    const T* g = static_cast<const T*>(g_v.data);
    T* buf = static_cast<T*>(buf_v.data);
    // Scalars round to T first, as a C++ scalar meeting a tensor does.
    const T lr = T(s.lr), wd = T(s.weight_decay), momentum = T(s.momentum), keep = T(1.0 - s.dampening);
    const bool decay = s.weight_decay != 0, nesterov = s.nesterov;
    parallel_for(p_v.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        T d = g[k];
        if (decay) d = d + p[k] * wd;
        if (buf) {
          buf[k] = first_step ? d : buf[k] * momentum + d * keep;
          d = nesterov ? d + buf[k] * momentum : buf[k];
        }
        p[k] = p[k] - d * lr;
      }
    });
  });
}

void CpuBackend::adam_update(const View& p_v, const View& g_v, const View& m_v, const View& v_v, const View& mx_v,
                             const detail::AdamScalars& s) {
  detail::dispatch_floating(p_v.dtype, "adam_update", [&](auto zero) {
    using T = decltype(zero);
    T* p = static_cast<T*>(p_v.data);
    const T* g = static_cast<const T*>(g_v.data);
    T* m = static_cast<T*>(m_v.data);
    T* v = static_cast<T*>(v_v.data);
    T* mx = static_cast<T*>(mx_v.data);
    const T b1 = T(s.beta1), c1 = T(1.0 - s.beta1), b2 = T(s.beta2), c2 = T(1.0 - s.beta2);
    const T wd = T(s.weight_decay), decay = T(s.decay_factor), bc2 = T(s.bias_correction2_sqrt), eps = T(s.eps),
            step = T(s.step_size);
    const bool l2 = s.weight_decay != 0, decoupled = s.decay_factor != 1.0;
    parallel_for(p_v.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        if (decoupled) p[k] = p[k] * decay;
        T gk = g[k];
        if (l2) gk = gk + p[k] * wd;
        m[k] = m[k] * b1 + gk * c1;
        v[k] = v[k] * b2 + gk * gk * c2;
        T second = v[k];
        if (mx) second = mx[k] = detail::nan_maximum(mx[k], v[k]);  // as maximum() does
        const T denom = std::sqrt(second) / bc2 + eps;
        p[k] = p[k] - m[k] / denom * step;
      }
    });
  });
}

}  // namespace tapeflow::cpu
