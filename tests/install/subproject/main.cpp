// SPDX-License-Identifier: MIT
// Built by a meson project that gets tapeflow with dependency('tapeflow') as a subproject.
// y = sum(x * x * w): dy/dx = 2*x*w and dy/dw = x*x, checked against those hand-derived values.
// Prints "subproject consumer: ok" and exits 0, or names the mismatch and exits 1.
#include <tapeflow/tapeflow.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  using namespace tapeflow;
  const std::vector<float> xs = {1.f, 2.f, 3.f}, ws = {0.5f, -1.f, 2.f};
  Tensor x = tensor(xs).requires_grad_();
  Tensor w = tensor(ws).requires_grad_();
  (x * x * w).sum().backward();
  const std::vector<float> gx = x.grad().to_vector<float>(), gw = w.grad().to_vector<float>();
  int failures = gx.size() == xs.size() && gw.size() == ws.size() ? 0 : 1;
  for (std::size_t i = 0; failures == 0 && i < xs.size(); ++i) {
    const float want_x = 2.f * xs[i] * ws[i], want_w = xs[i] * xs[i];
    if (std::fabs(gx[i] - want_x) > 1e-5f || std::fabs(gw[i] - want_w) > 1e-5f) {
      std::fprintf(stderr, "subproject consumer: FAIL at %zu: dy/dx %g (expected %g), dy/dw %g (expected %g)\n",
                   i, gx[i], want_x, gw[i], want_w);
      ++failures;
    }
  }
  if (failures) return 1;
  std::printf("subproject consumer: ok\n");
  return 0;
}
