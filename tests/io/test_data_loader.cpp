// SPDX-License-Identifier: MIT
// io::TensorDataset, io::DataLoader (order, shuffling, drop_last, transform) and io::CharDataset.
#include "../helpers.hpp"
#include "temp_dir.hpp"

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <vector>

using namespace tapeflow;

namespace {

// n examples: inputs[i] = {i, -i} (Float32 [n, 2]), targets[i] = 10 * i (Int64 [n]).
io::TensorDataset numbered(int64_t n) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(-i));
    y.push_back(10 * i);
  }
  return io::TensorDataset(tensor(x, {n, 2}), tensor(y, {n}));
}

// The example numbers of one epoch, batch by batch, read back from the targets.
std::vector<std::vector<int64_t>> epoch_batches(io::DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (auto [x, y] : loader) {
    std::vector<int64_t> ids = y.to_vector<int64_t>();
    for (int64_t& id : ids) id /= 10;
    out.push_back(ids);
  }
  return out;
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> out;
  for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

}  // namespace

TEST_CASE("io: TensorDataset slices the first dimension", "[io]") {
  const io::TensorDataset ds = numbered(5);
  CHECK(ds.size() == 5);
  const io::Batch b = ds.get_batch({3, 0, 3});
  CHECK(b.inputs.shape() == Shape{3, 2});
  test::require_values(b.inputs, {3, -3, 0, 0, 3, -3});
  test::require_values(b.targets, {30, 0, 30});
  const auto [x, y] = ds.get(4);
  CHECK(x.shape() == Shape{2});
  CHECK(y.dim() == 0);
  CHECK(y.item<int64_t>() == 40);

  CHECK_THROWS_AS(ds.get_batch({5}), ValueError);
  CHECK_THROWS_AS(ds.get_batch({-1}), ValueError);
  CHECK_THROWS_AS(io::TensorDataset(zeros({3, 2}), zeros({4})), ShapeError);
  CHECK_THROWS_AS(io::TensorDataset(zeros({3}), scalar_tensor(1.0)), ValueError);
  CHECK_THROWS_AS(io::TensorDataset(Tensor(), zeros({3})), ValueError);
}

TEST_CASE("io: DataLoader without shuffling keeps the order; drop_last", "[io]") {
  io::DataLoader keep(numbered(10), {.batch_size = 4});
  CHECK(keep.size() == 3);
  CHECK(epoch_batches(keep) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});

  io::DataLoader drop(numbered(10), {.batch_size = 4, .drop_last = true});
  CHECK(drop.size() == 2);
  CHECK(epoch_batches(drop) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}});

  // An exact multiple loses nothing either way; a batch larger than the dataset is one short
  // batch, or none with drop_last.
  CHECK(io::DataLoader(numbered(12), {.batch_size = 4, .drop_last = true}).size() == 3);
  CHECK(io::DataLoader(numbered(12), {.batch_size = 4}).size() == 3);
  io::DataLoader big(numbered(3), {.batch_size = 8});
  CHECK(epoch_batches(big) == std::vector<std::vector<int64_t>>{{0, 1, 2}});
  io::DataLoader none(numbered(3), {.batch_size = 8, .drop_last = true});
  CHECK(none.size() == 0);
  CHECK(epoch_batches(none).empty());
  io::DataLoader empty(numbered(0), {.batch_size = 2});
  CHECK(empty.size() == 0);
  CHECK(epoch_batches(empty).empty());

  CHECK_THROWS_AS(io::DataLoader(numbered(3), {.batch_size = 0}), ValueError);
  CHECK_THROWS_AS(io::DataLoader(std::shared_ptr<const io::Dataset>(), {}), ValueError);
}

TEST_CASE("io: DataLoader shuffles every example exactly once per epoch", "[io]") {
  for (bool drop_last : {false, true}) {
    INFO("drop_last " << drop_last);
    io::DataLoader loader(numbered(103), {.batch_size = 10, .shuffle = true, .drop_last = drop_last, .seed = 7});
    CHECK(loader.size() == (drop_last ? 10 : 11));
    for (int epoch = 0; epoch < 3; ++epoch) {
      const auto batches = epoch_batches(loader);
      REQUIRE(batches.size() == static_cast<std::size_t>(loader.size()));
      for (std::size_t b = 0; b < batches.size(); ++b) CHECK(batches[b].size() == (b < 10 ? 10u : 3u));
      std::vector<int64_t> seen = flat(batches);
      CHECK(seen != iota(static_cast<int64_t>(seen.size())));  // shuffled
      std::sort(seen.begin(), seen.end());
      CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // no example twice
      if (!drop_last) CHECK(seen == iota(103));
      else CHECK(seen.size() == 100u);
    }
  }
}

TEST_CASE("io: DataLoader shuffling is seeded, reproducible and new each epoch", "[io]") {
  const io::DataLoaderOptions options{.batch_size = 5, .shuffle = true, .seed = 42};
  io::DataLoader a(numbered(20), options), b(numbered(20), options);
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    epochs.push_back(flat(epoch_batches(a)));
    CHECK(flat(epoch_batches(b)) == epochs.back());
  }
  CHECK(epochs[0] != epochs[1]);
  CHECK(epochs[1] != epochs[2]);
  CHECK(a.epoch() == 3);

  // set_epoch resumes a run; epoch_order reports the order without loading anything.
  a.set_epoch(1);
  CHECK(flat(epoch_batches(a)) == epochs[1]);
  CHECK(a.epoch_order(2) == epochs[2]);

  io::DataLoaderOptions other = options;
  other.seed = 43;
  io::DataLoader c(numbered(20), other);
  CHECK(flat(epoch_batches(c)) != epochs[0]);

  // mt19937_64 and the Fisher-Yates shuffle are tapeflow's own (no std::shuffle, no
  // uniform_int_distribution), so this order is the same with every standard library.
  io::DataLoader pinned(numbered(10), {.batch_size = 10, .shuffle = true, .seed = 42});
  CHECK(pinned.epoch_order(0) == std::vector<int64_t>{9, 6, 2, 0, 1, 4, 3, 8, 5, 7});
}

TEST_CASE("io: DataLoader applies the transform to every batch", "[io]") {
  int calls = 0;
  io::DataLoader loader(numbered(7), {.batch_size = 3, .transform = [&calls](io::Batch b) {
                                        ++calls;
                                        return io::Batch{b.inputs.flatten() * 2.0, b.targets + 1};
                                      }});
  std::vector<std::vector<double>> inputs;
  std::vector<int64_t> targets;
  for (const auto& [x, y] : loader) {
    CHECK(x.dim() == 1);
    inputs.push_back(x.to_vector<double>());
    for (int64_t t : y.to_vector<int64_t>()) targets.push_back(t);
  }
  CHECK(calls == 3);
  CHECK(inputs == std::vector<std::vector<double>>{{0, 0, 2, -2, 4, -4}, {6, -6, 8, -8, 10, -10}, {12, -12}});
  CHECK(targets == std::vector<int64_t>{1, 11, 21, 31, 41, 51, 61});
}

TEST_CASE("io: DataLoader iterators", "[io]") {
  io::DataLoader loader(numbered(5), {.batch_size = 2});
  auto it = loader.begin();
  CHECK(it != loader.end());
  CHECK(it->inputs.shape() == Shape{2, 2});
  CHECK((*it).targets.to_vector<int64_t>() == std::vector<int64_t>{0, 10});
  ++it;
  it++;
  CHECK((*it).targets.to_vector<int64_t>() == std::vector<int64_t>{40});
  ++it;
  CHECK(it == loader.end());
  CHECK_THROWS_AS(*loader.end(), ValueError);
  // The loader owns a copy of the dataset: a temporary is fine.
  int64_t batches = 0;
  for (auto [x, y] : io::DataLoader(numbered(4), {.batch_size = 2})) {
    CHECK(x.shape() == Shape{2, 2});
    ++batches;
  }
  CHECK(batches == 2);
}

TEST_CASE("io: CharDataset vocabulary, encode and decode", "[io]") {
  const io::CharDataset ds("hello world", 3);
  CHECK(ds.vocab() == " dehlorw");
  CHECK(ds.vocab_size() == 8);
  CHECK(ds.char_to_index(' ') == 0);
  CHECK(ds.char_to_index('w') == 7);
  CHECK(ds.index_to_char(4) == 'l');
  const Tensor e = ds.encode("world hello");
  CHECK(e.dtype() == Int64);
  CHECK(e.to_vector<int64_t>() == std::vector<int64_t>{7, 5, 6, 4, 1, 0, 3, 2, 4, 4, 5});
  CHECK(ds.decode(e) == "world hello");
  CHECK(ds.decode(e.reshape({1, 11})) == "world hello");
  CHECK(ds.decode(ds.encode("")) == "");

  CHECK_THROWS_WITH(ds.encode("hello!"), Catch::Contains("'!'") && Catch::Contains("position 5"));
  CHECK_THROWS_AS(ds.char_to_index('z'), ValueError);
  CHECK_THROWS_AS(ds.index_to_char(8), ValueError);
  CHECK_THROWS_AS(ds.decode(tensor({1.0f, 2.0f})), DTypeError);
  CHECK_THROWS_AS(ds.decode(tensor({int64_t{8}})), ValueError);

  // Bytes, not characters: every byte value sorts by its unsigned value.
  const io::CharDataset bytes(std::string("\xff\x00\x80\x01", 4), 1);
  CHECK(bytes.vocab() == std::string("\x00\x01\x80\xff", 4));
}

TEST_CASE("io: CharDataset serves windows with targets shifted by one", "[io]") {
  const io::CharDataset ds("hello world", 3);  // windows of 4 bytes at 0, 3, 6
  CHECK(ds.size() == 3);
  CHECK(ds.stride() == 3);
  const io::Batch b = ds.get_batch({0, 1, 2});
  CHECK(b.inputs.dtype() == Int64);
  CHECK(b.inputs.shape() == Shape{3, 3});
  CHECK(b.targets.shape() == Shape{3, 3});
  CHECK(ds.decode(b.inputs) == "hello wor");
  CHECK(ds.decode(b.targets) == "ello worl");
  CHECK(ds.decode(ds.get(1).inputs) == "lo ");

  const io::CharDataset every("hello world", 3, 1);
  CHECK(every.size() == 8);
  CHECK(every.decode(every.get(7).inputs) == "orl");
  CHECK(every.decode(every.get(7).targets) == "rld");
  CHECK_THROWS_AS(every.get_batch({8}), ValueError);

  // With a DataLoader: every row is a window of the text, and targets are inputs moved by one.
  const std::string text = "the quick brown fox jumps over the lazy dog, again and again";
  io::DataLoader loader(io::CharDataset(text, 8, 2), {.batch_size = 4, .shuffle = true, .seed = 3});
  std::set<std::string> windows;
  for (auto [x, y] : loader) {
    REQUIRE(x.shape()[1] == 8);
    const io::CharDataset& cd = static_cast<const io::CharDataset&>(loader.dataset());
    for (int64_t r = 0; r < x.size(0); ++r) {
      const std::string in = cd.decode(x.slice(0, r, r + 1)), out = cd.decode(y.slice(0, r, r + 1));
      const std::size_t at = text.find(in + out.back());
      CHECK(at != std::string::npos);
      CHECK(at % 2 == 0);
      CHECK(in.substr(1) == out.substr(0, 7));
      windows.insert(in);
    }
  }
  CHECK(static_cast<int64_t>(windows.size()) == (static_cast<int64_t>(text.size()) - 9) / 2 + 1);
}

TEST_CASE("io: CharDataset errors", "[io]") {
  CHECK_THROWS_WITH(io::CharDataset("abc", 3), Catch::Contains("3 characters") && Catch::Contains("seq_len 3"));
  CHECK_THROWS_AS(io::CharDataset("abc", 3), ValueError);
  CHECK_NOTHROW(io::CharDataset("abcd", 3));
  CHECK_THROWS_AS(io::CharDataset("abcd", 0), ValueError);
  CHECK_THROWS_AS(io::CharDataset("abcd", 2, 0), ValueError);

  test::TempDir dir;
  const std::string path = dir.write("text.txt", std::string("abcabcabc\n"));
  const io::CharDataset ds = io::CharDataset::from_file(path, 4);
  CHECK(ds.text() == "abcabcabc\n");
  CHECK(ds.vocab() == "\nabc");
  CHECK(ds.size() == 2);
  const std::string missing = dir.file("missing.txt");
  CHECK_THROWS_AS(io::CharDataset::from_file(missing, 4), IOError);
  CHECK_THROWS_WITH(io::CharDataset::from_file(missing, 4), Catch::Contains(missing) && Catch::Contains("cannot open"));
  const std::string short_file = dir.write("short.txt", std::string("ab"));
  CHECK_THROWS_WITH(io::CharDataset::from_file(short_file, 4),
                    Catch::Contains(short_file) && Catch::Contains("2 characters"));
}
