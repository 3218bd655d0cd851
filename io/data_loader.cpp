// SPDX-License-Identifier: MIT
#include "data_loader.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "../tensor/error.hpp"

namespace tapeflow::io {
namespace {

// splitmix64's finaliser: turns (seed, epoch) into well-spread mt19937_64 seeds.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Uniform in [0, bound) without modulo bias. NOTE: std::uniform_int_distribution (and so
// std::shuffle) differs between standard libraries; this and mt19937_64 do not.
uint64_t below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound: reject the short last stretch
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  if (!dataset_) throw ValueError("DataLoader: the dataset is null");
  if (options_.batch_size < 1)
    throw ValueError("DataLoader: batch_size must be at least 1, got " + std::to_string(options_.batch_size));
}

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(uint64_t epoch) const {
  std::vector<int64_t> order(static_cast<std::size_t>(std::max<int64_t>(dataset_->size(), 0)));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (options_.shuffle) {
    std::mt19937_64 rng(mix(options_.seed ^ mix(epoch)));
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[below(rng, i)]);  // Fisher-Yates
  }
  return order;
}

DataLoader::Iterator DataLoader::begin() {
  auto order = std::make_shared<const std::vector<int64_t>>(epoch_order(epoch_));
  ++epoch_;
  return Iterator(this, std::move(order), 0);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(this, nullptr, size()); }

uint64_t DataLoader::epoch() const { return epoch_; }
void DataLoader::set_epoch(uint64_t epoch) { epoch_ = epoch; }
const Dataset& DataLoader::dataset() const { return *dataset_; }
const DataLoaderOptions& DataLoader::options() const { return options_; }

Batch DataLoader::load(const std::vector<int64_t>& order, int64_t batch) const {
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t first = batch * options_.batch_size;
  const int64_t last = std::min(first + options_.batch_size, n);
  if (first < 0 || first >= n)
    throw ValueError("DataLoader: batch " + std::to_string(batch) + " is past the end of the epoch (" +
                     std::to_string(size()) + " batches)");
  Batch b = dataset_->get_batch(std::vector<int64_t>(order.begin() + first, order.begin() + last));
  if (options_.transform) b = options_.transform(std::move(b));
  return b;
}

DataLoader::Iterator::Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<int64_t>> order,
                               int64_t batch)
    : loader_(loader), order_(std::move(order)), batch_(batch) {}

const Batch& DataLoader::Iterator::operator*() const {
  if (!loader_ || !order_) throw ValueError("DataLoader: dereferencing an end or empty iterator");
  if (!loaded_) {
    current_ = loader_->load(*order_, batch_);
    loaded_ = true;
  }
  return current_;
}

const Batch* DataLoader::Iterator::operator->() const { return &**this; }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++batch_;
  loaded_ = false;
  current_ = Batch{};  // let the previous batch's memory go
  return *this;
}

void DataLoader::Iterator::operator++(int) { ++*this; }

bool DataLoader::Iterator::operator==(const Iterator& other) const { return batch_ == other.batch_; }

}  // namespace tapeflow::io
