// SPDX-License-Identifier: MIT
// Convolution and pooling: the gradient table (float64 central differences, contiguous, each
// input alone and non-contiguous), second derivatives, forward values against a naive direct
// convolution written here in plain doubles, pooling against hand-computed values, modules,
// error messages, and the index_select / index_add kernels (which conv2d's im2col used before it
// had kernels of its own).
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../grad_table.hpp"
#include "../helpers.hpp"

using namespace tapeflow;
using namespace tapeflow::test;
namespace F = tapeflow::nn::functional;

namespace {

using V = const std::vector<Tensor>&;

// --- an independent reference: direct convolution over plain doubles ---------------------

struct Conv {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
};

/// y[n, o, i, j] = b[o] + sum_{c in o's group, p, q} x[n, c, i·s - pad + p·d, j·s - pad + q·d] · w[o, c', p, q]
std::vector<double> naive_conv2d(const std::vector<double>& x, const Shape& xs, const std::vector<double>& w,
                                 const Shape& ws, const std::vector<double>* b, const Conv& cv, Shape& out_shape) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t O = ws[0], Cg = ws[1], KH = ws[2], KW = ws[3];
  const int64_t OH = (H + 2 * cv.pad_h - cv.dil_h * (KH - 1) - 1) / cv.stride_h + 1;
  const int64_t OW = (W + 2 * cv.pad_w - cv.dil_w * (KW - 1) - 1) / cv.stride_w + 1;
  const int64_t Og = O / cv.groups;
  out_shape = {N, O, OH, OW};
  std::vector<double> y(static_cast<std::size_t>(N * O * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = b ? (*b)[o] : 0.0;
          const int64_t g = o / Og;
          for (int64_t cc = 0; cc < Cg; ++cc) {
            const int64_t c = g * Cg + cc;
            for (int64_t p = 0; p < KH; ++p)
              for (int64_t q = 0; q < KW; ++q) {
                const int64_t r = i * cv.stride_h - cv.pad_h + p * cv.dil_h;
                const int64_t s = j * cv.stride_w - cv.pad_w + q * cv.dil_w;
                if (r < 0 || r >= H || s < 0 || s >= W) continue;
                acc += x[((n * C + c) * H + r) * W + s] * w[((o * Cg + cc) * KH + p) * KW + q];
              }
          }
          y[((n * O + o) * OH + i) * OW + j] = acc;
        }
  return y;
}

std::vector<double> draw(const Shape& shape, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::vector<double> v(static_cast<std::size_t>(shape_numel(shape)));
  for (auto& e : v) e = u(rng);
  return v;
}

// --- the gradient table ------------------------------------------------------------------

std::vector<GradCase> conv_rows() {
  std::vector<GradCase> rows;
  auto row = [&](GradCase c) { rows.push_back(std::move(c)); };
  auto conv = [](nn::Conv2dOptions o) {
    return [o](V v) { return F::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), o); };
  };

  row({"conv2d 3x3", {{2, 2, 5, 5}, {3, 2, 3, 3}, {3}}, conv({})});
  row({"conv2d no bias", {{2, 2, 5, 5}, {3, 2, 3, 3}}, conv({})});
  row({"conv2d stride 2", {{2, 2, 6, 5}, {3, 2, 3, 3}, {3}}, conv({.stride = 2})});
  row({"conv2d padding 1", {{1, 2, 4, 4}, {3, 2, 3, 3}, {3}}, conv({.padding = 1})});
  row({"conv2d dilation 2", {{1, 2, 6, 6}, {2, 2, 2, 2}, {2}}, conv({.dilation = 2})});
  row({"conv2d stride 2 padding 1 dilation 2", {{2, 1, 7, 6}, {2, 1, 3, 3}, {2}},
       conv({.stride = 2, .padding = 1, .dilation = 2})});
  row({"conv2d rectangular kernel 2x3", {{1, 2, 5, 6}, {3, 2, 2, 3}, {3}}, conv({})});
  row({"conv2d per-axis stride/padding/dilation", {{1, 2, 6, 7}, {2, 2, 3, 2}, {2}},
       conv({.stride = {2, 1}, .padding = {0, 2}, .dilation = {1, 3}})});
  row({"conv2d 1x1 kernel", {{2, 3, 3, 3}, {4, 3, 1, 1}, {4}}, conv({})});
  row({"conv2d kernel covers the padded input", {{1, 1, 2, 3}, {2, 1, 4, 5}, {2}}, conv({.padding = 1})});
  row({"conv2d many output channels (row-major GEMM)", {{1, 2, 4, 4}, {17, 2, 3, 3}, {17}}, conv({.padding = 1})});
  row({"conv2d groups 2", {{1, 4, 4, 4}, {6, 2, 3, 3}, {6}}, conv({.padding = 1, .groups = 2})});
  row({"conv2d groups 2 no bias stride 2", {{2, 4, 5, 5}, {4, 2, 2, 2}}, conv({.stride = 2, .groups = 2})});
  row({"conv2d unbatched [C,H,W]", {{2, 4, 4}, {3, 2, 3, 3}, {3}}, conv({.padding = 1})});
  // A broadcast (expanded, stride-0) bias: one value shared by every output channel.
  row({"conv2d broadcast bias", {{1, 2, 4, 4}, {3, 2, 3, 3}, {1}},
       [](V v) { return F::conv2d(v[0], v[1], v[2].expand({3}), {.padding = 1}); }});
  row({"conv2d broadcast bias groups 2", {{1, 4, 4, 4}, {4, 2, 3, 3}, {1}},
       [](V v) { return F::conv2d(v[0], v[1], v[2].expand({4}), {.groups = 2}); }});
  row({"conv2d input sliced from a larger tensor", {{2, 2, 8, 7}, {3, 2, 3, 3}, {3}},
       [](V v) { return F::conv2d(v[0].slice(2, 1, 8, 2).slice(1, 0, 1), v[1].slice(1, 1, 2), v[2], {.padding = 1}); }});
  row({"conv2d input permuted NHWC->NCHW", {{2, 5, 4, 3}, {2, 3, 3, 3}, {2}},
       [](V v) { return F::conv2d(v[0].permute({0, 3, 1, 2}), v[1], v[2], {.padding = 1}); }});
  row({"conv2d twice (cached index reused)", {{1, 2, 5, 5}, {2, 2, 3, 3}, {2}},
       [](V v) { return F::conv2d(F::conv2d(v[0], v[1], v[2], {.padding = 1}).tanh(), v[1], v[2], {.padding = 1}); }});
  // The im2col/col2im kernels: one input channel with a wide batch, and many channels with
  // overlapping strided windows whose col2im sums several columns into one element.
  row({"conv2d 1 input channel batch 3 padding 2 stride 2", {{3, 1, 5, 6}, {4, 1, 3, 3}, {4}},
       conv({.stride = 2, .padding = 2})});
  row({"conv2d groups 3 padding {1,2} dilation {2,1}", {{1, 6, 5, 5}, {3, 2, 3, 2}, {3}},
       conv({.padding = {1, 2}, .dilation = {2, 1}, .groups = 3})});

  auto maxp = [](nn::Size2 k, nn::MaxPool2dOptions o) { return [k, o](V v) { return F::max_pool2d(v[0], k, o); }; };
  row({"max_pool2d 2", {{2, 3, 4, 4}}, maxp(2, {})});
  row({"max_pool2d 2 odd size (floor)", {{1, 2, 5, 5}}, maxp(2, {})});
  row({"max_pool2d 3 stride 1", {{1, 2, 5, 5}}, maxp(3, {.stride = 1})});
  row({"max_pool2d 3 stride 2 padding 1", {{2, 2, 5, 6}}, maxp(3, {.stride = 2, .padding = 1})});
  row({"max_pool2d 2x3 stride {1,2} padding {1,1}", {{1, 2, 5, 6}}, maxp(nn::Size2{2, 3}, {.stride = {1, 2}, .padding = {1, 1}})});
  row({"max_pool2d 2 dilation 2", {{1, 2, 6, 6}}, maxp(2, {.stride = 1, .dilation = 2})});
  row({"max_pool2d unbatched", {{2, 4, 4}}, maxp(2, {})});
  // Overlapping windows: one element can win several windows, and its gradient sums them.
  row({"max_pool2d 3 stride 1 padding 1 dilation 2", {{1, 2, 7, 7}}, maxp(3, {.stride = 1, .padding = 1, .dilation = 2})});
  row({"max_pool2d input permuted NHWC->NCHW", {{2, 5, 5, 3}},
       [](V v) { return F::max_pool2d(v[0].permute({0, 3, 1, 2}), 2, {.stride = 1}); }});

  auto avgp = [](nn::Size2 k, nn::AvgPool2dOptions o) { return [k, o](V v) { return F::avg_pool2d(v[0], k, o); }; };
  row({"avg_pool2d 2", {{2, 3, 4, 4}}, avgp(2, {})});
  row({"avg_pool2d 3 stride 1", {{1, 2, 5, 5}}, avgp(3, {.stride = 1})});
  row({"avg_pool2d 3 stride 2 padding 1", {{2, 2, 5, 6}}, avgp(3, {.stride = 2, .padding = 1})});
  row({"avg_pool2d 3 padding 1 count_include_pad false", {{1, 2, 5, 5}},
       avgp(3, {.stride = 2, .padding = 1, .count_include_pad = false})});
  row({"avg_pool2d 2x3 stride {2,1}", {{1, 2, 5, 6}}, avgp(nn::Size2{2, 3}, {.stride = {2, 1}})});

  row({"cnn conv-relu-maxpool-conv-avgpool", {{2, 1, 8, 8}, {3, 1, 3, 3}, {3}, {2, 3, 2, 2}}, [](V v) {
         Tensor h = F::max_pool2d(relu(F::conv2d(v[0], v[1], v[2])), 2);
         return F::avg_pool2d(F::conv2d(h, v[3], Tensor(), {.padding = 1}), 2);
       }});
  return rows;
}

}  // namespace

TEST_CASE("nn conv: every conv and pooling gradient matches central differences", "[nn][conv][gradcheck]") {
  const auto rows = conv_rows();
  REQUIRE(rows.size() > 25);
  check_gradient_rows(rows, 20240601);
}

TEST_CASE("nn conv: every conv and pooling gradient matches central differences on CUDA", "[nn][conv][gradcheck][cuda]") {
  check_gradient_rows_on_cuda(conv_rows(), 20240601, "the conv and pooling gradient table");
}

TEST_CASE("nn conv: second derivatives of conv2d and pooling match central differences", "[nn][conv][gradcheck]") {
  struct Row {
    const char* name;
    std::vector<Shape> shapes;
    Fn fn;
  };
  const std::vector<Row> rows = {
      {"conv2d padding 1", {{1, 2, 4, 4}, {2, 2, 3, 3}, {2}},
       [](V v) { return F::conv2d(v[0], v[1], v[2], {.padding = 1}); }},
      {"conv2d stride 2 dilation 2", {{1, 1, 6, 6}, {2, 1, 2, 2}},
       [](V v) { return F::conv2d(v[0], v[1], Tensor(), {.stride = 2, .dilation = 2}); }},
      {"conv2d groups 2", {{1, 4, 3, 3}, {2, 2, 2, 2}, {2}},
       [](V v) { return F::conv2d(v[0], v[1], v[2], {.groups = 2}); }},
      // Second derivatives need a nonlinearity in x: conv2d is bilinear in (x, w).
      {"conv2d then tanh", {{1, 2, 4, 4}, {2, 2, 3, 3}, {2}},
       [](V v) { return tanh(F::conv2d(v[0], v[1], v[2], {.padding = 1})); }},
      {"max_pool2d then square", {{1, 2, 4, 4}}, [](V v) { return F::max_pool2d(v[0] * v[0], 2, {.padding = 1}); }},
      {"max_pool2d overlapping windows then square", {{1, 2, 5, 5}},
       [](V v) { return F::max_pool2d(v[0] * v[0], 3, {.stride = 1}); }},
      {"conv2d stride 2 padding 1 then tanh", {{2, 2, 5, 5}, {2, 2, 3, 3}, {2}},
       [](V v) { return tanh(F::conv2d(v[0], v[1], v[2], {.stride = 2, .padding = 1})); }},
      {"conv2d groups 2 padding 1 then tanh", {{1, 4, 4, 4}, {4, 2, 3, 3}, {4}},
       [](V v) { return tanh(F::conv2d(v[0], v[1], v[2], {.padding = 1, .groups = 2})); }},
      {"avg_pool2d then tanh", {{1, 2, 4, 4}}, [](V v) { return tanh(F::avg_pool2d(v[0], 3, {.stride = 1, .padding = 1})); }},
  };
  std::mt19937_64 rng(99);
  for (const auto& row : rows) {
    INFO("row: " << row.name);
    std::vector<Tensor> inputs;
    for (const auto& s : row.shapes) inputs.push_back(f64(draw(s, rng), s).requires_grad_());
    bool ok = false;
    CHECK_NOTHROW(ok = gradgradcheck(row.fn, inputs));
    CHECK(ok);
  }
}

TEST_CASE("nn conv: the gradient table catches a wrong convolution gradient", "[nn][conv][gradcheck]") {
  // Same forward values, but the weight's gradient is that of a kernel flipped in space: a
  // table unable to tell them apart would be worthless.
  std::mt19937_64 rng(3);
  Tensor x = f64(draw({1, 1, 4, 4}, rng), {1, 1, 4, 4});
  Tensor w = f64(draw({1, 1, 2, 2}, rng), {1, 1, 2, 2}).requires_grad_();
  Fn right = [x](V v) { return F::conv2d(x, v[0]); };
  Fn wrong = [x](V v) {
    Tensor flipped = v[0].reshape({4}).index_select(0, tensor({3, 2, 1, 0}, {}, {.dtype = Int64})).reshape({1, 1, 2, 2});
    Tensor y = F::conv2d(x, v[0]);
    Tensor fake = F::conv2d(x, flipped);
    return y.detach() + (fake - fake.detach());
  };
  CHECK(gradcheck(right, {w}));
  CHECK_THROWS_AS(gradcheck(wrong, {w}), AutogradError);
}

TEST_CASE("nn conv: conv2d forward matches a naive direct convolution", "[nn][conv]") {
  struct Case {
    const char* name;
    Shape x, w;
    bool bias;
    Conv cv;
  };
  const std::vector<Case> cases = {
      {"3x3 stride 1", {2, 3, 7, 6}, {4, 3, 3, 3}, true, {}},
      {"3x3 no bias", {1, 2, 5, 5}, {3, 2, 3, 3}, false, {}},
      {"stride 2 padding 1", {2, 3, 8, 7}, {5, 3, 3, 3}, true, {2, 2, 1, 1}},
      {"dilation 2", {1, 2, 9, 9}, {3, 2, 3, 3}, true, {1, 1, 0, 0, 2, 2}},
      {"rectangular 2x4 stride {2,1} padding {1,2} dilation {2,1}", {2, 2, 7, 8}, {3, 2, 2, 4}, true, {2, 1, 1, 2, 2, 1}},
      {"1x1", {2, 5, 3, 4}, {6, 5, 1, 1}, true, {}},
      {"many channels (row-major GEMM)", {2, 20, 6, 6}, {24, 20, 3, 3}, true, {1, 1, 1, 1}},
      {"groups 3", {2, 6, 5, 5}, {9, 2, 3, 3}, true, {1, 1, 1, 1, 1, 1, 3}},
      {"groups 2 no bias stride 2", {1, 4, 6, 6}, {4, 2, 2, 2}, false, {2, 2, 0, 0, 1, 1, 2}},
      {"padding larger than the kernel", {1, 1, 3, 3}, {2, 1, 2, 2}, true, {1, 1, 3, 3}},
  };
  std::mt19937_64 rng(12345);
  // Twice, in two orders: the cached gather index must follow the geometry.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[pass == 0 ? k : cases.size() - 1 - k];
      INFO("case: " << c.name << " (pass " << pass << ")");
      auto xv = draw(c.x, rng), wv = draw(c.w, rng), bv = draw({c.w[0]}, rng);
      Shape out_shape;
      auto expected = naive_conv2d(xv, c.x, wv, c.w, c.bias ? &bv : nullptr, c.cv, out_shape);
      nn::Conv2dOptions o{.stride = {c.cv.stride_h, c.cv.stride_w},
                          .padding = {c.cv.pad_h, c.cv.pad_w},
                          .dilation = {c.cv.dil_h, c.cv.dil_w},
                          .groups = c.cv.groups};
      Tensor y = F::conv2d(f64(xv, c.x), f64(wv, c.w), c.bias ? f64(bv, {c.w[0]}) : Tensor(), o);
      CHECK(y.shape() == out_shape);
      CHECK(y.is_contiguous());
      require_values(y, expected, 1e-12);
      // Float32 takes the same path with float GEMM.
      Tensor y32 = F::conv2d(f64(xv, c.x).to(Float32), f64(wv, c.w).to(Float32),
                             c.bias ? f64(bv, {c.w[0]}).to(Float32) : Tensor(), o);
      CHECK(y32.dtype() == Float32);
      require_values(y32, expected, 1e-4);
    }
  }
}

TEST_CASE("nn conv: conv2d of an unbatched input equals the batch of one", "[nn][conv]") {
  manual_seed(1);
  Tensor x = randn({3, 6, 5}, {.dtype = Float64}), w = randn({2, 3, 3, 3}, {.dtype = Float64});
  Tensor b = randn({2}, {.dtype = Float64});
  Tensor y = F::conv2d(x, w, b, {.padding = 1});
  CHECK(y.shape() == Shape{2, 6, 5});
  require_values(y, values(F::conv2d(x.unsqueeze(0), w, b, {.padding = 1})), 0.0);
}

TEST_CASE("nn conv: max_pool2d and avg_pool2d match hand-computed values", "[nn][conv][pooling]") {
  // x = 0..15 as one 4x4 plane.
  Tensor x = arange(16, {.dtype = Float64}).reshape({1, 1, 4, 4});
  require_values(F::max_pool2d(x, 2), {5, 7, 13, 15});
  require_values(F::avg_pool2d(x, 2), {2.5, 4.5, 10.5, 12.5});
  // Kernel 3, stride 2, padding 1: windows cover rows/cols {0,1} and {1,2,3}.
  require_values(F::max_pool2d(x, 3, {.stride = 2, .padding = 1}), {5, 7, 13, 15});
  require_values(F::avg_pool2d(x, 3, {.stride = 2, .padding = 1}), {10.0 / 9, 24.0 / 9, 51.0 / 9, 90.0 / 9}, 1e-15);
  require_values(F::avg_pool2d(x, 3, {.stride = 2, .padding = 1, .count_include_pad = false}),
                 {10.0 / 4, 24.0 / 6, 51.0 / 6, 90.0 / 9}, 1e-15);
  // Padding taps are -inf for max: an all-negative input never yields 0.
  require_values(F::max_pool2d(-x - 1.0, 3, {.stride = 2, .padding = 1}), {-1, -2, -5, -6});
  // Dilation 2: taps (0,0),(0,2),(2,0),(2,2) for the first window.
  require_values(F::max_pool2d(x, 2, {.stride = 1, .dilation = 2}), {10, 11, 14, 15});
  // Rectangular kernel and per-axis stride: 1x4 windows, one per row.
  require_values(F::max_pool2d(x, {1, 4}), {3, 7, 11, 15});
  require_values(F::avg_pool2d(x, {2, 1}, {.stride = {2, 1}}), {2, 3, 4, 5, 10, 11, 12, 13});
  // Planes pool independently; stride defaults to the kernel (floor: the last row/col is dropped).
  Tensor two = concat({x, x * -1.0}, 1).reshape({1, 2, 4, 4});
  require_values(F::max_pool2d(two, 3), {10, 0});
  CHECK(F::max_pool2d(two, 3).shape() == Shape{1, 2, 1, 1});
  // Unbatched input keeps its rank.
  CHECK(F::max_pool2d(x.reshape({1, 4, 4}), 2).shape() == Shape{1, 2, 2});
  // Float32 too.
  require_values(F::max_pool2d(x.to(Float32), 2), {5, 7, 13, 15});
  require_values(F::avg_pool2d(x.to(Float32), 2), {2.5, 4.5, 10.5, 12.5});
}

TEST_CASE("nn conv: max_pool2d sends the gradient to the window's maximum, the first one on ties",
          "[nn][conv][pooling]") {
  Tensor x = leaf({1, 9, 2, 3,   //
                   4, 0, 9, 5,   //
                   7, 7, 1, 1,   //
                   7, 7, 1, 1},
                  {1, 1, 4, 4});
  F::max_pool2d(x, 2).backward(f64({10, 20, 30, 40}, {1, 1, 2, 2}));
  require_values(x.grad(), {0, 10, 0, 0,   //
                            0, 0, 20, 0,   //
                            30, 0, 40, 0,  //
                            0, 0, 0, 0});
}

// PyTorch's rule: a NaN in a window wins it (wherever it sits, not only first), so a NaN input
// is never hidden by max pooling; the gradient goes to the NaN. Interior and border windows
// take different paths in the kernel, so both are covered (padding 1 makes the border ones).
TEST_CASE("nn conv: max_pool2d propagates a NaN from any position of its window", "[nn][conv][pooling]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const int64_t pad : {0, 1}) {
    INFO("padding " << pad);
    Tensor x = leaf({1, 2, 3, 4,    //
                     5, nan, 7, 8,  //
                     9, 10, 11, 12, //
                     13, 14, 15, nan},
                    {1, 1, 4, 4});
    Tensor y = F::max_pool2d(x, 3, {.stride = 1, .padding = pad});
    const std::vector<double> v = y.to_vector<double>();
    // Exactly the windows that cover (1, 1) or (3, 3) are NaN.
    int64_t nan_windows = 0;
    for (int64_t i = 0; i < y.size(2); ++i)
      for (int64_t j = 0; j < y.size(3); ++j) {
        const int64_t r0 = i - pad, c0 = j - pad;  // the window's top-left in x
        const bool covers = (r0 <= 1 && 1 <= r0 + 2 && c0 <= 1 && 1 <= c0 + 2) ||
                            (r0 <= 3 && 3 <= r0 + 2 && c0 <= 3 && 3 <= c0 + 2);
        INFO("output (" << i << ", " << j << ") = " << v[i * y.size(3) + j]);
        CHECK(std::isnan(v[i * y.size(3) + j]) == covers);
        nan_windows += covers;
      }
    y.sum().backward();
    const std::vector<double> g = x.grad().to_vector<double>();
    if (pad == 1) CHECK(nan_windows < y.numel());  // the padded corners hold no NaN
    CHECK(g[5] + g[15] == static_cast<double>(nan_windows));  // each NaN window's gradient goes to its NaN
  }
}

// Padding is at most half the kernel, but with dilation a window can still hold padding only
// (found by fuzz_ops: the backward then wrote before its buffer). Such a window is -inf, as in
// PyTorch, and its gradient reaches no input, to first and second order.
TEST_CASE("nn conv: max_pool2d of a dilated window of padding only is -inf and has no gradient",
          "[nn][conv][pooling]") {
  // One row, kernel 2, padding 1, dilation 2: every window's rows are -1 and 1, both padding.
  // (Five elements: more than a tensor keeps inline, so a stray write is outside any buffer.)
  Tensor x = leaf({5, 1, 4, 2, 3}, {1, 1, 1, 5});
  Tensor y = F::max_pool2d(x, 2, {.stride = 1, .padding = 1, .dilation = 2});
  REQUIRE(y.shape() == Shape{1, 1, 1, 5});
  for (double v : y.to_vector<double>()) CHECK(v == -std::numeric_limits<double>::infinity());
  y.sum().backward();
  require_values(x.grad(), {0, 0, 0, 0, 0});
  // A 2x3 input where the first window reaches row 1, column 1 and the others hold padding
  // only for some taps: gradients go to real elements alone, and the double backward works.
  Tensor x2 = leaf({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  Tensor y2 = F::max_pool2d(x2 * x2, 2, {.stride = 1, .padding = 1, .dilation = 2});
  std::vector<Tensor> g = grad({y2.sum()}, {x2}, {.create_graph = true});
  CHECK(std::isfinite(g[0].sum().item<double>()));
  std::vector<Tensor> gg = grad({g[0].sum()}, {x2});
  CHECK(std::isfinite(gg[0].sum().item<double>()));
}

TEST_CASE("nn conv: avg_pool2d's gradient spreads evenly over each window", "[nn][conv][pooling]") {
  Tensor x = leaf(std::vector<double>(16, 1.0), {1, 1, 4, 4});
  F::avg_pool2d(x, 2).backward(f64({4, 8, 12, 16}, {1, 1, 2, 2}));
  require_values(x.grad(), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Overlapping windows add up; padding (count_include_pad) divides by the full window.
  Tensor y = leaf(std::vector<double>(9, 1.0), {1, 1, 3, 3});
  F::avg_pool2d(y, 3, {.stride = 1, .padding = 1}).sum().backward();
  require_values(y.grad(), {4.0 / 9, 6.0 / 9, 4.0 / 9, 6.0 / 9, 1.0, 6.0 / 9, 4.0 / 9, 6.0 / 9, 4.0 / 9}, 1e-15);
}

TEST_CASE("nn conv: Conv2d registers weight and bias with LibTorch's shapes and default init", "[nn][conv]") {
  manual_seed(0);
  nn::Conv2d conv(16, 32, 3);
  auto named = conv.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[0].second.shape() == Shape{32, 16, 3, 3});
  CHECK(named[1].first == "bias");
  CHECK(named[1].second.shape() == Shape{32});
  CHECK(conv.weight.requires_grad());
  CHECK(conv.bias.requires_grad());
  // kaiming_uniform_(a = sqrt(5)) and the bias both give U(±1/sqrt(fan_in)), fan_in = 16·3·3.
  const double bound = 1.0 / std::sqrt(16.0 * 9.0);
  for (const Tensor& t : {conv.weight, conv.bias}) {
    auto v = values(t);
    double lo = 0, hi = 0;
    for (double e : v) lo = std::min(lo, e), hi = std::max(hi, e);
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    // 4608 weights spread over the whole range (a too-narrow init fails here).
    if (t.numel() > 1000) {
      CHECK(hi > 0.95 * bound);
      CHECK(lo < -0.95 * bound);
    }
  }

  nn::Conv2d no_bias(4, 6, {3, 1}, {.bias = false, });
  CHECK(no_bias.named_parameters().size() == 1);
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.weight.shape() == Shape{6, 4, 3, 1});

  nn::Conv2d grouped(4, 6, 3, {.groups = 2});
  CHECK(grouped.weight.shape() == Shape{6, 2, 3, 3});
  const double gbound = 1.0 / std::sqrt(2.0 * 9.0);
  for (double e : values(grouped.bias)) CHECK(std::abs(e) <= gbound);
}

TEST_CASE("nn conv: modules give the documented output shapes and match the functional forms",
          "[nn][conv]") {
  manual_seed(5);
  Tensor x = randn({2, 3, 9, 9});
  nn::Conv2d conv(3, 8, 3, {.stride = 2, .padding = 1});
  Tensor y = conv(x);
  CHECK(y.shape() == Shape{2, 8, 5, 5});
  require_values(y, values(F::conv2d(x, conv.weight, conv.bias, {.stride = 2, .padding = 1})), 0.0);
  CHECK(nn::Conv2d(3, 4, {2, 3}, {.dilation = {2, 1}})(x).shape() == Shape{2, 4, 7, 7});

  nn::MaxPool2d mp(2);
  CHECK(mp(x).shape() == Shape{2, 3, 4, 4});
  CHECK(mp.parameters().empty());
  require_values(mp(x), values(F::max_pool2d(x, 2)), 0.0);
  nn::AvgPool2d ap(3, {.stride = 1, .padding = 1});
  CHECK(ap(x).shape() == Shape{2, 3, 9, 9});
  require_values(ap(x), values(F::avg_pool2d(x, 3, {.stride = 1, .padding = 1})), 0.0);

  CHECK(conv.extra_repr() == "3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)");
  CHECK(nn::Conv2d(4, 6, 3, {.bias = false}).extra_repr() == "4, 6, kernel_size=(3, 3), stride=(1, 1), bias=false");
  CHECK(nn::Conv2d(4, 6, {1, 3}, {.dilation = 2, .groups = 2}).extra_repr() ==
        "4, 6, kernel_size=(1, 3), stride=(1, 1), dilation=(2, 2), groups=2");
  CHECK(mp.extra_repr() == "kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1)");
  CHECK(ap.extra_repr() == "kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), count_include_pad=true");
}

TEST_CASE("nn conv: a small CNN trains end to end through Sequential", "[nn][conv]") {
  manual_seed(2);
  nn::Sequential net;
  net.push_back(nn::Conv2d(1, 4, 3));
  net.push_back(nn::ReLU());
  net.push_back(nn::MaxPool2d(2));
  net.push_back(nn::Conv2d(4, 6, 3, {.padding = 1}));
  net.push_back(nn::ReLU());
  net.push_back(nn::AvgPool2d(2));
  net.push_back(nn::Flatten());
  net.push_back(nn::Linear(6 * 2 * 2, 3));
  Tensor x = randn({5, 1, 10, 10});
  Tensor t = tensor({0, 1, 2, 1, 0}, {}, {.dtype = Int64});
  optim::SGD sgd(net.parameters(), {.lr = 0.5, .momentum = 0.9});
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    sgd.zero_grad();
    Tensor loss = cross_entropy(net(x), t);
    loss.backward();
    for (const auto& [name, p] : net.named_parameters()) {
      INFO("parameter " << name);
      REQUIRE(p.grad().defined());
      CHECK(p.grad().shape() == p.shape());
    }
    sgd.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.1 * first);
}

TEST_CASE("nn conv: errors name the op and the offending shapes or values", "[nn][conv][errors]") {
  Tensor x = zeros({2, 3, 8, 8}), w = zeros({4, 3, 3, 3});
  CHECK_THROWS_WITH(F::conv2d(x, zeros({4, 2, 3, 3})),
                    Catch::Contains("conv2d: input [2,3,8,8] has 3 channels but weight [4,2,3,3] expects 2"));
  CHECK_THROWS_AS(F::conv2d(x, zeros({4, 2, 3, 3})), ShapeError);
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 4, 5, 5}), zeros({4, 3, 3, 3}), Tensor(), {.groups = 2}),
                    Catch::Contains("has 4 channels but weight [4,3,3,3] expects 6"));
  CHECK_THROWS_WITH(F::conv2d(zeros({3, 8}), w), Catch::Contains("conv2d: expected input [N, C, H, W]") &&
                                                     Catch::Contains("got [3,8]"));
  CHECK_THROWS_AS(F::conv2d(zeros({1, 2, 3, 8, 8}), w), ShapeError);
  CHECK_THROWS_WITH(F::conv2d(x, zeros({4, 3, 3})), Catch::Contains("conv2d: expected weight") &&
                                                        Catch::Contains("[4,3,3]"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 2, 2}), w),
                    Catch::Contains("conv2d: kernel [3,3] is larger than the padded input [2,2]"));
  CHECK_THROWS_AS(F::conv2d(zeros({1, 3, 2, 2}), w), ShapeError);
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 4, 4}), w, Tensor(), {.dilation = 2}),
                    Catch::Contains("kernel [3,3] (dilated to [5,5]) is larger than the padded input [4,4]"));
  CHECK_NOTHROW(F::conv2d(zeros({1, 3, 2, 2}), w, Tensor(), {.padding = 1}));
  CHECK_THROWS_WITH(F::conv2d(x, w, Tensor(), {.stride = {1, 0}}),
                    Catch::Contains("conv2d: stride must be positive, got [1,0]"));
  CHECK_THROWS_AS(F::conv2d(x, w, Tensor(), {.stride = 0}), ValueError);
  CHECK_THROWS_WITH(F::conv2d(x, w, Tensor(), {.dilation = 0}), Catch::Contains("conv2d: dilation must be positive"));
  CHECK_THROWS_WITH(F::conv2d(x, w, Tensor(), {.padding = {-1, 0}}),
                    Catch::Contains("conv2d: padding must be non-negative, got [-1,0]"));
  CHECK_THROWS_AS(F::conv2d(x, w, Tensor(), {.padding = -1}), ValueError);
  CHECK_THROWS_WITH(F::conv2d(x, w, Tensor(), {.groups = 0}), Catch::Contains("conv2d: groups must be positive"));
  CHECK_THROWS_WITH(F::conv2d(x, zeros({5, 1, 3, 3}), Tensor(), {.groups = 3}),
                    Catch::Contains("not divisible by groups=3"));
  CHECK_THROWS_WITH(F::conv2d(x, w, zeros({3})), Catch::Contains("conv2d: bias [3] does not fit weight [4,3,3,3]"));
  CHECK_THROWS_AS(F::conv2d(x, w, zeros({3})), ShapeError);
  CHECK_THROWS_WITH(F::conv2d(x, w, zeros({4}), {.bias = false}), Catch::Contains("options.bias is false"));
  CHECK_THROWS_WITH(F::conv2d(x, zeros({4, 3, 3, 3}, {.dtype = Float64})),
                    Catch::Contains("conv2d: input, weight and bias must share one floating dtype, got float"));
  CHECK_THROWS_AS(F::conv2d(zeros({2, 3, 8, 8}, {.dtype = Int64}), zeros({4, 3, 3, 3}, {.dtype = Int64})), DTypeError);
  CHECK_THROWS_AS(F::conv2d(Tensor(), w), ValueError);

  CHECK_THROWS_WITH(nn::Conv2d(4, 6, 3, {.groups = 4}), Catch::Contains("Conv2d: groups=4"));
  CHECK_THROWS_AS(nn::Conv2d(0, 6, 3), ValueError);
  CHECK_THROWS_WITH(nn::Conv2d(3, 6, {3, 0}), Catch::Contains("Conv2d: kernel_size must be positive, got [3,0]"));

  CHECK_THROWS_WITH(F::max_pool2d(zeros({8, 8}), 2),
                    Catch::Contains("max_pool2d: expected input [N, C, H, W] (or unbatched [C, H, W]), got [8,8]"));
  CHECK_THROWS_AS(F::avg_pool2d(zeros({1, 1, 1, 8, 8}), 2), ShapeError);
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 1, 3, 3}), 4),
                    Catch::Contains("max_pool2d: kernel [4,4] is larger than the padded input [3,3] of input [1,1,3,3]"));
  CHECK_THROWS_WITH(F::avg_pool2d(zeros({1, 1, 3, 3}), {2, 5}),
                    Catch::Contains("avg_pool2d: kernel [2,5] is larger than the padded input [3,3]"));
  CHECK_THROWS_WITH(F::max_pool2d(x, 3, {.padding = 2}),
                    Catch::Contains("max_pool2d: padding [2,2] must be at most half the kernel size [3,3]"));
  CHECK_THROWS_AS(F::avg_pool2d(x, 2, {.padding = 2}), ValueError);
  CHECK_THROWS_WITH(F::max_pool2d(x, 2, {.stride = {0, 1}}), Catch::Contains("max_pool2d: stride must be positive"));
  CHECK_THROWS_WITH(F::avg_pool2d(x, 0), Catch::Contains("avg_pool2d: kernel size must be positive, got [0,0]"));
  CHECK_THROWS_WITH(F::max_pool2d(x, 2, {.dilation = 0}), Catch::Contains("max_pool2d: dilation must be positive"));
  CHECK_THROWS_WITH(F::avg_pool2d(x, 2, {.padding = -1}), Catch::Contains("avg_pool2d: padding must be non-negative"));
  CHECK_THROWS_AS(F::max_pool2d(zeros({1, 1, 4, 4}, {.dtype = Int64}), 2), DTypeError);
}

TEST_CASE("nn conv: index_select and index_add agree with serial loops on large (threaded) work",
          "[nn][conv][index]") {
  // Sizes past the parallel grain exercise the split loops of backends/cpu/index.cpp, for the
  // single-element gather (inner == 1) of each element size and for wide rows.
  std::mt19937_64 rng(8);
  const int64_t outer = 70, n_in = 900, n_idx = 1500;
  std::uniform_int_distribution<int64_t> pick(0, n_in - 1);
  std::vector<int64_t> idx(n_idx);
  for (auto& i : idx) i = pick(rng);
  Tensor index = tensor(idx, {}, {.dtype = Int64});
  std::vector<double> xv(static_cast<std::size_t>(outer * n_in));
  for (std::size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<double>(static_cast<int64_t>(i) % 1009 - 500);
  std::vector<double> expected(static_cast<std::size_t>(outer * n_idx));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j) expected[o * n_idx + j] = xv[o * n_in + idx[j]];
  for (DType dt : {Float32, Float64, Int64}) {
    INFO("dtype " << dtype_name(dt));
    Tensor x = f64(xv, {outer, n_in}).to(dt);
    require_values(index_select(x, 1, index), expected);
  }
  Tensor bools = f64(xv, {outer, n_in}) > 0.0;
  std::vector<double> expected_bool(expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected_bool[i] = expected[i] > 0.0 ? 1.0 : 0.0;
  require_values(index_select(bools, 1, index), expected_bool);

  // Wide rows (inner > 1) along dim 0, and the scatter-add back (index_select's gradient),
  // with repeated indices landing on the same rows.
  const int64_t rows = 300, inner = 200;
  std::vector<int64_t> ridx(400);
  std::uniform_int_distribution<int64_t> pick_row(0, rows - 1);
  for (auto& i : ridx) i = pick_row(rng);
  Tensor rindex = tensor(ridx, {}, {.dtype = Int64});
  Tensor m = leaf(std::vector<double>(static_cast<std::size_t>(rows * inner), 1.0), {rows, inner});
  std::vector<double> gv(static_cast<std::size_t>(400 * inner));
  for (std::size_t i = 0; i < gv.size(); ++i) gv[i] = static_cast<double>(i % 13);
  index_select(m, 0, rindex).backward(f64(gv, {400, inner}));
  std::vector<double> gexp(static_cast<std::size_t>(rows * inner), 0.0);
  for (int64_t j = 0; j < 400; ++j)
    for (int64_t i = 0; i < inner; ++i) gexp[ridx[j] * inner + i] += gv[j * inner + i];
  require_values(m.grad(), gexp);

  // Scatter-add with inner == 1 across many outer rows (im2col's backward).
  Tensor a = leaf(xv, {outer, n_in});
  std::vector<double> g2(static_cast<std::size_t>(outer * n_idx));
  for (std::size_t i = 0; i < g2.size(); ++i) g2[i] = static_cast<double>(i % 7);
  index_select(a, 1, index).backward(f64(g2, {outer, n_idx}));
  std::vector<double> aexp(xv.size(), 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j) aexp[o * n_in + idx[j]] += g2[o * n_idx + j];
  require_values(a.grad(), aexp);
}

// Found by tests/fuzz/fuzz_ops: padding small enough for the output's shape to pass the size
// checks, but whose im2col index (then a std::vector; now the columns) no machine holds, threw
// std::bad_alloc rather than a tapeflow::Error. (Not under ASan, which aborts on such a request unless told
// allocator_may_return_null=1, as the fuzz targets do.)
TEST_CASE("nn conv: im2col columns too large to allocate is an OutOfMemoryError naming conv2d", "[nn][conv][errors]") {
  if (tapeflow::test::kAddressSanitizer) {
    WARN("skipped: ASan aborts on impossible allocations");
    return;
  }
  const int64_t pad = int64_t{1} << 42;  // output [1, 1, 2^43 + 3, 3]: 2.6e13 windows
  try {
    nn::functional::conv2d(ones({1, 1, 3, 3}), ones({1, 1, 1, 1}), Tensor(), {.padding = nn::Size2(pad, 0)});
    FAIL("conv2d accepted an output of 2.6e13 elements");
  } catch (const OutOfMemoryError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).rfind("conv2d: the im2col columns", 0) == 0);
    CHECK(std::string(e.what()).find("cannot be allocated") != std::string::npos);
  }
}
