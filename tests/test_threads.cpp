// SPDX-License-Identifier: MIT
// tapeflow embedded in a multithreaded program: independent models trained in several threads at
// once, one shared model serving inference to several threads, the per-thread tape and modes,
// the shared random generator, checkpoints and summaries from several threads. Results must be
// bit-identical to single-threaded runs. tests/sanitizers/tsan.sh runs this file under
// ThreadSanitizer, which catches the races that happen not to change a result here.
//
// NOTE: Catch2's assertions are not thread-safe, so worker threads never call CHECK/REQUIRE:
// they record what they saw and the main thread checks it after join().
#include "helpers.hpp"
#include <tapeflow/testing.hpp>
#include "io/temp_dir.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../io/detail/crc32c.hpp"

#if defined(__SANITIZE_THREAD__)
#define TAPEFLOW_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TAPEFLOW_TEST_UNDER_TSAN 1
#endif
#endif

// Multiplies iteration counts (training steps, inference rounds, repetitions), never tensor
// sizes: those stay large enough for the CPU pool and OpenBLAS's threads to run, since their
// interplay with the user's threads is what is being tested. ThreadSanitizer runs 5-15x slower.
#ifndef TAPEFLOW_THREAD_TEST_SCALE
#ifdef TAPEFLOW_TEST_UNDER_TSAN
#define TAPEFLOW_THREAD_TEST_SCALE 2
#else
#define TAPEFLOW_THREAD_TEST_SCALE 8
#endif
#endif

using namespace tapeflow;
using tapeflow::test::bytes_of;
using tapeflow::test::TempDir;

namespace {

constexpr int kScale = TAPEFLOW_THREAD_TEST_SCALE;
constexpr int kThreads = 4;  // more than the 2 cores CI has: threads get preempted mid-op too

using Bytes = std::vector<unsigned char>;

// Runs fn(0) ... fn(n - 1) on n threads released together; rethrows the first exception on
// the calling thread (an exception escaping a std::thread would terminate the test run).
void run_in_threads(int n, const std::function<void(int)>& fn) {
  std::latch go(n);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      try {
        fn(i);
      } catch (...) {
        errors[static_cast<std::size_t>(i)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

Bytes all_bytes(const std::vector<Tensor>& tensors) {
  Bytes out;
  for (const Tensor& t : tensors) {
    const Bytes b = bytes_of(t);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// Bit-identical values. A bool, so that a failing CHECK does not print the raw bytes.
bool same_bits(const Bytes& a, const Bytes& b) { return a == b; }

uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// --- training ----------------------------------------------------------------------------------

// A model, its optimizer and the loss of training step i on its own fixed data.
struct Job {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::function<Tensor(int)> loss;
};

struct LstmNet : nn::Module {
  std::shared_ptr<nn::LSTM> lstm = register_module("lstm", nn::LSTM(16, 64));
  std::shared_ptr<nn::Linear> head = register_module("head", nn::Linear(64, 5));
  LstmNet() : Module("LstmNet") {}
  Tensor forward(const Tensor& x) override {  // x [T, B, 16] -> logits [B, 5] from the last step
    Tensor out = lstm->forward(x).output;
    const int64_t t = out.size(0);
    return head->forward(out.slice(0, t - 1, t).reshape({out.size(1), out.size(2)}));
  }
};

// Everything comes from the global generator after manual_seed, on the calling thread, so the
// same `kind` gives the same job every time. Sizes cross kParallelGrain (32768 elements) in the
// elementwise ops, im2col gathers and optimizer updates, and the GEMMs are big enough for
// OpenBLAS to use its own threads.
Job make_job(int kind) {
  manual_seed(1000 + static_cast<uint64_t>(kind));
  Job job;
  std::vector<Tensor> xs, ys;
  constexpr int kBatches = 3;
  switch (kind) {
    case 0:
    case 1: {  // MLP, [256, 128] -> 256 hidden (65536 activations) -> 10 classes
      job.model = std::make_shared<nn::Sequential>(nn::Linear(128, 256), nn::ReLU(), nn::Linear(256, 10));
      for (int b = 0; b < kBatches; ++b) xs.push_back(randn({256, 128})), ys.push_back(randint(0, 10, {256}));
      break;
    }
    case 2: {  // CNN on [16, 3, 16, 16]: conv output [16, 16, 16, 16] = 65536 elements
      job.model = std::make_shared<nn::Sequential>(
          nn::Conv2d(3, 16, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(16 * 8 * 8, 10));
      for (int b = 0; b < kBatches; ++b) xs.push_back(randn({16, 3, 16, 16})), ys.push_back(randint(0, 10, {16}));
      break;
    }
    default: {  // LSTM over 12 steps of [32, 16]
      job.model = std::make_shared<LstmNet>();
      for (int b = 0; b < kBatches; ++b) xs.push_back(randn({12, 32, 16})), ys.push_back(randint(0, 5, {32}));
      break;
    }
  }
  if (kind % 2 == 0)
    job.optimizer = std::make_unique<optim::SGD>(job.model->parameters(), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  else
    job.optimizer = std::make_unique<optim::Adam>(job.model->parameters(), optim::AdamOptions{.lr = 1e-3});
  job.loss = [model = job.model, xs, ys](int step) {
    const std::size_t b = static_cast<std::size_t>(step) % xs.size();
    return cross_entropy(model->forward(xs[b]), ys[b]);
  };
  return job;
}

struct Trace {
  std::vector<uint32_t> losses;  // bit patterns, one per step
  Bytes parameters;              // after the last step
  Bytes gradients;               // of the last step
};

Trace train(Job& job, int steps) {
  Trace trace;
  for (int step = 0; step < steps; ++step) {
    job.optimizer->zero_grad();
    Tensor loss = job.loss(step);
    loss.backward();
    job.optimizer->step();
    trace.losses.push_back(bits_of(loss.item<float>()));
  }
  trace.parameters = all_bytes(job.model->parameters());
  std::vector<Tensor> grads;
  for (const Tensor& p : job.model->parameters()) grads.push_back(p.grad());
  trace.gradients = all_bytes(grads);
  return trace;
}

// --- inference ---------------------------------------------------------------------------------

std::shared_ptr<nn::Sequential> make_classifier() {
  manual_seed(77);
  auto model = std::make_shared<nn::Sequential>(nn::Conv2d(3, 16, 3, {.padding = 1}), nn::BatchNorm2d(16), nn::ReLU(),
                                                nn::MaxPool2d(2), nn::Flatten(), nn::Linear(16 * 8 * 8, 64),
                                                nn::ReLU(), nn::Linear(64, 10));
  model->eval();
  return model;
}

// --- summaries ---------------------------------------------------------------------------------

// The payloads of a TFRecord file (length, masked CRC of the length, data, masked CRC of the
// data); empty with `ok` false if the framing or a checksum is wrong.
struct Records {
  bool ok = true;
  std::vector<std::string> payloads;
};

Records read_records(const std::string& path) {
  const std::vector<uint8_t> raw = test::read_bytes(path);
  const std::string bytes(raw.begin(), raw.end());
  Records r;
  std::size_t at = 0;
  auto u32 = [&](std::size_t p) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + p, 4);
    return v;
  };
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) return {false, {}};
    uint64_t len;
    std::memcpy(&len, bytes.data() + at, 8);
    if (u32(at + 8) != io::detail::mask_crc32c(io::detail::crc32c(bytes.data() + at, 8))) return {false, {}};
    if (bytes.size() - at - 12 < len + 4) return {false, {}};
    const std::string payload = bytes.substr(at + 12, len);
    if (u32(at + 12 + len) != io::detail::mask_crc32c(io::detail::crc32c(payload))) return {false, {}};
    r.payloads.push_back(payload);
    at += 12 + len + 4;
  }
  return r;
}

int count_containing(const std::vector<std::string>& payloads, const std::string& needle) {
  return static_cast<int>(std::count_if(payloads.begin(), payloads.end(),
                                        [&](const std::string& p) { return p.find(needle) != std::string::npos; }));
}

}  // namespace

TEST_CASE("threads: independent models train in several threads exactly as in one", "[threads]") {
  const int steps = 3 * kScale;
  const std::size_t live_before = live_tape_entries();

  std::vector<Trace> serial;
  for (int kind = 0; kind < kThreads; ++kind) {
    Job job = make_job(kind);
    serial.push_back(train(job, steps));
  }

  // Built on this thread (the global generator makes them the same as above), trained on others.
  std::vector<Job> jobs;
  for (int kind = 0; kind < kThreads; ++kind) jobs.push_back(make_job(kind));
  std::vector<Trace> threaded(kThreads);
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int i) {
    threaded[static_cast<std::size_t>(i)] = train(jobs[static_cast<std::size_t>(i)], steps);
  }));

  for (std::size_t i = 0; i < serial.size(); ++i) {
    INFO("model " << i << " (0, 1: MLP with SGD / Adam, 2: CNN with SGD, 3: LSTM with Adam)");
    REQUIRE(threaded[i].losses.size() == static_cast<std::size_t>(steps));
    CHECK(threaded[i].losses == serial[i].losses);
    CHECK(same_bits(threaded[i].parameters, serial[i].parameters));
    CHECK(same_bits(threaded[i].gradients, serial[i].gradients));
  }
  // Each thread trained its own model, not a neighbour's that happened to give the same bytes.
  CHECK(serial[0].losses != serial[1].losses);
  jobs.clear();
  CHECK(live_tape_entries() == live_before);
}

TEST_CASE("threads: one shared model serves inference to several threads under NoGradGuard", "[threads]") {
  auto model = make_classifier();
  manual_seed(78);
  std::vector<Tensor> batches;
  for (int b = 0; b < 6; ++b) batches.push_back(randn({16, 3, 16, 16}));
  const Bytes parameters_before = all_bytes(model->parameters());
  const std::size_t live_before = live_tape_entries();

  std::vector<Bytes> expected;
  {
    NoGradGuard off;
    for (const Tensor& x : batches) expected.push_back(bytes_of(model->forward(x)));
  }

  struct Seen {
    int runs = 0, mismatches = 0, recorded = 0;
    std::size_t max_live = 0;
  };
  std::vector<Seen> seen(kThreads);
  const int rounds = 3 * kScale;
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    Seen& s = seen[static_cast<std::size_t>(t)];
    NoGradGuard off;
    for (int r = 0; r < rounds; ++r)
      for (std::size_t k = 0; k < batches.size(); ++k) {
        const std::size_t b = (k + static_cast<std::size_t>(t)) % batches.size();  // threads differ
        Tensor y = model->forward(batches[b]);
        s.recorded += y.requires_grad();
        s.mismatches += bytes_of(y) != expected[b];
        s.max_live = std::max(s.max_live, live_tape_entries());
        ++s.runs;
      }
  }));

  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    const Seen& s = seen[static_cast<std::size_t>(t)];
    CHECK(s.runs == rounds * static_cast<int>(batches.size()));
    CHECK(s.mismatches == 0);
    CHECK(s.recorded == 0);
    CHECK(s.max_live == live_before);  // no thread recorded anything while the others ran
  }
  CHECK(same_bits(all_bytes(model->parameters()), parameters_before));
  for (const Tensor& p : model->parameters()) {
    CHECK(p.requires_grad());
    CHECK_FALSE(p.grad().defined());
  }
}

TEST_CASE("threads: shared-model inference without NoGradGuard records per thread and frees it", "[threads]") {
  // Forgetting the guard costs memory for the recorded graph, but must stay correct and race-free
  // (the threads only read the shared parameters while recording edges to them).
  auto model = make_classifier();
  manual_seed(79);
  std::vector<Tensor> batches;
  for (int b = 0; b < 3; ++b) batches.push_back(randn({16, 3, 16, 16}));
  std::vector<Bytes> expected;
  {
    NoGradGuard off;
    for (const Tensor& x : batches) expected.push_back(bytes_of(model->forward(x)));
  }
  const std::size_t live_before = live_tape_entries();
  std::vector<int> mismatches(kThreads, 0), recorded(kThreads, 0);
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    for (int r = 0; r < kScale; ++r)
      for (std::size_t b = 0; b < batches.size(); ++b) {
        Tensor y = model->forward(batches[b]);
        recorded[static_cast<std::size_t>(t)] += y.requires_grad();
        mismatches[static_cast<std::size_t>(t)] += bytes_of(y) != expected[b];
      }
  }));
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(mismatches[static_cast<std::size_t>(t)] == 0);
    CHECK(recorded[static_cast<std::size_t>(t)] == kScale * static_cast<int>(batches.size()));
  }
  CHECK(live_tape_entries() == live_before);
  for (const Tensor& p : model->parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("threads: convolutions and pools of many shapes in several threads at once", "[threads]") {
  // conv2d and the pools cache their gather indices per geometry (a few dozen at most): every
  // thread has its own geometries (its own channel count) and more of them than the caches
  // hold, so the caches are filled and evicted in all threads at once.
  constexpr int kGeometries = 20;
  auto run = [](int t, int g) {
    namespace F = nn::functional;
    const int64_t c = 1 + t, h = 5 + g, w = 5 + (g * 3 + t) % 7;
    const Tensor x = linspace(-1.0, 1.0, 2 * c * h * w).reshape({2, c, h, w});
    const Tensor weight = linspace(-0.5, 0.5, 3 * c * 9).reshape({3, c, 3, 3});
    std::vector<Tensor> out;
    out.push_back(F::conv2d(x, weight, Tensor(), {.stride = 1 + g % 2, .padding = g % 2}));
    out.push_back(F::max_pool2d(x, 2, {.padding = g % 2}));
    out.push_back(F::avg_pool2d(x, 3, {.stride = 1 + g % 3}));
    return all_bytes(out);
  };
  std::vector<std::vector<Bytes>> expected(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int g = 0; g < kGeometries; ++g) expected[static_cast<std::size_t>(t)].push_back(run(t, g));

  std::vector<int> mismatches(kThreads, 0);
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    NoGradGuard off;
    for (int r = 0; r < kScale; ++r)
      for (int g = 0; g < kGeometries; ++g)
        mismatches[static_cast<std::size_t>(t)] += run(t, g) != expected[static_cast<std::size_t>(t)][static_cast<std::size_t>(g)];
  }));
  CHECK(mismatches == std::vector<int>(kThreads, 0));
}

namespace {

// A chain of 3 * kLinks recorded ops: sum(tanh(...tanh(x * w + 0.1)...)^2), in float64.
constexpr int kLinks = 60;
Tensor chain_loss(const Tensor& x, const Tensor& w) {
  Tensor y = x;
  for (int i = 0; i < kLinks; ++i) y = tanh(y * w + 0.1);
  return (y * y).sum();
}

struct Leaves {
  Tensor x, w;
};
Leaves make_leaves(double base) {  // no generator: each thread can make its own
  Tensor x = linspace(-1.0, 1.0, 300, {.dtype = Float64});
  Tensor w = linspace(base, base + 0.5, 300, {.dtype = Float64});
  w.requires_grad_();
  return {x, w};
}

Bytes chain_grad(double base) {
  Leaves l = make_leaves(base);
  chain_loss(l.x, l.w).backward();
  return bytes_of(l.w.grad());
}

}  // namespace

TEST_CASE("threads: backward in one thread leaves another thread's recorded graph alone", "[threads]") {
  const Bytes expected_a = chain_grad(0.5), expected_b = chain_grad(0.9);
  const std::size_t live_before = live_tape_entries();
  std::size_t chain_entries = 0;
  {
    Leaves l = make_leaves(0.5);
    Tensor loss = chain_loss(l.x, l.w);
    chain_entries = live_tape_entries() - live_before;
  }
  REQUIRE(chain_entries >= 3 * kLinks);

  // Phase 1, in a fixed order: A records, B runs many backwards, then A runs its backward.
  std::latch a_recorded(1), b_done(1);
  Bytes got_a;
  int b_runs = 0, b_mismatches = 0;
  std::size_t live_while_a_holds = 0;
  REQUIRE_NOTHROW(run_in_threads(2, [&](int t) {
    if (t == 0) {
      Leaves l = make_leaves(0.5);
      Tensor loss = chain_loss(l.x, l.w);
      a_recorded.count_down();
      b_done.wait();
      live_while_a_holds = live_tape_entries();
      loss.backward();
      got_a = bytes_of(l.w.grad());
    } else {
      a_recorded.wait();
      for (int r = 0; r < 4 * kScale; ++r) {
        Leaves l = make_leaves(0.9);
        chain_loss(l.x, l.w).backward();
        b_mismatches += bytes_of(l.w.grad()) != expected_b;
        ++b_runs;
      }
      b_done.count_down();
    }
  }));
  CHECK(b_runs == 4 * kScale);
  CHECK(b_mismatches == 0);
  CHECK(live_while_a_holds == live_before + chain_entries);  // A's graph, whole
  CHECK(same_bits(got_a, expected_a));

  // Phase 2, free-running: every thread records and replays its own graphs at the same time.
  std::vector<int> mismatches(kThreads, 0);
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    const double base = t % 2 ? 0.9 : 0.5;
    for (int r = 0; r < 4 * kScale; ++r)
      mismatches[static_cast<std::size_t>(t)] += chain_grad(base) != (t % 2 ? expected_b : expected_a);
  }));
  CHECK(mismatches == std::vector<int>(kThreads, 0));
  CHECK(live_tape_entries() == live_before);
}

TEST_CASE("threads: a graph recorded on one thread can be replayed on another", "[threads]") {
  const Bytes expected = chain_grad(0.5);
  Leaves l = make_leaves(0.5);
  Tensor loss;
  std::thread([&] { loss = chain_loss(l.x, l.w); }).join();  // join(): the hand-over point
  REQUIRE(loss.requires_grad());
  loss.backward();
  CHECK(same_bits(bytes_of(l.w.grad()), expected));

  Leaves m = make_leaves(0.5);
  Tensor loss2 = chain_loss(m.x, m.w);
  std::thread([&] { loss2.backward(); }).join();
  CHECK(same_bits(bytes_of(m.w.grad()), expected));

  // One graph recorded partly here and partly on a new thread, then replayed there: backward's
  // order (newest entry first) must hold across the threads' entries.
  Leaves n = make_leaves(0.5);
  Tensor y = n.x;
  for (int i = 0; i < kLinks / 2; ++i) y = tanh(y * n.w + 0.1);
  std::thread([&] {
    for (int i = kLinks / 2; i < kLinks; ++i) y = tanh(y * n.w + 0.1);
    (y * y).sum().backward();
  }).join();
  CHECK(same_bits(bytes_of(n.w.grad()), expected));
}

TEST_CASE("threads: grad mode, NameScope, AnomalyGuard and GradientTape depth are per thread", "[threads]") {
  struct State {
    bool grad = false, anomaly = true, recorded = false;
    bool tape_grad_records = false;  // a GradientTape's gradient is recorded only inside another tape
    std::string scope = "?", error;
  };
  // Never throws: a thread that left the barrier dance below would leave the other one waiting.
  auto observe = []() noexcept {
    State s;
    try {
      s.grad = is_grad_enabled();
      s.anomaly = is_anomaly_enabled();
      s.scope = NameScope::current();
      Tensor x = tensor({1.0, 2.0}, {}, {.dtype = Float64});
      x.requires_grad_();
      s.recorded = (x * x).requires_grad();
      EnableGradGuard on;
      GradientTape tape;
      s.tape_grad_records = tape.gradient((x * x).sum(), x).requires_grad();
    } catch (const std::exception& e) {
      s.error = e.what();
    }
    return s;
  };

  // A new thread starts with the defaults, whatever the thread that started it has set.
  {
    NoGradGuard off;
    AnomalyGuard anomaly;
    NameScope scope("main");
    GradientTape outer;
    State fresh;
    std::thread([&] { fresh = observe(); }).join();
    CHECK(fresh.error.empty());
    CHECK(fresh.grad);
    CHECK_FALSE(fresh.anomaly);
    CHECK(fresh.scope.empty());
    CHECK(fresh.recorded);
    CHECK_FALSE(fresh.tape_grad_records);
    CHECK_FALSE(is_grad_enabled());  // and this thread's modes were left as they were
    CHECK(NameScope::current() == "main");
    CHECK(observe().tape_grad_records);  // here the outer tape is open
  }

  // Two threads take turns holding every guard while the other looks at its own state.
  struct Turn {
    State guarded, other, after;
    std::string guarded_message;  // from the guarded thread's backward through sqrt at 0
    std::string other_message = "?";
    bool other_grad_inf = false;
  };
  std::vector<Turn> turns(2);
  std::barrier sync(2);
  // d sqrt(x) / dx at 0 is inf: AnomalyGuard turns that into an error naming the op.
  auto inf_backward = [](bool& grad_inf) noexcept -> std::string {
    try {
      EnableGradGuard on;
      Tensor z = zeros({3}, {.dtype = Float64});
      z.requires_grad_();
      sqrt(z).sum().backward();
      grad_inf = std::isinf(z.grad().to_vector<double>()[0]);
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  REQUIRE_NOTHROW(run_in_threads(2, [&](int t) {
    for (int turn = 0; turn < 2; ++turn) {
      Turn& rec = turns[static_cast<std::size_t>(turn)];
      if (t == turn) {
        {
          NoGradGuard off;
          NameScope scope("t" + std::to_string(t));
          AnomalyGuard anomaly;
          GradientTape outer;
          sync.arrive_and_wait();  // the guards are set
          rec.guarded = observe();
          bool unused = false;
          rec.guarded_message = inf_backward(unused);
          sync.arrive_and_wait();  // the other thread has looked
        }
        rec.after = observe();
      } else {
        sync.arrive_and_wait();
        rec.other = observe();
        rec.other_message = inf_backward(rec.other_grad_inf);
        sync.arrive_and_wait();
      }
    }
  }));
  for (int turn = 0; turn < 2; ++turn) {
    INFO("thread " << turn << " holds the guards");
    const Turn& rec = turns[static_cast<std::size_t>(turn)];
    CHECK(rec.guarded.error.empty());
    CHECK_FALSE(rec.guarded.grad);
    CHECK(rec.guarded.anomaly);
    CHECK(rec.guarded.scope == "t" + std::to_string(turn));
    CHECK_FALSE(rec.guarded.recorded);
    CHECK(rec.guarded.tape_grad_records);
    CHECK(rec.guarded_message.find("AnomalyGuard") != std::string::npos);
    CHECK(rec.guarded_message.find("t" + std::to_string(turn) + "/sqrt") != std::string::npos);
    CHECK(rec.other.error.empty());
    CHECK(rec.other.grad);
    CHECK_FALSE(rec.other.anomaly);
    CHECK(rec.other.scope.empty());
    CHECK(rec.other.recorded);
    CHECK_FALSE(rec.other.tape_grad_records);
    CHECK(rec.other_message.empty());
    CHECK(rec.other_grad_inf);
    CHECK(rec.after.error.empty());  // the guarded thread's own modes came back
    CHECK(rec.after.grad);
    CHECK_FALSE(rec.after.anomaly);
    CHECK(rec.after.scope.empty());
    CHECK_FALSE(rec.after.tape_grad_records);
  }
}

TEST_CASE("threads: the global generator hands each draw out whole to one thread", "[threads]") {
  // Interleaving is up to the scheduler, but a draw holds the generator for all its values, so
  // the draws made by all threads are the serial stream's draws, in some order.
  // Draws long enough (~0.1 ms) that threads started together overlap in them.
  const int draws = 5 * kScale;
  const Shape shape{4099};
  manual_seed(7);
  // As strings: g++ 12 warns (-Wstringop-overread, falsely) on sorting vectors of bytes.
  auto draw = [&] {
    const Bytes b = bytes_of(randn(shape));
    return std::string(b.begin(), b.end());
  };
  std::vector<std::string> serial;
  for (int i = 0; i < kThreads * draws; ++i) serial.push_back(draw());

  manual_seed(7);
  std::vector<std::vector<std::string>> got(kThreads);
  std::atomic<int> states_read{0};
  REQUIRE_NOTHROW(run_in_threads(kThreads + 1, [&](int t) {
    if (t == kThreads) {  // a reader of the state alongside: a copy under the same lock
      for (int i = 0; i < draws; ++i) states_read += !get_rng_state().empty();
      return;
    }
    for (int i = 0; i < draws; ++i) got[static_cast<std::size_t>(t)].push_back(draw());
  }));
  CHECK(states_read == draws);
  std::vector<std::string> all;
  for (const auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  std::sort(serial.begin(), serial.end());
  REQUIRE(all.size() == serial.size());
  int differing = 0;  // counted, not compared whole: Catch would print the raw bytes
  for (std::size_t i = 0; i < all.size(); ++i) differing += all[i] != serial[i];
  CHECK(differing == 0);
}

TEST_CASE("threads: models built, trained and checkpointed in several threads at once", "[threads]") {
  TempDir dir;
  auto make = [] {  // initialised from the global generator, on whichever thread calls it
    return std::make_shared<nn::Sequential>(nn::Linear(32, 64), nn::ReLU(), nn::Linear(64, 8));
  };
  manual_seed(5);
  auto common = make();
  io::save(*common, dir.file("common.safetensors"));
  const Bytes common_bytes = all_bytes(common->parameters());

  struct Seen {
    int model_mismatches = 0, optimizer_mismatches = 0, common_mismatches = 0;
    Bytes last;  // the last model this thread wrote to shared.safetensors
  };
  std::vector<Seen> seen(kThreads);
  const int rounds = 2 * kScale;
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    Seen& s = seen[static_cast<std::size_t>(t)];
    const std::string me = dir.file("model" + std::to_string(t));
    for (int r = 0; r < rounds; ++r) {
      auto model = make();
      optim::Adam adam(model->parameters(), {.lr = 1e-2});
      const Tensor x = randn({16, 32}), y = randint(0, 8, {16});
      for (int step = 0; step < 2; ++step) {
        adam.zero_grad();
        cross_entropy(model->forward(x), y).backward();
        adam.step();
      }
      io::save(*model, me + ".safetensors");
      io::save(adam, me + ".adam.safetensors");

      auto copy = make();
      io::load(*copy, me + ".safetensors");
      s.model_mismatches += all_bytes(copy->parameters()) != all_bytes(model->parameters());
      optim::Adam adam_copy(copy->parameters(), {.lr = 1e-2});
      io::load(adam_copy, me + ".adam.safetensors");
      for (auto [m, o] : {std::pair{model, &adam}, std::pair{copy, &adam_copy}}) {  // one more step each
        o->zero_grad();
        cross_entropy(m->forward(x), y).backward();
        o->step();
      }
      s.optimizer_mismatches += all_bytes(copy->parameters()) != all_bytes(model->parameters());

      auto reader = make();
      io::load(*reader, dir.file("common.safetensors"));
      s.common_mismatches += all_bytes(reader->parameters()) != common_bytes;

      // Every thread replaces the same file: each replacement is whole (write, then rename).
      io::save(*model, dir.file("shared.safetensors"));
      s.last = all_bytes(model->parameters());
    }
  }));
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    const Seen& s = seen[static_cast<std::size_t>(t)];
    CHECK(s.model_mismatches == 0);
    CHECK(s.optimizer_mismatches == 0);
    CHECK(s.common_mismatches == 0);
  }
  auto shared = make();
  REQUIRE_NOTHROW(io::load(*shared, dir.file("shared.safetensors")));
  const Bytes shared_bytes = all_bytes(shared->parameters());
  CHECK(std::any_of(seen.begin(), seen.end(), [&](const Seen& s) { return s.last == shared_bytes; }));
  std::vector<std::string> leftovers;  // no temporary file survives
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().find(".tmp") != std::string::npos) leftovers.push_back(e.path().string());
  CHECK(leftovers.empty());
}

TEST_CASE("threads: graphs exported from several threads carry only their own thread's scopes", "[threads]") {
  TempDir dir;
  std::vector<std::shared_ptr<nn::Sequential>> models;
  manual_seed(11);
  for (int t = 0; t < kThreads; ++t)
    models.push_back(std::make_shared<nn::Sequential>(nn::Linear(8, 16), nn::Tanh(), nn::Linear(16, 2)));
  const Tensor x = randn({4, 8});
  std::vector<std::string> dots(kThreads);
  std::vector<int> rendered(kThreads, 0);
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    const auto& model = models[static_cast<std::size_t>(t)];
    const std::string name = "worker" + std::to_string(t);
    for (int r = 0; r < kScale; ++r) {
      NameScope scope(name);
      Tensor loss = model->forward(x).sum();
      io::write_dot(loss, dir.file(name + ".dot"), model->named_parameters());
      dots[static_cast<std::size_t>(t)] = io::to_dot(loss, model->named_parameters());
      // Several dot processes at once: each spawn's pipe must reach only its own child.
      rendered[static_cast<std::size_t>(t)] += io::render_svg(dir.file(name + ".dot"), dir.file(name + ".svg"));
    }
  }));
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    const std::string& dot = dots[static_cast<std::size_t>(t)];
    CHECK(dot.find("worker" + std::to_string(t) + "/") != std::string::npos);
    for (int other = 0; other < kThreads; ++other)
      if (other != t) CHECK(dot.find("worker" + std::to_string(other)) == std::string::npos);
    const auto bytes = test::read_bytes(dir.file("worker" + std::to_string(t) + ".dot"));
    CHECK(std::string(bytes.begin(), bytes.end()) == dot);
    if (rendered[static_cast<std::size_t>(t)] > 0) {  // Graphviz is installed
      CHECK(rendered[static_cast<std::size_t>(t)] == kScale);
      const auto svg = test::read_bytes(dir.file("worker" + std::to_string(t) + ".svg"));
      CHECK(std::string(svg.begin(), svg.end()).find("</svg>") != std::string::npos);
    }
  }
}

TEST_CASE("threads: SummaryWriters log from several threads, each with its own name scope", "[threads]") {
  TempDir dir;
  const int scalars = 20 * kScale;
  io::SummaryWriter shared(dir.file("shared"), {.max_queue = 5});
  std::vector<std::string> own_files(kThreads);
  REQUIRE_NOTHROW(run_in_threads(kThreads, [&](int t) {
    NameScope scope("worker" + std::to_string(t));
    io::SummaryWriter own(dir.file("run" + std::to_string(t)), {.max_queue = 3});
    for (int i = 0; i < scalars; ++i) {
      own.add_scalar("loss", 1.0 / (i + 1), i);
      shared.add_scalar("loss", t + i, i);
    }
    own.add_histogram("values", arange(100.0 * (t + 1)), 0);
    own.close();
    own_files[static_cast<std::size_t>(t)] = own.file_path();
  }));
  shared.close();

  const Records all = read_records(shared.file_path());
  REQUIRE(all.ok);
  CHECK(all.payloads.size() == static_cast<std::size_t>(1 + kThreads * scalars));  // + file version
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    const std::string scope = "worker" + std::to_string(t) + "/";
    CHECK(count_containing(all.payloads, scope + "loss") == scalars);
    const Records own = read_records(own_files[static_cast<std::size_t>(t)]);
    REQUIRE(own.ok);
    CHECK(own.payloads.size() == static_cast<std::size_t>(1 + scalars + 1));
    CHECK(count_containing(own.payloads, scope + "loss") == scalars);
    CHECK(count_containing(own.payloads, scope + "values") == 1);
    CHECK(count_containing(own.payloads, "worker") == scalars + 1);  // no other thread's scope
  }
}

extern "C" int openblas_get_num_threads();  // OpenBLAS's own, from <cblas.h>

TEST_CASE("set_num_threads limits tapeflow's pool and OpenBLAS's alike") {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int before = get_num_threads();
  const Tensor a = arange(512.0 * 512.0).reshape({512, 512}) / 262144.0;
  auto work = [&] { return std::vector<Tensor>{matmul(a, a.t()), sum(a * a), exp(a)}; };

  set_num_threads(1);
  CHECK(get_num_threads() == 1);
  CHECK(openblas_get_num_threads() == 1);
  const std::vector<Tensor> serial = work();

  set_num_threads(cores + 7);  // more than the machine has: clamped, not a bigger pool
  CHECK(get_num_threads() == cores);
  CHECK(openblas_get_num_threads() == cores);
  const std::vector<Tensor> parallel = work();
  for (std::size_t i = 0; i < serial.size(); ++i) CHECK(allclose(parallel[i], serial[i], 1e-5, 1e-6));

  CHECK_THROWS_AS(set_num_threads(0), ValueError);
  CHECK_THROWS_WITH(set_num_threads(-1), Catch::Matchers::Contains("set_num_threads") &&
                                             Catch::Matchers::Contains("got -1"));
  CHECK(get_num_threads() == cores);  // a refused call changes nothing
  set_num_threads(before);
}
