// SPDX-License-Identifier: MIT
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <utility>

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

Tensor filled(const char* op, const Shape& shape, double value, const Options& o) {
  Tensor t = make_tensor(shape, o.dtype.value_or(DType::Float32), o.device, op);
  detail::kernel::fill(t, value);
  t.impl()->storage->version = 0;
  return finish(t, o);
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

// Host staging for values computed element by element, allocated as a tensor so that an
// impossible size is refused (naming `op`) like any other, before anything is drawn or written.
template <typename T>
std::pair<Tensor, T*> staging(const char* op, const Shape& shape) {
  Tensor t = make_tensor(shape, dtype_of<T>(), Device::cpu(), op);
  return {t, reinterpret_cast<T*>(t.impl()->data())};
}

Tensor finish_staged(Tensor host, const Options& o, DType fallback) {
  const DType dtype = o.dtype.value_or(fallback);
  Tensor t = host.dtype() == dtype ? host : detail::kernel::cast(host, dtype);
  if (!o.device.is_cpu()) t = t.to(o.device);
  return finish(t, o);
}

template <typename Draw>
Tensor random(const char* op, const Shape& shape, const Options& o, Draw draw) {
  // Checked before drawing: a refused call leaves the generator where it was.
  TAPEFLOW_CHECK(is_floating(o.dtype.value_or(DType::Float32)), DTypeError, op,
                 "random floating values need a floating dtype, got ", *o.dtype);
  detail::backend_for_op(o.device, op);
  auto [host, v] = staging<double>(op, shape);
  {
    std::lock_guard lock(g_rng_mutex);
    for (int64_t i = 0, n = host.numel(); i < n; ++i) v[i] = draw();
  }
  return finish_staged(host, o, DType::Float32);
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

Tensor scalar_tensor(double value, const Options& o) { return filled("scalar_tensor", {}, value, o); }

Tensor from_blob(const void* data, const Shape& shape, DType dtype, const Options& o) {
  Tensor t = make_tensor(shape, dtype, Device::cpu(), "from_blob");
  const std::size_t bytes = static_cast<std::size_t>(t.numel()) * element_size(dtype);
  if (bytes) std::memcpy(t.impl()->data(), data, bytes);
  if (o.dtype && *o.dtype != dtype) t = detail::kernel::cast(t, *o.dtype);
  if (!o.device.is_cpu()) t = t.to(o.device);
  return finish(t, o);
}

Tensor zeros(const Shape& shape, const Options& o) { return filled("zeros", shape, 0.0, o); }
Tensor ones(const Shape& shape, const Options& o) { return filled("ones", shape, 1.0, o); }
Tensor full(const Shape& shape, double value, const Options& o) { return filled("full", shape, value, o); }
Tensor empty(const Shape& shape, const Options& o) {
  return finish(make_tensor(shape, o.dtype.value_or(DType::Float32), o.device, "empty"), o);
}

Tensor arange(double end, const Options& o) { return arange(0.0, end, 1.0, o); }
Tensor arange(double start, double end, double step, const Options& o) {
  TAPEFLOW_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step), ValueError,
                 "arange", "invalid range start=", start, " end=", end, " step=", step);
  const double count = std::ceil((end - start) / step);
  // NOTE: converting a double beyond int64's range is undefined; 2^62 is past any valid size.
  TAPEFLOW_CHECK(count < 0x1p62, ShapeError, "arange", "range start=", start, " end=", end, " step=", step,
                 " has too many elements (", count, ")");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  auto [host, v] = staging<double>("arange", {n});
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
  return finish_staged(host, o, DType::Float32);
}

Tensor linspace(double start, double end, int64_t steps, const Options& o) {
  TAPEFLOW_CHECK(steps >= 0, ValueError, "linspace", "steps must be non-negative, got ", steps);
  auto [host, v] = staging<double>("linspace", {steps});
  for (int64_t i = 0; i < steps; ++i)
    v[i] = steps == 1 ? start : start + (end - start) * static_cast<double>(i) / static_cast<double>(steps - 1);
  return finish_staged(host, o, DType::Float32);
}

Tensor eye(int64_t n, int64_t m, const Options& o) {
  if (m == -1) m = n;
  TAPEFLOW_CHECK(n >= 0 && m >= 0, ValueError, "eye", "sizes must be non-negative, got ", n, " and ", m);
  auto [host, v] = staging<double>("eye", {n, m});
  std::fill(v, v + host.numel(), 0.0);
  for (int64_t i = 0; i < std::min(n, m); ++i) v[i * m + i] = 1.0;
  return finish_staged(host, o, DType::Float32);
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

Tensor rand(const Shape& shape, const Options& o) { return random("rand", shape, o, next_uniform); }
Tensor randn(const Shape& shape, const Options& o) { return random("randn", shape, o, next_normal); }
Tensor uniform(const Shape& shape, double low, double high, const Options& o) {
  TAPEFLOW_CHECK(low <= high, ValueError, "uniform", "low ", low, " is greater than high ", high);
  return random("uniform", shape, o, [&] { return low + (high - low) * next_uniform(); });
}
Tensor normal(const Shape& shape, double mean, double stddev, const Options& o) {
  TAPEFLOW_CHECK(stddev >= 0, ValueError, "normal", "stddev must be non-negative, got ", stddev);
  return random("normal", shape, o, [&] { return mean + stddev * next_normal(); });
}
Tensor truncated_normal(const Shape& shape, double mean, double stddev, const Options& o) {
  TAPEFLOW_CHECK(stddev >= 0, ValueError, "truncated_normal", "stddev must be non-negative, got ", stddev);
  return random("truncated_normal", shape, o, [&] {
    double z;
    do z = next_normal();
    while (std::abs(z) > 2.0);  // TensorFlow's rule: redraw beyond two standard deviations
    return mean + stddev * z;
  });
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, const Options& o) {
  TAPEFLOW_CHECK(low < high, ValueError, "randint", "empty range [", low, ", ", high, ")");
  detail::backend_for_op(o.device, "randint");
  auto [host, v] = staging<int64_t>("randint", shape);
  {
    std::lock_guard lock(g_rng_mutex);
    // NOTE: high - low overflows int64 for ranges wider than 2^63; unsigned arithmetic wraps right.
    const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
    for (int64_t i = 0, n = host.numel(); i < n; ++i)
      v[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + g_rng() % span);
  }
  return finish_staged(host, o, DType::Int64);
}

}  // namespace tapeflow
