// SPDX-License-Identifier: MIT
// A whole LSTM layer as one kernel, forward and backward. Per step, only h·W_hhᵀ (forward) and
// dgates·W_hh (backward) must wait for the previous step; everything else is a single pass over
// the gates. W_hh's gradient is one GEMM over all T*B rows after the loop rather than T small
// ones, and the activations are saved by the forward, never recomputed.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../dispatch.hpp"
#include "cpu_backend.hpp"
#include "vector_math.hpp"

namespace tapeflow::cpu {

using detail::dispatch_floating;
using detail::View;

namespace {

// Row-major C = alpha·op(A)·op(B) + beta·C.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda,
              b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda,
              b, ldb, beta, c, ldc);
}

// --- the activations, over whole rows (vector_math.hpp) ----------------------------------------
using vec::map4;
using vec::sigmoid4;
using vec::tanh4;

void sigmoid_run(float* p, int64_t n) { map4(p, p, n, [](vec::F4 v) { return sigmoid4(v); }); }
void sigmoid_run(double* p, int64_t n) {
  for (int64_t k = 0; k < n; ++k) p[k] = 1.0 / (1.0 + std::exp(-p[k]));
}
void tanh_run(float* p, int64_t n) { map4(p, p, n, [](vec::F4 v) { return tanh4(v); }); }
void tanh_run(double* p, int64_t n) {
  for (int64_t k = 0; k < n; ++k) p[k] = std::tanh(p[k]);
}

/// One row of the cell: c = f·c_prev + i·g, tc = tanh(c), h = o·tc (gates already activated).
template <typename T>
void cell_run(T* __restrict c, T* __restrict tc, T* __restrict h, const T* i, const T* f, const T* g,
              const T* o, const T* c_prev, int64_t n) {
  for (int64_t k = 0; k < n; ++k) c[k] = f[k] * c_prev[k] + i[k] * g[k];
  for (int64_t k = 0; k < n; ++k) tc[k] = c[k];
  tanh_run(tc, n);
  for (int64_t k = 0; k < n; ++k) h[k] = o[k] * tc[k];
}

template <typename T>
void forward(const View& yv, const View& gv, const View& cv, const View& tv, const View& xgv, const View& biasv,
             const View& h0v, const View& c0v, const View& wv) {
  const int64_t steps = xgv.shape[0], batch = xgv.shape[1], hs = h0v.shape[1], g4 = 4 * hs;
  T* y = static_cast<T*>(yv.data);
  T* gates = static_cast<T*>(gv.data);
  T* cell = static_cast<T*>(cv.data);
  T* tcell = static_cast<T*>(tv.data);
  const T* h0 = static_cast<const T*>(h0v.data);
  const T* c0 = static_cast<const T*>(c0v.data);
  const T* w = static_cast<const T*>(wv.data);
  const int64_t bh = batch * hs, bg = batch * g4;
  // The input's share is the GEMM's starting C, so each step's h·W_hhᵀ lands on it (beta = 1).
  std::memcpy(gates, xgv.data, static_cast<std::size_t>(steps * bg) * sizeof(T));
  if (const T* bias = static_cast<const T*>(biasv.data))
    for (int64_t r = 0; r < steps * batch; ++r)
      for (int64_t j = 0; j < g4; ++j) gates[r * g4 + j] += bias[j];
  for (int64_t t = 0; t < steps; ++t) {
    const T* h_prev = t == 0 ? h0 : y + (t - 1) * bh;
    const T* c_prev = t == 0 ? c0 : cell + (t - 1) * bh;
    T* gt = gates + t * bg;
    if (hs > 0) gemm(false, true, batch, g4, hs, h_prev, hs, w, hs, T(1), gt, g4);
    T* ct = cell + t * bh;
    T* tct = tcell + t * bh;
    T* ht = y + t * bh;
    for (int64_t b = 0; b < batch; ++b) {
      T* gi = gt + b * g4;  // the row's gates i, f, g, o, hs each
      sigmoid_run(gi, 2 * hs);
      tanh_run(gi + 2 * hs, hs);
      sigmoid_run(gi + 3 * hs, hs);
      cell_run(ct + b * hs, tct + b * hs, ht + b * hs, gi, gi + hs, gi + 2 * hs, gi + 3 * hs, c_prev + b * hs, hs);
    }
  }
  std::memcpy(y + steps * bh, cell + (steps - 1) * bh, static_cast<std::size_t>(bh) * sizeof(T));
}

template <typename T>
void backward(const View& dxgv, const View& dbv, const View& dh0v, const View& dc0v, const View& dwv, const View& dyv,
              const View& yv, const View& gv, const View& cv, const View& tv, const View& h0v, const View& c0v,
              const View& wv) {
  const int64_t steps = gv.shape[0], batch = gv.shape[1], hs = h0v.shape[1], g4 = 4 * hs;
  const int64_t bh = batch * hs, bg = batch * g4;
  T* dxg = static_cast<T*>(dxgv.data);
  T* dh = static_cast<T*>(dh0v.data);  // dL/dh_t from the later steps, ends as dL/dh0
  T* dc = static_cast<T*>(dc0v.data);  // dL/dc_t, ends as dL/dc0
  const T* dy = static_cast<const T*>(dyv.data);
  const T* y = static_cast<const T*>(yv.data);
  const T* gates = static_cast<const T*>(gv.data);
  const T* cell = static_cast<const T*>(cv.data);
  const T* tcell = static_cast<const T*>(tv.data);
  const T* h0 = static_cast<const T*>(h0v.data);
  const T* c0 = static_cast<const T*>(c0v.data);
  const T* w = static_cast<const T*>(wv.data);
  std::fill(dh, dh + bh, T(0));
  std::memcpy(dc, dy + steps * bh, static_cast<std::size_t>(bh) * sizeof(T));  // c_T's own gradient
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* c_prev = t == 0 ? c0 : cell + (t - 1) * bh;
    const T* gt = gates + t * bg;
    const T* tct = tcell + t * bh;
    const T* dyt = dy + t * bh;
    T* dgt = dxg + t * bg;
    for (int64_t b = 0; b < batch; ++b) {
      const T* gi = gt + b * g4;
      T* di = dgt + b * g4;
      for (int64_t j = 0; j < hs; ++j) {
        const int64_t k = b * hs + j;
        const T i = gi[j], f = gi[hs + j], g = gi[2 * hs + j], o = gi[3 * hs + j], tc = tct[k];
        // h = o·tanh(c), c = f·c_prev + i·g; each gate's pre-activation through σ' = σ(1-σ),
        // tanh' = 1 - tanh².
        const T dht = dyt[k] + dh[k];
        const T dct = dc[k] + dht * o * (T(1) - tc * tc);
        di[j] = dct * g * i * (T(1) - i);
        di[hs + j] = dct * c_prev[k] * f * (T(1) - f);
        di[2 * hs + j] = dct * i * (T(1) - g * g);
        di[3 * hs + j] = dht * tc * o * (T(1) - o);
        dc[k] = dct * f;
      }
    }
    // dL/dh_{t-1} = dgates_t · W_hh.
    if (hs > 0) gemm(false, false, batch, hs, g4, dgt, g4, w, hs, T(0), dh, hs);
  }
  if (T* db = static_cast<T*>(dbv.data)) {
    std::fill(db, db + g4, T(0));
    for (int64_t r = 0; r < steps * batch; ++r)
      for (int64_t j = 0; j < g4; ++j) db[j] += dxg[r * g4 + j];
  }
  if (dwv.data == nullptr || hs == 0) return;
  // dW_hh = Σ_t dgates_tᵀ · h_{t-1}: h_1..h_{T-1} are y's first T-1 steps, contiguous, so all
  // steps but the first are one GEMM with K = (T-1)·B.
  T* dw = static_cast<T*>(dwv.data);
  if (steps > 1) gemm(true, false, g4, hs, (steps - 1) * batch, dxg + bg, g4, y, hs, T(0), dw, hs);
  gemm(true, false, g4, hs, batch, dxg, g4, h0, hs, steps > 1 ? T(1) : T(0), dw, hs);
}

}  // namespace

void CpuBackend::lstm_forward(const View& y, const View& gates, const View& cell, const View& tanh_cell,
                              const View& xg, const View& bias, const View& h0, const View& c0, const View& w_hh) {
  if (xg.shape[0] == 0 || xg.shape[1] == 0) return;
  dispatch_floating(y.dtype, "lstm", [&](auto zero) {
    forward<decltype(zero)>(y, gates, cell, tanh_cell, xg, bias, h0, c0, w_hh);
  });
}

void CpuBackend::lstm_backward(const View& dxg, const View& dbias, const View& dh0, const View& dc0,
                               const View& dw_hh, const View& dy, const View& y, const View& gates,
                               const View& cell, const View& tanh_cell, const View& h0, const View& c0,
                               const View& w_hh) {
  dispatch_floating(dy.dtype, "lstm backward", [&](auto zero) {
    using T = decltype(zero);
    if (gates.shape[0] == 0 || gates.shape[1] == 0) {
      std::fill_n(static_cast<T*>(dh0.data), dh0.numel(), T(0));
      std::fill_n(static_cast<T*>(dc0.data), dc0.numel(), T(0));
      if (dw_hh.data) std::fill_n(static_cast<T*>(dw_hh.data), dw_hh.numel(), T(0));
      if (dbias.data) std::fill_n(static_cast<T*>(dbias.data), dbias.numel(), T(0));
      return;
    }
    backward<T>(dxg, dbias, dh0, dc0, dw_hh, dy, y, gates, cell, tanh_cell, h0, c0, w_hh);
  });
}

}  // namespace tapeflow::cpu
