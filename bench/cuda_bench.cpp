// SPDX-License-Identifier: MIT
// tapeflow on the GPU: the workloads of bench/README.md ("cuda_bench"), every one on cuda:0 and
// timed with cuda_synchronize() inside the timed region, so that each iteration counts the
// kernels it queued and not just their launch (CUDA ops return before their kernels finish).
// torch_cuda_bench.py is the same list, name for name, in PyTorch; bench/run_cuda.sh runs both
// and prints the ratios (compare_cuda.py).
//
// Built only where the library was built with CUDA (bench/meson.build). On a machine without a
// usable GPU it prints "no CUDA device: skipped (<reason>)" and exits 0.
#include <tapeflow/tapeflow.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace tapeflow;

namespace {

Device gpu() { return Device::cuda(0); }

/// Why there is no GPU to measure on, or "" when there is one.
std::string no_cuda_reason() {
  try {
    if (cuda_is_available()) {
      (void)zeros({1}).to(gpu()).item<float>();  // the backend works end to end
      return "";
    }
    (void)zeros({1}).to(gpu());  // throws DeviceError saying why
    return "cuda_is_available() is false";
  } catch (const std::exception& e) {
    return e.what();
  }
}

/// max |got - want| relative to max |want|: how far a GPU result is from its reference.
double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// --- (a) SGEMM: tapeflow's matmul on the GPU, and cuBLAS called directly on the same data ----
void sgemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  manual_seed(0);
  const Tensor a_host = randn({n, n}), b_host = randn({n, n});
  const Tensor a = a_host.to(gpu()), b = b_host.to(gpu());
  if (n <= 1024) {  // what is timed must be right: the GPU's product against the CPU's
    const double err = relative_error(matmul(a, b).to_vector<float>(), matmul(a_host, b_host).to_vector<float>());
    if (!(err < 1e-4)) {
      state.SkipWithError(("matmul on the GPU differs from the CPU's: relative error " + std::to_string(err)).c_str());
      return;
    }
  }
  for (int i = 0; i < 3; ++i) (void)matmul(a, b);  // warm-up: cuBLAS handle, allocator cache
  cuda_synchronize();
  for (auto _ : state) {
    Tensor c = matmul(a, b);
    cuda_synchronize();
    benchmark::DoNotOptimize(c);
  }
}

/// One cuBLAS handle for the program (never destroyed: its teardown would race CUDA's own at exit).
cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) h = nullptr;
    return h;
  }();
  return handle;
}

/// n floats of device memory, freed on scope exit.
struct DeviceFloats {
  float* p = nullptr;
  explicit DeviceFloats(std::size_t n) {
    if (cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float)) != cudaSuccess) p = nullptr;
  }
  ~DeviceFloats() {
    if (p) cudaFree(p);
  }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
};

void cublas_sgemm_direct(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::size_t count = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  manual_seed(0);
  const Tensor a_host = randn({n, n}), b_host = randn({n, n});
  cublasHandle_t h = cublas_handle();
  DeviceFloats da(count), db(count), dc(count);
  if (!h || !da.p || !db.p || !dc.p) {
    state.SkipWithError("cublasCreate or cudaMalloc failed");
    return;
  }
  cudaMemcpy(da.p, a_host.data_ptr<float>(), count * sizeof(float), cudaMemcpyHostToDevice);
  cudaMemcpy(db.p, b_host.data_ptr<float>(), count * sizeof(float), cudaMemcpyHostToDevice);
  const float one = 1.0f, zero = 0.0f;
  // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: the same call with the operands swapped.
  auto gemm = [&] { return cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, db.p, n, da.p, n, &zero, dc.p, n); };
  if (gemm() != CUBLAS_STATUS_SUCCESS || cudaDeviceSynchronize() != cudaSuccess) {
    state.SkipWithError("cublasSgemm failed");
    return;
  }
  {  // the same product as tapeflow's sgemm/N computes
    std::vector<float> got(count);
    cudaMemcpy(got.data(), dc.p, count * sizeof(float), cudaMemcpyDeviceToHost);
    const double err = relative_error(got, matmul(a_host.to(gpu()), b_host.to(gpu())).to_vector<float>());
    if (!(err < 1e-4)) {
      state.SkipWithError(("cublasSgemm differs from tapeflow's matmul: relative error " + std::to_string(err)).c_str());
      return;
    }
  }
  for (auto _ : state) {
    gemm();
    cudaDeviceSynchronize();
  }
}

// --- (b) per-op launch overhead: a chain of 1000 adds on 16-element tensors ------------------
// Each add is a kernel launch plus tapeflow's bookkeeping; the kernel itself is nothing.
// compare_cuda.py reports the figure per add (÷ 1000).
constexpr int kChain = 1000;

void add_chain(benchmark::State& state, bool recorded) {
  manual_seed(0);
  Tensor a = randn({16}).to(gpu()), b = randn({16}).to(gpu());
  if (recorded) a.requires_grad_();
  std::unique_ptr<NoGradGuard> no_grad;
  if (!recorded) no_grad = std::make_unique<NoGradGuard>();
  auto chain = [&] {
    Tensor y = a;
    for (int i = 0; i < kChain; ++i) y = y + b;
    cuda_synchronize();
    return y;
  };
  {  // warm-up, and the chain is right: a + 1000·b
    const double err = relative_error(chain().to_vector<float>(), (a.detach() + b * static_cast<double>(kChain)).to_vector<float>());
    if (!(err < 1e-3)) {
      state.SkipWithError(("add chain gives the wrong sum: relative error " + std::to_string(err)).c_str());
      return;
    }
  }
  for (auto _ : state) benchmark::DoNotOptimize(chain());
}
void add_chain_recorded(benchmark::State& state) { add_chain(state, true); }
void add_chain_no_grad(benchmark::State& state) { add_chain(state, false); }

// --- (c), (d) training steps: zero_grad, forward, loss, backward, optimizer step --------------
// The same models as tapeflow_bench.cpp's mlp_step and cnn_step, moved to the GPU with their data.
template <typename Step>
void time_steps(benchmark::State& state, Step step) {
  double loss = 0;
  for (int i = 0; i < 3; ++i) {  // warm-up: allocator cache, cuBLAS handle
    const Tensor l = step();
    loss = l.item<double>();
  }
  if (!std::isfinite(loss)) {
    state.SkipWithError("the training step's loss is not finite");
    return;
  }
  cuda_synchronize();
  for (auto _ : state) {
    Tensor l = step();
    cuda_synchronize();
    benchmark::DoNotOptimize(l);
  }
}

void mlp_step(benchmark::State& state, bool adam) {
  manual_seed(0);
  nn::Sequential model(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 256), nn::ReLU(), nn::Linear(256, 10));
  model.to(gpu());
  std::unique_ptr<optim::Optimizer> optimizer;
  if (adam)
    optimizer = std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions{.lr = 1e-3});
  else
    optimizer = std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions{.lr = 0.1});
  const int64_t batch = state.range(0);
  const Tensor x = randn({batch, 784}).to(gpu()), labels = randint(0, 10, {batch}).to(gpu());
  time_steps(state, [&] {
    optimizer->zero_grad();
    Tensor loss = cross_entropy(model.forward(x), labels);
    loss.backward();
    optimizer->step();
    return loss;
  });
}
void mlp_sgd_step(benchmark::State& state) { mlp_step(state, false); }
void mlp_adam_step(benchmark::State& state) { mlp_step(state, true); }

void cnn_step(benchmark::State& state) {
  manual_seed(0);
  nn::Sequential model(nn::Conv2d(1, 32, 3), nn::ReLU(), nn::MaxPool2d(2), nn::Conv2d(32, 64, 3), nn::ReLU(),
                       nn::MaxPool2d(2), nn::Flatten(), nn::Linear(1600, 128), nn::ReLU(), nn::Linear(128, 10));
  model.to(gpu());
  optim::SGD optimizer(model.parameters(), {.lr = 0.01});
  const int64_t batch = state.range(0);
  const Tensor x = randn({batch, 1, 28, 28}).to(gpu()), labels = randint(0, 10, {batch}).to(gpu());
  time_steps(state, [&] {
    optimizer.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), labels);
    loss.backward();
    optimizer.step();
    return loss;
  });
}

}  // namespace

BENCHMARK(sgemm)->Arg(512)->Arg(1024)->Arg(2048)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(cublas_sgemm_direct)->Name("cublas_sgemm")->Arg(512)->Arg(1024)->Arg(2048)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(add_chain_recorded)->Name("add_chain/recorded")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(add_chain_no_grad)->Name("add_chain/no_grad")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mlp_sgd_step)->Name("mlp_step")->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mlp_adam_step)->Name("mlp_adam_step")->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(cnn_step)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  bool list_only = false;  // --benchmark_list_tests needs no GPU
  for (int i = 1; i < argc; ++i) list_only = list_only || std::string(argv[i]).rfind("--benchmark_list_tests", 0) == 0;
  const std::string reason = list_only ? "" : no_cuda_reason();
  if (!reason.empty()) {
    std::printf("no CUDA device: skipped (%s)\n", reason.c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  cudaDeviceProp prop{};
  if (!list_only && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) benchmark::AddCustomContext("gpu", prop.name);
  benchmark::AddCustomContext("cuda_devices", std::to_string(cuda_device_count()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
