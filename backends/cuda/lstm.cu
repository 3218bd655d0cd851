// SPDX-License-Identifier: MIT
// One LSTM layer on the GPU, forward and backward, with backends/cpu/lstm.cpp's math. Per step,
// only h·W_hhᵀ (forward) and dgates·W_hh (backward) must wait for the previous step: each is a
// cuBLAS GEMM, and everything else in the step is one elementwise kernel. W_hh's gradient is
// one GEMM over all T·B rows after the loop, and the saved activations are never recomputed.
#include <algorithm>

#include "common.cuh"

namespace tapeflow::cuda {

using detail::View;

namespace {

// Row-major C = op(A)·op(B) + beta·C with C [m, n]. cuBLAS is column-major, where a row-major
// matrix reads as its transpose: it computes Cᵀ = op(B)ᵀ·op(A)ᵀ, so B goes first.
void gemm(cublasHandle_t blas, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const float one = 1.0f;
  check(cublasSgemm_64(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, b, ldb,
                       a, lda, &beta, c, ldc),
        "lstm: cublasSgemm");
}
void gemm(cublasHandle_t blas, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  const double one = 1.0;
  check(cublasDgemm_64(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, b, ldb,
                       a, lda, &beta, c, ldc),
        "lstm: cublasDgemm");
}

template <typename T>
void copy_async(T* dst, const T* src, int64_t n, cudaStream_t stream) {
  if (n > 0)
    check(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyDeviceToDevice, stream),
          "lstm: copy");
}
template <typename T>
void zero_async(void* dst, int64_t n, cudaStream_t stream) {
  if (n > 0) check(cudaMemsetAsync(dst, 0, static_cast<std::size_t>(n) * sizeof(T), stream), "lstm: zero");
}

__device__ inline float exp_of(float v) { return expf(v); }
__device__ inline double exp_of(double v) { return exp(v); }
__device__ inline float tanh_of(float v) { return tanhf(v); }
__device__ inline double tanh_of(double v) { return tanh(v); }

/// Two forms so that exp never overflows; NaN stays NaN.
template <typename T>
__device__ T sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + exp_of(-v));
  const T e = exp_of(v);
  return e / (T(1) + e);
}

/// gates = xg + bias (bias [4H] repeated over the T·B rows): the starting C of each step's GEMM.
template <typename T>
__global__ void add_bias_kernel(T* __restrict gates, const T* __restrict xg, const T* __restrict bias, int64_t total,
                                int64_t g4) {
  TAPEFLOW_GRID_STRIDE(e, total) gates[e] = xg[e] + bias[e % g4];
}

/// One step's cell, element k = (b, j) of [B, H]: activates the row's four gates in place (i, f,
/// o sigmoid, g tanh; each gate a block of H in the row of 4H), then c = f·c_prev + i·g,
/// tanh(c), and h = o·tanh(c).
template <typename T>
__global__ void cell_forward_kernel(T* __restrict gates, T* __restrict cell, T* __restrict tanh_cell,
                                    T* __restrict h, const T* __restrict c_prev, int64_t bh, int64_t hs) {
  TAPEFLOW_GRID_STRIDE(k, bh) {
    const int64_t b = k / hs, j = k - b * hs;
    T* g_row = gates + b * 4 * hs + j;
    const T i = sigmoid(g_row[0]), f = sigmoid(g_row[hs]), g = tanh_of(g_row[2 * hs]), o = sigmoid(g_row[3 * hs]);
    g_row[0] = i;
    g_row[hs] = f;
    g_row[2 * hs] = g;
    g_row[3 * hs] = o;
    const T c = f * c_prev[k] + i * g;
    const T tc = tanh_of(c);
    cell[k] = c;
    tanh_cell[k] = tc;
    h[k] = o * tc;
  }
}

/// One step back, element k = (b, j): with dh the gradient reaching h_t from later steps and dc
/// that reaching c_t, writes the pre-activation gradients of the four gates (σ' = σ(1 − σ),
/// tanh' = 1 − tanh², from the saved activations) and leaves dc = dL/dc_{t-1}. Same
/// expressions, in the same order, as the CPU.
template <typename T>
__global__ void cell_backward_kernel(T* __restrict dgates, T* __restrict dc, const T* __restrict dh,
                                     const T* __restrict dy, const T* __restrict gates,
                                     const T* __restrict tanh_cell, const T* __restrict c_prev, int64_t bh,
                                     int64_t hs) {
  TAPEFLOW_GRID_STRIDE(k, bh) {
    const int64_t b = k / hs, j = k - b * hs;
    const T* g_row = gates + b * 4 * hs + j;
    T* d_row = dgates + b * 4 * hs + j;
    const T i = g_row[0], f = g_row[hs], g = g_row[2 * hs], o = g_row[3 * hs], tc = tanh_cell[k];
    const T dht = dy[k] + dh[k];
    const T dct = dc[k] + dht * o * (T(1) - tc * tc);
    d_row[0] = dct * g * i * (T(1) - i);
    d_row[hs] = dct * c_prev[k] * f * (T(1) - f);
    d_row[2 * hs] = dct * i * (T(1) - g * g);
    d_row[3 * hs] = dht * tc * o * (T(1) - o);
    dc[k] = dct * f;
  }
}

/// Column sums of x [rows, cols], first per chunk of `chunk` rows (partial [chunks, cols]), in
/// double; then column_sums_finish adds the chunks in order. Two passes rather than atomics, so
/// the result does not vary from run to run; chunks give the GPU work when cols is small.
template <typename T>
__global__ void column_sums_partial(double* __restrict partial, const T* __restrict x, int64_t rows, int64_t cols,
                                    int64_t chunk, int64_t chunks) {
  TAPEFLOW_GRID_STRIDE(e, chunks * cols) {
    const int64_t ch = e / cols, j = e - ch * cols;
    const int64_t r0 = ch * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
    double s = 0.0;
    for (int64_t r = r0; r < r1; ++r) s += static_cast<double>(x[r * cols + j]);
    partial[e] = s;
  }
}
template <typename T>
__global__ void column_sums_finish(T* __restrict out, const double* __restrict partial, int64_t cols,
                                   int64_t chunks) {
  TAPEFLOW_GRID_STRIDE(j, cols) {
    double s = 0.0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += partial[ch * cols + j];
    out[j] = static_cast<T>(s);
  }
}

template <typename T>
void column_sums(int device, cudaStream_t stream, T* out, const T* x, int64_t rows, int64_t cols) {
  // About 64K threads in the first pass, each summing at least 64 rows.
  const int64_t want = std::max<int64_t>(1, (int64_t{1} << 16) / cols);
  const int64_t chunk = std::max<int64_t>(64, (rows + want - 1) / want);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  Scratch partial(device, static_cast<std::size_t>(chunks * cols) * sizeof(double));
  column_sums_partial<T><<<blocks_for(chunks * cols), kThreads, 0, stream>>>(partial.as<double>(), x, rows, cols,
                                                                             chunk, chunks);
  check_launch("lstm backward: bias gradient");
  column_sums_finish<T><<<blocks_for(cols), kThreads, 0, stream>>>(out, partial.as<double>(), cols, chunks);
  check_launch("lstm backward: bias gradient");
}

template <typename T>
void forward(const Context& ctx, const View& yv, const View& gv, const View& cv, const View& tv, const View& xgv,
             const View& biasv, const View& h0v, const View& c0v, const View& wv) {
  const int64_t steps = xgv.shape[0], batch = xgv.shape[1], hs = h0v.shape[1], g4 = 4 * hs;
  const int64_t bh = batch * hs, bg = batch * g4;
  if (hs == 0) return;  // every operand but h0/c0's batch is empty
  T* y = static_cast<T*>(yv.data);
  T* gates = static_cast<T*>(gv.data);
  T* cell = static_cast<T*>(cv.data);
  T* tcell = static_cast<T*>(tv.data);
  const T* xg = static_cast<const T*>(xgv.data);
  const T* bias = static_cast<const T*>(biasv.data);
  const T* h0 = static_cast<const T*>(h0v.data);
  const T* c0 = static_cast<const T*>(c0v.data);
  const T* w = static_cast<const T*>(wv.data);
  // The input's share is the GEMM's starting C, so each step's h·W_hhᵀ lands on it (beta = 1).
  if (bias) {
    add_bias_kernel<T><<<blocks_for(steps * bg), kThreads, 0, ctx.stream>>>(gates, xg, bias, steps * bg, g4);
    check_launch("lstm");
  } else {
    copy_async(gates, xg, steps * bg, ctx.stream);
  }
  for (int64_t t = 0; t < steps; ++t) {
    const T* h_prev = t == 0 ? h0 : y + (t - 1) * bh;
    const T* c_prev = t == 0 ? c0 : cell + (t - 1) * bh;
    T* gt = gates + t * bg;
    gemm(ctx.blas, false, true, batch, g4, hs, h_prev, hs, w, hs, T(1), gt, g4);
    cell_forward_kernel<T><<<blocks_for(bh), kThreads, 0, ctx.stream>>>(gt, cell + t * bh, tcell + t * bh,
                                                                        y + t * bh, c_prev, bh, hs);
    check_launch("lstm");
  }
  copy_async(y + steps * bh, cell + (steps - 1) * bh, bh, ctx.stream);  // y's last slot: c_T
}

template <typename T>
void backward(const Context& ctx, int device, const View& dxgv, const View& dbv, const View& dh0v, const View& dc0v,
              const View& dwv, const View& dyv, const View& yv, const View& gv, const View& cv, const View& tv,
              const View& h0v, const View& c0v, const View& wv) {
  const int64_t steps = gv.shape[0], batch = gv.shape[1], hs = h0v.shape[1], g4 = 4 * hs;
  const int64_t bh = batch * hs, bg = batch * g4;
  if (hs == 0) return;  // every output is empty
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
  zero_async<T>(dh, bh, ctx.stream);
  copy_async(dc, dy + steps * bh, bh, ctx.stream);  // c_T's own gradient
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* c_prev = t == 0 ? c0 : cell + (t - 1) * bh;
    T* dgt = dxg + t * bg;
    cell_backward_kernel<T><<<blocks_for(bh), kThreads, 0, ctx.stream>>>(dgt, dc, dh, dy + t * bh, gates + t * bg,
                                                                         tcell + t * bh, c_prev, bh, hs);
    check_launch("lstm backward");
    // dL/dh_{t-1} = dgates_t · W_hh (overwrites dh, which the kernel above has read).
    gemm(ctx.blas, false, false, batch, hs, g4, dgt, g4, w, hs, T(0), dh, hs);
  }
  if (T* db = static_cast<T*>(dbv.data)) column_sums(device, ctx.stream, db, dxg, steps * batch, g4);
  if (dwv.data == nullptr) return;
  // dW_hh = Σ_t dgates_tᵀ · h_{t-1}: h_1..h_{T-1} are y's first T-1 steps, contiguous, so all
  // steps but the first are one GEMM with K = (T-1)·B; h0 lives elsewhere and adds its own.
  T* dw = static_cast<T*>(dwv.data);
  if (steps > 1) gemm(ctx.blas, true, false, g4, hs, (steps - 1) * batch, dxg + bg, g4, y, hs, T(0), dw, hs);
  gemm(ctx.blas, true, false, g4, hs, batch, dxg, g4, h0, hs, steps > 1 ? T(1) : T(0), dw, hs);
}

}  // namespace

void CudaBackend::lstm_forward(const View& y, const View& gates, const View& cell, const View& tanh_cell,
                               const View& xg, const View& bias, const View& h0, const View& c0, const View& w_hh) {
  // As on the CPU: nothing to do without steps or rows (nn's LSTM refuses such inputs).
  if (xg.shape[0] == 0 || xg.shape[1] == 0) return;
  const Context& ctx = context(index_);
  dispatch_floating(y.dtype, "lstm", [&](auto zero) {
    forward<decltype(zero)>(ctx, y, gates, cell, tanh_cell, xg, bias, h0, c0, w_hh);
  });
}

void CudaBackend::lstm_backward(const View& dxg, const View& dbias, const View& dh0, const View& dc0,
                                const View& dw_hh, const View& dy, const View& y, const View& gates,
                                const View& cell, const View& tanh_cell, const View& h0, const View& c0,
                                const View& w_hh) {
  const Context& ctx = context(index_);
  dispatch_floating(dy.dtype, "lstm backward", [&](auto zero) {
    using T = decltype(zero);
    if (gates.shape[0] == 0 || gates.shape[1] == 0) {  // the CPU's rule: every gradient zero
      zero_async<T>(dh0.data, dh0.numel(), ctx.stream);
      zero_async<T>(dc0.data, dc0.numel(), ctx.stream);
      if (dw_hh.data) zero_async<T>(dw_hh.data, dw_hh.numel(), ctx.stream);
      if (dbias.data) zero_async<T>(dbias.data, dbias.numel(), ctx.stream);
      return;
    }
    backward<T>(ctx, index_, dxg, dbias, dh0, dc0, dw_hh, dy, y, gates, cell, tanh_cell, h0, c0, w_hh);
  });
}

}  // namespace tapeflow::cuda
