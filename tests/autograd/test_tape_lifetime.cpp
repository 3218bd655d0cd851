// SPDX-License-Identifier: MIT
// Tape lifetime: every entry the tape records is freed, counted with live_tape_entries().
// Entries are owned by the tensors they produced (LibTorch's design), so "freed" has two steps:
// backward without retain_graph frees the tensors an entry saved at once; the entries themselves
// go with the last result that can reach them. Checked after backward (with and without
// retain_graph), grad(), exceptions thrown in the middle of a forward or a backward, results
// dropped unused, GradientTape scopes, and double backward. These tests also run under
// AddressSanitizer/LeakSanitizer, which reports anything they leave behind.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "../helpers.hpp"

using namespace tapeflow;
using tapeflow::test::f64;
using tapeflow::test::leaf;
using tapeflow::test::values;

// Custom Functions that fail, at global scope so that their names print plainly.
// Throws in forward, after having built intermediate results.
struct ThrowsInForward : Function<ThrowsInForward> {
  static Tensor forward(FunctionCtx& ctx, const Tensor& x) {
    Tensor partial = x * x;
    ctx.save_for_backward({x, partial});
    throw ValueError("ThrowsInForward: refused");
  }
  static std::vector<Tensor> backward(FunctionCtx&, const Tensor& g) { return {g}; }
};
// y = 2x whose backward throws while `armed` (then behaves).
struct ThrowsInBackward : Function<ThrowsInBackward> {
  static inline bool armed = true;
  static Tensor forward(FunctionCtx& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * 2.0;
  }
  static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& g) {
    Tensor x = ctx.saved()[0];  // holds a saved tensor while it throws
    if (armed) throw ValueError("ThrowsInBackward: refused");
    return {g * 2.0};
  }
};

namespace {

/// Entries recorded by one expression: the live count it adds while its result is held.
std::size_t entries_of(const std::function<Tensor()>& f) {
  const std::size_t before = live_tape_entries();
  Tensor y = f();
  return live_tape_entries() - before;
}

}  // namespace

TEST_CASE("tape lifetime: backward without retain_graph frees saved tensors, the result frees the entries",
          "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  {
    Tensor x = leaf({1.0, 2.0, 3.0});
    Tensor a = x * 2.0;                                     // entry 1
    std::weak_ptr<detail::TensorImpl> saved = a.impl_ptr();  // a is saved by a * a
    Tensor y = (a * a).sum();                               // entries 2, 3
    a = Tensor();
    CHECK(live_tape_entries() == baseline + 3);
    CHECK_FALSE(saved.expired());  // only the tape holds a now
    y.backward();
    CHECK(saved.expired());  // released by backward, while y (and its entries) live on
    CHECK(live_tape_entries() == baseline + 3);
    CHECK(values(x.grad()) == std::vector<double>{8.0, 16.0, 24.0});
    CHECK_THROWS_AS(y.backward(), AutogradError);
  }
  CHECK(live_tape_entries() == baseline);
}

TEST_CASE("tape lifetime: retain_graph keeps saved tensors until the last backward or the result",
          "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  std::weak_ptr<detail::TensorImpl> saved;
  {
    Tensor x = leaf({1.0, -1.0});
    Tensor a = x.exp();
    saved = a.impl_ptr();
    Tensor y = (a * a).sum();
    a = Tensor();
    y.backward(Tensor(), true);
    CHECK_FALSE(saved.expired());
    y.backward(Tensor(), true);
    CHECK_FALSE(saved.expired());
    y.backward();  // the last one frees
    CHECK(saved.expired());
    CHECK(live_tape_entries() == baseline + 3);
  }
  CHECK(live_tape_entries() == baseline);
  {
    // Retained and never consumed: the result's death frees everything.
    Tensor x = leaf({1.0, -1.0});
    Tensor a = x.exp();
    saved = a.impl_ptr();
    Tensor y = (a * a).sum();
    a = Tensor();
    y.backward(Tensor(), true);
  }
  CHECK(saved.expired());
  CHECK(live_tape_entries() == baseline);
}

TEST_CASE("tape lifetime: grad() frees like backward, and its results hold no tape",
          "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  Tensor x = leaf({0.5, 1.5});
  std::vector<Tensor> g;
  {
    Tensor y = (x * x * x).sum();
    g = grad({y}, {x});
  }
  CHECK(live_tape_entries() == baseline);
  CHECK_FALSE(g[0].requires_grad());
  {
    Tensor y = (x.tanh() * x).sum();
    g = grad({y}, {x}, {.retain_graph = true});
    g = grad({y}, {x}, {.retain_graph = true});
    g = grad({y}, {x});
    CHECK_THROWS_AS(grad({y}, {x}), AutogradError);
  }
  CHECK(live_tape_entries() == baseline);
  {
    // An unused input refused at the end of the pass: the pass's graph still goes with y.
    Tensor u = leaf({1.0});
    Tensor y = (x * 3.0).sum();
    CHECK_THROWS_AS(grad({y}, {x, u}), AutogradError);
  }
  CHECK(live_tape_entries() == baseline);
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("tape lifetime: results dropped without backward free their entries", "[autograd][lifetime]") {
  manual_seed(3);
  nn::Sequential model(nn::Linear(4, 8), nn::Tanh(), nn::Linear(8, 3));
  Tensor x = randn({5, 4});
  Tensor t = tensor({0, 2, 1, 1, 0});
  const std::size_t baseline = live_tape_entries();
  const std::size_t per_pass = entries_of([&] { return cross_entropy(model(x), t); });
  CHECK(per_pass >= 5);
  CHECK(live_tape_entries() == baseline);
  std::size_t peak = baseline;
  for (int i = 0; i < 5000; ++i) {
    Tensor loss = cross_entropy(model(x), t);
    peak = std::max(peak, live_tape_entries());
  }
  CHECK(peak == baseline + per_pass);  // one pass alive at a time, never an accumulation
  CHECK(live_tape_entries() == baseline);
  // Partly consumed graphs too: half the results go through backward, half are dropped.
  for (int i = 0; i < 1000; ++i) {
    Tensor loss = cross_entropy(model(x), t);
    if (i % 2) loss.backward();
  }
  model.zero_grad();
  CHECK(live_tape_entries() == baseline);
}

TEST_CASE("tape lifetime: a forward that throws part way leaves nothing recorded behind",
          "[autograd][lifetime]") {
  manual_seed(4);
  // The third layer expects 5 features and gets 8: ShapeError after two recorded layers.
  nn::Sequential model(nn::Linear(4, 8), nn::ReLU(), nn::Linear(5, 2));
  Tensor x = randn({3, 4});
  const std::size_t baseline = live_tape_entries();
  for (int i = 0; i < 1000; ++i) CHECK_THROWS_AS(model(x), ShapeError);
  CHECK(live_tape_entries() == baseline);
  CHECK(NameScope::current().empty());  // the layers' scopes unwound
  CHECK(is_grad_enabled());

  // An op throwing in the middle of an expression whose earlier parts recorded.
  Tensor w = leaf({1.0, 2.0, 3.0});
  for (int i = 0; i < 100; ++i) {
    CHECK_THROWS_AS(matmul((w * 2.0).exp().reshape({3, 1}), (w + 1.0).reshape({1, 3}).t()), ShapeError);
    CHECK_THROWS_AS(concat({w.exp(), (w * w).reshape({1, 3})}, 0), ShapeError);
  }
  CHECK(live_tape_entries() == baseline);
  // And the tape still works.
  (w * w).sum().backward();
  CHECK(values(w.grad()) == std::vector<double>{2.0, 4.0, 6.0});
  CHECK(live_tape_entries() == baseline);
}

TEST_CASE("tape lifetime: custom Functions that throw in forward or in backward", "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  Tensor x = leaf({1.0, 2.0});
  SECTION("forward") {
    for (int i = 0; i < 100; ++i) CHECK_THROWS_AS(ThrowsInForward::apply(x.exp()), ValueError);
    CHECK(live_tape_entries() == baseline);
    CHECK(is_grad_enabled());  // forward ran under a no-grad scope that unwound
  }
  SECTION("backward") {
    ThrowsInBackward::armed = true;
    std::weak_ptr<detail::TensorImpl> saved;
    {
      Tensor a = x.exp();
      saved = a.impl_ptr();
      Tensor y = (ThrowsInBackward::apply(a) * x).sum();
      a = Tensor();
      CHECK_THROWS_AS(y.backward(Tensor(), true), ValueError);
      CHECK_FALSE(x.grad().defined());  // no leaf is half updated by a failed pass
      CHECK(is_grad_enabled());
      // The pass left no scratch behind: a retry gives the exact gradient, counted once.
      ThrowsInBackward::armed = false;
      y.backward();
      // y = Σ 2eˣ·x, dy/dx = 2eˣ(x + 1)
      const std::vector<double> ex = values(x.exp()), g = values(x.grad());
      CHECK(g[0] == Approx(2.0 * ex[0] * 2.0));
      CHECK(g[1] == Approx(2.0 * ex[1] * 3.0));
    }
    CHECK(saved.expired());
    CHECK(live_tape_entries() == baseline);
  }
}

TEST_CASE("tape lifetime: a backward that fails (anomaly, in-place change) frees everything with its result",
          "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  Tensor x = leaf({0.0, 1.0});
  {
    AnomalyGuard anomaly;
    Tensor y = (sqrt(x) * 3.0).sum();  // d sqrt at 0 is inf
    CHECK_THROWS_AS(y.backward(), AutogradError);
  }
  CHECK(live_tape_entries() == baseline);
  {
    Tensor c = f64({1.0, 2.0});
    Tensor y = (x * c).exp().sum();
    c.add_(1.0);  // c was saved by x * c
    CHECK_THROWS_AS(y.backward(), AutogradError);
  }
  CHECK(live_tape_entries() == baseline);
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(is_anomaly_enabled());
}

TEST_CASE("tape lifetime: GradientTape scopes own nothing; their results do", "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  Tensor p = f64({1.0, 2.0});
  {
    GradientTape tape;
    tape.watch(p);
    Tensor y = (p * p).exp().sum();
    CHECK(live_tape_entries() > baseline);
  }  // destroyed without gradient()
  CHECK(live_tape_entries() == baseline);
  CHECK_FALSE(p.requires_grad());  // the watch ended with the tape

  Tensor kept;
  {
    GradientTape tape;
    tape.watch(p);
    kept = (p * 3.0).sum();
  }
  CHECK(live_tape_entries() == baseline + 2);  // alive while the result is
  kept = Tensor();
  CHECK(live_tape_entries() == baseline);

  {
    // Nested tapes for a second derivative, and a persistent tape asked twice.
    Tensor x = leaf({0.7});
    GradientTape outer;
    Tensor g;
    {
      GradientTape inner;
      Tensor y = x * x * x;
      g = inner.gradient(y, x);
    }
    Tensor gg = outer.gradient(g, x);
    CHECK(values(gg)[0] == Approx(6 * 0.7));
    GradientTape persistent(true);
    Tensor z = (x * x).sum();
    persistent.gradient(z, x);
    persistent.gradient(z, x);
  }
  CHECK(live_tape_entries() == baseline);
}

TEST_CASE("tape lifetime: double backward frees everything once its results are dropped",
          "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  Tensor x = leaf({0.3, -0.8, 1.2});
  for (int i = 0; i < 200; ++i) {
    Tensor y = (x.tanh() * x * x).sum();
    std::vector<Tensor> g = grad({y}, {x}, {.create_graph = true});
    CHECK(g[0].requires_grad());
    std::vector<Tensor> gg = grad({(g[0] * g[0]).sum()}, {x}, {.create_graph = true});
    std::vector<Tensor> ggg = grad({gg[0].sum()}, {x});
  }
  CHECK(live_tape_entries() == baseline);
  {
    // backward(create_graph) into .grad(), then a backward through that .grad().
    Tensor y = (x * x * x).sum();
    y.backward(Tensor(), std::nullopt, true);
    Tensor gx = x.grad();
    x.set_grad(Tensor());  // see the next test case: the graph in .grad() must not stay there
    gx.sum().backward();
    const std::vector<double> got = values(x.grad()), want = values(x * 6.0);
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]));
    x.set_grad(Tensor());
  }
  CHECK(live_tape_entries() == baseline);
}

// backward(create_graph = true) leaves x.grad() holding a graph that saved x: a reference cycle
// x -> x.grad() -> its entries -> x, as in PyTorch, which documents it. Breaking it inside the
// engine is not sound: those entries need x itself (not a detached copy) for the gradient of
// the gradient. The remedy is PyTorch's: reset the gradient (set_grad(Tensor()), zero_grad()
// of a module or optimizer), or use grad(), which returns the gradient instead of storing it.
TEST_CASE("tape lifetime: backward(create_graph) keeps a cycle through .grad() until the grad is reset",
          "[autograd][lifetime]") {
  const std::size_t baseline = live_tape_entries();
  SECTION("set_grad(Tensor()) frees it, even after the last handle to x is gone") {
    std::weak_ptr<detail::TensorImpl> weak;
    {
      Tensor x = leaf({2.0});
      weak = x.impl_ptr();
      (x * x * x).sum().backward(Tensor(), std::nullopt, true);
      CHECK(x.grad().requires_grad());
    }
    // Dropped by its owner, x lives on through its own gradient's graph: the cycle.
    REQUIRE_FALSE(weak.expired());
    CHECK(live_tape_entries() > baseline);
    Tensor(weak.lock()).set_grad(Tensor());
    CHECK(weak.expired());
    CHECK(live_tape_entries() == baseline);
  }
  SECTION("a module's zero_grad() frees it") {
    manual_seed(5);
    nn::Linear layer(3, 2);
    Tensor input = randn({4, 3});
    layer(input).pow(2.0).sum().backward(Tensor(), std::nullopt, true);
    CHECK(live_tape_entries() > baseline);
    layer.zero_grad();
    CHECK(live_tape_entries() == baseline);
  }
  SECTION("an optimizer's zero_grad() frees it") {
    Tensor w = leaf({1.0, -2.0});
    optim::SGD sgd({w}, {.lr = 0.1});
    (w * w * w).sum().backward(Tensor(), std::nullopt, true);
    Tensor penalty = w.grad().pow(2.0).sum();  // a gradient penalty, the use of create_graph
    CHECK(penalty.requires_grad());
    sgd.step();
    penalty = Tensor();
    CHECK(live_tape_entries() > baseline);
    sgd.zero_grad();
    CHECK(live_tape_entries() == baseline);
  }
  SECTION("grad(create_graph) stores nothing, so there is no cycle") {
    std::weak_ptr<detail::TensorImpl> weak;
    {
      Tensor x = leaf({2.0});
      weak = x.impl_ptr();
      std::vector<Tensor> g = grad({(x * x * x).sum()}, {x}, {.create_graph = true});
      CHECK(values(g[0]) == std::vector<double>{12.0});
    }
    CHECK(weak.expired());
    CHECK(live_tape_entries() == baseline);
  }
}
