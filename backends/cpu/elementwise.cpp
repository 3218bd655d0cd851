// SPDX-License-Identifier: MIT
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>

#include "../dispatch.hpp"
#include "../extrema.hpp"
#include "cpu_backend.hpp"
#include "parallel.hpp"
#include "strided.hpp"
#include "vector_math.hpp"

namespace tapeflow::cpu {

using detail::dispatch_all;
using detail::unsupported;
using detail::BinaryKind;
using detail::UnaryKind;
using detail::View;

namespace {

// The inner run of a kernel with one output and K inputs: the contiguous case (every operand
// stride = its element size) and the scalar-broadcast case get loops the compiler vectorises.
template <typename O, typename I, typename F>
void run_unary(const View& out, const View& x, F f) {
  Strided<2>({&out, &x}).for_each([&](char** p, const int64_t* st, int64_t n) {
    O* o = reinterpret_cast<O*>(p[0]);
    const I* a = reinterpret_cast<const I*>(p[1]);
    if (st[0] == sizeof(O) && st[1] == sizeof(I)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(p[0] + i * st[0]) = f(*reinterpret_cast<const I*>(p[1] + i * st[1]));
    }
  });
}

// float32 exp, sigmoid and tanh through vector_math.hpp: runs whose operands are both
// contiguous four lanes at a time, other elements one lane at a time, so that a value never
// depends on the layout it came in.
template <typename Map>
void run_unary_map(const View& out, const View& x, Map map) {
  Strided<2>({&out, &x}).for_each([&](char** p, const int64_t* st, int64_t n) {
    if (st[0] == sizeof(float) && st[1] == sizeof(float))
      return map(reinterpret_cast<float*>(p[0]), reinterpret_cast<const float*>(p[1]), n);
    for (int64_t i = 0; i < n; ++i)
      map(reinterpret_cast<float*>(p[0] + i * st[0]), reinterpret_cast<const float*>(p[1] + i * st[1]), 1);
  });
}

template <typename O, typename I, typename F>
void run_binary(const View& out, const View& a, const View& b, F f) {
  Strided<3>({&out, &a, &b}).for_each([&](char** p, const int64_t* st, int64_t n) {
    O* o = reinterpret_cast<O*>(p[0]);
    const I* x = reinterpret_cast<const I*>(p[1]);
    const I* y = reinterpret_cast<const I*>(p[2]);
    if (st[0] == sizeof(O) && st[1] == sizeof(I) && st[2] == sizeof(I)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (st[0] == sizeof(O) && st[1] == sizeof(I) && st[2] == 0) {
      const I yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (st[0] == sizeof(O) && st[1] == 0 && st[2] == sizeof(I)) {
      const I xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(p[0] + i * st[0]) = f(*reinterpret_cast<const I*>(p[1] + i * st[1]),
                                                    *reinterpret_cast<const I*>(p[2] + i * st[2]));
    }
  });
}

// NOTE: a floating value converts to int64 saturating, NaN becoming 0, as CUDA's conversion
// instructions do: C++ leaves out-of-range conversions undefined (x86 gives INT64_MIN for all).
template <typename O, typename I>
O convert(I v) {
  if constexpr (std::is_floating_point_v<I> && std::is_same_v<O, int64_t>) {
    if (std::isnan(v)) return 0;
    if (v >= I(0x1p63)) return std::numeric_limits<int64_t>::max();
    if (v < I(-0x1p63)) return std::numeric_limits<int64_t>::min();
  }
  return static_cast<O>(v);
}

// NOTE: int64 arithmetic wraps around (two's complement), as NumPy's and PyTorch's does: signed
// overflow is undefined behaviour in C++, so it is done on uint64, whose overflow is defined.
template <typename T, typename F>
T wrapping(T x, T y, F f) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<T>(f(static_cast<uint64_t>(x), static_cast<uint64_t>(y)));
  else return static_cast<T>(f(x, y));
}
template <typename T>
T negate(T v) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(v));
  else return -v;  // not 0 - v: that loses the sign of zero
}

// c ? x : y as a bit mask over T's bytes.
template <typename T>
T select_bits(uint8_t c, T x, T y) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint8_t>>;
  const U mask = U(0) - static_cast<U>(c != 0);  // any nonzero byte counts as true
  return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(x) & mask) | (std::bit_cast<U>(y) & ~mask)));
}

template <typename T>
T sigmoid(T v) {
  // Two forms so that exp never overflows.
  if (v >= 0) return T(1) / (T(1) + std::exp(-v));
  T e = std::exp(v);
  return e / (T(1) + e);
}

template <typename T>
void unary_typed(UnaryKind kind, const View& out, const View& x) {
  constexpr bool fp = std::is_floating_point_v<T>;
  switch (kind) {
    case UnaryKind::Neg: return run_unary<T, T>(out, x, [](T v) { return negate(v); });
    case UnaryKind::Abs: return run_unary<T, T>(out, x, [](T v) { return v < 0 ? negate(v) : v; });
    case UnaryKind::Relu: return run_unary<T, T>(out, x, [](T v) { return v > 0 ? v : T(0); });
    case UnaryKind::Exp:
      if constexpr (std::is_same_v<T, float>)
        return run_unary_map(out, x, [](float* o, const float* a, int64_t n) {
          vec::map4(o, a, n, [](vec::F4 v) { return vec::exp4(v); }, [](float v) { return std::exp(v); });
        });
      if constexpr (fp) return run_unary<T, T>(out, x, [](T v) { return std::exp(v); });
      break;
    case UnaryKind::Log:
      if constexpr (fp) return run_unary<T, T>(out, x, [](T v) { return std::log(v); });
      break;
    case UnaryKind::Sqrt:
      if constexpr (fp) return run_unary<T, T>(out, x, [](T v) { return std::sqrt(v); });
      break;
    case UnaryKind::Tanh:  // tanh4 is exact enough everywhere: it saturates to ±1 by itself
      if constexpr (std::is_same_v<T, float>)
        return run_unary_map(out, x, [](float* o, const float* a, int64_t n) {
          vec::map4(o, a, n, [](vec::F4 v) { return vec::tanh4(v); });
        });
      if constexpr (fp) return run_unary<T, T>(out, x, [](T v) { return std::tanh(v); });
      break;
    case UnaryKind::Sigmoid:
      if constexpr (std::is_same_v<T, float>)
        return run_unary_map(out, x, [](float* o, const float* a, int64_t n) {
          vec::map4(o, a, n, [](vec::F4 v) { return vec::sigmoid4(v); }, [](float v) { return sigmoid(v); });
        });
      if constexpr (fp) return run_unary<T, T>(out, x, [](T v) { return sigmoid(v); });
      break;
    case UnaryKind::Erf:
      if constexpr (fp) return run_unary<T, T>(out, x, [](T v) { return std::erf(v); });
      break;
  }
  unsupported(detail::unary_name(kind), x.dtype);
}

template <typename T>
void binary_typed(BinaryKind kind, const View& out, const View& a, const View& b) {
  constexpr bool fp = std::is_floating_point_v<T>;
  switch (kind) {
    case BinaryKind::Add: return run_binary<T, T>(out, a, b, [](T x, T y) { return wrapping(x, y, std::plus<>()); });
    case BinaryKind::Sub: return run_binary<T, T>(out, a, b, [](T x, T y) { return wrapping(x, y, std::minus<>()); });
    case BinaryKind::Mul:
      return run_binary<T, T>(out, a, b, [](T x, T y) { return wrapping(x, y, std::multiplies<>()); });
    case BinaryKind::Div:
      if constexpr (fp) return run_binary<T, T>(out, a, b, [](T x, T y) { return x / y; });
      break;
    case BinaryKind::Pow:
      if constexpr (fp) return run_binary<T, T>(out, a, b, [](T x, T y) { return std::pow(x, y); });
      break;
    case BinaryKind::Maximum: return run_binary<T, T>(out, a, b, [](T x, T y) { return detail::nan_maximum(x, y); });
    case BinaryKind::Minimum: return run_binary<T, T>(out, a, b, [](T x, T y) { return detail::nan_minimum(x, y); });
    case BinaryKind::Eq: return run_binary<bool, T>(out, a, b, [](T x, T y) { return x == y; });
    case BinaryKind::Ne: return run_binary<bool, T>(out, a, b, [](T x, T y) { return x != y; });
    case BinaryKind::Lt: return run_binary<bool, T>(out, a, b, [](T x, T y) { return x < y; });
    case BinaryKind::Le: return run_binary<bool, T>(out, a, b, [](T x, T y) { return x <= y; });
    case BinaryKind::Gt: return run_binary<bool, T>(out, a, b, [](T x, T y) { return x > y; });
    case BinaryKind::Ge: return run_binary<bool, T>(out, a, b, [](T x, T y) { return x >= y; });
  }
  unsupported(detail::binary_name(kind), a.dtype);
}

}  // namespace

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t n) {
  if (n) std::memcpy(dst, src, n);
}
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t n) {
  if (n) std::memcpy(dst, src, n);
}

void CpuBackend::unary(UnaryKind kind, const View& out, const View& x) {
  switch (x.dtype) {
    case DType::Float32: return unary_typed<float>(kind, out, x);
    case DType::Float64: return unary_typed<double>(kind, out, x);
    case DType::Int64: return unary_typed<int64_t>(kind, out, x);
    case DType::Bool: break;
  }
  unsupported(detail::unary_name(kind), x.dtype);
}

void CpuBackend::binary(BinaryKind kind, const View& out, const View& a, const View& b) {
  switch (a.dtype) {
    case DType::Float32: return binary_typed<float>(kind, out, a, b);
    case DType::Float64: return binary_typed<double>(kind, out, a, b);
    case DType::Int64: return binary_typed<int64_t>(kind, out, a, b);
    case DType::Bool:
      if (detail::is_comparison(kind)) return binary_typed<bool>(kind, out, a, b);
      break;
  }
  unsupported(detail::binary_name(kind), a.dtype);
}

void CpuBackend::where(const View& out, const View& cond, const View& a, const View& b) {
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    Strided<4>({&out, &cond, &a, &b}).for_each([&](char** p, const int64_t* st, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);  // bool has no vector type
      const T* x = reinterpret_cast<const T*>(p[2]);
      const T* y = reinterpret_cast<const T*>(p[3]);
      // Both sides are read whatever the condition and the select is done on the bits, so the
      // loop vectorizes (GCC vectorizes neither a load under a condition nor a select between
      // floats on a byte-sized condition). ReLU's backward, where(y > 0, g, 0), is the second.
      if (st[0] == sizeof(T) && st[1] == 1 && st[2] == sizeof(T) && st[3] == sizeof(T)) {
        for (int64_t i = 0; i < n; ++i) o[i] = select_bits(c[i], x[i], y[i]);
      } else if (st[0] == sizeof(T) && st[1] == 1 && st[2] == sizeof(T) && st[3] == 0) {
        const T yv = *y;
        for (int64_t i = 0; i < n; ++i) o[i] = select_bits(c[i], x[i], yv);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const bool ci = *reinterpret_cast<const bool*>(p[1] + i * st[1]);
          *reinterpret_cast<T*>(p[0] + i * st[0]) = *reinterpret_cast<const T*>(p[ci ? 2 : 3] + i * st[ci ? 2 : 3]);
        }
      }
    });
  });
}

void CpuBackend::copy(const View& out, const View& x) {
  dispatch_all(out.dtype, [&](auto o) {
    using O = decltype(o);
    dispatch_all(x.dtype, [&](auto i) {
      using I = decltype(i);
      if constexpr (std::is_same_v<O, bool>) run_unary<O, I>(out, x, [](I v) { return v != I(0); });
      else run_unary<O, I>(out, x, [](I v) { return convert<O>(v); });
    });
  });
}

void CpuBackend::fill(const View& out, double value) {
  dispatch_all(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T v = std::is_same_v<T, bool> ? T(value != 0.0) : convert<T>(value);
    Strided<1>({&out}).for_each([&](char** p, const int64_t* st, int64_t n) {
      if (st[0] == sizeof(T)) std::fill_n(reinterpret_cast<T*>(p[0]), n, v);
      else for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * st[0]) = v;
    });
  });
}

}  // namespace tapeflow::cpu
