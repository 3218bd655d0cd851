// SPDX-License-Identifier: MIT
// The training loop the Fashion-MNIST samples share: shuffled mini-batches, a progress line
// (epoch, step, loss, examples per second) while it trains, test accuracy after every epoch,
// and per-class accuracy at the end. With a RunLog it also logs curves, histograms and the
// graph, checkpoints after every epoch, and can resume from the last checkpoint. The batches
// come from the data loader on the CPU and go to the model's device (--device): a model moved
// to a GPU with model.to(device) trains there. Written against the public API only, as a user
// would.
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <chrono>
#include <functional>
#include <cstdio>
#include <string>
#include <vector>

#include "run_log.hpp"

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

/// Where the model's parameters live (the CPU for a model without any): its batches go there.
inline Device device_of(const nn::Module& model) {
  const std::vector<Tensor> params = model.parameters();
  return params.empty() ? Device::cpu() : params.front().device();
}

/// Fraction of `set` classified correctly, in eval mode and without recording; fills
/// per-class hit and example counts when asked.
inline double accuracy(nn::Module& model, const io::MNIST& set, std::vector<int64_t>* hits = nullptr,
                       std::vector<int64_t>* counts = nullptr) {
  NoGradGuard off;
  const bool was_training = model.is_training();
  model.eval();
  const Device device = device_of(model);
  io::DataLoader loader(set, {.batch_size = 1000});
  int64_t right = 0;
  if (hits) hits->assign(10, 0);
  if (counts) counts->assign(10, 0);
  for (const auto& batch : loader) {
    const Tensor x = batch.inputs.to(device), y = batch.targets.to(device);
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
  /// Called after every epoch, e.g. a learning-rate schedule's step(). On resume it is called
  /// once for each epoch already done, so that a schedule catches up.
  std::function<void()> after_epoch = nullptr;
  RunLog* log = nullptr;  ///< where curves, histograms, the graph and checkpoints go
  bool resume = false;    ///< continue from the checkpoint in log's folder, when there is one
};

/// Trains `model` with cross-entropy and `optimizer`; returns the final test accuracy.
inline double fit(nn::Module& model, optim::Optimizer& optimizer, const io::MNIST& train, const io::MNIST& test,
                  const FitOptions& o) {
  io::DataLoader loader(train, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed});
  const Device device = device_of(model);
  const long long steps = loader.size();
  int first_epoch = 1;
  if (o.resume && o.log) {
    if (const auto done = o.log->load_checkpoint(model, optimizer)) {
      first_epoch = static_cast<int>(*done) + 1;
      for (int e = 1; e < first_epoch; ++e)
        if (o.after_epoch) o.after_epoch();
      loader.set_epoch(static_cast<uint64_t>(*done));
      o.log->resume_curves(*done * steps);
      std::printf("resumed from %s after epoch %lld\n", o.log->dir().c_str(), static_cast<long long>(*done));
    } else {
      std::printf("no checkpoint in %s: starting afresh\n", o.log->dir().c_str());
    }
  }
  double total_s = 0;
  double acc = 0;
  for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    auto t_window = t_epoch;
    double loss_sum = 0, window_loss = 0;
    int64_t step = 0, window_steps = 0, window_examples = 0;
    for (const auto& batch : loader) {
      const Tensor x = batch.inputs.to(device), y = batch.targets.to(device);  // a no-op on the CPU
      Tensor loss = cross_entropy(model(x), y);
      if (o.log) o.log->graph(loss, model);  // before backward releases the tape
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
        if (o.log) o.log->scalar("loss/train", window_loss / static_cast<double>(window_steps), (epoch - 1) * steps + step);
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
    const double lr = optimizer.lr();
    if (o.after_epoch) o.after_epoch();
    const auto t_test = std::chrono::steady_clock::now();
    acc = accuracy(model, test);
    std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.1f s training (+ %.1f s test)\n", epoch,
                loss_sum / static_cast<double>(step), 100.0 * acc, epoch_s, seconds_since(t_test));
    if (o.log) {
      const int64_t global_step = epoch * steps;
      o.log->scalar("accuracy/test", acc, global_step);
      o.log->scalar("learning_rate", lr, global_step);
      o.log->histograms(model, global_step);
      o.log->save_checkpoint(model, optimizer, epoch);
      o.log->flush();
    }
    std::fflush(stdout);
  }
  std::vector<int64_t> hits, counts;
  acc = accuracy(model, test, &hits, &counts);
  std::printf("\ntest accuracy by class:\n");
  for (int c = 0; c < 10; ++c)
    std::printf("  %-12s %5.1f%%\n", io::kFashionMNISTClasses[c],
                100.0 * static_cast<double>(hits[c]) / static_cast<double>(counts[c]));
  const int trained = o.epochs - first_epoch + 1;
  std::printf("\nfinal test accuracy %.2f%% after %d epochs, %.1f s per epoch\n", 100.0 * acc, o.epochs,
              trained > 0 ? total_s / trained : 0.0);
  if (o.log) o.log->print_where();
  return acc;
}

}  // namespace samples
