// SPDX-License-Identifier: MIT
// The optimizers' per-parameter updates as one pass over the elements (optim/'s fused path).
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

namespace {

// Each loop takes its buffers as __restrict pointers and its scalars by value. Inside a lambda
// that captures them by reference, every store through p might change lr or momentum, so GCC
// reloaded them per element and kept the loop scalar: twice the time the memory traffic needs.
// The buffers are distinct (optim/detail/fused_update checks it), so __restrict holds. The
// callers round the scalars to T first, as a C++ scalar meeting a tensor does.

template <typename T>
void sgd_loop(int64_t begin, int64_t end, T* __restrict p, const T* __restrict g, T* __restrict buf, T lr, T wd,
              T momentum, T keep, bool decay, bool nesterov, bool first_step) {
  for (int64_t k = begin; k < end; ++k) {
    T d = g[k];
    if (decay) d = d + p[k] * wd;
    if (buf) {
      buf[k] = first_step ? d : buf[k] * momentum + d * keep;
      d = nesterov ? d + buf[k] * momentum : buf[k];
    }
    p[k] = p[k] - d * lr;
  }
}

template <typename T>
void adam_loop(int64_t begin, int64_t end, T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
               T* __restrict mx, T b1, T c1, T b2, T c2, T wd, T decay, T bc2, T eps, T step, bool l2,
               bool decoupled) {
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
}

template <typename T>
void rmsprop_loop(int64_t begin, int64_t end, T* __restrict p, const T* __restrict g, T* __restrict sq,
                  T* __restrict ga, T* __restrict buf, T lr, T alpha, T keep, T eps, T wd, T momentum, bool decay) {
  for (int64_t k = begin; k < end; ++k) {
    T gk = g[k];
    if (decay) gk = gk + p[k] * wd;
    sq[k] = sq[k] * alpha + gk * gk * keep;
    T avg;
    if (ga) {
      ga[k] = ga[k] * alpha + gk * keep;
      avg = std::sqrt(sq[k] - ga[k] * ga[k]) + eps;
    } else {
      avg = std::sqrt(sq[k]) + eps;
    }
    if (buf) {
      buf[k] = buf[k] * momentum + gk / avg;
      p[k] = p[k] - buf[k] * lr;
    } else {
      p[k] = p[k] - gk / avg * lr;
    }
  }
}

template <typename T>
void adagrad_loop(int64_t begin, int64_t end, T* __restrict p, const T* __restrict g, T* __restrict sum, T lr, T eps,
                  T wd, bool decay) {
  for (int64_t k = begin; k < end; ++k) {
    T gk = g[k];
    if (decay) gk = gk + p[k] * wd;
    sum[k] = sum[k] + gk * gk;
    p[k] = p[k] - gk / (std::sqrt(sum[k]) + eps) * lr;
  }
}

template <typename T>
T* data(const View& v) {
  return static_cast<T*>(v.data);
}

}  // namespace

void CpuBackend::sgd_update(const View& p, const View& g, const View& buf, bool first_step,
                            const detail::SGDScalars& s) {
  detail::dispatch_floating(p.dtype, "sgd_update", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(p.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      sgd_loop<T>(begin, end, data<T>(p), data<T>(g), data<T>(buf), T(s.lr), T(s.weight_decay), T(s.momentum),
                  T(1.0 - s.dampening), s.weight_decay != 0, s.nesterov, first_step);
    });
  });
}

void CpuBackend::adam_update(const View& p, const View& g, const View& m, const View& v, const View& mx,
                             const detail::AdamScalars& s) {
  detail::dispatch_floating(p.dtype, "adam_update", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(p.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      adam_loop<T>(begin, end, data<T>(p), data<T>(g), data<T>(m), data<T>(v), data<T>(mx), T(s.beta1),
                   T(1.0 - s.beta1), T(s.beta2), T(1.0 - s.beta2), T(s.weight_decay), T(s.decay_factor),
                   T(s.bias_correction2_sqrt), T(s.eps), T(s.step_size), s.weight_decay != 0, s.decay_factor != 1.0);
    });
  });
}

void CpuBackend::rmsprop_update(const View& p, const View& g, const View& square_avg, const View& grad_avg,
                                const View& buf, const detail::RMSpropScalars& s) {
  detail::dispatch_floating(p.dtype, "rmsprop_update", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(p.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      rmsprop_loop<T>(begin, end, data<T>(p), data<T>(g), data<T>(square_avg), data<T>(grad_avg), data<T>(buf),
                      T(s.lr), T(s.alpha), T(1.0 - s.alpha), T(s.eps), T(s.weight_decay), T(s.momentum),
                      s.weight_decay != 0);
    });
  });
}

void CpuBackend::adagrad_update(const View& p, const View& g, const View& sum, const detail::AdagradScalars& s) {
  detail::dispatch_floating(p.dtype, "adagrad_update", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(p.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      adagrad_loop<T>(begin, end, data<T>(p), data<T>(g), data<T>(sum), T(s.lr), T(s.eps), T(s.weight_decay),
                      s.weight_decay != 0);
    });
  });
}

}  // namespace tapeflow::cpu
