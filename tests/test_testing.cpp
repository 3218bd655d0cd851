// SPDX-License-Identifier: MIT
// tapeflow/testing.hpp: assert_close, SeedGuard, gradcheck/gradgradcheck of modules, and the
// Catch2 matcher IsCloseTo (including the rule that it exists only when Catch2 came first).
#include <tapeflow/testing.hpp>
#if defined(TAPEFLOW_TESTING_CATCH2_MATCHER_INCLUDED)
#error "testing.hpp defined the Catch2 matcher although Catch2 was not included"
#endif

#include <catch2/catch.hpp>
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/testing.hpp>  // again, after Catch2: now the matcher part is compiled
#if !defined(TAPEFLOW_TESTING_CATCH2_MATCHER_INCLUDED)
#error "including testing.hpp after Catch2 did not define the Catch2 matcher"
#endif

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

using namespace tapeflow;
using testing::IsCloseTo;
using testing::SeedGuard;

namespace {

Tensor f64(std::vector<double> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Float64}); }

std::vector<unsigned char> raw(const Tensor& t) {
  std::vector<unsigned char> out(static_cast<std::size_t>(t.numel()) * element_size(t.dtype()));
  t.copy_to_host(out.data(), t.dtype());
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Everything about a module that gradcheck promises to leave alone.
struct ModuleState {
  std::vector<std::string> names;
  std::vector<std::vector<unsigned char>> values, grads;
  std::vector<bool> requires_grad;
  std::vector<uint32_t> versions;
  bool training;
  std::string rng;

  explicit ModuleState(const nn::Module& m) : training(m.is_training()), rng(get_rng_state()) {
    for (const auto& list : {m.named_parameters(), m.named_buffers()})
      for (const auto& [name, t] : list) {
        names.push_back(name);
        values.push_back(raw(t));
        grads.push_back(t.grad().defined() ? raw(t.grad()) : std::vector<unsigned char>{});
        requires_grad.push_back(t.requires_grad());
        versions.push_back(t.version());
      }
  }
  bool operator==(const ModuleState&) const = default;
};

// y = x², with a deliberately wrong backward (x instead of 2x).
struct WrongSquare : Function<WrongSquare> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) { return {gy * ctx.saved()[0]}; }
};

// y = x * w with the gradient for x right and the one for w wrong (x² instead of x): only a check
// that includes the parameters can tell.
struct WrongInWeight : Function<WrongInWeight> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& x, const Tensor& w) {
    ctx.save_for_backward({x, w});
    return x * w;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) {
    auto s = ctx.saved();
    return {gy * s[1], sum(gy * s[0] * s[0], {0})};
  }
};

// y = x³ whose backward is right in value but not differentiable (it uses detached values), so
// the first derivative checks out and the second does not.
struct FlatCube : Function<FlatCube> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x * x;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) {
    Tensor x = ctx.saved()[0].detach();
    return {gy * 3.0 * x * x};
  }
};

// y = x * w with both first derivatives right, but the one for w computed from a detached x: the
// mixed second derivative d²y/dx dw is lost, which only a second-order check of the parameters sees.
struct DetachedWeightGrad : Function<DetachedWeightGrad> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& x, const Tensor& w) {
    ctx.save_for_backward({x, w});
    return x * w;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) {
    auto s = ctx.saved();
    return {gy * s[1], sum(gy * s[0].detach(), {0})};
  }
};

// A user's module with a custom op inside; `op` picks which.
struct Custom : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", nn::Linear(3, 2));
  Tensor scale;
  int op;
  explicit Custom(int which) : Module("Custom"), op(which) {
    scale = register_parameter("scale", ones({2}, {.dtype = Float32}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = fc->forward(x);
    if (op == 0) return WrongSquare::apply(h);
    if (op == 1) return WrongInWeight::apply(h, scale);
    if (op == 3) return DetachedWeightGrad::apply(h, scale);
    return FlatCube::apply(h) * scale;
  }
};

// The usual shape of a user's model: layers as registered submodules.
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", nn::Linear(3, 2));
  Net() : Module("Net") {}
  Tensor forward(const Tensor& x) override { return tanh(fc->forward(x)); }
};

// Two inputs: a method other than forward.
struct TwoTower : nn::Module {
  std::shared_ptr<nn::Linear> a = register_module("a", nn::Linear(3, 2));
  std::shared_ptr<nn::Linear> b = register_module("b", nn::Linear(4, 2));
  TwoTower() : Module("TwoTower") {}
  Tensor combine(const Tensor& x, const Tensor& y) { return tanh(a->forward(x)) * b->forward(y); }
};

}  // namespace

TEST_CASE("testing: assert_close throws AssertionError carrying the report", "[testing]") {
  Tensor e = f64({1, 2, 3, 4}, {2, 2});
  Tensor a = f64({1, 2.5, 3, 4}, {2, 2});
  CHECK_NOTHROW(testing::assert_close(e.clone(), e));
  try {
    testing::assert_close(a, e);
    FAIL("assert_close did not throw");
  } catch (const testing::AssertionError& err) {
    CHECK(std::string(err.what()) == describe_mismatch(a, e));
    CHECK(contains(err.what(), "[0, 1]: actual 2.5, expected 2 (diff 0.5)"));
  }
  static_assert(std::is_base_of_v<Error, testing::AssertionError>);
  CHECK_THROWS_AS(testing::assert_close(zeros({2}), zeros({3})), Error);
  CHECK_NOTHROW(testing::assert_close(a, e, {.rtol = 0.0, .atol = 0.5}));
  CHECK(testing::allclose(a, e, 0.0, 0.5));  // re-exported
}

TEST_CASE("testing: SeedGuard seeds its scope and restores the generator exactly", "[testing]") {
  static_assert(!std::is_copy_constructible_v<SeedGuard> && !std::is_copy_assignable_v<SeedGuard>);
  // References: the stream seeded with 1, and the stream seeded with 7.
  manual_seed(1);
  const auto first = rand({4}).to_vector<float>();
  const auto second = rand({4}).to_vector<float>();
  manual_seed(7);
  const auto seven = randn({3}).to_vector<float>();

  manual_seed(1);
  CHECK(rand({4}).to_vector<float>() == first);
  const std::string before = get_rng_state();
  {
    SeedGuard guard(7);
    CHECK(randn({3}).to_vector<float>() == seven);
    {
      SeedGuard inner(7);  // nested: the same seed starts the same stream again
      CHECK(randn({3}).to_vector<float>() == seven);
    }
    CHECK(randn({3}).to_vector<float>() != seven);  // the outer stream went on
  }
  CHECK(get_rng_state() == before);
  CHECK(rand({4}).to_vector<float>() == second);  // as if the guard had never been there

  // Restored on the way out of an exception too.
  manual_seed(1);
  (void)rand({4});
  try {
    SeedGuard guard(3);
    (void)rand({100});
    throw ValueError("leaving the scope");
  } catch (const ValueError&) {
  }
  CHECK(rand({4}).to_vector<float>() == second);

  // The same seed gives the same parameters.
  std::vector<float> w1, w2;
  {
    SeedGuard guard(42);
    w1 = nn::Linear(5, 3).weight.to_vector<float>();
  }
  {
    SeedGuard guard(42);
    w2 = nn::Linear(5, 3).weight.to_vector<float>();
  }
  CHECK(w1 == w2);
}

TEST_CASE("testing: gradcheck of nn::Linear and a Sequential, inputs and parameters", "[testing]") {
  SeedGuard seed(11);
  nn::Linear fc(3, 2);
  fc.to(Float64);
  Tensor x = randn({4, 3}, {.dtype = Float64}).requires_grad_();
  CHECK(testing::gradcheck(fc, {x}));
  CHECK(testing::gradcheck(fc, {x.detach()}));  // parameters only
  CHECK(testing::gradgradcheck(fc, {x}));
  CHECK(nn::gradcheck(fc, {x}));  // the same function, from nn/

  nn::Sequential mlp(nn::Linear(3, 4), nn::Tanh(), nn::Linear(4, 2));
  mlp.to(Float64);
  CHECK(testing::gradcheck(mlp, {x}));
  CHECK(testing::gradgradcheck(mlp, {x}));

  // Frozen parameters are left out; everything else is still checked.
  mlp.named_parameters()[0].second.requires_grad_(false);
  CHECK(testing::gradcheck(mlp, {x}));
  CHECK(mlp.named_parameters()[0].second.requires_grad() == false);

  // Plain functions still go to autograd's gradcheck.
  CHECK(testing::gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]) * in[0]; }, {x}));
  CHECK(testing::gradgradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]) * in[0]; }, {x}));
}

TEST_CASE("testing: module gradcheck finds a wrong custom Function", "[testing]") {
  SeedGuard seed(12);
  Tensor x = randn({4, 3}, {.dtype = Float64}).requires_grad_();

  Custom wrong(0);
  wrong.to(Float64);
  CHECK_THROWS_AS(testing::gradcheck(wrong, {x}), AutogradError);
  // Only parameters require grad: the message names the module and the parameter.
  try {
    testing::gradcheck(wrong, {x.detach()});
    FAIL("gradcheck passed a wrong backward");
  } catch (const AutogradError& e) {
    INFO(e.what());
    CHECK(contains(e.what(), "gradcheck(Custom), checking the gradient with respect to parameter 'fc.weight' [2,3]: "));
    CHECK(contains(e.what(), "analytic"));
  }

  // Wrong only in the parameter's gradient: checking the input alone (autograd's gradcheck of
  // the forward as a function of x) passes; the module check fails on 'scale'.
  Custom weight_bug(1);
  weight_bug.to(Float64);
  CHECK(testing::gradcheck([&](const std::vector<Tensor>& in) { return weight_bug.forward(in[0]); }, {x}));
  try {
    testing::gradcheck(weight_bug, {x});
    FAIL("gradcheck passed a wrong parameter gradient");
  } catch (const AutogradError& e) {
    INFO(e.what());
    CHECK(contains(e.what(), "parameter 'scale' [2]"));
  }

  // Right first derivative, wrong second: gradcheck passes, gradgradcheck does not.
  Custom flat(2);
  flat.to(Float64);
  CHECK(testing::gradcheck(flat, {x}));
  try {
    testing::gradgradcheck(flat, {x});
    FAIL("gradgradcheck passed a backward that is not differentiable");
  } catch (const AutogradError& e) {
    INFO(e.what());
    CHECK(contains(e.what(), "gradgradcheck(Custom), checking second derivatives with respect to "));
  }

  // A mixed input-parameter second derivative lost: found because the first derivative checked
  // includes the gradients of the parameters.
  Custom mixed(3);
  mixed.to(Float64);
  CHECK(testing::gradcheck(mixed, {x}));
  CHECK(testing::gradgradcheck([&](const std::vector<Tensor>& in) { return mixed.forward(in[0]); }, {x}));
  CHECK_THROWS_AS(testing::gradgradcheck(mixed, {x}), AutogradError);
}

TEST_CASE("testing: module gradcheck refuses float32 and wrong arity with clear errors", "[testing]") {
  Net m;  // float32 parameters
  Tensor x = zeros({2, 3}, {.dtype = Float64});
  try {
    testing::gradcheck(m, {x});
    FAIL("no DTypeError");
  } catch (const DTypeError& e) {
    CHECK(std::string(e.what()) == "gradcheck: parameter 'fc.weight' is float32; call module.to(Float64) first");
  }
  CHECK_THROWS_AS(testing::gradgradcheck(m, {x}), DTypeError);
  m.to(Float64);
  try {
    testing::gradcheck(m, {zeros({2, 3})});
    FAIL("no DTypeError");
  } catch (const DTypeError& e) {
    CHECK(std::string(e.what()) == "gradcheck: input 0 is float32; pass Float64 inputs (x.to(Float64))");
  }
  CHECK_THROWS_AS(testing::gradcheck(m, {x, x}), ValueError);
  // Nothing requires grad: nothing to check.
  for (auto& [name, p] : m.named_parameters()) p.requires_grad_(false);
  CHECK_THROWS_AS(testing::gradcheck(m, {x}), AutogradError);
}

TEST_CASE("testing: module gradcheck with a callable for other signatures", "[testing]") {
  SeedGuard seed(13);
  TwoTower m;
  m.to(Float64);
  Tensor x = randn({5, 3}, {.dtype = Float64}).requires_grad_();
  Tensor y = randn({5, 4}, {.dtype = Float64}).requires_grad_();
  auto fn = [&](const std::vector<Tensor>& in) { return m.combine(in[0], in[1]); };
  CHECK(testing::gradcheck(m, fn, {x, y}));
  CHECK(testing::gradgradcheck(m, fn, {x, y}));
  CHECK_THROWS_AS(testing::gradcheck(m, {x}), Error);  // TwoTower has no one-tensor forward
}

TEST_CASE("testing: module gradcheck leaves the module exactly as it was", "[testing]") {
  SeedGuard seed(14);
  Tensor x = randn({4, 3}, {.dtype = Float64}).requires_grad_();

  // Gradients present, one parameter frozen, evaluation mode, a Dropout and a BatchNorm with
  // running statistics (buffers that every training-mode forward updates).
  nn::Sequential net(nn::Linear(3, 4), nn::BatchNorm1d(4), nn::Dropout(0.5), nn::Linear(4, 2));
  net.to(Float64);
  net.forward(x).sum().backward();
  net.named_parameters().back().second.requires_grad_(false);
  net.eval();
  const ModuleState before(net);
  CHECK(testing::gradcheck(net, {x}));
  CHECK(ModuleState(net) == before);
  CHECK(testing::gradgradcheck(net, {x}));
  CHECK(ModuleState(net) == before);

  // Training mode: BatchNorm's buffers change on every forward and Dropout draws a mask; the
  // check replays the same draws on each evaluation, and puts buffers and generator back.
  net.train();
  const ModuleState training(net);
  CHECK(testing::gradcheck(net, {x}));
  const ModuleState after(net);
  CHECK(after.names == training.names);
  CHECK(after.values == training.values);
  CHECK(after.grads == training.grads);
  CHECK(after.requires_grad == training.requires_grad);
  // Parameters keep their version counters; BatchNorm's own in-place updates of its running
  // statistics advance theirs (the values are put back; the counters cannot be).
  const std::size_t n_params = net.named_parameters().size();
  CHECK(std::vector<uint32_t>(after.versions.begin(), after.versions.begin() + n_params) ==
        std::vector<uint32_t>(training.versions.begin(), training.versions.begin() + n_params));
  CHECK(after.training == training.training);
  CHECK(after.rng == training.rng);

  // ...and after a failed check too, when it fails on the input or on a parameter.
  Custom wrong(0);
  wrong.to(Float64);
  wrong.forward(x).sum().backward();
  const ModuleState wrong_before(wrong);
  CHECK_THROWS_AS(testing::gradcheck(wrong, {x}), AutogradError);
  CHECK(ModuleState(wrong) == wrong_before);
  CHECK_THROWS_AS(testing::gradcheck(wrong, {x.detach()}), AutogradError);
  CHECK(ModuleState(wrong) == wrong_before);
  Custom flat(2);  // right first derivative, wrong second
  flat.to(Float64);
  const ModuleState flat_before(flat);
  CHECK_THROWS_AS(testing::gradgradcheck(flat, {x}), AutogradError);
  CHECK(ModuleState(flat) == flat_before);
}

TEST_CASE("testing: IsCloseTo matcher passes and explains failures", "[testing]") {
  Tensor e = f64({1, 2, 3});
  REQUIRE_THAT(f64({1, 2, 3 + 1e-9}), IsCloseTo(e));
  CHECK_THAT(f64({1, 2.25, 3}), IsCloseTo(e, {.atol = 0.5}));
  CHECK_THAT(f64({1, 2, 4}), !IsCloseTo(e));  // composes like any Catch2 matcher

  // The failure path, through Catch's matcher interface directly.
  Tensor a = f64({1, 2.5, 3});
  auto matcher = IsCloseTo(e);
  const Catch::MatcherBase<Tensor>& base = matcher;
  CHECK_FALSE(base.match(a));
  const std::string text = matcher.describe();  // public in the matcher (protected in Catch's base)
  CHECK(contains(text, "is close to the expected tensor (shape [3], float64)"));
  CHECK(contains(text, describe_mismatch(a, e)));
  CHECK(contains(text, "[1]: actual 2.5, expected 2 (diff 0.5)"));
  // Shape mismatches are explained the same way.
  CHECK_FALSE(matcher.match(f64({1, 2})));
  CHECK(contains(matcher.describe(), "shapes differ: actual [2], expected [3] (no broadcasting)"));
  CHECK(matcher.match(e.clone()));
  CHECK_FALSE(contains(matcher.describe(), "not close"));
}

namespace {
// Counts, at every forward, how many parameter elements differ from their values at the start.
struct Spy : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", nn::Linear(2, 2));
  std::vector<std::vector<double>> start;
  int most_changed = 0, calls = 0;
  Spy() : Module("Spy") {}
  void remember() {
    start.clear();
    for (const Tensor& p : parameters()) start.push_back(p.to_vector<double>());
  }
  Tensor forward(const Tensor& x) override {
    int changed = 0;
    auto ps = parameters();
    for (std::size_t k = 0; k < ps.size(); ++k) {
      auto now = ps[k].to_vector<double>();
      for (std::size_t e = 0; e < now.size(); ++e) changed += now[e] != start[k][e];
    }
    most_changed = std::max(most_changed, changed);
    ++calls;
    return tanh(fc->forward(x));
  }
};
}  // namespace

TEST_CASE("testing: module gradcheck perturbs one parameter element at a time", "[testing]") {
  SeedGuard seed(15);
  Spy spy;
  spy.to(Float64);
  spy.remember();
  Tensor x = randn({3, 2}, {.dtype = Float64}).requires_grad_();
  CHECK(testing::gradcheck(spy, {x}));
  CHECK(spy.calls > 2 * 6);        // both sides of every parameter element at least
  CHECK(spy.most_changed == 1);    // never two at once: each check starts from the module as it was
  spy.most_changed = 0;
  CHECK(testing::gradgradcheck(spy, {x}));
  CHECK(spy.most_changed == 1);
}
