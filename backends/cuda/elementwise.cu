// SPDX-License-Identifier: MIT
// unary, binary (comparisons included), where, copy (converting) and fill: one grid-stride
// kernel per arity over merged strided dims, one functor per ops.def row. The functors repeat
// the CPU backend's element rules (cpu/elementwise.cpp), so both devices agree bit for bit on
// everything but the transcendental functions.
#include <cstdint>

#include "../extrema.hpp"
#include "common.cuh"

namespace tapeflow::cuda {

using detail::BinaryKind;
using detail::UnaryKind;
using detail::View;

namespace {

template <typename O, typename I, typename F>
__global__ void map1(Strided<2> s, O* out, const I* x, F f) {
  TAPEFLOW_GRID_STRIDE(i, s.numel) {
    int64_t off[2];
    s.offsets(i, off);
    out[off[0]] = f(x[off[1]]);
  }
}

template <typename O, typename I, typename F>
__global__ void map2(Strided<3> s, O* out, const I* a, const I* b, F f) {
  TAPEFLOW_GRID_STRIDE(i, s.numel) {
    int64_t off[3];
    s.offsets(i, off);
    out[off[0]] = f(a[off[1]], b[off[2]]);
  }
}

template <typename T>
__global__ void select(Strided<4> s, T* out, const bool* cond, const T* a, const T* b) {
  TAPEFLOW_GRID_STRIDE(i, s.numel) {
    int64_t off[4];
    s.offsets(i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

template <typename T>
__global__ void fill_kernel(Strided<1> s, T* out, T v) {
  TAPEFLOW_GRID_STRIDE(i, s.numel) {
    int64_t off[1];
    s.offsets(i, off);
    out[off[0]] = v;
  }
}

template <typename O, typename I, typename F>
void launch1(int device, const char* op, const View& out, const View& x, F f) {
  const View* views[2] = {&out, &x};
  const Strided<2> s(views);
  if (s.numel == 0) return;
  map1<<<blocks_for(s.numel), kThreads, 0, context(device).stream>>>(s, static_cast<O*>(out.data),
                                                                   static_cast<const I*>(x.data), f);
  check_launch(op);
}

template <typename O, typename I, typename F>
void launch2(int device, const char* op, const View& out, const View& a, const View& b, F f) {
  const View* views[3] = {&out, &a, &b};
  const Strided<3> s(views);
  if (s.numel == 0) return;
  map2<<<blocks_for(s.numel), kThreads, 0, context(device).stream>>>(
      s, static_cast<O*>(out.data), static_cast<const I*>(a.data), static_cast<const I*>(b.data), f);
  check_launch(op);
}

// --- element rules, as in cpu/elementwise.cpp ---

// A floating value converts to int64 saturating, NaN becoming 0: what the CPU backend does on
// purpose (and what CUDA's conversion instructions do anyway).
template <typename O, typename I>
__device__ O convert(I v) {
  if constexpr (std::is_same_v<O, bool>) {
    return v != I(0);
  } else if constexpr (std::is_floating_point_v<I> && std::is_same_v<O, int64_t>) {
    if (v != v) return 0;
    if (v >= I(0x1p63)) return INT64_MAX;
    if (v < I(-0x1p63)) return INT64_MIN;
    return static_cast<O>(v);
  } else {
    return static_cast<O>(v);
  }
}
template <typename O, typename I>
struct Convert {
  __device__ O operator()(I v) const { return convert<O>(v); }
};

// int64 arithmetic wraps around (two's complement): done on uint64, whose overflow is defined.
template <typename T>
__device__ T negate(T v) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(v));
  else return -v;  // not 0 - v: that loses the sign of zero
}

struct Neg {
  template <typename T>
  __device__ T operator()(T v) const { return negate(v); }
};
struct Abs {
  template <typename T>
  __device__ T operator()(T v) const { return v < T(0) ? negate(v) : v; }
};
struct Relu {
  template <typename T>
  __device__ T operator()(T v) const { return v > T(0) ? v : T(0); }
};
struct Exp {
  __device__ float operator()(float v) const { return expf(v); }
  __device__ double operator()(double v) const { return exp(v); }
};
struct Log {
  __device__ float operator()(float v) const { return logf(v); }
  __device__ double operator()(double v) const { return log(v); }
};
struct Sqrt {
  __device__ float operator()(float v) const { return sqrtf(v); }
  __device__ double operator()(double v) const { return sqrt(v); }
};
struct Tanh {
  __device__ float operator()(float v) const { return tanhf(v); }
  __device__ double operator()(double v) const { return tanh(v); }
};
struct Erf {
  __device__ float operator()(float v) const { return erff(v); }
  __device__ double operator()(double v) const { return erf(v); }
};
struct Sigmoid {  // two forms, so that exp never overflows
  __device__ float operator()(float v) const {
    if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
    const float e = expf(v);
    return e / (1.0f + e);
  }
  __device__ double operator()(double v) const {
    if (v >= 0.0) return 1.0 / (1.0 + exp(-v));
    const double e = exp(v);
    return e / (1.0 + e);
  }
};

template <typename T>
__device__ T wrap(uint64_t v) { return static_cast<T>(v); }
struct Add {
  template <typename T>
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_same_v<T, int64_t>) return wrap<T>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
    else return x + y;
  }
};
struct Sub {
  template <typename T>
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_same_v<T, int64_t>) return wrap<T>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
    else return x - y;
  }
};
struct Mul {
  template <typename T>
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_same_v<T, int64_t>) return wrap<T>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
    else return x * y;
  }
};
struct Div {
  template <typename T>
  __device__ T operator()(T x, T y) const { return x / y; }
};
struct Pow {
  __device__ float operator()(float x, float y) const { return powf(x, y); }
  __device__ double operator()(double x, double y) const { return pow(x, y); }
};
struct Maximum {
  template <typename T>
  __device__ T operator()(T x, T y) const { return detail::nan_maximum(x, y); }
};
struct Minimum {
  template <typename T>
  __device__ T operator()(T x, T y) const { return detail::nan_minimum(x, y); }
};
struct Eq {
  template <typename T>
  __device__ bool operator()(T x, T y) const { return x == y; }
};
struct Ne {
  template <typename T>
  __device__ bool operator()(T x, T y) const { return x != y; }
};
struct Lt {
  template <typename T>
  __device__ bool operator()(T x, T y) const { return x < y; }
};
struct Le {
  template <typename T>
  __device__ bool operator()(T x, T y) const { return x <= y; }
};
struct Gt {
  template <typename T>
  __device__ bool operator()(T x, T y) const { return x > y; }
};
struct Ge {
  template <typename T>
  __device__ bool operator()(T x, T y) const { return x >= y; }
};

template <typename T>
void unary_typed(int device, UnaryKind kind, const View& out, const View& x) {
  constexpr bool fp = std::is_floating_point_v<T>;
  const char* op = detail::unary_name(kind);
  switch (kind) {
    case UnaryKind::Neg: return launch1<T, T>(device, op, out, x, Neg{});
    case UnaryKind::Abs: return launch1<T, T>(device, op, out, x, Abs{});
    case UnaryKind::Relu: return launch1<T, T>(device, op, out, x, Relu{});
    case UnaryKind::Exp:
      if constexpr (fp) return launch1<T, T>(device, op, out, x, Exp{});
      break;
    case UnaryKind::Log:
      if constexpr (fp) return launch1<T, T>(device, op, out, x, Log{});
      break;
    case UnaryKind::Sqrt:
      if constexpr (fp) return launch1<T, T>(device, op, out, x, Sqrt{});
      break;
    case UnaryKind::Tanh:
      if constexpr (fp) return launch1<T, T>(device, op, out, x, Tanh{});
      break;
    case UnaryKind::Sigmoid:
      if constexpr (fp) return launch1<T, T>(device, op, out, x, Sigmoid{});
      break;
    case UnaryKind::Erf:
      if constexpr (fp) return launch1<T, T>(device, op, out, x, Erf{});
      break;
  }
  unsupported(op, x.dtype);
}

template <typename T>
void binary_typed(int device, BinaryKind kind, const View& out, const View& a, const View& b) {
  constexpr bool fp = std::is_floating_point_v<T>;
  constexpr bool arith = !std::is_same_v<T, bool>;
  const char* op = detail::binary_name(kind);
  switch (kind) {
    case BinaryKind::Add:
      if constexpr (arith) return launch2<T, T>(device, op, out, a, b, Add{});
      break;
    case BinaryKind::Sub:
      if constexpr (arith) return launch2<T, T>(device, op, out, a, b, Sub{});
      break;
    case BinaryKind::Mul:
      if constexpr (arith) return launch2<T, T>(device, op, out, a, b, Mul{});
      break;
    case BinaryKind::Div:
      if constexpr (fp) return launch2<T, T>(device, op, out, a, b, Div{});
      break;
    case BinaryKind::Pow:
      if constexpr (fp) return launch2<T, T>(device, op, out, a, b, Pow{});
      break;
    case BinaryKind::Maximum:
      if constexpr (arith) return launch2<T, T>(device, op, out, a, b, Maximum{});
      break;
    case BinaryKind::Minimum:
      if constexpr (arith) return launch2<T, T>(device, op, out, a, b, Minimum{});
      break;
    case BinaryKind::Eq: return launch2<bool, T>(device, op, out, a, b, Eq{});
    case BinaryKind::Ne: return launch2<bool, T>(device, op, out, a, b, Ne{});
    case BinaryKind::Lt: return launch2<bool, T>(device, op, out, a, b, Lt{});
    case BinaryKind::Le: return launch2<bool, T>(device, op, out, a, b, Le{});
    case BinaryKind::Gt: return launch2<bool, T>(device, op, out, a, b, Gt{});
    case BinaryKind::Ge: return launch2<bool, T>(device, op, out, a, b, Ge{});
  }
  unsupported(op, a.dtype);
}

}  // namespace

void CudaBackend::unary(UnaryKind kind, const View& out, const View& x) {
  switch (x.dtype) {
    case DType::Float32: return unary_typed<float>(index_, kind, out, x);
    case DType::Float64: return unary_typed<double>(index_, kind, out, x);
    case DType::Int64: return unary_typed<int64_t>(index_, kind, out, x);
    case DType::Bool: break;
  }
  unsupported(detail::unary_name(kind), x.dtype);
}

void CudaBackend::binary(BinaryKind kind, const View& out, const View& a, const View& b) {
  switch (a.dtype) {
    case DType::Float32: return binary_typed<float>(index_, kind, out, a, b);
    case DType::Float64: return binary_typed<double>(index_, kind, out, a, b);
    case DType::Int64: return binary_typed<int64_t>(index_, kind, out, a, b);
    case DType::Bool:
      if (detail::is_comparison(kind)) return binary_typed<bool>(index_, kind, out, a, b);
      break;
  }
  unsupported(detail::binary_name(kind), a.dtype);
}

void CudaBackend::where(const View& out, const View& cond, const View& a, const View& b) {
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    const View* views[4] = {&out, &cond, &a, &b};
    const Strided<4> s(views);
    if (s.numel == 0) return;
    select<<<blocks_for(s.numel), kThreads, 0, context(index_).stream>>>(
        s, static_cast<T*>(out.data), static_cast<const bool*>(cond.data), static_cast<const T*>(a.data),
        static_cast<const T*>(b.data));
    check_launch("where");
  });
}

void CudaBackend::copy(const View& out, const View& x) {
  dispatch_all(out.dtype, [&](auto o) {
    using O = decltype(o);
    dispatch_all(x.dtype, [&](auto i) {
      using I = decltype(i);
      launch1<O, I>(index_, "copy", out, x, Convert<O, I>{});
    });
  });
}

void CudaBackend::fill(const View& out, double value) {
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    // The value converts on the host by the same rule the kernels use.
    T v;
    if constexpr (std::is_same_v<T, bool>) v = value != 0.0;
    else if constexpr (std::is_same_v<T, int64_t>)
      v = value != value ? 0 : value >= 0x1p63 ? INT64_MAX : value < -0x1p63 ? INT64_MIN : static_cast<int64_t>(value);
    else v = static_cast<T>(value);
    const View* views[1] = {&out};
    const Strided<1> s(views);
    if (s.numel == 0) return;
    fill_kernel<<<blocks_for(s.numel), kThreads, 0, context(index_).stream>>>(s, static_cast<T*>(out.data), v);
    check_launch("fill");
  });
}

}  // namespace tapeflow::cuda
