// SPDX-License-Identifier: MIT
// Embedding and the recurrent cells and layers: a gradient table over their functional forms
// (what the modules run), forward values against a plain-double implementation of PyTorch's
// equations written here, and the modules' names, shapes, options and error messages.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../grad_table.hpp"
#include "../helpers.hpp"

using namespace tapeflow;
using namespace tapeflow::test;
namespace F = tapeflow::nn::functional;
using Catch::Contains;
using nn::RecurrentWeights;

namespace {

using V = const std::vector<Tensor>&;

Tensor indices(std::vector<int64_t> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Int64}); }

/// Every result flattened into one vector, so one gradcheck covers output and final states.
Tensor flat(const std::vector<Tensor>& ts) {
  std::vector<Tensor> parts;
  for (const Tensor& t : ts) parts.push_back(t.reshape({-1}));
  return concat(parts, 0);
}

/// Input shapes of `num_layers` layers' weights (w_ih, w_hh[, b_ih, b_hh] per layer).
std::vector<Shape> layer_shapes(int64_t gates, int64_t in, int64_t hidden, int64_t num_layers, bool bias = true) {
  std::vector<Shape> s;
  for (int64_t l = 0; l < num_layers; ++l) {
    s.push_back({gates * hidden, l == 0 ? in : hidden});
    s.push_back({gates * hidden, hidden});
    if (bias) {
      s.push_back({gates * hidden});
      s.push_back({gates * hidden});
    }
  }
  return s;
}

/// The weights of layers_shapes() read back from the inputs, starting at v[first].
std::vector<RecurrentWeights> layers_from(V v, std::size_t first, int64_t num_layers, bool bias = true) {
  std::vector<RecurrentWeights> layers;
  std::size_t k = first;
  for (int64_t l = 0; l < num_layers; ++l) {
    RecurrentWeights w{v[k], v[k + 1]};
    k += 2;
    if (bias) {
      w.bias_ih = v[k], w.bias_hh = v[k + 1];
      k += 2;
    }
    layers.push_back(w);
  }
  return layers;
}

std::vector<Shape> join(std::vector<Shape> a, const std::vector<Shape>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<GradCase> recurrent_rows() {
  std::vector<GradCase> rows;
  auto row = [&](GradCase c) { rows.push_back(std::move(c)); };

  // --- embedding: w.r.t. the weight; repeated indices must accumulate ---
  {
    Tensor idx = indices({1, 3, 1, 0, 1, 4}, {2, 3});
    // The indices go to the weight's device: the table also runs on a GPU.
    row({"embedding repeated indices [2,3]", {{5, 3}},
         [idx](V v) { return F::embedding(idx.to(v[0].device()), v[0]); }});
    Tensor one = indices({2}).reshape({});
    row({"embedding 0-d index", {{4, 2}}, [one](V v) { return F::embedding(one.to(v[0].device()), v[0]); }});
  }

  // --- cells: w.r.t. input, state and every weight and bias ---
  const std::vector<Shape> rnn_w = {{4, 3}, {4, 4}, {4}, {4}};
  row({"rnn_cell tanh", join({{2, 3}, {2, 4}}, rnn_w),
       [](V v) { return F::rnn_cell(v[0], v[1], {v[2], v[3], v[4], v[5]}); }});
  // Positive inputs keep every relu active, so no gradient path is hidden behind a zero.
  row({"rnn_cell relu", join({{2, 3}, {2, 4}}, rnn_w),
       [](V v) { return F::rnn_cell(v[0], v[1], {v[2], v[3], v[4], v[5]}, nn::RNNNonlinearity::ReLU); },
       Domain::Positive});
  row({"rnn_cell no bias, zero state", {{2, 3}, {4, 3}, {4, 4}},
       [](V v) { return F::rnn_cell(v[0], Tensor(), {v[1], v[2]}); }});
  row({"lstm_cell", {{2, 3}, {2, 2}, {2, 2}, {8, 3}, {8, 2}, {8}, {8}}, [](V v) {
         auto [h, c] = F::lstm_cell(v[0], {v[1], v[2]}, {v[3], v[4], v[5], v[6]});
         return flat({h, c});
       }});
  row({"lstm_cell unbatched, zero state", {{3}, {8, 3}, {8, 2}, {8}, {8}}, [](V v) {
         auto [h, c] = F::lstm_cell(v[0], {}, {v[1], v[2], v[3], v[4]});
         return flat({h, c});
       }});
  row({"gru_cell", {{2, 3}, {2, 2}, {6, 3}, {6, 2}, {6}, {6}},
       [](V v) { return F::gru_cell(v[0], v[1], {v[2], v[3], v[4], v[5]}); }});
  row({"gru_cell transposed input", {{3, 2}, {2, 2}, {6, 3}, {6, 2}, {6}, {6}},
       [](V v) { return F::gru_cell(v[0].t(), v[1], {v[2], v[3], v[4], v[5]}); }});

  // --- layers over a short sequence: T=3, B=2, input 3, hidden 2 ---
  row({"rnn 2 layers with h0", join({{3, 2, 3}, {2, 2, 2}}, layer_shapes(1, 3, 2, 2)), [](V v) {
         auto [out, h] = F::rnn(v[0], v[1], layers_from(v, 2, 2));
         return flat({out, h});
       }});
  row({"rnn relu batch_first zero state", join({{2, 3, 3}}, layer_shapes(1, 3, 2, 1)), [](V v) {
         auto [out, h] = F::rnn(v[0], Tensor(), layers_from(v, 1, 1),
                                {.batch_first = true, .nonlinearity = nn::RNNNonlinearity::ReLU});
         return flat({out, h});
       },
       Domain::Positive});
  row({"lstm 2 layers with h0 c0", join({{3, 2, 3}, {2, 2, 2}, {2, 2, 2}}, layer_shapes(4, 3, 2, 2)), [](V v) {
         auto [out, h, c] = F::lstm(v[0], {v[1], v[2]}, layers_from(v, 3, 2));
         return flat({out, h, c});
       }});
  row({"lstm 2 layers batch_first zero state", join({{2, 3, 3}}, layer_shapes(4, 3, 2, 2)), [](V v) {
         auto [out, h, c] = F::lstm(v[0], {}, layers_from(v, 1, 2), {.batch_first = true});
         return flat({out, h, c});
       }});
  // [B, T, I] transposed to a non-contiguous time-major input.
  row({"lstm transposed input, no bias", join({{2, 3, 3}, {1, 2, 2}, {1, 2, 2}}, layer_shapes(4, 3, 2, 1, false)),
       [](V v) {
         auto [out, h, c] = F::lstm(v[0].transpose(0, 1), {v[1], v[2]}, layers_from(v, 3, 1, false));
         return flat({out, h, c});
       }});
  row({"lstm unbatched", join({{3, 3}, {1, 2}, {1, 2}}, layer_shapes(4, 3, 2, 1)), [](V v) {
         auto [out, h, c] = F::lstm(v[0], {v[1], v[2]}, layers_from(v, 3, 1));
         return flat({out, h, c});
       }});
  // Reseeding inside the function draws the same dropout mask on every evaluation.
  row({"lstm dropout between layers", join({{3, 2, 3}}, layer_shapes(4, 3, 2, 2)), [](V v) {
         manual_seed(3);
         auto [out, h, c] = F::lstm(v[0], {}, layers_from(v, 1, 2), {.dropout = 0.5, .training = true});
         return flat({out, h, c});
       }});
  row({"gru 2 layers with h0", join({{3, 2, 3}, {2, 2, 2}}, layer_shapes(3, 3, 2, 2)), [](V v) {
         auto [out, h] = F::gru(v[0], v[1], layers_from(v, 2, 2));
         return flat({out, h});
       }});
  row({"gru batch_first zero state", join({{2, 3, 3}}, layer_shapes(3, 3, 2, 1)), [](V v) {
         auto [out, h] = F::gru(v[0], Tensor(), layers_from(v, 1, 1), {.batch_first = true});
         return flat({out, h});
       }});
  return rows;
}

// --- an independent implementation of PyTorch's equations, in plain doubles ----------------------

using Vec = std::vector<double>;

struct RefWeights {
  Vec w_ih, w_hh, b_ih, b_hh;  // row-major [G*H, I], [G*H, H]; biases may be empty
  int64_t in, hidden;
};

RefWeights ref_weights(const RecurrentWeights& w) {
  RefWeights r{values(w.weight_ih), values(w.weight_hh), {}, {}, w.weight_ih.size(1), w.weight_hh.size(1)};
  if (w.bias_ih.defined()) r.b_ih = values(w.bias_ih), r.b_hh = values(w.bias_hh);
  return r;
}

double sigmoid_ref(double v) { return 1.0 / (1.0 + std::exp(-v)); }

/// W·x + b for the gate rows: out[r] = b[r] + sum_k W[r, k] x[k].
Vec affine(const Vec& w, const Vec& b, const double* x, int64_t rows, int64_t cols) {
  Vec out(static_cast<std::size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = b.empty() ? 0.0 : b[r];
    for (int64_t k = 0; k < cols; ++k) s += w[r * cols + k] * x[k];
    out[r] = s;
  }
  return out;
}

/// One LSTM step for one sequence: gates i, f, g, o.
void lstm_ref(const RefWeights& w, const double* x, Vec& h, Vec& c) {
  const int64_t n = w.hidden;
  Vec gi = affine(w.w_ih, w.b_ih, x, 4 * n, w.in), gh = affine(w.w_hh, w.b_hh, h.data(), 4 * n, n);
  for (int64_t j = 0; j < n; ++j) {
    const double i = sigmoid_ref(gi[j] + gh[j]), f = sigmoid_ref(gi[n + j] + gh[n + j]);
    const double g = std::tanh(gi[2 * n + j] + gh[2 * n + j]), o = sigmoid_ref(gi[3 * n + j] + gh[3 * n + j]);
    c[j] = f * c[j] + i * g;
    h[j] = o * std::tanh(c[j]);
  }
}

/// One GRU step for one sequence: gates r, z, n, with r applied to (W_hn h + b_hn).
void gru_ref(const RefWeights& w, const double* x, Vec& h) {
  const int64_t n = w.hidden;
  Vec gi = affine(w.w_ih, w.b_ih, x, 3 * n, w.in), gh = affine(w.w_hh, w.b_hh, h.data(), 3 * n, n);
  Vec next(h.size());
  for (int64_t j = 0; j < n; ++j) {
    const double r = sigmoid_ref(gi[j] + gh[j]), z = sigmoid_ref(gi[n + j] + gh[n + j]);
    const double nn_ = std::tanh(gi[2 * n + j] + r * gh[2 * n + j]);
    next[j] = (1.0 - z) * nn_ + z * h[j];
  }
  h = next;
}

void rnn_ref(const RefWeights& w, const double* x, Vec& h, bool relu) {
  Vec gi = affine(w.w_ih, w.b_ih, x, w.hidden, w.in), gh = affine(w.w_hh, w.b_hh, h.data(), w.hidden, w.hidden);
  for (int64_t j = 0; j < w.hidden; ++j) {
    const double pre = gi[j] + gh[j];
    h[j] = relu ? std::max(pre, 0.0) : std::tanh(pre);
  }
}

enum class RefKind { Tanh, ReLU, LSTM, GRU };

struct RefResult {
  Vec output;  // [T, B, H]
  Vec h, c;    // [L, B, H]
};

/// A stacked layer over a time-major sequence x [T, B, I] from state h0/c0 [L, B, H] (empty: zeros).
RefResult layers_ref(RefKind kind, const std::vector<RecurrentWeights>& layers, const Vec& x, int64_t steps,
                     int64_t batch, Vec h0, Vec c0) {
  const int64_t num_layers = static_cast<int64_t>(layers.size()), n = layers[0].weight_hh.size(1);
  if (h0.empty()) h0.assign(num_layers * batch * n, 0.0);
  if (c0.empty()) c0.assign(num_layers * batch * n, 0.0);
  RefResult r{{}, h0, c0};
  Vec seq = x;
  int64_t in = layers[0].weight_ih.size(1);
  for (int64_t l = 0; l < num_layers; ++l) {
    RefWeights w = ref_weights(layers[l]);
    Vec out(steps * batch * n);
    for (int64_t b = 0; b < batch; ++b) {
      Vec h(r.h.begin() + (l * batch + b) * n, r.h.begin() + (l * batch + b + 1) * n);
      Vec c(r.c.begin() + (l * batch + b) * n, r.c.begin() + (l * batch + b + 1) * n);
      for (int64_t t = 0; t < steps; ++t) {
        const double* xt = seq.data() + (t * batch + b) * in;
        switch (kind) {
          case RefKind::Tanh: rnn_ref(w, xt, h, false); break;
          case RefKind::ReLU: rnn_ref(w, xt, h, true); break;
          case RefKind::LSTM: lstm_ref(w, xt, h, c); break;
          case RefKind::GRU: gru_ref(w, xt, h); break;
        }
        std::copy(h.begin(), h.end(), out.begin() + (t * batch + b) * n);
      }
      std::copy(h.begin(), h.end(), r.h.begin() + (l * batch + b) * n);
      std::copy(c.begin(), c.end(), r.c.begin() + (l * batch + b) * n);
    }
    seq = out;
    in = n;
  }
  r.output = seq;
  return r;
}

Tensor randn64(const Shape& shape) { return randn(shape, {.dtype = Float64}); }

/// The named parameters' names and shapes, in registration order.
std::vector<std::pair<std::string, Shape>> names_and_shapes(const nn::Module& m) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& [name, t] : m.named_parameters()) out.emplace_back(name, t.shape());
  return out;
}

}  // namespace

// --- gradients -------------------------------------------------------------------------------------

TEST_CASE("nn recurrent: every gradient matches central differences", "[nn][recurrent][gradcheck]") {
  const auto rows = recurrent_rows();
  REQUIRE(rows.size() >= 17);
  check_gradient_rows(rows, 4242);
}

TEST_CASE("nn recurrent: every gradient matches central differences on CUDA", "[nn][recurrent][gradcheck][cuda]") {
  check_gradient_rows_on_cuda(recurrent_rows(), 4242, "the embedding and recurrent gradient table");
}

TEST_CASE("nn recurrent: the reference tells a wrong gate order apart", "[nn][recurrent]") {
  // With LSTM's i and f rows swapped in the weights, the cell must no longer match the
  // reference run on the original weights: the comparisons below can catch a gate-order bug.
  manual_seed(1);
  nn::LSTMCell cell(3, 2);
  cell.to(Float64);
  Tensor x = randn64({1, 3}), h = randn64({1, 2}), c = randn64({1, 2});
  RecurrentWeights w = cell.weights();
  Tensor perm = indices({2, 3, 0, 1, 4, 5, 6, 7});
  RecurrentWeights swapped{w.weight_ih.index_select(0, perm), w.weight_hh.index_select(0, perm),
                           w.bias_ih.index_select(0, perm), w.bias_hh.index_select(0, perm)};
  auto [h1, c1] = F::lstm_cell(x, {h, c}, swapped);
  Vec hr = values(h), cr = values(c);
  lstm_ref(ref_weights(w), values(x).data(), hr, cr);
  double worst = 0.0;
  for (std::size_t j = 0; j < cr.size(); ++j) worst = std::max(worst, std::abs(values(c1)[j] - cr[j]));
  CHECK(worst > 1e-3);
}

// --- forward values against the plain-double reference -----------------------------------------

TEST_CASE("nn recurrent: one LSTM step matches the equations", "[nn][recurrent]") {
  manual_seed(11);
  nn::LSTMCell cell(3, 4);
  cell.to(Float64);
  Tensor x = randn64({2, 3}), h = randn64({2, 4}), c = randn64({2, 4});
  auto [h1, c1] = cell(x, {h, c});
  REQUIRE(h1.shape() == Shape{2, 4});
  REQUIRE(c1.shape() == Shape{2, 4});

  RefWeights w = ref_weights(cell.weights());
  Vec xs = values(x), hs = values(h), cs = values(c), want_h, want_c;
  for (int b = 0; b < 2; ++b) {
    Vec hb(hs.begin() + b * 4, hs.begin() + b * 4 + 4), cb(cs.begin() + b * 4, cs.begin() + b * 4 + 4);
    lstm_ref(w, xs.data() + b * 3, hb, cb);
    want_h.insert(want_h.end(), hb.begin(), hb.end());
    want_c.insert(want_c.end(), cb.begin(), cb.end());
  }
  require_values(h1, want_h, 1e-12);
  require_values(c1, want_c, 1e-12);

  // The zero state: what LibTorch does when no state is given.
  auto [h0, c0] = cell(x);
  auto [hz, cz] = cell(x, {zeros({2, 4}, {.dtype = Float64}), zeros({2, 4}, {.dtype = Float64})});
  require_values(h0, values(hz), 1e-15);
  require_values(c0, values(cz), 1e-15);
}

TEST_CASE("nn recurrent: one GRU step matches the equations", "[nn][recurrent]") {
  manual_seed(12);
  nn::GRUCell cell(3, 4);
  cell.to(Float64);
  Tensor x = randn64({2, 3}), h = randn64({2, 4});
  Tensor h1 = cell(x, h);
  RefWeights w = ref_weights(cell.weights());
  Vec xs = values(x), hs = values(h), want;
  for (int b = 0; b < 2; ++b) {
    Vec hb(hs.begin() + b * 4, hs.begin() + b * 4 + 4);
    gru_ref(w, xs.data() + b * 3, hb);
    want.insert(want.end(), hb.begin(), hb.end());
  }
  require_values(h1, want, 1e-12);
  require_values(cell(x), values(cell(x, zeros({2, 4}, {.dtype = Float64}))), 1e-15);
}

TEST_CASE("nn recurrent: one RNN step matches the equations, tanh and relu", "[nn][recurrent]") {
  manual_seed(13);
  for (auto nl : {nn::RNNNonlinearity::Tanh, nn::RNNNonlinearity::ReLU}) {
    nn::RNNCell cell(3, 4, {.nonlinearity = nl});
    cell.to(Float64);
    Tensor x = randn64({2, 3}), h = randn64({2, 4});
    RefWeights w = ref_weights(cell.weights());
    Vec xs = values(x), hs = values(h), want;
    for (int b = 0; b < 2; ++b) {
      Vec hb(hs.begin() + b * 4, hs.begin() + b * 4 + 4);
      rnn_ref(w, xs.data() + b * 3, hb, nl == nn::RNNNonlinearity::ReLU);
      want.insert(want.end(), hb.begin(), hb.end());
    }
    require_values(cell(x, h), want, 1e-12);
  }
}

TEST_CASE("nn recurrent: 2-step sequences through 2 layers match the equations", "[nn][recurrent]") {
  manual_seed(14);
  const int64_t T = 2, B = 2, I = 3, H = 4, L = 2;
  Tensor x = randn64({T, B, I}), h0 = randn64({L, B, H}), c0 = randn64({L, B, H});

  SECTION("LSTM") {
    nn::LSTM lstm(I, H, {.num_layers = L});
    lstm.to(Float64);
    auto [out, h, c] = lstm(x, {h0, c0});
    RefResult want = layers_ref(RefKind::LSTM, lstm.all_weights(), values(x), T, B, values(h0), values(c0));
    REQUIRE(out.shape() == Shape{T, B, H});
    require_values(out, want.output, 1e-12);
    require_values(h, want.h, 1e-12);
    require_values(c, want.c, 1e-12);
  }
  SECTION("GRU") {
    nn::GRU gru(I, H, {.num_layers = L});
    gru.to(Float64);
    auto [out, h] = gru(x, h0);
    RefResult want = layers_ref(RefKind::GRU, gru.all_weights(), values(x), T, B, values(h0), {});
    require_values(out, want.output, 1e-12);
    require_values(h, want.h, 1e-12);
  }
  SECTION("RNN tanh and relu, zero initial state") {
    for (auto nl : {nn::RNNNonlinearity::Tanh, nn::RNNNonlinearity::ReLU}) {
      nn::RNN rnn(I, H, {.num_layers = L, .nonlinearity = nl});
      rnn.to(Float64);
      auto [out, h] = rnn(x);
      RefKind kind = nl == nn::RNNNonlinearity::ReLU ? RefKind::ReLU : RefKind::Tanh;
      RefResult want = layers_ref(kind, rnn.all_weights(), values(x), T, B, {}, {});
      require_values(out, want.output, 1e-12);
      require_values(h, want.h, 1e-12);
    }
  }
  SECTION("LSTM and GRU without recording (the one-GEMM input projection)") {
    nn::LSTM lstm(I, H, {.num_layers = L});
    nn::GRU gru(I, H, {.num_layers = L});
    lstm.to(Float64);
    gru.to(Float64);
    NoGradGuard off;
    auto [out, h, c] = lstm(x, {h0, c0});
    RefResult want = layers_ref(RefKind::LSTM, lstm.all_weights(), values(x), T, B, values(h0), values(c0));
    require_values(out, want.output, 1e-12);
    require_values(h, want.h, 1e-12);
    require_values(c, want.c, 1e-12);
    auto [gout, gh] = gru(x, h0);
    RefResult gwant = layers_ref(RefKind::GRU, gru.all_weights(), values(x), T, B, values(h0), {});
    require_values(gout, gwant.output, 1e-12);
    require_values(gh, gwant.h, 1e-12);
  }
  SECTION("LSTM without bias") {
    nn::LSTM lstm(I, H, {.num_layers = L, .bias = false});
    lstm.to(Float64);
    auto [out, h, c] = lstm(x, {h0, c0});
    RefResult want = layers_ref(RefKind::LSTM, lstm.all_weights(), values(x), T, B, values(h0), values(c0));
    require_values(out, want.output, 1e-12);
    require_values(c, want.c, 1e-12);
  }
}

TEST_CASE("nn recurrent: a one-layer LSTM equals its cell unrolled", "[nn][recurrent]") {
  manual_seed(15);
  nn::LSTM lstm(3, 5);
  nn::LSTMCell cell(3, 5);
  {
    NoGradGuard off;
    const RecurrentWeights& w = lstm.all_weights()[0];
    cell.weight_ih.copy_(w.weight_ih);
    cell.weight_hh.copy_(w.weight_hh);
    cell.bias_ih.copy_(w.bias_ih);
    cell.bias_hh.copy_(w.bias_hh);
  }
  Tensor x = randn({6, 2, 3});
  auto [out, h, c] = lstm(x);
  nn::LSTMState s;
  for (int64_t t = 0; t < 6; ++t) {
    s = cell(x.slice(0, t, t + 1).squeeze(0), s);
    require_values(out.slice(0, t, t + 1).squeeze(0), values(s.h), 1e-5);
  }
  require_values(h.squeeze(0), values(s.h), 1e-5);
  require_values(c.squeeze(0), values(s.c), 1e-5);
}

// --- modules: names, shapes, options ------------------------------------------------------------

TEST_CASE("nn recurrent: parameter names and shapes follow PyTorch", "[nn][recurrent]") {
  using NS = std::vector<std::pair<std::string, Shape>>;
  CHECK(names_and_shapes(nn::LSTM(10, 20, {.num_layers = 2})) ==
        NS{{"weight_ih_l0", {80, 10}}, {"weight_hh_l0", {80, 20}}, {"bias_ih_l0", {80}}, {"bias_hh_l0", {80}},
           {"weight_ih_l1", {80, 20}}, {"weight_hh_l1", {80, 20}}, {"bias_ih_l1", {80}}, {"bias_hh_l1", {80}}});
  CHECK(names_and_shapes(nn::GRU(10, 20)) ==
        NS{{"weight_ih_l0", {60, 10}}, {"weight_hh_l0", {60, 20}}, {"bias_ih_l0", {60}}, {"bias_hh_l0", {60}}});
  CHECK(names_and_shapes(nn::RNN(10, 20, {.num_layers = 2, .bias = false})) ==
        NS{{"weight_ih_l0", {20, 10}}, {"weight_hh_l0", {20, 20}}, {"weight_ih_l1", {20, 20}}, {"weight_hh_l1", {20, 20}}});
  CHECK(names_and_shapes(nn::LSTMCell(10, 20)) ==
        NS{{"weight_ih", {80, 10}}, {"weight_hh", {80, 20}}, {"bias_ih", {80}}, {"bias_hh", {80}}});
  CHECK(names_and_shapes(nn::GRUCell(10, 20, {.bias = false})) == NS{{"weight_ih", {60, 10}}, {"weight_hh", {60, 20}}});
  CHECK(names_and_shapes(nn::RNNCell(10, 20)) ==
        NS{{"weight_ih", {20, 10}}, {"weight_hh", {20, 20}}, {"bias_ih", {20}}, {"bias_hh", {20}}});
  CHECK(names_and_shapes(nn::Embedding(7, 3)) == NS{{"weight", {7, 3}}});
  for (const auto& [name, t] : nn::LSTM(4, 3).named_parameters()) {
    INFO(name);
    CHECK(t.requires_grad());
    CHECK(t.dtype() == Float32);
  }
}

TEST_CASE("nn recurrent: weights start U(-1/sqrt(hidden), 1/sqrt(hidden))", "[nn][recurrent]") {
  manual_seed(16);
  const double k = 1.0 / std::sqrt(16.0);
  nn::GRU gru(8, 16, {.num_layers = 2});
  nn::LSTMCell cell(8, 16);
  for (const nn::Module* m : {static_cast<const nn::Module*>(&gru), static_cast<const nn::Module*>(&cell)}) {
    for (const auto& [name, t] : m->named_parameters()) {
      INFO(name);
      CHECK(t.max().item<double>() <= k);
      CHECK(t.min().item<double>() >= -k);
      CHECK(t.max().item<double>() > 0.7 * k);  // spread over the whole range, not a constant
      CHECK(t.min().item<double>() < -0.7 * k);
      CHECK(std::abs(t.mean().item<double>()) < 0.3 * k);
    }
  }
}

TEST_CASE("nn recurrent: output and state shapes", "[nn][recurrent]") {
  manual_seed(17);
  const int64_t T = 5, B = 4, I = 3, H = 6, L = 3;
  SECTION("LSTM time-major, batch-first, unbatched") {
    nn::LSTM lstm(I, H, {.num_layers = L});
    auto [out, h, c] = lstm(randn({T, B, I}));
    CHECK(out.shape() == Shape{T, B, H});
    CHECK(h.shape() == Shape{L, B, H});
    CHECK(c.shape() == Shape{L, B, H});
    auto [out1, h1, c1] = lstm(randn({T, I}));
    CHECK(out1.shape() == Shape{T, H});
    CHECK(h1.shape() == Shape{L, H});
    CHECK(c1.shape() == Shape{L, H});
    nn::LSTM bf(I, H, {.num_layers = L, .batch_first = true});
    auto [out2, h2, c2] = bf(randn({B, T, I}));
    CHECK(out2.shape() == Shape{B, T, H});
    CHECK(h2.shape() == Shape{L, B, H});  // states stay [num_layers, B, H], as in PyTorch
    CHECK(c2.shape() == Shape{L, B, H});
  }
  SECTION("GRU and RNN") {
    nn::GRU gru(I, H, {.num_layers = L});
    auto [out, h] = gru(randn({T, B, I}), zeros({L, B, H}));
    CHECK(out.shape() == Shape{T, B, H});
    CHECK(h.shape() == Shape{L, B, H});
    nn::RNN rnn(I, H, {.num_layers = 2, .batch_first = true});
    auto [out2, h2] = rnn(randn({B, T, I}));
    CHECK(out2.shape() == Shape{B, T, H});
    CHECK(h2.shape() == Shape{2, B, H});
  }
  SECTION("cells, batched and unbatched") {
    nn::RNNCell rnn(I, H);
    CHECK(rnn(randn({B, I})).shape() == Shape{B, H});
    CHECK(rnn(randn({I}), randn({H})).shape() == Shape{H});
    nn::GRUCell gru(I, H);
    CHECK(gru(randn({B, I}), randn({B, H})).shape() == Shape{B, H});
    nn::LSTMCell lstm(I, H);
    auto [h, c] = lstm(randn({B, I}));
    CHECK(h.shape() == Shape{B, H});
    CHECK(c.shape() == Shape{B, H});
  }
  SECTION("the last layer's final h is the last output step") {
    nn::LSTM lstm(I, H, {.num_layers = L});
    auto [out, h, c] = lstm(randn({T, B, I}));
    require_values(out.slice(0, T - 1, T), values(h.slice(0, L - 1, L)));
  }
}

TEST_CASE("nn recurrent: batch_first equals the transposed time-major run", "[nn][recurrent]") {
  manual_seed(18);
  Tensor x_bf = randn({2, 4, 3});  // [B, T, I]
  Tensor h0 = randn({2, 2, 5});
  SECTION("LSTM") {
    nn::LSTM tm(3, 5, {.num_layers = 2}), bf(3, 5, {.num_layers = 2, .batch_first = true});
    bf.load_state_dict(tm.state_dict());
    Tensor c0 = randn({2, 2, 5});
    auto [o1, h1, c1] = tm(x_bf.transpose(0, 1).contiguous(), {h0, c0});
    auto [o2, h2, c2] = bf(x_bf, {h0, c0});
    require_values(o2, values(o1.transpose(0, 1)), 1e-6);
    require_values(h2, values(h1), 1e-6);
    require_values(c2, values(c1), 1e-6);
  }
  SECTION("GRU") {
    nn::GRU tm(3, 5, {.num_layers = 2}), bf(3, 5, {.num_layers = 2, .batch_first = true});
    bf.load_state_dict(tm.state_dict());
    auto [o1, h1] = tm(x_bf.transpose(0, 1).contiguous(), h0);
    auto [o2, h2] = bf(x_bf, h0);
    require_values(o2, values(o1.transpose(0, 1)), 1e-6);
    require_values(h2, values(h1), 1e-6);
  }
  SECTION("RNN") {
    nn::RNN tm(3, 5, {.num_layers = 2}), bf(3, 5, {.num_layers = 2, .batch_first = true});
    bf.load_state_dict(tm.state_dict());
    auto [o1, h1] = tm(x_bf.transpose(0, 1).contiguous(), h0);
    auto [o2, h2] = bf(x_bf, h0);
    require_values(o2, values(o1.transpose(0, 1)), 1e-6);
    require_values(h2, values(h1), 1e-6);
  }
}

TEST_CASE("nn recurrent: passing the final state on continues the sequence", "[nn][recurrent]") {
  manual_seed(19);
  nn::LSTM lstm(3, 4, {.num_layers = 2});
  Tensor x = randn({6, 2, 3});
  auto whole = lstm(x);
  auto first = lstm(x.slice(0, 0, 4));
  auto second = lstm(x.slice(0, 4, 6), first.state());
  require_values(second.output, values(whole.output.slice(0, 4, 6)), 1e-6);
  require_values(second.h, values(whole.h), 1e-6);
  require_values(second.c, values(whole.c), 1e-6);

  nn::GRU gru(3, 4);
  auto [all, h_all] = gru(x);
  auto [part1, h1] = gru(x.slice(0, 0, 3));
  auto [part2, h2] = gru(x.slice(0, 3, 6), h1);
  require_values(part2, values(all.slice(0, 3, 6)), 1e-6);
  require_values(h2, values(h_all), 1e-6);
}

TEST_CASE("nn recurrent: backward reaches every parameter and the inputs", "[nn][recurrent]") {
  manual_seed(20);
  nn::LSTM lstm(3, 4, {.num_layers = 2, .batch_first = true});
  Tensor x = randn({2, 5, 3}).requires_grad_();
  Tensor h0 = randn({2, 2, 4}).requires_grad_(), c0 = randn({2, 2, 4}).requires_grad_();
  auto [out, h, c] = lstm(x, {h0, c0});
  (out.sum() + h.sum() + c.sum()).backward();
  for (const auto& [name, p] : lstm.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
    CHECK(p.grad().abs().sum().item<double>() > 0.0);
  }
  for (const Tensor& t : {x, h0, c0}) {
    REQUIRE(t.grad().defined());
    CHECK(t.grad().shape() == t.shape());
  }
}

TEST_CASE("nn recurrent: dropout acts between layers in training only", "[nn][recurrent]") {
  manual_seed(21);
  nn::GRU plain(3, 4, {.num_layers = 2}), dropped(3, 4, {.num_layers = 2, .dropout = 0.5});
  dropped.load_state_dict(plain.state_dict());
  Tensor x = randn({4, 2, 3});
  auto [o_plain, h_plain] = plain(x);
  auto [o_train, h_train] = dropped(x);
  CHECK(values(o_train) != values(o_plain));
  // The first layer's output is not dropped: its final state is the same.
  require_values(h_train.slice(0, 0, 1), values(h_plain.slice(0, 0, 1)), 1e-6);
  dropped.eval();
  auto [o_eval, h_eval] = dropped(x);
  require_values(o_eval, values(o_plain), 1e-6);
}

TEST_CASE("nn recurrent: the printed form names the options", "[nn][recurrent]") {
  CHECK(nn::LSTM(10, 20, {.num_layers = 2, .batch_first = true}).str() == "LSTM(10, 20, num_layers=2, batch_first=true)");
  CHECK(nn::GRU(10, 20, {.bias = false}).str() == "GRU(10, 20, bias=false)");
  CHECK(nn::RNN(4, 5, {.nonlinearity = nn::RNNNonlinearity::ReLU}).str() == "RNN(4, 5, nonlinearity=relu)");
  CHECK(nn::LSTMCell(4, 5).str() == "LSTMCell(4, 5)");
  CHECK(nn::Embedding(7, 3, {.padding_idx = 0}).str() == "Embedding(7, 3, padding_idx=0)");
}

TEST_CASE("nn recurrent: errors name the layer and the shapes", "[nn][recurrent][errors]") {
  nn::LSTM lstm(4, 3, {.num_layers = 2});
  REQUIRE_THROWS_AS(lstm(randn({4})), ShapeError);
  REQUIRE_THROWS_WITH(lstm(randn({4})), Contains("LSTM") && Contains("rank 3") && Contains("[4]"));
  REQUIRE_THROWS_WITH(lstm(randn({2, 2, 2, 4})), Contains("LSTM") && Contains("[2,2,2,4]"));
  REQUIRE_THROWS_AS(lstm(randn({5, 2, 6})), ShapeError);
  REQUIRE_THROWS_WITH(lstm(randn({5, 2, 6})),
                      Contains("LSTM") && Contains("6 features") && Contains("input_size is 4"));
  REQUIRE_THROWS_AS(lstm(randn({5, 2, 4}), {zeros({1, 2, 3}), zeros({2, 2, 3})}), ShapeError);
  REQUIRE_THROWS_WITH(lstm(randn({5, 2, 4}), {zeros({1, 2, 3}), zeros({2, 2, 3})}),
                      Contains("LSTM: h0 has shape [1,2,3]") && Contains("expected [2,2,3]"));
  REQUIRE_THROWS_WITH(lstm(randn({5, 2, 4}), {zeros({2, 2, 3}), zeros({2, 3, 3})}),
                      Contains("LSTM: c0 has shape [2,3,3]") && Contains("expected [2,2,3]"));
  REQUIRE_THROWS_WITH(lstm(randn({5, 2, 4}), {zeros({2, 2, 3}), Tensor()}),
                      Contains("LSTM") && Contains("both h0 and c0"));
  REQUIRE_THROWS_AS(lstm(randn({5, 2, 4}, {.dtype = Float64})), DTypeError);
  REQUIRE_THROWS_WITH(lstm(randn({5, 2, 4}, {.dtype = Float64})), Contains("LSTM") && Contains("float64"));
  REQUIRE_THROWS_AS(lstm(zeros({5, 2, 4}, {.dtype = Int64})), DTypeError);
  REQUIRE_THROWS_WITH(lstm(zeros({0, 2, 4})), Contains("LSTM") && Contains("empty"));

  nn::GRU gru(4, 3, {.batch_first = true});
  REQUIRE_THROWS_WITH(gru(randn({2, 5, 4}), zeros({1, 5, 3})),
                      Contains("GRU: h0 has shape [1,5,3]") && Contains("expected [1,2,3]"));
  REQUIRE_THROWS_WITH(gru(randn({5})), Contains("GRU") && Contains("[batch, seq_len, input_size]"));
  nn::RNN rnn(4, 3);
  REQUIRE_THROWS_WITH(rnn(randn({5, 4}), zeros({1, 2, 3})),
                      Contains("RNN: h0 has shape [1,2,3]") && Contains("expected [1,3]"));

  nn::LSTMCell lcell(4, 3);
  REQUIRE_THROWS_WITH(lcell(randn({2, 4}), {zeros({3, 3}), zeros({2, 3})}),
                      Contains("LSTMCell: h has shape [3,3]") && Contains("expected [2,3]"));
  nn::RNNCell rcell(4, 3);
  REQUIRE_THROWS_WITH(rcell(randn({2, 3, 4})), Contains("RNNCell") && Contains("[2,3,4]"));
  REQUIRE_THROWS_WITH(rcell(randn({2, 5})), Contains("RNNCell") && Contains("5 features"));
  nn::GRUCell gcell(4, 3);
  REQUIRE_THROWS_WITH(gcell(randn({2, 4}), zeros({2, 4})), Contains("GRUCell: h has shape [2,4]"));

  REQUIRE_THROWS_AS(nn::LSTM(4, 0), ValueError);
  REQUIRE_THROWS_WITH(nn::GRU(4, 3, {.num_layers = 0}), Contains("GRU") && Contains("num_layers"));
  REQUIRE_THROWS_WITH(nn::RNN(4, 3, {.dropout = 1.5}), Contains("RNN") && Contains("dropout"));

  // The functional forms check the weights they are given.
  Tensor w_ih = zeros({8, 4}), w_hh = zeros({8, 2});
  REQUIRE_THROWS_WITH(F::lstm(randn({3, 1, 4}), {}, {{w_ih, zeros({8, 3})}}),
                      Contains("lstm") && Contains("weight_hh has shape [8,3]"));
  REQUIRE_THROWS_WITH(F::gru_cell(randn({1, 4}), Tensor(), {w_ih.slice(0, 0, 6), zeros({6, 2}), zeros({5}), zeros({6})}),
                      Contains("gru_cell") && Contains("bias_ih has shape [5]"));
  REQUIRE_THROWS_WITH(F::lstm(randn({3, 1, 4}), {}, {{w_ih, w_hh}, {zeros({8, 3}), w_hh}}),
                      Contains("lstm: layer 1 weight_ih has shape [8,3]") && Contains("expected [8,2]"));
  REQUIRE_THROWS_WITH(F::rnn(randn({3, 1, 4}), Tensor(), {}), Contains("rnn") && Contains("at least one layer"));
}

// --- embedding ---------------------------------------------------------------------------------

TEST_CASE("nn embedding: looks rows up for indices of any shape", "[nn][embedding]") {
  manual_seed(22);
  nn::Embedding emb(5, 3);
  Tensor idx = indices({4, 0, 4, 2, 1, 3}, {2, 3});
  Tensor out = emb(idx);
  REQUIRE(out.shape() == Shape{2, 3, 3});
  std::vector<double> w = values(emb.weight), want;
  for (int64_t i : {4, 0, 4, 2, 1, 3}) want.insert(want.end(), w.begin() + i * 3, w.begin() + i * 3 + 3);
  require_values(out, want);
  CHECK(emb(indices({2}).reshape({})).shape() == Shape{3});
  CHECK(emb(indices({1, 2, 3, 4}, {2, 1, 2})).shape() == Shape{2, 1, 2, 3});

  // Repeated indices accumulate their gradients.
  out.sum().backward();
  require_values(emb.weight.grad(), {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2});
}

TEST_CASE("nn embedding: starts N(0, 1)", "[nn][embedding]") {
  manual_seed(23);
  nn::Embedding emb(1000, 20);
  const double mean = emb.weight.mean().item<double>();
  const double var = ((emb.weight - mean) * (emb.weight - mean)).mean().item<double>();
  CHECK(std::abs(mean) < 0.03);
  CHECK(std::abs(var - 1.0) < 0.05);
}

TEST_CASE("nn embedding: the padding row starts at zero and takes no gradient", "[nn][embedding]") {
  manual_seed(24);
  nn::Embedding emb(4, 2, {.padding_idx = -1});  // row 3
  REQUIRE(emb.padding_idx == 3);
  require_values(emb.weight.slice(0, 3, 4), {0.0, 0.0});
  {
    NoGradGuard off;
    emb.weight.fill_(1.5);
  }
  Tensor out = emb(indices({3, 1, 3, 0}));
  require_values(out.slice(0, 0, 1), {1.5, 1.5});  // the row's value is still returned
  (out * 2.0).sum().backward();
  require_values(emb.weight.grad(), {2, 2, 2, 2, 0, 0, 0, 0});
}

TEST_CASE("nn embedding: errors name the op and the bad index", "[nn][embedding][errors]") {
  nn::Embedding emb(5, 3);
  REQUIRE_THROWS_AS(emb(tensor({1.0f, 2.0f})), DTypeError);
  REQUIRE_THROWS_WITH(emb(tensor({1.0f, 2.0f})), Contains("embedding") && Contains("Int64") && Contains("float32"));
  REQUIRE_THROWS_AS(emb(indices({0, 7, 2})), ValueError);
  REQUIRE_THROWS_WITH(emb(indices({0, 7, 2})), Contains("embedding: index 7") && Contains("5 embeddings"));
  REQUIRE_THROWS_WITH(emb(indices({0, -1})), Contains("embedding: index -1"));
  REQUIRE_THROWS_WITH(nn::Embedding(5, 3, {.padding_idx = 5}), Contains("Embedding") && Contains("padding_idx 5"));
  REQUIRE_THROWS_AS(nn::Embedding(0, 3), ValueError);
  REQUIRE_THROWS_WITH(F::embedding(indices({0}), zeros({5})), Contains("embedding") && Contains("[5]"));
}
