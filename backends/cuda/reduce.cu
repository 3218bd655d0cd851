// SPDX-License-Identifier: MIT
// Reductions (sum, max, min, argmax, argmin over any axes), softmax, log-softmax and the fused
// cross-entropy. One block per output; its threads stride over the reduced elements and meet in
// shared memory. The results follow cpu/reduce.cpp: floating sums accumulate in double, int64
// sums wrap, a NaN wins max and min (the first NaN for arg*), ties go to the first index.
#include <algorithm>
#include <cstdint>

#include "common.cuh"

namespace tapeflow::cuda {

using detail::ReduceKind;
using detail::SoftmaxKind;
using detail::View;

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename A>
__device__ A accumulate(A sum, A v) {
  if constexpr (std::is_same_v<A, int64_t>) return static_cast<A>(static_cast<uint64_t>(sum) + static_cast<uint64_t>(v));
  else return sum + v;
}

template <typename T>
__device__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// A reduction's running state; plain data so it can live in shared memory.
template <typename T>
struct Partial {
  Acc<T> sum;
  T best;
  int64_t index;  // of best in the reduced space; -1 before the first element
};

template <typename T>
__device__ Partial<T> empty_partial() {
  Partial<T> p;
  p.sum = 0;
  p.best = T{};
  p.index = -1;
  return p;
}

// Merging in any order gives the sequential walk's answer: the first NaN if there is one,
// otherwise the first index of the extreme value.
template <typename T>
__device__ Partial<T> merge(ReduceKind kind, Partial<T> a, const Partial<T>& b) {
  if (kind == ReduceKind::Sum) {
    a.sum = accumulate(a.sum, b.sum);
    return a;
  }
  if (b.index < 0) return a;
  if (a.index < 0) return b;
  const bool nan_a = is_nan(a.best), nan_b = is_nan(b.best);
  bool take_b;
  if (nan_a || nan_b) take_b = nan_a && nan_b ? b.index < a.index : nan_b;
  else if (a.best == b.best) take_b = b.index < a.index;
  else take_b = (kind == ReduceKind::Max || kind == ReduceKind::ArgMax) ? b.best > a.best : b.best < a.best;
  return take_b ? b : a;
}

// The reduced space of x (row-major over the reduced dims, as the CPU numbers it) and the kept
// dims that locate each output.
struct Plan {
  int kept_rank = 0, red_rank = 0;
  int64_t kept_shape[kMaxDims], kept_stride[kMaxDims], out_stride[kMaxDims];
  int64_t red_shape[kMaxDims], red_stride[kMaxDims];
  int64_t outputs = 1, inner = 1;

  Plan(const View& out, const View& x, const bool* reduced) {
    for (int d = 0; d < x.rank; ++d) {
      if (reduced[d]) {
        inner *= x.shape[d];
        if (x.shape[d] == 1) continue;
        // Merging with the previous reduced dim keeps the row-major numbering.
        if (red_rank > 0 && red_stride[red_rank - 1] == x.strides[d] * x.shape[d]) {
          red_shape[red_rank - 1] *= x.shape[d];
          red_stride[red_rank - 1] = x.strides[d];
        } else {
          red_shape[red_rank] = x.shape[d];
          red_stride[red_rank++] = x.strides[d];
        }
      } else {
        kept_shape[kept_rank] = x.shape[d];
        kept_stride[kept_rank] = x.strides[d];
        out_stride[kept_rank++] = out.strides[d];
        outputs *= x.shape[d];
      }
    }
  }

  __device__ void locate(int64_t o, int64_t& x_off, int64_t& out_off) const {
    x_off = out_off = 0;
    for (int d = kept_rank - 1; d >= 0; --d) {
      const int64_t c = o % kept_shape[d];
      o /= kept_shape[d];
      x_off += c * kept_stride[d];
      out_off += c * out_stride[d];
    }
  }
  __device__ int64_t inner_offset(int64_t i) const {
    if (red_rank == 1) return i * red_stride[0];
    int64_t off = 0;
    for (int d = red_rank - 1; d >= 0; --d) {
      off += (i % red_shape[d]) * red_stride[d];
      i /= red_shape[d];
    }
    return off;
  }
};

// Block-wide merge of each thread's partial; thread 0 gets the result.
template <typename T>
__device__ Partial<T> block_merge(ReduceKind kind, Partial<T> mine) {
  __shared__ Partial<T> shared[kThreads];
  shared[threadIdx.x] = mine;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] = merge(kind, shared[threadIdx.x], shared[threadIdx.x + half]);
    __syncthreads();
  }
  Partial<T> r = shared[0];
  __syncthreads();  // shared is reused by the next output this block takes
  return r;
}

template <typename T>
__device__ void store(ReduceKind kind, void* out, int64_t off, const Partial<T>& r) {
  switch (kind) {
    case ReduceKind::Sum:
      if constexpr (std::is_same_v<T, bool>) static_cast<int64_t*>(out)[off] = r.sum;
      else static_cast<T*>(out)[off] = static_cast<T>(r.sum);
      return;
    case ReduceKind::Max:
    case ReduceKind::Min: static_cast<T*>(out)[off] = r.best; return;
    case ReduceKind::ArgMax:
    case ReduceKind::ArgMin: static_cast<int64_t*>(out)[off] = r.index; return;
  }
}

// Output o's reduced elements [part·chunk, (part+1)·chunk) go to one block. With one part the
// block stores the result; with several, partials[o·parts + part] keeps it for finish_reduce.
template <typename T>
__global__ void reduce_kernel(ReduceKind kind, Plan plan, const T* x, void* out, int64_t parts, int64_t chunk,
                              Partial<T>* partials) {
  for (int64_t job = blockIdx.x; job < plan.outputs * parts; job += gridDim.x) {
    const int64_t o = job / parts, part = job % parts;
    int64_t x_off, out_off;
    plan.locate(o, x_off, out_off);
    const int64_t begin = part * chunk, end = min(plan.inner, begin + chunk);
    Partial<T> mine = empty_partial<T>();
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const T v = x[x_off + plan.inner_offset(i)];
      Partial<T> one;
      one.sum = static_cast<Acc<T>>(v);
      one.best = v;
      one.index = i;
      mine = merge(kind, mine, one);
    }
    const Partial<T> r = block_merge(kind, mine);
    if (threadIdx.x == 0) {
      if (parts == 1) store(kind, out, out_off, r);
      else partials[job] = r;
    }
  }
}

template <typename T>
__global__ void finish_reduce(ReduceKind kind, Plan plan, int64_t parts, const Partial<T>* partials, void* out) {
  TAPEFLOW_GRID_STRIDE(o, plan.outputs) {
    int64_t x_off, out_off;
    plan.locate(o, x_off, out_off);
    Partial<T> r = empty_partial<T>();
    for (int64_t p = 0; p < parts; ++p) r = merge(kind, r, partials[o * parts + p]);  // in order: deterministic
    store(kind, out, out_off, r);
  }
}

template <typename T>
void reduce_typed(int device, ReduceKind kind, const View& out, const View& x, const bool* reduced) {
  const Plan plan(out, x, reduced);
  if (plan.outputs == 0) return;
  Context& c = context(device);
  // Few outputs over many elements (a full sum): split each output's elements over blocks so
  // the whole GPU works, then merge the parts in order.
  int64_t parts = 1;
  if (plan.outputs < 1024 && plan.inner >= 64 * kThreads)
    parts = std::min<int64_t>(plan.inner / (16 * kThreads), std::max<int64_t>(1, 2048 / plan.outputs));
  const int64_t chunk = parts > 1 ? (plan.inner + parts - 1) / parts : std::max<int64_t>(plan.inner, 1);
  Scratch partials(device, parts > 1 ? static_cast<std::size_t>(plan.outputs * parts) * sizeof(Partial<T>) : 0);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(plan.outputs * parts, 65535 * 16));
  reduce_kernel<T><<<blocks, kThreads, 0, c.stream>>>(kind, plan, static_cast<const T*>(x.data), out.data, parts,
                                                      chunk, partials.as<Partial<T>>());
  check_launch("reduce");
  if (parts > 1) {
    finish_reduce<T><<<blocks_for(plan.outputs), kThreads, 0, c.stream>>>(kind, plan, parts,
                                                                          partials.as<Partial<T>>(), out.data);
    check_launch("reduce");
  }
}

// --- softmax and cross-entropy: one block per row ---

template <typename T>
__device__ T nan_ignoring_max(T a, T b) { return a < b ? b : a; }  // std::max's rule, as the CPU uses

// Block-wide max (the CPU's std::max rule: a NaN never replaces the running maximum) and
// double sum; every thread gets the result.
template <typename T>
__device__ T block_max(T v) {
  __shared__ T shared[kThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] = nan_ignoring_max(shared[threadIdx.x], shared[threadIdx.x + half]);
    __syncthreads();
  }
  const T r = shared[0];
  __syncthreads();
  return r;
}
__device__ double block_sum(double v) {
  __shared__ double shared[kThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

__device__ inline bool finite(float v) { return isfinite(v); }
__device__ inline bool finite(double v) { return isfinite(v); }

template <typename T>
__global__ void softmax_kernel(SoftmaxKind kind, const T* x, T* y, int64_t rows, int64_t n, int64_t inner) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    const T* row = x + base;
    T* dst = y + base;
    T m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = nan_ignoring_max(m, row[i * inner]);
    m = block_max(m);
    if (!finite(m)) m = 0;  // all -inf (or inf): let exp produce nan/0 honestly, as the CPU does
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += exp(static_cast<double>(row[i * inner] - m));
    s = block_sum(s);
    if (kind == SoftmaxKind::Softmax) {
      const double inv = 1.0 / s;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        dst[i * inner] = static_cast<T>(exp(static_cast<double>(row[i * inner] - m)) * inv);
    } else {
      const double log_s = log(s);
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        dst[i * inner] = static_cast<T>(static_cast<double>(row[i * inner]) - static_cast<double>(m) - log_s);
    }
  }
}

// Per row: logsumexp(row) - row[target], in double.
template <typename T>
__global__ void cross_entropy_rows(const T* x, const int64_t* targets, double* losses, int64_t rows, int64_t classes) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * classes;
    T m = row[0];
    for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) m = nan_ignoring_max(m, row[c]);
    m = block_max(m);
    double s = 0;
    for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) s += exp(static_cast<double>(row[c] - m));
    s = block_sum(s);
    if (threadIdx.x == 0) losses[r] = log(s) + static_cast<double>(m) - static_cast<double>(row[targets[r]]);
  }
}

template <typename T>
__global__ void mean_of(const double* losses, int64_t rows, T* out) {
  double s = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) s += losses[r];
  s = block_sum(s);
  if (threadIdx.x == 0) *out = static_cast<T>(rows ? s / static_cast<double>(rows) : 0.0);
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(std::clamp<int64_t>(rows, 1, 65535 * 16)); }

}  // namespace

void CudaBackend::reduce(ReduceKind kind, const View& out, const View& x, const bool* reduced) {
  dispatch_all(x.dtype, [&](auto zero) { reduce_typed<decltype(zero)>(index_, kind, out, x, reduced); });
}

void CudaBackend::softmax(SoftmaxKind kind, const View& out, const View& x, int dim) {
  dispatch_floating(x.dtype, "softmax", [&](auto zero) {
    using T = decltype(zero);
    const int64_t outer = x.outer(dim), n = x.shape[dim], inner = x.inner(dim);
    const int64_t rows = outer * inner;
    if (rows == 0 || n == 0) return;
    softmax_kernel<T><<<row_blocks(rows), kThreads, 0, context(index_).stream>>>(
        kind, static_cast<const T*>(x.data), static_cast<T*>(out.data), rows, n, inner);
    check_launch(kind == SoftmaxKind::Softmax ? "softmax" : "log_softmax");
  });
}

void CudaBackend::cross_entropy(const View& out, const View& logits, const View& targets) {
  dispatch_floating(logits.dtype, "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    const int64_t rows = logits.shape[0], classes = logits.shape[1];
    Context& c = context(index_);
    Scratch losses(index_, static_cast<std::size_t>(rows) * sizeof(double));
    if (rows > 0) {
      cross_entropy_rows<T><<<row_blocks(rows), kThreads, 0, c.stream>>>(
          static_cast<const T*>(logits.data), static_cast<const int64_t*>(targets.data), losses.as<double>(), rows,
          classes);
      check_launch("cross_entropy");
    }
    mean_of<T><<<1, kThreads, 0, c.stream>>>(losses.as<double>(), rows, static_cast<T*>(out.data));
    check_launch("cross_entropy");
  });
}

}  // namespace tapeflow::cuda
