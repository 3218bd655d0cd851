// SPDX-License-Identifier: MIT
// The nn gradient table: linear, activations, dropout, normalisation and losses, each checked
// against float64 central differences (contiguous, each input alone, non-contiguous inputs).
// Layers are checked through their functional forms, which is what the modules run.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <vector>

#include "../grad_table.hpp"

using namespace tapeflow;
using namespace tapeflow::test;
namespace F = tapeflow::nn::functional;
using nn::Reduction;

namespace {

using V = const std::vector<Tensor>&;

Tensor classes(std::vector<int64_t> v) { return tensor(v, {}, {.dtype = Int64}); }

std::vector<GradCase> layer_rows() {
  std::vector<GradCase> rows;
  auto row = [&](GradCase c) { rows.push_back(std::move(c)); };

  row({"linear", {{2, 3}, {4, 3}, {4}}, [](V v) { return F::linear(v[0], v[1], v[2]); }});
  row({"linear no bias", {{2, 3}, {4, 3}}, [](V v) { return F::linear(v[0], v[1]); }});
  row({"linear 3-d input", {{2, 2, 3}, {4, 3}, {4}}, [](V v) { return F::linear(v[0], v[1], v[2]); }});
  row({"linear 1-d input", {{3}, {4, 3}, {4}}, [](V v) { return F::linear(v[0], v[1], v[2]); }});

  row({"leaky_relu", {{3, 4}}, [](V v) { return F::leaky_relu(v[0], 0.1); }, Domain::AwayFromZero});
  row({"gelu exact", {{3, 4}}, [](V v) { return F::gelu(v[0]); }});
  row({"gelu tanh", {{3, 4}}, [](V v) { return F::gelu(v[0], F::GeluApproximation::Tanh); }});
  // Reseeding inside the function draws the same mask on every evaluation.
  row({"dropout training", {{4, 5}}, [](V v) {
         manual_seed(7);
         return F::dropout(v[0], 0.4, true);
       }});

  auto bn = [](V v) { return F::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); };
  row({"batch_norm train [N,C]", {{5, 3}, {3}, {3}}, bn});
  row({"batch_norm train [N,C,L]", {{3, 2, 4}, {2}, {2}}, bn});
  row({"batch_norm train [N,C,H,W]", {{2, 3, 2, 3}, {3}, {3}}, bn});
  row({"batch_norm train no affine", {{4, 3}}, [](V v) {
         return F::batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
       }});
  // Constants are made on the inputs' device (or moved there): the table also runs on a GPU.
  row({"batch_norm train updating running stats", {{4, 3}, {3}, {3}}, [](V v) {
         const Options like{.dtype = Float64, .device = v[0].device()};
         Tensor rm = zeros({3}, like), rv = ones({3}, like);
         return F::batch_norm(v[0], rm, rv, v[1], v[2], true, 0.1);
       }});
  row({"batch_norm eval", {{4, 3}, {3}, {3}}, [](V v) {
         Tensor rm = tensor({0.5, -0.2, 0.1}, {}, {.dtype = Float64, .device = v[0].device()});
         Tensor rv = tensor({1.5, 0.7, 2.0}, {}, {.dtype = Float64, .device = v[0].device()});
         return F::batch_norm(v[0], rm, rv, v[1], v[2], false);
       }});
  row({"layer_norm last dim", {{2, 3, 4}, {4}, {4}}, [](V v) { return F::layer_norm(v[0], {4}, v[1], v[2]); }});
  row({"layer_norm last two dims", {{2, 3, 4}, {3, 4}, {3, 4}},
       [](V v) { return F::layer_norm(v[0], {3, 4}, v[1], v[2]); }});
  row({"layer_norm no affine", {{3, 5}}, [](V v) { return F::layer_norm(v[0], {5}); }});

  {
    Tensor t = classes({1, 0, 4, 2});
    row({"cross_entropy label_smoothing", {{4, 5}}, [t](V v) {
           return F::cross_entropy(v[0], t.to(v[0].device()), {.label_smoothing = 0.2});
         }});
    row({"cross_entropy reduction none", {{4, 5}}, [t](V v) {
           return F::cross_entropy(v[0], t.to(v[0].device()), {.reduction = Reduction::None});
         }});
    row({"cross_entropy reduction sum smoothing", {{4, 5}}, [t](V v) {
           return F::cross_entropy(v[0], t.to(v[0].device()), {.reduction = Reduction::Sum, .label_smoothing = 0.1});
         }});
    row({"nll_loss", {{4, 5}}, [t](V v) { return F::nll_loss(F::log_softmax(v[0], 1), t.to(v[0].device())); }});
    row({"nll_loss reduction none", {{4, 5}}, [t](V v) {
           return F::nll_loss(v[0], t.to(v[0].device()), {.reduction = Reduction::None});
         }});
    Tensor same = classes({2, 2, 2, 2});
    row({"nll_loss repeated class sum", {{4, 5}}, [same](V v) {
           return F::nll_loss(v[0], same.to(v[0].device()), {.reduction = Reduction::Sum});
         }});
  }
  row({"mse_loss none", {{3, 4}, {3, 4}}, [](V v) { return F::mse_loss(v[0], v[1], {.reduction = Reduction::None}); }});
  row({"mse_loss sum broadcast", {{3, 4}, {4}}, [](V v) { return F::mse_loss(v[0], v[1], {.reduction = Reduction::Sum}); }});
  row({"l1_loss", {{3, 4}, {3, 4}}, [](V v) { return F::l1_loss(v[0], v[1]); }});
  row({"l1_loss none", {{3, 4}, {3, 4}}, [](V v) { return F::l1_loss(v[0], v[1], {.reduction = Reduction::None}); }});
  {
    Tensor y = tensor({1.0, 0.0, 0.0, 1.0, 1.0, 0.0}, {2, 3}, {.dtype = Float64});
    row({"binary_cross_entropy", {{2, 3}}, [y](V v) {
           return F::binary_cross_entropy(sigmoid(v[0]), y.to(v[0].device()));
         }});
    row({"binary_cross_entropy_with_logits", {{2, 3}}, [y](V v) {
           return F::binary_cross_entropy_with_logits(v[0], y.to(v[0].device()));
         }});
    row({"binary_cross_entropy_with_logits large logits", {{2, 3}}, [y](V v) {
           return F::binary_cross_entropy_with_logits(v[0] * 20.0, y.to(v[0].device()), {.reduction = Reduction::None});
         }});
  }
  row({"binary_cross_entropy_with_logits soft targets", {{2, 3}, {2, 3}}, [](V v) {
         return F::binary_cross_entropy_with_logits(v[0], sigmoid(v[1]), {.reduction = Reduction::Sum});
       }});

  row({"mlp linear-gelu-layer_norm-linear", {{2, 3}, {4, 3}, {4}, {2, 4}}, [](V v) {
         Tensor h = F::layer_norm(F::gelu(F::linear(v[0], v[1], v[2])), {4});
         return F::linear(h, v[3]);
       }});
  return rows;
}

}  // namespace

TEST_CASE("nn: every layer's gradient matches central differences", "[nn][gradcheck]") {
  const auto rows = layer_rows();
  REQUIRE(rows.size() > 30);
  check_gradient_rows(rows, 31337);
}

TEST_CASE("nn: every layer's gradient matches central differences on CUDA", "[nn][gradcheck][cuda]") {
  check_gradient_rows_on_cuda(layer_rows(), 31337, "the nn layer gradient table");
}

TEST_CASE("nn: second derivatives of layers match central differences", "[nn][gradcheck]") {
  std::mt19937_64 rng(11);
  const std::vector<std::pair<const char*, Fn>> rows = {
      {"gelu", [](V v) { return F::gelu(v[0]); }},
      {"layer_norm", [](V v) { return F::layer_norm(v[0], {4}); }},
      {"batch_norm train", [](V v) { return F::batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }},
      {"binary_cross_entropy_with_logits",
       [](V v) { return F::binary_cross_entropy_with_logits(v[0], full({3, 4}, 0.3, {.dtype = Float64})); }},
      {"cross_entropy label_smoothing",
       [](V v) { return F::cross_entropy(v[0], classes({0, 3, 1}), {.label_smoothing = 0.1}); }},
  };
  for (const auto& [name, fn] : rows) {
    INFO("row: " << name);
    Tensor x = table::contiguous_input(table::draw({3, 4}, Domain::Any, rng), {3, 4}).requires_grad_();
    bool ok = false;
    CHECK_NOTHROW(ok = gradgradcheck(fn, {x}));
    CHECK(ok);
  }
}

TEST_CASE("nn: the gradient table catches a wrong layer gradient", "[nn][gradcheck]") {
  // leaky_relu with its slope applied on the wrong side has a different gradient; a table
  // that could not tell them apart would be worthless.
  Tensor x = tensor({-1.5, -0.5, 0.7, 1.2}, {}, {.dtype = Float64}).requires_grad_();
  Fn right = [](V v) { return F::leaky_relu(v[0], 0.1); };
  Fn wrong = [](V v) {
    Tensor y = F::leaky_relu(v[0], 0.1);
    Tensor fake = where(v[0] > 0.0, v[0] * 0.1, v[0]);  // same values...
    return y.detach() + (fake - fake.detach());         // ...but the gradient of `fake`
  };
  CHECK(gradcheck(right, {x}));
  CHECK_THROWS_AS(gradcheck(wrong, {x}), AutogradError);
}
