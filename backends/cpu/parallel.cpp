// SPDX-License-Identifier: MIT
#include "parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace tapeflow::cpu {
namespace {

thread_local bool in_parallel_region = false;

// Waits up to kSpin for done() to turn true without sleeping; says whether it did. Ops in a
// training step follow each other microseconds apart, while waking a sleeping thread costs
// tens of microseconds on a virtual machine (an interrupt between virtual CPUs), more than a
// whole mid-sized op: so the pool's threads poll a while before they sleep.
template <typename Done>
bool spin_until(Done done) {
  constexpr auto kSpin = std::chrono::microseconds(50);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() - start > kSpin) return done();
  }
}

// A fixed pool of (cores - 1) workers; the caller runs the first chunk itself. Jobs are
// handed out by generation number. Everything a worker reads of a job is written under mutex_;
// generation_ and pending_ are atomics as well, so that both sides can poll them before
// falling back to the condition variables.
class Pool {
 public:
  Pool() {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 1; i < cores; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int chunks, const std::function<void(int)>& job) {
    std::lock_guard serial(run_mutex_);  // one parallel region at a time across threads
    {
      std::lock_guard lock(mutex_);
      job_ = &job;
      chunks_ = chunks;
      pending_.store(chunks - 1);
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    in_parallel_region = true;
    job(0);
    in_parallel_region = false;
    if (spin_until([&] { return pending_.load() == 0; })) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return pending_.load() == 0; });
  }

 private:
  void work(unsigned index) {
    uint64_t seen = 0;
    in_parallel_region = true;
    for (;;) {
      spin_until([&] { return generation_.load() != seen || stop_.load(); });
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      if (stop_.load()) return;
      seen = generation_.load();
      if (static_cast<int>(index) >= chunks_) continue;
      const auto* job = job_;
      lock.unlock();
      (*job)(static_cast<int>(index));
      lock.lock();  // so that the caller, if asleep, cannot miss the notification
      if (pending_.fetch_sub(1) == 1) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  int chunks_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

Pool& pool() {
  static Pool p;
  return p;
}

// 0: not set, use the whole pool.
std::atomic<int> thread_limit{0};

}  // namespace

int max_threads() { return pool().size(); }

int num_threads() {
  const int limit = thread_limit.load(std::memory_order_relaxed);
  return limit > 0 ? std::min(limit, max_threads()) : max_threads();
}

void set_num_threads(int n) { thread_limit.store(std::clamp(n, 1, max_threads()), std::memory_order_relaxed); }

void run_chunks(int64_t n, int64_t grain, const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int chunks = 1;
  const int threads = num_threads();  // read once: another thread may change it meanwhile
  if (n >= grain && !in_parallel_region && threads > 1)
    chunks = static_cast<int>(std::min<int64_t>(threads, n / std::max<int64_t>(grain / 2, 1)));
  if (chunks <= 1) {
    fn(0, 0, n);
    return;
  }
  int64_t step = (n + chunks - 1) / chunks;
  pool().run(chunks, [&](int c) {
    int64_t begin = c * step, end = std::min(n, begin + step);
    if (begin < end) fn(c, begin, end);
  });
}

}  // namespace tapeflow::cpu
