// SPDX-License-Identifier: MIT
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../dispatch.hpp"
#include "cpu_backend.hpp"
#include "parallel.hpp"
#include "../../tensor/shape.hpp"

namespace tapeflow::cpu {

using detail::dispatch_all;
using detail::dispatch_floating;
using detail::ReduceKind;
using detail::SoftmaxKind;
using detail::View;

namespace {

// Sums accumulate in double (float32 sums of 1e6 terms stay accurate to ~1e-7).
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// NOTE: int64 sums wrap around, as int64 addition does (elementwise.cpp): signed overflow is
// undefined behaviour in C++, so the addition is done on uint64.
template <typename A>
A accumulate(A sum, A v) {
  if constexpr (std::is_same_v<A, int64_t>) return static_cast<A>(static_cast<uint64_t>(sum) + static_cast<uint64_t>(v));
  else return sum + v;
}

// How a reduction walks x. Dims of size 1 are dropped; reduced dims next to each other in
// memory are merged. Sums may visit the reduced elements in any order, so their reduced dims are
// put in memory order first; max, min and the arg kinds keep x's logical order, which decides
// ties (the first wins) and argmax's flat index.
struct ReducePlan {
  int kept_rank = 0, red_rank = 0;
  int64_t kept_shape[kMaxDims], kept_stride[kMaxDims];  // x's strides, elements
  int64_t out_stride[kMaxDims];
  int64_t red_shape[kMaxDims], red_stride[kMaxDims];
  int64_t outputs = 1, inner = 1;
  int lane = -1;  // a kept dim walked as a vector of outputs (see reduce_lanes); -1: one at a time

  ReducePlan(const View& out, const View& x, const bool* reduced, bool any_order) {
    int red_dims[kMaxDims];
    for (int d = 0; d < x.rank; ++d) {
      if (x.shape[d] == 1) continue;
      if (reduced[d]) {
        red_dims[red_rank++] = d;
        inner *= x.shape[d];
      } else {
        kept_shape[kept_rank] = x.shape[d];
        kept_stride[kept_rank] = x.strides[d];
        out_stride[kept_rank++] = out.strides[d];
        outputs *= x.shape[d];
      }
    }
    if (any_order)  // largest stride first; stable, so equal strides keep their order
      std::stable_sort(red_dims, red_dims + red_rank, [&](int a, int b) { return x.strides[a] > x.strides[b]; });
    int merged = 0;
    for (int k = 0; k < red_rank; ++k) {
      const int d = red_dims[k];
      if (merged > 0 && red_stride[merged - 1] == x.strides[d] * x.shape[d]) {
        red_shape[merged - 1] *= x.shape[d];
        red_stride[merged - 1] = x.strides[d];
        continue;
      }
      red_shape[merged] = x.shape[d];
      red_stride[merged++] = x.strides[d];
    }
    red_rank = merged;
    if (red_rank == 0) {  // nothing left to reduce: each output is one element
      red_rank = 1;
      red_shape[0] = 1;
      red_stride[0] = 0;
    }
    // Outputs side by side in x's memory (sum(x, 0) of a row-major x: a bias's gradient) are
    // reduced together, each reduced element of x then feeding a contiguous vector of
    // accumulators; otherwise each output walks its own elements, which are then the closer.
    int64_t densest_reduced = red_stride[0];
    for (int k = 0; k < red_rank; ++k)
      if (red_shape[k] > 1) densest_reduced = std::min(densest_reduced, red_stride[k]);
    for (int d = 0; d < kept_rank; ++d)
      if (kept_stride[d] < densest_reduced && (lane < 0 || kept_stride[d] <= kept_stride[lane])) lane = d;
    if (inner == 1) lane = -1;
  }

  // Offsets (elements) in x and in out of the outputs numbered o, the lane dim left at 0.
  void locate(int64_t o, int64_t& x_off, int64_t& out_off) const {
    x_off = out_off = 0;
    for (int d = kept_rank - 1; d >= 0; --d) {
      if (d == lane) continue;
      int64_t c = o % kept_shape[d];
      o /= kept_shape[d];
      x_off += c * kept_stride[d];
      out_off += c * out_stride[d];
    }
  }

  /// Calls run(offset, flat index, count, stride) for the runs along the last reduced dim that
  /// cover the reduced elements [begin, end), in order; offsets and strides in elements.
  template <typename Run>
  void for_runs(int64_t begin, int64_t end, Run&& run) const {
    const int last = red_rank - 1;
    int64_t coord[kMaxDims] = {};
    int64_t rest = begin;
    for (int d = last; d >= 0; --d) {
      coord[d] = rest % red_shape[d];
      rest /= red_shape[d];
    }
    for (int64_t i = begin; i < end;) {
      int64_t off = 0;
      for (int d = 0; d <= last; ++d) off += coord[d] * red_stride[d];
      const int64_t n = std::min(red_shape[last] - coord[last], end - i);
      run(off, i, n, red_stride[last]);
      i += n;
      coord[last] = 0;
      for (int d = last - 1; d >= 0; --d) {
        if (++coord[d] < red_shape[d]) break;
        coord[d] = 0;
      }
    }
  }
};

// An accumulator per reduction kind, fixed at compile time so the loops below carry no switch.
// add(v, i) takes x's element with flat index i in the reduced space; add_run(p, stride, n, i)
// takes n of them at once.
template <typename T>
struct SumOf {
  Acc<T> sum = 0;
  void add(T v, int64_t) { sum = accumulate(sum, static_cast<Acc<T>>(v)); }
  void add_run(const T* p, int64_t st, int64_t n, int64_t) {
    if constexpr (std::is_floating_point_v<T>) {
      if (st == 1) {
        // Eight partial sums: one chain of dependent adds would bound the loop by the add's
        // latency. The order of the additions is fixed, so results stay deterministic.
        Acc<T> lane[8] = {};
        int64_t k = 0;
        for (; k + 8 <= n; k += 8)
          for (int l = 0; l < 8; ++l) lane[l] += static_cast<Acc<T>>(p[k + l]);
        Acc<T> s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
        for (; k < n; ++k) s += static_cast<Acc<T>>(p[k]);
        sum += s;
        return;
      }
    }
    for (int64_t k = 0; k < n; ++k) add(p[k * st], 0);
  }
  void merge(const SumOf& o) { sum = accumulate(sum, o.sum); }
};

// Max (Greater = true) or min. NaN wins and stays, so a NaN anywhere shows in the result as in
// NumPy; otherwise the first extremum wins ties, which fixes argmax's index.
template <typename T, bool Greater>
struct ExtremumOf {
  T best{};
  int64_t index = -1;
  bool better(T v) const {
    return index < 0 || (Greater ? v > best : v < best) || (v != v && best == best);
  }
  void add(T v, int64_t i) {
    if (better(v)) best = v, index = i;
  }
  void add_run(const T* p, int64_t st, int64_t n, int64_t first) {
    for (int64_t k = 0; k < n; ++k) add(p[k * st], first + k);
  }
  void merge(const ExtremumOf& o) {  // o covers later elements
    if (o.index >= 0 && (index < 0 || (Greater ? o.best > best : o.best < best) || (o.best != o.best && best == best)))
      best = o.best, index = o.index;
  }
};

template <typename T, typename A>
void store(ReduceKind kind, void* out, int64_t at, const A& a) {
  if constexpr (std::is_same_v<A, SumOf<T>>) {
    if constexpr (std::is_same_v<T, bool>) static_cast<int64_t*>(out)[at] = a.sum;
    else static_cast<T*>(out)[at] = static_cast<T>(a.sum);
  } else if (kind == ReduceKind::ArgMax || kind == ReduceKind::ArgMin) {
    static_cast<int64_t*>(out)[at] = a.index;
  } else {
    static_cast<T*>(out)[at] = a.best;
  }
}

// Outputs along the lane dim, kLanes at a time: for each reduced element in order, every
// output of the block takes its element, so each output still sees its elements in order.
template <typename T, typename A>
void reduce_lanes(ReduceKind kind, const ReducePlan& plan, const View& out, const T* xp) {
  constexpr int64_t kLanes = 256;
  const int64_t len = plan.kept_shape[plan.lane], xs = plan.kept_stride[plan.lane], os = plan.out_stride[plan.lane];
  const int64_t blocks = (len + kLanes - 1) / kLanes, lines = plan.outputs / len;
  parallel_for(lines * blocks, std::max<int64_t>(1, kParallelGrain / (plan.inner * kLanes)), [&](int64_t b, int64_t e) {
    A acc[kLanes];
    for (int64_t item = b; item < e; ++item) {
      int64_t x_off, out_off;
      plan.locate(item / blocks, x_off, out_off);
      const int64_t j0 = item % blocks * kLanes, n = std::min(kLanes, len - j0);
      std::fill(acc, acc + n, A{});
      const T* base = xp + x_off + j0 * xs;
      plan.for_runs(0, plan.inner, [&](int64_t off, int64_t i, int64_t count, int64_t st) {
        for (int64_t r = 0; r < count; ++r) {
          const T* p = base + off + r * st;
          if (xs == 1) {
            for (int64_t j = 0; j < n; ++j) acc[j].add(p[j], i + r);
          } else {
            for (int64_t j = 0; j < n; ++j) acc[j].add(p[j * xs], i + r);
          }
        }
      });
      for (int64_t j = 0; j < n; ++j) store<T>(kind, out.data, out_off + (j0 + j) * os, acc[j]);
    }
  });
}

template <typename T, typename A>
void reduce_with(ReduceKind kind, const ReducePlan& plan, const View& out, const T* xp) {
  if (plan.lane >= 0) return reduce_lanes<T, A>(kind, plan, out, xp);
  if (plan.outputs == 1) {
    // One output (a full reduction): split the reduced space across threads, then merge the
    // parts in order.
    std::vector<A> parts(max_threads());  // num_threads() may change meanwhile
    parallel_chunks(plan.inner, kParallelGrain, [&](int c, int64_t b, int64_t e) {
      plan.for_runs(b, e, [&](int64_t off, int64_t i, int64_t n, int64_t st) { parts[c].add_run(xp + off, st, n, i); });
    });
    A total;
    for (const A& p : parts) total.merge(p);
    return store<T>(kind, out.data, 0, total);
  }
  parallel_for(plan.outputs, std::max<int64_t>(1, kParallelGrain / plan.inner), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t x_off, out_off;
      plan.locate(o, x_off, out_off);
      A a;
      plan.for_runs(0, plan.inner, [&](int64_t off, int64_t i, int64_t n, int64_t st) {
        a.add_run(xp + x_off + off, st, n, i);
      });
      store<T>(kind, out.data, out_off, a);
    }
  });
}

template <typename T>
void reduce_typed(ReduceKind kind, const View& out, const View& x, const bool* reduced) {
  const ReducePlan plan(out, x, reduced, kind == ReduceKind::Sum);
  const T* xp = static_cast<const T*>(x.data);
  switch (kind) {
    case ReduceKind::Sum: return reduce_with<T, SumOf<T>>(kind, plan, out, xp);
    case ReduceKind::Max:
    case ReduceKind::ArgMax: return reduce_with<T, ExtremumOf<T, true>>(kind, plan, out, xp);
    case ReduceKind::Min:
    case ReduceKind::ArgMin: return reduce_with<T, ExtremumOf<T, false>>(kind, plan, out, xp);
  }
}

}  // namespace

void CpuBackend::reduce(ReduceKind kind, const View& out, const View& x, const bool* reduced) {
  dispatch_all(x.dtype, [&](auto zero) { reduce_typed<decltype(zero)>(kind, out, x, reduced); });
}

void CpuBackend::softmax(SoftmaxKind kind, const View& out, const View& x, int dim) {
  dispatch_floating(x.dtype, "softmax", [&](auto zero) {
    using T = decltype(zero);
    const int64_t outer = x.outer(dim), n = x.shape[dim], inner = x.inner(dim);
    const T* xp = static_cast<const T*>(x.data);
    T* yp = static_cast<T*>(out.data);
    parallel_for(outer * inner, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t r = b; r < e; ++r) {
                     const int64_t base = (r / inner) * n * inner + r % inner;
                     const T* row = xp + base;
                     T* dst = yp + base;
                     T m = -std::numeric_limits<T>::infinity();
                     for (int64_t i = 0; i < n; ++i) m = std::max(m, row[i * inner]);
                     if (!std::isfinite(m)) m = 0;  // all -inf (or inf): let exp produce nan/0 honestly
                     double s = 0;
                     for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(row[i * inner] - m));
                     if (kind == SoftmaxKind::Softmax) {
                       const double inv = 1.0 / s;
                       for (int64_t i = 0; i < n; ++i)
                         dst[i * inner] = static_cast<T>(std::exp(static_cast<double>(row[i * inner] - m)) * inv);
                     } else {
                       // (x - m) - log(s) in double, rounded once: rounding m + log(s) to T
                       // first would cost float32 up to half an ulp of m (5e-4 at m = 1e4).
                       const double log_s = std::log(s);
                       for (int64_t i = 0; i < n; ++i)
                         dst[i * inner] = static_cast<T>(static_cast<double>(row[i * inner]) -
                                                         static_cast<double>(m) - log_s);
                     }
                   }
                 });
  });
}

void CpuBackend::cross_entropy(const View& out, const View& logits, const View& targets) {
  dispatch_floating(logits.dtype, "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    const int64_t rows = logits.shape[0], classes = logits.shape[1];
    const T* x = static_cast<const T*>(logits.data);
    const int64_t* t = static_cast<const int64_t*>(targets.data);
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * classes;
      T m = row[0];
      for (int64_t c = 1; c < classes; ++c) m = std::max(m, row[c]);
      double s = 0;
      for (int64_t c = 0; c < classes; ++c) s += std::exp(static_cast<double>(row[c] - m));
      total += std::log(s) + static_cast<double>(m) - static_cast<double>(row[t[r]]);
    }
    *static_cast<T*>(out.data) = static_cast<T>(rows ? total / static_cast<double>(rows) : 0.0);
  });
}

}  // namespace tapeflow::cpu
