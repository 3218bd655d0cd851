// SPDX-License-Identifier: MIT
// The training loop the Fashion-MNIST samples share: shuffled mini-batches, a progress line
// (epoch, step, loss, examples per second) while it trains, test accuracy after every epoch,
// and per-class accuracy at the end. Written against the public API only, as a user would.
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <chrono>
#include <functional>
#include <cstdio>
#include <string>
#include <vector>

namespace samples {

using namespace tapeflow;

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Loads Fashion-MNIST or exits with instructions for installing it.
inline std::pair<io::MNIST, io::MNIST> load_fashion_mnist(const std::string& dir, bool flatten) {
  try {
    const auto t0 = std::chrono::steady_clock::now();
    io::MNIST train(dir, io::Split::Train, {.flatten = flatten});
    io::MNIST test(dir, io::Split::Test, {.flatten = flatten});
    std::printf("Fashion-MNIST from %s: %lld training and %lld test images (%.2f s to load)\n", dir.c_str(),
                static_cast<long long>(train.size()), static_cast<long long>(test.size()), seconds_since(t0));
    return {std::move(train), std::move(test)};
  } catch (const IOError& e) {
    std::fprintf(stderr,
                 "%s\nFashion-MNIST was not found. Install it (Debian/Ubuntu, as root):\n"
                 "  apt-get install dataset-fashion-mnist\nor pass --data DIR, a folder holding its four IDX files.\n",
                 e.what());
    std::exit(1);
  }
}

/// Fraction of `set` classified correctly, in eval mode and without recording; fills
/// per-class hit and example counts when asked.
inline double accuracy(nn::Module& model, const io::MNIST& set, std::vector<int64_t>* hits = nullptr,
                       std::vector<int64_t>* counts = nullptr) {
  NoGradGuard off;
  const bool was_training = model.is_training();
  model.eval();
  io::DataLoader loader(set, {.batch_size = 1000});
  int64_t right = 0;
  if (hits) hits->assign(10, 0);
  if (counts) counts->assign(10, 0);
  for (const auto& [x, y] : loader) {
    Tensor predicted = argmax(model(x), 1);
    right += (predicted == y).sum().item<int64_t>();
    if (hits && counts) {
      const auto p = predicted.to_vector<int64_t>(), t = y.to_vector<int64_t>();
      for (std::size_t i = 0; i < t.size(); ++i) {
        ++(*counts)[t[i]];
        if (p[i] == t[i]) ++(*hits)[t[i]];
      }
    }
  }
  model.train(was_training);
  return static_cast<double>(right) / static_cast<double>(set.size());
}

struct FitOptions {
  int epochs = 5;
  int64_t batch_size = 64;
  uint64_t seed = 0;
  int report_every = 200;  ///< steps between progress lines
  std::function<void()> after_epoch = nullptr;  ///< e.g. a learning-rate schedule's step()
};

/// Trains `model` with cross-entropy and `optimizer`; returns the final test accuracy.
inline double fit(nn::Module& model, optim::Optimizer& optimizer, const io::MNIST& train, const io::MNIST& test,
                  const FitOptions& o) {
  io::DataLoader loader(train, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed});
  const long long steps = loader.size();
  double total_s = 0;
  double acc = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    auto t_window = t_epoch;
    double loss_sum = 0, window_loss = 0;
    int64_t step = 0, window_steps = 0, window_examples = 0;
    for (const auto& [x, y] : loader) {
      Tensor loss = cross_entropy(model(x), y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      const double l = loss.item<double>();
      loss_sum += l;
      window_loss += l;
      ++step;
      ++window_steps;
      window_examples += x.size(0);
      if (step % o.report_every == 0 || step == steps) {
        std::printf("  epoch %d  step %5lld/%lld  loss %.4f  %6.0f examples/s\n", epoch, static_cast<long long>(step),
                    steps, window_loss / static_cast<double>(window_steps),
                    static_cast<double>(window_examples) / seconds_since(t_window));
        std::fflush(stdout);
        window_loss = 0;
        window_steps = window_examples = 0;
        t_window = std::chrono::steady_clock::now();
      }
    }
    const double epoch_s = seconds_since(t_epoch);
    total_s += epoch_s;
    if (o.after_epoch) o.after_epoch();
    const auto t_test = std::chrono::steady_clock::now();
    acc = accuracy(model, test);
    std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.1f s training (+ %.1f s test)\n", epoch,
                loss_sum / static_cast<double>(step), 100.0 * acc, epoch_s, seconds_since(t_test));
    std::fflush(stdout);
  }
  std::vector<int64_t> hits, counts;
  acc = accuracy(model, test, &hits, &counts);
  std::printf("\ntest accuracy by class:\n");
  for (int c = 0; c < 10; ++c)
    std::printf("  %-12s %5.1f%%\n", io::kFashionMNISTClasses[c],
                100.0 * static_cast<double>(hits[c]) / static_cast<double>(counts[c]));
  std::printf("\nfinal test accuracy %.2f%% after %d epochs, %.1f s per epoch\n", 100.0 * acc, o.epochs,
              total_s / o.epochs);
  return acc;
}

}  // namespace samples
