// SPDX-License-Identifier: MIT
// DataLoader: a Dataset served as batches, in order or shuffled (seeded, a new order each epoch).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "dataset.hpp"

namespace tapeflow::io {

/// `DataLoader loader(ds, {.batch_size = 64, .shuffle = true, .seed = 1});`
struct DataLoaderOptions {
  /// Examples per batch (the last batch may be smaller unless drop_last).
  int64_t batch_size = 1;
  /// A fresh random order each epoch, the same for the same seed and epoch on every platform.
  bool shuffle = false;
  /// Leave out the last batch when it would be smaller than batch_size.
  bool drop_last = false;
  uint64_t seed = 0;
  /// Applied to every batch before the loop sees it (normalise, flatten, move to a device...).
  std::function<Batch(Batch)> transform = nullptr;
};

/// Iterates over a dataset in batches: `for (auto [x, y] : loader)`. Each begin() starts the next
/// epoch (0, 1, 2, ...); epoch e's order depends only on (seed, e).
class DataLoader {
 public:
  class Iterator;

  /// Throws ValueError for a null dataset or a batch_size below 1.
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  /// Keeps a copy of the dataset (datasets hold shared tensors: copies are cheap).
  template <typename D, std::enable_if_t<std::is_base_of_v<Dataset, std::decay_t<D>>, int> = 0>
  DataLoader(D&& dataset, DataLoaderOptions options = {})
      : DataLoader(std::make_shared<const std::decay_t<D>>(std::forward<D>(dataset)), std::move(options)) {}

  /// Number of batches per epoch.
  int64_t size() const;
  /// Starts the next epoch.
  Iterator begin();
  Iterator end() const;

  /// The epoch the next begin() starts.
  uint64_t epoch() const;
  /// Makes the next begin() start epoch `epoch` (to resume a run where it stopped).
  void set_epoch(uint64_t epoch);
  /// The order in which epoch `epoch` visits the examples (0, 1, ... when not shuffling).
  std::vector<int64_t> epoch_order(uint64_t epoch) const;

  const Dataset& dataset() const;
  const DataLoaderOptions& options() const;

 private:
  friend class Iterator;
  Batch load(const std::vector<int64_t>& order, int64_t batch) const;

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  uint64_t epoch_ = 0;
};

/// An input iterator over one epoch's batches; dereferencing loads the batch (once).
class DataLoader::Iterator {
 public:
  using value_type = Batch;
  using difference_type = std::ptrdiff_t;

  Iterator() = default;
  const Batch& operator*() const;
  const Batch* operator->() const;
  Iterator& operator++();
  void operator++(int);
  /// Iterators compare by batch number.
  bool operator==(const Iterator& other) const;

 private:
  friend class DataLoader;
  Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<int64_t>> order, int64_t batch);

  const DataLoader* loader_ = nullptr;
  std::shared_ptr<const std::vector<int64_t>> order_;
  int64_t batch_ = 0;
  mutable Batch current_;
  mutable bool loaded_ = false;
};

}  // namespace tapeflow::io
