// SPDX-License-Identifier: MIT
// The optimizers' per-parameter updates as one kernel each (optim/'s fused path): one read and
// write of every buffer instead of a dozen kernels and their temporaries. The float operations
// and their order are the CPU loop's (cpu/optimizer_update.cpp), products rounded on their own
// so nvcc cannot contract them into FMAs that the tensor-op path, one op per kernel, never
// sees; sqrt and division are IEEE-rounded (nvcc's defaults). So all four paths agree bit for bit.
#include "../extrema.hpp"
#include "common.cuh"

namespace tapeflow::cuda {

using detail::View;

namespace {

__device__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ float root(float a) { return sqrtf(a); }
__device__ double root(double a) { return sqrt(a); }

template <typename T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, int64_t n, T lr, T wd, T momentum, T keep, bool decay,
                           bool nesterov, bool first_step) {
  TAPEFLOW_GRID_STRIDE(k, n) {
    T d = g[k];
    if (decay) d = d + mul(p[k], wd);
    if (buf) {
      buf[k] = first_step ? d : mul(buf[k], momentum) + mul(d, keep);
      d = nesterov ? d + mul(buf[k], momentum) : buf[k];
    }
    p[k] = p[k] - mul(d, lr);
  }
}

struct AdamConstants {
  double b1, c1, b2, c2, wd, decay, bc2, eps, step;
};

template <typename T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, T* mx, int64_t n, AdamConstants c, bool l2, bool decoupled) {
  // Scalars round to T first, as a C++ scalar meeting a tensor does.
  const T b1 = T(c.b1), c1 = T(c.c1), b2 = T(c.b2), c2 = T(c.c2), wd = T(c.wd), decay = T(c.decay), bc2 = T(c.bc2),
          eps = T(c.eps), step = T(c.step);
  TAPEFLOW_GRID_STRIDE(k, n) {
    if (decoupled) p[k] = mul(p[k], decay);
    T gk = g[k];
    if (l2) gk = gk + mul(p[k], wd);
    m[k] = mul(m[k], b1) + mul(gk, c1);
    v[k] = mul(v[k], b2) + mul(mul(gk, gk), c2);
    T second = v[k];
    if (mx) second = mx[k] = detail::nan_maximum(mx[k], v[k]);  // as maximum() does
    const T denom = root(second) / bc2 + eps;
    p[k] = p[k] - mul(m[k] / denom, step);
  }
}

template <typename T>
__global__ void rmsprop_kernel(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, T lr, T alpha, T keep, T eps, T wd,
                               T momentum, bool decay) {
  TAPEFLOW_GRID_STRIDE(k, n) {
    T gk = g[k];
    if (decay) gk = gk + mul(p[k], wd);
    sq[k] = mul(sq[k], alpha) + mul(mul(gk, gk), keep);
    T avg;
    if (ga) {
      ga[k] = mul(ga[k], alpha) + mul(gk, keep);
      avg = root(sq[k] - mul(ga[k], ga[k])) + eps;
    } else {
      avg = root(sq[k]) + eps;
    }
    if (buf) {
      buf[k] = mul(buf[k], momentum) + gk / avg;
      p[k] = p[k] - mul(buf[k], lr);
    } else {
      p[k] = p[k] - mul(gk / avg, lr);
    }
  }
}

template <typename T>
__global__ void adagrad_kernel(T* p, const T* g, T* sum, int64_t n, T lr, T eps, T wd, bool decay) {
  TAPEFLOW_GRID_STRIDE(k, n) {
    T gk = g[k];
    if (decay) gk = gk + mul(p[k], wd);
    sum[k] = sum[k] + mul(gk, gk);
    p[k] = p[k] - mul(gk / (root(sum[k]) + eps), lr);
  }
}

}  // namespace

void CudaBackend::sgd_update(const View& p, const View& grad, const View& buf, bool first_step,
                             const detail::SGDScalars& s) {
  const int64_t n = p.numel();
  if (n == 0) return;
  dispatch_floating(p.dtype, "sgd_update", [&](auto zero) {
    using T = decltype(zero);
    sgd_kernel<<<blocks_for(n), kThreads, 0, context(index_).stream>>>(
        static_cast<T*>(p.data), static_cast<const T*>(grad.data), static_cast<T*>(buf.data), n, T(s.lr),
        T(s.weight_decay), T(s.momentum), T(1.0 - s.dampening), s.weight_decay != 0, s.nesterov, first_step);
  });
  check_launch("sgd_update");
}

void CudaBackend::adam_update(const View& p, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                              const View& max_exp_avg_sq, const detail::AdamScalars& s) {
  const int64_t n = p.numel();
  if (n == 0) return;
  const AdamConstants c{s.beta1, 1.0 - s.beta1, s.beta2,  1.0 - s.beta2, s.weight_decay, s.decay_factor,
                        s.bias_correction2_sqrt, s.eps, s.step_size};
  dispatch_floating(p.dtype, "adam_update", [&](auto zero) {
    using T = decltype(zero);
    adam_kernel<<<blocks_for(n), kThreads, 0, context(index_).stream>>>(
        static_cast<T*>(p.data), static_cast<const T*>(grad.data), static_cast<T*>(exp_avg.data),
        static_cast<T*>(exp_avg_sq.data), static_cast<T*>(max_exp_avg_sq.data), n, c, s.weight_decay != 0,
        s.decay_factor != 1.0);
  });
  check_launch("adam_update");
}

void CudaBackend::rmsprop_update(const View& p, const View& grad, const View& square_avg, const View& grad_avg,
                                 const View& momentum_buffer, const detail::RMSpropScalars& s) {
  const int64_t n = p.numel();
  if (n == 0) return;
  dispatch_floating(p.dtype, "rmsprop_update", [&](auto zero) {
    using T = decltype(zero);
    rmsprop_kernel<<<blocks_for(n), kThreads, 0, context(index_).stream>>>(
        static_cast<T*>(p.data), static_cast<const T*>(grad.data), static_cast<T*>(square_avg.data),
        static_cast<T*>(grad_avg.data), static_cast<T*>(momentum_buffer.data), n, T(s.lr), T(s.alpha),
        T(1.0 - s.alpha), T(s.eps), T(s.weight_decay), T(s.momentum), s.weight_decay != 0);
  });
  check_launch("rmsprop_update");
}

void CudaBackend::adagrad_update(const View& p, const View& grad, const View& sum, const detail::AdagradScalars& s) {
  const int64_t n = p.numel();
  if (n == 0) return;
  dispatch_floating(p.dtype, "adagrad_update", [&](auto zero) {
    using T = decltype(zero);
    adagrad_kernel<<<blocks_for(n), kThreads, 0, context(index_).stream>>>(
        static_cast<T*>(p.data), static_cast<const T*>(grad.data), static_cast<T*>(sum.data), n, T(s.lr), T(s.eps),
        T(s.weight_decay), s.weight_decay != 0);
  });
  check_launch("adagrad_update");
}

}  // namespace tapeflow::cuda
