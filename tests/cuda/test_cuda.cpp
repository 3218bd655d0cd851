// SPDX-License-Identifier: MIT
// The CUDA backend against the CPU backend, its reference. The parity table runs every op family
// on CPU inputs and on the same inputs on the GPU (made there, and moved there with to()), and
// compares the results and the inputs' gradients, by dtype: float32 within 1e-5, float64 within
// 1e-12, Int64 and Bool exactly. Then: a training run on both devices, to() and copy_ across
// devices, the errors of mixed devices and of a missing GPU, and bad input refused alike on both.
//
// Without a GPU the comparisons run the CPU against itself through the same code (so the
// machinery is exercised and can fail here), and every test that needs a GPU says that it was
// skipped and why (helpers.hpp: skip_without_cuda, parity_device). The gradient tables run on
// the GPU from their own files (the test cases tagged [cuda] in test_gradcheck, test_layers_gradcheck,
// test_conv and test_recurrent): `build/tests/<name> '[cuda]'`.
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/testing.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../helpers.hpp"
#include "../ops_by_name.hpp"

using namespace tapeflow;
using namespace tapeflow::test;
namespace F = tapeflow::nn::functional;
using Catch::Contains;
using Catch::StartsWith;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const Device kCpu = Device::cpu();

// --- the parity table ------------------------------------------------------------------------

/// Where an input's values come from: U(-2, 2); U(0.5, 2); ±U(0.5, 2); integers in [-3, 3]
/// (ties for comparisons, max and argmax, exact in every dtype); integers in [0, bound) (indices,
/// targets); 0 or 1; or the values given.
enum class Draw { Any, Positive, AwayFromZero, Ints, Index, Coin, Given };

struct In {
  Shape shape;
  DType dtype = Float32;
  Draw draw = Draw::Any;
  int64_t bound = 0;               ///< Draw::Index
  std::vector<double> given = {};  ///< Draw::Given
};

In in_f32(Shape s, Draw d = Draw::Any) { return {std::move(s), Float32, d}; }
In in_f64(Shape s, Draw d = Draw::Any) { return {std::move(s), Float64, d}; }
In in_i64(Shape s) { return {std::move(s), Int64, Draw::Ints}; }
In in_bool(Shape s) { return {std::move(s), Bool, Draw::Coin}; }
In in_index(Shape s, int64_t bound) { return {std::move(s), Int64, Draw::Index, bound}; }
In in_given(Shape s, DType dtype, std::vector<double> values) {
  return {std::move(s), dtype, Draw::Given, 0, std::move(values)};
}
In in_dtype(Shape s, DType dtype) {
  switch (dtype) {
    case DType::Float32: return in_f32(std::move(s));
    case DType::Float64: return in_f64(std::move(s));
    case DType::Int64: return in_i64(std::move(s));
    case DType::Bool: return in_bool(std::move(s));
  }
  return {};
}

/// What a row's function gets: its inputs, all on `device`, and that device, for the tensors
/// the function makes itself (`a.on(Float32)`).
struct Args {
  std::vector<Tensor> v;
  Device device;
  const Tensor& operator[](std::size_t i) const { return v[i]; }
  Options on(DType dtype) const { return {.dtype = dtype, .device = device}; }
};
using A = const Args&;
using ParityFn = std::function<Tensor(A)>;

struct ParityRow {
  std::string name;
  std::vector<In> inputs;
  ParityFn fn;
  /// Also compare the gradients of the floating inputs (when the result is floating and
  /// recorded). False for rows that write in place or compute their own gradients.
  bool backward = true;
  /// Looser than the dtype's tolerance by this factor, only where a row says why.
  double tol_scale = 1.0;
};

std::vector<double> draw_values(const In& in, std::mt19937_64& rng) {
  const auto n = static_cast<std::size_t>(shape_numel(in.shape));
  if (in.draw == Draw::Given) return in.given;
  std::vector<double> v(n);
  std::uniform_real_distribution<double> any(-2.0, 2.0), mag(0.5, 2.0);
  std::uniform_int_distribution<int64_t> ints(-3, 3), index(0, std::max<int64_t>(in.bound, 1) - 1);
  std::bernoulli_distribution coin(0.5);
  for (auto& x : v) {
    switch (in.draw) {
      case Draw::Any: x = any(rng); break;
      case Draw::Positive: x = mag(rng); break;
      case Draw::AwayFromZero: x = coin(rng) ? mag(rng) : -mag(rng); break;
      case Draw::Ints: x = static_cast<double>(ints(rng)); break;
      case Draw::Index: x = static_cast<double>(index(rng)); break;
      case Draw::Coin: x = coin(rng) ? 1.0 : 0.0; break;
      case Draw::Given: break;
    }
  }
  return v;
}

/// A fresh tensor (its own storage) of `values` on `device`; the conversion to the dtype happens
/// the same way for every device.
Tensor make(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  const Options o{.dtype = dtype, .device = device};
  if (shape.empty()) return scalar_tensor(values.at(0), o);
  if (dtype == Int64) {
    std::vector<int64_t> iv(values.begin(), values.end());
    return tensor(iv, shape, o);
  }
  return tensor(values, shape, o);
}

/// Every tensor flattened and joined (one dtype), so one row can compare several results.
Tensor flat(const std::vector<Tensor>& ts) {
  std::vector<Tensor> parts;
  for (const Tensor& t : ts) parts.push_back(t.reshape({-1}));
  return concat(parts, 0);
}

/// A module's output followed by the gradients of sum(w * output) (fixed weights w) for `wrt`
/// (its parameters, and inputs made leaves), flattened: what a module row compares.
Tensor with_grads(const Tensor& y, const std::vector<Tensor>& wrt) {
  Tensor w = gradcheck_weights(y.shape(), 1).to(y.dtype()).to(y.device());
  auto gs = grad({sum(y * w)}, wrt, {.allow_unused = true});
  std::vector<Tensor> parts{y.detach()};
  for (std::size_t i = 0; i < gs.size(); ++i) parts.push_back(gs[i].defined() ? gs[i] : zeros_like(wrt[i]));
  return flat(parts);
}

std::vector<Tensor> cat(std::vector<Tensor> a, const std::vector<Tensor>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct ParityReport {
  int rows = 0;
  int comparisons = 0;  ///< results and gradients compared
  std::vector<std::string> failures;
};

/// Runs each row on CPU leaves (the reference), then twice on `other`: with leaves made there,
/// and with CPU leaves moved there by to() (whose gradients must flow back to the CPU). Each
/// result must be on `other` and match the reference; so must each input's gradient of
/// sum(w * result), w fixed random weights. Failures are collected, not asserted, so that a test
/// can show the runner catching a wrong row.
ParityReport run_parity(const std::vector<ParityRow>& rows, uint64_t seed, Device other) {
  ParityReport report;
  std::mt19937_64 rng(seed);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const ParityRow& row = rows[r];
    ++report.rows;
    auto fail = [&](const std::string& where, const std::string& what) {
      report.failures.push_back("row '" + row.name + "' (CPU against " + other.str() + "), " + where + ": " + what);
    };
    std::vector<std::vector<double>> vals;
    for (const In& in : row.inputs) vals.push_back(draw_values(in, rng));
    bool bad_row = false;
    for (std::size_t i = 0; i < row.inputs.size(); ++i)
      if (static_cast<int64_t>(vals[i].size()) != shape_numel(row.inputs[i].shape)) {
        fail("input " + std::to_string(i), "the table gives " + std::to_string(vals[i].size()) + " values for shape " +
                                               shape_str(row.inputs[i].shape));
        bad_row = true;
      }
    if (bad_row) continue;
    auto wants_grad = [&](std::size_t i) { return row.backward && is_floating(row.inputs[i].dtype); };

    Args ref{{}, kCpu};
    for (std::size_t i = 0; i < row.inputs.size(); ++i) {
      Tensor t = make(vals[i], row.inputs[i].shape, row.inputs[i].dtype, kCpu);
      if (wants_grad(i)) t.requires_grad_();
      ref.v.push_back(t);
    }
    Tensor expected;
    try {
      expected = row.fn(ref);
    } catch (const std::exception& e) {
      fail("on the CPU", std::string("threw: ") + e.what());
      continue;
    }
    if (!expected.defined()) {
      fail("on the CPU", "returned an undefined tensor");
      continue;
    }
    const bool backward = row.backward && is_floating(expected.dtype()) && expected.requires_grad();
    std::vector<double> weights;
    if (backward) {
      std::mt19937_64 wrng(seed + 7919 * (r + 1));
      std::uniform_real_distribution<double> u(0.5, 1.5);
      weights.resize(static_cast<std::size_t>(expected.numel()));
      for (double& w : weights) w = u(wrng);
      try {
        sum(expected * make(weights, expected.shape(), expected.dtype(), kCpu)).backward();
      } catch (const std::exception& e) {
        fail("backward on the CPU", std::string("threw: ") + e.what());
        continue;
      }
    }
    const Tolerance tol = device_tolerance(expected.dtype(), row.tol_scale);

    for (const bool moved : {false, true}) {
      const std::string variant = moved ? "CPU inputs moved with to()" : "inputs made on the device";
      std::vector<Tensor> leaves;
      Args dev{{}, other};
      for (std::size_t i = 0; i < row.inputs.size(); ++i) {
        Tensor t = make(vals[i], row.inputs[i].shape, row.inputs[i].dtype, moved ? kCpu : other);
        if (wants_grad(i)) t.requires_grad_();
        leaves.push_back(t);
        dev.v.push_back(moved ? t.to(other) : t);
        if (dev.v.back().device() != other) fail(variant, "input " + std::to_string(i) + " is not on " + other.str());
      }
      Tensor got;
      try {
        got = row.fn(dev);
      } catch (const std::exception& e) {
        fail(variant, std::string("threw: ") + e.what());
        continue;
      }
      if (!got.defined()) {
        fail(variant, "returned an undefined tensor");
        continue;
      }
      if (got.device() != other) fail(variant, "the result is on " + got.device().str());
      ++report.comparisons;
      const Tensor got_host = got.detach().to(kCpu);
      if (std::string m = mismatch(got_host, expected, tol); !m.empty()) fail(variant, "result differs: " + m);
      if (!backward) continue;
      if (!got.requires_grad()) {
        fail(variant, "the result does not require grad, the CPU's does");
        continue;
      }
      try {
        sum(got * make(weights, got.shape(), got.dtype(), got.device())).backward();
      } catch (const std::exception& e) {
        fail(variant + ", backward", std::string("threw: ") + e.what());
        continue;
      }
      for (std::size_t i = 0; i < row.inputs.size(); ++i) {
        if (!wants_grad(i)) continue;
        const std::string which = variant + ", gradient of input " + std::to_string(i);
        const Tensor g = leaves[i].grad(), e = ref.v[i].grad();
        if (g.defined() != e.defined()) {
          fail(which, g.defined() ? "defined, but not on the CPU" : "undefined, but defined on the CPU");
          continue;
        }
        if (!g.defined()) continue;
        // A leaf made on the device gets its gradient there; a moved CPU leaf gets it back on the CPU.
        if (g.device() != leaves[i].device())
          fail(which, "is on " + g.device().str() + ", its leaf on " + leaves[i].device().str());
        ++report.comparisons;
        if (std::string m = mismatch(g.to(kCpu), e, device_tolerance(e.dtype(), row.tol_scale)); !m.empty())
          fail(which, "differs: " + m);
      }
    }
  }
  return report;
}

/// Runs `rows` against the GPU (or the CPU, saying why) and turns each failure into a failed CHECK.
void check_parity(const std::vector<ParityRow>& rows, uint64_t seed, const std::string& table) {
  const Device other = parity_device("the parity table (" + table + ")");
  const ParityReport report = run_parity(rows, seed, other);
  INFO(report.rows << " rows, " << report.comparisons << " comparisons, CPU against " << other);
  for (const std::string& f : report.failures) FAIL_CHECK(f);
  CHECK(report.failures.empty());
  CHECK(report.rows == static_cast<int>(rows.size()));
  CHECK(report.comparisons >= 2 * report.rows);
}

// --- elementwise rows, generated from ops.def ------------------------------------------------

// Special values where the CPU's results are IEEE's or libm's: zeros of both signs, infinities,
// NaN, a float32 subnormal (1e-40: a kernel that flushes subnormals to zero shows), large and
// tiny arguments.
const std::vector<double> kSpecial = {0.0, -0.0, kInf, -kInf, kNaN, 1e-40, 1e-30, 30.0, -30.0, 100.0, -100.0, 0.5};

void add_unary_rows(std::vector<ParityRow>& rows, const std::string& name, Draw draw) {
  auto it = unary_op_fns().find(name);
  if (it == unary_op_fns().end()) return;  // the coverage test reports it
  const UnaryFn f = it->second;
  auto row = [&](std::string variant, std::vector<In> in, ParityFn fn) {
    rows.push_back({name + " " + variant, std::move(in), std::move(fn)});
  };
  row("f32", {in_f32({3, 4}, draw)}, [f](A a) { return f(a[0]); });
  row("f64", {in_f64({3, 4}, draw)}, [f](A a) { return f(a[0]); });
  row("f32 0-d", {in_f32({}, draw)}, [f](A a) { return f(a[0]); });
  row("f32 transposed", {in_f32({5, 3}, draw)}, [f](A a) { return f(a[0].t()); });
  row("f64 sliced with step 2 and an offset", {in_f64({4, 9}, draw)}, [f](A a) { return f(a[0].slice(1, 1, 9, 2)); });
  row("f32 large [67,129]", {in_f32({67, 129}, draw)}, [f](A a) { return f(a[0]); });
  row("f32 empty [0,3]", {in_f32({0, 3}, draw)}, [f](A a) { return f(a[0]); });
  row("f32 special values", {in_given({12}, Float32, kSpecial)}, [f](A a) { return f(a[0]); });
  row("f64 special values", {in_given({12}, Float64, kSpecial)}, [f](A a) { return f(a[0]); });
  // Integers: kept by neg, abs and relu, promoted to Float32 by the float-only ops.
  row("int64", {in_i64({3, 5})}, [f](A a) { return f(a[0]); });
  if (name == "neg" || name == "abs" || name == "relu") {
    row("int64 extremes", {in_given({4}, Int64, {-9007199254740992.0, 9007199254740992.0, -1.0, 0.0})},
        [f](A a) { return f(a[0]); });
  }
}

void add_binary_rows(std::vector<ParityRow>& rows, const std::string& name, Draw draw, bool comparison) {
  auto it = binary_op_fns().find(name);
  if (it == binary_op_fns().end()) return;  // the coverage test reports it
  const BinaryFn f = it->second;
  // Comparisons draw integers so that ties (eq, le, ge) actually happen.
  const Draw d = comparison ? Draw::Ints : draw;
  auto row = [&](std::string variant, std::vector<In> in, ParityFn fn, double tol_scale = 1.0) {
    rows.push_back({name + " " + variant, std::move(in), std::move(fn), true, tol_scale});
  };
  const ParityFn ab = [f](A a) { return f(a[0], a[1]); };
  row("f32", {in_f32({3, 4}, d), in_f32({3, 4}, d)}, ab);
  row("f64", {in_f64({3, 4}, d), in_f64({3, 4}, d)}, ab);
  row("broadcast [3,1]x[1,4]", {in_f32({3, 1}, d), in_f32({1, 4}, d)}, ab);
  row("broadcast [2,3]x[3]", {in_f32({2, 3}, d), in_f32({3}, d)}, ab);
  row("broadcast []x[2,2]", {in_f32({}, d), in_f32({2, 2}, d)}, ab);
  row("broadcast f64 [2,2]x[]", {in_f64({2, 2}, d), in_f64({}, d)}, ab);
  row("broadcast [2,1,4]x[3,1]", {in_f32({2, 1, 4}, d), in_f32({3, 1}, d)}, ab);
  row("transposed x sliced with step 2", {in_f32({4, 3}, d), in_f32({3, 8}, d)},
      [f](A a) { return f(a[0].t(), a[1].slice(1, 0, 8, 2)); });
  row("expanded (stride 0) x permuted", {in_f32({1, 4}, d), in_f32({4, 2, 3}, d)},
      [f](A a) { return f(a[0].expand({6, 4}), a[1].permute({1, 2, 0}).reshape({6, 4})); });
  row("offset views", {in_f64({5, 6}, d), in_f64({5, 6}, d)},
      [f](A a) { return f(a[0].slice(0, 1, 4).slice(1, 2, 6), a[1].slice(0, 2, 5).slice(1, 0, 4)); });
  row("large broadcast [65,130]x[130]", {in_f32({65, 130}, d), in_f32({130}, d)}, ab);
  row("empty [0,3]x[3]", {in_f32({0, 3}, d), in_f32({3}, d)}, ab);
  // Mixed dtypes promote (Bool < Int64 < Float32 < Float64); float-only ops make integers Float32.
  row("mixed f32 x int64", {in_f32({3, 4}, d), in_i64({4})}, ab);
  row("mixed f64 x f32", {in_f64({3, 1}, d), in_f32({3, 4}, d)}, ab);
  row("mixed int64 x f64 0-d", {in_i64({3, 4}), in_f64({}, d)}, ab);
  if (comparison) {
    row("int64", {in_i64({3, 4}), in_i64({3, 4})}, ab);
    row("int64 broadcast scalar", {in_i64({3, 4}), in_i64({})}, ab);
    row("bool", {in_bool({3, 4}), in_bool({3, 4})}, ab);
    row("NaN and infinities",
        {in_given({6}, Float32, {kNaN, kNaN, 1.0, kInf, -kInf, 0.0}), in_given({6}, Float32, {kNaN, 1.0, kNaN, kInf, kInf, -0.0})},
        ab);
    return;
  }
  if (name == "add" || name == "sub" || name == "mul" || name == "maximum" || name == "minimum") {
    row("int64", {in_i64({3, 4}), in_i64({3, 4})}, ab);
    row("int64 broadcast [3,1]x[4]", {in_i64({3, 1}), in_i64({4})}, ab);
  }
  if (name == "div") {
    // True division: integers give Float32.
    row("int64 gives float32", {in_i64({3, 4}), in_index({3, 4}, 4)}, [f](A a) { return f(a[0], a[1] + 1.0); });
  }
  if (name == "maximum" || name == "minimum") {
    row("infinities and ties", {in_given({6}, Float32, {kInf, -kInf, 1.0, -kInf, 2.0, 0.0}),
                                 in_given({6}, Float32, {1.0, 1.0, kInf, -kInf, 2.0, -0.0})},
        ab);
  }
  if (name != "pow") {
    row("NaN and infinities", {in_given({7}, Float32, {kInf, -kInf, kNaN, 1.0, 0.0, -0.0, kInf}),
                               in_given({7}, Float32, {-kInf, -kInf, 1.0, kNaN, -0.0, 0.0, kInf})},
        ab);
    row("f64 NaN and infinities", {in_given({7}, Float64, {kInf, -kInf, kNaN, 1.0, 0.0, -0.0, kInf}),
                                   in_given({7}, Float64, {-kInf, -kInf, 1.0, kNaN, -0.0, 0.0, kInf})},
        ab);
  } else {
    row("special bases and exponents", {in_given({8}, Float64, {0.0, 0.0, 2.0, 1.0, kInf, 4.0, 0.5, 3.0}),
                                       in_given({8}, Float64, {0.0, -1.0, 0.5, kNaN, -1.0, -0.5, kInf, 40.0})},
        ab);
  }
}

std::vector<ParityRow> elementwise_rows() {
  std::vector<ParityRow> rows;
#define UNARY(name, str, domain) add_unary_rows(rows, str, Draw::domain);
#define BINARY(name, str, domain) add_binary_rows(rows, str, Draw::domain, false);
#define COMPARE(name, str) add_binary_rows(rows, str, Draw::Ints, true);
#include "../../tensor/detail/ops.def"

  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };
  // Operators and scalar forms (a C++ scalar takes the tensor's dtype).
  row({"mul scalar x*2.5 and 2.5*x", {in_f32({3, 4})}, [](A a) { return a[0] * 2.5 + 2.5 * a[0]; }});
  row({"sub scalar 3-x and x-1.5", {in_f64({3, 4})}, [](A a) { return (3.0 - a[0]) * (a[0] - 1.5); }});
  row({"div scalar x/4 and 1/x", {in_f32({3, 4}, Draw::AwayFromZero)}, [](A a) { return a[0] / 4.0 + 1.0 / a[0]; }});
  row({"pow scalar exponents 3, 0.5, -1.5", {in_f32({3, 4}, Draw::Positive)},
       [](A a) { return pow(a[0], 3.0) + pow(a[0], 0.5) + a[0].pow(-1.5); }});
  row({"add scalar int64", {in_i64({3, 4})}, [](A a) { return a[0] + 2.0; }});
  row({"unary operator- and methods", {in_f32({3, 4})}, [](A a) { return -a[0].exp() + a[0].tanh() * a[0].sigmoid(); }});
  row({"comparison with a scalar", {in_f32({3, 4}, Draw::Ints)}, [](A a) { return (a[0] >= 1.0) != (a[0] < -1.0); }});
  row({"clamp both bounds", {in_f32({3, 4})}, [](A a) { return clamp(a[0], -0.7, 0.7); }});
  row({"clamp min only, f64 transposed", {in_f64({4, 3})}, [](A a) { return a[0].t().clamp(-0.5, std::nullopt); }});
  row({"clamp int64", {in_i64({3, 4})}, [](A a) { return clamp(a[0], -1.0, 2.0); }});
  row({"sign", {in_given({6}, Float32, {-2.0, -0.0, 0.0, 3.0, kInf, -kInf})}, [](A a) { return sign(a[0]); }});
  row({"sign int64", {in_i64({3, 4})}, [](A a) { return sign(a[0]); }});

  // where: cond ? a : b, all three broadcasting.
  row({"where", {in_bool({3, 4}), in_f32({3, 4}), in_f32({3, 4})}, [](A a) { return where(a[0], a[1], a[2]); }});
  row({"where broadcast [3,1] [4] []", {in_bool({3, 1}), in_f32({4}), in_f32({})},
       [](A a) { return where(a[0], a[1], a[2]); }});
  row({"where transposed cond, f64", {in_bool({4, 3}), in_f64({3, 4}), in_f64({3, 4})},
       [](A a) { return where(a[0].t(), a[1], a[2]); }});
  row({"where int64", {in_bool({3, 4}), in_i64({3, 4}), in_i64({3, 4})}, [](A a) { return where(a[0], a[1], a[2]); }});
  row({"where bool", {in_bool({3, 4}), in_bool({3, 4}), in_bool({4})}, [](A a) { return where(a[0], a[1], a[2]); }});
  // The branch not taken may hold NaN: neither the value nor the gradient may show it.
  row({"where NaN in the branch not taken", {in_given({4}, Bool, {1, 0, 1, 0}), in_given({4}, Float32, {1, kNaN, 2, kNaN}),
                                             in_given({4}, Float32, {kNaN, 3, kNaN, 4})},
       [](A a) { return where(a[0], a[1], a[2]); }});
  row({"where from a comparison", {in_f32({3, 4}), in_f32({3, 4})}, [](A a) { return where(a[0] > a[1], a[0], a[1] * 2.0); }});
  return rows;
}

// --- casts, creation, in-place writes ----------------------------------------------------------

const char* short_name(DType d) {
  switch (d) {
    case DType::Float32: return "f32";
    case DType::Float64: return "f64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

std::vector<ParityRow> cast_creation_inplace_rows() {
  std::vector<ParityRow> rows;
  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };
  const DType all[] = {Float32, Float64, Int64, Bool};

  // --- every cast between the four dtypes (float -> float is differentiable) ---
  for (DType from : all)
    for (DType to : all) {
      const std::string n = std::string("cast ") + short_name(from) + " -> " + short_name(to);
      row({n, {in_dtype({3, 4}, from)}, [to](A a) { return a[0].to(to); }});
      row({n + " of a transposed view", {in_dtype({4, 3}, from)}, [to](A a) { return a[0].t().to(to); }});
    }
  // Floating to int64 truncates toward zero, saturates at the int64 range and takes NaN to 0.
  const std::vector<double> wild = {kNaN, kInf, -kInf, 1e30, -1e30, 9.3e18, -9.3e18, 2.9, -2.9, -0.0, 0.49, -0.51};
  row({"cast f32 -> int64 saturating, NaN to 0", {in_given({12}, Float32, wild)}, [](A a) { return a[0].to(Int64); }});
  row({"cast f64 -> int64 saturating, NaN to 0", {in_given({12}, Float64, wild)}, [](A a) { return a[0].to(Int64); }});
  row({"cast f64 -> int64 at the edges of the range",
       {in_given({4}, Float64, {9223372036854775807.0, -9223372036854775808.0, 9.2233720368547748e18, -9.2233720368547748e18})},
       [](A a) { return a[0].to(Int64); }});
  row({"cast f32 -> bool: NaN, zeros, subnormal", {in_given({6}, Float32, {kNaN, 0.0, -0.0, 1e-40, kInf, -0.25})},
       [](A a) { return a[0].to(Bool); }});
  row({"cast f64 -> f32: overflow, underflow, rounding", {in_given({6}, Float64, {1e300, -1e300, 1e-300, 3.4e38, 0.1, kNaN})},
       [](A a) { return a[0].to(Float32); }});
  row({"cast int64 -> f32 rounding", {in_given({4}, Int64, {16777217.0, -16777219.0, 123456789.0, -987654321.0})},
       [](A a) { return a[0].to(Float32); }});
  row({"cast f32 -> f64 -> f32 differentiable chain", {in_f32({3, 4})}, [](A a) { return (a[0].to(Float64) * 3.0).to(Float32); }});

  // --- creation on the device (no inputs: the row makes everything) ---
  row({"zeros f32", {}, [](A a) { return zeros({2, 3}, a.on(Float32)); }});
  row({"zeros f64 0-d", {}, [](A a) { return zeros({}, a.on(Float64)); }});
  row({"ones int64", {}, [](A a) { return ones({3, 2}, a.on(Int64)); }});
  row({"ones bool", {}, [](A a) { return ones({4}, a.on(Bool)); }});
  row({"full f32", {}, [](A a) { return full({2, 2}, -2.5, a.on(Float32)); }});
  row({"full f64 NaN", {}, [](A a) { return full({3}, kNaN, a.on(Float64)); }});
  row({"full int64", {}, [](A a) { return full({2, 3}, -7, a.on(Int64)); }});
  row({"full bool", {}, [](A a) { return full({2}, 1, a.on(Bool)); }});
  row({"full empty", {}, [](A a) { return full({0, 4}, 1.5, a.on(Float32)); }});
  row({"scalar_tensor", {}, [](A a) { return scalar_tensor(0.25, a.on(Float64)); }});
  row({"tensor from values", {}, [](A a) { return tensor({1.5, -2.0, 3.25}, {3, 1}, a.on(Float64)); }});
  row({"arange f32", {}, [](A a) { return arange(-1.0, 4.0, 0.5, a.on(Float32)); }});
  row({"arange int64", {}, [](A a) { return arange(7, a.on(Int64)); }});
  row({"linspace f64", {}, [](A a) { return linspace(-1.0, 1.0, 9, a.on(Float64)); }});
  row({"eye f32 3x4", {}, [](A a) { return eye(3, 4, a.on(Float32)); }});
  row({"zeros_like/ones_like/full_like keep the device", {in_f32({2, 3})},
       [](A a) { return zeros_like(a[0]) + ones_like(a[0]) * 2.0 + full_like(a[0], 0.5); }});
  // Random values are drawn on the host: the same seed gives the same values on any device.
  row({"randn seeded", {}, [](A a) {
         manual_seed(42);
         return randn({5, 7}, a.on(Float32));
       }});
  row({"rand, uniform, normal seeded f64", {}, [](A a) {
         manual_seed(43);
         Tensor r = rand({4}, a.on(Float64));
         Tensor u = uniform({4}, -3.0, 5.0, a.on(Float64));
         Tensor n = normal({4}, 1.0, 0.25, a.on(Float64));
         return flat({r, u, n});
       }});
  row({"truncated_normal seeded", {}, [](A a) {
         manual_seed(44);
         return truncated_normal({64}, 0.0, 1.0, a.on(Float32));
       }});
  row({"randint seeded", {}, [](A a) {
         manual_seed(45);
         return randint(-3, 7, {3, 5}, a.on(Int64));
       }});
  // Initialisers write into a tensor on its own device, from host draws.
  row({"nn::init on a device tensor, seeded", {}, [](A a) {
         manual_seed(46);
         Tensor k = nn::init::kaiming_uniform_(empty({6, 5}, a.on(Float32)), std::sqrt(5.0));
         Tensor x = nn::init::xavier_normal_(empty({4, 3}, a.on(Float32)));
         Tensor t = nn::init::trunc_normal_(empty({50}, a.on(Float32)), 0.0, 1.0, -0.5, 0.5);
         Tensor c = nn::init::constant_(empty({3}, a.on(Float32)), 0.75);
         return flat({k, x, t, c});
       }});

  // --- in-place writes (on clones: the inputs stay as drawn) ---
  auto inplace = [&](std::string name, std::vector<In> in, ParityFn fn) {
    rows.push_back({std::move(name), std::move(in), std::move(fn), false});
  };
  inplace("add_ tensor", {in_f32({3, 4}), in_f32({3, 4})}, [](A a) {
    Tensor t = a[0].clone();
    t.add_(a[1]);
    return t;
  });
  inplace("add_ broadcast [4] and scalar", {in_f32({3, 4}), in_f32({4})}, [](A a) {
    Tensor t = a[0].clone();
    t.add_(a[1]).add_(1.5);
    return t;
  });
  inplace("add_ int64 other into f64 (converted first)", {in_f64({3, 4}), in_i64({3, 4})}, [](A a) {
    Tensor t = a[0].clone();
    t.add_(a[1]);
    return t;
  });
  inplace("sub_ tensor and scalar", {in_f64({3, 4}), in_f64({3, 1})}, [](A a) {
    Tensor t = a[0].clone();
    t.sub_(a[1]).sub_(0.25);
    return t;
  });
  inplace("mul_ broadcast and scalar", {in_f32({3, 4}), in_f32({1, 4})}, [](A a) {
    Tensor t = a[0].clone();
    t.mul_(a[1]).mul_(-3.0);
    return t;
  });
  inplace("div_ tensor and scalar", {in_f32({3, 4}), in_f32({3, 4}, Draw::AwayFromZero)}, [](A a) {
    Tensor t = a[0].clone();
    t.div_(a[1]).div_(8.0);
    return t;
  });
  inplace("mul_ into a view sliced with step 2", {in_f32({3, 6}), in_f32({3, 3})}, [](A a) {
    Tensor t = a[0].clone();
    t.slice(1, 1, 6, 2).mul_(a[1]);
    return t;
  });
  inplace("add_ into a transposed view from a transposed source", {in_f64({4, 3}), in_f64({4, 3})}, [](A a) {
    Tensor t = a[0].clone();
    t.t().add_(a[1].t());
    return t;
  });
  inplace("add_ int64", {in_i64({3, 4}), in_i64({4})}, [](A a) {
    Tensor t = a[0].clone();
    t.add_(a[1]).mul_(3.0);
    return t;
  });
  inplace("fill_ and zero_ on views", {in_f32({4, 6})}, [](A a) {
    Tensor t = a[0].clone();
    t.slice(1, 0, 6, 2).fill_(3.5);
    t.slice(0, 1, 3).t().zero_();
    return t;
  });
  inplace("fill_ int64 and bool", {in_i64({2, 3}), in_bool({2, 3})}, [](A a) {
    Tensor i = a[0].clone(), b = a[1].clone();
    i.slice(1, 1, 3).fill_(-5);
    b.slice(0, 0, 1).fill_(1);
    return i + b.to(Int64);
  });
  inplace("copy_ same device, converting and broadcasting", {in_f32({4})}, [](A a) {
    Tensor t = zeros({3, 4}, a.on(Float64));
    t.copy_(a[0]);
    return t;
  });
  inplace("copy_ from a transposed source into a sliced view", {in_f64({4, 3}), in_f64({3, 8})}, [](A a) {
    Tensor t = a[1].clone();
    t.slice(1, 0, 8, 2).copy_(a[0].t());
    return t;
  });
  inplace("copy_ from a CPU source into a device tensor", {in_f32({3, 4})}, [](A a) {
    Tensor t = zeros({3, 4}, a.on(Float32));
    t.copy_(a[0].to(Device::cpu()));
    return t;
  });
  inplace("copy_ from a CPU source, converting and broadcasting, into a sliced device view", {in_f32({4, 1})}, [](A a) {
    Tensor t = full({4, 6}, -1.0, a.on(Float64));
    t.slice(1, 1, 6, 2).copy_(a[0].to(Device::cpu()));
    return t;
  });
  inplace("copy_ f32 -> int64 saturating", {in_given({4}, Float32, {kNaN, 1e30, -1e30, -2.5})}, [](A a) {
    Tensor t = zeros({4}, a.on(Int64));
    t.copy_(a[0]);
    return t;
  });
  return rows;
}

// --- reductions, softmax, losses ---------------------------------------------------------------

std::vector<ParityRow> reduction_rows() {
  std::vector<ParityRow> rows;
  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };

  // sum, mean, max, min over axes (argmax and argmin take one axis or all).
  using Red = std::function<Tensor(const Tensor&, const Axes&, bool)>;
  const std::vector<std::pair<std::string, Red>> reds = {
      {"sum", [](const Tensor& x, const Axes& ax, bool k) { return sum(x, ax, k); }},
      {"mean", [](const Tensor& x, const Axes& ax, bool k) { return mean(x, ax, k); }},
      {"max", [](const Tensor& x, const Axes& ax, bool k) { return tapeflow::max(x, ax, k); }},
      {"min", [](const Tensor& x, const Axes& ax, bool k) { return tapeflow::min(x, ax, k); }},
  };
  for (const auto& [name, f] : reds) {
    const Red g = f;
    row({name + " all", {in_f32({3, 4})}, [g](A a) { return g(a[0], {}, false); }});
    row({name + " axis 0", {in_f32({3, 4})}, [g](A a) { return g(a[0], {0}, false); }});
    row({name + " axis -1 keepdim", {in_f64({3, 4})}, [g](A a) { return g(a[0], {-1}, true); }});
    row({name + " axes {0,2}", {in_f32({2, 3, 4})}, [g](A a) { return g(a[0], {0, 2}, false); }});
    row({name + " axes {0,2} keepdim", {in_f64({2, 3, 4})}, [g](A a) { return g(a[0], {0, 2}, true); }});
    row({name + " axes {1,2} of a 4-d tensor", {in_f32({2, 3, 4, 5})}, [g](A a) { return g(a[0], {1, 2}, false); }});
    row({name + " all axes listed", {in_f32({2, 3, 4})}, [g](A a) { return g(a[0], {0, 1, 2}, false); }});
    row({name + " 0-d", {in_f64({})}, [g](A a) { return g(a[0], {}, false); }});
    row({name + " of a transposed view, axis 1", {in_f32({5, 3})}, [g](A a) { return g(a[0].t(), {1}, false); }});
    row({name + " of a view sliced with step 3, axis 0", {in_f32({4, 10})},
         [g](A a) { return g(a[0].slice(1, 1, 10, 3), {0}, false); }});
    row({name + " of a permuted view, axes {0,1}", {in_f64({3, 4, 5})},
         [g](A a) { return g(a[0].permute({2, 0, 1}), {0, 1}, true); }});
    // Many elements per output: several GPU blocks per row, and a whole-tensor reduction.
    row({name + " large [67,300] axis 1", {in_f32({67, 300}, Draw::Positive)}, [g](A a) { return g(a[0], {1}, false); }});
    row({name + " large [300,67] axis 0", {in_f32({300, 67}, Draw::Positive)}, [g](A a) { return g(a[0], {0}, false); }});
    row({name + " large [67,300] all", {in_f32({67, 300}, Draw::Positive)}, [g](A a) { return g(a[0], {}, false); }});
    row({name + " large f64 [3,70000] all", {in_f64({3, 70000}, Draw::Positive)}, [g](A a) { return g(a[0], {}, false); }});
    // Ties: max and min share the gradient equally between tied elements.
    row({name + " with ties", {in_f32({4, 6}, Draw::Ints)}, [g](A a) { return g(a[0], {1}, false); }});
  }
  row({"sum int64 all and axis", {in_i64({3, 4})}, [](A a) { return flat({sum(a[0]).reshape({1}), sum(a[0], {0})}); }});
  row({"sum bool gives int64", {in_bool({5, 7})}, [](A a) { return flat({sum(a[0]).reshape({1}), sum(a[0], {1})}); }});
  row({"sum bool large", {in_bool({130, 257})}, [](A a) { return sum(a[0], {0}); }});
  row({"sum int64 non-contiguous", {in_i64({4, 6})}, [](A a) { return sum(a[0].t().slice(0, 0, 6, 2), {1}, true); }});
  row({"max and min int64", {in_i64({3, 5})}, [](A a) { return flat({tapeflow::max(a[0], {1}), tapeflow::min(a[0], {0})}); }});
  row({"sum empty [0,3] axis 0", {in_f32({0, 3})}, [](A a) { return sum(a[0], {0}); }});
  row({"sum empty all", {in_f64({0, 3})}, [](A a) { return a[0].sum(); }});
  row({"sum method forms", {in_f32({2, 3, 4})}, [](A a) { return a[0].sum(1, true).sum(Axes{0, 2}).mean(); }});

  // argmax / argmin: Int64 positions of the first extreme value.
  for (const bool is_max : {true, false}) {
    const std::string n = is_max ? "argmax" : "argmin";
    auto arg = [is_max](const Tensor& x, std::optional<int64_t> axis, bool keepdim) {
      return is_max ? argmax(x, axis, keepdim) : argmin(x, axis, keepdim);
    };
    row({n + " all", {in_f32({3, 4})}, [arg](A a) { return arg(a[0], std::nullopt, false); }});
    row({n + " axis 1", {in_f64({3, 4})}, [arg](A a) { return arg(a[0], 1, false); }});
    row({n + " axis 0 keepdim", {in_f32({3, 4})}, [arg](A a) { return arg(a[0], 0, true); }});
    row({n + " ties: the first wins", {in_f32({5, 8}, Draw::Ints)}, [arg](A a) { return arg(a[0], 1, false); }});
    row({n + " ties all", {in_f32({5, 8}, Draw::Ints)}, [arg](A a) { return arg(a[0], std::nullopt, false); }});
    row({n + " int64", {in_i64({4, 5})}, [arg](A a) { return arg(a[0], 0, false); }});
    row({n + " of a transposed view", {in_f32({6, 3})}, [arg](A a) { return arg(a[0].t(), 1, false); }});
    row({n + " large [40,1000] axis 1", {in_f32({40, 1000})}, [arg](A a) { return arg(a[0], 1, false); }});
    row({n + " large [1000,40] axis 0 with ties", {in_f32({1000, 40}, Draw::Ints)}, [arg](A a) { return arg(a[0], 0, false); }});
    row({n + " large all", {in_f32({300, 301})}, [arg](A a) { return arg(a[0], std::nullopt, false); }});
  }
  // NaN wins a max or min (the first NaN for argmax/argmin), as in NumPy; infinities are values.
  const std::vector<double> nans = {1, kNaN, 3, 2, 5, 4, 5, -kInf, kNaN, kNaN, 0, kInf, -kInf, -kInf, -kInf, -kInf};
  row({"max with NaN and infinities, per row", {in_given({4, 4}, Float32, nans)}, [](A a) { return a[0].max(1); }});
  row({"min with NaN and infinities, per column", {in_given({4, 4}, Float64, nans)}, [](A a) { return a[0].min(0); }});
  row({"max with NaN, all", {in_given({4, 4}, Float32, nans)}, [](A a) { return a[0].max(); }});
  row({"argmax with NaN, per row and all", {in_given({4, 4}, Float32, nans)},
       [](A a) { return flat({a[0].argmax(1), a[0].argmax().reshape({1})}); }});
  row({"argmin with NaN, per column and all", {in_given({4, 4}, Float64, nans)},
       [](A a) { return flat({a[0].argmin(0), a[0].argmin().reshape({1})}); }});
  row({"max with NaN in a large row", {in_f32({4, 2000})}, [](A a) {
         Tensor nan_at = zeros({4, 2000}, a.on(Bool));
         nan_at.slice(0, 1, 2).slice(1, 1500, 1501).fill_(1);
         Tensor x = where(nan_at, full({}, kNaN, a.on(Float32)), a[0]);
         return flat({x.max(1), x.argmax(1).to(Float32)});
       },
       false});
  row({"sum with NaN and infinities", {in_given({4, 4}, Float32, nans)}, [](A a) { return a[0].sum(0); }});

  // logsumexp
  row({"logsumexp axis 1", {in_f32({3, 4})}, [](A a) { return logsumexp(a[0], {1}); }});
  row({"logsumexp all axes f64", {in_f64({2, 3, 4})}, [](A a) { return logsumexp(a[0], {0, 1, 2}); }});
  row({"logsumexp large logits", {in_f32({3, 4})}, [](A a) { return logsumexp(a[0] * 1000.0, {0}, true); }});
  return rows;
}

std::vector<ParityRow> nn_function_rows() {
  std::vector<ParityRow> rows;
  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };

  for (const bool log : {false, true}) {
    const std::string n = log ? "log_softmax" : "softmax";
    auto sm = [log](const Tensor& x, int64_t dim) { return log ? log_softmax(x, dim) : softmax(x, dim); };
    row({n + " dim -1", {in_f32({3, 4})}, [sm](A a) { return sm(a[0], -1); }});
    row({n + " dim 0", {in_f32({3, 4})}, [sm](A a) { return sm(a[0], 0); }});
    row({n + " 3-d dim 1", {in_f64({2, 3, 4})}, [sm](A a) { return sm(a[0], 1); }});
    row({n + " 3-d dim 0", {in_f32({2, 3, 4})}, [sm](A a) { return sm(a[0], 0); }});
    row({n + " of a transposed view", {in_f32({5, 3})}, [sm](A a) { return sm(a[0].t(), -1); }});
    row({n + " of a view sliced with step 2", {in_f64({3, 10})}, [sm](A a) { return sm(a[0].slice(1, 1, 10, 2), 1); }});
    row({n + " large logits (x1000)", {in_f32({3, 5})}, [sm](A a) { return sm(a[0] * 1000.0, -1); }});
    row({n + " long rows [4,3000]", {in_f32({4, 3000})}, [sm](A a) { return sm(a[0], -1); }});
    row({n + " long columns [3000,4] dim 0", {in_f32({3000, 4})}, [sm](A a) { return sm(a[0], 0); }});
    row({n + " many short rows [2000,3]", {in_f32({2000, 3})}, [sm](A a) { return sm(a[0], 1); }});
    // -inf logits get probability 0 (log-probability -inf); the rest of the row is unaffected.
    row({n + " -inf entries", {in_given({2, 3}, Float32, {-kInf, 1.0, 2.0, 0.5, -kInf, -kInf})},
         [sm](A a) { return sm(a[0], 1); }, false});
    // A row of -inf only has no distribution: NaN, on every device.
    row({n + " a row of -inf only gives NaN", {in_given({2, 3}, Float64, {-kInf, -kInf, -kInf, 0.5, 1.0, 2.0})},
         [sm](A a) { return sm(a[0], 1); }, false});
    row({n + " method", {in_f32({2, 5})}, [log](A a) { return log ? a[0].log_softmax(1) : a[0].softmax(1); }});
  }

  // cross_entropy: the fused loss (logits [N, C], Int64 targets [N]).
  row({"cross_entropy", {in_f32({4, 5}), in_index({4}, 5)}, [](A a) { return cross_entropy(a[0], a[1]); }});
  row({"cross_entropy f64", {in_f64({6, 3}), in_index({6}, 3)}, [](A a) { return cross_entropy(a[0], a[1]); }});
  row({"cross_entropy large logits (x1000)", {in_f32({4, 5}), in_index({4}, 5)},
       [](A a) { return cross_entropy(a[0] * 1000.0, a[1]); }});
  row({"cross_entropy transposed logits", {in_f32({5, 4}), in_index({4}, 5)}, [](A a) { return cross_entropy(a[0].t(), a[1]); }});
  row({"cross_entropy one example", {in_f32({1, 3}), in_index({1}, 3)}, [](A a) { return cross_entropy(a[0], a[1]); }});
  row({"cross_entropy repeated targets", {in_f32({3, 4}), in_given({3}, Int64, {2, 2, 2})},
       [](A a) { return cross_entropy(a[0], a[1]); }});
  row({"cross_entropy many classes [16,1000]", {in_f32({16, 1000}), in_index({16}, 1000)},
       [](A a) { return cross_entropy(a[0], a[1]); }});
  row({"cross_entropy large batch [3000,5]", {in_f32({3000, 5}), in_index({3000}, 5)},
       [](A a) { return cross_entropy(a[0], a[1]); }});
  row({"cross_entropy label_smoothing", {in_f32({4, 5}), in_index({4}, 5)},
       [](A a) { return F::cross_entropy(a[0], a[1], {.label_smoothing = 0.2}); }});
  row({"cross_entropy reduction none", {in_f64({4, 5}), in_index({4}, 5)},
       [](A a) { return F::cross_entropy(a[0], a[1], {.reduction = nn::Reduction::None}); }});
  row({"cross_entropy reduction sum", {in_f32({4, 5}), in_index({4}, 5)},
       [](A a) { return F::cross_entropy(a[0], a[1], {.reduction = nn::Reduction::Sum}); }});
  row({"nll_loss of log_softmax", {in_f32({4, 5}), in_index({4}, 5)},
       [](A a) { return F::nll_loss(log_softmax(a[0], 1), a[1]); }});
  row({"mse_loss", {in_f32({3, 4}), in_f32({3, 4})}, [](A a) { return mse_loss(a[0], a[1]); }});
  row({"mse_loss broadcast target", {in_f64({3, 4}), in_f64({4})}, [](A a) { return mse_loss(a[0], a[1]); }});
  row({"l1_loss sum", {in_f32({3, 4}), in_f32({3, 4})},
       [](A a) { return F::l1_loss(a[0], a[1], {.reduction = nn::Reduction::Sum}); }});
  row({"binary_cross_entropy", {in_f32({2, 3}), in_f32({2, 3}, Draw::Coin)},
       [](A a) { return F::binary_cross_entropy(sigmoid(a[0]), a[1]); }});
  row({"binary_cross_entropy_with_logits large logits", {in_f32({2, 3}), in_f32({2, 3}, Draw::Coin)},
       [](A a) { return F::binary_cross_entropy_with_logits(a[0] * 20.0, a[1], {.reduction = nn::Reduction::None}); }});
  row({"one_hot", {in_index({2, 3}, 4)}, [](A a) { return one_hot(a[0], 4); }});

  // Activations of nn::functional.
  row({"leaky_relu", {in_f32({3, 4}, Draw::AwayFromZero)}, [](A a) { return F::leaky_relu(a[0], 0.1); }});
  row({"gelu exact", {in_f32({3, 4})}, [](A a) { return F::gelu(a[0]); }});
  row({"gelu tanh f64", {in_f64({3, 4})}, [](A a) { return F::gelu(a[0], F::GeluApproximation::Tanh); }});
  // Dropout masks are drawn on the host: the same seed drops the same elements on any device.
  row({"dropout training, seeded", {in_f32({6, 7})}, [](A a) {
         manual_seed(7);
         return F::dropout(a[0], 0.4, true);
       }});
  row({"dropout evaluation is the identity", {in_f32({3, 4})}, [](A a) { return F::dropout(a[0], 0.4, false); }});
  row({"batch_norm training [N,C,H,W]", {in_f32({2, 3, 2, 3}), in_f32({3}), in_f32({3})},
       [](A a) { return F::batch_norm(a[0], Tensor(), Tensor(), a[1], a[2], true); }});
  row({"batch_norm training updates the running statistics", {in_f64({5, 3})}, [](A a) {
         Tensor rm = zeros({3}, a.on(Float64)), rv = ones({3}, a.on(Float64));
         Tensor y = F::batch_norm(a[0], rm, rv, Tensor(), Tensor(), true, 0.1);
         return flat({y, rm, rv});
       }});
  row({"batch_norm evaluation", {in_f32({4, 3}), in_f32({3}, Draw::Positive)}, [](A a) {
         return F::batch_norm(a[0], full({3}, 0.25, a.on(Float32)), a[1], Tensor(), Tensor(), false);
       }});
  row({"layer_norm last two dims", {in_f32({2, 3, 4}), in_f32({3, 4}), in_f32({3, 4})},
       [](A a) { return F::layer_norm(a[0], {3, 4}, a[1], a[2]); }});
  row({"layer_norm long rows [3,2000]", {in_f32({3, 2000})}, [](A a) { return F::layer_norm(a[0], {2000}); }});
  return rows;
}

// --- shapes, indexing, joins, matmul, convolution, pooling --------------------------------------

std::vector<ParityRow> shape_index_rows() {
  std::vector<ParityRow> rows;
  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };

  // index_select (its gradient is index_add: repeated indices must add up).
  row({"index_select dim 0, repeated indices", {in_f32({5, 3}), in_given({6}, Int64, {4, 0, 4, 2, 4, 1})},
       [](A a) { return index_select(a[0], 0, a[1]); }});
  row({"index_select dim 1", {in_f64({3, 6}), in_index({8}, 6)}, [](A a) { return a[0].index_select(1, a[1]); }});
  row({"index_select dim 1 of a 3-d tensor", {in_f32({2, 5, 3}), in_index({7}, 5)},
       [](A a) { return index_select(a[0], 1, a[1]); }});
  row({"index_select of a transposed view", {in_f32({3, 5}), in_index({4}, 5)},
       [](A a) { return index_select(a[0].t(), 0, a[1]); }});
  row({"index_select int64 and bool", {in_i64({5, 3}), in_bool({5, 3}), in_index({4}, 5)},
       [](A a) { return index_select(a[0], 0, a[2]) + index_select(a[1], 0, a[2]).to(Int64); }});
  row({"index_select empty index", {in_f32({5, 3}), in_index({0}, 5)}, [](A a) { return index_select(a[0], 0, a[1]); }});
  row({"index_select many repeats of few rows [2000 of 3]", {in_f32({3, 64}), in_index({2000}, 3)},
       [](A a) { return index_select(a[0], 0, a[1]); }});
  row({"index_select index sliced with step 2", {in_f32({6, 4}), in_index({10}, 6)},
       [](A a) { return index_select(a[0], 0, a[1].slice(0, 0, 10, 2)); }});
  row({"embedding", {in_index({2, 3}, 5), in_f32({5, 4})}, [](A a) { return F::embedding(a[0], a[1]); }});
  row({"embedding padding_idx gets no gradient", {in_given({2, 3}, Int64, {1, 3, 1, 0, 1, 4}), in_f64({5, 4})},
       [](A a) { return F::embedding(a[0], a[1], 1); }});
  row({"embedding 0-d index", {in_given({}, Int64, {2}), in_f32({4, 3})}, [](A a) { return F::embedding(a[0], a[1]); }});

  // concat and stack.
  row({"concat dim 0", {in_f32({2, 3}), in_f32({4, 3})}, [](A a) { return concat({a[0], a[1]}, 0); }});
  row({"concat dim 1 of views", {in_f32({3, 2}), in_f32({2, 6})}, [](A a) { return concat({a[0].t(), a[1].slice(1, 0, 6, 2)}, 1); }});
  row({"concat three dim -1 f64", {in_f64({2, 3}), in_f64({2, 1}), in_f64({2, 2})},
       [](A a) { return concat({a[0], a[1], a[2]}, -1); }});
  row({"concat int64", {in_i64({2, 3}), in_i64({1, 3})}, [](A a) { return concat({a[0], a[1]}, 0); }});
  row({"concat bool", {in_bool({2, 2}), in_bool({2, 3})}, [](A a) { return concat({a[0], a[1]}, 1); }});
  row({"concat with an empty tensor", {in_f32({0, 3}), in_f32({2, 3})}, [](A a) { return concat({a[0], a[1]}, 0); }});
  row({"stack dim 0", {in_f32({2, 3}), in_f32({2, 3})}, [](A a) { return stack({a[0], a[1]}, 0); }});
  row({"stack dim 1 of views", {in_f32({3, 2}), in_f32({2, 3})}, [](A a) { return stack({a[0].t(), a[1]}, 1); }});
  row({"stack dim -1 int64", {in_i64({2, 3}), in_i64({2, 3}), in_i64({2, 3})}, [](A a) { return stack({a[0], a[1], a[2]}, -1); }});

  // Views: offsets and strides as the kernels see them.
  row({"slice step 2 with an offset", {in_f32({5, 8})}, [](A a) { return a[0].slice(1, 1, 8, 2) * 2.0; }});
  row({"slice of a slice of a transpose", {in_f64({6, 7})},
       [](A a) { return a[0].slice(0, 1, 5).t().slice(0, 0, 7, 3).slice(1, 1, 4) + 1.0; }});
  row({"slice end clipped", {in_f32({5, 2})}, [](A a) { return slice(a[0], 0, 0, 100, 2).contiguous(); }});
  row({"transpose and contiguous", {in_f32({2, 3, 4})}, [](A a) { return a[0].transpose(0, 2).contiguous(); }});
  row({"permute", {in_f32({2, 3, 4})}, [](A a) { return permute(a[0], {2, 0, 1}).contiguous(); }});
  row({"permute int64", {in_i64({2, 3, 4})}, [](A a) { return a[0].permute({1, 2, 0}).contiguous(); }});
  row({"expand then contiguous", {in_f32({3, 1})}, [](A a) { return a[0].expand({2, 3, 4}).contiguous(); }});
  row({"reshape of a transposed view (a copy)", {in_f32({3, 4})}, [](A a) { return a[0].t().reshape({2, 6}); }});
  row({"view, squeeze, unsqueeze, flatten", {in_f64({3, 1, 4})},
       [](A a) { return a[0].squeeze(1).unsqueeze(0).view({1, 3, 2, 2}).flatten(1) * 3.0; }});
  row({"clone", {in_f32({3, 4})}, [](A a) { return clone(a[0].t()); }});
  row({"chain x*x+x of a view", {in_f32({4, 6})}, [](A a) {
         Tensor v = a[0].slice(1, 1, 6, 2);
         return v * v + v;
       }});
  return rows;
}

std::vector<ParityRow> linalg_window_rows() {
  std::vector<ParityRow> rows;
  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };
  const ParityFn mm = [](A a) { return matmul(a[0], a[1]); };

  row({"matmul 2-d", {in_f32({3, 4}), in_f32({4, 5})}, mm});
  row({"matmul 2-d f64", {in_f64({3, 4}), in_f64({4, 5})}, mm});
  row({"matmul 1-d x 2-d", {in_f32({4}), in_f32({4, 5})}, mm});
  row({"matmul 2-d x 1-d", {in_f32({3, 4}), in_f32({4})}, mm});
  row({"matmul 1-d x 1-d", {in_f64({4}), in_f64({4})}, mm});
  row({"matmul batched", {in_f32({2, 3, 4}), in_f32({2, 4, 5})}, mm});
  row({"matmul broadcast batch [2,1,3,4]x[5,4,2]", {in_f32({2, 1, 3, 4}), in_f32({5, 4, 2})}, mm});
  row({"matmul 2-d x 3-d", {in_f32({3, 4}), in_f32({2, 4, 5})}, mm});
  row({"matmul 3-d x 1-d", {in_f64({2, 3, 4}), in_f64({4})}, mm});
  row({"matmul transposed left", {in_f32({4, 3}), in_f32({4, 5})}, [](A a) { return matmul(a[0].t(), a[1]); }});
  row({"matmul transposed right", {in_f32({3, 4}), in_f32({5, 4})}, [](A a) { return matmul(a[0], a[1].t()); }});
  row({"matmul both transposed, f64", {in_f64({4, 3}), in_f64({5, 4})}, [](A a) { return matmul(a[0].t(), a[1].t()); }});
  row({"matmul batched, transposed last dims", {in_f32({2, 4, 3}), in_f32({2, 5, 4})},
       [](A a) { return matmul(a[0].transpose(1, 2), a[1].transpose(-1, -2)); }});
  row({"matmul operand sliced with step 2", {in_f32({3, 8}), in_f32({4, 5})},
       [](A a) { return matmul(a[0].slice(1, 0, 8, 2), a[1]); }});
  row({"matmul expanded (stride 0) batch", {in_f32({1, 3, 4}), in_f32({5, 4, 2})},
       [](A a) { return matmul(a[0].expand({5, 3, 4}), a[1]); }});
  row({"matmul permuted batch", {in_f32({3, 2, 4}), in_f32({2, 4, 5})}, [](A a) { return matmul(a[0].permute({1, 0, 2}), a[1]); }});
  // 65 products accumulate in each element, in another order on each device.
  row({"matmul larger [33,65]x[65,17]", {in_f32({33, 65}), in_f32({65, 17})}, mm, true, 4.0});
  row({"matmul larger f64 [70,130]x[130,40]", {in_f64({70, 130}), in_f64({130, 40})}, mm, true, 4.0});
  row({"matmul batched larger [4,31,64]x[64,33]", {in_f32({4, 31, 64}), in_f32({64, 33})}, mm, true, 4.0});
  row({"matmul empty inner dim gives zeros", {in_f32({2, 0}), in_f32({0, 3})}, mm});
  row({"matmul empty rows", {in_f32({0, 3}), in_f32({3, 2})}, mm});
  row({"matmul method", {in_f32({2, 3}), in_f32({3, 2})}, [](A a) { return a[0].matmul(a[1]); }});
  row({"linear", {in_f32({2, 3}), in_f32({4, 3}), in_f32({4})}, [](A a) { return F::linear(a[0], a[1], a[2]); }});
  row({"linear 3-d input, no bias", {in_f32({2, 2, 3}), in_f32({4, 3})}, [](A a) { return F::linear(a[0], a[1]); }});

  // conv2d: input, weight and bias all compared, values and gradients.
  auto conv = [](nn::Conv2dOptions o) {
    return [o](A a) { return F::conv2d(a[0], a[1], a.v.size() > 2 ? a[2] : Tensor(), o); };
  };
  row({"conv2d 3x3 with bias", {in_f32({2, 2, 5, 5}), in_f32({3, 2, 3, 3}), in_f32({3})}, conv({})});
  row({"conv2d no bias f64", {in_f64({2, 2, 5, 5}), in_f64({3, 2, 3, 3})}, conv({})});
  row({"conv2d stride 2", {in_f32({2, 2, 6, 5}), in_f32({3, 2, 3, 3}), in_f32({3})}, conv({.stride = 2})});
  row({"conv2d padding 1", {in_f32({1, 2, 4, 4}), in_f32({3, 2, 3, 3}), in_f32({3})}, conv({.padding = 1})});
  row({"conv2d dilation 2", {in_f32({1, 2, 6, 6}), in_f32({2, 2, 2, 2}), in_f32({2})}, conv({.dilation = 2})});
  row({"conv2d stride 2 padding 1 dilation 2", {in_f32({2, 1, 7, 6}), in_f32({2, 1, 3, 3}), in_f32({2})},
       conv({.stride = 2, .padding = 1, .dilation = 2})});
  row({"conv2d per-axis stride/padding/dilation", {in_f64({1, 2, 6, 7}), in_f64({2, 2, 3, 2}), in_f64({2})},
       conv({.stride = {2, 1}, .padding = {0, 2}, .dilation = {1, 3}})});
  row({"conv2d groups 2", {in_f32({1, 4, 4, 4}), in_f32({6, 2, 3, 3}), in_f32({6})}, conv({.padding = 1, .groups = 2})});
  row({"conv2d groups 3 padding {1,2} dilation {2,1}", {in_f32({1, 6, 5, 5}), in_f32({3, 2, 3, 2}), in_f32({3})},
       conv({.padding = {1, 2}, .dilation = {2, 1}, .groups = 3})});
  row({"conv2d 1x1", {in_f32({2, 3, 3, 3}), in_f32({4, 3, 1, 1}), in_f32({4})}, conv({})});
  row({"conv2d unbatched", {in_f32({2, 4, 4}), in_f32({3, 2, 3, 3}), in_f32({3})}, conv({.padding = 1})});
  row({"conv2d input permuted NHWC->NCHW", {in_f32({2, 5, 4, 3}), in_f32({2, 3, 3, 3}), in_f32({2})},
       [](A a) { return F::conv2d(a[0].permute({0, 3, 1, 2}), a[1], a[2], {.padding = 1}); }});
  row({"conv2d input sliced from a larger tensor", {in_f32({2, 2, 8, 7}), in_f32({3, 1, 3, 3}), in_f32({3})},
       [](A a) { return F::conv2d(a[0].slice(2, 1, 8, 2).slice(1, 0, 1), a[1], a[2], {.padding = 1}); }});
  // 8 channels x 3 x 3 = 72 products per output element.
  row({"conv2d larger [2,8,17,17] 16 out", {in_f32({2, 8, 17, 17}), in_f32({16, 8, 3, 3}), in_f32({16})},
       conv({.stride = 2, .padding = 1}), true, 4.0});

  // Pooling.
  auto maxp = [](nn::Size2 k, nn::MaxPool2dOptions o) { return [k, o](A a) { return F::max_pool2d(a[0], k, o); }; };
  auto avgp = [](nn::Size2 k, nn::AvgPool2dOptions o) { return [k, o](A a) { return F::avg_pool2d(a[0], k, o); }; };
  row({"max_pool2d 2", {in_f32({2, 3, 4, 4})}, maxp(2, {})});
  row({"max_pool2d 2 odd size", {in_f64({1, 2, 5, 5})}, maxp(2, {})});
  row({"max_pool2d 3 stride 1", {in_f32({1, 2, 5, 5})}, maxp(3, {.stride = 1})});
  row({"max_pool2d 3 stride 2 padding 1", {in_f32({2, 2, 5, 6})}, maxp(3, {.stride = 2, .padding = 1})});
  row({"max_pool2d 2x3 stride {1,2} padding {1,1}", {in_f32({1, 2, 5, 6})},
       maxp(nn::Size2{2, 3}, {.stride = {1, 2}, .padding = {1, 1}})});
  row({"max_pool2d 3 stride 1 padding 1 dilation 2", {in_f32({1, 2, 7, 7})}, maxp(3, {.stride = 1, .padding = 1, .dilation = 2})});
  row({"max_pool2d unbatched", {in_f32({2, 4, 4})}, maxp(2, {})});
  row({"max_pool2d permuted input", {in_f32({2, 5, 5, 3})},
       [](A a) { return F::max_pool2d(a[0].permute({0, 3, 1, 2}), 2, {.stride = 1}); }});
  // Ties: the first tap in row-major order takes the whole gradient.
  row({"max_pool2d ties", {in_f32({2, 2, 6, 6}, Draw::Ints)}, maxp(3, {.stride = 1, .padding = 1})});
  // A window of padding only (dilation) gives -inf and passes no gradient.
  row({"max_pool2d a window of padding only gives -inf", {in_f32({1, 1, 1, 3})},
       maxp(nn::Size2{2, 1}, {.stride = 1, .padding = {1, 0}, .dilation = {2, 1}})});
  row({"max_pool2d with NaN and -inf",
       {in_given({1, 1, 4, 4}, Float32, {1, kNaN, 3, 2, 5, 4, -kInf, -kInf, kNaN, 0, -kInf, -kInf, 2, 2, 7, kInf})},
       maxp(2, {.stride = 1})});
  row({"max_pool2d larger [2,3,33,33]", {in_f32({2, 3, 33, 33})}, maxp(3, {.stride = 2, .padding = 1})});
  row({"avg_pool2d 2", {in_f32({2, 3, 4, 4})}, avgp(2, {})});
  row({"avg_pool2d 3 stride 1 f64", {in_f64({1, 2, 5, 5})}, avgp(3, {.stride = 1})});
  row({"avg_pool2d 3 stride 2 padding 1", {in_f32({2, 2, 5, 6})}, avgp(3, {.stride = 2, .padding = 1})});
  row({"avg_pool2d count_include_pad false", {in_f32({1, 2, 5, 5})},
       avgp(3, {.stride = 2, .padding = 1, .count_include_pad = false})});
  row({"avg_pool2d 2x3 stride {2,1} of a permuted input", {in_f32({1, 5, 6, 2})},
       [](A a) { return F::avg_pool2d(a[0].permute({0, 3, 1, 2}), nn::Size2{2, 3}, {.stride = {2, 1}}); }});
  row({"cnn conv-relu-maxpool-conv-avgpool", {in_f32({2, 1, 8, 8}), in_f32({3, 1, 3, 3}), in_f32({3}), in_f32({2, 3, 2, 2})},
       [](A a) {
         Tensor h = F::max_pool2d(relu(F::conv2d(a[0], a[1], a[2])), 2);
         return F::avg_pool2d(F::conv2d(h, a[3], Tensor(), {.padding = 1}), 2);
       }});
  return rows;
}

// --- layers: functional recurrent forms, then modules moved with Module::to ---------------------

std::vector<ParityRow> layer_rows() {
  std::vector<ParityRow> rows;
  auto row = [&](ParityRow r) { rows.push_back(std::move(r)); };

  // Functional forms: the weights are inputs, so their gradients are compared too.
  row({"lstm_cell", {in_f32({2, 3}), in_f32({2, 4}), in_f32({2, 4}), in_f32({16, 3}), in_f32({16, 4}), in_f32({16}), in_f32({16})},
       [](A a) {
         auto [h, c] = F::lstm_cell(a[0], {a[1], a[2]}, {a[3], a[4], a[5], a[6]});
         return flat({h, c});
       }});
  row({"lstm 2 layers with h0 c0 (the fused layer op)",
       {in_f32({5, 2, 3}), in_f32({2, 2, 4}), in_f32({2, 2, 4}), in_f32({16, 3}), in_f32({16, 4}), in_f32({16}), in_f32({16}),
        in_f32({16, 4}), in_f32({16, 4}), in_f32({16}), in_f32({16})},
       [](A a) {
         std::vector<nn::RecurrentWeights> layers = {{a[3], a[4], a[5], a[6]}, {a[7], a[8], a[9], a[10]}};
         auto [out, h, c] = F::lstm(a[0], {a[1], a[2]}, layers);
         return flat({out, h, c});
       }});
  row({"lstm f64 batch_first, transposed input, no bias", {in_f64({3, 2, 3}), in_f64({8, 3}), in_f64({8, 2})}, [](A a) {
         auto [out, h, c] = F::lstm(a[0].transpose(0, 1), {}, {{a[1], a[2]}}, {.batch_first = true});
         return flat({out, h, c});
       }});
  row({"gru 1 layer", {in_f32({4, 2, 3}), in_f32({1, 2, 2}), in_f32({6, 3}), in_f32({6, 2}), in_f32({6}), in_f32({6})}, [](A a) {
         auto [out, h] = F::gru(a[0], a[1], {{a[2], a[3], a[4], a[5]}});
         return flat({out, h});
       }});
  row({"rnn relu", {in_f32({4, 2, 3}, Draw::Positive), in_f32({3, 3}), in_f32({3, 3}), in_f32({3}), in_f32({3})}, [](A a) {
         auto [out, h] = F::rnn(a[0], Tensor(), {{a[1], a[2], a[3], a[4]}}, {.nonlinearity = nn::RNNNonlinearity::ReLU});
         return flat({out, h});
       }});
  // Each weight's gradient sums 320 products over 40 steps, in another order on each device.
  row({"lstm long sequence [40,8,16] hidden 32",
       {in_f32({40, 8, 16}), in_f32({128, 16}), in_f32({128, 32}), in_f32({128}), in_f32({128})}, [](A a) {
         auto [out, h, c] = F::lstm(a[0] * 0.5, {}, {{a[1] * 0.25, a[2] * 0.25, a[3], a[4]}});
         return flat({out, h, c});
       },
       true, 4.0});

  // Modules: built from one seed on the CPU, moved with Module::to; output, the gradients of
  // every parameter and of the input, all compared at once.
  auto module_row = [&](std::string name, std::vector<In> in, ParityFn fn) {
    rows.push_back({std::move(name), std::move(in), std::move(fn), false});
  };
  module_row("nn::Linear", {in_f32({3, 5})}, [](A a) {
    manual_seed(11);
    nn::Linear m(5, 4);
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), cat(m.parameters(), {x}));
  });
  module_row("nn::Conv2d groups 2 padding 1", {in_f32({2, 4, 6, 6})}, [](A a) {
    manual_seed(12);
    nn::Conv2d m(4, 6, 3, {.padding = 1, .groups = 2});
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), cat(m.parameters(), {x}));
  });
  module_row("nn::Conv2d stride 2 no bias f64", {in_f64({1, 3, 7, 7})}, [](A a) {
    manual_seed(13);
    nn::Conv2d m(3, 2, nn::Size2{3, 2}, {.stride = 2, .bias = false});
    m.to(Float64);
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), cat(m.parameters(), {x}));
  });
  module_row("nn::LSTM 2 layers", {in_f32({6, 3, 4})}, [](A a) {
    manual_seed(14);
    nn::LSTM m(4, 5, {.num_layers = 2});
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    auto [out, h, c] = m(x);
    return with_grads(flat({out, h, c}), cat(m.parameters(), {x}));
  });
  module_row("nn::LSTM batch_first with a state", {in_f32({2, 5, 3}), in_f32({1, 2, 4}), in_f32({1, 2, 4})}, [](A a) {
    manual_seed(15);
    nn::LSTM m(3, 4, {.batch_first = true});
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    auto [out, h, c] = m(x, {a[1], a[2]});
    return with_grads(flat({out, h, c}), cat(m.parameters(), {x}));
  });
  module_row("nn::GRU", {in_f32({4, 2, 3})}, [](A a) {
    manual_seed(16);
    nn::GRU m(3, 4);
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    auto [out, h] = m(x);
    return with_grads(flat({out, h}), cat(m.parameters(), {x}));
  });
  module_row("nn::RNN", {in_f32({4, 2, 3})}, [](A a) {
    manual_seed(17);
    nn::RNN m(3, 4, {.num_layers = 2});
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    auto [out, h] = m(x);
    return with_grads(flat({out, h}), cat(m.parameters(), {x}));
  });
  module_row("nn::LSTMCell", {in_f32({2, 3})}, [](A a) {
    manual_seed(18);
    nn::LSTMCell m(3, 4);
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    auto [h, c] = m(x);
    return with_grads(flat({h, c}), cat(m.parameters(), {x}));
  });
  module_row("nn::Embedding with padding_idx", {in_index({3, 4}, 6)}, [](A a) {
    manual_seed(19);
    nn::Embedding m(6, 3, {.padding_idx = 2});
    m.to(a.device);
    return with_grads(m(a[0]), m.parameters());
  });
  module_row("nn::Dropout in evaluation mode", {in_f32({4, 5})}, [](A a) {
    nn::Dropout m(0.5);
    m.eval();
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), {x});
  });
  module_row("nn::Dropout in training mode, seeded", {in_f32({4, 5})}, [](A a) {
    nn::Dropout m(0.5);
    manual_seed(20);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), {x});
  });
  module_row("nn::BatchNorm2d training: output, gradients, running statistics", {in_f32({3, 2, 4, 4})}, [](A a) {
    nn::BatchNorm2d m(2);
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    Tensor g = with_grads(m(x), cat(m.parameters(), {x}));
    return flat({g, m.running_mean, m.running_var});
  });
  module_row("nn::BatchNorm1d evaluation after a training step", {in_f32({5, 3})}, [](A a) {
    nn::BatchNorm1d m(3);
    m.to(a.device);
    {
      NoGradGuard off;
      m(a[0] * 2.0 + 1.0);
    }
    m.eval();
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), cat(m.parameters(), {x}));
  });
  module_row("nn::LayerNorm", {in_f32({2, 3, 4})}, [](A a) {
    nn::LayerNorm m({3, 4});
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), cat(m.parameters(), {x}));
  });
  module_row("nn::MaxPool2d and nn::AvgPool2d", {in_f32({1, 2, 6, 6})}, [](A a) {
    nn::MaxPool2d mp(2, {.stride = 1});
    nn::AvgPool2d ap(2);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(ap(mp(x)), {x});
  });
  module_row("nn::Sequential MLP with GELU and LeakyReLU", {in_f32({4, 3})}, [](A a) {
    manual_seed(21);
    nn::Sequential m(nn::Linear(3, 8), nn::GELU(), nn::Linear(8, 8), nn::LeakyReLU(0.1), nn::Linear(8, 2),
                     nn::LogSoftmax(1));
    m.to(a.device);
    Tensor x = a[0].detach().requires_grad_();
    return with_grads(m(x), cat(m.parameters(), {x}));
  });
  return rows;
}

// Row names are "<op> <variant>"; the coverage check compares the part before ' '.
std::string op_of(const std::string& row_name) { return row_name.substr(0, row_name.find(' ')); }

}  // namespace

// --- the parity tests -------------------------------------------------------------------------

TEST_CASE("cuda: elementwise ops, comparisons and where match the CPU", "[cuda][parity]") {
  const auto rows = elementwise_rows();
  REQUIRE(rows.size() > 200);
  check_parity(rows, 101, "elementwise");
}

TEST_CASE("cuda: casts, creation and in-place writes match the CPU", "[cuda][parity]") {
  const auto rows = cast_creation_inplace_rows();
  REQUIRE(rows.size() > 60);
  check_parity(rows, 102, "casts, creation, in-place");
}

TEST_CASE("cuda: reductions match the CPU", "[cuda][parity]") {
  const auto rows = reduction_rows();
  REQUIRE(rows.size() > 80);
  check_parity(rows, 103, "reductions");
}

TEST_CASE("cuda: softmax, losses and nn functions match the CPU", "[cuda][parity]") {
  const auto rows = nn_function_rows();
  REQUIRE(rows.size() > 40);
  check_parity(rows, 104, "nn functions");
}

TEST_CASE("cuda: indexing, joins and views match the CPU", "[cuda][parity]") {
  const auto rows = shape_index_rows();
  REQUIRE(rows.size() > 25);
  check_parity(rows, 105, "indexing, joins, views");
}

TEST_CASE("cuda: matmul, conv2d and pooling match the CPU", "[cuda][parity]") {
  const auto rows = linalg_window_rows();
  REQUIRE(rows.size() > 50);
  check_parity(rows, 106, "matmul, conv2d, pooling");
}

TEST_CASE("cuda: recurrent layers and nn modules match the CPU", "[cuda][parity]") {
  const auto rows = layer_rows();
  REQUIRE(rows.size() > 15);
  check_parity(rows, 107, "layers and modules");
}

TEST_CASE("cuda: every ops.def primitive has parity rows", "[cuda][parity]") {
  std::vector<std::string> primitives;
#define UNARY(name, str, domain) primitives.push_back(str);
#define BINARY(name, str, domain) primitives.push_back(str);
#define COMPARE(name, str) primitives.push_back(str);
#include "../../tensor/detail/ops.def"
  REQUIRE(primitives.size() >= 20);
  std::map<std::string, int> covered;
  for (const auto& row : elementwise_rows()) ++covered[op_of(row.name)];
  for (const auto& op : primitives) {
    INFO("ops.def op without parity rows (map it in tests/ops_by_name.hpp): " << op);
    CHECK(covered[op] >= 8);
  }
}

TEST_CASE("cuda: the parity runner catches a wrong value, a wrong gradient, a NaN and a wrong dtype", "[cuda][parity]") {
  // Rows that behave differently on every call after the first (the CPU reference): the runner
  // must report each, or a passing parity table would mean nothing. Runs on the CPU alone.
  auto calls = std::make_shared<int>(0);
  auto first = [calls] { return (*calls)++ == 0; };
  const std::vector<ParityRow> wrong = {
      {"wrong value", {in_f32({3, 4})}, [first](A a) { return first() ? a[0] * 2.0 : a[0] * 2.0 + 1e-4; }},
      {"wrong gradient", {in_f64({3, 4})}, [first](A a) {
         Tensor y = a[0] * a[0];
         if (first()) return y;
         return y.detach() + (a[0] * 3.0 - (a[0] * 3.0).detach());  // same value, gradient 3 for 2x
       }},
      {"wrong int64 value", {in_i64({5})}, [first](A a) { return first() ? a[0] : a[0] + 1.0; }},
      {"NaN where the CPU has a number", {in_f32({2})}, [first](A a) { return first() ? a[0] : a[0] * kNaN; }},
      {"wrong dtype", {in_f32({2})}, [first](A a) { return first() ? a[0] : a[0].to(Float64); }},
  };
  for (std::size_t i = 0; i < wrong.size(); ++i) {
    INFO("row " << wrong[i].name);
    *calls = 0;
    const ParityReport r = run_parity({wrong[i]}, 1, Device::cpu());
    CHECK(r.failures.size() >= 2);  // both variants
    for (const auto& f : r.failures) CHECK_THAT(f, Contains(wrong[i].name));
  }
  // A well-behaved row passes through the same runner.
  const ParityReport ok = run_parity({{"fine", {in_f32({3, 4})}, [](A a) { return a[0].exp(); }}}, 1, Device::cpu());
  CHECK(ok.failures.empty());
  CHECK(ok.comparisons == 4);  // two results, two gradients
}

TEST_CASE("cuda: the mismatch report tells tolerances, NaN, infinities, dtypes and shapes apart", "[cuda][parity]") {
  Tensor a = tensor({1.0f, 2.0f, 3.0f});
  CHECK(mismatch(a, tensor({1.0f, 2.0f, 3.00001f}), device_tolerance(Float32)) == "");
  CHECK(mismatch(a, tensor({1.0f, 2.0f, 3.001f}), device_tolerance(Float32)) != "");
  CHECK_THAT(mismatch(a, tensor({1.0f, 2.5f, 3.0f}), device_tolerance(Float32)), Contains("element 1: got 2, expected 2.5"));
  Tensor b = tensor({1.0, 1.0 + 1e-13}, {}, {.dtype = Float64});
  CHECK(mismatch(b, tensor({1.0, 1.0}, {}, {.dtype = Float64}), device_tolerance(Float64)) == "");
  CHECK(mismatch(b, tensor({1.0, 1.0 + 1e-10}, {}, {.dtype = Float64}), device_tolerance(Float64)) != "");
  Tensor n = tensor({kNaN, kInf, -kInf}, {}, {.dtype = Float64});
  CHECK(mismatch(n, n.clone(), device_tolerance(Float64)) == "");
  CHECK(mismatch(n, tensor({1.0, kInf, -kInf}, {}, {.dtype = Float64}), device_tolerance(Float64)) != "");
  CHECK(mismatch(n, tensor({kNaN, -kInf, -kInf}, {}, {.dtype = Float64}), device_tolerance(Float64)) != "");
  CHECK(mismatch(n, tensor({kNaN, 1e308, -kInf}, {}, {.dtype = Float64}), Tolerance{1.0, 1.0}) != "");
  // Int64 exactly, beyond double's 53 bits.
  Tensor big = tensor(std::vector<int64_t>{INT64_MAX, INT64_MIN}, {}, {.dtype = Int64});
  CHECK(mismatch(big, big.clone(), device_tolerance(Int64)) == "");
  CHECK(mismatch(big, tensor(std::vector<int64_t>{INT64_MAX - 1, INT64_MIN}, {}, {.dtype = Int64}), device_tolerance(Int64)) != "");
  CHECK_THAT(mismatch(a, a.to(Float64), device_tolerance(Float32)), Contains("dtype"));
  CHECK_THAT(mismatch(a, a.reshape({3, 1}), device_tolerance(Float32)), Contains("shape"));
  // Views compare by logical index.
  Tensor m = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(mismatch(m.t(), tensor({1.f, 4.f, 2.f, 5.f, 3.f, 6.f}, {3, 2}), device_tolerance(Float32)) == "");
  CHECK(mismatch(m.t(), m.reshape({3, 2}), device_tolerance(Float32)) != "");
}

// --- training -----------------------------------------------------------------------------------

namespace {

struct TrainRun {
  std::vector<double> losses;
  std::vector<double> weights;
  bool parameters_on_device = true;
  bool gradients_on_device = true;
};

/// An MLP (with dropout, whose masks are drawn on the host) learning quadrant XOR as in
/// tests/nn/test_training.cpp, with everything moved to `device` after being made on the CPU
/// from one seed.
TrainRun train_mlp(Device device, bool adam, int steps) {
  manual_seed(99);
  Tensor x = uniform({64, 2}, -1.0, 1.0);
  Tensor y = (x.slice(1, 0, 1) * x.slice(1, 1, 2) > 0.0).to(Int64).reshape({64});
  nn::Sequential model(nn::Linear(2, 16), nn::Tanh(), nn::Dropout(0.2), nn::Linear(16, 16), nn::ReLU(), nn::Linear(16, 2));
  model.to(device);
  x = x.to(device);
  y = y.to(device);
  std::unique_ptr<optim::Optimizer> opt;
  if (adam) opt = std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions{.lr = 0.02});
  else opt = std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions{.lr = 0.3, .momentum = 0.9});
  TrainRun run;
  for (int step = 0; step < steps; ++step) {
    opt->zero_grad();
    Tensor loss = cross_entropy(model(x), y);
    loss.backward();
    opt->step();
    run.losses.push_back(loss.item<double>());
  }
  for (const Tensor& p : model.parameters()) {
    run.parameters_on_device = run.parameters_on_device && p.device() == device;
    run.gradients_on_device = run.gradients_on_device && p.grad().defined() && p.grad().device() == device;
    for (double v : p.to_vector<double>()) run.weights.push_back(v);
  }
  return run;
}

}  // namespace

TEST_CASE("cuda: an MLP trains to the same loss on the GPU as on the CPU", "[cuda][training]") {
  const Device other = parity_device("training on cuda:0");
  for (const bool adam : {false, true}) {
    INFO((adam ? "Adam" : "SGD with momentum") << ", CPU against " << other);
    const int steps = 40;
    const TrainRun cpu = train_mlp(Device::cpu(), adam, steps);
    const TrainRun dev = train_mlp(other, adam, steps);
    CHECK(dev.parameters_on_device);
    CHECK(dev.gradients_on_device);
    REQUIRE(cpu.losses.size() == static_cast<std::size_t>(steps));
    REQUIRE(dev.losses.size() == cpu.losses.size());
    // It learned something (chance level is log 2 = 0.69), so agreeing means something.
    CHECK(cpu.losses.front() > 0.6);
    CHECK(cpu.losses.back() < 0.8 * cpu.losses.front());
    // float32 rounding differs from device to device and grows a little with every step.
    for (std::size_t s = 0; s < cpu.losses.size(); ++s) {
      INFO("step " << s << ": CPU loss " << cpu.losses[s] << ", device loss " << dev.losses[s]);
      CHECK(std::abs(dev.losses[s] - cpu.losses[s]) <= 1e-4 * (1.0 + std::abs(cpu.losses[s])));
    }
    REQUIRE(dev.weights.size() == cpu.weights.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < cpu.weights.size(); ++i) worst = std::max(worst, std::abs(dev.weights[i] - cpu.weights[i]));
    INFO("largest weight difference " << worst);
    CHECK(worst <= 1e-3);
  }
}

// --- optimizers ----------------------------------------------------------------------------------

namespace {

/// An optimizer whose buffers the test may read themselves: state_dict() gives copies, and a
/// copy does not carry the write count (version) that tells the fused path from tensor ops.
template <typename Opt>
struct OpenState : Opt {
  using Opt::Opt;
  using optim::Optimizer::state;
};

struct OptimizerRow {
  std::string name;
  std::function<std::unique_ptr<optim::Optimizer>(const Tensor&)> make;
  std::vector<std::string> state;  ///< buffers of the parameter, compared too
  std::function<StateDict&(optim::Optimizer&)> buffers;
  /// Whether the fused kernel writes the parameter or a buffer a different number of times than
  /// the tensor ops do (Adagrad's and plain SGD's write each once a step either way).
  bool write_counts_differ;
};

template <typename Opt, typename Options>
void add_optimizer_row(std::vector<OptimizerRow>& rows, std::string name, Options o, std::vector<std::string> state,
                       bool write_counts_differ) {
  rows.push_back({std::move(name),
                  [o](const Tensor& p) -> std::unique_ptr<optim::Optimizer> {
                    return std::make_unique<OpenState<Opt>>(std::vector<Tensor>{p}, o);
                  },
                  std::move(state),
                  [](optim::Optimizer& opt) -> StateDict& { return static_cast<OpenState<Opt>&>(opt).state(0); },
                  write_counts_differ});
}

std::vector<OptimizerRow> fused_optimizer_rows() {
  std::vector<OptimizerRow> rows;
  // The tensor ops write the momentum buffer twice a step (mul_, add_), the kernel once.
  const auto sgd = [&](const std::string& name, optim::SGDOptions o) {
    const bool momentum = o.momentum != 0;
    add_optimizer_row<optim::SGD>(rows, "SGD " + name, o,
                                  momentum ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{},
                                  momentum);
  };
  sgd("plain", {.lr = 0.05});
  sgd("weight decay", {.lr = 0.05, .weight_decay = 0.1});
  sgd("momentum", {.lr = 0.05, .momentum = 0.9});
  sgd("momentum, dampening, decay", {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.1});
  sgd("nesterov", {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
  for (const bool amsgrad : {false, true}) {
    std::vector<std::string> state = {"exp_avg", "exp_avg_sq"};
    if (amsgrad) state.push_back("max_exp_avg_sq");
    const std::string ams = amsgrad ? ", AMSGrad" : "";
    for (const double wd : {0.0, 0.1})
      add_optimizer_row<optim::Adam>(rows, (wd == 0 ? "Adam" : "Adam, weight decay 0.1") + ams,
                                     optim::AdamOptions{.lr = 0.05, .weight_decay = wd, .amsgrad = amsgrad}, state,
                                     true);
    add_optimizer_row<optim::AdamW>(rows, "AdamW, weight decay 0.1" + ams,
                                    optim::AdamWOptions{.lr = 0.05, .weight_decay = 0.1, .amsgrad = amsgrad}, state,
                                    true);
  }
  const auto rmsprop = [&](const std::string& name, optim::RMSpropOptions o) {
    std::vector<std::string> state = {"square_avg"};
    if (o.centered) state.push_back("grad_avg");
    if (o.momentum > 0) state.push_back("momentum_buffer");
    add_optimizer_row<optim::RMSprop>(rows, "RMSprop " + name, o, state, true);
  };
  rmsprop("plain", {.lr = 0.01});
  rmsprop("weight decay", {.lr = 0.01, .weight_decay = 0.1});
  rmsprop("centered", {.lr = 0.01, .alpha = 0.9, .centered = true});
  rmsprop("momentum", {.lr = 0.01, .momentum = 0.9});
  rmsprop("centered, momentum, decay", {.lr = 0.01, .weight_decay = 0.1, .momentum = 0.9, .centered = true});
  const auto adagrad = [&](const std::string& name, optim::AdagradOptions o) {
    add_optimizer_row<optim::Adagrad>(rows, "Adagrad " + name, o, {"sum"}, false);
  };
  adagrad("plain", {.lr = 0.1});
  adagrad("lr decay, weight decay, initial value",
          {.lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.1, .initial_accumulator_value = 0.1});
  return rows;
}

}  // namespace

// Each optimizer updates a contiguous parameter with one backend kernel (optim/detail/
// fused_update) and anything else through tensor ops. On either device, both paths must give the
// CPU's fused result bit for bit: otherwise a parameter's trajectory would depend on its layout or
// device. The same gradients are fed to all four, one of them with a NaN (AMSGrad's maximum keeps
// it).
TEST_CASE("cuda: optimizer steps give the same bits fused or in tensor ops, on the CPU and the device",
          "[cuda][optim]") {
  const Device other = parity_device("fused optimizer steps on cuda:0");
  for (const DType dtype : {Float32, Float64}) {
    for (const OptimizerRow& row : fused_optimizer_rows()) {
      INFO(row.name << ", " << dtype_name(dtype) << ", CPU against " << other);
      manual_seed(21);
      const Tensor start = randn({33, 7}, {.dtype = dtype});
      std::vector<Tensor> grads;
      for (int k = 0; k < 4; ++k) grads.push_back(randn({33, 7}, {.dtype = dtype}));
      std::vector<double> with_nan = grads[2].to_vector<double>();
      with_nan[29] = std::numeric_limits<double>::quiet_NaN();
      grads[2] = tensor(with_nan, {33, 7}, {.dtype = dtype});

      // Contiguous parameters take the fused kernel, transposed copies the tensor ops.
      std::vector<Tensor> params = {start.clone(), start.t().contiguous().t(), start.clone().to(other),
                                    start.t().to(other).contiguous().t()};
      REQUIRE(params[0].is_contiguous());
      REQUIRE(!params[1].is_contiguous());
      REQUIRE(params[2].is_contiguous());
      REQUIRE(!params[3].is_contiguous());
      std::vector<std::unique_ptr<optim::Optimizer>> opts;
      for (Tensor& p : params) opts.push_back(row.make(p.requires_grad_()));
      for (const Tensor& g : grads) {
        for (std::size_t i = 0; i < params.size(); ++i) {
          params[i].set_grad(g.to(params[i].device()));
          opts[i]->step();
        }
      }
      CHECK(!testing::allclose(params[0], start, 0.0, 0.0, true));  // it moved
      // Equal bits alone cannot tell the paths apart; write counts can, where they differ. Every
      // device parameter and buffer must have been written as often as its CPU twin.
      const auto writes = [&](std::size_t i) {
        std::vector<uint32_t> counts = {params[i].version()};
        for (const std::string& name : row.state) counts.push_back(row.buffers(*opts[i]).at(name).version());
        return counts;
      };
      CHECK(writes(2) == writes(0));
      CHECK(writes(3) == writes(1));
      if (row.write_counts_differ) CHECK(writes(0) != writes(1));
      const char* paths[] = {"CPU fused", "CPU tensor ops", "device fused", "device tensor ops"};
      for (std::size_t i = 1; i < params.size(); ++i) {
        INFO(paths[i] << " against " << paths[0]);
        CHECK(params[i].device() == (i < 2 ? Device::cpu() : other));
        CHECK(testing::allclose(params[i], params[0], 0.0, 0.0, true));
        for (const std::string& name : row.state) {
          INFO("state " << name);
          CHECK(testing::allclose(row.buffers(*opts[i]).at(name), row.buffers(*opts[0]).at(name), 0.0, 0.0, true));
        }
      }
    }
  }
}

namespace {
// Half of its weight's use is detached: the tape sees one path, central differences (which
// perturb the weight where it lies, on the device) see both, so its gradient is wrong by half.
struct HalfDetached : nn::Module {
  Tensor w;
  HalfDetached() : Module("HalfDetached") { w = register_parameter("w", randn({3, 2})); }
  Tensor forward(const Tensor& x) override { return matmul(x, w) + matmul(x, w.detach()); }
};
}  // namespace

TEST_CASE("cuda: module gradcheck checks a module on the device and leaves it as it was", "[cuda][gradcheck]") {
  const Device other = parity_device("module gradcheck on cuda:0");
  testing::SeedGuard seed(21);
  nn::Sequential net(nn::Linear(3, 4), nn::Tanh(), nn::Linear(4, 2));
  net.to(Float64);
  net.to(other);
  Tensor x = randn({5, 3}, {.dtype = Float64}).to(other).requires_grad_();
  std::vector<std::vector<double>> values;
  std::vector<uint32_t> versions;
  for (auto& [name, p] : net.named_parameters()) {
    REQUIRE(p.device() == other);
    values.push_back(p.to_vector<double>());
    versions.push_back(p.version());
  }
  CHECK(nn::gradcheck(net, {x}));
  CHECK(nn::gradgradcheck(net, {x}));
  std::size_t k = 0;
  for (auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK(p.device() == other);
    CHECK(p.to_vector<double>() == values[k]);
    CHECK(p.version() == versions[k]);
    ++k;
  }

  // The check can fail there: the half-detached weight's gradient is caught and named.
  HalfDetached bad;
  bad.to(Float64);
  bad.to(other);
  try {
    nn::gradcheck(bad, {x.detach()});
    FAIL("module gradcheck passed a gradient that is wrong by half on " << other);
  } catch (const AutogradError& e) {
    CHECK_THAT(e.what(), Contains("gradcheck(HalfDetached), checking the gradient with respect to parameter 'w' [3,2]"));
  }
}

// --- moving tensors between devices --------------------------------------------------------------

TEST_CASE("cuda: to() is differentiable and the gradient goes back to the source device", "[cuda][to]") {
  const Device other = parity_device("to() between the CPU and cuda:0");
  {
    INFO("a CPU leaf, computed on the device, the loss back on the CPU");
    Tensor x = tensor({1.0, -2.0, 3.0}, {}, {.dtype = Float64, .requires_grad = true});
    Tensor on = x.to(other);
    CHECK(on.device() == other);
    CHECK(on.requires_grad());
    Tensor loss = (on * on * on).sum().to(Device::cpu());
    CHECK(loss.device().is_cpu());
    loss.backward();
    REQUIRE(x.grad().defined());
    CHECK(x.grad().device().is_cpu());
    require_values(x.grad(), {3.0, 12.0, 27.0});
  }
  {
    INFO("a device leaf, computed on the CPU");
    Tensor z = tensor({0.5f, -1.5f}, {}, {.device = other, .requires_grad = true});
    (z.to(Device::cpu()) * 4.0f).sum().backward();
    REQUIRE(z.grad().defined());
    CHECK(z.grad().device() == other);
    CHECK(z.grad().dtype() == Float32);
    require_values(z.grad(), {4.0, 4.0});
  }
  {
    INFO("gradcheck and gradgradcheck through to(), and with inputs on the device");
    Tensor x = tensor({0.5, -1.25, 2.0}, {}, {.dtype = Float64, .requires_grad = true});
    GradcheckFn there_and_back = [other](const std::vector<Tensor>& v) {
      return (v[0].to(other).pow(3.0) * 2.0).to(Device::cpu()) + v[0];
    };
    CHECK(gradcheck(there_and_back, {x}));
    CHECK(gradgradcheck(there_and_back, {x}));
    Tensor xd = tensor({0.5, -1.25, 2.0, 0.75}, {2, 2}, {.dtype = Float64, .device = other, .requires_grad = true});
    GradcheckFn on_device = [](const std::vector<Tensor>& v) { return softmax(v[0] * v[0], 1); };
    CHECK(gradcheck(on_device, {xd}));
    CHECK(gradgradcheck(on_device, {xd}));
    // A wrong backward is caught on the device too.
    GradcheckFn wrong = [](const std::vector<Tensor>& v) {
      Tensor y = v[0] * v[0];
      return y.detach() + (v[0] - v[0].detach());  // gradient 1 instead of 2x
    };
    CHECK_THROWS_AS(gradcheck(wrong, {xd}), AutogradError);
  }
}

TEST_CASE("cuda: values survive the trip to the device and back bit for bit", "[cuda][to]") {
  const Device other = parity_device("round trips to cuda:0");
  const std::vector<Tensor> originals = {
      tensor({0.0f, -0.0f, 1e-40f, 3.4e38f, -1.5f, std::numeric_limits<float>::infinity()}),
      tensor({kNaN, -kInf, 5e-324, -0.0, 1.0 / 3.0}, {}, {.dtype = Float64}),
      tensor(std::vector<int64_t>{INT64_MIN, INT64_MAX, -1, 0, 9007199254740993}, {}, {.dtype = Int64}),
      tensor({true, false, true}),
      zeros({0, 3}),
  };
  for (const Tensor& t : originals) {
    INFO("dtype " << t.dtype() << ", shape " << shape_str(t.shape()));
    Tensor there = t.to(other);
    CHECK(there.device() == other);
    CHECK(there.dtype() == t.dtype());
    CHECK(there.shape() == t.shape());
    Tensor back = there.to(Device::cpu());
    CHECK(back.device().is_cpu());
    CHECK(bytes_of(back) == bytes_of(t));
  }
  // A non-contiguous view travels as its values in logical order.
  Tensor m = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}, {.dtype = Float64});
  Tensor view = m.t().slice(0, 0, 3, 2);  // [[1, 4], [3, 6]]
  Tensor moved = view.to(other);
  CHECK(moved.shape() == Shape{2, 2});
  require_values(moved.to(Device::cpu()), {1.0, 4.0, 3.0, 6.0});
  // The copy is a copy: writing to it leaves the source alone.
  {
    NoGradGuard off;
    if (other != Device::cpu()) {
      moved.fill_(0.0);
      require_values(m, {1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
    }
  }
}

TEST_CASE("cuda: copy_ between devices converts, broadcasts and bumps the version", "[cuda][to]") {
  const Device other = parity_device("copy_ between the CPU and cuda:0");
  // CPU source into a strided device view, converting float32 to float64 and broadcasting.
  Tensor dst = zeros({3, 4}, {.dtype = Float64, .device = other});
  const uint32_t before = dst.version();
  dst.slice(1, 0, 4, 2).copy_(tensor({1.5f, -2.5f, 3.5f}, {3, 1}));
  CHECK(dst.version() > before);
  CHECK(dst.device() == other);
  require_values(dst.to(Device::cpu()), {1.5, 0, 1.5, 0, -2.5, 0, -2.5, 0, 3.5, 0, 3.5, 0});
  // Device source into a CPU tensor, converting to int64 (truncating, saturating).
  Tensor src = tensor({2.9, -2.9, 1e30, kNaN}, {}, {.dtype = Float64, .device = other});
  Tensor host = full({4}, 7.0, {.dtype = Int64});
  host.copy_(src);
  CHECK(host.device().is_cpu());
  CHECK(host.to_vector<int64_t>() == std::vector<int64_t>{2, -2, INT64_MAX, 0});
  // A transposed device source into a CPU tensor.
  Tensor t = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3}, {.device = other});
  Tensor into = zeros({3, 2});
  into.copy_(t.t());
  require_values(into, {1, 4, 2, 5, 3, 6});
}

// --- devices and their errors ------------------------------------------------------------------

TEST_CASE("cuda: cuda_device_count agrees with cuda_is_available", "[cuda][device]") {
  const int n = cuda_device_count();
  CHECK(n >= 0);
  CHECK(cuda_is_available() == (n > 0));
#ifndef TAPEFLOW_TEST_CUDA_BUILD
  CHECK(n == 0);  // a build without CUDA never sees a GPU
#endif
  // Neither waits for nor fails on anything without a GPU.
  CHECK_NOTHROW(cuda_synchronize());
  CHECK_NOTHROW(cuda_empty_cache());
  CHECK(Device::cuda(1).str() == "cuda:1");
  CHECK(Device::cuda() == Device::cuda(0));
  CHECK(Device::cuda(0) != Device::cpu());
  std::ostringstream os;
  os << Device::cuda(2) << ' ' << Device::cpu();
  CHECK(os.str() == "cuda:2 cpu");
}

TEST_CASE("cuda: without a GPU a CUDA tensor is refused with a DeviceError that says why", "[cuda][device][errors]") {
  Tensor x = tensor({1.f, 2.f, 3.f});
  if (cuda_is_available()) {
    // With a GPU the same refusal holds for one that does not exist.
    const Device missing = Device::cuda(cuda_device_count());
    try {
      (void)x.to(missing);
      FAIL("to(" << missing << ") did not throw");
    } catch (const DeviceError& e) {
      CHECK_THAT(e.what(), StartsWith("to: ") && Contains(missing.str()) && Contains("does not exist"));
    }
    CHECK_THROWS_AS(zeros({2}, {.device = missing}), DeviceError);
    return;
  }
#ifdef TAPEFLOW_TEST_CUDA_BUILD
  const std::string why = "finds no usable GPU";
#else
  const std::string why = "built without CUDA";
#endif
  const uint32_t version = x.version();
  try {
    (void)x.to(Device::cuda(0));
    FAIL("to(cuda:0) did not throw");
  } catch (const DeviceError& e) {
    INFO(e.what());
    CHECK_THAT(e.what(), StartsWith("to: ") && Contains(why) && Contains("cuda:0"));
  }
  // Nothing changed.
  CHECK(x.device().is_cpu());
  CHECK(x.version() == version);
  require_values(x, {1, 2, 3});
  CHECK_THROWS_AS(x.to(Device::cuda(1)), DeviceError);

  // Creation on the GPU: refused the same way; a refused random draw leaves the generator alone.
  for (const auto& [name, make_one] : std::vector<std::pair<std::string, std::function<Tensor()>>>{
           {"zeros", [] { return zeros({2}, {.device = Device::cuda(0)}); }},
           {"full", [] { return full({2}, 1.0, {.device = Device::cuda(0)}); }},
           {"tensor", [] { return tensor({1.0, 2.0}, {}, {.device = Device::cuda(0)}); }},
           {"arange", [] { return arange(4, {.device = Device::cuda(0)}); }},
           {"randn", [] { return randn({2}, {.device = Device::cuda(0)}); }},
           {"randint", [] { return randint(0, 3, {2}, {.device = Device::cuda(0)}); }},
       }) {
    INFO(name);
    manual_seed(5);
    const std::string state = get_rng_state();
    try {
      (void)make_one();
      FAIL(name << " on cuda:0 did not throw");
    } catch (const DeviceError& e) {
      CHECK_THAT(e.what(), Contains(why));
    }
    CHECK(get_rng_state() == state);
  }

  // Module::to refuses before moving anything.
  manual_seed(3);
  nn::Linear layer(3, 2);
  const std::vector<float> w = layer.weight.to_vector<float>();
  CHECK_THROWS_AS(layer.to(Device::cuda(0)), DeviceError);
  for (const Tensor& p : layer.parameters()) CHECK(p.device().is_cpu());
  CHECK(layer.weight.to_vector<float>() == w);
  CHECK(layer(ones({1, 3})).shape() == Shape{1, 2});
}

TEST_CASE("cuda: mixing CPU and CUDA tensors throws a DeviceError naming the op and both devices",
          "[cuda][device][errors]") {
  if (skip_without_cuda("mixing CPU and CUDA tensors")) return;
  const Device gpu = Device::cuda(0);
  Tensor c = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
  Tensor g = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2}, {.device = gpu});
  Tensor gi = tensor({0, 1}, {}, {.dtype = Int64, .device = gpu});
  Tensor ci = tensor({0, 1}, {}, {.dtype = Int64});
  struct Mix {
    std::vector<std::string> op;  // the names the message may use
    std::function<void()> call;
  };
  const std::vector<Mix> mixes = {
      {{"add"}, [&] { (void)(c + g); }},
      {{"mul"}, [&] { (void)(g * c); }},
      {{"maximum"}, [&] { (void)maximum(g, c); }},
      {{"eq"}, [&] { (void)eq(c, g); }},
      {{"where"}, [&] { (void)where(g > 1.0f, c, g); }},
      {{"matmul"}, [&] { (void)matmul(c, g); }},
      {{"concat"}, [&] { (void)concat({c, g}, 0); }},
      {{"stack"}, [&] { (void)stack({g, c}, 0); }},
      {{"cross_entropy"}, [&] { (void)cross_entropy(g, ci); }},
      {{"index_select"}, [&] { (void)index_select(g, 0, ci); }},
      {{"index_select"}, [&] { (void)index_select(c, 0, gi); }},
      {{"mse_loss", "sub"}, [&] { (void)mse_loss(g, c); }},
      {{"linear", "matmul"}, [&] { (void)F::linear(g, c); }},
      {{"embedding", "index_select"}, [&] { (void)F::embedding(gi, c); }},
      {{"conv2d"}, [&] { (void)F::conv2d(g.reshape({1, 1, 2, 2}), c.reshape({1, 1, 2, 2})); }},
      {{"add_", "add"}, [&] { NoGradGuard off; Tensor t = g.clone(); t.add_(c); }},
      {{"mul_", "mul"}, [&] { NoGradGuard off; Tensor t = c.clone(); t.mul_(g); }},
  };
  for (const Mix& m : mixes) {
    INFO("op " << m.op[0]);
    try {
      m.call();
      FAIL("no DeviceError");
    } catch (const DeviceError& e) {
      const std::string msg = e.what();
      INFO(msg);
      bool names_op = false;
      for (const auto& op : m.op) names_op = names_op || msg.find(op) != std::string::npos;
      CHECK(names_op);
      CHECK_THAT(msg, Contains("cpu") && Contains("cuda:0"));
    }
  }
  // A gradient on the wrong device is refused too; and nothing above changed the tensors.
  Tensor leaf = zeros({2}, {.device = gpu, .requires_grad = true});
  CHECK_THROWS_AS(leaf.set_grad(zeros({2})), DeviceError);
  require_values(c, {1, 2, 3, 4});
  require_values(g.to(Device::cpu()), {1, 2, 3, 4});
}

TEST_CASE("cuda: bad input is refused on the device as on the CPU", "[cuda][errors]") {
  const Device other = parity_device("bad input on cuda:0");
  struct Bad {
    const char* what;
    const char* op;  // the message names it
    std::function<void(Device)> call;
  };
  auto f32 = [](Shape s, Device d) { return ones(s, {.device = d}); };
  auto i64 = [](std::vector<int64_t> v, Device d) { return tensor(v, {}, {.dtype = Int64, .device = d}); };
  const std::vector<Bad> bad = {
      {"shapes that do not broadcast", "add", [&](Device d) { (void)(f32({3, 4}, d) + f32({5}, d)); }},
      {"matmul inner dimensions", "matmul", [&](Device d) { (void)matmul(f32({2, 3}, d), f32({4, 5}, d)); }},
      {"matmul of int64", "matmul", [&](Device d) { (void)matmul(i64({1, 2}, d).reshape({1, 2}), i64({1, 2}, d).reshape({2, 1})); }},
      {"neg of bool", "neg", [&](Device d) { (void)neg(ones({2}, {.dtype = Bool, .device = d})); }},
      {"add of bools", "add", [&](Device d) { (void)add(ones({2}, {.dtype = Bool, .device = d}), ones({2}, {.dtype = Bool, .device = d})); }},
      {"mean of int64", "mean", [&](Device d) { (void)mean(i64({1, 2}, d)); }},
      {"softmax of int64", "softmax", [&](Device d) { (void)softmax(i64({1, 2}, d)); }},
      {"index_select index out of range", "index_select", [&](Device d) { (void)index_select(f32({5, 3}, d), 0, i64({1, 7}, d)); }},
      {"index_select negative index", "index_select", [&](Device d) { (void)index_select(f32({5, 3}, d), 0, i64({-1}, d)); }},
      {"embedding index out of range", "embedding", [&](Device d) { (void)F::embedding(i64({0, 9}, d), f32({5, 3}, d)); }},
      {"cross_entropy target out of range", "cross_entropy",
       [&](Device d) { (void)cross_entropy(f32({2, 3}, d), i64({0, 3}, d)); }},
      {"one_hot index out of range", "one_hot", [&](Device d) { (void)one_hot(i64({0, 4}, d), 4); }},
      {"view of a transposed tensor", "view", [&](Device d) { (void)f32({3, 4}, d).t().view({12}); }},
      {"sum over an axis out of range", "sum", [&](Device d) { (void)sum(f32({3, 4}, d), {2}); }},
      {"item of three elements", "item", [&](Device d) { (void)f32({3}, d).item<float>(); }},
      {"conv2d channel mismatch", "conv2d", [&](Device d) { (void)F::conv2d(f32({1, 2, 4, 4}, d), f32({3, 3, 3, 3}, d)); }},
      {"max_pool2d of int64", "max_pool2d",
       [&](Device d) { (void)F::max_pool2d(i64({1, 2, 3, 4}, d).reshape({1, 1, 2, 2}), 2); }},
      {"in-place result that does not fit", "add", [&](Device d) { Tensor t = f32({3}, d); t.add_(f32({2, 3}, d)); }},
      {"reshape to another size", "reshape", [&](Device d) { (void)f32({3, 4}, d).reshape({5, 2}); }},
      {"max of an empty tensor", "max", [&](Device d) { (void)zeros({0}, {.device = d}).max(); }},
  };
  for (const Bad& b : bad) {
    INFO(b.what);
    std::string cpu_class, dev_class, cpu_msg, dev_msg;
    auto run = [&](Device d, std::string& cls, std::string& msg) {
      try {
        b.call(d);
        cls = "(nothing thrown)";
      } catch (const ShapeError& e) {
        cls = "ShapeError", msg = e.what();
      } catch (const DTypeError& e) {
        cls = "DTypeError", msg = e.what();
      } catch (const ValueError& e) {
        cls = "ValueError", msg = e.what();
      } catch (const DeviceError& e) {
        cls = "DeviceError", msg = e.what();
      } catch (const Error& e) {
        cls = "another tapeflow::Error", msg = e.what();
      } catch (const std::exception& e) {
        cls = "a non-tapeflow exception", msg = e.what();
      }
    };
    run(Device::cpu(), cpu_class, cpu_msg);
    run(other, dev_class, dev_msg);
    INFO("CPU: " << cpu_class << ": " << cpu_msg);
    INFO(other << ": " << dev_class << ": " << dev_msg);
    CHECK((cpu_class == "ShapeError" || cpu_class == "DTypeError" || cpu_class == "ValueError"));
    CHECK(dev_class == cpu_class);
    CHECK_THAT(dev_msg, Contains(b.op));
  }
}

TEST_CASE("cuda: running out of device memory is an OutOfMemoryError that says how much there is", "[cuda][errors]") {
  if (skip_without_cuda("out of device memory")) return;
  // A block left in the cache, which the allocator gives back before it reports failure.
  { Tensor cached = zeros({16 << 20}, {.device = Device::cuda(0)}); }  // 64 MiB
  const int64_t n = int64_t{1} << 40;  // 4 TiB of float32: more than any GPU has
  try {
    (void)zeros({n}, {.device = Device::cuda(0)});
    FAIL("a 4 TiB tensor was allocated");
  } catch (const OutOfMemoryError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK_THAT(msg, StartsWith("zeros: cannot allocate 4398046511104 bytes for a float32 tensor of shape "
                               "[1099511627776]"));
    CHECK_THAT(msg, Contains("cuda:0 is out of memory: 4194304.0 MiB requested"));
    CHECK_THAT(msg, Contains(" free of "));
    const std::size_t at = msg.find("gave back ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stod(msg.substr(at + 10)) >= 64.0);
  }
  // Nothing was lost: the device still allocates and computes.
  Tensor ok = ones({1000}, {.device = Device::cuda(0)});
  CHECK(ok.sum().item<float>() == 1000.0f);
}
