// SPDX-License-Identifier: MIT
// Sliding-window kernels on the GPU: im2col and its adjoint col2im (conv2d), max pooling with
// its argmax, and the per-plane gather / scatter-add that route pooling's gradients. Same
// results as backends/cpu/window.cpp: one thread per output element, each tap checked against
// the input's bounds, so padding never reads memory.
#include <limits>

#include "common.cuh"

namespace tapeflow::cuda {

using detail::View;
using detail::Window2d;

namespace {

/// out [rows, N·OH·OW], row (c, i, j), column (n, oh, ow). Rows past the `taps` real ones (the
/// optional extra last row) hold `extra`.
template <typename T>
__global__ void im2col_kernel(T* __restrict out, const T* __restrict x, int64_t total, int64_t taps, int64_t c,
                              int64_t h, int64_t wd, Window2d w, int64_t nm, T extra) {
  const int64_t m = w.oh * w.ow, khw = w.kh * w.kw;
  TAPEFLOW_GRID_STRIDE(e, total) {
    const int64_t row = e / nm, col = e - row * nm;
    if (row >= taps) {
      out[e] = extra;
      continue;
    }
    const int64_t ci = row / khw, tap = row - ci * khw, i = tap / w.kw, j = tap - i * w.kw;
    const int64_t ni = col / m, r = col - ni * m, oh = r / w.ow, ow = r - oh * w.ow;
    // Within [-ph, H + ph) for any window the output size admits, so no overflow.
    const int64_t ih = oh * w.sh - w.ph + i * w.dh, iw = ow * w.sw - w.pw + j * w.dw;
    out[e] = ih >= 0 && ih < h && iw >= 0 && iw < wd ? x[((ni * c + ci) * h + ih) * wd + iw] : T(0);
  }
}

/// Gather form of col2im: each input element sums the column entries taken from it, tap by tap
/// in (i, j) order as the CPU adds them (one window position per tap at most), so the result is
/// deterministic, bit-identical to the CPU's, and needs no atomics.
template <typename T>
__global__ void col2im_kernel(T* __restrict out, const T* __restrict cols, int64_t total, int64_t c, int64_t h,
                              int64_t wd, Window2d w, int64_t nm) {
  const int64_t m = w.oh * w.ow;
  TAPEFLOW_GRID_STRIDE(e, total) {
    const int64_t xw = e % wd, t0 = e / wd, yh = t0 % h, t1 = t0 / h, ci = t1 % c, ni = t1 / c;
    T sum = T(0);
    for (int64_t i = 0; i < w.kh; ++i) {
      // Tap i of window row oh reads input row oh·sh − ph + i·dh; solve for oh.
      const int64_t hoff = yh + w.ph - i * w.dh;
      if (hoff < 0) break;  // only decreases with i (dilation >= 0)
      if (hoff % w.sh != 0) continue;
      const int64_t oh = hoff / w.sh;
      if (oh >= w.oh) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t woff = xw + w.pw - j * w.dw;
        if (woff < 0) break;
        if (woff % w.sw != 0) continue;
        const int64_t ow = woff / w.sw;
        if (ow >= w.ow) continue;
        sum += cols[((ci * w.kh + i) * w.kw + j) * nm + ni * m + oh * w.ow + ow];
      }
    }
    out[e] = sum;
  }
}

/// One window per thread, taps in row-major order, padding taps skipped. A later tap takes over
/// when strictly larger (ties keep the first) or when it is NaN (so a window holding a NaN
/// gives NaN, at its last NaN's position): exactly the CPU's rule. A window of padding only
/// gives -inf and argmax -1.
template <typename T>
__global__ void max_pool_kernel(T* __restrict out, int64_t* __restrict argmax, const T* __restrict x,
                                int64_t total, int64_t h, int64_t wd, Window2d w) {
  const int64_t m = w.oh * w.ow;
  TAPEFLOW_GRID_STRIDE(e, total) {
    const int64_t p = e / m, r = e - p * m, oh = r / w.ow, ow = r - oh * w.ow;
    const T* plane = x + p * h * wd;
    const int64_t ih0 = oh * w.sh - w.ph, iw0 = ow * w.sw - w.pw;
    T best = -std::numeric_limits<T>::infinity();
    int64_t best_at = -1;
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = ih0 + i * w.dh;
      if (ih < 0 || ih >= h) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = iw0 + j * w.dw;
        if (iw < 0 || iw >= wd) continue;
        const int64_t at = ih * wd + iw;
        const T v = plane[at];
        if (best_at < 0 || v > best || v != v) {
          best = v;
          best_at = at;
        }
      }
    }
    out[e] = best;
    argmax[e] = best_at;
  }
}

/// out[e] = plane p's element index[e], 0 where the index is -1; `k` entries per plane.
template <typename T>
__global__ void plane_gather_kernel(T* __restrict out, const T* __restrict x, const int64_t* __restrict index,
                                    int64_t total, int64_t hw, int64_t k) {
  TAPEFLOW_GRID_STRIDE(e, total) {
    const int64_t at = index[e];
    out[e] = at < 0 ? T(0) : x[(e / k) * hw + at];
  }
}

/// out (zeroed) += src at index, per plane. Overlapping pooling windows can send several
/// entries to one element, hence the atomics (their order, so the last bits, may vary).
template <typename T>
__global__ void plane_scatter_add_kernel(T* out, const T* __restrict src, const int64_t* __restrict index,
                                         int64_t total, int64_t hw, int64_t k) {
  TAPEFLOW_GRID_STRIDE(e, total) {
    const int64_t at = index[e];
    if (at >= 0) atomicAdd(out + (e / k) * hw + at, src[e]);  // -1: a window of padding only
  }
}

}  // namespace

void CudaBackend::im2col(const View& out, const View& x, const Window2d& w, double extra_value) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int64_t c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t taps = c * w.kh * w.kw, nm = x.shape[0] * w.oh * w.ow;
  Context& ctx = context(index_);
  dispatch_floating(x.dtype, "im2col", [&](auto zero) {
    using T = decltype(zero);
    im2col_kernel<T><<<blocks_for(total), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(out.data), static_cast<const T*>(x.data), total, taps, c, h, wd, w, nm,
        static_cast<T>(extra_value));
  });
  check_launch("im2col");
}

void CudaBackend::col2im(const View& out, const View& cols, const Window2d& w) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int64_t c = out.shape[1], h = out.shape[2], wd = out.shape[3];
  const int64_t nm = out.shape[0] * w.oh * w.ow;
  Context& ctx = context(index_);
  dispatch_floating(out.dtype, "col2im", [&](auto zero) {
    using T = decltype(zero);
    col2im_kernel<T><<<blocks_for(total), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(out.data), static_cast<const T*>(cols.data), total, c, h, wd, w, nm);
  });
  check_launch("col2im");
}

void CudaBackend::max_pool2d(const View& out, const View& argmax, const View& x, const Window2d& w) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int64_t h = x.shape[2], wd = x.shape[3];
  Context& ctx = context(index_);
  dispatch_floating(x.dtype, "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    max_pool_kernel<T><<<blocks_for(total), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(out.data), static_cast<int64_t*>(argmax.data), static_cast<const T*>(x.data), total, h,
        wd, w);
  });
  check_launch("max_pool2d");
}

void CudaBackend::plane_gather(const View& out, const View& x, const View& index) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int64_t planes = x.shape[0] * x.shape[1];
  const int64_t hw = x.numel() / planes, k = total / planes;  // planes > 0 since total > 0
  Context& ctx = context(index_);
  dispatch_floating(x.dtype, "plane_gather", [&](auto zero) {
    using T = decltype(zero);
    plane_gather_kernel<T><<<blocks_for(total), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(out.data), static_cast<const T*>(x.data), static_cast<const int64_t*>(index.data), total,
        hw, k);
  });
  check_launch("plane_gather");
}

void CudaBackend::plane_scatter_add(const View& out, const View& index, const View& src) {
  const int64_t out_numel = out.numel();
  if (out_numel == 0) return;
  const int64_t planes = out.shape[0] * out.shape[1];
  const int64_t hw = out_numel / planes, total = src.numel(), k = total / planes;
  Context& ctx = context(index_);
  dispatch_floating(out.dtype, "plane_scatter_add", [&](auto zero) {
    using T = decltype(zero);
    // The contract is zeros plus the scattered adds: every element, touched or not, is written.
    check(cudaMemsetAsync(out.data, 0, static_cast<std::size_t>(out_numel) * sizeof(T), ctx.stream),
          "plane_scatter_add");
    if (total == 0) return;
    plane_scatter_add_kernel<T><<<blocks_for(total), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(out.data), static_cast<const T*>(src.data), static_cast<const int64_t*>(index.data), total,
        hw, k);
    check_launch("plane_scatter_add");
  });
}

}  // namespace tapeflow::cuda
