// SPDX-License-Identifier: MIT
// io::read_idx on small IDX files written here byte by byte (raw and gzipped with the gzip
// program), every corrupt case, and the real Fashion-MNIST files when they are installed.
#include "../helpers.hpp"
#include "temp_dir.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace tapeflow;
using tapeflow::test::TempDir;

namespace {

void put_be(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// An IDX file: 00 00 <type> <ndim>, big-endian uint32 sizes, then `payload`.
std::vector<uint8_t> idx_file(uint8_t type, const std::vector<uint32_t>& sizes, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(sizes.size())};
  for (uint32_t s : sizes) put_be(out, s, 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Big-endian bytes of integer values of `bytes` bytes each (two's complement).
std::vector<uint8_t> be_ints(const std::vector<int64_t>& values, int bytes) {
  std::vector<uint8_t> out;
  for (int64_t v : values) put_be(out, static_cast<uint64_t>(v), bytes);
  return out;
}
std::vector<uint8_t> be_floats(const std::vector<float>& values) {
  std::vector<uint8_t> out;
  for (float v : values) put_be(out, std::bit_cast<uint32_t>(v), 4);
  return out;
}
std::vector<uint8_t> be_doubles(const std::vector<double>& values) {
  std::vector<uint8_t> out;
  for (double v : values) put_be(out, std::bit_cast<uint64_t>(v), 8);
  return out;
}

// Gzips `path` into path + ".gz" with the gzip program, keeping `path`.
std::string gzip(const std::string& path) {
  const std::string cmd = "gzip -n -c '" + path + "' > '" + path + ".gz'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return path + ".gz";
}

// Runs f, requiring an E whose message names `path` and contains `fragment`.
template <typename E = IOError>
void require_error(const std::function<void()>& f, const std::string& path, const std::string& fragment) {
  try {
    f();
    FAIL_CHECK("no exception; expected one naming " << path << " and saying '" << fragment << "'");
  } catch (const E& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(fragment) != std::string::npos);
  }
}

struct TypeCase {
  const char* name;
  uint8_t code;
  io::IdxType type;
  std::vector<uint32_t> sizes;
  std::vector<uint8_t> payload;
  DType dtype;
  std::vector<double> expected;
};

std::vector<TypeCase> type_cases() {
  const double float_max = std::numeric_limits<float>::max();
  return {
      {"ubyte", 0x08, io::IdxType::UByte, {2, 3}, {0, 1, 127, 128, 254, 255}, Int64, {0, 1, 127, 128, 254, 255}},
      {"sbyte", 0x09, io::IdxType::SByte, {5}, {0x80, 0xFF, 0x00, 0x01, 0x7F}, Int64, {-128, -1, 0, 1, 127}},
      {"short", 0x0B, io::IdxType::Short, {5, 1}, be_ints({-32768, -2, 0, 258, 32767}, 2), Int64,
       {-32768, -2, 0, 258, 32767}},
      {"int", 0x0C, io::IdxType::Int, {1, 5, 1}, be_ints({INT32_MIN, -1, 0, 65538, INT32_MAX}, 4), Int64,
       {INT32_MIN, -1, 0, 65538, INT32_MAX}},
      {"float", 0x0D, io::IdxType::Float, {2, 2}, be_floats({1.5f, -0.25f, std::numeric_limits<float>::max(), 1e-38f}),
       Float32, {1.5, -0.25, float_max, static_cast<double>(1e-38f)}},
      {"double", 0x0E, io::IdxType::Double, {3}, be_doubles({1e300, -2.5, 0.1}), Float64, {1e300, -2.5, 0.1}},
  };
}

Shape shape_of(const std::vector<uint32_t>& sizes) { return Shape(sizes.begin(), sizes.end()); }

}  // namespace

TEST_CASE("io: read_idx reads every IDX type, raw and gzipped", "[io]") {
  TempDir dir;
  for (const TypeCase& c : type_cases()) {
    const std::string raw = dir.write(std::string(c.name) + ".idx", idx_file(c.code, c.sizes, c.payload));
    for (const std::string& path : {raw, gzip(raw)}) {
      INFO(c.name << ": " << path);
      const Tensor t = io::read_idx(path);
      CHECK(t.dtype() == c.dtype);
      CHECK(t.shape() == shape_of(c.sizes));
      CHECK(t.is_contiguous());
      test::require_values(t, c.expected);
      const io::IdxHeader h = io::read_idx_header(path);
      CHECK(h.type == c.type);
      CHECK(h.shape == shape_of(c.sizes));
    }
  }
}

TEST_CASE("io: read_idx converts to the dtype asked for and scales", "[io]") {
  TempDir dir;
  const std::vector<uint8_t> pixels = {0, 1, 51, 128, 254, 255};
  const std::string ubyte = dir.write("pixels.idx", idx_file(0x08, {2, 3}, pixels));
  std::vector<double> scaled;
  for (uint8_t p : pixels) scaled.push_back(p / 255.0);

  SECTION("scale gives Float32 by default; read_idx_images is dtype Float32, scale 1/255") {
    for (const Tensor& t : {io::read_idx(ubyte, {.scale = 1.0 / 255}), io::read_idx_images(ubyte),
                            io::read_idx_images(gzip(ubyte))}) {
      CHECK(t.dtype() == Float32);
      CHECK(t.shape() == Shape{2, 3});
      test::require_values(t, scaled, 1e-7);
    }
  }
  SECTION("integers as Float64, with and without scale") {
    const Tensor t = io::read_idx(ubyte, {.dtype = Float64});
    CHECK(t.dtype() == Float64);
    test::require_values(t, {0, 1, 51, 128, 254, 255});
    test::require_values(io::read_idx(ubyte, {.dtype = Float64, .scale = 0.5}), {0, 0.5, 25.5, 64, 127, 127.5});
  }
  SECTION("double as Float32, float as Float64, short scaled") {
    const std::string d = dir.write("d.idx", idx_file(0x0E, {2}, be_doubles({0.1, -3.0})));
    const Tensor t = io::read_idx(d, {.dtype = Float32});
    CHECK(t.dtype() == Float32);
    test::require_values(t, {static_cast<double>(0.1f), -3.0});
    const std::string f = dir.write("f.idx", idx_file(0x0D, {1}, be_floats({0.1f})));
    test::require_values(io::read_idx(f, {.dtype = Float64}), {static_cast<double>(0.1f)});
    const std::string s = dir.write("s.idx", idx_file(0x0B, {2}, be_ints({-300, 300}, 2)));
    const Tensor st = io::read_idx(s, {.scale = 0.01});
    CHECK(st.dtype() == Float32);
    test::require_values(st, {-3.0, 3.0}, 1e-6);
  }
  SECTION("refused conversions") {
    const std::string f = dir.write("f.idx", idx_file(0x0D, {1}, be_floats({1.5f})));
    require_error<DTypeError>([&] { io::read_idx(f, {.dtype = Int64}); }, f, "float values");
    require_error<DTypeError>([&] { io::read_idx(ubyte, {.dtype = Bool}); }, ubyte, "bool");
    CHECK_THROWS_AS(io::read_idx(ubyte, {.dtype = Int64, .scale = 0.5}), ValueError);
    CHECK_THROWS_AS(io::read_idx(ubyte, {.scale = std::nan("")}), ValueError);
    require_error([&] { io::read_idx(f, {.expected_type = io::IdxType::UByte}); }, f, "holds float values, expected ubyte");
    require_error([&] { io::read_idx_images(f); }, f, "expected ubyte");
  }
}

TEST_CASE("io: read_idx reads empty tensors and concatenated gzip members", "[io]") {
  TempDir dir;
  const Tensor empty = io::read_idx(dir.write("empty.idx", idx_file(0x08, {0, 28, 28}, {})));
  CHECK(empty.shape() == Shape{0, 28, 28});
  CHECK(empty.numel() == 0);

  // gzip(1) reads concatenated members as one stream; so does read_idx.
  const std::vector<uint8_t> whole = idx_file(0x0B, {3}, be_ints({1, -2, 3}, 2));
  const std::string head = gzip(dir.write("head", std::vector<uint8_t>(whole.begin(), whole.begin() + 7)));
  const std::string tail = gzip(dir.write("tail", std::vector<uint8_t>(whole.begin() + 7, whole.end())));
  std::vector<uint8_t> joined = test::read_bytes(head);
  const std::vector<uint8_t> tail_bytes = test::read_bytes(tail);
  joined.insert(joined.end(), tail_bytes.begin(), tail_bytes.end());
  test::require_values(io::read_idx(dir.write("joined.idx.gz", joined)), {1, -2, 3});
}

TEST_CASE("io: read_idx names the file and the problem for bad input", "[io]") {
  TempDir dir;
  const std::vector<uint8_t> good = idx_file(0x08, {2, 3}, {1, 2, 3, 4, 5, 6});
  auto cut = [&](std::size_t n) { return std::vector<uint8_t>(good.begin(), good.begin() + n); };
  std::vector<uint8_t> longer = good;
  longer.push_back(7);

  struct BadCase {
    const char* name;
    std::vector<uint8_t> bytes;
    const char* fragment;
    bool also_gzipped = true;
  };
  const std::vector<BadCase> cases = {
      {"empty", {}, "truncated header: the file is empty", false},
      {"short magic", cut(3), "truncated header"},
      {"short sizes", cut(8), "truncated header: the file ends after 4 of the 8 bytes"},
      {"bad magic", {0x01, 0x02, 0x08, 0x01, 0, 0, 0, 1, 9}, "bad magic number 0x01020801"},
      {"unknown type", idx_file(0x0A, {1}, {9}), "unknown type code 0x0A"},
      {"truncated data", cut(good.size() - 1), "truncated data"},
      {"trailing garbage", longer, "trailing garbage"},
      {"overflow past 64 bits", idx_file(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}), "overflow"},
      {"overflow past 2^60 elements", idx_file(0x0E, {0x80000000, 0x80000000}, {}), "overflow"},
      {"too many dimensions", idx_file(0x08, std::vector<uint32_t>(17, 1), {1}), "17 dimensions"},
      // A header claiming a gigabyte in a tiny file is refused before anything is allocated.
      {"huge claim", idx_file(0x0D, {1u << 28}, {1, 2, 3, 4}), "truncated data"},
  };
  for (const BadCase& c : cases) {
    const std::string raw = dir.write(std::string(c.name) + ".idx", c.bytes);
    std::vector<std::string> paths = {raw};
    if (c.also_gzipped) paths.push_back(gzip(raw));
    for (const std::string& path : paths) {
      INFO(c.name << ": " << path);
      require_error([&] { io::read_idx(path); }, path, c.fragment);
    }
  }
}

TEST_CASE("io: read_idx names a missing file and refuses a directory", "[io]") {
  TempDir dir;
  {
    const std::string missing = dir.file("no-such-file.idx");
    require_error([&] { io::read_idx(missing); }, missing, "cannot open: No such file or directory");
    require_error([&] { io::read_idx_header(missing); }, missing, "cannot open");
    const std::string folder = dir.path().string();
    require_error([&] { io::read_idx(folder); }, folder, "is a directory");
  }
}

TEST_CASE("io: read_idx names corrupt and truncated gzip streams", "[io]") {
  TempDir dir;
  {
    // Random bytes do not compress: deflate stores them, so a cut lands inside the data.
    std::vector<uint8_t> payload(4000);
    uint32_t state = 12345;
    for (uint8_t& b : payload) b = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
    const std::string gz = gzip(dir.write("random.idx", idx_file(0x08, {4000}, payload)));
    const std::vector<uint8_t> bytes = test::read_bytes(gz);
    REQUIRE(bytes.size() > 100);
    REQUIRE(io::read_idx(gz).numel() == 4000);

    std::vector<uint8_t> bad_crc = bytes;
    bad_crc[bad_crc.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
    const std::string p1 = dir.write("bad-crc.idx.gz", bad_crc);
    require_error([&] { io::read_idx(p1); }, p1, "corrupt gzip stream: incorrect data check");

    std::vector<uint8_t> bad_block = bytes;
    for (std::size_t i = 10; i < 40; ++i) bad_block[i] = 0xFF;  // block type 3 does not exist
    const std::string p2 = dir.write("bad-block.idx.gz", bad_block);
    require_error([&] { io::read_idx(p2); }, p2, "corrupt gzip stream");

    const std::string p3 = dir.write("cut.idx.gz", std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
    require_error([&] { io::read_idx(p3); }, p3, "truncated gzip stream");
    const std::string p4 = dir.write("cut-trailer.idx.gz", std::vector<uint8_t>(bytes.begin(), bytes.end() - 3));
    require_error([&] { io::read_idx(p4); }, p4, "truncated gzip stream");

    std::vector<uint8_t> junk = bytes;
    for (char c : std::string("junk")) junk.push_back(static_cast<uint8_t>(c));
    const std::string p5 = dir.write("junk.idx.gz", junk);
    require_error([&] { io::read_idx(p5); }, p5, "trailing garbage after the end of the gzip stream");
  }
}

TEST_CASE("io: MNIST reads a folder of IDX files", "[io]") {
  TempDir dir;
  // Three 2x2 images, raw images and gzipped labels: MNIST takes either.
  const std::vector<uint8_t> pixels = {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8};
  dir.write("train-images-idx3-ubyte", idx_file(0x08, {3, 2, 2}, pixels));
  gzip(dir.write("train-labels-idx1-ubyte", idx_file(0x08, {3}, {7, 0, 9})));
  std::filesystem::remove(dir.file("train-labels-idx1-ubyte"));

  const io::MNIST train(dir.path().string(), io::Split::Train);
  CHECK(train.size() == 3);
  CHECK(train.images().dtype() == Float32);
  CHECK(train.images().shape() == Shape{3, 2, 2});
  CHECK(train.labels().dtype() == Int64);
  test::require_values(train.labels(), {7, 0, 9});
  std::vector<double> scaled;
  for (uint8_t p : pixels) scaled.push_back(p / 255.0);
  test::require_values(train.images(), scaled, 1e-7);
  const io::MNIST flat(dir.path().string() + "/", io::Split::Train, {.flatten = true});
  CHECK(flat.images().shape() == Shape{3, 4});

  // The test split is missing.
  require_error([&] { io::MNIST(dir.path().string(), io::Split::Test); }, dir.file("t10k-images-idx3-ubyte"),
                "no such file");

  // Counts that disagree name both files.
  const std::string images = dir.write("t10k-images-idx3-ubyte", idx_file(0x08, {2, 1, 1}, {1, 2}));
  const std::string labels = dir.write("t10k-labels-idx1-ubyte", idx_file(0x08, {3}, {1, 2, 3}));
  require_error([&] { io::MNIST(dir.path().string(), io::Split::Test); }, images, "2 images");
  require_error([&] { io::MNIST(dir.path().string(), io::Split::Test); }, labels, "3 labels");
  // Labels that are not 1-d, images that are not ubyte.
  dir.write("t10k-labels-idx1-ubyte", idx_file(0x08, {2, 1}, {1, 2}));
  require_error([&] { io::MNIST(dir.path().string(), io::Split::Test); }, labels, "expected 1");
  dir.write("t10k-images-idx3-ubyte", idx_file(0x0D, {1}, be_floats({0.5f})));
  require_error([&] { io::MNIST(dir.path().string(), io::Split::Test); }, images, "expected ubyte");
}

TEST_CASE("io: the real Fashion-MNIST files", "[io][data]") {
  const std::string dir = io::kFashionMNISTDir;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz")) {
    WARN("skipped: Fashion-MNIST is not installed in " << dir << " (apt-get install dataset-fashion-mnist)");
    return;
  }
  const io::MNIST train(dir, io::Split::Train);
  CHECK(train.images().shape() == Shape{60000, 28, 28});
  CHECK(train.images().dtype() == Float32);
  CHECK(train.images().min().item<double>() == 0.0);
  CHECK(train.images().max().item<double>() == 1.0);
  CHECK(train.labels().shape() == Shape{60000});
  CHECK(train.labels().min().item<int64_t>() == 0);
  CHECK(train.labels().max().item<int64_t>() == 9);
  // Fashion-MNIST is balanced: 6000 training images per class.
  std::vector<int64_t> count(10, 0);
  for (int64_t y : train.labels().to_vector<int64_t>()) ++count[static_cast<std::size_t>(y)];
  CHECK(count == std::vector<int64_t>(10, 6000));

  const io::MNIST test(dir, io::Split::Test, {.flatten = true});
  CHECK(test.images().shape() == Shape{10000, 784});
  CHECK(test.labels().shape() == Shape{10000});
  CHECK(test.labels().max().item<int64_t>() == 9);
}
