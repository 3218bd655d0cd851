// SPDX-License-Identifier: MIT
// Broadcasting, reductions, neural-network functions, joins and matmul on awkward shapes.
// References: hand-computed values, plain loops in this file, and xtensor (an independent
// implementation of NumPy broadcasting and reductions) on the same logical values.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include "../helpers.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace tapeflow;
using tapeflow::test::require_values;

namespace {


std::vector<int64_t> i64(const Tensor& t) { return t.to_vector<int64_t>(); }
std::vector<bool> bools(const Tensor& t) { return t.to_vector<bool>(); }

// --- operands with a chosen memory layout ------------------------------------------------
// The logical values are generated here; the tensor is built from a physical buffer laid out
// differently, so the reference never depends on tapeflow reading strides right.

enum class Layout { Contiguous, Transposed, Strided, Expanded };

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Transposed: return "transposed";
    case Layout::Strided: return "strided";
    case Layout::Expanded: return "expanded";
  }
  return "?";
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

struct Operand {
  Tensor t;
  std::vector<double> values;  // logical, row-major
  Shape shape;
};

Operand make_operand(const Shape& shape, Layout layout, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-2.0, 2.0);
  Operand op;
  op.shape = shape;
  const int64_t n = numel_of(shape);
  const std::size_t r = shape.size();
  if (layout == Layout::Transposed && r < 2) layout = Layout::Strided;
  if ((layout == Layout::Strided || layout == Layout::Expanded) && r < 1) layout = Layout::Contiguous;

  if (layout == Layout::Expanded) {
    // Values constant along dim 0: built as size 1 there and expanded (stride 0).
    Shape small = shape;
    small[0] = 1;
    std::vector<double> base(static_cast<std::size_t>(numel_of(small)));
    for (double& x : base) x = dist(rng);
    op.values.resize(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) op.values[i] = base[i % static_cast<int64_t>(base.size())];
    op.t = tensor(base, small).expand(shape);
    return op;
  }

  op.values.resize(static_cast<std::size_t>(n));
  for (double& x : op.values) x = dist(rng);
  switch (layout) {
    case Layout::Contiguous:
      // tensor(values, {}) means "shape from the values" (1-d), so 0-d goes through scalar_tensor.
      op.t = r == 0 ? scalar_tensor(op.values[0], {.dtype = Float64}) : tensor(op.values, shape);
      break;
    case Layout::Transposed: {
      // Physical [..., cols, rows]; logical [..., rows, cols] = its transpose.
      const int64_t rows = shape[r - 2], cols = shape[r - 1];
      const int64_t outer = rows * cols == 0 ? 0 : n / (rows * cols);
      Shape phys = shape;
      std::swap(phys[r - 2], phys[r - 1]);
      std::vector<double> p(static_cast<std::size_t>(n));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            p[o * rows * cols + j * rows + i] = op.values[o * rows * cols + i * cols + j];
      op.t = tensor(p, phys).transpose(-1, -2);
      break;
    }
    case Layout::Strided: {
      // Physical [..., 2 * last] with the logical values at even positions and junk between.
      const int64_t last = shape[r - 1], outer = last == 0 ? 0 : n / last;
      Shape phys = shape;
      phys[r - 1] = 2 * last;
      std::vector<double> p(static_cast<std::size_t>(2 * n), 1e6);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < last; ++j) p[o * 2 * last + 2 * j] = op.values[o * last + j];
      op.t = tensor(p, phys).slice(-1, 0, 2 * last, 2);
      break;
    }
    case Layout::Expanded:
      break;
  }
  return op;
}

xt::xarray<double> to_xt(const std::vector<double>& values, const Shape& shape) {
  std::vector<std::size_t> sh(shape.begin(), shape.end());
  xt::xarray<double> out = xt::adapt(values, sh);
  return out;
}

void require_matches(const Tensor& got, const xt::xarray<double>& expected, double tol = 1e-12) {
  Shape exp_shape(expected.shape().begin(), expected.shape().end());
  REQUIRE(got.shape() == exp_shape);
  std::vector<double> g = got.to_vector<double>();
  std::vector<double> e(expected.begin(), expected.end());
  REQUIRE(g.size() == e.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (!(std::abs(g[i] - e[i]) <= tol * (1.0 + std::abs(e[i])))) {
      if (bad < 5)
        UNSCOPED_INFO("element " << i << ": got " << g[i] << ", expected " << e[i]
                                 << " (difference " << g[i] - e[i] << ")");
      ++bad;
    }
  }
  CHECK(bad == 0);
}

// --- a naive NumPy matmul: promote 1-d operands, broadcast batch dims, triple loop -----------

struct Dense {
  std::vector<double> v;
  Shape s;
};

Dense naive_matmul(Dense a, Dense b) {
  const bool a_vec = a.s.size() == 1, b_vec = b.s.size() == 1;
  if (a_vec) a.s = {1, a.s[0]};
  if (b_vec) b.s = {b.s[0], 1};
  const int64_t n = a.s[a.s.size() - 2], k = a.s.back(), m = b.s.back();
  REQUIRE(b.s[b.s.size() - 2] == k);
  Shape ab(a.s.begin(), a.s.end() - 2), bb(b.s.begin(), b.s.end() - 2);
  const std::size_t rank = std::max(ab.size(), bb.size());
  while (ab.size() < rank) ab.insert(ab.begin(), 1);
  while (bb.size() < rank) bb.insert(bb.begin(), 1);
  Shape batch(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    REQUIRE((ab[i] == bb[i] || ab[i] == 1 || bb[i] == 1));
    batch[i] = ab[i] == 1 ? bb[i] : ab[i];
  }
  const int64_t nb = numel_of(batch);
  Dense out;
  out.v.assign(static_cast<std::size_t>(nb * n * m), 0.0);
  for (int64_t bi = 0; bi < nb; ++bi) {
    // Batch coordinates of bi, mapped into each operand (size-1 dims stay at 0).
    int64_t rest = bi, ia = 0, ib = 0, sa = 1, sb = 1;
    for (std::size_t d = rank; d-- > 0;) {
      int64_t c = rest % batch[d];
      rest /= batch[d];
      ia += (ab[d] == 1 ? 0 : c) * sa;
      ib += (bb[d] == 1 ? 0 : c) * sb;
      sa *= ab[d];
      sb *= bb[d];
    }
    const double* pa = a.v.data() + ia * n * k;
    const double* pb = b.v.data() + ib * k * m;
    double* po = out.v.data() + bi * n * m;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += pa[i * k + p] * pb[p * m + j];
        po[i * m + j] = s;
      }
  }
  out.s = batch;
  if (!a_vec) out.s.push_back(n);
  if (!b_vec) out.s.push_back(m);
  return out;
}

/// An xtensor reduction as the oracle, except of an empty array: xtensor 0.24 then advances a
/// null data pointer (UB, which UBSan reports). Every element of such a result is a reduction of
/// nothing, so the result is either empty or (a sum over an empty axis) all zeros.
template <class Reduce>
xt::xarray<double> oracle(Reduce reduce, const xt::xarray<double>& x, const std::vector<std::size_t>& axes) {
  if (x.size() != 0) return reduce(x, axes);
  std::vector<std::size_t> shape;
  for (std::size_t d = 0; d < x.dimension(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) shape.push_back(x.shape()[d]);
  }
  return xt::zeros<double>(shape);
}
const auto xt_sum = [](const xt::xarray<double>& x, const std::vector<std::size_t>& axes) {
  return xt::xarray<double>(xt::sum(x, axes));
};
const auto xt_mean = [](const xt::xarray<double>& x, const std::vector<std::size_t>& axes) {
  return xt::xarray<double>(xt::mean(x, axes));
};

}  // namespace

// --- broadcasting by hand ---------------------------------------------------------------------

TEST_CASE("broadcast: size-1 dims stretch ({3,1} + {1,4})", "[broadcast]") {
  Tensor a = tensor({1.0, 2.0, 3.0}, {3, 1});
  Tensor b = tensor({10.0, 20.0, 30.0, 40.0}, {1, 4});
  Tensor c = a + b;
  CHECK(c.shape() == Shape{3, 4});
  require_values(c, {11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43});
  require_values(b - a, {9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37});
  require_values(a * b, {10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120});
  require_values(b / a, {10, 20, 30, 40, 5, 10, 15, 20, 10.0 / 3, 20.0 / 3, 10, 40.0 / 3}, 1e-15);
  CHECK(add(a, b).shape() == Shape{3, 4});
  CHECK(mul(b, a).shape() == Shape{3, 4});
}

TEST_CASE("broadcast: rank mismatch ({2,3} + {3})", "[broadcast]") {
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  Tensor b = tensor({100.0, 200.0, 300.0});
  Tensor c = a + b;
  CHECK(c.shape() == Shape{2, 3});
  require_values(c, {101, 202, 303, 104, 205, 306});
  require_values(b - a, {99, 198, 297, 96, 195, 294});

  Tensor d = tensor({1.0, 2.0}, {2, 1, 1}) * tensor({1.0, 10.0, 100.0});
  CHECK(d.shape() == Shape{2, 1, 3});
  require_values(d, {1, 10, 100, 2, 20, 200});
}

TEST_CASE("broadcast: zero-size dims", "[broadcast]") {
  Tensor e = zeros({0, 3});
  Tensor c = e + ones({1, 3});
  CHECK(c.shape() == Shape{0, 3});
  CHECK(c.numel() == 0);
  CHECK((ones({3}) * e).shape() == Shape{0, 3});
  CHECK((e + scalar_tensor(1.0)).shape() == Shape{0, 3});
  CHECK((zeros({2, 0}) + zeros({2, 1})).shape() == Shape{2, 0});

  // Sums over a zero-size dim are 0; an empty tensor sums to 0.
  Tensor s0 = e.sum(0);
  CHECK(s0.shape() == Shape{3});
  require_values(s0, {0, 0, 0});
  CHECK(e.sum(1).shape() == Shape{0});
  require_values(zeros({2, 0}).sum(1), {0, 0});
  Tensor all = zeros({0}).sum();
  CHECK(all.shape() == Shape{});
  CHECK(all.item<double>() == 0.0);
  CHECK(e.sum().item<double>() == 0.0);
  CHECK(e.sum(0, true).shape() == Shape{1, 3});

  // A {0,3} operand does not broadcast with {2,3}.
  CHECK_THROWS_AS(e + ones({2, 3}), ShapeError);
}

TEST_CASE("broadcast: 0-d scalars", "[broadcast]") {
  Tensor s = scalar_tensor(2.0);
  Tensor m = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
  Tensor r = s + m;
  CHECK(r.shape() == Shape{2, 2});
  require_values(r, {3, 4, 5, 6});
  require_values(m * s, {2, 4, 6, 8});
  require_values(s - m, {1, 0, -1, -2});
  Tensor ss = s * scalar_tensor(3.0);
  CHECK(ss.shape() == Shape{});
  CHECK(ss.item<double>() == 6.0);

  // C++ scalars on either side.
  require_values(m + 1.0, {2, 3, 4, 5});
  require_values(1.0 - m, {0, -1, -2, -3});
  require_values(m * 3.0, {3, 6, 9, 12});
  require_values(3.0 * m, {3, 6, 9, 12});
  require_values(m / 2.0, {0.5, 1, 1.5, 2});
  require_values(2.0 / m, {2, 1, 2.0 / 3, 0.5}, 1e-7);
  require_values(-m, {-1, -2, -3, -4});
  CHECK((m * 3.0).dtype() == Float32);
  CHECK((3.0 * m).dtype() == Float32);
}

TEST_CASE("broadcast: dtype promotion", "[broadcast]") {
  CHECK((tensor({1.f}) + tensor({1.0})).dtype() == Float64);
  CHECK((tensor({1}) + tensor({1.f})).dtype() == Float32);
  CHECK((tensor({true}) + tensor({1})).dtype() == Int64);
  Tensor q = tensor({1, 3}) / tensor({2});
  CHECK(q.dtype() == Float32);  // true division
  require_values(q, {0.5, 1.5});
  Tensor mixed = tensor({1, 2}) + tensor({0.5, 0.25});
  CHECK(mixed.dtype() == Float64);
  require_values(mixed, {1.5, 2.25});
}

TEST_CASE("broadcast: non-contiguous operands", "[broadcast]") {
  Tensor base = arange(6, {.dtype = Float64}).reshape({2, 3});
  Tensor t = base.transpose(0, 1);  // [[0,3],[1,4],[2,5]]
  Tensor r = t + tensor({10.0, 20.0});
  CHECK(r.shape() == Shape{3, 2});
  require_values(r, {10, 23, 11, 24, 12, 25});

  Tensor r2 = t * tensor({1.0, 2.0, 3.0}, {3, 1});
  require_values(r2, {0, 3, 2, 8, 6, 15});

  // Both sides transposed, then one sliced with a step.
  Tensor u = t + t;
  require_values(u, {0, 6, 2, 8, 4, 10});
  Tensor sl = base.slice(1, 0, 3, 2);  // [[0,2],[3,5]]
  require_values(sl - sl.transpose(0, 1), {0, -1, 1, 0});
  // An expanded operand (stride 0).
  Tensor ex = tensor({1.0, 2.0}, {2, 1}).expand({2, 3});
  require_values(ex + base, {1, 2, 3, 5, 6, 7});
}

// --- large operands whose layouts cross: the CPU engine's sorted and tiled loops -------------
// Big enough for the loop engine to walk in tiles (and, for the largest, on both cores), with
// sizes that leave partial tiles. A view is a permutation of a contiguous buffer, so expected
// values, and the buffer after an in-place write, are laid out here by index arithmetic alone.

namespace {

struct PermutedOperand {
  Tensor phys;                  // contiguous buffer
  Tensor view;                  // phys.permute(order): the logical operand
  std::vector<double> logical;  // row-major over the view's shape
};

// The physical (row-major over phys) position of each logical element.
std::vector<int64_t> physical_index(const Shape& shape, const Shape& order) {
  const std::size_t r = shape.size();
  Shape phys_shape(r);
  for (std::size_t k = 0; k < r; ++k) phys_shape[static_cast<std::size_t>(order[k])] = shape[k];
  std::vector<int64_t> phys_stride(r, 1);
  for (std::size_t d = r - 1; d-- > 0;) phys_stride[d] = phys_stride[d + 1] * phys_shape[d + 1];
  const int64_t n = numel_of(shape);
  std::vector<int64_t> where_(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, p = 0;
    for (std::size_t k = r; k-- > 0;) {
      p += rest % shape[k] * phys_stride[static_cast<std::size_t>(order[k])];
      rest /= shape[k];
    }
    where_[static_cast<std::size_t>(i)] = p;
  }
  return where_;
}

std::vector<double> to_physical(const std::vector<double>& logical, const Shape& shape, const Shape& order) {
  std::vector<int64_t> at = physical_index(shape, order);
  std::vector<double> phys(logical.size());
  for (std::size_t i = 0; i < logical.size(); ++i) phys[static_cast<std::size_t>(at[i])] = logical[i];
  return phys;
}

PermutedOperand permuted_operand(const Shape& shape, const Shape& order, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-2.0, 2.0);
  PermutedOperand op;
  op.logical.resize(static_cast<std::size_t>(numel_of(shape)));
  for (double& x : op.logical) x = dist(rng);
  Shape phys_shape(shape.size());
  for (std::size_t k = 0; k < shape.size(); ++k) phys_shape[static_cast<std::size_t>(order[k])] = shape[k];
  op.phys = tensor(to_physical(op.logical, shape, order), phys_shape);
  op.view = op.phys.permute(order);
  return op;
}

template <typename F>
std::vector<double> map2(const std::vector<double>& a, const std::vector<double>& b, F f) {
  std::vector<double> r(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) r[i] = f(a[i], b[i]);
  return r;
}

}  // namespace

TEST_CASE("broadcast: large operands in crossing layouts (tiled loops)", "[broadcast]") {
  struct Case {
    Shape shape, order;
  };
  const Case cases[] = {
      {{130, 70}, {1, 0}},       // partial tiles both ways
      {{64, 64}, {1, 0}},        // whole tiles
      {{300, 257}, {1, 0}},      // enough tiles to split across threads
      {{5, 33, 40}, {1, 2, 0}},  // 3-d permutations: tiles pair the last dim with the middle one,
      {{40, 6, 50}, {1, 2, 0}},  // with the first (the middle one is too short for a tile),
      {{5, 33, 40}, {2, 0, 1}},  // or none (the input is dense enough along the last dim)
      {{3, 200, 9}, {0, 2, 1}},  // a short innermost dim
  };
  std::mt19937 rng(7);
  for (const Case& cs : cases) {
    INFO("shape " << shape_str(cs.shape) << " permuted by " << shape_str(cs.order));
    PermutedOperand A = permuted_operand(cs.shape, cs.order, rng);
    const Shape contiguous_order = [&] {
      Shape o(cs.shape.size());
      for (std::size_t k = 0; k < o.size(); ++k) o[k] = static_cast<int64_t>(k);
      return o;
    }();
    PermutedOperand B = permuted_operand(cs.shape, contiguous_order, rng);  // contiguous
    Shape row_shape{cs.shape.back()};
    PermutedOperand C = permuted_operand(row_shape, {0}, rng);  // broadcast along the rows
    const int64_t last = cs.shape.back();
    auto c_at = [&](std::size_t i) { return C.logical[i % static_cast<std::size_t>(last)]; };
    REQUIRE_FALSE(A.view.is_contiguous());
    REQUIRE(A.view.to_vector<double>() == A.logical);  // a transposing copy

    {
      INFO("a + b * c (out of place)");
      std::vector<double> expect(A.logical.size());
      for (std::size_t i = 0; i < expect.size(); ++i) expect[i] = A.logical[i] + B.logical[i] * c_at(i);
      require_values(A.view + B.view * C.view, expect);
      require_values(B.view * C.view + A.view, expect);
    }
    {
      INFO("exp(a), where(a > b, a, b), a.t-crossing casts");
      std::vector<double> e(A.logical.size());
      for (std::size_t i = 0; i < e.size(); ++i) e[i] = std::exp(A.logical[i]);
      require_values(exp(A.view), e);
      require_values(where(A.view > B.view, A.view, B.view),
                     map2(A.logical, B.logical, [](double x, double y) { return x > y ? x : y; }));
      std::vector<double> f32(A.logical.size()), i64v(A.logical.size());
      for (std::size_t i = 0; i < e.size(); ++i) {
        f32[i] = static_cast<float>(A.logical[i]);
        i64v[i] = static_cast<double>(static_cast<int64_t>(A.logical[i] * 10.0));
      }
      require_values(A.view.to(Float32), f32);
      require_values((A.phys * 10.0).permute(cs.order).to(Int64), i64v);
    }
    {
      INFO("in place into the permuted view: the buffer holds the results in its own order");
      PermutedOperand D = permuted_operand(cs.shape, cs.order, rng);
      D.view.mul_(B.view);
      std::vector<double> expect = map2(D.logical, B.logical, std::multiplies<>());
      CHECK(D.phys.to_vector<double>() == to_physical(expect, cs.shape, cs.order));
      D.view.add_(C.view);
      for (std::size_t i = 0; i < expect.size(); ++i) expect[i] += c_at(i);
      CHECK(D.phys.to_vector<double>() == to_physical(expect, cs.shape, cs.order));
      D.view.copy_(B.view);
      CHECK(D.phys.to_vector<double>() == to_physical(B.logical, cs.shape, cs.order));
      B.view.copy_(A.view);  // and a contiguous destination from the permuted source
      CHECK(B.phys.to_vector<double>() == A.logical);
    }
  }
}

TEST_CASE("broadcast: an in-place op reading its own transpose sees the values from before", "[broadcast]") {
  for (int64_t n : {5, 130}) {  // a plain loop, and a tiled one
    INFO("n = " << n);
    std::mt19937 rng(11);
    PermutedOperand X = permuted_operand({n, n}, {0, 1}, rng);
    std::vector<double> expect(X.logical.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        expect[static_cast<std::size_t>(i * n + j)] =
            X.logical[static_cast<std::size_t>(i * n + j)] + X.logical[static_cast<std::size_t>(j * n + i)];
    X.view.add_(X.view.t());
    CHECK(X.phys.to_vector<double>() == expect);
  }
}

// --- reductions of large operands: the CPU engine's vectorised paths -------------------------

namespace {

// A plain reduction over logical row-major values: for each output (kept coordinates in
// row-major order), its elements in increasing flat index over the reduced dims.
struct ReductionRef {
  std::vector<double> sum, max, min;
  std::vector<double> argmax, argmin;  // flat indices over the reduced dims
};

ReductionRef reduce_ref(const std::vector<double>& v, const Shape& shape, const std::vector<bool>& reduced) {
  const std::size_t r = shape.size();
  int64_t outputs = 1;
  for (std::size_t d = 0; d < r; ++d)
    if (!reduced[d]) outputs *= shape[d];
  ReductionRef ref;
  const auto n_out = static_cast<std::size_t>(outputs);
  ref.sum.assign(n_out, 0.0);
  ref.max.assign(n_out, 0.0);
  ref.min.assign(n_out, 0.0);
  ref.argmax.assign(n_out, -1.0);
  ref.argmin.assign(n_out, -1.0);
  for (std::size_t i = 0; i < v.size(); ++i) {
    int64_t rest = static_cast<int64_t>(i), o = 0, k = 0, o_scale = 1, k_scale = 1;
    for (std::size_t d = r; d-- > 0;) {
      const int64_t c = rest % shape[d];
      rest /= shape[d];
      if (reduced[d]) k += c * k_scale, k_scale *= shape[d];
      else o += c * o_scale, o_scale *= shape[d];
    }
    const auto out = static_cast<std::size_t>(o);
    const double x = v[i];
    ref.sum[out] += x;
    // NaN wins and stays; otherwise the first extremum.
    auto take = [&](double best, double idx, bool greater) {
      if (idx < 0) return true;
      if (std::isnan(best)) return false;
      return std::isnan(x) || (greater ? x > best : x < best);
    };
    if (take(ref.max[out], ref.argmax[out], true)) ref.max[out] = x, ref.argmax[out] = static_cast<double>(k);
    if (take(ref.min[out], ref.argmin[out], false)) ref.min[out] = x, ref.argmin[out] = static_cast<double>(k);
  }
  return ref;
}

// Values from a few integers, so that ties abound, with a NaN now and then when asked.
std::vector<double> tied_values(std::size_t n, bool with_nan, std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(-2, 2), rare(0, 997);
  std::vector<double> v(n);
  for (double& x : v) x = with_nan && rare(rng) == 0 ? std::nan("") : pick(rng);
  return v;
}

void require_same(const Tensor& got, const std::vector<double>& expected, double tol) {
  std::vector<double> g = got.to_vector<double>();
  REQUIRE(g.size() == expected.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const bool ok = std::isnan(expected[i]) ? std::isnan(g[i])
                                            : std::abs(g[i] - expected[i]) <= tol * (1.0 + std::abs(expected[i]));
    if (!ok && bad++ < 5) UNSCOPED_INFO("element " << i << ": got " << g[i] << ", expected " << expected[i]);
  }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("broadcast: reductions of large operands in any layout match plain loops", "[broadcast]") {
  struct Case {
    Shape shape, order;
    std::vector<Axes> axes;
  };
  const Case cases[] = {
      // Column sums (outputs side by side: a partial block of 256 lanes), row sums (runs of
      // eight partial sums and a remainder), everything (split across threads).
      {{300, 257}, {0, 1}, {{0}, {1}, {0, 1}}},
      {{300, 257}, {1, 0}, {{0}, {1}, {0, 1}}},  // the same, transposed
      {{6, 50, 70}, {0, 1, 2}, {{1}, {0}, {2}, {0, 2}, {1, 2}}},
      {{6, 50, 70}, {2, 0, 1}, {{1}, {0}, {2}, {0, 2}, {0, 1}}},
      {{40, 3, 33}, {1, 2, 0}, {{0}, {1}, {2}, {0, 2}}},
  };
  std::mt19937 rng(3);
  for (const Case& cs : cases) {
    for (bool tied : {false, true}) {
      PermutedOperand X = permuted_operand(cs.shape, cs.order, rng);
      if (tied) {  // same layout, values with ties and NaNs
        X.logical = tied_values(X.logical.size(), true, rng);
        X.phys = tensor(to_physical(X.logical, cs.shape, cs.order), X.phys.shape());
        X.view = X.phys.permute(cs.order);
      }
      for (const Axes& axes : cs.axes) {
        INFO("shape " << shape_str(cs.shape) << " permuted by " << shape_str(cs.order) << ", axes "
                      << shape_str(axes) << (tied ? ", ties and NaNs" : ""));
        std::vector<bool> reduced(cs.shape.size(), false);
        for (int64_t a : axes) reduced[static_cast<std::size_t>(a)] = true;
        const ReductionRef ref = reduce_ref(X.logical, cs.shape, reduced);
        require_same(X.view.sum(axes), ref.sum, 1e-12);
        require_same(X.view.to(Float32).sum(axes), ref.sum, tied ? 0.0 : 1e-6);
        if (axes.size() == 1) {
          require_same(X.view.max(axes[0]), ref.max, 0.0);
          require_same(X.view.min(axes[0]), ref.min, 0.0);
          require_same(X.view.argmax(axes[0]), ref.argmax, 0.0);
          require_same(X.view.argmin(axes[0]), ref.argmin, 0.0);
        }
        if (axes.size() == cs.shape.size()) {
          require_same(X.view.max(), {ref.max[0]}, 0.0);
          require_same(X.view.argmin(), {ref.argmin[0]}, 0.0);
        }
      }
      if (tied) {
        INFO("Int64 and Bool sums, shape " << shape_str(cs.shape));
        Tensor ints = where(X.view != X.view, zeros({}, {.dtype = Float64}), X.view).to(Int64);
        std::vector<double> as_int(X.logical.size()), as_bool(X.logical.size());
        for (std::size_t i = 0; i < as_int.size(); ++i) {
          as_int[i] = std::isnan(X.logical[i]) ? 0.0 : X.logical[i];
          as_bool[i] = as_int[i] > 0 ? 1.0 : 0.0;
        }
        std::vector<bool> first(cs.shape.size(), false);
        first[0] = true;
        CHECK(ints.sum(0).dtype() == Int64);
        require_same(ints.sum(0), reduce_ref(as_int, cs.shape, first).sum, 0.0);
        require_same((ints > 0).sum(0), reduce_ref(as_bool, cs.shape, first).sum, 0.0);
      }
    }
  }
}

TEST_CASE("broadcast: reductions over a strided kept dim", "[broadcast]") {
  // x[:, ::2] of a [200, 2 * 90] buffer: the outputs of sum(0) sit two elements apart.
  std::mt19937 rng(5);
  std::vector<double> phys = tied_values(200 * 180, true, rng);
  Tensor x = tensor(phys, {200, 180}).slice(1, 0, 180, 2);
  std::vector<double> logical(200 * 90);
  for (std::size_t i = 0; i < 200; ++i)
    for (std::size_t j = 0; j < 90; ++j) logical[i * 90 + j] = phys[i * 180 + 2 * j];
  const ReductionRef ref = reduce_ref(logical, {200, 90}, {true, false});
  require_same(x.sum(0), ref.sum, 1e-12);
  require_same(x.max(0), ref.max, 0.0);
  require_same(x.argmax(0), ref.argmax, 0.0);
  require_same(x.argmin(0), ref.argmin, 0.0);
}

TEST_CASE("broadcast: where on contiguous operands of every dtype (the vectorized selects)", "[broadcast]") {
  // 1003 elements: whole vectors and a remainder; the second operand also as a scalar.
  const int64_t n = 1003;
  std::vector<double> xv(n), yv(n);
  for (int64_t i = 0; i < n; ++i) {
    xv[static_cast<std::size_t>(i)] = static_cast<double>(i % 7) - 3.0;
    yv[static_cast<std::size_t>(i)] = 100.0 + static_cast<double>(i % 5);
  }
  const Tensor cond = tensor(xv) > -1.0;  // a Bool tensor made by a comparison
  std::vector<double> cond_v(n), both(n), with_scalar(n);
  for (std::size_t i = 0; i < cond_v.size(); ++i) {
    const bool c = xv[i] > -1.0;
    both[i] = c ? xv[i] : yv[i];
    with_scalar[i] = c ? xv[i] : 42.0;
  }
  for (DType dt : {Float32, Float64, Int64, Bool}) {
    INFO("dtype " << dt);
    const Tensor x = tensor(xv).to(dt), y = tensor(yv).to(dt);
    std::vector<double> expect_both = both, expect_scalar = with_scalar;
    if (dt == Bool)
      for (std::size_t i = 0; i < cond_v.size(); ++i) {
        expect_both[i] = both[i] != 0.0 ? 1.0 : 0.0;
        expect_scalar[i] = with_scalar[i] != 0.0 ? 1.0 : 0.0;
      }
    require_values(where(cond, x, y), expect_both);
    require_values(where(cond, x, full({}, 42.0, {.dtype = dt})), expect_scalar);
  }
}

TEST_CASE("broadcast: comparisons give Bool", "[broadcast]") {
  Tensor a = tensor({1.0, 2.0, 3.0});
  Tensor b = tensor({2.0});
  Tensor lt_ = a < b;
  CHECK(lt_.dtype() == Bool);
  CHECK(bools(lt_) == std::vector<bool>{true, false, false});
  CHECK(bools(a <= b) == std::vector<bool>{true, true, false});
  CHECK(bools(a > b) == std::vector<bool>{false, false, true});
  CHECK(bools(a >= b) == std::vector<bool>{false, true, true});
  CHECK(bools(a == b) == std::vector<bool>{false, true, false});
  CHECK(bools(a != b) == std::vector<bool>{true, false, true});
  CHECK(bools(a == 3.0) == std::vector<bool>{false, false, true});
  CHECK(bools(a != 3.0) == std::vector<bool>{true, true, false});
  CHECK(bools(a < 2.5) == std::vector<bool>{true, true, false});
  CHECK(bools(a <= 2.0) == std::vector<bool>{true, true, false});
  CHECK(bools(a > 1.0) == std::vector<bool>{false, true, true});
  CHECK(bools(a >= 1.0) == std::vector<bool>{true, true, true});
  CHECK((a == 3.0).dtype() == Bool);
  CHECK(bools(eq(a, b)) == std::vector<bool>{false, true, false});
  CHECK(bools(ne(a, b)) == std::vector<bool>{true, false, true});
  CHECK(bools(lt(a, b)) == std::vector<bool>{true, false, false});
  CHECK(bools(le(a, b)) == std::vector<bool>{true, true, false});
  CHECK(bools(gt(a, b)) == std::vector<bool>{false, false, true});
  CHECK(bools(ge(a, b)) == std::vector<bool>{false, true, true});

  // Broadcast comparison {3,1} vs {1,2}.
  Tensor c = tensor({1.0, 2.0, 3.0}, {3, 1}) > tensor({1.5, 2.5}, {1, 2});
  CHECK(c.shape() == Shape{3, 2});
  CHECK(bools(c) == std::vector<bool>{false, false, true, false, true, true});

  // Mixed dtypes compare by value.
  CHECK(bools(tensor({1, 2, 3}) > tensor({1.5f})) == std::vector<bool>{false, true, true});
}

TEST_CASE("broadcast: where broadcasts cond, a and b together", "[broadcast]") {
  Tensor cond = tensor({true, false, true});
  Tensor a = tensor({10.f, 20.f}, {2, 1});
  Tensor b = scalar_tensor(-1.0);
  Tensor w = where(cond, a, b);
  CHECK(w.shape() == Shape{2, 3});
  require_values(w, {10, -1, 10, 20, -1, 20});

  Tensor x = tensor({-2.0, 0.5, 3.0, -0.1});
  require_values(where(x > 0.0, x, zeros_like(x)), {0, 0.5, 3, 0});
  Tensor cond2 = tensor({true, false}, {2, 1});
  require_values(where(cond2, tensor({1.0, 2.0, 3.0}), tensor({-1.0, -2.0, -3.0})),
                 {1, 2, 3, -1, -2, -3});
}

TEST_CASE("broadcast: maximum, minimum and clamp", "[broadcast]") {
  Tensor a = tensor({1.0, 5.0, 3.0});
  Tensor b = tensor({2.0, 4.0}, {2, 1});
  Tensor mx = maximum(a, b);
  CHECK(mx.shape() == Shape{2, 3});
  require_values(mx, {2, 5, 3, 4, 5, 4});
  require_values(minimum(a, b), {1, 2, 2, 1, 4, 3});

  Tensor x = tensor({-2.0, -0.5, 0.0, 0.5, 2.0});
  require_values(clamp(x, -1.0, 1.0), {-1, -0.5, 0, 0.5, 1});
  require_values(clamp(x, 0.0, std::nullopt), {0, 0, 0, 0.5, 2});
  require_values(clamp(x, std::nullopt, 0.0), {-2, -0.5, 0, 0, 0});
  require_values(x.clamp(-0.25, 0.25), {-0.25, -0.25, 0, 0.25, 0.25});
  require_values(x.relu(), {0, 0, 0, 0.5, 2});
  require_values(x.abs(), {2, 0.5, 0, 0.5, 2});
  require_values(sign(x), {-1, -1, 0, 1, 1});
}

TEST_CASE("broadcast: maximum, minimum and clamp propagate NaN from either side", "[broadcast]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor a = tensor({1.0, nan, nan, -2.0});
  Tensor b = tensor({nan, 1.0, nan, 3.0});
  for (const Tensor& r : {maximum(a, b), maximum(b, a), minimum(a, b), minimum(b, a)}) {
    const std::vector<double> v = r.to_vector<double>();
    CHECK(std::isnan(v[0]));
    CHECK(std::isnan(v[1]));
    CHECK(std::isnan(v[2]));
    CHECK_FALSE(std::isnan(v[3]));
  }
  CHECK(maximum(a, b).to_vector<double>()[3] == 3.0);
  CHECK(minimum(b, a).to_vector<double>()[3] == -2.0);
  // float32 through a broadcast scalar, both orders
  Tensor f = tensor({static_cast<float>(nan), 0.5f});
  Tensor one = full({}, 1.0, {.dtype = DType::Float32});
  for (const Tensor& r : {maximum(f, one), maximum(one, f), clamp(f, 0.0, 0.25)}) {
    const std::vector<float> v = r.to_vector<float>();
    CHECK(std::isnan(v[0]));
    CHECK_FALSE(std::isnan(v[1]));
  }
}

TEST_CASE("broadcast: pow with a scalar and a tensor exponent", "[broadcast]") {
  Tensor x = tensor({1.0, 2.0, 3.0});
  require_values(pow(x, 2.0), {1, 4, 9});
  require_values(x.pow(3.0), {1, 8, 27});
  require_values(pow(tensor({4.0, 9.0}), 0.5), {2, 3}, 1e-15);
  require_values(x.pow(-1.0), {1, 0.5, 1.0 / 3}, 1e-15);
  Tensor p = pow(tensor({2.0, 3.0}, {2, 1}), tensor({1.0, 2.0, 3.0}));
  CHECK(p.shape() == Shape{2, 3});
  require_values(p, {2, 4, 8, 3, 9, 27}, 1e-14);
  require_values(tensor({2.0, 3.0}).pow(tensor({2.0})), {4, 9}, 1e-15);
}

TEST_CASE("broadcast: unary math functions", "[broadcast]") {
  Tensor x = tensor({-1.0, 0.0, 0.5, 2.0});
  std::vector<double> v{-1.0, 0.0, 0.5, 2.0};
  std::vector<double> e, th, sg;
  for (double a : v) {
    e.push_back(std::exp(a));
    th.push_back(std::tanh(a));
    sg.push_back(1.0 / (1.0 + std::exp(-a)));
  }
  require_values(exp(x), e, 1e-15);
  require_values(tanh(x), th, 1e-15);
  require_values(sigmoid(x), sg, 1e-15);
  require_values(log(tensor({1.0, std::exp(2.0)})), {0, 2}, 1e-15);
  require_values(sqrt(tensor({4.0, 0.25})), {2, 0.5});
  require_values(neg(x), {1, 0, -0.5, -2});
}

TEST_CASE("broadcast: float32 exp, sigmoid and tanh stay within 3 ulp everywhere, in any layout", "[broadcast]") {
  // The CPU computes these four lanes at a time with its own polynomials, and hands inputs
  // outside the polynomials' range (results that are denormal, zero or infinite) to the
  // standard library: every float32 input, including those and ±inf and NaN, must come out
  // right, and the same whether it sits in a contiguous run or a strided view.
  std::vector<float> in;
  for (float v = -120.0f; v <= 120.0f; v += 0.0137f) in.push_back(v);
  for (float v : {-1000.0f, -104.0f, -103.9f, -100.0f, -88.7f, -88.3f, -87.4f, -87.3f, -1e-30f, 0.0f, -0.0f, 1e-30f,
                  0.624f, 0.625f, 0.626f, 88.3f, 88.4f, 88.72f, 88.73f, 89.0f, 1000.0f, INFINITY, -INFINITY, NAN})
    in.push_back(v);
  const auto n = static_cast<int64_t>(in.size());
  struct Fn {
    const char* name;
    Tensor (*op)(const Tensor&);
    double (*ref)(double);
  };
  const Fn fns[] = {
      {"exp", [](const Tensor& t) { return exp(t); }, [](double v) { return std::exp(v); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {"tanh", [](const Tensor& t) { return tanh(t); }, [](double v) { return std::tanh(v); }},
  };
  const Tensor x = tensor(in);
  // The same values at even positions of a buffer twice as long: a strided view.
  std::vector<float> spread(2 * in.size(), 7.0f);
  for (std::size_t i = 0; i < in.size(); ++i) spread[2 * i] = in[i];
  const Tensor xs = tensor(spread).slice(0, 0, 2 * n, 2);
  for (const Fn& f : fns) {
    INFO(f.name);
    const std::vector<float> got = f.op(x).to_vector<float>(), got_strided = f.op(xs).to_vector<float>();
    std::size_t bad = 0, differ = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
      const double ref = f.ref(static_cast<double>(in[i]));
      const float want = static_cast<float>(ref);
      bool ok;
      if (std::isnan(ref)) {
        ok = std::isnan(got[i]);
      } else if (std::isinf(want)) {
        ok = got[i] == want;
      } else {
        const float ulp = std::nextafter(std::abs(want), INFINITY) - std::abs(want);
        ok = std::abs(static_cast<double>(got[i]) - ref) <= 3.0 * static_cast<double>(ulp);
      }
      if (!ok && bad++ < 5) UNSCOPED_INFO(f.name << "(" << in[i] << ") = " << got[i] << ", expected " << ref);
      if (std::memcmp(&got[i], &got_strided[i], sizeof(float)) != 0 && differ++ < 5)
        UNSCOPED_INFO(f.name << "(" << in[i] << "): " << got[i] << " contiguous, " << got_strided[i] << " strided");
    }
    CHECK(bad == 0);
    CHECK(differ == 0);
  }
}

// --- reductions ---------------------------------------------------------------------------

TEST_CASE("broadcast: reductions over single axes and keepdim", "[broadcast]") {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  Tensor s0 = x.sum(0);
  CHECK(s0.shape() == Shape{3});
  require_values(s0, {5, 7, 9});
  require_values(x.sum(1), {6, 15});
  require_values(x.sum(-1), {6, 15});
  CHECK(x.sum(1, true).shape() == Shape{2, 1});
  require_values(x.sum(1, true), {6, 15});
  CHECK(x.sum(0, true).shape() == Shape{1, 3});
  Tensor total = x.sum();
  CHECK(total.shape() == Shape{});
  CHECK(total.item<double>() == 21.0);
  CHECK(sum(x).item<double>() == 21.0);

  require_values(x.mean(0), {2.5, 3.5, 4.5});
  require_values(x.mean(1), {2, 5});
  CHECK(x.mean().item<double>() == 3.5);
  require_values(x.max(1), {3, 6});
  require_values(x.max(0), {4, 5, 6});
  CHECK(x.max().item<double>() == 6.0);
  require_values(x.min(0), {1, 2, 3});
  require_values(x.min(-1), {1, 4});
  CHECK(x.min().item<double>() == 1.0);
  CHECK(x.max(0, true).shape() == Shape{1, 3});

  Tensor am = x.argmax(1);
  CHECK(am.dtype() == Int64);
  CHECK(am.shape() == Shape{2});
  CHECK(i64(am) == std::vector<int64_t>{2, 2});
  CHECK(i64(x.argmin(0)) == std::vector<int64_t>{0, 0, 0});
  CHECK(x.argmax().item<int64_t>() == 5);
  CHECK(x.argmin().item<int64_t>() == 0);
  CHECK(x.argmax(1, true).shape() == Shape{2, 1});
  CHECK(i64(argmax(x, 0)) == std::vector<int64_t>{1, 1, 1});
  CHECK(i64(argmin(x, -1)) == std::vector<int64_t>{0, 0});

  // Bool and Int64 sum to Int64.
  Tensor bs = tensor({true, false, true, true}).sum();
  CHECK(bs.dtype() == Int64);
  CHECK(bs.item<int64_t>() == 3);
  Tensor is = tensor({1, 2, 3, 4}, {2, 2}).sum(0);
  CHECK(is.dtype() == Int64);
  CHECK(i64(is) == std::vector<int64_t>{4, 6});
}

TEST_CASE("broadcast: reductions over multiple and negative axes", "[broadcast]") {
  // x[i][j][k] = 12 i + 4 j + k
  Tensor x = arange(24, {.dtype = Float64}).reshape({2, 3, 4});
  Tensor s = x.sum({0, 2});
  CHECK(s.shape() == Shape{3});
  // sum over i in {0,1}, k in 0..3 of 12 i + 4 j + k = 48 + 32 j + 12
  require_values(s, {60, 92, 124});
  require_values(x.sum({-1, 0}), {60, 92, 124});
  require_values(sum(x, {2, 0}), {60, 92, 124});
  CHECK(x.sum({0, 2}, true).shape() == Shape{1, 3, 1});
  require_values(x.mean({0, 2}), {7.5, 11.5, 15.5});
  require_values(mean(x, {0, -1}, true), {7.5, 11.5, 15.5});
  CHECK(mean(x, {0, -1}, true).shape() == Shape{1, 3, 1});
  Tensor s01 = x.sum({0, 1});
  // sum over i, j of 12 i + 4 j + k = 36 + 24 + 6 k
  require_values(s01, {60, 66, 72, 78});
  Tensor all = x.sum({0, 1, 2});
  CHECK(all.shape() == Shape{});
  CHECK(all.item<double>() == 276.0);
  CHECK(x.sum({0, 1, 2}, true).shape() == Shape{1, 1, 1});
  require_values(max(x, {1, 2}), {11, 23});
  require_values(min(x, {0, 1}), {0, 1, 2, 3});
  require_values(max(x, {-3}), {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});

  // A reduction of a transposed view follows the view's axes.
  Tensor t = x.permute({2, 1, 0});  // t[k][j][i]
  require_values(t.sum({1, 2}), {60, 66, 72, 78});
  // t.sum(2)[k][j] = sum over i of 12 i + 4 j + k = 12 + 8 j + 2 k
  std::vector<double> expected;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j) expected.push_back(12 + 8 * j + 2 * k);
  CHECK(t.sum(2).shape() == Shape{4, 3});
  require_values(t.sum(2), expected);
}

TEST_CASE("broadcast: argmax and argmin ties pick the first", "[broadcast]") {
  CHECK(tensor({1.f, 3.f, 3.f, 2.f}).argmax().item<int64_t>() == 1);
  CHECK(tensor({2.f, 0.f, 5.f, 0.f}).argmin().item<int64_t>() == 1);
  Tensor m = tensor({5.0, 5.0, 1.0, 0.0, 7.0, 7.0}, {2, 3});
  CHECK(i64(m.argmax(1)) == std::vector<int64_t>{0, 1});
  CHECK(i64(m.argmin(1)) == std::vector<int64_t>{2, 0});
  Tensor c = tensor({1.0, 2.0, 1.0, 0.0}, {2, 2});
  CHECK(i64(c.argmax(0)) == std::vector<int64_t>{0, 0});
  CHECK(i64(c.argmin(0)) == std::vector<int64_t>{0, 1});
  CHECK(tensor({4, 4, 4}).argmax().item<int64_t>() == 0);
  // Ties along a non-contiguous axis.
  Tensor t = tensor({3.0, 1.0, 3.0, 1.0}, {2, 2}).transpose(0, 1);  // [[3,3],[1,1]]
  CHECK(i64(t.argmax(1)) == std::vector<int64_t>{0, 0});
  CHECK(i64(t.argmax(0)) == std::vector<int64_t>{0, 0});
}

TEST_CASE("broadcast: max, min and argmax of an empty dim throw", "[broadcast]") {
  Tensor e = zeros({0, 3});
  CHECK_THROWS_AS(e.max(0), Error);
  CHECK_THROWS_AS(e.min(0), Error);
  CHECK_THROWS_AS(e.argmax(0), Error);
  CHECK_THROWS_AS(zeros({0}).max(), Error);
  CHECK_THROWS_AS(zeros({0}).argmin(), Error);
  // Reducing a non-empty dim of a tensor with no elements is fine: there is nothing to reduce.
  CHECK(e.max(1).shape() == Shape{0});
  // The tensor is still usable.
  CHECK((e + 1.0).shape() == Shape{0, 3});
}

// --- cross-checks against xtensor -----------------------------------------------------------

TEST_CASE("broadcast: random broadcasting cases match xtensor", "[broadcast]") {
  struct Case {
    Shape a, b, c;
  };
  const Case cases[] = {
      {{3, 1, 4}, {5, 1}, {4}},
      {{2, 3}, {3}, {2, 1}},
      {{4, 1, 3}, {1, 5, 1}, {1, 3}},
      {{1}, {2, 3}, {2, 1}},
      {{2, 1, 3, 1}, {4, 1, 5}, {1, 1, 1, 5}},
      {{6, 5}, {6, 1}, {5}},
      {{3, 4}, {3, 4}, {3, 4}},
      {{2, 0, 3}, {1, 3}, {2, 1, 1}},
      {{1, 1}, {7, 1}, {1, 9}},
      {{}, {2, 3}, {3}},
  };
  const Layout layouts[] = {Layout::Contiguous, Layout::Transposed, Layout::Strided,
                            Layout::Expanded};
  std::mt19937 rng(2024);
  int round = 0;
  for (const Case& cs : cases) {
    for (int rot = 0; rot < 4; ++rot, ++round) {
      Layout la = layouts[rot % 4], lb = layouts[(rot + 1) % 4], lc = layouts[(rot + 2) % 4];
      INFO("case a" << shape_str(cs.a) << " b" << shape_str(cs.b) << " c" << shape_str(cs.c)
                    << " layouts " << layout_name(la) << "/" << layout_name(lb) << "/"
                    << layout_name(lc));
      Operand A = make_operand(cs.a, la, rng), B = make_operand(cs.b, lb, rng),
              C = make_operand(cs.c, lc, rng);
      REQUIRE(A.t.to_vector<double>() == A.values);  // the layout helper itself
      REQUIRE(B.t.to_vector<double>() == B.values);
      REQUIRE(C.t.to_vector<double>() == C.values);
      xt::xarray<double> xa = to_xt(A.values, A.shape), xb = to_xt(B.values, B.shape),
                         xc = to_xt(C.values, C.shape);

      {
        INFO("a + b * c");
        xt::xarray<double> ref = xa + xb * xc;
        require_matches(A.t + B.t * C.t, ref);
      }
      {
        INFO("a - b / (c * c + 1)");
        xt::xarray<double> ref = xa - xb / (xc * xc + 1.0);
        require_matches(A.t - B.t / (C.t * C.t + 1.0), ref);
      }
      {
        INFO("maximum(a, b) - minimum(b, c)");
        xt::xarray<double> ref = xt::maximum(xa, xb) - xt::minimum(xb, xc);
        require_matches(maximum(A.t, B.t) - minimum(B.t, C.t), ref);
      }
      {
        INFO("where(a > b, a, c)");
        xt::xarray<double> ref = xt::where(xa > xb, xa, xc);
        require_matches(where(A.t > B.t, A.t, C.t), ref);
      }

      // Reductions of the broadcast result, over each axis and over the first and last.
      Tensor r = A.t * B.t + C.t;
      xt::xarray<double> xr = xa * xb + xc;
      const int64_t rank = r.dim();
      for (int64_t ax = 0; ax < rank; ++ax) {
        INFO("reductions over axis " << ax);
        std::vector<std::size_t> axes{static_cast<std::size_t>(ax)};
        require_matches(r.sum(ax), oracle(xt_sum, xr, axes));
        require_matches(r.sum(ax - rank), oracle(xt_sum, xr, axes));
        if (xr.shape()[ax] > 0) {
          require_matches(r.mean(ax), oracle(xt_mean, xr, axes));
          bool any_empty = false;
          for (std::size_t d = 0; d < xr.dimension(); ++d) any_empty |= xr.shape()[d] == 0;
          if (!any_empty) {
            require_matches(r.max(ax), xt::xarray<double>(xt::amax(xr, axes)));
            require_matches(r.min(ax), xt::xarray<double>(xt::amin(xr, axes)));
          }
        }
      }
      if (rank >= 2) {
        INFO("sum over axes {0, -1}");
        std::vector<std::size_t> axes{0, static_cast<std::size_t>(rank - 1)};
        require_matches(r.sum({0, -1}), oracle(xt_sum, xr, axes));
        Tensor kd = r.sum({0, -1}, true);
        Shape expect = r.shape();
        expect[0] = 1;
        expect[rank - 1] = 1;
        CHECK(kd.shape() == expect);
      }
    }
  }
  CHECK(round == 40);
}

// --- neural-network functions ---------------------------------------------------------------

TEST_CASE("broadcast: softmax and log_softmax rows sum to one", "[broadcast]") {
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0.0, 3.0);
  std::vector<double> v(4 * 5);
  for (double& x : v) x = nd(rng);
  Tensor x = tensor(v, {4, 5});

  Tensor s = softmax(x, -1);
  CHECK(s.shape() == Shape{4, 5});
  std::vector<double> ref(v.size());
  for (int i = 0; i < 4; ++i) {
    double mx = -1e300, z = 0;
    for (int j = 0; j < 5; ++j) mx = std::max(mx, v[i * 5 + j]);
    for (int j = 0; j < 5; ++j) z += std::exp(v[i * 5 + j] - mx);
    for (int j = 0; j < 5; ++j) ref[i * 5 + j] = std::exp(v[i * 5 + j] - mx) / z;
  }
  require_values(s, ref, 1e-14);
  require_values(s.sum(1), {1, 1, 1, 1}, 1e-14);
  require_values(x.softmax(1), ref, 1e-14);

  Tensor ls = log_softmax(x);
  std::vector<double> lref(ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) lref[i] = std::log(ref[i]);
  require_values(ls, lref, 1e-13);
  require_values(exp(ls).sum(-1), {1, 1, 1, 1}, 1e-14);

  // Along dim 0, and of a transposed view.
  require_values(softmax(x, 0).sum(0), {1, 1, 1, 1, 1}, 1e-14);
  Tensor st = softmax(x.transpose(0, 1), 0);  // = softmax(x, 1) transposed
  require_values(st.transpose(0, 1), ref, 1e-14);

  // Float32 too.
  Tensor s32 = softmax(x.to(Float32));
  CHECK(s32.dtype() == Float32);
  require_values(s32, ref, 1e-6);
}

TEST_CASE("broadcast: softmax and cross_entropy stay finite for logits of 1e4", "[broadcast]") {
  for (DType dt : {Float32, Float64}) {
    INFO(dtype_name(dt));
    Tensor logits = tensor({1e4, 0.0, -1e4}, {1, 3}).to(dt);
    require_values(softmax(logits), {1, 0, 0});
    require_values(log_softmax(logits), {0, -1e4, -2e4}, 1e-7);

    Tensor l0 = cross_entropy(logits, tensor({0}));
    CHECK(l0.shape() == Shape{});
    CHECK(l0.dtype() == dt);
    CHECK(std::isfinite(l0.item<double>()));
    CHECK(std::abs(l0.item<double>()) < 1e-6);

    Tensor l1 = cross_entropy(logits, tensor({1}));
    CHECK(std::abs(l1.item<double>() - 1e4) < 1e-6 * 1e4);
    Tensor l2 = cross_entropy(logits, tensor({2}));
    CHECK(std::abs(l2.item<double>() - 2e4) < 1e-6 * 2e4);

    Tensor neg = tensor({-1e4, -1e4, -1e4}, {1, 3}).to(dt);
    CHECK(std::abs(cross_entropy(neg, tensor({2})).item<double>() - std::log(3.0)) < 1e-6);
    require_values(softmax(neg), {1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-6);
  }
}

TEST_CASE("broadcast: cross_entropy matches a hand computation", "[broadcast]") {
  // Row 0: [1,2,3], target 1; row 1: [1,0,-1], target 2.
  // logsumexp row0 = 3 + log(1 + e^-1 + e^-2); row1 = 1 + log(1 + e^-1 + e^-2).
  const double l = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  const double expected = ((3 + l - 2) + (1 + l + 1)) / 2;  // 1.9076059644...
  CHECK(std::abs(expected - 1.9076059644443806) < 1e-12);
  Tensor logits = tensor({1.0, 2.0, 3.0, 1.0, 0.0, -1.0}, {2, 3});
  Tensor loss = cross_entropy(logits, tensor({1, 2}));
  CHECK(loss.shape() == Shape{});
  CHECK(std::abs(loss.item<double>() - expected) < 1e-12);

  Tensor loss32 = cross_entropy(logits.to(Float32), tensor({1, 2}));
  CHECK(loss32.dtype() == Float32);
  CHECK(std::abs(loss32.item<double>() - expected) < 1e-5);

  // Equal to -mean(log_softmax picked at the targets).
  Tensor picked = (log_softmax(logits) * one_hot(tensor({1, 2}), 3).to(Float64)).sum(1);
  CHECK(std::abs(-picked.mean().item<double>() - expected) < 1e-12);

  // mse_loss by hand: ((1-0)^2 + (2-4)^2 + (3-3)^2) / 3
  CHECK(std::abs(mse_loss(tensor({1.0, 2.0, 3.0}), tensor({0.0, 4.0, 3.0})).item<double>() -
                 5.0 / 3) < 1e-15);
  // Target broadcasts to the input.
  CHECK(std::abs(mse_loss(tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}), tensor({1.0, 1.0})).item<double>() -
                 (0 + 1 + 4 + 9) / 4.0) < 1e-15);
}

TEST_CASE("broadcast: one_hot", "[broadcast]") {
  Tensor oh = one_hot(tensor({0, 2, 1}), 3);
  CHECK(oh.dtype() == Int64);
  CHECK(oh.shape() == Shape{3, 3});
  CHECK(i64(oh) == std::vector<int64_t>{1, 0, 0, 0, 0, 1, 0, 1, 0});
  Tensor oh2 = one_hot(tensor({3, 0, 1, 1}, {2, 2}), 4);
  CHECK(oh2.shape() == Shape{2, 2, 4});
  CHECK(i64(oh2) ==
        std::vector<int64_t>{0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0});
}

// --- joins and gathers ----------------------------------------------------------------------

TEST_CASE("broadcast: concat and stack", "[broadcast]") {
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  Tensor b = tensor({7.0, 8.0, 9.0}, {1, 3});
  Tensor c0 = concat({a, b}, 0);
  CHECK(c0.shape() == Shape{3, 3});
  require_values(c0, {1, 2, 3, 4, 5, 6, 7, 8, 9});

  Tensor d = tensor({10.0, 20.0}, {2, 1});
  Tensor c1 = concat({a, d, d}, 1);
  CHECK(c1.shape() == Shape{2, 5});
  require_values(c1, {1, 2, 3, 10, 10, 4, 5, 6, 20, 20});
  CHECK(concat({a, d}, -1).shape() == Shape{2, 4});

  // A transposed input.
  Tensor c2 = concat({a.transpose(0, 1), tensor({0.0, 0.0}, {1, 2})}, 0);
  CHECK(c2.shape() == Shape{4, 2});
  require_values(c2, {1, 4, 2, 5, 3, 6, 0, 0});

  Tensor e = tensor({-1.0, -2.0, -3.0, -4.0, -5.0, -6.0}, {2, 3});
  Tensor s0 = stack({a, e}, 0);
  CHECK(s0.shape() == Shape{2, 2, 3});
  require_values(s0, {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6});
  Tensor s1 = stack({a, e}, 1);
  CHECK(s1.shape() == Shape{2, 2, 3});
  require_values(s1, {1, 2, 3, -1, -2, -3, 4, 5, 6, -4, -5, -6});
  Tensor s2 = stack({a, e}, -1);
  CHECK(s2.shape() == Shape{2, 3, 2});
  require_values(s2, {1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6});

  Tensor sv = stack({scalar_tensor(1.0), scalar_tensor(2.0)});
  CHECK(sv.shape() == Shape{2});
  require_values(sv, {1, 2});
}

TEST_CASE("broadcast: index_select", "[broadcast]") {
  Tensor x = arange(12, {.dtype = Float64}).reshape({3, 4});
  Tensor r = x.index_select(0, tensor({2, 0, 2}));
  CHECK(r.shape() == Shape{3, 4});
  require_values(r, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  CHECK_FALSE(r.shares_storage_with(x));
  Tensor c = index_select(x, 1, tensor({3, 1}));
  CHECK(c.shape() == Shape{3, 2});
  require_values(c, {3, 1, 7, 5, 11, 9});
  require_values(x.index_select(-1, tensor({0})), {0, 4, 8});
  // Of a transposed view.
  Tensor t = x.transpose(0, 1).index_select(0, tensor({1}));
  CHECK(t.shape() == Shape{1, 3});
  require_values(t, {1, 5, 9});
  CHECK(x.index_select(0, zeros({0}, {.dtype = Int64})).shape() == Shape{0, 4});
}

// --- matmul ------------------------------------------------------------------------------------

TEST_CASE("broadcast: matmul of vectors and matrices by hand", "[broadcast]") {
  Tensor m = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  Tensor v3 = tensor({1.0, 0.0, -1.0});
  Tensor mv = matmul(m, v3);
  CHECK(mv.shape() == Shape{2});
  require_values(mv, {-2, -2});

  Tensor v2 = tensor({1.0, 2.0});
  Tensor vm = matmul(v2, m);
  CHECK(vm.shape() == Shape{3});
  require_values(vm, {9, 12, 15});

  Tensor vv = matmul(v3, tensor({4.0, 5.0, 6.0}));
  CHECK(vv.shape() == Shape{});
  CHECK(vv.item<double>() == -2.0);

  Tensor mm = m.matmul(m.transpose(0, 1));
  CHECK(mm.shape() == Shape{2, 2});
  require_values(mm, {14, 32, 32, 77});

  Tensor f = matmul(m.to(Float32), m.t().to(Float32));
  CHECK(f.dtype() == Float32);
  require_values(f, {14, 32, 32, 77});
}

TEST_CASE("broadcast: matmul matches a naive triple loop", "[broadcast]") {
  struct Case {
    Shape a, b;
    Layout la, lb;
  };
  const Case cases[] = {
      {{3}, {3, 4}, Layout::Contiguous, Layout::Contiguous},
      {{3}, {3, 4}, Layout::Strided, Layout::Transposed},
      {{2, 3}, {3}, Layout::Transposed, Layout::Strided},
      {{5}, {5}, Layout::Contiguous, Layout::Strided},
      {{4, 3}, {3, 5}, Layout::Contiguous, Layout::Contiguous},
      {{4, 3}, {3, 5}, Layout::Transposed, Layout::Transposed},
      {{4, 3}, {3, 5}, Layout::Strided, Layout::Transposed},
      {{2, 4, 3}, {3, 5}, Layout::Contiguous, Layout::Transposed},
      {{2, 4, 3}, {2, 3, 5}, Layout::Transposed, Layout::Contiguous},
      {{2, 1, 4, 3}, {3, 3, 2}, Layout::Contiguous, Layout::Contiguous},
      {{2, 1, 4, 3}, {3, 3, 2}, Layout::Transposed, Layout::Strided},
      {{3, 4, 3}, {2, 1, 3, 2}, Layout::Expanded, Layout::Transposed},
      {{3}, {2, 3, 4}, Layout::Contiguous, Layout::Transposed},
      {{2, 4, 3}, {3}, Layout::Transposed, Layout::Contiguous},
      {{1, 7}, {7, 1}, Layout::Contiguous, Layout::Contiguous},
      {{2, 0}, {0, 3}, Layout::Contiguous, Layout::Contiguous},
      {{0, 3}, {3, 2}, Layout::Contiguous, Layout::Contiguous},
      {{16, 33}, {33, 17}, Layout::Transposed, Layout::Strided},
  };
  std::mt19937 rng(99);
  for (const Case& cs : cases) {
    INFO("matmul " << shape_str(cs.a) << " (" << layout_name(cs.la) << ") x " << shape_str(cs.b)
                   << " (" << layout_name(cs.lb) << ")");
    Operand A = make_operand(cs.a, cs.la, rng), B = make_operand(cs.b, cs.lb, rng);
    REQUIRE(A.t.to_vector<double>() == A.values);
    REQUIRE(B.t.to_vector<double>() == B.values);
    Dense ref = naive_matmul({A.values, A.shape}, {B.values, B.shape});
    Tensor got = matmul(A.t, B.t);
    CHECK(got.dtype() == Float64);
    REQUIRE(got.shape() == ref.s);
    require_values(got, ref.v, 1e-12);

    Tensor got32 = matmul(A.t.to(Float32), B.t.to(Float32));
    CHECK(got32.dtype() == Float32);
    REQUIRE(got32.shape() == ref.s);
    require_values(got32, ref.v, 1e-4);
  }
}
