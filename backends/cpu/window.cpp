// SPDX-License-Identifier: MIT
// Sliding-window kernels: im2col and its adjoint col2im (conv2d), max pooling with its argmax,
// and the per-plane gather / scatter-add that route pooling's gradients. Each splits its work
// over [H, W] planes (or im2col's (c, n) blocks), so no two threads ever write one element.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../dispatch.hpp"
#include "cpu_backend.hpp"
#include "parallel.hpp"

namespace tapeflow::cpu {

using detail::dispatch_floating;
using detail::View;
using detail::Window2d;

namespace {

/// Outputs [lo, hi) along one axis whose tap at offset `off` (= tap·dilation − padding) lands
/// inside [0, size): off + o·stride in range. Outside it the tap reads padding.
void valid_range(int64_t off, int64_t stride, int64_t size, int64_t out, int64_t& lo, int64_t& hi) {
  // Ceiling divisions written so that a huge stride cannot overflow (found by fuzz_ops).
  auto ceil_div = [](int64_t a, int64_t b) { return a / b + (a % b != 0); };
  lo = off >= 0 ? 0 : ceil_div(-off, stride);
  hi = size - off <= 0 ? 0 : ceil_div(size - off, stride);
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

/// Units of `per_unit` elements that make one parallel_for grain.
int64_t grain_for(int64_t per_unit) { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(per_unit, 1)); }

template <typename T>
void im2col_typed(const View& out, const View& x, const Window2d& w, double extra_value) {
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t m = w.oh * w.ow, nm = n * m, taps = c * w.kh * w.kw;
  const T* src = static_cast<const T*>(x.data);
  T* dst = static_cast<T*>(out.data);
  // Block (ci, ni): rows (ci, ·, ·), columns of sample ni; read one input plane.
  parallel_for(c * n, grain_for(w.kh * w.kw * m), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t ci = b / n, ni = b % n;
      const T* plane = src + (ni * c + ci) * h * wd;
      for (int64_t i = 0; i < w.kh; ++i)
        for (int64_t j = 0; j < w.kw; ++j) {
          T* row = dst + ((ci * w.kh + i) * w.kw + j) * nm + ni * m;
          const int64_t off_h = i * w.dh - w.ph, off_w = j * w.dw - w.pw;
          int64_t h0, h1, w0, w1;
          valid_range(off_h, w.sh, h, w.oh, h0, h1);
          valid_range(off_w, w.sw, wd, w.ow, w0, w1);
          std::fill(row, row + h0 * w.ow, T(0));
          for (int64_t oh = h0; oh < h1; ++oh) {
            T* r = row + oh * w.ow;
            std::fill(r, r + w0, T(0));
            if (w0 < w1) {
              // From the first column in range: off_w alone can point far outside the plane,
              // and forming such a pointer is undefined even unread (found by fuzz_ops).
              const T* s = plane + (oh * w.sh + off_h) * wd + (w0 * w.sw + off_w);
              if (w.sw == 1)
                std::memcpy(r + w0, s, static_cast<std::size_t>(w1 - w0) * sizeof(T));
              else
                for (int64_t ow = w0; ow < w1; ++ow) r[ow] = s[(ow - w0) * w.sw];
            }
            std::fill(r + w1, r + w.ow, T(0));
          }
          std::fill(row + h1 * w.ow, row + m, T(0));
        }
    }
  });
  if (out.shape[0] > taps) std::fill(dst + taps * nm, dst + (taps + 1) * nm, static_cast<T>(extra_value));
}

template <typename T>
void col2im_typed(const View& out, const View& cols, const Window2d& w) {
  const int64_t n = out.shape[0], c = out.shape[1], h = out.shape[2], wd = out.shape[3];
  const int64_t m = w.oh * w.ow, nm = n * m;
  const T* src = static_cast<const T*>(cols.data);
  T* dst = static_cast<T*>(out.data);
  // Plane (ni, ci) receives exactly rows (ci, ·, ·) of sample ni's columns: one writer per plane.
  // NOTE: overlapping windows add into one element in a fixed (i, j, oh, ow) order, so results
  // do not depend on the number of threads.
  parallel_for(n * c, grain_for(w.kh * w.kw * m), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t ni = p / c, ci = p % c;
      T* plane = dst + p * h * wd;
      std::fill(plane, plane + h * wd, T(0));
      for (int64_t i = 0; i < w.kh; ++i)
        for (int64_t j = 0; j < w.kw; ++j) {
          const T* row = src + ((ci * w.kh + i) * w.kw + j) * nm + ni * m;
          const int64_t off_h = i * w.dh - w.ph, off_w = j * w.dw - w.pw;
          int64_t h0, h1, w0, w1;
          valid_range(off_h, w.sh, h, w.oh, h0, h1);
          valid_range(off_w, w.sw, wd, w.ow, w0, w1);
          for (int64_t oh = h0; oh < h1 && w0 < w1; ++oh) {
            const T* __restrict r = row + oh * w.ow + w0;
            // From the first column in range, as in im2col: off_w alone may point outside.
            T* __restrict d = plane + (oh * w.sh + off_h) * wd + (w0 * w.sw + off_w);
            const int64_t len = w1 - w0;
            if (w.sw == 1)  // the common case, a contiguous run the compiler vectorizes
              for (int64_t k = 0; k < len; ++k) d[k] += r[k];
            else
              for (int64_t k = 0; k < len; ++k) d[k * w.sw] += r[k];
          }
        }
    }
  });
}

/// c ? a : b by masking bits. GCC turns a plain `x = c ? v : x` into a conditional store, a
/// branch that mispredicts about half the time when c depends on the data (a max pool's
/// winner): that branch was a sixth of a CNN training step.
template <typename T>
T select_bits(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U mask = U(0) - static_cast<U>(c);
  return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(a) & mask) | (std::bit_cast<U>(b) & ~mask)));
}

/// Output columns [lo, hi) whose windows lie inside the input's width (no padding tap): from
/// the first column where the first tap is in range to the last where the last tap is.
void interior_columns(const Window2d& w, int64_t width, int64_t& lo, int64_t& hi) {
  int64_t unused;
  valid_range(-w.pw, w.sw, width, w.ow, lo, unused);
  valid_range((w.kw - 1) * w.dw - w.pw, w.sw, width, w.ow, unused, hi);
  hi = std::max(hi, lo);
}

template <typename T>
void max_pool_typed(const View& out, const View& argmax, const View& x, const Window2d& window) {
  const Window2d w = window;  // a local copy: the stores below cannot alias it
  const int64_t planes = x.shape[0] * x.shape[1], h = x.shape[2], wd = x.shape[3], m = w.oh * w.ow;
  const T* src = static_cast<const T*>(x.data);
  T* dst = static_cast<T*>(out.data);
  int64_t* arg = static_cast<int64_t*>(argmax.data);
  int64_t c0, c1;
  interior_columns(w, wd, c0, c1);
  // Taps in row-major order; a later tap takes over only when strictly larger, so ties keep the
  // first, and a NaN always takes over, so a window holding one gives NaN: PyTorch's rules.
  parallel_for(planes, grain_for(m * w.kh * w.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = src + p * h * wd;
      for (int64_t oh = 0; oh < w.oh; ++oh) {
        const int64_t ih0 = oh * w.sh - w.ph;
        T* best = dst + p * m + oh * w.ow;
        int64_t* best_at = arg + p * m + oh * w.ow;
        // Border window: padding taps are -inf and never win, so they are skipped. With
        // dilation a window can hold padding only: it gives -inf, as PyTorch's does, and
        // argmax -1, which the gradient kernels skip (the output depends on no input).
        auto border = [&](int64_t ow) {
          const int64_t iw0 = ow * w.sw - w.pw;
          int64_t at_best = -1;
          T b = -std::numeric_limits<T>::infinity();
          for (int64_t i = 0; i < w.kh; ++i) {
            const int64_t ih = ih0 + i * w.dh;
            if (ih < 0 || ih >= h) continue;
            for (int64_t j = 0; j < w.kw; ++j) {
              const int64_t iw = iw0 + j * w.dw;
              if (iw < 0 || iw >= wd) continue;
              const int64_t at = ih * wd + iw;
              if (at_best < 0 || plane[at] > b || plane[at] != plane[at]) {
                b = plane[at];
                at_best = at;
              }
            }
          }
          best[ow] = b;
          best_at[ow] = at_best;
        };
        const bool rows_inside = ih0 >= 0 && ih0 + (w.kh - 1) * w.dh < h;
        if (!rows_inside) {
          for (int64_t ow = 0; ow < w.ow; ++ow) border(ow);
          continue;
        }
        for (int64_t ow = 0; ow < c0; ++ow) border(ow);
        for (int64_t ow = c1; ow < w.ow; ++ow) border(ow);
        // Interior windows, a tap at a time across the whole row of windows: the windows are
        // independent, so this loop has no dependency chain from tap to tap (one window's taps
        // in turn did), and without a branch on the winner (select_bits).
        if (c0 == c1) continue;
        const int64_t sw = w.sw, len = c1 - c0;  // locals, not reloaded after every store
        T* __restrict bv = best + c0;
        int64_t* __restrict ba = best_at + c0;
        for (int64_t i = 0; i < w.kh; ++i)
          for (int64_t j = 0; j < w.kw; ++j) {
            // The tap of window c0 (+ k·sw for window c0 + k): inside the plane, unlike the
            // tap of window 0, which padding puts before it.
            const int64_t first = (ih0 + i * w.dh) * wd + c0 * sw - w.pw + j * w.dw;
            const T* __restrict row = plane + first;
            if (i == 0 && j == 0) {
              for (int64_t k = 0; k < len; ++k) {
                bv[k] = row[k * sw];
                ba[k] = first + k * sw;
              }
              continue;
            }
            for (int64_t k = 0; k < len; ++k) {
              const T v = row[k * sw];
              const bool take = (v > bv[k]) | (v != v);
              bv[k] = select_bits(take, v, bv[k]);
              ba[k] = select_bits(take, first + k * sw, ba[k]);
            }
          }
      }
    }
  });
}

}  // namespace

void CpuBackend::im2col(const View& out, const View& x, const Window2d& w, double extra_value) {
  dispatch_floating(x.dtype, "im2col", [&](auto zero) { im2col_typed<decltype(zero)>(out, x, w, extra_value); });
}

void CpuBackend::col2im(const View& out, const View& cols, const Window2d& w) {
  dispatch_floating(out.dtype, "col2im", [&](auto zero) { col2im_typed<decltype(zero)>(out, cols, w); });
}

void CpuBackend::max_pool2d(const View& out, const View& argmax, const View& x, const Window2d& w) {
  dispatch_floating(x.dtype, "max_pool2d", [&](auto zero) { max_pool_typed<decltype(zero)>(out, argmax, x, w); });
}

void CpuBackend::plane_gather(const View& out, const View& x, const View& index) {
  const int64_t planes = x.shape[0] * x.shape[1], hw = x.numel() / std::max<int64_t>(planes, 1);
  const int64_t k = out.numel() / std::max<int64_t>(planes, 1);
  const auto* idx = static_cast<const int64_t*>(index.data);
  dispatch_floating(x.dtype, "plane_gather", [&](auto zero) {
    using T = decltype(zero);
    const T* src = static_cast<const T*>(x.data);
    T* dst = static_cast<T*>(out.data);
    parallel_for(planes, grain_for(k), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t e = p * k; e < (p + 1) * k; ++e) dst[e] = idx[e] < 0 ? T(0) : src[p * hw + idx[e]];
    });
  });
}

void CpuBackend::plane_scatter_add(const View& out, const View& index, const View& src) {
  const int64_t planes = out.shape[0] * out.shape[1], hw = out.numel() / std::max<int64_t>(planes, 1);
  const int64_t k = src.numel() / std::max<int64_t>(planes, 1);
  const auto* idx = static_cast<const int64_t*>(index.data);
  dispatch_floating(out.dtype, "plane_scatter_add", [&](auto zero) {
    using T = decltype(zero);
    const T* s = static_cast<const T*>(src.data);
    T* dst = static_cast<T*>(out.data);
    // One writer per plane; within it, additions in index order (thread-count independent).
    parallel_for(planes, grain_for(hw + k), [&](int64_t p0, int64_t p1) {
      std::fill(dst + p0 * hw, dst + p1 * hw, T(0));
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t e = p * k; e < (p + 1) * k; ++e)
          if (idx[e] >= 0) dst[p * hw + idx[e]] += s[e];  // -1: a window of padding only
    });
  });
}

}  // namespace tapeflow::cpu
