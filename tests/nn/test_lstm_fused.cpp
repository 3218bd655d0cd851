// SPDX-License-Identifier: MIT
// The fused LSTM layer op (autograd/ops_lstm.cpp): its second derivatives (the backward that
// runs as differentiable ops under create_graph) and its float32 kernel against the LSTM
// equations written here in public ops, step by step. First derivatives in float64 are in
// test_recurrent.cpp's gradient table.
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/testing.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "../grad_table.hpp"

using namespace tapeflow;
using namespace tapeflow::test;
namespace F = tapeflow::nn::functional;
using nn::RecurrentWeights;

namespace {

using V = const std::vector<Tensor>&;

std::vector<Tensor> inputs_of(const std::vector<Shape>& shapes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> in;
  for (const Shape& s : shapes)
    in.push_back(table::contiguous_input(table::draw(s, Domain::Any, rng), s).requires_grad_());
  return in;
}

Tensor flat(const std::vector<Tensor>& ts) {
  std::vector<Tensor> parts;
  for (const Tensor& t : ts) parts.push_back(t.reshape({-1}));
  return concat(parts, 0);
}

/// One layer of PyTorch's LSTM equations, a step at a time, in public ops: {output, h_T, c_T}.
std::vector<Tensor> reference_layer(const Tensor& x, Tensor h, Tensor c, const RecurrentWeights& w) {
  const int64_t hs = w.weight_hh.size(1);
  std::vector<Tensor> outs;
  for (int64_t t = 0; t < x.size(0); ++t) {
    Tensor xt = x.slice(0, t, t + 1).reshape({x.size(1), x.size(2)});
    Tensor gates = matmul(xt, w.weight_ih.t()) + w.bias_ih + matmul(h, w.weight_hh.t()) + w.bias_hh;
    Tensor i = sigmoid(gates.slice(1, 0, hs)), f = sigmoid(gates.slice(1, hs, 2 * hs));
    Tensor g = tanh(gates.slice(1, 2 * hs, 3 * hs)), o = sigmoid(gates.slice(1, 3 * hs, 4 * hs));
    c = f * c + i * g;
    h = o * tanh(c);
    outs.push_back(h);
  }
  return {stack(outs, 0), h, c};
}

}  // namespace

TEST_CASE("nn lstm: second derivatives through the fused layer match central differences", "[nn][recurrent]") {
  // x [3, 2, 3], h0 and c0 [1, 2, 2], then w_ih, w_hh, b_ih, b_hh of one layer of hidden size 2.
  std::vector<Tensor> in = inputs_of({{3, 2, 3}, {1, 2, 2}, {1, 2, 2}, {8, 3}, {8, 2}, {8}, {8}}, 5);
  GradcheckFn layer = [](V v) {
    auto [out, h, c] = F::lstm(v[0], {v[1], v[2]}, {{v[3], v[4], v[5], v[6]}});
    return flat({out, h, c});
  };
  bool ok = false;
  CHECK_NOTHROW(ok = gradgradcheck(layer, in));
  CHECK(ok);

  GradcheckFn two_layers = [](V v) {
    RecurrentWeights w{v[1], v[2], v[3], v[4]};
    auto [out, h, c] = F::lstm(v[0], {}, {w, w});  // the same weights twice: gradients add up
    return flat({out, c});
  };
  std::vector<Tensor> in2 = inputs_of({{2, 2, 2}, {8, 2}, {8, 2}, {8}, {8}}, 6);
  ok = false;
  CHECK_NOTHROW(ok = gradgradcheck(two_layers, in2));
  CHECK(ok);

  GradcheckFn cell = [](V v) {
    auto [h, c] = F::lstm_cell(v[0], {v[1], v[2]}, {v[3], v[4]});  // no bias
    return flat({h, c});
  };
  std::vector<Tensor> in3 = inputs_of({{2, 3}, {2, 2}, {2, 2}, {8, 3}, {8, 2}}, 7);
  ok = false;
  CHECK_NOTHROW(ok = gradgradcheck(cell, in3));
  CHECK(ok);
}

TEST_CASE("nn lstm: the float32 kernel matches the step-by-step equations", "[nn][recurrent]") {
  manual_seed(3);
  const int64_t T = 7, B = 3, I = 5, H = 16;
  nn::LSTM lstm(I, H);
  Tensor x = randn({T, B, I}), h0 = randn({1, B, H}), c0 = randn({1, B, H});
  Tensor wy = randn({T, B, H}), wc = randn({B, H});

  auto [out, h, c] = lstm(x, {h0, c0});
  Tensor loss = sum(out * wy) + sum(c.reshape({B, H}) * wc);
  std::vector<Tensor> params = lstm.parameters();
  std::vector<Tensor> got = grad({loss}, params);

  RecurrentWeights w = lstm.all_weights()[0];
  std::vector<Tensor> want = reference_layer(x, h0.reshape({B, H}), c0.reshape({B, H}), w);
  Tensor ref_loss = sum(want[0] * wy) + sum(want[2] * wc);
  std::vector<Tensor> want_grads = grad({ref_loss}, params);

  CHECK(testing::allclose(out, want[0], 1e-5, 1e-6));
  CHECK(testing::allclose(h.reshape({B, H}), want[1], 1e-5, 1e-6));
  CHECK(testing::allclose(c.reshape({B, H}), want[2], 1e-5, 1e-6));
  for (std::size_t k = 0; k < params.size(); ++k) {
    INFO("parameter " << k);
    CHECK(testing::allclose(got[k], want_grads[k], 1e-4, 1e-5));
  }

  // Under create_graph the op's backward runs as differentiable ops instead of the kernel:
  // gradgradcheck differentiates that rule but cannot tell whether it is the right rule.
  std::vector<Tensor> inputs = params;
  inputs.push_back(h0.requires_grad_());
  inputs.push_back(c0.requires_grad_());
  auto run = [&] {
    auto [o2, h2, c2] = lstm(x, {h0, c0});
    return sum(o2 * wy) + sum(c2.reshape({B, H}) * wc);
  };
  std::vector<Tensor> fast = grad({run()}, inputs);
  std::vector<Tensor> recorded = grad({run()}, inputs, {.create_graph = true});
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    INFO("input " << k);
    CHECK(testing::allclose(recorded[k], fast[k], 1e-4, 1e-5));
  }
}

TEST_CASE("nn lstm: one tape entry per layer, whatever the sequence length", "[nn][recurrent]") {
  nn::LSTM lstm(3, 4);
  auto entries = [&](int64_t steps) {
    const std::size_t before = live_tape_entries();
    auto r = lstm(randn({steps, 2, 3}));
    return live_tape_entries() - before;
  };
  // The projection, the layer op and the views of its result: the same few for 5 or 50 steps.
  CHECK(entries(50) == entries(5));
}
