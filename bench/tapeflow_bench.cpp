// SPDX-License-Identifier: MIT
// tapeflow's side of the side-by-side benchmarks: the workloads of bench/README.md, written the
// way a user writes them. torch_bench.cpp is the same list, name for name, against LibTorch;
// bench/run.sh runs both and prints the ratios.
#include <tapeflow/tapeflow.hpp>

#include <cblas.h>

#include <cmath>
#include <vector>

#include "bench_main.hpp"

using namespace tapeflow;

namespace {

// --- 1. per-op overhead: 4-element tensors, so the op's bookkeeping is all there is ----------
void tiny_add_recorded(benchmark::State& state) {
  Tensor a = randn({4}).requires_grad_(), b = randn({4});
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
void tiny_add_no_grad(benchmark::State& state) {
  Tensor a = randn({4}).requires_grad_(), b = randn({4});
  NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
void tiny_add_plain(benchmark::State& state) {
  Tensor a = randn({4}), b = randn({4});
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
// Ten elementwise ops, their sum and backward; run.sh divides by ten for the per-op figure.
void chain10_fwd_bwd(benchmark::State& state) {
  Tensor x = randn({4}).requires_grad_(), w = randn({4});
  for (auto _ : state) {
    Tensor y = x * w;
    y = y + w;
    y = tanh(y);
    y = y * x;
    y = y - w;
    y = sigmoid(y);
    y = y * w;
    y = y + x;
    y = exp(y);
    y = y * w;
    sum(y).backward();
  }
}

// --- 2. sgemm: tapeflow's matmul, and OpenBLAS called directly on the same data -----------
void sgemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = randn({n, n}), b = randn({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b));
}
void cblas_sgemm_direct(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Tensor a = randn({n, n}), b = randn({n, n}), c = zeros({n, n});
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data_ptr<float>(), n,
                b.data_ptr<float>(), n, 0.0f, c.data_ptr<float>(), n);
    benchmark::ClobberMemory();
  }
}

// --- 3-5. training steps: zero_grad, forward, loss, backward, optimizer step ---------------
nn::Sequential mlp() {
  return nn::Sequential(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 256), nn::ReLU(), nn::Linear(256, 10));
}

void mlp_loop(int steps, int64_t batch, benchmark::State* state) {
  manual_seed(0);
  nn::Sequential model = mlp();
  optim::SGD optimizer(model.parameters(), {.lr = 0.1});
  const Tensor x = randn({batch, 784}), labels = randint(0, 10, {batch});
  auto step = [&] {
    optimizer.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), labels);
    loss.backward();
    optimizer.step();
  };
  if (state) {
    for (auto _ : *state) step();
  } else {
    for (int i = 0; i < steps; ++i) step();
  }
}
void mlp_step(benchmark::State& state) { mlp_loop(0, state.range(0), &state); }

void cnn_step(benchmark::State& state) {
  manual_seed(0);
  nn::Sequential model(nn::Conv2d(1, 32, 3), nn::ReLU(), nn::MaxPool2d(2), nn::Conv2d(32, 64, 3), nn::ReLU(),
                       nn::MaxPool2d(2), nn::Flatten(), nn::Linear(1600, 128), nn::ReLU(), nn::Linear(128, 10));
  optim::SGD optimizer(model.parameters(), {.lr = 0.01});
  const int64_t batch = state.range(0);
  const Tensor x = randn({batch, 1, 28, 28}), labels = randint(0, 10, {batch});
  for (auto _ : state) {
    optimizer.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), labels);
    loss.backward();
    optimizer.step();
  }
}

void lstm_step(benchmark::State& state) {
  manual_seed(0);
  nn::LSTM model(64, 256);
  optim::Adam optimizer(model.parameters(), {.lr = 1e-3});
  const Tensor x = randn({64, 32, 64}), target = randn({64, 32, 256});
  for (auto _ : state) {
    optimizer.zero_grad();
    Tensor loss = mse_loss(model.forward(x).output, target);
    loss.backward();
    optimizer.step();
  }
}

// --- 6. one optimizer step on a 1024×1024 parameter with a fixed gradient: the update alone ----
Tensor stepped_parameter() {
  manual_seed(0);
  Tensor p = randn({1024, 1024}).requires_grad_();
  p.set_grad(randn({1024, 1024}));
  return p;
}
void step_loop(benchmark::State& state, optim::Optimizer& optimizer) {
  const Tensor p = optimizer.parameters()[0].detach();
  const double before = sum(p).item<double>();
  for (auto _ : state) optimizer.step();
  const double after = sum(p).item<double>();
  if (!std::isfinite(after) || after == before)
    state.SkipWithError("the steps left the parameter unmoved or not finite");
}
void optim_step_sgd(benchmark::State& state) {
  optim::SGD optimizer({stepped_parameter()}, {.lr = 0.01, .momentum = 0.9});
  step_loop(state, optimizer);
}
void optim_step_adam(benchmark::State& state) {
  optim::Adam optimizer({stepped_parameter()}, {.lr = 1e-3});
  step_loop(state, optimizer);
}
void optim_step_rmsprop(benchmark::State& state) {
  optim::RMSprop optimizer({stepped_parameter()}, {.lr = 1e-3});
  step_loop(state, optimizer);
}
void optim_step_adagrad(benchmark::State& state) {
  optim::Adagrad optimizer({stepped_parameter()}, {.lr = 1e-2});
  step_loop(state, optimizer);
}

// --- 7. layouts and reductions on a 1024×1024 float32 matrix, no grad: the loop engine alone ----
Tensor matrix() {
  manual_seed(0);
  return randn({1024, 1024});
}
void layout_transpose_copy(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.t().contiguous());
}
void layout_add_transposed(benchmark::State& state) {
  const Tensor x = matrix(), y = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.t() + y);
}
void layout_inplace_transposed(benchmark::State& state) {
  Tensor xt = matrix().t();
  for (auto _ : state) xt.add_(1e-3);
}
void reduce_sum_rows(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.sum(1));
}
void reduce_sum_columns(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.sum(0));
}
void reduce_sum_all(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.sum());
}
void unary_exp(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(exp(x));
}
void unary_tanh(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(tanh(x));
}
void unary_sigmoid(benchmark::State& state) {
  const Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(sigmoid(x));
}
void reduce_bias_grad(benchmark::State& state) {  // a Linear layer's bias gradient at batch 64
  manual_seed(0);
  const Tensor g = randn({64, 1024});
  for (auto _ : state) benchmark::DoNotOptimize(g.sum(0));
}

}  // namespace

BENCHMARK(tiny_add_recorded)->Name("tiny_add/recorded");
BENCHMARK(tiny_add_no_grad)->Name("tiny_add/no_grad");
BENCHMARK(tiny_add_plain)->Name("tiny_add/plain");
BENCHMARK(chain10_fwd_bwd)->Name("chain10/fwd_bwd");
BENCHMARK(sgemm)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(cblas_sgemm_direct)->Name("cblas_sgemm")->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(mlp_step)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(cnn_step)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(lstm_step)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(optim_step_sgd)->Name("optim_step/sgd_momentum")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(optim_step_adam)->Name("optim_step/adam")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(optim_step_rmsprop)->Name("optim_step/rmsprop")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(optim_step_adagrad)->Name("optim_step/adagrad")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(layout_transpose_copy)->Name("layout/transpose_copy")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(layout_add_transposed)->Name("layout/add_transposed")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(layout_inplace_transposed)->Name("layout/inplace_transposed")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(reduce_sum_rows)->Name("reduce/sum_rows")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(reduce_sum_columns)->Name("reduce/sum_columns")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(reduce_sum_all)->Name("reduce/sum_all")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(reduce_bias_grad)->Name("reduce/bias_grad")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(unary_exp)->Name("unary/exp")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(unary_tanh)->Name("unary/tanh")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(unary_sigmoid)->Name("unary/sigmoid")->UseRealTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  return bench::main(argc, argv, {.set_threads = [](int n) { set_num_threads(n); },
                                  .mlp_loop = [](int steps) { mlp_loop(steps, 64, nullptr); }});
}
