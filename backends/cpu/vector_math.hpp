// SPDX-License-Identifier: MIT
// float32 exp, sigmoid and tanh four lanes at a time, for the LSTM kernel and the elementwise
// ops.
//
// NOTE: glibc's expf and tanhf are called once per element and never vectorize: they were a
// fifth of a float32 LSTM step, and made tanh(x) 7x slower than LibTorch's. These are Cephes'
// single-precision exp and tanh (range reduction, then a polynomial; within 2.5 ulp of the
// exact value over [-100, 100], measured against double), in GCC's portable vector extension
// (clang has it too): GCC will not vectorize the selects of a scalar loop unless float
// compares may be assumed not to trap. Float64 keeps the standard library.
//
// exp4 clamps its input to [kExpLow, kExpHigh], where e^x is a normal float: exact enough for
// gates, not for exp itself below or above (denormals, zero, infinity). exp_map and
// sigmoid_map redo such lanes with the standard library.
#pragma once
#include <bit>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace tapeflow::cpu::vec {

using F4 = float __attribute__((vector_size(16)));
using I4 = int32_t __attribute__((vector_size(16)));

inline constexpr float kExpLow = -87.3f, kExpHigh = 88.3f;

inline F4 splat(float v) { return F4{v, v, v, v}; }
inline I4 splat_int(int32_t v) { return I4{v, v, v, v}; }
/// mask ? a : b, lane by lane (mask lanes all ones or all zeros, as comparisons give).
[[gnu::always_inline]] inline F4 select(I4 mask, F4 a, F4 b) {
  return std::bit_cast<F4>((std::bit_cast<I4>(a) & mask) | (std::bit_cast<I4>(b) & ~mask));
}

[[gnu::always_inline]] inline F4 exp4(F4 x) {
  x = select(x < splat(kExpLow), splat(kExpLow), x);  // exp(-87.3) is still a normal float;
  x = select(x > splat(kExpHigh), splat(kExpHigh), x);  // NaN fails both tests and stays NaN
  // x = n·ln2 + r with n an integer: adding 1.5·2²³ rounds x·log2(e) to an integer held in the
  // low bits, read without a float-to-int conversion (undefined for NaN).
  const F4 magic = splat(12582912.0f);
  const F4 t = x * splat(1.44269504088896341f) + magic;
  const F4 n = t - magic;
  const I4 ni = std::bit_cast<I4>(t) - std::bit_cast<I4>(magic);
  const F4 r = (x - n * splat(0.693359375f)) - n * splat(-2.12194440e-4f);  // ln2 in two parts
  F4 p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * r * r + r + splat(1.0f);
  return p * std::bit_cast<F4>((ni + splat_int(127)) << 23);  // · 2^n (n in [-126, 127])
}

[[gnu::always_inline]] inline F4 sigmoid4(F4 x) { return splat(1.0f) / (splat(1.0f) + exp4(-x)); }

[[gnu::always_inline]] inline F4 tanh4(F4 x) {
  // Small |x|: an odd polynomial, as 1 - 2/(e^2|x| + 1) would cancel; large: that formula.
  const F4 z = x * x;
  F4 small = splat(-5.70498872745e-3f);
  small = small * z + splat(2.06390887954e-2f);
  small = small * z - splat(5.37397155531e-2f);
  small = small * z + splat(1.33314422036e-1f);
  small = small * z - splat(3.33332819422e-1f);
  small = small * z * x + x;
  const I4 sign = std::bit_cast<I4>(x) & splat_int(INT32_MIN);
  const F4 a = std::bit_cast<F4>(std::bit_cast<I4>(x) ^ sign);
  const F4 large = splat(1.0f) - splat(2.0f) / (exp4(a + a) + splat(1.0f));
  return select(a < splat(0.625f), small, std::bit_cast<F4>(std::bit_cast<I4>(large) | sign));  // NaN: large
}

/// out[0, n) = f(in[0, n)), four at a time; the last few through a zero-padded vector. out may
/// be in. Then, when given, fix(in[i]) replaces the lanes whose input lies outside
/// [kExpLow, kExpHigh] (or is NaN).
template <typename F, typename Fix = std::nullptr_t>
void map4(float* out, const float* in, int64_t n, F f, Fix fix = nullptr) {
  auto apply = [&](F4 v) {
    F4 r = f(v);
    if constexpr (!std::is_same_v<Fix, std::nullptr_t>) {
      const I4 bad = (v < splat(kExpLow)) | (v > splat(kExpHigh)) | (v != v);
      uint64_t half[2];
      std::memcpy(half, &bad, sizeof half);
      if ((half[0] | half[1]) != 0) [[unlikely]]
        for (int l = 0; l < 4; ++l)
          if (bad[l]) r[l] = fix(v[l]);
    }
    return r;
  };
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    F4 v;
    std::memcpy(&v, in + k, sizeof v);
    v = apply(v);
    std::memcpy(out + k, &v, sizeof v);
  }
  if (k < n) {
    F4 v = splat(0.0f);
    std::memcpy(&v, in + k, static_cast<std::size_t>(n - k) * sizeof(float));
    v = apply(v);
    std::memcpy(out + k, &v, static_cast<std::size_t>(n - k) * sizeof(float));
  }
}

}  // namespace tapeflow::cpu::vec
