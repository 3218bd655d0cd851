// SPDX-License-Identifier: MIT
// tapeflow/xtensor.hpp: zero-copy views of tensors as xtensor expressions, and tensors from
// xtensor expressions. Expected values come from index arithmetic in this file.
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/xtensor.hpp>

#include <catch2/catch.hpp>

#include <xtensor/xmath.hpp>
#include <xtensor/xview.hpp>

#include <cstdint>
#include <vector>

using namespace tapeflow;

TEST_CASE("xtensor: as_xtensor views a contiguous tensor without copying", "[xtensor]") {
  Tensor t = arange(6, {.dtype = Float32}).reshape({2, 3});
  auto x = as_xtensor<float>(t);
  REQUIRE(x.dimension() == 2);
  CHECK(x.shape()[0] == 2);
  CHECK(x.shape()[1] == 3);
  CHECK(&x(0, 0) == t.data_ptr<float>());
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) CHECK(x(i, j) == static_cast<float>(3 * i + j));

  x(1, 2) = -7.f;  // the tensor sees writes through the view
  CHECK(t.to_vector<float>()[5] == -7.f);
  t.mul_(2.0);     // and the view sees the tensor's
  CHECK(x(1, 2) == -14.f);
}

TEST_CASE("xtensor: as_xtensor follows the strides of a permuted tensor", "[xtensor]") {
  Tensor base = arange(24, {.dtype = Float64}).reshape({2, 3, 4});  // base[i][j][k] = 12i + 4j + k
  auto x = as_xtensor<const double>(base.permute({2, 0, 1}));      // x(k, i, j) = base[i][j][k]
  REQUIRE(x.shape() == std::vector<std::size_t>{4, 2, 3});
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 3; ++j) CHECK(x(k, i, j) == 12.0 * i + 4.0 * j + k);
  // Size-1 dimensions may carry any stride.
  auto column = as_xtensor<double>(base.slice(0, 1, 2).slice(1, 2, 3));  // shape [1, 1, 4]
  CHECK(column(0, 0, 3) == 12.0 + 8.0 + 3.0);
}

TEST_CASE("xtensor: as_xtensor refuses views with gaps or repeats", "[xtensor]") {
  Tensor base = arange(24, {.dtype = Float64}).reshape({2, 3, 4});
  const Tensor refused[] = {base.slice(2, 1, 4, 2), base.slice(1, 0, 2), tensor({1.0, 2.0}).expand({3, 2})};
  for (const Tensor& view : refused) {
    INFO(shape_str(view.shape()) << " strides " << shape_str(view.strides()));
    CHECK_THROWS_AS(as_xtensor<double>(view), ValueError);
    CHECK_THROWS_WITH(as_xtensor<double>(view), Catch::Contains("call .contiguous() first"));
    CHECK(as_xtensor<double>(view.contiguous()).size() == static_cast<std::size_t>(view.numel()));
  }
  CHECK_THROWS_WITH(as_xtensor<double>(base.slice(2, 1, 4, 2)),
                    "as_xtensor: needs a contiguous tensor or a permutation of one, got shape [2,3,2] "
                    "with strides [12,4,2]; call .contiguous() first");
}

TEST_CASE("xtensor: a view keeps its tensor's memory alive", "[xtensor]") {
  auto x = as_xtensor<double>(arange(4, {.dtype = Float64}) * 2.0);  // the temporary tensor dies
  std::vector<Tensor> churn;  // reuse freed memory, if it were freed
  for (int i = 0; i < 8; ++i) churn.push_back(full({4}, -1.0, {.dtype = Float64}));
  CHECK(x(3) == 6.0);
  auto copy = x;  // copies share the owner
  CHECK(&copy(0) == &x(0));
}

TEST_CASE("xtensor: as_xtensor of 0-d and empty tensors", "[xtensor]") {
  auto s = as_xtensor<int64_t>(scalar_tensor(5, {.dtype = Int64}));
  CHECK(s.dimension() == 0);
  CHECK(s() == 5);
  auto e = as_xtensor<float>(zeros({3, 0, 2}));
  CHECK(e.size() == 0);
  CHECK(e.shape() == std::vector<std::size_t>{3, 0, 2});
}

TEST_CASE("xtensor: as_xtensor refuses the wrong element type and undefined tensors", "[xtensor]") {
  Tensor t = zeros({2}, {.dtype = Float64});
  CHECK_THROWS_AS(as_xtensor<float>(t), DTypeError);
  CHECK_THROWS_WITH(as_xtensor<float>(t), "data_ptr: asked for float32 but the tensor is float64");
  CHECK_THROWS_AS(as_xtensor<double>(Tensor()), ValueError);
}

TEST_CASE("xtensor: from_xtensor copies any expression, row-major, with a matching dtype", "[xtensor]") {
  SECTION("value types map to dtypes") {
    CHECK(from_xtensor(xt::xarray<float>{1.f, 2.f}).dtype() == Float32);
    CHECK(from_xtensor(xt::xarray<double>{1.0}).dtype() == Float64);
    CHECK(from_xtensor(xt::xarray<long double>{1.0L}).dtype() == Float64);
    CHECK(from_xtensor(xt::xarray<bool>{true, false}).dtype() == Bool);
    Tensor bytes = from_xtensor(xt::xarray<uint8_t>{{250, 3}, {0, 7}});
    CHECK(bytes.dtype() == Int64);
    CHECK(bytes.shape() == Shape{2, 2});
    CHECK(bytes.to_vector<int64_t>() == std::vector<int64_t>{250, 3, 0, 7});
  }
  SECTION("a lazy expression over a transposed view is evaluated in row-major order") {
    xt::xarray<double> a = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
    Tensor t = from_xtensor(xt::transpose(a) * 10.0);
    REQUIRE(t.shape() == Shape{3, 2});
    CHECK(t.to_vector<double>() == std::vector<double>{10, 40, 20, 50, 30, 60});
  }
  SECTION("options convert and mark the result") {
    Tensor t = from_xtensor(xt::xarray<int>{1, 2, 3}, {.dtype = Float64, .requires_grad = true});
    CHECK(t.dtype() == Float64);
    CHECK(t.requires_grad());
    (t * t).sum().backward();
    CHECK(t.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  }
  SECTION("the result owns its memory") {
    xt::xarray<float> a = {1.f, 2.f};
    Tensor t = from_xtensor(a);
    a(0) = 9.f;
    CHECK(t.to_vector<float>() == std::vector<float>{1.f, 2.f});
  }
}

TEST_CASE("xtensor: a tensor survives the round trip through a view", "[xtensor]") {
  manual_seed(3);
  Tensor t = randn({4, 5}, {.dtype = Float64}).transpose(0, 1);
  Tensor back = from_xtensor(as_xtensor<double>(t));
  CHECK(back.shape() == t.shape());
  CHECK(back.to_vector<double>() == t.to_vector<double>());
  CHECK_FALSE(back.shares_storage_with(t));
}
