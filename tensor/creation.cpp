// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>

#include "detail/check.hpp"
#include "detail/kernels.hpp"
#include "detail/tensor_impl.hpp"
#include "ops.hpp"

namespace tapeflow {

using detail::make_tensor;

namespace {

// Values are built on the host in double or int64, then converted once to the target dtype.
template <typename T>
Tensor from_host(const std::vector<T>& values, const Shape& shape_in, DType natural, const Options& o) {
  Shape shape = shape_in.empty() ? Shape{static_cast<int64_t>(values.size())} : shape_in;
  TAPEFLOW_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()), ShapeError, "tensor", "got ",
                 values.size(), " values for shape ", shape);
  Tensor host = make_tensor(shape, natural, Device::cpu());
  if (!values.empty()) std::memcpy(host.impl()->data(), values.data(), values.size() * sizeof(T));
  const DType dtype = o.dtype.value_or(natural);
  Tensor t = dtype == natural ? host : detail::kernel::cast(host, dtype);
  if (!o.device.is_cpu()) t = t.to(o.device);
  if (o.requires_grad) t.requires_grad_();
  return t;
}

Tensor finish(Tensor t, const Options& o) {
  if (o.requires_grad) t.requires_grad_();
  return t;
}

Tensor filled(const Shape& shape, double value, const Options& o, DType fallback = DType::Float32) {
  Tensor t = make_tensor(shape, o.dtype.value_or(fallback), o.device);
  detail::kernel::fill(t, value);
  t.impl()->storage->version = 0;
  return finish(t, o);
}

Tensor from_doubles(const std::vector<double>& v, const Shape& shape, const Options& o) {
  Tensor host = from_host(v, shape, DType::Float64, {.dtype = o.dtype.value_or(DType::Float32), .device = o.device});
  return finish(host, o);
}

std::mutex g_rng_mutex;
std::mt19937_64 g_rng(5489u);

// Uniform double in [0, 1) from the top 53 bits: the same on every platform, unlike
// std::uniform_real_distribution.
double next_uniform() { return static_cast<double>(g_rng() >> 11) * 0x1.0p-53; }

double next_normal() {
  // Box-Muller; u1 in (0, 1] so the log is finite.
  const double u1 = 1.0 - next_uniform(), u2 = next_uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

template <typename Draw>
Tensor random(const Shape& shape, const Options& o, Draw draw) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<std::size_t>(n));
  {
    std::lock_guard lock(g_rng_mutex);
    for (auto& x : v) x = draw();
  }
  TAPEFLOW_CHECK(is_floating(o.dtype.value_or(DType::Float32)), DTypeError, "random",
                 "random floating values need a floating dtype, got ", *o.dtype);
  return from_doubles(v, shape, o);
}

}  // namespace

#define TAPEFLOW_TENSOR_FROM(T, natural)                                                   \
  Tensor tensor(std::initializer_list<T> values, const Shape& shape, const Options& o) {    \
    return tensor(std::vector<T>(values), shape, o);                                        \
  }
Tensor tensor(const std::vector<float>& v, const Shape& s, const Options& o) { return from_host(v, s, DType::Float32, o); }
Tensor tensor(const std::vector<double>& v, const Shape& s, const Options& o) { return from_host(v, s, DType::Float64, o); }
Tensor tensor(const std::vector<int64_t>& v, const Shape& s, const Options& o) { return from_host(v, s, DType::Int64, o); }
TAPEFLOW_TENSOR_FROM(float, Float32)
TAPEFLOW_TENSOR_FROM(double, Float64)
TAPEFLOW_TENSOR_FROM(int64_t, Int64)
#undef TAPEFLOW_TENSOR_FROM
Tensor tensor(std::initializer_list<int> values, const Shape& shape, const Options& o) {
  return tensor(std::vector<int64_t>(values.begin(), values.end()), shape, o);
}
Tensor tensor(std::initializer_list<bool> values, const Shape& shape, const Options& o) {
  std::vector<int64_t> v(values.begin(), values.end());
  Options bo = o;
  bo.dtype = o.dtype.value_or(DType::Bool);
  return tensor(v, shape, bo);
}

Tensor scalar_tensor(double value, const Options& o) { return filled({}, value, o); }

Tensor from_blob(const void* data, const Shape& shape, DType dtype, const Options& o) {
  Tensor t = make_tensor(shape, dtype, Device::cpu());
  const std::size_t bytes = static_cast<std::size_t>(t.numel()) * element_size(dtype);
  if (bytes) std::memcpy(t.impl()->data(), data, bytes);
  if (o.dtype && *o.dtype != dtype) t = detail::kernel::cast(t, *o.dtype);
  if (!o.device.is_cpu()) t = t.to(o.device);
  return finish(t, o);
}

Tensor zeros(const Shape& shape, const Options& o) { return filled(shape, 0.0, o); }
Tensor ones(const Shape& shape, const Options& o) { return filled(shape, 1.0, o); }
Tensor full(const Shape& shape, double value, const Options& o) { return filled(shape, value, o); }
Tensor empty(const Shape& shape, const Options& o) {
  return finish(make_tensor(shape, o.dtype.value_or(DType::Float32), o.device), o);
}

Tensor arange(double end, const Options& o) { return arange(0.0, end, 1.0, o); }
Tensor arange(double start, double end, double step, const Options& o) {
  TAPEFLOW_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step), ValueError,
                 "arange", "invalid range start=", start, " end=", end, " step=", step);
  const double count = std::ceil((end - start) / step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
  return from_doubles(v, {n}, o);
}

Tensor linspace(double start, double end, int64_t steps, const Options& o) {
  TAPEFLOW_CHECK(steps >= 0, ValueError, "linspace", "steps must be non-negative, got ", steps);
  std::vector<double> v(static_cast<std::size_t>(steps));
  for (int64_t i = 0; i < steps; ++i)
    v[i] = steps == 1 ? start : start + (end - start) * static_cast<double>(i) / static_cast<double>(steps - 1);
  return from_doubles(v, {steps}, o);
}

Tensor eye(int64_t n, int64_t m, const Options& o) {
  if (m < 0) m = n;
  TAPEFLOW_CHECK(n >= 0, ValueError, "eye", "size must be non-negative, got ", n);
  std::vector<double> v(static_cast<std::size_t>(n * m), 0.0);
  for (int64_t i = 0; i < std::min(n, m); ++i) v[i * m + i] = 1.0;
  return from_doubles(v, {n, m}, o);
}

namespace {
Options like(const Tensor& t, const Options& o) {
  Options r = o;
  if (!r.dtype) r.dtype = t.dtype();
  if (r.device == Device::cpu()) r.device = t.device();
  return r;
}
}  // namespace
Tensor zeros_like(const Tensor& t, const Options& o) { return zeros(t.shape(), like(t, o)); }
Tensor ones_like(const Tensor& t, const Options& o) { return ones(t.shape(), like(t, o)); }
Tensor full_like(const Tensor& t, double value, const Options& o) { return full(t.shape(), value, like(t, o)); }
Tensor empty_like(const Tensor& t, const Options& o) { return empty(t.shape(), like(t, o)); }

void manual_seed(uint64_t seed) {
  std::lock_guard lock(g_rng_mutex);
  g_rng.seed(seed);
}

// The standard's text form of the engine: exact, portable between builds, and validated by
// operator>> (a malformed string sets failbit rather than leaving a half-written engine).
std::string get_rng_state() {
  std::lock_guard lock(g_rng_mutex);
  std::ostringstream out;
  out << g_rng;
  return out.str();
}

void set_rng_state(const std::string& state) {
  std::istringstream in(state);
  std::mt19937_64 restored;
  in >> restored;
  TAPEFLOW_CHECK(!in.fail() && (in >> std::ws).eof(), ValueError, "set_rng_state",
                 "the state is not one get_rng_state returned (", state.size(), " characters)");
  std::lock_guard lock(g_rng_mutex);
  g_rng = restored;
}

Tensor rand(const Shape& shape, const Options& o) { return random(shape, o, next_uniform); }
Tensor randn(const Shape& shape, const Options& o) { return random(shape, o, next_normal); }
Tensor uniform(const Shape& shape, double low, double high, const Options& o) {
  TAPEFLOW_CHECK(low <= high, ValueError, "uniform", "low ", low, " is greater than high ", high);
  return random(shape, o, [&] { return low + (high - low) * next_uniform(); });
}
Tensor normal(const Shape& shape, double mean, double stddev, const Options& o) {
  TAPEFLOW_CHECK(stddev >= 0, ValueError, "normal", "stddev must be non-negative, got ", stddev);
  return random(shape, o, [&] { return mean + stddev * next_normal(); });
}
Tensor truncated_normal(const Shape& shape, double mean, double stddev, const Options& o) {
  TAPEFLOW_CHECK(stddev >= 0, ValueError, "truncated_normal", "stddev must be non-negative, got ", stddev);
  return random(shape, o, [&] {
    double z;
    do z = next_normal();
    while (std::abs(z) > 2.0);  // TensorFlow's rule: redraw beyond two standard deviations
    return mean + stddev * z;
  });
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, const Options& o) {
  TAPEFLOW_CHECK(low < high, ValueError, "randint", "empty range [", low, ", ", high, ")");
  const int64_t n = shape_numel(shape);
  std::vector<int64_t> v(static_cast<std::size_t>(n));
  {
    std::lock_guard lock(g_rng_mutex);
    const uint64_t span = static_cast<uint64_t>(high - low);
    for (auto& x : v) x = low + static_cast<int64_t>(g_rng() % span);
  }
  Options io = o;
  io.dtype = o.dtype.value_or(DType::Int64);
  return tensor(v, shape, io);
}

}  // namespace tapeflow
