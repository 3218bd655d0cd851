// SPDX-License-Identifier: MIT
// Tensor value type: creation, random factories, views, values, conversions, in-place writes,
// printing and large elementwise work. Expected values are hand-computed or come from plain
// loops in this file, never from tapeflow itself.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include "../helpers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace tapeflow;
using tapeflow::test::require_values;

namespace {

std::vector<double> f64(const Tensor& t) { return t.to_vector<double>(); }
std::vector<int64_t> i64(const Tensor& t) { return t.to_vector<int64_t>(); }


double mean_of(const std::vector<double>& v) {
  long double s = 0;
  for (double x : v) s += x;
  return static_cast<double>(s / v.size());
}

double std_of(const std::vector<double>& v) {
  double m = mean_of(v);
  long double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(static_cast<double>(s / v.size()));
}

}  // namespace

// --- creation --------------------------------------------------------------------------

TEST_CASE("tensor: tensor() infers dtype from the initializer list", "[tensor]") {
  Tensor f = tensor({1.f, 2.f, 3.f});
  CHECK(f.dtype() == Float32);
  CHECK(f.shape() == Shape{3});
  CHECK(f.dim() == 1);
  CHECK(f.numel() == 3);
  CHECK(f.device() == Device::cpu());
  CHECK(f.to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f});

  Tensor d = tensor({1.5, -2.25});
  CHECK(d.dtype() == Float64);
  CHECK(d.to_vector<double>() == std::vector<double>{1.5, -2.25});

  Tensor i = tensor({4, -5, 6});
  CHECK(i.dtype() == Int64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{4, -5, 6});

  Tensor l = tensor({int64_t{1} << 40, int64_t{-3}});
  CHECK(l.dtype() == Int64);
  CHECK(l.to_vector<int64_t>() == std::vector<int64_t>{int64_t{1} << 40, -3});

  Tensor b = tensor({true, false, true});
  CHECK(b.dtype() == Bool);
  CHECK(b.to_vector<bool>() == std::vector<bool>{true, false, true});

  Tensor fv = tensor(std::vector<float>{0.5f, 0.25f});
  CHECK(fv.dtype() == Float32);
  CHECK(fv.shape() == Shape{2});
  Tensor dv = tensor(std::vector<double>{0.5, 0.25, 0.125});
  CHECK(dv.dtype() == Float64);
  CHECK(dv.shape() == Shape{3});
  Tensor iv = tensor(std::vector<int64_t>{7, 8});
  CHECK(iv.dtype() == Int64);
  CHECK(iv.to_vector<int64_t>() == std::vector<int64_t>{7, 8});
}

TEST_CASE("tensor: empty tensors are contiguous whatever the position of the zero", "[tensor]") {
  for (const Shape& shape : {Shape{0}, Shape{2, 0}, Shape{2, 0, 4}, Shape{0, 3}}) {
    INFO(shape_str(shape));
    CHECK(zeros(shape).is_contiguous());
    CHECK(zeros(shape).contiguous().numel() == 0);
  }
}

TEST_CASE("tensor: tensor() with a shape lays values out row-major", "[tensor]") {
  Tensor f = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.dtype() == Float32);
  CHECK(f.size(0) == 2);
  CHECK(f.size(1) == 3);
  CHECK(f.size(-1) == 3);
  CHECK(f.strides() == Shape{3, 1});
  CHECK(f.is_contiguous());
  CHECK(f.slice(0, 1, 2).squeeze(0).to_vector<float>() == std::vector<float>{4.f, 5.f, 6.f});

  Tensor d = tensor({1.0, 2.0, 3.0, 4.0}, {2, 1, 2});
  CHECK(d.shape() == Shape{2, 1, 2});
  CHECK(d.dtype() == Float64);

  Tensor i = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(i.shape() == Shape{3, 2});
  CHECK(i.dtype() == Int64);

  Tensor l = tensor({int64_t{1}, int64_t{2}}, {2, 1});
  CHECK(l.shape() == Shape{2, 1});

  Tensor b = tensor({true, false, false, true}, {2, 2});
  CHECK(b.shape() == Shape{2, 2});
  CHECK(b.dtype() == Bool);

  Tensor v = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.shape() == Shape{3, 2});
}

TEST_CASE("tensor: tensor() with a wrong value count for the shape throws ShapeError", "[tensor]") {
  CHECK_THROWS_AS(tensor({1.f, 2.f, 3.f}, {2, 2}), ShapeError);
  CHECK_THROWS_AS(tensor({1.0, 2.0, 3.0, 4.0, 5.0}, {2, 2}), ShapeError);
  CHECK_THROWS_AS(tensor({1, 2, 3}, {4}), ShapeError);
  CHECK_THROWS_AS(tensor({int64_t{1}, int64_t{2}}, {1, 3}), ShapeError);
  CHECK_THROWS_AS(tensor({true, false}, {3}), ShapeError);
  CHECK_THROWS_AS(tensor(std::vector<float>{1.f, 2.f}, {3, 1}), ShapeError);
}

TEST_CASE("tensor: zeros, ones, full, eye", "[tensor]") {
  Tensor z = zeros({2, 3});
  CHECK(z.dtype() == Float32);
  CHECK(z.shape() == Shape{2, 3});
  require_values(z, {0, 0, 0, 0, 0, 0});

  Tensor o = ones({4}, {.dtype = Float64});
  CHECK(o.dtype() == Float64);
  require_values(o, {1, 1, 1, 1});

  Tensor oi = ones({2}, {.dtype = Int64});
  CHECK(oi.dtype() == Int64);
  CHECK(i64(oi) == std::vector<int64_t>{1, 1});

  Tensor fl = full({2, 2}, 2.5);
  CHECK(fl.dtype() == Float32);
  require_values(fl, {2.5, 2.5, 2.5, 2.5});

  Tensor fb = full({3}, 1.0, {.dtype = Bool});
  CHECK(fb.dtype() == Bool);
  CHECK(fb.to_vector<bool>() == std::vector<bool>{true, true, true});

  Tensor e = eye(3);
  CHECK(e.shape() == Shape{3, 3});
  CHECK(e.dtype() == Float32);
  require_values(e, {1, 0, 0, 0, 1, 0, 0, 0, 1});

  Tensor e23 = eye(2, 3, {.dtype = Float64});
  CHECK(e23.shape() == Shape{2, 3});
  CHECK(e23.dtype() == Float64);
  require_values(e23, {1, 0, 0, 0, 1, 0});

  Tensor e32 = eye(3, 2);
  CHECK(e32.shape() == Shape{3, 2});
  require_values(e32, {1, 0, 0, 1, 0, 0});

  Tensor s = zeros({});
  CHECK(s.shape() == Shape{});
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);

  Tensor empty0 = zeros({0, 4});
  CHECK(empty0.numel() == 0);
  CHECK(empty0.shape() == Shape{0, 4});
  CHECK(empty0.to_vector<float>().empty());
}

TEST_CASE("tensor: arange and linspace", "[tensor]") {
  Tensor a = arange(5);
  CHECK(a.dtype() == Float32);
  CHECK(a.shape() == Shape{5});
  require_values(a, {0, 1, 2, 3, 4});

  Tensor b = arange(2, 8, 2);
  CHECK(b.shape() == Shape{3});
  require_values(b, {2, 4, 6});

  Tensor c = arange(1, 2, 0.25);
  require_values(c, {1, 1.25, 1.5, 1.75});

  Tensor d = arange(5, 0, -2);
  require_values(d, {5, 3, 1});

  Tensor i = arange(4, {.dtype = Int64});
  CHECK(i.dtype() == Int64);
  CHECK(i64(i) == std::vector<int64_t>{0, 1, 2, 3});

  Tensor j = arange(3, 9, 3, {.dtype = Int64});
  CHECK(j.dtype() == Int64);
  CHECK(i64(j) == std::vector<int64_t>{3, 6});

  Tensor k = arange(0, 3, 1, {.dtype = Float64});
  CHECK(k.dtype() == Float64);
  require_values(k, {0, 1, 2});

  Tensor l = linspace(0, 1, 5);
  CHECK(l.dtype() == Float32);
  CHECK(l.shape() == Shape{5});
  require_values(l, {0, 0.25, 0.5, 0.75, 1.0}, 1e-7);

  Tensor m = linspace(-1, 1, 3, {.dtype = Float64});
  CHECK(m.dtype() == Float64);
  require_values(m, {-1, 0, 1}, 1e-15);

  Tensor one = linspace(3, 7, 1);
  CHECK(one.shape() == Shape{1});
  require_values(one, {3});
}

TEST_CASE("tensor: zeros_like and ones_like keep shape and dtype", "[tensor]") {
  Tensor src = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {3, 2});
  Tensor z = zeros_like(src);
  CHECK(z.shape() == Shape{3, 2});
  CHECK(z.dtype() == Float64);
  require_values(z, {0, 0, 0, 0, 0, 0});
  CHECK_FALSE(z.shares_storage_with(src));

  Tensor o = ones_like(tensor({1, 2, 3}));
  CHECK(o.dtype() == Int64);
  CHECK(i64(o) == std::vector<int64_t>{1, 1, 1});

  Tensor of = ones_like(src, {.dtype = Float32});
  CHECK(of.dtype() == Float32);
  CHECK(of.shape() == Shape{3, 2});

  // Of a non-contiguous source: the values are fresh, the shape is the view's.
  Tensor zt = zeros_like(src.transpose(0, 1));
  CHECK(zt.shape() == Shape{2, 3});
  require_values(zt, {0, 0, 0, 0, 0, 0});

  Tensor fl = full_like(src, -1.5);
  CHECK(fl.dtype() == Float64);
  require_values(fl, {-1.5, -1.5, -1.5, -1.5, -1.5, -1.5});
}

TEST_CASE("tensor: Options set dtype and requires_grad", "[tensor]") {
  Tensor a = zeros({2, 3}, {.dtype = Float64, .requires_grad = true});
  CHECK(a.dtype() == Float64);
  CHECK(a.requires_grad());
  CHECK(a.is_leaf());
  CHECK_FALSE(a.grad().defined());

  Tensor b = ones({2});
  CHECK_FALSE(b.requires_grad());

  // Options.dtype converts the listed values.
  Tensor c = tensor({1.f, 2.5f}, {}, {.dtype = Float64});
  CHECK(c.dtype() == Float64);
  require_values(c, {1.0, 2.5});

  Tensor d = tensor({1, 2, 3}, {3}, {.dtype = Float32});
  CHECK(d.dtype() == Float32);
  require_values(d, {1, 2, 3});

  Tensor e = tensor({1.0, 2.0}, {2}, {.dtype = std::nullopt, .requires_grad = true});
  CHECK(e.dtype() == Float64);
  CHECK(e.requires_grad());

  Tensor r = randn({3}, {.dtype = Float64, .requires_grad = true});
  CHECK(r.dtype() == Float64);
  CHECK(r.requires_grad());

  Tensor s = scalar_tensor(2.5);
  CHECK(s.dtype() == Float32);
  CHECK(s.shape() == Shape{});
  Tensor s64 = scalar_tensor(2.5, {.dtype = Float64});
  CHECK(s64.dtype() == Float64);
  CHECK(s64.item<double>() == 2.5);

  Tensor undefined;
  CHECK_FALSE(undefined.defined());
  CHECK(a.defined());
}

TEST_CASE("tensor: from_blob copies host memory", "[tensor]") {
  std::vector<double> src{1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(src.data(), {2, 3}, Float64);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dtype() == Float64);
  src[0] = 100;  // a copy: later changes to the source do not show
  require_values(t, {1, 2, 3, 4, 5, 6});
}

// --- random -------------------------------------------------------------------------------

TEST_CASE("tensor: random factories repeat after the same manual_seed", "[tensor]") {
  struct Factory {
    const char* name;
    Tensor (*make)();
  };
  const Factory factories[] = {
      {"rand", [] { return rand({257}); }},
      {"randn", [] { return randn({257}); }},
      {"uniform", [] { return uniform({257}, -3, 5); }},
      {"normal", [] { return normal({257}, 2, 3); }},
      {"truncated_normal", [] { return truncated_normal({257}, 0, 1); }},
      {"randint", [] { return randint(0, 1000000, {257}); }},
      {"randn f64", [] { return randn({257}, {.dtype = Float64}); }},
  };
  for (const auto& f : factories) {
    INFO(f.name);
    manual_seed(1234);
    std::vector<double> first = f64(f.make());
    std::vector<double> second_draw = f64(f.make());  // the generator moves on
    manual_seed(1234);
    std::vector<double> again = f64(f.make());
    manual_seed(4321);
    std::vector<double> other = f64(f.make());
    CHECK(first == again);
    CHECK(first != other);
    CHECK(first != second_draw);
  }
}

TEST_CASE("tensor: set_rng_state resumes the generator where get_rng_state left it", "[tensor]") {
  manual_seed(99);
  (void)rand({3});
  const std::string state = get_rng_state();
  const std::vector<double> next = f64(randn({100}));
  (void)rand({17});  // move on, then go back
  set_rng_state(state);
  CHECK(f64(randn({100})) == next);
  CHECK(get_rng_state() != state);

  // A malformed state is refused and leaves the generator as it was.
  set_rng_state(state);
  const std::string truncated = state.substr(0, state.size() / 2);
  for (const std::string& bad : {std::string(), std::string("12 x"), truncated, state + " 7"}) {
    INFO(bad.size());
    CHECK_THROWS_AS(set_rng_state(bad), ValueError);
    CHECK_THROWS_WITH(set_rng_state(bad), Catch::Contains("set_rng_state: the state is not one get_rng_state returned"));
  }
  CHECK(f64(randn({100})) == next);
}

TEST_CASE("tensor: rand and uniform stay in range", "[tensor]") {
  manual_seed(7);
  Tensor r = rand({20000});
  CHECK(r.dtype() == Float32);
  CHECK(r.shape() == Shape{20000});
  std::vector<double> rv = f64(r);
  CHECK(*std::min_element(rv.begin(), rv.end()) >= 0.0);
  CHECK(*std::max_element(rv.begin(), rv.end()) < 1.0);
  CHECK(std::abs(mean_of(rv) - 0.5) < 0.02);

  Tensor u = uniform({20000}, -2, 3, {.dtype = Float64});
  CHECK(u.dtype() == Float64);
  std::vector<double> uv = f64(u);
  CHECK(*std::min_element(uv.begin(), uv.end()) >= -2.0);
  CHECK(*std::max_element(uv.begin(), uv.end()) < 3.0);
  CHECK(*std::min_element(uv.begin(), uv.end()) < -1.9);
  CHECK(*std::max_element(uv.begin(), uv.end()) > 2.9);
  CHECK(std::abs(mean_of(uv) - 0.5) < 0.05);
  // Uniform on [a, b) has std (b - a) / sqrt(12).
  CHECK(std::abs(std_of(uv) - 5.0 / std::sqrt(12.0)) < 0.05);

  Tensor ri = randint(-3, 4, {10000});
  CHECK(ri.dtype() == Int64);
  std::vector<int64_t> iv = i64(ri);
  std::set<int64_t> seen(iv.begin(), iv.end());
  CHECK(seen == std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3});
}

TEST_CASE("tensor: randn and normal have the right moments", "[tensor]") {
  manual_seed(42);
  Tensor z = randn({100000});
  CHECK(z.dtype() == Float32);
  std::vector<double> zv = f64(z);
  CHECK(std::abs(mean_of(zv)) < 0.02);
  CHECK(std::abs(std_of(zv) - 1.0) < 0.02);
  // A normal sample of 100k has values beyond 3 sigma (about 270 of them).
  std::size_t beyond3 = std::count_if(zv.begin(), zv.end(), [](double x) { return std::abs(x) > 3; });
  CHECK(beyond3 > 100);
  CHECK(beyond3 < 500);

  Tensor n = normal({100000}, 5.0, 2.0, {.dtype = Float64});
  CHECK(n.dtype() == Float64);
  std::vector<double> nv = f64(n);
  CHECK(std::abs(mean_of(nv) - 5.0) < 0.04);
  CHECK(std::abs(std_of(nv) - 2.0) < 0.04);
}

TEST_CASE("tensor: truncated_normal never goes beyond 2 standard deviations", "[tensor]") {
  manual_seed(3);
  Tensor t = truncated_normal({100000}, 1.0, 0.5);
  std::vector<double> v = f64(t);
  CHECK(*std::min_element(v.begin(), v.end()) >= 0.0);
  CHECK(*std::max_element(v.begin(), v.end()) <= 2.0);
  CHECK(std::abs(mean_of(v) - 1.0) < 0.02);
  // Redrawn, not clamped: a normal truncated at +-2 sigma has std 0.8796 sigma, and no pile-up
  // of values on the bounds (clamping would put ~4.6% of them there).
  CHECK(std::abs(std_of(v) - 0.8796 * 0.5) < 0.02);
  std::size_t near_bounds =
      std::count_if(v.begin(), v.end(), [](double x) { return x < 0.001 || x > 1.999; });
  CHECK(near_bounds < 200);
}

// --- views -------------------------------------------------------------------------------

TEST_CASE("tensor: reshape and view of a contiguous tensor share storage", "[tensor]") {
  Tensor base = arange(6, {.dtype = Float64});
  Tensor r = base.reshape({2, 3});
  CHECK(r.shape() == Shape{2, 3});
  CHECK(r.strides() == Shape{3, 1});
  CHECK(r.shares_storage_with(base));
  require_values(r, {0, 1, 2, 3, 4, 5});

  Tensor v = r.view({3, 2});
  CHECK(v.shape() == Shape{3, 2});
  CHECK(v.strides() == Shape{2, 1});
  CHECK(v.shares_storage_with(base));

  Tensor inferred = base.reshape({-1, 2});
  CHECK(inferred.shape() == Shape{3, 2});
  CHECK(inferred.shares_storage_with(base));
  CHECK(base.view({2, -1}).shape() == Shape{2, 3});

  Tensor flat = r.flatten();
  CHECK(flat.shape() == Shape{6});
  CHECK(flat.shares_storage_with(base));

  Tensor free_fn = reshape(base, {1, 6});
  CHECK(free_fn.shape() == Shape{1, 6});
  CHECK(free_fn.shares_storage_with(base));
  CHECK(view(base, {6, 1}).shares_storage_with(base));
}

TEST_CASE("tensor: transpose and permute are stride views", "[tensor]") {
  Tensor base = arange(6, {.dtype = Float64}).reshape({2, 3});
  Tensor t = base.transpose(0, 1);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.strides() == Shape{1, 3});
  CHECK(t.offset() == 0);
  CHECK(t.shares_storage_with(base));
  CHECK_FALSE(t.is_contiguous());
  require_values(t, {0, 3, 1, 4, 2, 5});

  CHECK(base.t().strides() == Shape{1, 3});
  CHECK(base.transpose(-1, -2).shape() == Shape{3, 2});

  Tensor cube = arange(24, {.dtype = Float64}).reshape({2, 3, 4});
  Tensor p = cube.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK(p.shares_storage_with(cube));
  // p[k][i][j] = cube[i][j][k] = 12 i + 4 j + k
  std::vector<double> expected;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) expected.push_back(12 * i + 4 * j + k);
  require_values(p, expected);
}

TEST_CASE("tensor: slice is a view with an offset", "[tensor]") {
  Tensor base = arange(6, {.dtype = Float64}).reshape({2, 3});
  Tensor s = base.slice(1, 1, 3);
  CHECK(s.shape() == Shape{2, 2});
  CHECK(s.strides() == Shape{3, 1});
  CHECK(s.offset() == 1);
  CHECK(s.shares_storage_with(base));
  require_values(s, {1, 2, 4, 5});

  Tensor row = base.slice(0, 1, 2);
  CHECK(row.offset() == 3);
  require_values(row, {3, 4, 5});

  Tensor stepped = base.slice(1, 0, 3, 2);
  CHECK(stepped.shape() == Shape{2, 2});
  CHECK(stepped.strides() == Shape{3, 2});
  require_values(stepped, {0, 2, 3, 5});

  // Python slice rules: a negative start counts from the end, an end past the size is clipped.
  require_values(base.slice(1, -2, 100), {1, 2, 4, 5});
  CHECK(base.slice(1, 2, 2).shape() == Shape{2, 0});

  // A slice of a slice accumulates the offset.
  Tensor ss = base.slice(1, 1, 3).slice(0, 1, 2);
  CHECK(ss.offset() == 4);
  require_values(ss, {4, 5});
  require_values(slice(base, 0, 0, 1), {0, 1, 2});
}

TEST_CASE("tensor: squeeze, unsqueeze and expand are views", "[tensor]") {
  Tensor z = arange(3, {.dtype = Float64}).reshape({1, 3, 1});
  Tensor sq = z.squeeze();
  CHECK(sq.shape() == Shape{3});
  CHECK(sq.shares_storage_with(z));
  CHECK(z.squeeze(0).shape() == Shape{3, 1});
  CHECK(z.squeeze(-1).shape() == Shape{1, 3});
  CHECK(z.squeeze(0).shares_storage_with(z));
  CHECK(squeeze(z).shape() == Shape{3});

  Tensor u = sq.unsqueeze(0);
  CHECK(u.shape() == Shape{1, 3});
  CHECK(u.shares_storage_with(z));
  CHECK(sq.unsqueeze(1).shape() == Shape{3, 1});
  CHECK(sq.unsqueeze(-1).shape() == Shape{3, 1});
  CHECK(unsqueeze(sq, 0).shape() == Shape{1, 3});

  Tensor col = tensor({1.0, 2.0, 3.0}, {3, 1});
  Tensor e = col.expand({3, 4});
  CHECK(e.shape() == Shape{3, 4});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(e.shares_storage_with(col));
  require_values(e, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  CHECK(col.expand({-1, 2}).shape() == Shape{3, 2});

  Tensor row = tensor({1.0, 2.0, 3.0});
  Tensor e2 = row.expand({2, 3});
  CHECK(e2.strides() == Shape{0, 1});
  CHECK(e2.shares_storage_with(row));
  require_values(e2, {1, 2, 3, 1, 2, 3});
}

TEST_CASE("tensor: writes through a view show in the base", "[tensor]") {
  Tensor base = zeros({2, 3}, {.dtype = Float64});
  uint32_t v0 = base.version();
  base.slice(1, 1, 3).fill_(5);
  require_values(base, {0, 5, 5, 0, 5, 5});
  // The version counter is shared by every view of the storage.
  CHECK(base.version() == v0 + 1);

  Tensor col0 = base.transpose(0, 1).slice(0, 0, 1);
  col0.add_(1.0);
  require_values(base, {1, 5, 5, 1, 5, 5});
  CHECK(base.version() == v0 + 2);

  base.view({6}).slice(0, 0, 6, 2).mul_(10.0);  // elements 0, 2, 4
  require_values(base, {10, 5, 50, 1, 50, 5});

  Tensor b2 = zeros({2, 2}, {.dtype = Float64});
  b2.unsqueeze(0).squeeze(0).transpose(0, 1).copy_(tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}));
  require_values(b2, {1, 3, 2, 4});
}

TEST_CASE("tensor: reshape of a non-contiguous tensor copies only when needed", "[tensor]") {
  Tensor base = arange(6, {.dtype = Float64}).reshape({2, 3});
  Tensor t = base.transpose(0, 1);
  Tensor flat = t.reshape({6});
  CHECK(flat.shape() == Shape{6});
  CHECK_FALSE(flat.shares_storage_with(base));
  require_values(flat, {0, 3, 1, 4, 2, 5});
  CHECK_THROWS_AS(t.view({6}), ShapeError);

  // A column slice keeps rows apart, but splitting the rows dimension still fits in strides.
  Tensor wide = arange(24, {.dtype = Float64}).reshape({4, 6});
  Tensor s = wide.slice(1, 0, 3);  // [4,3], strides [6,1]
  CHECK_FALSE(s.is_contiguous());
  Tensor split = s.reshape({2, 2, 3});
  CHECK(split.shares_storage_with(wide));
  CHECK(split.strides() == Shape{12, 6, 1});
  require_values(split, {0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20});
  Tensor merged = s.reshape({12});
  CHECK_FALSE(merged.shares_storage_with(wide));
  require_values(merged, {0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20});

  // A copy really is a copy.
  flat.fill_(-1);
  require_values(base, {0, 1, 2, 3, 4, 5});
}

TEST_CASE("tensor: contiguous() copies only non-contiguous tensors", "[tensor]") {
  Tensor base = arange(6, {.dtype = Float64}).reshape({2, 3});
  Tensor same = base.contiguous();
  CHECK(same.shares_storage_with(base));
  CHECK(same.is_contiguous());

  Tensor t = base.transpose(0, 1);
  Tensor c = t.contiguous();
  CHECK_FALSE(c.shares_storage_with(base));
  CHECK(c.is_contiguous());
  CHECK(c.shape() == Shape{3, 2});
  CHECK(c.strides() == Shape{2, 1});
  require_values(c, {0, 3, 1, 4, 2, 5});

  Tensor s = base.slice(1, 1, 2);
  Tensor sc = s.contiguous();
  CHECK(sc.offset() == 0);
  require_values(sc, {1, 4});
}

TEST_CASE("tensor: clone does not share storage", "[tensor]") {
  Tensor a = tensor({1.0, 2.0, 3.0});
  Tensor b = a.clone();
  CHECK_FALSE(b.shares_storage_with(a));
  require_values(b, {1, 2, 3});
  b.fill_(9);
  require_values(a, {1, 2, 3});

  Tensor t = arange(6, {.dtype = Float64}).reshape({2, 3}).transpose(0, 1);
  Tensor tc = clone(t);
  CHECK(tc.shape() == Shape{3, 2});
  CHECK_FALSE(tc.shares_storage_with(t));
  require_values(tc, {0, 3, 1, 4, 2, 5});

  // Copies of the handle share (LibTorch semantics).
  Tensor h = a;
  CHECK(h.shares_storage_with(a));
}

// --- values and conversions -----------------------------------------------------------------

TEST_CASE("tensor: item returns the single value", "[tensor]") {
  CHECK(tensor({2.5f}).item<float>() == 2.5f);
  CHECK(tensor({2.5f}).item<double>() == 2.5);
  CHECK(tensor({-0.125}).item<double>() == -0.125);
  CHECK(tensor({int64_t{-7}}).item<int64_t>() == -7);
  CHECK(tensor({int64_t{1} << 53}).item<int64_t>() == (int64_t{1} << 53));
  CHECK(scalar_tensor(4.0).item<double>() == 4.0);
  CHECK(tensor({3.0}, {1, 1}).item<double>() == 3.0);
  CHECK(tensor({true}).item<int64_t>() == 1);
  // A view's item reads at the view's offset.
  CHECK(arange(5, {.dtype = Float64}).slice(0, 3, 4).item<double>() == 3.0);

  CHECK_THROWS_AS(tensor({1.f, 2.f}).item<float>(), ValueError);
  CHECK_THROWS_AS(zeros({0}).item<float>(), ValueError);
}

TEST_CASE("tensor: data_ptr points at element 0 of the view, typed and on the CPU only", "[tensor]") {
  Tensor base = arange(12, {.dtype = Float64}).reshape({3, 4});
  Tensor row = base.slice(0, 1, 2);
  CHECK(*row.data_ptr<double>() == 4.0);
  CHECK(row.data_ptr<double>() == base.data_ptr<double>() + 4);
  row.data_ptr<double>()[1] = -1.0;  // shared storage: the base sees it
  CHECK(base.to_vector<double>()[5] == -1.0);
  CHECK(*std::as_const(base).data_ptr<const double>() == 0.0);

  CHECK_THROWS_AS(base.data_ptr<float>(), DTypeError);
  CHECK_THROWS_WITH(base.data_ptr<float>(), "data_ptr: asked for float32 but the tensor is float64");
  CHECK_THROWS_AS(Tensor().data_ptr<float>(), ValueError);
}

TEST_CASE("tensor: DType and Device print their names", "[tensor]") {
  std::ostringstream os;
  os << Float32 << ' ' << Int64 << ' ' << Device::cpu() << ' ' << Device::cuda(1);
  CHECK(os.str() == "float32 int64 cpu cuda:1");
}

TEST_CASE("tensor: to_vector converts to each element type", "[tensor]") {
  Tensor f = tensor({1.5f, -2.0f, 0.0f});
  CHECK(f.to_vector<float>() == std::vector<float>{1.5f, -2.0f, 0.0f});
  CHECK(f.to_vector<double>() == std::vector<double>{1.5, -2.0, 0.0});

  Tensor i = tensor({3, -4, 0});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{3, -4, 0});
  CHECK(i.to_vector<int>() == std::vector<int>{3, -4, 0});
  CHECK(i.to_vector<double>() == std::vector<double>{3, -4, 0});
  CHECK(i.to_vector<bool>() == std::vector<bool>{true, true, false});

  Tensor b = tensor({false, true});
  CHECK(b.to_vector<bool>() == std::vector<bool>{false, true});
  CHECK(b.to_vector<int>() == std::vector<int>{0, 1});
  CHECK(b.to_vector<float>() == std::vector<float>{0.f, 1.f});

  Tensor d = tensor({0.1, 1e300});
  CHECK(d.to_vector<double>() == std::vector<double>{0.1, 1e300});
  CHECK(d.to_vector<float>()[0] == 0.1f);

  // Row-major order of a non-contiguous view.
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);
  CHECK(t.to_vector<int>() == std::vector<int>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("tensor: to(DType) converts values", "[tensor]") {
  Tensor f = tensor({1.5f, -2.5f, 0.0f, 3.0f});
  Tensor i = f.to(Int64);
  CHECK(i.dtype() == Int64);
  CHECK(i64(i) == std::vector<int64_t>{1, -2, 0, 3});  // truncation toward zero, like C++

  Tensor b = f.to(Bool);
  CHECK(b.dtype() == Bool);
  CHECK(b.to_vector<bool>() == std::vector<bool>{true, true, false, true});

  Tensor d = tensor({0.1f}).to(Float64);
  CHECK(d.dtype() == Float64);
  CHECK(d.item<double>() == static_cast<double>(0.1f));

  Tensor back = tensor({0.1}).to(Float32);
  CHECK(back.dtype() == Float32);
  CHECK(back.item<float>() == 0.1f);

  Tensor fromi = tensor({7, -8}).to(Float64);
  CHECK(fromi.dtype() == Float64);
  require_values(fromi, {7, -8});

  Tensor fromb = tensor({true, false, true}).to(Float32);
  CHECK(fromb.dtype() == Float32);
  require_values(fromb, {1, 0, 1});

  Tensor ib = tensor({0, 5, -1}).to(Bool);
  CHECK(ib.to_vector<bool>() == std::vector<bool>{false, true, true});

  // Conversions of a view follow the view's order.
  Tensor tv = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}).transpose(0, 1).to(Int64);
  CHECK(i64(tv) == std::vector<int64_t>{1, 3, 2, 4});

  Tensor c = tensor({1.0, 2.0}).to(Device::cpu());
  require_values(c, {1, 2});
}

// --- in place -------------------------------------------------------------------------------

TEST_CASE("tensor: in-place ops write values and bump the version by one", "[tensor]") {
  Tensor a = tensor({1.0, 2.0, 3.0});
  uint32_t v = a.version();

  a.add_(tensor({10.0, 20.0, 30.0}));
  require_values(a, {11, 22, 33});
  CHECK(a.version() == v + 1);

  a.add_(1.0);
  require_values(a, {12, 23, 34});
  CHECK(a.version() == v + 2);

  a.sub_(tensor({2.0}));  // broadcast source
  require_values(a, {10, 21, 32});
  CHECK(a.version() == v + 3);

  a.sub_(0.5);
  require_values(a, {9.5, 20.5, 31.5});
  CHECK(a.version() == v + 4);

  a.mul_(tensor({2.0, 0.0, -1.0}));
  require_values(a, {19, 0, -31.5});
  CHECK(a.version() == v + 5);

  a.mul_(2.0);
  require_values(a, {38, 0, -63});
  CHECK(a.version() == v + 6);

  a.div_(tensor({2.0, 1.0, 3.0}));
  require_values(a, {19, 0, -21});
  CHECK(a.version() == v + 7);

  a.div_(4.0);
  require_values(a, {4.75, 0, -5.25});
  CHECK(a.version() == v + 8);

  a.zero_();
  require_values(a, {0, 0, 0});
  CHECK(a.version() == v + 9);

  a.fill_(7.0);
  require_values(a, {7, 7, 7});
  CHECK(a.version() == v + 10);

  a.copy_(tensor({4.0, 5.0, 6.0}));
  require_values(a, {4, 5, 6});
  CHECK(a.version() == v + 11);

  // In-place ops return the tensor itself.
  Tensor& ref = a.add_(1.0);
  CHECK(&ref == &a);
}

TEST_CASE("tensor: copy_ broadcasts and converts the source", "[tensor]") {
  Tensor a = zeros({2, 3}, {.dtype = Float64});
  uint32_t v = a.version();
  a.copy_(tensor({1.0, 2.0, 3.0}));
  require_values(a, {1, 2, 3, 1, 2, 3});
  CHECK(a.version() == v + 1);

  a.copy_(tensor({7.0, 8.0}, {2, 1}));
  require_values(a, {7, 7, 7, 8, 8, 8});

  a.copy_(scalar_tensor(-1.0));
  require_values(a, {-1, -1, -1, -1, -1, -1});

  a.copy_(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));  // Int64 source converted
  CHECK(a.dtype() == Float64);
  require_values(a, {1, 2, 3, 4, 5, 6});

  Tensor i = zeros({3}, {.dtype = Int64});
  i.copy_(tensor({1.75f, -2.0f, 3.0f}));
  CHECK(i64(i) == std::vector<int64_t>{1, -2, 3});

  // From a non-contiguous source.
  Tensor dst = zeros({3, 2}, {.dtype = Float64});
  dst.copy_(tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}).transpose(0, 1));
  require_values(dst, {1, 4, 2, 5, 3, 6});
}

TEST_CASE("tensor: in-place ops on Int64 and Float32 tensors", "[tensor]") {
  Tensor i = tensor({1, 2, 3});
  i.add_(tensor({10, 20, 30}));
  i.mul_(2.0);
  CHECK(i.dtype() == Int64);
  CHECK(i64(i) == std::vector<int64_t>{22, 44, 66});

  Tensor f = ones({2, 2});
  f.mul_(tensor({2.f, 3.f}));
  CHECK(f.dtype() == Float32);
  require_values(f, {2, 3, 2, 3});
}

// --- printing -----------------------------------------------------------------------------

TEST_CASE("tensor: operator<< prints values, shape and dtype", "[tensor]") {
  Tensor t = tensor({1.5f, -2.25f, 3.0f, 4.0f, 5.0f, 6.5f}, {2, 3});
  std::ostringstream os;
  os << t;
  std::string s = os.str();
  INFO(s);
  CHECK_THAT(s, Catch::Contains("1.5"));
  CHECK_THAT(s, Catch::Contains("-2.25"));
  CHECK_THAT(s, Catch::Contains("6.5"));
  CHECK_THAT(s, Catch::Contains("float32"));
  CHECK_THAT(s, Catch::Contains("shape", Catch::CaseSensitive::No));
  // The shape itself, in any of the usual spellings.
  bool shape_shown = s.find("2,3") != std::string::npos || s.find("2, 3") != std::string::npos ||
                     s.find("2x3") != std::string::npos;
  CHECK(shape_shown);
  CHECK(to_string(t) == s);

  std::string d = to_string(tensor({0.5, 0.25}));
  INFO(d);
  CHECK_THAT(d, Catch::Contains("float64"));
  CHECK_THAT(d, Catch::Contains("0.25"));

  std::string i = to_string(tensor({12345, -678}));
  INFO(i);
  CHECK_THAT(i, Catch::Contains("int64"));
  CHECK_THAT(i, Catch::Contains("12345"));
  CHECK_THAT(i, Catch::Contains("-678"));
  // Int64 values print exactly: through double, 2^53 + 1 rounded and INT64_MAX was UB (UBSan).
  std::string extremes = to_string(tensor(std::vector<int64_t>{
      (int64_t{1} << 53) + 1, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}));
  INFO(extremes);
  CHECK_THAT(extremes, Catch::Contains("9007199254740993") && Catch::Contains("9223372036854775807") &&
                           Catch::Contains("-9223372036854775808"));

  // A view prints its own elements in row-major order.
  std::string tv = to_string(tensor({11, 22, 33, 44}, {2, 2}).transpose(0, 1));
  INFO(tv);
  std::size_t p33 = tv.find("33"), p22 = tv.find("22");
  REQUIRE(p33 != std::string::npos);
  REQUIRE(p22 != std::string::npos);
  CHECK(p33 < p22);
}

TEST_CASE("tensor: printing elides more than 1000 elements", "[tensor]") {
  Tensor big = arange(2000, {.dtype = Int64});
  std::string s = to_string(big);
  INFO(s.substr(0, 400));
  CHECK_THAT(s, Catch::Contains("..."));
  CHECK_THAT(s, Catch::Contains("1999"));  // the tail is shown
  CHECK_THAT(s, !Catch::Contains("1000"));  // the middle is not
  CHECK(s.size() < 1000);

  // 1000 elements exactly are all printed.
  std::string full_print = to_string(arange(1000, {.dtype = Int64}));
  CHECK_THAT(full_print, Catch::Contains("500"));
  CHECK_THAT(full_print, !Catch::Contains("..."));
}

TEST_CASE("tensor: printing 0-d and Bool tensors", "[tensor]") {
  std::string s = to_string(scalar_tensor(3.25));
  INFO(s);
  CHECK_THAT(s, Catch::Contains("3.25"));

  std::string b = to_string(tensor({true, false}));
  INFO(b);
  CHECK_FALSE(b.empty());
  bool words = b.find("true") != std::string::npos && b.find("false") != std::string::npos;
  bool digits = b.find('1') != std::string::npos && b.find('0') != std::string::npos;
  CHECK((words || digits));
  CHECK_THAT(b, Catch::Contains("bool"));

  std::string e = to_string(zeros({0, 3}));
  CHECK_FALSE(e.empty());
}

// --- large elementwise work -----------------------------------------------------------------

TEST_CASE("tensor: large elementwise work matches a scalar loop", "[tensor]") {
  const std::size_t n = 1000000;
  std::vector<double> a(n), b(n);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = std::sin(0.001 * static_cast<double>(i)) * 3.0;
    b[i] = std::cos(0.0007 * static_cast<double>(i)) + 0.5;
  }
  Tensor ta = tensor(a), tb = tensor(b);

  SECTION("add float64") {
    std::vector<double> got = f64(ta + tb);
    REQUIRE(got.size() == n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += got[i] != a[i] + b[i];
    CHECK(bad == 0);
  }
  SECTION("mul float32") {
    std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
    std::vector<float> got = (tensor(af) * tensor(bf)).to_vector<float>();
    REQUIRE(got.size() == n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += got[i] != af[i] * bf[i];
    CHECK(bad == 0);
  }
  SECTION("exp float64") {
    std::vector<double> got = f64(exp(ta));
    REQUIRE(got.size() == n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double ref = std::exp(a[i]);
      bad += std::abs(got[i] - ref) > 1e-14 * ref;
    }
    CHECK(bad == 0);
  }
  SECTION("sum float64") {
    long double ref = 0, mag = 0;
    for (double x : a) {
      ref += x;
      mag += std::abs(x);
    }
    Tensor s = ta.sum();
    CHECK(s.shape() == Shape{});
    CHECK(std::abs(s.item<double>() - static_cast<double>(ref)) <= 1e-12 * static_cast<double>(mag));
  }
  SECTION("sum float32 stays accurate") {
    // All-positive float32 values: a naive float accumulator drifts by ~1e-3 relative here.
    std::vector<float> af(n);
    long double ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
      af[i] = static_cast<float>(0.5 + 0.49 * std::sin(0.37 * static_cast<double>(i)));
      ref += af[i];
    }
    double got = tensor(af).sum().item<double>();
    CHECK(std::abs(got - static_cast<double>(ref)) <= 1e-5 * static_cast<double>(ref));
  }
  SECTION("non-contiguous add over a transposed matrix") {
    Tensor m = tensor(a, {1000, 1000});
    std::vector<double> got = f64(m.transpose(0, 1) + m);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < 1000; ++i)
      for (std::size_t j = 0; j < 1000; ++j)
        bad += got[i * 1000 + j] != a[j * 1000 + i] + a[i * 1000 + j];
    CHECK(bad == 0);
  }
  SECTION("broadcast a row over a large matrix") {
    Tensor m = tensor(a, {1000, 1000});
    std::vector<double> row(b.begin(), b.begin() + 1000);
    std::vector<double> got = f64(m * tensor(row));
    std::size_t bad = 0;
    for (std::size_t i = 0; i < 1000; ++i)
      for (std::size_t j = 0; j < 1000; ++j) bad += got[i * 1000 + j] != a[i * 1000 + j] * row[j];
    CHECK(bad == 0);
  }
  SECTION("sum over an axis of a large matrix") {
    Tensor m = tensor(a, {1000, 1000});
    std::vector<double> got0 = f64(m.sum(0)), got1 = f64(m.sum(1));
    REQUIRE(got0.size() == 1000);
    REQUIRE(got1.size() == 1000);
    std::size_t bad = 0;
    for (std::size_t j = 0; j < 1000; ++j) {
      long double c = 0, r = 0;
      for (std::size_t i = 0; i < 1000; ++i) {
        c += a[i * 1000 + j];
        r += a[j * 1000 + i];
      }
      bad += std::abs(got0[j] - static_cast<double>(c)) > 1e-10;
      bad += std::abs(got1[j] - static_cast<double>(r)) > 1e-10;
    }
    CHECK(bad == 0);
  }
  SECTION("max and argmax over a large tensor pick the first of ties across chunks") {
    std::vector<double> z(n, 0.0);
    z[700001] = 5.0;
    z[300007] = 5.0;  // the first of the two maxima
    z[999999] = 4.0;
    z[123] = -1.0;
    Tensor tz = tensor(z);
    CHECK(tz.max().item<double>() == 5.0);
    CHECK(tz.argmax().item<int64_t>() == 300007);
    CHECK(tz.min().item<double>() == -1.0);
    CHECK(tz.argmin().item<int64_t>() == 123);
    CHECK(zeros({static_cast<int64_t>(n)}).argmax().item<int64_t>() == 0);
    // Along an axis of a transposed view: row i of the view is column i of m.
    Tensor m = tz.reshape({1000, 1000});
    std::vector<int64_t> am = m.transpose(0, 1).argmax(1).to_vector<int64_t>();
    REQUIRE(am.size() == 1000);
    // Column 1 holds 700001 (row 700) ; column 7 holds 300007 (row 300); column 999 holds
    // 999999 (row 999); every other column is all zeros (or has the -1), so its argmax is 0.
    CHECK(am[1] == 700);
    CHECK(am[7] == 300);
    CHECK(am[999] == 999);
    CHECK(am[123] == 1);  // column 123 is [-1, 0, 0, ...]: the first 0 is at row 1
    CHECK(am[5] == 0);
  }
  SECTION("Int64 and Bool sums over a large tensor are exact") {
    std::vector<int64_t> iv(n);
    int64_t ref = 0, count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      iv[i] = static_cast<int64_t>(i % 1000) * 1000003 - 500;
      ref += iv[i];
    }
    Tensor ti = tensor(iv);
    CHECK(ti.sum().dtype() == Int64);
    CHECK(ti.sum().item<int64_t>() == ref);
    for (std::size_t i = 0; i < n; ++i) count += a[i] > 0.0;
    Tensor pos = (ta > 0.0).sum();
    CHECK(pos.dtype() == Int64);
    CHECK(pos.item<int64_t>() == count);
  }
  SECTION("exp, tanh and mean of a large float32 tensor") {
    std::vector<float> af(a.begin(), a.end());
    Tensor tf = tensor(af);
    std::vector<float> e = exp(tf).to_vector<float>(), th = tanh(tf).to_vector<float>();
    std::size_t bad = 0;
    long double ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
      float re = std::exp(af[i]), rt = std::tanh(af[i]);
      bad += std::abs(e[i] - re) > 4e-7f * re;
      bad += std::abs(th[i] - rt) > 3e-7f;
      ref += af[i];
    }
    CHECK(bad == 0);
    double mean_ref = static_cast<double>(ref / n);
    CHECK(std::abs(tf.mean().item<double>() - mean_ref) < 1e-6);
  }
  SECTION("in-place add on a large tensor") {
    Tensor c = ta.clone();
    c.add_(tb);
    std::vector<double> got = f64(c);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += got[i] != a[i] + b[i];
    CHECK(bad == 0);
  }
}

// Found by tests/fuzz/fuzz_ops (UBSan): int64 arithmetic overflowed as signed integers, and
// floating values outside int64's range were converted by a plain cast; both are undefined
// behaviour in C++. Now int64 wraps around as in NumPy and PyTorch, and the conversion saturates
// with NaN becoming 0, as CUDA's conversion does.
TEST_CASE("tensor: int64 overflow wraps and float-to-int64 conversion saturates", "[tensor]") {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  const Tensor big = tensor(std::vector<int64_t>{max, min, 3});
  CHECK((big + big).to_vector<int64_t>() == std::vector<int64_t>{-2, 0, 6});
  CHECK((big - tensor(std::vector<int64_t>{-1, 1, 4})).to_vector<int64_t>() == std::vector<int64_t>{min, max, -1});
  CHECK((big * big).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 9});
  CHECK((-big).to_vector<int64_t>() == std::vector<int64_t>{min + 1, min, -3});
  CHECK(abs(big).to_vector<int64_t>() == std::vector<int64_t>{max, min, 3});
  CHECK(big.sum().item<int64_t>() == 2);  // max + min + 3, wrapping on the way
  CHECK(tensor(std::vector<int64_t>{max, max}).sum().item<int64_t>() == -2);
  Tensor acc = big.clone();
  acc.add_(1.0);
  CHECK(acc.to_vector<int64_t>() == std::vector<int64_t>{min, min + 1, 4});
  CHECK(std::signbit((-zeros({1})).item<double>()));  // float negation keeps the sign of zero

  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor f = tensor(std::vector<double>{nan, inf, -inf, 1e30, -1e30, 0x1p63, -0x1p63, -2.75, 2.75});
  const std::vector<int64_t> want = {0, max, min, max, min, max, min, -2, 2};
  CHECK(f.to(Int64).to_vector<int64_t>() == want);
  CHECK(f.to(Float32).to(Int64).to_vector<int64_t>() == want);
  CHECK(f.to_vector<int64_t>() == want);
  CHECK(full({2}, nan, {.dtype = Int64}).to_vector<int64_t>() == std::vector<int64_t>{0, 0});
  CHECK(full({1}, -1e300, {.dtype = Int64}).item<int64_t>() == min);
  Tensor i = zeros({2}, {.dtype = Int64});
  i.fill_(inf);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{max, max});
  CHECK(scalar_tensor(nan).item<int64_t>() == 0);
  CHECK(scalar_tensor(1e300, {.dtype = Float64}).item<int64_t>() == max);
  CHECK(scalar_tensor(-7.9).item<int64_t>() == -7);
  // A scalar that is no int64 value makes an Int64 tensor's result Float32, NaN and 1e300 too.
  const Tensor two = tensor(std::vector<int64_t>{2});
  CHECK((two + 1e300).dtype() == Float32);
  CHECK(std::isnan((two * nan).item<double>()));
  CHECK((1e300 / two).dtype() == Float32);
  CHECK((two + 0x1p62).dtype() == Int64);
  CHECK((two + 0x1p62).item<int64_t>() == (int64_t{1} << 62) + 2);
}

// The CPU backend keeps large freed buffers and hands them out again for the same size
// (backends/cpu/allocator.cpp): a training step then stops paying page faults for fresh memory.
// A reused buffer must behave like a fresh one: factories overwrite it completely.
TEST_CASE("tensor: a large CPU buffer, once freed, is reused for the next tensor of its size") {
  if (tapeflow::test::kAddressSanitizer) {
    WARN("skipped: under AddressSanitizer nothing is cached, so that a use after free shows");
    return;
  }
  const int64_t n = int64_t{1} << 18;  // 1 MiB of float32
  const void* first = nullptr;
  {
    Tensor a = full({n}, 7.0);
    first = a.data_ptr<float>();
  }
  Tensor b = zeros({n});
  CHECK(static_cast<const void*>(b.data_ptr<float>()) == first);
  CHECK(b.sum().item<double>() == 0.0);  // none of the 7s left behind
  Tensor c = ones({n / 2, 2});            // the same bytes in another shape: same size class
  CHECK(c.sum().item<double>() == static_cast<double>(n));
  // While b lives, its buffer is not handed out twice.
  Tensor d = empty({n});
  CHECK(static_cast<const void*>(d.data_ptr<float>()) != static_cast<const void*>(b.data_ptr<float>()));
}
