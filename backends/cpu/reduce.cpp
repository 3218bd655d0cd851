// SPDX-License-Identifier: MIT
#include <cmath>
#include <limits>
#include <vector>

#include "../dispatch.hpp"
#include "cpu_backend.hpp"
#include "parallel.hpp"
#include "strided.hpp"

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

// Splits x's dims into kept (outer, indexed like out) and reduced (inner). The inner space is
// walked with the strided engine; each output element owns one walk.
struct ReducePlan {
  int kept_rank = 0, red_rank = 0;
  int64_t kept_shape[kMaxDims], kept_stride[kMaxDims];  // x's strides, elements
  int64_t out_stride[kMaxDims];
  int64_t red_shape[kMaxDims], red_stride[kMaxDims];
  int64_t outputs = 1, inner = 1;

  ReducePlan(const View& out, const View& x, const bool* reduced) {
    for (int d = 0; d < x.rank; ++d) {
      if (reduced[d]) {
        red_shape[red_rank] = x.shape[d];
        red_stride[red_rank++] = x.strides[d];
        inner *= x.shape[d];
      } else {
        kept_shape[kept_rank] = x.shape[d];
        kept_stride[kept_rank] = x.strides[d];
        out_stride[kept_rank++] = out.strides[d];
        outputs *= x.shape[d];
      }
    }
  }
  // Offsets (elements) of output o in x and in out.
  void locate(int64_t o, int64_t& x_off, int64_t& out_off) const {
    x_off = out_off = 0;
    for (int d = kept_rank - 1; d >= 0; --d) {
      int64_t c = o % kept_shape[d];
      o /= kept_shape[d];
      x_off += c * kept_stride[d];
      out_off += c * out_stride[d];
    }
  }
};

template <typename T, typename Visit>
void walk_inner(const ReducePlan& plan, const T* base, int64_t begin, int64_t end, Visit&& visit) {
  // visit(value, flat index within the reduced space)
  if (plan.red_rank == 0) {
    if (begin < end) visit(*base, 0);
    return;
  }
  int64_t coord[kMaxDims] = {};
  int64_t rest = begin;
  for (int d = plan.red_rank - 1; d >= 0; --d) {
    coord[d] = rest % plan.red_shape[d];
    rest /= plan.red_shape[d];
  }
  const int last = plan.red_rank - 1;
  for (int64_t i = begin; i < end;) {
    int64_t off = 0;
    for (int d = 0; d < last; ++d) off += coord[d] * plan.red_stride[d];
    const T* p = base + off;
    const int64_t st = plan.red_stride[last];
    int64_t n = std::min(plan.red_shape[last] - coord[last], end - i);
    for (int64_t k = 0; k < n; ++k) visit(p[(coord[last] + k) * st], i + k);
    i += n;
    coord[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      if (++coord[d] < plan.red_shape[d]) break;
      coord[d] = 0;
    }
  }
}

template <typename T>
struct Reducer {
  ReduceKind kind;
  Acc<T> sum = 0;
  T best{};
  int64_t best_index = -1;

  void add(T v, int64_t index) {
    switch (kind) {
      case ReduceKind::Sum: sum = accumulate(sum, static_cast<Acc<T>>(v)); return;
      case ReduceKind::Max:
      case ReduceKind::ArgMax:
        // NaN wins (and stays), so a NaN anywhere shows in the result as in NumPy.
        if (best_index < 0 || v > best || (v != v && best == best)) best = v, best_index = index;
        return;
      case ReduceKind::Min:
      case ReduceKind::ArgMin:
        if (best_index < 0 || v < best || (v != v && best == best)) best = v, best_index = index;
        return;
    }
  }
  void merge(const Reducer& o) {
    if (kind == ReduceKind::Sum) sum = accumulate(sum, o.sum);
    else if (o.best_index >= 0) {
      bool take = best_index < 0;
      if (!take) {
        bool max_kind = kind == ReduceKind::Max || kind == ReduceKind::ArgMax;
        bool nan_o = o.best != o.best, nan_me = best != best;
        take = (nan_o && !nan_me) ||
               (!nan_me && !nan_o && (max_kind ? o.best > best : o.best < best));
      }
      if (take) best = o.best, best_index = o.best_index;
    }
  }
};

template <typename T>
void reduce_typed(ReduceKind kind, const View& out, const View& x, const bool* reduced) {
  ReducePlan plan(out, x, reduced);
  const T* xp = static_cast<const T*>(x.data);
  auto store = [&](int64_t out_off, const Reducer<T>& r) {
    switch (kind) {
      case ReduceKind::Sum:
        if constexpr (std::is_same_v<T, bool>) static_cast<int64_t*>(out.data)[out_off] = r.sum;
        else static_cast<T*>(out.data)[out_off] = static_cast<T>(r.sum);
        return;
      case ReduceKind::Max:
      case ReduceKind::Min: static_cast<T*>(out.data)[out_off] = r.best; return;
      case ReduceKind::ArgMax:
      case ReduceKind::ArgMin: static_cast<int64_t*>(out.data)[out_off] = r.best_index; return;
    }
  };
  if (plan.outputs == 1) {
    // One output (a full reduction): split the reduced space across threads, then merge.
    std::vector<Reducer<T>> parts(max_threads(), Reducer<T>{kind});  // num_threads() may change meanwhile
    parallel_chunks(plan.inner, kParallelGrain, [&](int c, int64_t b, int64_t e) {
      walk_inner(plan, xp, b, e, [&](T v, int64_t i) { parts[c].add(v, i); });
    });
    Reducer<T> total{kind};
    for (auto& p : parts) total.merge(p);
    store(0, total);
    return;
  }
  parallel_for(plan.outputs, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(plan.inner, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t o = b; o < e; ++o) {
                   int64_t x_off, out_off;
                   plan.locate(o, x_off, out_off);
                   Reducer<T> r{kind};
                   walk_inner(plan, xp + x_off, 0, plan.inner, [&](T v, int64_t i) { r.add(v, i); });
                   store(out_off, r);
                 }
               });
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
