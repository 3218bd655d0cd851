// SPDX-License-Identifier: MIT
// The gradient-table machinery shared by tests/autograd/test_gradcheck.cpp (the ops) and the
// nn/ tables (layers): a row is a name, input shapes and a function of float64 inputs; every
// row is checked against central differences with all inputs requiring grad, with each input
// alone requiring grad, and with non-contiguous inputs. The same tables run with their inputs
// on a GPU (tests/cuda/test_cuda.cpp): a row's function must make any tensor it creates on its
// inputs' device (`{.device = v[0].device()}`, or `.to(v[0].device())` for a captured one).
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "helpers.hpp"

namespace tapeflow::test {

/// Where a row's inputs are drawn from (the ops.def domains).
enum class Domain { Any, Positive, AwayFromZero };

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradCase {
  const char* name;
  std::vector<Shape> shapes;
  Fn fn;
  Domain domain = Domain::Any;
  /// Defaults (atol 1e-7, rtol 1e-6, eps 1e-6) unless a row says why it needs more.
  GradcheckOptions options = {};
  /// False only where the op itself refuses non-contiguous input (view needing a reshape copy).
  bool noncontiguous_ok = true;
};

namespace table {
inline std::vector<double> draw(const Shape& shape, Domain domain, std::mt19937_64& rng) {
  std::vector<double> v(static_cast<std::size_t>(shape_numel(shape)));
  std::uniform_real_distribution<double> any(-2.0, 2.0), mag(0.5, 2.0);
  std::bernoulli_distribution coin(0.5);
  for (auto& x : v) {
    switch (domain) {
      case Domain::Any: x = any(rng); break;
      case Domain::Positive: x = mag(rng); break;
      case Domain::AwayFromZero: x = coin(rng) ? mag(rng) : -mag(rng); break;
    }
  }
  return v;
}

inline Tensor contiguous_input(const std::vector<double>& v, const Shape& shape, Device device = Device::cpu()) {
  if (shape.empty()) return scalar_tensor(v[0], {.dtype = Float64, .device = device});
  return tensor(v, shape, {.dtype = Float64, .device = device});
}

/// The same values as contiguous_input(v, shape), laid out non-contiguously: the transpose of a
/// contiguous tensor where the last two dims allow it, otherwise every other element of a longer
/// tensor (the skipped elements are NaN, so reading them shows). Undefined when impossible.
/// The view is taken on `device`, so its strides are the device tensor's own.
inline Tensor noncontiguous_input(const std::vector<double>& v, const Shape& shape, Device device = Device::cpu()) {
  const int r = static_cast<int>(shape.size());
  if (r >= 2 && shape[r - 1] > 1 && shape[r - 2] > 1) {
    const int64_t n = shape[r - 2], m = shape[r - 1];
    const int64_t batch = shape_numel(shape) / (n * m);
    Shape base_shape = shape;
    std::swap(base_shape[r - 1], base_shape[r - 2]);
    std::vector<double> base(v.size());
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) base[b * n * m + j * n + i] = v[b * n * m + i * m + j];
    return tensor(base, base_shape, {.dtype = Float64, .device = device}).transpose(-1, -2);
  }
  int d = r - 1;
  while (d >= 0 && shape[d] <= 1) --d;
  if (d < 0) return Tensor();
  int64_t outer = 1, inner = 1, len = shape[d];
  for (int k = 0; k < d; ++k) outer *= shape[k];
  for (int k = d + 1; k < r; ++k) inner *= shape[k];
  Shape base_shape = shape;
  base_shape[d] = 2 * len;
  std::vector<double> base(v.size() * 2, std::numeric_limits<double>::quiet_NaN());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < len; ++k)
      for (int64_t i = 0; i < inner; ++i)
        base[(o * 2 * len + 2 * k) * inner + i] = v[(o * len + k) * inner + i];
  return tensor(base, base_shape, {.dtype = Float64, .device = device}).slice(d, 0, 2 * len, 2);
}

inline bool run_gradcheck(const GradCase& row, const std::vector<Tensor>& inputs) {
  bool ok = false;
  CHECK_NOTHROW(ok = gradcheck(row.fn, inputs, row.options));
  return ok;
}

}  // namespace table

/// Checks every row in its three variants (see the top of this file), with the inputs on
/// `device` (the same values on every device: they are drawn on the host from `seed`).
inline void check_gradient_rows(const std::vector<GradCase>& rows, uint64_t seed, Device device = Device::cpu()) {
  using namespace table;
  std::mt19937_64 rng(seed);
  INFO("device: " << device);
  for (const auto& row : rows) {
    INFO("row: " << row.name);
    std::vector<std::vector<double>> values;
    for (const auto& s : row.shapes) values.push_back(draw(s, row.domain, rng));
    const std::size_t n = row.shapes.size();

    {
      INFO("variant: all inputs contiguous, all require grad");
      std::vector<Tensor> inputs;
      for (std::size_t i = 0; i < n; ++i)
        inputs.push_back(contiguous_input(values[i], row.shapes[i], device).requires_grad_());
      CHECK(run_gradcheck(row, inputs));
    }

    if (n > 1) {
      for (std::size_t only = 0; only < n; ++only) {
        INFO("variant: only input " << only << " requires grad");
        std::vector<Tensor> inputs;
        for (std::size_t i = 0; i < n; ++i) {
          Tensor t = contiguous_input(values[i], row.shapes[i], device);
          if (i == only) t.requires_grad_();
          inputs.push_back(t);
        }
        CHECK(run_gradcheck(row, inputs));
      }
    }

    if (row.noncontiguous_ok) {
      INFO("variant: non-contiguous inputs, all require grad");
      std::vector<Tensor> inputs;
      bool any_noncontiguous = false;
      for (std::size_t i = 0; i < n; ++i) {
        Tensor t = noncontiguous_input(values[i], row.shapes[i], device);
        if (t.defined()) {
          CHECK(t.device() == device);
          CHECK_FALSE(t.is_contiguous());
          CHECK(t.shape() == row.shapes[i]);
          CHECK(t.to_vector<double>() == values[i]);
          any_noncontiguous = true;
        } else {
          t = contiguous_input(values[i], row.shapes[i], device);
        }
        inputs.push_back(t.requires_grad_());
      }
      if (any_noncontiguous) CHECK(run_gradcheck(row, inputs));
    }
  }
}

/// The same rows with their inputs on the first GPU (the same values as on the CPU); without
/// one, says that `table` was skipped and why (skip_without_cuda).
inline void check_gradient_rows_on_cuda(const std::vector<GradCase>& rows, uint64_t seed, const std::string& table) {
  if (skip_without_cuda(table + " with inputs on cuda:0")) return;
  check_gradient_rows(rows, seed, Device::cuda(0));
}

}  // namespace tapeflow::test
