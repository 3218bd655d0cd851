// SPDX-License-Identifier: MIT
// A user's program against the INSTALLED tapeflow: check_install.sh compiles it with nothing
// but `pkg-config --cflags --libs tapeflow` and runs it. Every value it checks is derived by
// hand below, so a wrong gradient, a missing symbol or a missing header all fail it.
// Prints "consumer: ok" and exits 0, or names what is wrong and exits 1.
#include <tapeflow/tapeflow.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace tapeflow;

namespace {

int failures = 0;

void expect_near(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  bool ok = got.size() == want.size();
  for (std::size_t i = 0; ok && i < got.size(); ++i) {
    ok = std::fabs(got[i] - want[i]) <= 1e-5f * (1.f + std::fabs(want[i]));
  }
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "consumer: FAIL %s:", what.c_str());
    for (float v : got) std::fprintf(stderr, " %g", v);
    std::fprintf(stderr, "  (expected");
    for (float v : want) std::fprintf(stderr, " %g", v);
    std::fprintf(stderr, ")\n");
  }
}

}  // namespace

int main() {
  try {
    // --- 1. the tape: y = sum(x * x * w), so dy/dx = 2*x*w and dy/dw = x*x -------------------
    const std::vector<float> xs = {1.f, 2.f, 3.f};
    const std::vector<float> ws = {0.5f, -1.f, 2.f};
    Tensor x = tensor(xs).requires_grad_();
    Tensor w = tensor(ws).requires_grad_();
    Tensor y = (x * x * w).sum();
    y.backward();
    std::vector<float> dx, dw;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      dx.push_back(2.f * xs[i] * ws[i]);
      dw.push_back(xs[i] * xs[i]);
    }
    expect_near("y", {y.item<float>()}, {1.f * 0.5f - 4.f + 18.f});
    expect_near("dy/dx", x.grad().to_vector<float>(), dx);
    expect_near("dy/dw", w.grad().to_vector<float>(), dw);

    // --- 2. nn + optim: one SGD step on a Linear(3 -> 1) with an MSE loss ----------------------
    // out = in·Wᵀ + b, loss = (out - t)², so dloss/dW = 2(out - t)·in, dloss/db = 2(out - t),
    // and SGD without momentum moves each parameter by -lr * its gradient.
    manual_seed(7);
    nn::Linear layer(3, 1);
    const std::vector<float> in = {1.f, -2.f, 0.5f};
    const float target = 3.f;
    const float lr = 0.1f;
    const std::vector<float> w0 = layer.weight.to_vector<float>();
    const float b0 = layer.bias.to_vector<float>().at(0);
    float out = b0;
    for (std::size_t i = 0; i < in.size(); ++i) out += in[i] * w0.at(i);
    const float residual = out - target;

    optim::SGD sgd(layer.parameters(), {.lr = lr});
    sgd.zero_grad();
    Tensor loss = mse_loss(layer.forward(tensor(in, {1, 3})), tensor({target}, {1, 1}));
    expect_near("loss", {loss.item<float>()}, {residual * residual});
    loss.backward();
    std::vector<float> dW, W1;
    for (std::size_t i = 0; i < in.size(); ++i) {
      dW.push_back(2.f * residual * in[i]);
      W1.push_back(w0[i] - lr * dW.back());
    }
    expect_near("dloss/dW", layer.weight.grad().to_vector<float>(), dW);
    expect_near("dloss/db", layer.bias.grad().to_vector<float>(), {2.f * residual});
    sgd.step();
    expect_near("W after SGD step", layer.weight.to_vector<float>(), W1);
    expect_near("b after SGD step", layer.bias.to_vector<float>(), {b0 - lr * 2.f * residual});
    {
      NoGradGuard off;
      const float after = mse_loss(layer.forward(tensor(in, {1, 3})), tensor({target}, {1, 1})).item<float>();
      if (!(after < residual * residual)) {
        ++failures;
        std::fprintf(stderr, "consumer: FAIL the SGD step did not lower the loss (%g -> %g)\n",
                     residual * residual, after);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: FAIL exception: %s\n", e.what());
    return 1;
  }
  if (failures > 0) {
    std::fprintf(stderr, "consumer: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("consumer: ok\n");
  return 0;
}
