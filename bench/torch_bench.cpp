// SPDX-License-Identifier: MIT
// LibTorch's side of the side-by-side benchmarks: tapeflow_bench.cpp's workloads, name for name,
// written as LibTorch's documentation writes them. Built only where Debian's libtorch-dev is.
#include <torch/torch.h>

#include <cmath>

#include "bench_main.hpp"

namespace {

void tiny_add_recorded(benchmark::State& state) {
  torch::Tensor a = torch::randn({4}).requires_grad_(), b = torch::randn({4});
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
void tiny_add_no_grad(benchmark::State& state) {
  torch::Tensor a = torch::randn({4}).requires_grad_(), b = torch::randn({4});
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
void tiny_add_plain(benchmark::State& state) {
  torch::Tensor a = torch::randn({4}), b = torch::randn({4});
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
void chain10_fwd_bwd(benchmark::State& state) {
  torch::Tensor x = torch::randn({4}).requires_grad_(), w = torch::randn({4});
  for (auto _ : state) {
    torch::Tensor y = x * w;
    y = y + w;
    y = torch::tanh(y);
    y = y * x;
    y = y - w;
    y = torch::sigmoid(y);
    y = y * w;
    y = y + x;
    y = torch::exp(y);
    y = y * w;
    y.sum().backward();
  }
}

void sgemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(torch::matmul(a, b));
}

torch::nn::Sequential mlp() {
  return torch::nn::Sequential(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 256),
                               torch::nn::ReLU(), torch::nn::Linear(256, 10));
}

void mlp_loop(int steps, int64_t batch, benchmark::State* state) {
  torch::manual_seed(0);
  torch::nn::Sequential model = mlp();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  const torch::Tensor x = torch::randn({batch, 784}), labels = torch::randint(0, 10, {batch});
  auto step = [&] {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), labels);
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
  torch::manual_seed(0);
  namespace nn = torch::nn;
  nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(1, 32, 3)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(nn::Conv2dOptions(32, 64, 3)), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                       nn::Linear(1600, 128), nn::ReLU(), nn::Linear(128, 10));
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01));
  const int64_t batch = state.range(0);
  const torch::Tensor x = torch::randn({batch, 1, 28, 28}), labels = torch::randint(0, 10, {batch});
  for (auto _ : state) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), labels);
    loss.backward();
    optimizer.step();
  }
}

void lstm_step(benchmark::State& state) {
  torch::manual_seed(0);
  torch::nn::LSTM model(torch::nn::LSTMOptions(64, 256));
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const torch::Tensor x = torch::randn({64, 32, 64}), target = torch::randn({64, 32, 256});
  for (auto _ : state) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::mse_loss(std::get<0>(model->forward(x)), target);
    loss.backward();
    optimizer.step();
  }
}

torch::Tensor stepped_parameter() {
  torch::manual_seed(0);
  torch::Tensor p = torch::randn({1024, 1024}).requires_grad_();
  p.mutable_grad() = torch::randn({1024, 1024});
  return p;
}
void step_loop(benchmark::State& state, torch::optim::Optimizer& optimizer) {
  const torch::Tensor p = optimizer.param_groups()[0].params()[0].detach();
  const double before = p.sum().item<double>();
  for (auto _ : state) optimizer.step();
  const double after = p.sum().item<double>();
  if (!std::isfinite(after) || after == before)
    state.SkipWithError("the steps left the parameter unmoved or not finite");
}
void optim_step_sgd(benchmark::State& state) {
  torch::optim::SGD optimizer({stepped_parameter()}, torch::optim::SGDOptions(0.01).momentum(0.9));
  step_loop(state, optimizer);
}
void optim_step_adam(benchmark::State& state) {
  torch::optim::Adam optimizer({stepped_parameter()}, torch::optim::AdamOptions(1e-3));
  step_loop(state, optimizer);
}
void optim_step_rmsprop(benchmark::State& state) {
  torch::optim::RMSprop optimizer({stepped_parameter()}, torch::optim::RMSpropOptions(1e-3));
  step_loop(state, optimizer);
}
void optim_step_adagrad(benchmark::State& state) {
  torch::optim::Adagrad optimizer({stepped_parameter()}, torch::optim::AdagradOptions(1e-2));
  step_loop(state, optimizer);
}

// --- layouts and reductions on a 1024×1024 float32 matrix, no grad ----------------------------
torch::Tensor matrix() {
  torch::manual_seed(0);
  return torch::randn({1024, 1024});
}
void layout_transpose_copy(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.t().contiguous());
}
void layout_add_transposed(benchmark::State& state) {
  const torch::Tensor x = matrix(), y = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.t() + y);
}
void layout_inplace_transposed(benchmark::State& state) {
  torch::Tensor xt = matrix().t();
  for (auto _ : state) xt.add_(1e-3);
}
void reduce_sum_rows(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.sum(1));
}
void reduce_sum_columns(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.sum(0));
}
void reduce_sum_all(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(x.sum());
}
void unary_exp(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(torch::exp(x));
}
void unary_tanh(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(torch::tanh(x));
}
void unary_sigmoid(benchmark::State& state) {
  const torch::Tensor x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(torch::sigmoid(x));
}
void reduce_bias_grad(benchmark::State& state) {
  torch::manual_seed(0);
  const torch::Tensor g = torch::randn({64, 1024});
  for (auto _ : state) benchmark::DoNotOptimize(g.sum(0));
}

}  // namespace

BENCHMARK(tiny_add_recorded)->Name("tiny_add/recorded");
BENCHMARK(tiny_add_no_grad)->Name("tiny_add/no_grad");
BENCHMARK(tiny_add_plain)->Name("tiny_add/plain");
BENCHMARK(chain10_fwd_bwd)->Name("chain10/fwd_bwd");
BENCHMARK(sgemm)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);
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
  return bench::main(argc, argv, {.set_threads = [](int n) { torch::set_num_threads(n); },
                                  .mlp_loop = [](int steps) { mlp_loop(steps, 64, nullptr); }});
}
