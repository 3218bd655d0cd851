// SPDX-License-Identifier: MIT
// nn::Module and the layers built on it: registration and dotted names, Sequential, state
// dicts, train/eval behaviour of Dropout and BatchNorm, dtype conversion, initialisers, and
// the losses' values against hand computations.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <vector>

#include "../helpers.hpp"

using namespace tapeflow;
using namespace tapeflow::test;
namespace F = tapeflow::nn::functional;
using Catch::Contains;

namespace {

struct Block : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", nn::Linear(3, 4));
  std::shared_ptr<nn::BatchNorm1d> bn = register_module("bn", nn::BatchNorm1d(4));
  Tensor scale = register_parameter("scale", ones({4}));
  Block() : Module("Block") {}
  Tensor forward(const Tensor& x) override { return relu(bn->forward(fc->forward(x))) * scale; }
};

struct Net : nn::Module {
  std::shared_ptr<Block> encoder = register_module("encoder", Block());
  std::shared_ptr<nn::Sequential> head =
      register_module("head", nn::Sequential(nn::Linear(4, 4), nn::Tanh(), nn::Linear(4, 2, {.bias = false})));
  Net() : Module("Net") {}
  Tensor forward(const Tensor& x) override { return head->forward(encoder->forward(x)); }
};

std::vector<std::string> names(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [n, t] : named) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("nn: modules register parameters, buffers and submodules under dotted names", "[nn][module]") {
  manual_seed(0);
  Net net;
  CHECK(names(net.named_parameters()) ==
        std::vector<std::string>{"encoder.scale", "encoder.fc.weight", "encoder.fc.bias", "encoder.bn.weight",
                                 "encoder.bn.bias", "head.0.weight", "head.0.bias", "head.2.weight"});
  CHECK(names(net.named_buffers()) == std::vector<std::string>{"encoder.bn.running_mean", "encoder.bn.running_var",
                                                               "encoder.bn.num_batches_tracked"});
  CHECK(names(net.named_parameters(false)).empty());
  CHECK(net.parameters().size() == 8);
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
  for (const Tensor& b : net.buffers()) CHECK_FALSE(b.requires_grad());
  // The member handles and the registered ones are the same tensors.
  CHECK(net.encoder->fc->weight.impl() == net.named_parameters()[1].second.impl());
  CHECK(net.head->size() == 3);
  CHECK(net.head->operator[](1)->type_name() == "Tanh");
  CHECK_THROWS_WITH(net.head->operator[](3), Contains("index 3 is out of range for 3 modules"));

  // Every parameter gets a gradient from one backward.
  Tensor loss = net.forward(randn({5, 3})).pow(2.0).sum();
  loss.backward();
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("nn: registration refuses bad names and duplicates", "[nn][module]") {
  struct Bad : nn::Module {
    Bad() : Module("Bad") {}
    void add(const std::string& name) { register_parameter(name, zeros({2})); }
    void add_buffer(const std::string& name) { register_buffer(name, zeros({2})); }
    void add_child(const std::string& name) { register_module(name, nn::ReLU()); }
  } m;
  m.add("w");
  CHECK_THROWS_WITH(m.add("w"), Contains("Bad: parameter 'w' is already registered"));
  CHECK_THROWS_WITH(m.add("a.b"), Contains("must be non-empty and contain no '.'"));
  CHECK_THROWS_WITH(m.add(""), Contains("must be non-empty"));
  m.add_buffer("w");  // buffers and parameters have separate namespaces only in name lists
  CHECK_THROWS_AS(m.add_buffer("w"), ValueError);
  m.add_child("act");
  CHECK_THROWS_WITH(m.add_child("act"), Contains("submodule 'act' is already registered"));
  nn::Module plain;
  CHECK_THROWS_WITH(plain.forward(zeros({1})), Contains("Module: this module has no one-tensor forward()"));
}

TEST_CASE("nn: state_dict round-trips and load_state_dict checks before it writes", "[nn][module]") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  Tensor x = randn({4, 3});
  a.eval();
  b.eval();
  REQUIRE(a.forward(x).to_vector<float>() != b.forward(x).to_vector<float>());

  StateDict sd = a.state_dict();
  CHECK(sd.size() == 11);
  CHECK(sd.count("encoder.bn.running_var") == 1);
  for (const auto& [name, t] : sd) CHECK_FALSE(t.requires_grad());
  b.load_state_dict(sd);
  CHECK(a.forward(x).to_vector<float>() == b.forward(x).to_vector<float>());
  // The copy is by value: changing a afterwards leaves b alone.
  {
    NoGradGuard off;
    a.encoder->fc->weight.fill_(0.5);
  }
  CHECK(b.encoder->fc->weight.to_vector<float>() != a.encoder->fc->weight.to_vector<float>());

  // A bad entry anywhere leaves every tensor of the target untouched.
  manual_seed(3);
  Net c;
  const auto before = c.encoder->fc->weight.to_vector<float>();
  StateDict wrong_shape = sd;
  wrong_shape["head.2.weight"] = zeros({3, 3});
  CHECK_THROWS_WITH(c.load_state_dict(wrong_shape),
                    Contains("'head.2.weight' has shape [3,3] but the module expects [2,4]"));
  CHECK(c.encoder->fc->weight.to_vector<float>() == before);
  StateDict missing = sd;
  missing.erase("encoder.scale");
  CHECK_THROWS_WITH(c.load_state_dict(missing), Contains("missing 'encoder.scale'"));
  CHECK(c.encoder->fc->weight.to_vector<float>() == before);
  StateDict extra = sd;
  extra["decoder.weight"] = zeros({1});
  CHECK_THROWS_WITH(c.load_state_dict(extra), Contains("unexpected 'decoder.weight'"));
  CHECK(c.encoder->fc->weight.to_vector<float>() == before);
  // Non-strict loading takes what matches and ignores the rest.
  c.load_state_dict(extra, false);
  CHECK(c.encoder->fc->weight.to_vector<float>() == sd.at("encoder.fc.weight").to_vector<float>());
}

TEST_CASE("nn: train() and eval() switch Dropout and BatchNorm", "[nn][module]") {
  manual_seed(4);
  nn::Sequential seq(nn::Dropout(0.5), nn::BatchNorm1d(3));
  CHECK(seq.is_training());
  CHECK(seq[0]->is_training());
  Tensor x = randn({64, 3}) * 2.0 + 1.0;

  // Training: dropout zeroes about half the entries and scales the rest by 2.
  nn::Dropout drop(0.5);
  Tensor y = drop(x);
  const auto xs = x.to_vector<float>(), ys = y.to_vector<float>();
  int zeroed = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (ys[i] == 0.0f) ++zeroed;
    else CHECK(ys[i] == Approx(2.0f * xs[i]));
  }
  CHECK(zeroed > 64);
  CHECK(zeroed < 128);
  drop.eval();
  CHECK(drop(x).to_vector<float>() == xs);

  // BatchNorm in training normalises with the batch statistics and updates the running ones.
  nn::BatchNorm1d bn(3);
  Tensor out = bn(x);
  require_values(out.mean(0), {0, 0, 0}, 1e-5);
  require_values((out * out).mean(0), {1, 1, 1}, 1e-3);
  const auto batch_mean = x.mean(0).to_vector<double>();
  const auto running = bn.running_mean.to_vector<double>();
  for (int c = 0; c < 3; ++c) CHECK(running[c] == Approx(0.1 * batch_mean[c]).epsilon(1e-5));
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  // Eval uses the running statistics (and does not update them): a different result.
  bn.eval();
  Tensor evaluated = bn(x);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  CHECK(bn.running_mean.to_vector<double>() == running);
  const auto rv = bn.running_var.to_vector<double>();
  const auto e = evaluated.to_vector<double>();
  for (int c = 0; c < 3; ++c)
    CHECK(e[c] == Approx((xs[c] - running[c]) / std::sqrt(rv[c] + 1e-5)).epsilon(1e-5));

  // eval() reaches submodules, train() brings them back.
  seq.eval();
  CHECK_FALSE(seq[0]->is_training());
  CHECK_FALSE(seq[1]->is_training());
  seq.train();
  CHECK(seq[1]->is_training());
  CHECK_THROWS_WITH(nn::Dropout(1.5), Contains("dropout: probability must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(bn(zeros({2, 4})), Contains("BatchNorm1d: expects input [N, C] or [N, C, L] with C = 3, got [2,4]"));
}

TEST_CASE("nn: to(DType) converts in place, keeping member handles", "[nn][module]") {
  manual_seed(5);
  nn::Linear fc(3, 2);
  Tensor held = fc.weight;
  const auto values = fc.weight.to_vector<double>();
  fc.to(Float64);
  CHECK(fc.weight.dtype() == Float64);
  CHECK(held.dtype() == Float64);  // the same handle, converted
  CHECK(fc.named_parameters()[0].second.dtype() == Float64);
  CHECK(fc.weight.requires_grad());
  CHECK(fc.weight.to_vector<double>() == values);
  Tensor y = fc(ones({1, 3}, {.dtype = Float64}));
  CHECK(y.dtype() == Float64);
  CHECK_THROWS_AS(fc.to(Int64), DTypeError);
  if (!cuda_is_available()) CHECK_THROWS_AS(fc.to(Device::cuda(0)), DeviceError);
}

TEST_CASE("nn: Linear matches its formula and LibTorch's default initialisation", "[nn][layers]") {
  manual_seed(6);
  nn::Linear fc(50, 7);
  CHECK(fc.weight.shape() == Shape{7, 50});
  CHECK(fc.bias.shape() == Shape{7});
  const double bound = 1.0 / std::sqrt(50.0);
  for (const Tensor& p : {fc.weight, fc.bias}) {
    CHECK(p.max().item<double>() <= bound);
    CHECK(p.min().item<double>() >= -bound);
  }
  CHECK(fc.weight.max().item<double>() > 0.8 * bound);  // actually spread over the range
  Tensor x = randn({4, 50});
  require_values(fc(x), values(matmul(x, fc.weight.t()) + fc.bias), 1e-6);
  CHECK(fc.str() == "Linear(in_features=50, out_features=7, bias=true)");
  CHECK_THROWS_WITH(fc(zeros({4, 49})), Contains("linear: input [4,49] does not fit weight [7,50] (expected [..., 50])"));
  CHECK_THROWS_AS(nn::Linear(0, 3), ValueError);
  nn::Linear nobias(3, 2, {.bias = false});
  CHECK_FALSE(nobias.bias.defined());
  CHECK(nobias.parameters().size() == 1);
}

TEST_CASE("nn: modules print in PyTorch's format", "[nn][module]") {
  nn::Sequential seq(nn::Linear(4, 3), nn::ReLU(), nn::Dropout(0.25), nn::LayerNorm({3}));
  std::ostringstream os;
  os << seq;
  CHECK(os.str() ==
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=3, bias=true)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.250000)\n"
        "  (3): LayerNorm([3], eps=0.000010)\n"
        ")");
}

TEST_CASE("nn: initialisers follow their formulas", "[nn][init]") {
  manual_seed(8);
  namespace init = nn::init;
  Tensor w = empty({200, 300});
  auto stats = [](const Tensor& t) {
    const double m = t.mean().item<double>();
    const double var = ((t - m) * (t - m)).mean().item<double>();
    return std::pair{m, std::sqrt(var)};
  };
  init::xavier_uniform_(w);
  const double xr = std::sqrt(6.0 / 500.0);
  CHECK(w.max().item<double>() <= xr);
  CHECK(stats(w).second == Approx(xr / std::sqrt(3.0)).epsilon(0.02));
  init::xavier_normal_(w, 2.0);
  CHECK(stats(w).second == Approx(2.0 * std::sqrt(2.0 / 500.0)).epsilon(0.02));
  init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU);
  CHECK(stats(w).second == Approx(std::sqrt(2.0 / 300.0)).epsilon(0.02));
  init::kaiming_uniform_(w, 0.0, init::FanMode::FanOut, init::Nonlinearity::ReLU);
  CHECK(w.max().item<double>() <= std::sqrt(6.0 / 200.0));
  CHECK(stats(w).second == Approx(std::sqrt(2.0 / 200.0)).epsilon(0.02));
  init::trunc_normal_(w, 0.0, 1.0, -0.5, 0.5);
  CHECK(w.max().item<double>() <= 0.5);
  CHECK(w.min().item<double>() >= -0.5);
  init::constant_(w, 0.25);
  CHECK(w.min().item<double>() == 0.25);
  CHECK(w.max().item<double>() == 0.25);
  init::zeros_(w);
  CHECK(w.abs().max().item<double>() == 0.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Tanh) == Approx(5.0 / 3.0));
  CHECK(init::calculate_gain(init::Nonlinearity::LeakyReLU, 0.2) == Approx(std::sqrt(2.0 / 1.04)));
  Tensor conv = empty({8, 4, 3, 3});
  CHECK(init::calculate_fan_in_and_fan_out(conv).fan_in == 36);
  CHECK(init::calculate_fan_in_and_fan_out(conv).fan_out == 72);
  CHECK_THROWS_WITH(init::xavier_uniform_(empty({5})), Contains("needs a tensor with 2 or more dims, got [5]"));
  CHECK_THROWS_AS(init::normal_(zeros({2}, {.dtype = Int64})), DTypeError);
  // Initialising a parameter is not recorded.
  Tensor p = zeros({3, 3}).requires_grad_();
  init::normal_(p);
  CHECK(p.is_leaf());
  // Same seed, same values.
  manual_seed(9);
  Tensor a = init::normal_(empty({10}));
  manual_seed(9);
  Tensor b = init::normal_(empty({10}));
  CHECK(a.to_vector<float>() == b.to_vector<float>());
}

TEST_CASE("nn: activations match their definitions", "[nn][activation]") {
  Tensor x = tensor({-2.0, -0.5, 0.0, 0.5, 2.0}, {}, {.dtype = Float64});
  require_values(F::leaky_relu(x, 0.1), {-0.2, -0.05, 0.0, 0.5, 2.0}, 1e-15);
  std::vector<double> gelu, gelu_tanh;
  for (double v : values(x)) {
    gelu.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
    gelu_tanh.push_back(0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
  }
  require_values(F::gelu(x), gelu, 1e-14);
  require_values(nn::GELU(F::GeluApproximation::Tanh)(x), gelu_tanh, 1e-14);
  require_values(nn::LeakyReLU(0.2)(x), {-0.4, -0.1, 0.0, 0.5, 2.0}, 1e-15);
  require_values(nn::ReLU()(x), {0, 0, 0, 0.5, 2.0});
  require_values(nn::Sigmoid()(x), values(sigmoid(x)));
  require_values(nn::Tanh()(x), values(tanh(x)));
  require_values(nn::Softmax(0)(x), values(softmax(x, 0)));
  require_values(nn::LogSoftmax()(x), values(log_softmax(x)));
}

TEST_CASE("nn: losses match hand computations", "[nn][loss]") {
  using nn::Reduction;
  Tensor logits = tensor({1.0, 2.0, 0.5, 0.1, -1.0, 3.0}, {2, 3}, {.dtype = Float64});
  Tensor targets = tensor(std::vector<int64_t>{1, 2});
  auto logsumexp_row = [](double a, double b, double c) { return std::log(std::exp(a) + std::exp(b) + std::exp(c)); };
  const double l0 = logsumexp_row(1.0, 2.0, 0.5), l1 = logsumexp_row(0.1, -1.0, 3.0);
  const double nll0 = l0 - 2.0, nll1 = l1 - 3.0;
  require_values(F::cross_entropy(logits, targets, {.reduction = Reduction::None}), {nll0, nll1}, 1e-14);
  require_values(F::cross_entropy(logits, targets, {.reduction = Reduction::Sum}), {nll0 + nll1}, 1e-14);
  require_values(nn::CrossEntropyLoss()(logits, targets), {(nll0 + nll1) / 2}, 1e-14);
  // Smoothing 0.3 over 3 classes: target 0.1 everywhere, 0.8 on the true class.
  const double smooth0 = 0.1 * ((l0 - 1.0) + (l0 - 2.0) + (l0 - 0.5)) + 0.7 * nll0;
  const double smooth1 = 0.1 * ((l1 - 0.1) + (l1 + 1.0) + (l1 - 3.0)) + 0.7 * nll1;
  require_values(F::cross_entropy(logits, targets, {.label_smoothing = 0.3}), {(smooth0 + smooth1) / 2}, 1e-14);
  require_values(nn::NLLLoss()(log_softmax(logits, 1), targets), {(nll0 + nll1) / 2}, 1e-14);
  CHECK_THROWS_WITH(F::nll_loss(logits, tensor(std::vector<int64_t>{1, 3})),
                    Contains("nll_loss: target 3 is out of range for 3 classes"));
  CHECK_THROWS_WITH(F::nll_loss(logits, tensor({1.0f, 2.0f})), Contains("targets must be int64"));
  CHECK_THROWS_WITH(F::cross_entropy(logits, targets, {.label_smoothing = 1.5}),
                    Contains("label_smoothing must be in [0, 1]"));

  Tensor a = tensor({1.0, -2.0, 3.0}, {}, {.dtype = Float64});
  Tensor b = tensor({0.5, 0.0, 5.0}, {}, {.dtype = Float64});
  require_values(nn::MSELoss()(a, b), {(0.25 + 4.0 + 4.0) / 3}, 1e-15);
  require_values(F::mse_loss(a, b, {.reduction = Reduction::None}), {0.25, 4.0, 4.0}, 1e-15);
  require_values(nn::L1Loss({.reduction = Reduction::Sum})(a, b), {0.5 + 2.0 + 2.0}, 1e-15);
  CHECK_THROWS_WITH(F::l1_loss(a, zeros({2})), Contains("l1_loss"));

  Tensor z = tensor({-30.0, -1.0, 0.0, 2.0, 40.0}, {}, {.dtype = Float64});
  Tensor y = tensor({0.0, 1.0, 1.0, 0.0, 1.0}, {}, {.dtype = Float64});
  std::vector<double> bce;
  for (std::size_t i = 0; i < 5; ++i) {
    const double zi = values(z)[i], yi = values(y)[i];
    // log(1 + e^z) - y z, written with log1p for the reference.
    bce.push_back((zi > 0 ? zi + std::log1p(std::exp(-zi)) : std::log1p(std::exp(zi))) - yi * zi);
  }
  require_values(F::binary_cross_entropy_with_logits(z, y, {.reduction = Reduction::None}), bce, 1e-13);
  require_values(F::binary_cross_entropy(sigmoid(z.slice(0, 1, 4)), y.slice(0, 1, 4), {.reduction = Reduction::None}),
                 {bce[1], bce[2], bce[3]}, 1e-12);
  // p = 0 with y = 1 is a large finite loss, as in PyTorch, with a finite gradient.
  Tensor p = tensor({0.0, 1.0}, {}, {.dtype = Float64}).requires_grad_();
  Tensor worst = F::binary_cross_entropy(p, tensor({1.0, 0.0}, {}, {.dtype = Float64}), {.reduction = Reduction::Sum});
  CHECK(worst.item<double>() == Approx(200.0));
  worst.backward();
  for (double g : values(p.grad())) CHECK(std::isfinite(g));
  CHECK_THROWS_WITH(F::binary_cross_entropy(tensor({1.5}), tensor({1.0f})), Contains("must lie in [0, 1]"));
}

TEST_CASE("nn: binary cross-entropy with logits has the right gradient at zero logits", "[nn][loss]") {
  // A zero-initialised logistic regression starts exactly at x = 0, where forms built on |x|
  // or relu(x) would report -y instead of sigmoid(0) - y = 0.5 - y.
  Tensor x = zeros({4}, {.dtype = Float64}).requires_grad_();
  Tensor y = tensor({0.0, 1.0, 1.0, 0.0}, {}, {.dtype = Float64});
  F::binary_cross_entropy_with_logits(x, y, {.reduction = nn::Reduction::Sum}).backward();
  require_values(x.grad(), {0.5, -0.5, -0.5, 0.5}, 1e-15);
}
