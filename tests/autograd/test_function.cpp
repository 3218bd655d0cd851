// SPDX-License-Identifier: MIT
// Custom differentiable ops (autograd/function.hpp).
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include "../helpers.hpp"

#include <string>
#include <vector>

using namespace tapeflow;
using tapeflow::test::f64;
using tapeflow::test::leaf;
using tapeflow::test::values;
using tapeflow::test::with_create_graph;

namespace {


void check_close(const std::vector<double>& got, const std::vector<double>& want, double margin = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(margin));
  }
}

bool g_forward_was_recording = true;

// y = x^3, dy/dx = 3x^2; backward uses differentiable ops, so it can be differentiated again.
struct Cube : Function<Cube> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& x) {
    g_forward_was_recording = is_grad_enabled();
    ctx.save_for_backward({x});
    return x * x * x;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) {
    Tensor x = ctx.saved()[0];
    return {gy * 3.0 * x * x};
  }
};

// y = a * b + scale * a, recording which inputs backward was asked for.
bool g_needs[2] = {false, false};
int g_scaled_mul_backward_calls = 0;
struct ScaledMul : Function<ScaledMul> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& a, const Tensor& b, double scale) {
    ctx.save_for_backward({a, b, scalar_tensor(scale, {.dtype = Float64})});
    return a * b + a * scale;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) {
    ++g_scaled_mul_backward_calls;
    g_needs[0] = ctx.needs_input_grad(0);
    g_needs[1] = ctx.needs_input_grad(1);
    auto s = ctx.saved();
    Tensor ga, gb;
    if (ctx.needs_input_grad(0)) ga = gy * (s[1] + s[2]);
    if (ctx.needs_input_grad(1)) gb = gy * s[0];
    return {ga, gb};
  }
};

}  // namespace

TEST_CASE("function: custom cube gives the same gradient as x*x*x", "[autograd][function]") {
  const std::vector<double> xs = {1.5, -2.0, 0.25, 3.0};
  Tensor x1 = leaf(xs);
  Tensor x2 = leaf(xs);
  g_forward_was_recording = true;
  Tensor y1 = Cube::apply(x1);
  CHECK_FALSE(g_forward_was_recording);  // forward runs without recording
  CHECK(y1.requires_grad());
  CHECK_FALSE(y1.is_leaf());
  CHECK(values(y1) == values(x1 * x1 * x1));

  (y1 * f64({1.0, 2.0, 3.0, 4.0})).sum().backward();
  (x2 * x2 * x2 * f64({1.0, 2.0, 3.0, 4.0})).sum().backward();
  check_close(values(x1.grad()), values(x2.grad()));
  check_close(values(x1.grad()), {1 * 3 * 2.25, 2 * 3 * 4.0, 3 * 3 * 0.0625, 4 * 3 * 9.0});

  // Passes the numeric check too.
  bool ok = false;
  CHECK_NOTHROW(ok = gradcheck([](const std::vector<Tensor>& v) { return Cube::apply(v[0]); },
                               {leaf(xs)}));
  CHECK(ok);
}

TEST_CASE("function: a custom op's result does not require grad without grad inputs",
          "[autograd][function]") {
  Tensor x = f64({1.0, 2.0});
  Tensor y = Cube::apply(x);
  CHECK_FALSE(y.requires_grad());
  CHECK(values(y) == std::vector<double>{1.0, 8.0});
  {
    NoGradGuard off;
    Tensor z = Cube::apply(leaf({1.0}));
    CHECK_FALSE(z.requires_grad());
  }
}

TEST_CASE("function: needs_input_grad reports which inputs want a gradient",
          "[autograd][function]") {
  SECTION("only a") {
    Tensor a = leaf({1.0, 2.0});
    Tensor b = f64({3.0, 5.0});
    g_needs[0] = g_needs[1] = true;
    ScaledMul::apply(a, b, 0.5).sum().backward();
    CHECK(g_needs[0]);
    CHECK_FALSE(g_needs[1]);
    CHECK(values(a.grad()) == std::vector<double>{3.5, 5.5});
  }
  SECTION("only b") {
    Tensor a = f64({1.0, 2.0});
    Tensor b = leaf({3.0, 5.0});
    g_needs[0] = g_needs[1] = true;
    ScaledMul::apply(a, b, 0.5).sum().backward();
    CHECK_FALSE(g_needs[0]);
    CHECK(g_needs[1]);
    CHECK(values(b.grad()) == std::vector<double>{1.0, 2.0});
  }
  SECTION("both, through gradcheck") {
    bool ok = false;
    CHECK_NOTHROW(ok = gradcheck(
                      [](const std::vector<Tensor>& v) { return ScaledMul::apply(v[0], v[1], -1.5); },
                      {leaf({0.5, -1.0, 2.0}), leaf({1.5, 0.3, -0.7})}));
    CHECK(ok);
    CHECK(g_needs[0]);
    CHECK(g_needs[1]);
  }
}

TEST_CASE("function: double backward through a custom Function", "[autograd][function]") {
  const std::vector<double> xs = {1.0, -2.0, 0.5};
  Tensor x = leaf(xs);
  Tensor y = Cube::apply(x).sum();
  auto g = grad({y}, {x}, with_create_graph());
  REQUIRE(g.size() == 1);
  check_close(values(g[0]), {3.0, 12.0, 0.75});
  CHECK(g[0].requires_grad());
  auto gg = grad({g[0].sum()}, {x});
  check_close(values(gg[0]), {6.0, -12.0, 3.0});

  bool ok = false;
  CHECK_NOTHROW(ok = gradgradcheck([](const std::vector<Tensor>& v) { return Cube::apply(v[0]); },
                                   {leaf(xs)}));
  CHECK(ok);
}

TEST_CASE("function: custom ops compose with built-in ops and replay once", "[autograd][function]") {
  Tensor x = leaf({2.0});
  g_scaled_mul_backward_calls = 0;
  // d/dx [ (x*x + 2x) * 3 ] with both factors x = 6x + 6.
  Tensor y = (ScaledMul::apply(x, x, 2.0) * 3.0).sum();
  y.backward();
  CHECK(g_scaled_mul_backward_calls == 1);
  check_close(values(x.grad()), {18.0});
}

TEST_CASE("function: in-place change of a tensor saved by a custom op is caught",
          "[autograd][function]") {
  Tensor a = leaf({1.0, 2.0});
  Tensor b = f64({3.0, 5.0});
  Tensor y = ScaledMul::apply(a, b, 1.0).sum();
  b.mul_(2.0);
  CHECK_THROWS_AS(y.backward(), AutogradError);
}
