// SPDX-License-Identifier: MIT
// Numerical robustness.
//  1. softmax, log_softmax, logsumexp, cross_entropy (fused and with options), nll_loss and
//     binary_cross_entropy_with_logits at logits of ±1e4 (mixed, all equal, nearly equal), in
//     float32 and float64: finite outputs and gradients equal to the analytic values computed in
//     long double from the same (rounded) inputs, within a few units in the last place.
//  2. Every standard layer's float32 gradients against the float64 gradients of the same layer,
//     same weights, same inputs (float32 values, exactly converted), within the tolerance table.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace tapeflow;

namespace {

using LD = long double;

template <typename T>
constexpr double ulp1 = std::numeric_limits<T>::epsilon();  // 2^-23 (float), 2^-52 (double)

double eps_of(DType d) { return d == Float32 ? ulp1<float> : ulp1<double>; }

/// Logit rows that break naive formulas: exp(1e4) overflows both float types, exp(-1e4)
/// underflows, and x - log(sum(exp(x))) rounded through 1e4 loses float32's last 13 bits.
const std::vector<std::vector<double>> kRows = {
    {1e4, -1e4, 0.0},              // mixed
    {-1e4, 1e4, 0.0},              // the maximum not first
    {1e4, 1e4, 1e4},               // all equal, large
    {-1e4, -1e4, -1e4},            // all equal, large negative
    {1e4, 1e4 - 1.0, 1e4 - 2.0},   // nearly equal, large: every class matters
    {-1e4, -1e4 + 3.0, -1e4 + 0.5},
};
const std::vector<double> kWeights = {0.3, -0.7, 1.1, 0.9, -0.2, 0.5, -1.3, 0.8, 0.1,
                                      0.6, -0.4, 1.7, -0.9, 0.25, 0.75, 1.5, -0.5, 0.35};
const std::vector<int64_t> kTargets = {1, 0, 2, 1, 2, 0};  // the wrong class where it matters most

Tensor logits(DType d) {
  std::vector<double> flat;
  for (const auto& r : kRows) flat.insert(flat.end(), r.begin(), r.end());
  return tensor(flat, {static_cast<int64_t>(kRows.size()), 3}, {.dtype = d});
}

// Reference values in long double from the inputs as the dtype holds them.
struct RowRef {
  std::vector<LD> x, softmax, log_softmax;
  LD lse;
};
RowRef reference(const std::vector<double>& row, DType d) {
  RowRef r;
  for (double v : row) r.x.push_back(d == Float32 ? static_cast<LD>(static_cast<float>(v)) : static_cast<LD>(v));
  const LD m = *std::max_element(r.x.begin(), r.x.end());
  LD s = 0;
  for (LD v : r.x) s += std::exp(v - m);
  r.lse = m + std::log(s);
  for (LD v : r.x) {
    r.softmax.push_back(std::exp(v - m) / s);
    r.log_softmax.push_back((v - m) - std::log(s));
  }
  return r;
}

/// Every value finite and within `ulps` units in the last place of the expected value, plus
/// `abs_floor`: for probabilities that underflow to 0, and for log-domain values, which carry the
/// absolute error of log(sum) (a few ε, however close to 0 the value is).
void check_values(const char* what, const Tensor& got, const std::vector<LD>& want, double ulps, double abs_floor) {
  const std::vector<double> g = got.to_vector<double>();
  REQUIRE(g.size() == want.size());
  const double eps = eps_of(got.dtype());
  for (std::size_t i = 0; i < g.size(); ++i) {
    INFO(what << " element " << i << ": got " << g[i] << ", expected " << static_cast<double>(want[i])
              << ", difference " << static_cast<double>(g[i] - want[i]));
    CHECK(std::isfinite(g[i]));
    CHECK(std::abs(static_cast<LD>(g[i]) - want[i]) <= ulps * eps * std::abs(want[i]) + abs_floor);
  }
}

}  // namespace

// --- 1. stability at ±1e4 ---------------------------------------------------------------------------

TEST_CASE("numerics: softmax, log_softmax and logsumexp are exact to a few ulps at logits of ±1e4",
          "[numerics]") {
  for (DType d : {Float32, Float64}) {
    DYNAMIC_SECTION(dtype_name(d)) {
      const double eps = eps_of(d);
      std::vector<LD> sm, lsm, lse, dsm, dlsm, dlse;
      for (std::size_t r = 0; r < kRows.size(); ++r) {
        RowRef ref = reference(kRows[r], d);
        sm.insert(sm.end(), ref.softmax.begin(), ref.softmax.end());
        lsm.insert(lsm.end(), ref.log_softmax.begin(), ref.log_softmax.end());
        lse.push_back(ref.lse);
        // Weighted sums L = sum(v ⊙ f(x)): d softmax = y ⊙ (v − Σ v⊙y), d log_softmax = v − y Σ v,
        // d logsumexp = softmax · v_row.
        LD vy = 0, vs = 0;
        for (int c = 0; c < 3; ++c) {
          vy += static_cast<LD>(kWeights[3 * r + c]) * ref.softmax[c];
          vs += static_cast<LD>(kWeights[3 * r + c]);
        }
        for (int c = 0; c < 3; ++c) {
          dsm.push_back(ref.softmax[c] * (static_cast<LD>(kWeights[3 * r + c]) - vy));
          dlsm.push_back(static_cast<LD>(kWeights[3 * r + c]) - ref.softmax[c] * vs);
          dlse.push_back(ref.softmax[c] * static_cast<LD>(kWeights[r]));
        }
      }
      const Tensor v = tensor(kWeights, {6, 3}, {.dtype = d});
      const Tensor v_row = tensor(std::vector<double>(kWeights.begin(), kWeights.begin() + 6), {6}, {.dtype = d});

      SECTION("along the last (contiguous) axis") {
        Tensor x = logits(d).requires_grad_();
        Tensor y = softmax(x, 1);
        // One rounding of a value computed in double: half an ulp, plus the sum's rounding.
        check_values("softmax", y, sm, 2, 1e-300);
        (y * v).sum().backward();
        // y ⊙ (v − Σ v⊙y) rounds each of three terms of size ≤ max|v|: a few ulps of max|v| = 1.7.
        check_values("d softmax", x.grad(), dsm, 0, 8 * eps * 1.7);

        x.set_grad(Tensor());
        Tensor ly = log_softmax(x, 1);
        check_values("log_softmax", ly, lsm, 2, 4 * eps);
        (ly * v).sum().backward();
        check_values("d log_softmax", x.grad(), dlsm, 0, 8 * eps * 1.7 * 3);

        x.set_grad(Tensor());
        Tensor s = logsumexp(x, {1});
        check_values("logsumexp", s, lse, 2, 4 * eps);
        (s * v_row).sum().backward();
        check_values("d logsumexp", x.grad(), dlse, 0, 8 * eps * 1.7);
      }
      SECTION("along a strided axis (the transposed layout)") {
        Tensor xt = logits(d).t().contiguous().requires_grad_();  // [3, 6]: classes along axis 0
        Tensor y = softmax(xt, 0).t();
        check_values("softmax", y, sm, 2, 1e-300);
        (y * v).sum().backward();
        check_values("d softmax", xt.grad().t(), dsm, 0, 8 * eps * 1.7);
        Tensor ly = log_softmax(xt.detach(), 0).t();
        check_values("log_softmax", ly, lsm, 2, 4 * eps);
        check_values("logsumexp", logsumexp(xt.detach(), {0}), lse, 2, 4 * eps);
      }
    }
  }
}

TEST_CASE("numerics: cross-entropy losses are exact to a few ulps at logits of ±1e4", "[numerics]") {
  namespace F = nn::functional;
  for (DType d : {Float32, Float64}) {
    DYNAMIC_SECTION(dtype_name(d)) {
      const double eps = eps_of(d);
      const LD n = static_cast<LD>(kRows.size());
      std::vector<LD> losses, grad_mean;
      LD mean = 0;
      for (std::size_t r = 0; r < kRows.size(); ++r) {
        RowRef ref = reference(kRows[r], d);
        losses.push_back(ref.lse - ref.x[kTargets[r]]);
        mean += losses.back() / n;
        for (int c = 0; c < 3; ++c) grad_mean.push_back((ref.softmax[c] - (c == kTargets[r] ? 1 : 0)) / n);
      }
      const Tensor t = tensor(kTargets);

      SECTION("fused cross_entropy") {
        Tensor x = logits(d).requires_grad_();
        Tensor loss = cross_entropy(x, t);
        check_values("cross_entropy", loss, {mean}, 2, 4 * eps);
        loss.backward();
        // softmax − onehot, then divided by N: a couple of roundings of values ≤ 1.
        check_values("d cross_entropy", x.grad(), grad_mean, 0, 4 * eps);
      }
      SECTION("cross_entropy without reduction, nll_loss of log_softmax") {
        Tensor x = logits(d).requires_grad_();
        Tensor each = F::cross_entropy(x, t, {.reduction = nn::Reduction::None});
        check_values("cross_entropy per row", each, losses, 2, 4 * eps);
        each.mean().backward();
        check_values("d cross_entropy per row", x.grad(), grad_mean, 0, 4 * eps);
        Tensor nll = F::nll_loss(log_softmax(x.detach(), 1), t, {.reduction = nn::Reduction::None});
        check_values("nll_loss", nll, losses, 2, 4 * eps);
      }
      SECTION("binary_cross_entropy_with_logits at ±1e4") {
        // x = ±1e4 with both targets: the loss is 0 or exactly 1e4, the gradient σ(x) − y ∈ {0, ±1}.
        Tensor x = tensor({1e4, 1e4, -1e4, -1e4, 0.0}, {}, {.dtype = d}).requires_grad_();
        Tensor y = tensor({0.0, 1.0, 0.0, 1.0, 1.0}, {}, {.dtype = d});
        Tensor loss = F::binary_cross_entropy_with_logits(x, y, {.reduction = nn::Reduction::None});
        check_values("bce_with_logits", loss, {1e4L, 0, 0, 1e4L, std::log(2.0L)}, 2, 4 * eps);
        loss.sum().backward();
        check_values("d bce_with_logits", x.grad(), {1, 0, 0, -1, -0.5L}, 2, 1e-300);
      }
    }
  }
}

// --- 2. float32 gradients against float64 ----------------------------------------------------------

namespace {

/// One layer of the comparison. `tol` is relative to the largest float64 value compared (see the
/// table in the TEST_CASE below for why each is what it is).
struct LayerCase {
  std::string name;
  std::function<std::shared_ptr<nn::Module>()> make;
  Shape input;
  double tol;
  /// forward when not the module's one-tensor forward (losses, recurrent layers' structs).
  std::function<Tensor(nn::Module&, const Tensor&)> run = nullptr;
  double offset = 0.0;         ///< added to the standard-normal input (normalisation layers)
  int64_t vocabulary = 0;      ///< > 0: Int64 indices in [0, vocabulary) instead of a float input
  bool eval = false;           ///< compare in evaluation mode
};

/// A deterministic target exactly representable in float32: k/8 - 1 for k = 0, 1, ...
Tensor target_like(const Tensor& x) {
  std::vector<double> v(static_cast<std::size_t>(x.numel()));
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k % 17) / 8.0 - 1.0;
  return tensor(v, x.shape(), {.dtype = x.dtype()});
}
Tensor class_targets(int64_t n, int64_t classes) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back((3 * i + 1) % classes);
  return tensor(v);
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

/// max |a − b| / max |b|: the error relative to the float64 tensor's scale.
double relative_error(const Tensor& f32, const Tensor& f64) {
  const std::vector<double> a = f32.to_vector<double>(), b = f64.to_vector<double>();
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(std::isfinite(a[i]));
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  const double scale = max_abs(b);
  return scale > 0 ? worst / scale : worst;
}

void compare_layer(const LayerCase& c) {
  manual_seed(1234);
  std::shared_ptr<nn::Module> m32 = c.make(), m64 = c.make();
  // Same weights: the float64 copy holds the float32 values exactly.
  m64->to(Float64);
  m64->load_state_dict(m32->state_dict());
  if (c.eval) m32->eval(), m64->eval();

  Tensor x32, x64;
  if (c.vocabulary > 0) {
    x32 = x64 = randint(0, c.vocabulary, c.input);
  } else {
    x32 = (randn(c.input) + c.offset).requires_grad_();
    x64 = x32.detach().to(Float64).requires_grad_();
  }
  auto run = [&](nn::Module& m, const Tensor& x) { return c.run ? c.run(m, x) : m(x); };
  Tensor y32 = run(*m32, x32), y64 = run(*m64, x64);
  REQUIRE(y32.dtype() == Float32);
  REQUIRE(y64.dtype() == Float64);
  // A weighted sum, so that permutations and sign errors cannot cancel out.
  Tensor w32 = randn(y32.shape()), w64 = w32.to(Float64);
  (y32 * w32).sum().backward();
  (y64 * w64).sum().backward();

  INFO(c.name << ": tolerance " << c.tol);
  const double out_err = relative_error(y32, y64);
  INFO("output error " << out_err);
  CHECK(out_err <= c.tol);
  if (c.vocabulary == 0) {
    const double in_err = relative_error(x32.grad(), x64.grad());
    INFO("input gradient error " << in_err);
    CHECK(in_err <= c.tol);
  }
  const auto p32 = m32->named_parameters(), p64 = m64->named_parameters();
  REQUIRE(p32.size() == p64.size());
  for (std::size_t i = 0; i < p32.size(); ++i) {
    REQUIRE(p32[i].second.grad().defined());
    const double err = relative_error(p32[i].second.grad(), p64[i].second.grad());
    INFO("gradient of " << p32[i].first << ": error " << err);
    CHECK(err <= c.tol);
  }
}

template <typename M, typename... A>
std::function<std::shared_ptr<nn::Module>()> make(A... args) {
  return [=] { return std::make_shared<M>(args...); };
}

}  // namespace

TEST_CASE("numerics: float32 layer gradients agree with float64 within the stated tolerances", "[numerics]") {
  // Tolerances, relative to the largest float64 value of each compared tensor. ε = 2^-23 is
  // float32's machine epsilon. A chain of n roundings (a length-n sum, or n steps feeding each
  // other) errs by at most about n·ε and typically by √n·ε; everything after it adds a few ε.
  // A wrong gradient is off by O(1), and float32 computed without care (a variance as
  // E[x²] − E[x]² around a large mean, log(sum(exp)) rounded through a large maximum) by 1e-4 to
  // 1e-3, so these bounds separate the two (measured errors are 10 to 100 times below them).
  //   layer                      tolerance     why
  //   ReLU, MaxPool2d,           0 (exact)     selection and copies only; the loss weights w are
  //   Dropout in eval                          float32 values, so w·1 and w·0 are exact in both
  //   Tanh, Sigmoid, GELU,       4ε            one transcendental per element and its derivative,
  //   LeakyReLU                                each rounded once or twice (0.01 itself rounds)
  //   AvgPool2d(2)               4·n·ε, n=4    window sums
  //   Softmax, LogSoftmax        4·n·ε, n=10   sums over the 10 classes
  //   Linear(16, 8)              4·n·ε, n=30   dots over 16 inputs, 8 outputs, 6 batch rows
  //   Conv2d(3, 4, 3)            4·n·ε, n=99   dots of 27 taps; the weight gradient sums 72 positions
  //   Embedding(10, 4)           4·n·ε, n=8    a gradient row sums its repeated lookups (48 of 10)
  //   RNN, GRU (6 steps)         4·n·ε, n=54   6 steps of 4 + 5 inputs fed back through the state
  //   LSTM (2 layers, 6 steps)   4·n·ε, n=120  the same through two layers of 5 + 5
  //   BatchNorm, LayerNorm       3e-5          inputs 100 ± 1: the mean of values near 100 rounds
  //                                            to float32 (ulp 7.6e-6), shifting every centred value
  //                                            by up to 3.8e-6 σ; weight gradients sum 5 to 100 of
  //                                            those (E[x²] − E[x]² would err by ~2e-4 and fail)
  //   MSE, L1, BCE-with-logits   4·n·ε, n=20   the mean over 20 elements
  //   cross_entropy (± smoothing) 4·n·ε, n=60  logsumexp over 10 classes, mean over 6 rows
  const double e = ulp1<float>;
  auto red = [e](int64_t n) { return 4.0 * static_cast<double>(n) * e; };
  auto loss_of = [](auto loss) {
    return [loss](nn::Module& m, const Tensor& x) {
      (void)m;
      return loss(x);
    };
  };
  namespace F = nn::functional;
  const std::vector<LayerCase> cases = {
      {"Linear(16, 8)", make<nn::Linear>(16, 8), {6, 16}, red(30)},
      {"Conv2d(3, 4, 3, padding 1)", [] { return std::make_shared<nn::Conv2d>(3, 4, 3, nn::Conv2dOptions{.padding = 1}); },
       {2, 3, 6, 6}, red(99)},
      {"MaxPool2d(2)", make<nn::MaxPool2d>(nn::Size2(2)), {2, 3, 6, 6}, 0.0},
      {"AvgPool2d(2)", make<nn::AvgPool2d>(nn::Size2(2)), {2, 3, 6, 6}, red(4)},
      {"BatchNorm1d(6), training", make<nn::BatchNorm1d>(6), {16, 6}, 3e-5, {}, 100.0},
      {"BatchNorm2d(3), training", make<nn::BatchNorm2d>(3), {4, 3, 5, 5}, 3e-5, {}, 100.0},
      {"LayerNorm([8])", [] { return std::make_shared<nn::LayerNorm>(Shape{8}); }, {5, 8}, 3e-5, {}, 100.0},
      {"Embedding(10, 4)", make<nn::Embedding>(10, 4), {6, 8}, red(8), {}, 0.0, 10},
      {"Dropout(0.5), eval", make<nn::Dropout>(0.5), {4, 5}, 0.0, {}, 0.0, 0, true},
      {"ReLU", make<nn::ReLU>(), {4, 5}, 0.0},
      {"LeakyReLU(0.01)", make<nn::LeakyReLU>(0.01), {4, 5}, 4 * e},
      {"GELU", make<nn::GELU>(), {4, 5}, 4 * e},
      {"Tanh", make<nn::Tanh>(), {4, 5}, 4 * e},
      {"Sigmoid", make<nn::Sigmoid>(), {4, 5}, 4 * e},
      {"Softmax(1)", make<nn::Softmax>(1), {4, 10}, red(10)},
      {"LogSoftmax(1)", make<nn::LogSoftmax>(1), {4, 10}, red(10)},
      {"RNN(4, 5), 6 steps",
       make<nn::RNN>(4, 5),
       {6, 2, 4},
       red(54),
       [](nn::Module& m, const Tensor& x) { return static_cast<nn::RNN&>(m)(x).output; }},
      {"GRU(4, 5), 6 steps",
       make<nn::GRU>(4, 5),
       {6, 2, 4},
       red(54),
       [](nn::Module& m, const Tensor& x) { return static_cast<nn::GRU&>(m)(x).output; }},
      {"LSTM(4, 5), 2 layers, 6 steps",
       [] { return std::make_shared<nn::LSTM>(4, 5, nn::LSTMOptions{.num_layers = 2}); },
       {6, 2, 4},
       red(120),
       [](nn::Module& m, const Tensor& x) {
         nn::LSTMOutput o = static_cast<nn::LSTM&>(m)(x);
         return o.output + o.c.sum(0);  // the cell state's gradient path too
       }},
      {"MSE loss", make<nn::Identity>(), {4, 5}, red(20),
       loss_of([](const Tensor& x) { return mse_loss(x, target_like(x)); })},
      {"L1 loss", make<nn::Identity>(), {4, 5}, red(20),
       loss_of([](const Tensor& x) { return F::l1_loss(x, target_like(x)); })},
      {"cross_entropy (fused)", make<nn::Identity>(), {6, 10}, red(60),
       loss_of([](const Tensor& x) { return cross_entropy(x, class_targets(6, 10)); })},
      {"cross_entropy, label smoothing 0.1", make<nn::Identity>(), {6, 10}, red(60),
       loss_of([](const Tensor& x) {
         return F::cross_entropy(x, class_targets(6, 10), {.label_smoothing = 0.1});
       })},
      {"binary_cross_entropy_with_logits", make<nn::Identity>(), {4, 5}, red(20),
       loss_of([](const Tensor& x) {
         return F::binary_cross_entropy_with_logits(x, (target_like(x) + 1.0) / 2.0);
       })},
  };
  for (const LayerCase& c : cases) {
    DYNAMIC_SECTION(c.name) { compare_layer(c); }
  }
}
