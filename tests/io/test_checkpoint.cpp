// SPDX-License-Identifier: MIT
// io::save / io::load (safetensors): round trips of every dtype and layout, the file layout as
// an independent Python reader sees it, every corrupt file by its message, atomic writes that
// fail part way, modules and optimizers left unchanged by a bad load, and training resumed
// from a checkpoint bit-identically.

// GCC 12 reports a false -Wrestrict inside std::string's insert, inlined from this file (GCC
// bug 105329); the diagnostic state must be set before <string> is included to reach it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include "../helpers.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../io/detail/atomic_file.hpp"

using namespace tapeflow;
using tapeflow::test::TempDir;
using tapeflow::test::bytes_of;
using tapeflow::test::require_error;
using tapeflow::test::run_python;
using tapeflow::test::split;

namespace {

void require_same(const Tensor& got, const Tensor& expected, const std::string& what) {
  INFO(what);
  REQUIRE(got.defined());
  CHECK(got.dtype() == expected.dtype());
  CHECK(got.shape() == expected.shape());
  CHECK(bytes_of(got) == bytes_of(expected));
}

void require_same(const StateDict& got, const StateDict& expected) {
  REQUIRE(got.size() == expected.size());
  for (const auto& [name, t] : expected) {
    const auto it = got.find(name);
    INFO("name " << name);
    REQUIRE(it != got.end());
    require_same(it->second, t, name);
  }
}

// The names of the files in a folder.
std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<uint8_t> le64(uint64_t v) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return out;
}

// A safetensors file from a header text and data bytes (header length written as given).
std::vector<uint8_t> st_file(const std::string& header, const std::vector<uint8_t>& data, uint64_t header_len) {
  std::vector<uint8_t> out = le64(header_len);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
std::vector<uint8_t> st_file(const std::string& header, const std::vector<uint8_t>& data) {
  return st_file(header, data, header.size());
}

// Little-endian bytes of values of type T.
template <typename T>
std::vector<uint8_t> raw(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

StateDict sample_tensors() {
  StateDict d;
  d["f32"] = tensor({1.5f, -0.0f, 3.25f, -7.0f, 1e-30f, 6.0f}, {2, 3});
  d["f64"] = tensor({0.1, -2.5, 1e300, 4.0}, {4}, {.dtype = Float64});
  d["i64"] = tensor(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1, 0, 7,
                                         std::numeric_limits<int64_t>::max(), 42},
                    {3, 2});
  d["bool"] = tensor({true, false, false, true, true}, {5});
  d["scalar"] = scalar_tensor(2.75, {.dtype = Float32});
  d["scalar_i64"] = scalar_tensor(-9, {.dtype = Int64});
  d["empty"] = zeros({0, 3});
  d["empty_middle"] = zeros({2, 0, 4}, {.dtype = Float64});
  d["nested.name.0.weight"] = arange(24, {.dtype = Float64}).reshape({2, 3, 4});
  return d;
}

const char* st_dtype(DType d) {
  switch (d) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

// Every parameter and buffer of a module, cloned: to compare before and after.
StateDict snapshot(const nn::Module& m) {
  StateDict out;
  for (const auto& [name, t] : m.state_dict()) out[name] = t.clone();
  return out;
}

// Restores a resource limit when the scope ends, whatever happens in it.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t soft) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing us
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
};

}  // namespace

TEST_CASE("io: save/load round-trips every dtype, 0-d, empty and non-contiguous tensors", "[io]") {
  TempDir dir;
  const StateDict d = sample_tensors();
  const std::string path = dir.file("all.safetensors");
  io::save(d, path);
  const StateDict back = io::load(path);
  require_same(back, d);
  for (const auto& [name, t] : back) {
    INFO(name);
    // NOTE: tensor/ calls a fresh empty tensor with a zero in the middle of its shape ([2,0,4])
    // non-contiguous (its strides skip the zero), so only non-empty ones are asked.
    if (t.numel() > 0) CHECK(t.is_contiguous());
    CHECK(t.device() == Device::cpu());
  }
  // NaN and infinities keep their bits too.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const StateDict special = {{"x", tensor({nan, inf, -inf}, {3})}};
  io::save(special, path);
  require_same(io::load(path), special);

  SECTION("non-contiguous views are written in row-major order") {
    const Tensor base = arange(12, {.dtype = Float32}).reshape({3, 4});
    const Tensor transposed = base.t();                  // [4, 3], strides (1, 4)
    const Tensor stepped = base.slice(1, 0, 4, 2);       // [3, 2], every other column
    const Tensor expanded = tensor({1.0, 2.0}, {2, 1}, {.dtype = Float64}).expand({2, 3});
    REQUIRE_FALSE(transposed.is_contiguous());
    REQUIRE_FALSE(stepped.is_contiguous());
    io::save({{"t", transposed}, {"s", stepped}, {"e", expanded}}, path);
    const StateDict got = io::load(path);
    test::require_values(got.at("t"), {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    test::require_values(got.at("s"), {0, 2, 4, 6, 8, 10});
    test::require_values(got.at("e"), {1, 1, 1, 2, 2, 2});
    CHECK(got.at("t").shape() == Shape{4, 3});
  }
  SECTION("a tensor that requires grad is saved without touching the tape") {
    Tensor w = tensor({1.f, 2.f}, {2});
    w.requires_grad_();
    io::save({{"w", w * 3.0}}, path);
    const Tensor got = io::load(path).at("w");
    CHECK_FALSE(got.requires_grad());
    test::require_values(got, {3, 6});
  }
  SECTION("an empty dict is a valid file") {
    io::save(StateDict{}, path);
    CHECK(io::load(path).empty());
    CHECK(io::load_metadata(path).empty());
  }
}

TEST_CASE("io: the file follows the safetensors layout", "[io]") {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  io::save({{"b", tensor({1.f, 2.f, 3.f}, {3})}, {"a", tensor(std::vector<int64_t>{5}, {1})}}, path,
           {{"k", "v"}});
  const std::vector<uint8_t> bytes = test::read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  // Data 8-byte aligned, header JSON padded with spaces, then 8 + 12 data bytes.
  CHECK((8 + n) % 8 == 0);
  REQUIRE(bytes.size() == 8 + n + 8 + 12);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  CHECK(header.front() == '{');
  const std::size_t close = header.rfind('}');
  REQUIRE(close != std::string::npos);
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);
  CHECK(header.find("\"__metadata__\":{\"k\":\"v\"}") != std::string::npos);
  // In name order: "a" (I64, 8 bytes) first, then "b" (F32, 12 bytes).
  CHECK(header.find("\"a\":{\"data_offsets\":[0,8],\"dtype\":\"I64\",\"shape\":[1]}") != std::string::npos);
  CHECK(header.find("\"b\":{\"data_offsets\":[8,20],\"dtype\":\"F32\",\"shape\":[3]}") != std::string::npos);
  const std::vector<uint8_t> data(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n), bytes.end());
  std::vector<uint8_t> expected = raw(std::vector<int64_t>{5});
  const std::vector<uint8_t> floats = raw(std::vector<float>{1.f, 2.f, 3.f});
  expected.insert(expected.end(), floats.begin(), floats.end());
  CHECK(data == expected);
}

TEST_CASE("io: an independent Python reader reads our files", "[io]") {
  TempDir dir;
  StateDict d = sample_tensors();
  // Values whose sums are exact in any order, so numpy's pairwise sum matches ours bit for bit.
  d["f32"] = tensor({1.5f, -0.25f, 3.0f, 8.0f, -2.0f, 0.5f}, {3, 2});
  d["f64"] = tensor({0.125, -2.5, 1024.0, 4.0}, {2, 2}, {.dtype = Float64});
  d["i64"] = tensor(std::vector<int64_t>{-5, 1000000, 3, 0}, {4});
  const io::Metadata meta = {{"epoch", "3"}, {"note", "héllo"}};
  const std::string path = dir.file("py.safetensors");
  io::save(d, path, meta);

  const test::CommandResult r = run_python(TAPEFLOW_TEST_SOURCE_DIR "/io/read_safetensors.py", path);
  INFO("read_safetensors.py said:\n" << r.output);
  REQUIRE(r.status == 0);
  const std::vector<std::string> lines = split(r.output, '\n');
  REQUIRE(lines.size() == d.size() + meta.size());
  std::size_t i = 0;
  for (const auto& [name, t] : d) {  // both in name order
    const std::vector<std::string> f = split(lines[i++], '\t');
    INFO("line: " << lines[i - 1]);
    REQUIRE(f.size() == 6);
    CHECK(f[0] == "tensor");
    CHECK(f[1] == name);
    CHECK(f[2] == st_dtype(t.dtype()));
    CHECK(f[3] == shape_str(t.shape()));
    double sum = 0;
    for (double v : t.to_vector<double>()) sum += v;
    CHECK(std::strtod(f[4].c_str(), nullptr) == sum);
    CHECK(f[5] == "1");  // data 8-byte aligned
  }
  for (const auto& [key, value] : meta) CHECK(lines[i++] == "meta\t" + key + "\t" + value);

  // The reader is strict enough to notice a broken file (so its "yes" above means something).
  std::vector<uint8_t> bytes = test::read_bytes(path);
  bytes.push_back(0);
  const std::string broken = dir.write("broken.safetensors", bytes);
  const test::CommandResult bad = run_python(TAPEFLOW_TEST_SOURCE_DIR "/io/read_safetensors.py", broken);
  INFO("read_safetensors.py said:\n" << bad.output);
  CHECK(bad.status == 1);
  CHECK(bad.output.find("trailing bytes") != std::string::npos);
}

TEST_CASE("io: metadata round-trips and load_metadata reads only the header", "[io]") {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  const io::Metadata meta = {{"format", "pt"}, {"step", "1200"}, {"", "empty key"}, {"unicode", "日本語"}};
  io::save({{"w", ones({2})}}, path, meta);
  CHECK(io::load_metadata(path) == meta);
  io::save({{"w", ones({2})}}, path);
  CHECK(io::load_metadata(path).empty());

  // load_metadata checks the header against the file's size as load does: a cut file is refused.
  const std::string cut = dir.write(
      "cut.safetensors", st_file(R"({"__metadata__":{"a":"b"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                 raw(std::vector<float>{1.f})));
  require_error([&] { io::load_metadata(cut); }, {"load_metadata: " + cut + ": ", "reach past the end of the data"});
}

TEST_CASE("io: save refuses bad names and undefined tensors before touching the file", "[io]") {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  io::save({{"w", ones({1})}}, path);
  const std::vector<uint8_t> before = test::read_bytes(path);
  require_error<ValueError>([&] { io::save({{"__metadata__", ones({1})}}, path); }, {path, "reserved"});
  require_error<ValueError>([&] { io::save({{"w", Tensor()}}, path); }, {path, "'w' is undefined"});
  require_error<ValueError>([&] { io::save({{"bad\xff", ones({1})}}, path); }, {path, "not valid UTF-8"});
  require_error<ValueError>([&] { io::save({{"w", ones({1})}}, path, {{"k", "\xc3"}}); },
                            {path, "metadata value of 'k' is not valid UTF-8"});
  CHECK(test::read_bytes(path) == before);
  CHECK(files_in(dir.path()) == std::vector<std::string>{"x.safetensors"});
  const std::string nowhere = dir.file("no-such-dir/x.safetensors");
  require_error([&] { io::save({{"w", ones({1})}}, nowhere); }, {"save: " + nowhere + ": ", "cannot create"});
}

TEST_CASE("io: load widens the other integer dtypes and refuses half precision", "[io]") {
  TempDir dir;
  struct Case {
    const char* dtype;
    std::vector<uint8_t> bytes;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"I32", raw(std::vector<int32_t>{-2147483647 - 1, 5}), {-2147483648.0, 5}},
      {"I16", raw(std::vector<int16_t>{-32768, 300}), {-32768, 300}},
      {"I8", raw(std::vector<int8_t>{-128, 127}), {-128, 127}},
      {"U8", raw(std::vector<uint8_t>{0, 255}), {0, 255}},
      {"U16", raw(std::vector<uint16_t>{65535, 1}), {65535, 1}},
      {"U32", raw(std::vector<uint32_t>{4294967295u, 2}), {4294967295.0, 2}},
      {"U64", raw(std::vector<uint64_t>{9007199254740992ull, 3}), {9007199254740992.0, 3}},
  };
  for (const Case& c : cases) {
    INFO(c.dtype);
    const std::string header = std::string(R"({"x":{"dtype":")") + c.dtype + R"(","shape":[2],"data_offsets":[0,)" +
                               std::to_string(c.bytes.size()) + "]}}";
    const std::string path = dir.write(std::string(c.dtype) + ".safetensors", st_file(header, c.bytes));
    const Tensor t = io::load(path).at("x");
    CHECK(t.dtype() == Int64);
    test::require_values(t, c.expected);
  }
  const std::string u64 = dir.write(
      "u64.safetensors", st_file(R"({"x":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})",
                                 raw(std::vector<uint64_t>{9223372036854775808ull})));
  require_error([&] { io::load(u64); }, {u64, "U64 element 0 (9223372036854775808) does not fit int64"});
  for (const char* half : {"F16", "BF16"}) {
    const std::string path = dir.write(
        std::string(half) + ".safetensors",
        st_file(std::string(R"({"x":{"dtype":")") + half + R"(","shape":[2],"data_offsets":[0,4]}})", {0, 0, 0, 0}));
    require_error([&] { io::load(path); }, {"load: " + path + ": ", std::string("dtype ") + half + " is not supported"});
  }
}

TEST_CASE("io: load names the file and the problem for every corrupt case", "[io]") {
  TempDir dir;
  const std::vector<uint8_t> four = raw(std::vector<float>{1.f});
  const std::vector<uint8_t> eight = raw(std::vector<float>{1.f, 2.f});
  const std::vector<uint8_t> twelve = raw(std::vector<float>{1.f, 2.f, 3.f});
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };
  const std::string good_w = entry("w", "F32", "[2]", "[0,8]");
  const std::string seventeen_dims = "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]";
  std::string bad_utf8 = "{\"w\xff\":{}}";

  struct BadCase {
    const char* name;
    std::vector<uint8_t> bytes;
    std::string fragment;
  };
  const std::vector<BadCase> cases = {
      {"empty", {}, "the file is empty"},
      {"shorter than 8 bytes", {1, 2, 3, 4, 5}, "only 5 bytes long"},
      {"header longer than the file", st_file("{}", {}, 100), "header length 100 is larger than the file"},
      {"absurd header length", st_file("{}", {}, uint64_t{1} << 40), "is absurd"},
      {"header not JSON", st_file("{\"w\": nope}", {}), "the header is not valid JSON"},
      {"header cut inside JSON", st_file("{\"w\":", {}), "the header is not valid JSON"},
      {"header not UTF-8", st_file(bad_utf8, {}), "the header is not valid JSON"},
      {"header not an object", st_file("[1,2]", {}), "the header is not a JSON object but array"},
      {"entry not an object", st_file("{\"w\":5}", {}), "tensor 'w': expected an object"},
      {"missing dtype", st_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", eight), "tensor 'w': missing field 'dtype'"},
      {"missing shape", st_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", eight), "missing field 'shape'"},
      {"missing data_offsets", st_file(R"({"w":{"dtype":"F32","shape":[2]}})", eight), "missing field 'data_offsets'"},
      {"unknown field", st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight),
       "tensor 'w': unknown field 'x'"},
      {"dtype not a string", st_file(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", eight), "dtype is not a string"},
      {"unknown dtype", st_file("{" + entry("w", "Q7", "[2]", "[0,8]") + "}", eight), "unknown dtype 'Q7'"},
      {"shape not an array", st_file("{" + entry("w", "F32", "2", "[0,8]") + "}", eight), "shape is not an array"},
      {"shape not integers", st_file("{" + entry("w", "F32", "[2.5]", "[0,8]") + "}", eight), "size is not an integer (2.5)"},
      {"shape as strings", st_file("{" + entry("w", "F32", "[\"2\"]", "[0,8]") + "}", eight), "size is not an integer"},
      {"negative shape", st_file("{" + entry("w", "F32", "[-2]", "[0,8]") + "}", eight), "size is negative (-2)"},
      {"overflowing shape", st_file("{" + entry("w", "F32", "[4294967296,4294967296]", "[0,8]") + "}", eight),
       "shape [4294967296,4294967296] overflows"},
      {"shape past uint64", st_file("{" + entry("w", "F32", "[99999999999999999999]", "[0,8]") + "}", eight),
       "is not an integer"},
      {"too many dimensions", st_file("{" + entry("w", "F32", seventeen_dims, "[0,4]") + "}", four), "17 dimensions"},
      {"offsets not a pair", st_file("{" + entry("w", "F32", "[2]", "[0]") + "}", eight),
       "data_offsets is not an array [begin, end]"},
      {"offsets negative", st_file("{" + entry("w", "F32", "[2]", "[-8,0]") + "}", eight), "data_offsets begin is negative"},
      {"offsets reversed", st_file("{" + entry("w", "F32", "[0]", "[8,0]") + "}", eight), "end before they begin"},
      {"offsets do not match the size", st_file("{" + entry("w", "F32", "[2]", "[0,4]") + "}", four),
       "data_offsets [0,4] span 4 bytes, but F32 [2] needs 8"},
      {"offsets past the buffer", st_file("{" + entry("w", "F32", "[2]", "[0,8]") + "}", four),
       "tensor 'w': data_offsets [0,8] reach past the end of the data (4 bytes after the header)"},
      {"overlapping ranges",
       st_file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}", twelve),
       "tensors 'a' and 'b' overlap"},
      {"hole between tensors",
       st_file("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}", twelve),
       "hole in the data: bytes [4,8) belong to no tensor"},
      {"hole at the start", st_file("{" + entry("a", "F32", "[1]", "[4,8]") + "}", eight), "hole in the data: bytes [0,4)"},
      {"trailing bytes", st_file("{" + good_w + "}", twelve), "trailing bytes: 4 bytes after the last tensor's data"},
      {"duplicate names", st_file("{" + good_w + "," + good_w + "}", eight), "duplicate tensor name 'w'"},
      {"duplicate field", st_file(R"({"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight),
       "duplicate key 'dtype'"},
      {"metadata not an object", st_file("{\"__metadata__\":[1]," + good_w + "}", eight), "\"__metadata__\" is not an object"},
      {"metadata not strings", st_file("{\"__metadata__\":{\"k\":1}," + good_w + "}", eight), "metadata 'k' is not a string (1)"},
      {"bool not 0 or 1", st_file("{" + entry("m", "BOOL", "[3]", "[0,3]") + "}", {1, 0, 2}),
       "tensor 'm': BOOL element 2 is the byte 2, not 0 or 1"},
  };
  for (const BadCase& c : cases) {
    INFO(c.name);
    const std::string path = dir.write(std::string(c.name) + ".safetensors", c.bytes);
    require_error([&] { io::load(path); }, {"load: " + path + ": ", c.fragment});
  }
  const std::string missing = dir.file("missing.safetensors");
  require_error([&] { io::load(missing); }, {"load: " + missing + ": ", "cannot open"});
  require_error([&] { io::load(dir.path().string()); }, {"is a directory"});
}

TEST_CASE("io: a write that fails part way leaves the previous checkpoint intact", "[io]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const StateDict old = {{"w", arange(10, {.dtype = Float32})}};
  io::save(old, path);
  const std::vector<uint8_t> old_bytes = test::read_bytes(path);
  const StateDict big = {{"w", ones({256, 256})}};  // 256 KiB of data

  SECTION("the disk fills up (write() fails with EFBIG past RLIMIT_FSIZE)") {
    {
      FileSizeLimit limit(64 * 1024);
      require_error([&] { io::save(big, path); }, {"save: " + path + ": ", "write failed", "File too large",
                                                    "the previous file, if any, is unchanged"});
    }
    CHECK(test::read_bytes(path) == old_bytes);
    require_same(io::load(path), old);
    CHECK(files_in(dir.path()) == std::vector<std::string>{"model.safetensors"});
    // The limit is gone again: the same save now works.
    io::save(big, path);
    require_same(io::load(path), big);
  }
  SECTION("an exception thrown mid-write removes the temporary file") {
    CHECK_THROWS_AS(([&] {
                      io::detail::AtomicFile file("save", path);
                      file.write("partial contents");
                      throw std::runtime_error("interrupted");
                    }()),
                    std::runtime_error);
    CHECK(test::read_bytes(path) == old_bytes);
    CHECK(files_in(dir.path()) == std::vector<std::string>{"model.safetensors"});
  }
}

TEST_CASE("io: load(module) restores a module and refuses what does not fit, unchanged", "[io]") {
  TempDir dir;
  manual_seed(1);
  nn::Sequential saved(nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 2), nn::BatchNorm1d(2));
  {  // Move the batch-norm statistics (an Int64 buffer among them) away from their start.
    saved.train();
    saved.forward(randn({5, 3}));
  }
  const std::string path = dir.file("model.safetensors");
  io::save(saved, path);

  manual_seed(2);
  nn::Sequential fresh(nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 2), nn::BatchNorm1d(2));
  REQUIRE(bytes_of(fresh.state_dict().at("0.weight")) != bytes_of(saved.state_dict().at("0.weight")));
  io::load(fresh, path);
  require_same(snapshot(fresh), snapshot(saved));
  CHECK(fresh.state_dict().at("3.num_batches_tracked").dtype() == Int64);
  CHECK(fresh.state_dict().at("3.num_batches_tracked").item<int64_t>() == 1);
  // Loaded in place: the module's own handles see the values.
  CHECK(fresh.parameters()[0].requires_grad());

  // Each bad file: IOError naming the file and the problem, every tensor of `target` as it was.
  manual_seed(3);
  nn::Sequential target(nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 2));
  const StateDict before = snapshot(target);
  auto refuse = [&](const std::string& file, const std::string& fragment, bool strict = true) {
    require_error([&] { io::load(target, file, strict); }, {"load: " + file + ": ", fragment});
    require_same(snapshot(target), before);
  };
  // A file for target with one entry changed: `edit` gets target's own state.
  auto variant = [&](const std::string& name, const std::function<void(StateDict&)>& edit) {
    StateDict d = snapshot(target);
    for (auto& [n, t] : d) t = full_like(t, 0.5);  // differs from target everywhere
    edit(d);
    const std::string file = dir.file(name);
    io::save(d, file);
    return file;
  };
  refuse(path, "unexpected '3.bias'");  // saved has a batch norm that target has not
  refuse(variant("shape.safetensors", [](StateDict& d) { d["2.weight"] = zeros({2, 5}); }),
         "'2.weight' has shape [2,5] but the module expects [2,4]");
  refuse(variant("shape-lax.safetensors", [](StateDict& d) { d["0.bias"] = zeros({5}); }), "'0.bias' has shape [5]",
         false);
  refuse(variant("missing.safetensors", [](StateDict& d) { d.erase("2.bias"); }), "missing '2.bias'");
  refuse(variant("extra.safetensors", [](StateDict& d) { d["9.weight"] = zeros({1}); }), "unexpected '9.weight'");
  refuse(variant("dtype.safetensors", [](StateDict& d) { d["0.weight"] = d["0.weight"].to(Float64); }),
         "'0.weight' is float64 in the file but float32 in the module");
  const std::string corrupt = dir.write("corrupt.safetensors", std::vector<uint8_t>{1, 2, 3});
  refuse(corrupt, "only 3 bytes long");

  // Not strict: missing and unexpected names are skipped, the rest loads.
  const std::string partial = variant("partial.safetensors", [](StateDict& d) {
    d.erase("2.bias");
    d["9.weight"] = zeros({1});
  });
  io::load(target, partial, false);
  const StateDict after = snapshot(target);
  CHECK(bytes_of(after.at("2.bias")) == bytes_of(before.at("2.bias")));
  test::require_values(after.at("0.weight"), std::vector<double>(12, 0.5));
}

TEST_CASE("io: load(optimizer) refuses what does not fit and leaves the optimizer unchanged", "[io]") {
  TempDir dir;
  manual_seed(5);
  nn::Linear model(3, 2);
  optim::Adam adam(model.parameters(), {.lr = 0.01});
  const Tensor x = randn({4, 3}), y = randn({4, 2});
  for (int i = 0; i < 2; ++i) adam.minimize([&] { return mse_loss(model(x), y); });
  const std::string path = dir.file("adam.safetensors");
  io::save(adam, path);
  CHECK(io::load_metadata(path).at(io::kOptimizerMetadataKey) == "Adam");

  // Another Adam, stepped differently, is the one that must stay unchanged.
  manual_seed(6);
  nn::Linear other(3, 2);
  optim::Adam target(other.parameters(), {.lr = 0.5});
  target.minimize([&] { return mse_loss(other(x), y); });
  const StateDict before = target.state_dict();
  auto refuse = [&](const std::string& file, const std::string& fragment) {
    require_error([&] { io::load(target, file); }, {"load: " + file + ": ", fragment});
    require_same(target.state_dict(), before);
    CHECK(target.lr() == 0.5);
  };
  auto variant = [&](const std::string& name, const std::function<void(StateDict&)>& edit, bool as_optimizer = false) {
    StateDict d = io::load(path);
    edit(d);
    const std::string file = dir.file(name);
    io::save(d, file, as_optimizer ? io::Metadata{{io::kOptimizerMetadataKey, "Adam"}} : io::Metadata{});
    return file;
  };

  optim::SGD sgd(other.parameters(), {.lr = 0.1, .momentum = 0.9});
  require_error([&] { io::load(sgd, path); }, {"load: " + path + ": ", "holds the state of a Adam optimizer, not SGD"});
  // Without the metadata, load_state_dict's own check speaks (wrapped, with the file).
  const std::string anonymous = variant("anonymous.safetensors", [](StateDict&) {});
  require_error([&] { io::load(sgd, anonymous); }, {"load: " + anonymous + ": ", "does not fit SGD", "unexpected key 'state.0"});

  refuse(variant("shape.safetensors", [](StateDict& d) { d["state.0.exp_avg"] = zeros({3, 3}); }),
         "key 'state.0.exp_avg' has shape [3,3] but parameter 0 has shape [2,3]");
  refuse(variant("dtype.safetensors", [](StateDict& d) { d["state.1.exp_avg_sq"] = d["state.1.exp_avg_sq"].to(Float64); }),
         "'state.1.exp_avg_sq' is float64 in the file but float32 in the optimizer");
  refuse(variant("missing.safetensors", [](StateDict& d) { d.erase("state.1.exp_avg_sq"); }),
         "missing key 'state.1.exp_avg_sq'");
  refuse(variant("lr.safetensors", [](StateDict& d) { d.erase("param_groups.0.lr"); }), "missing key 'param_groups.0.lr'");
  refuse(variant("unknown.safetensors", [](StateDict& d) { d["state.7.exp_avg"] = zeros({1}); }, true),
         "unexpected key 'state.7.exp_avg'");
  refuse(dir.write("corrupt.safetensors", std::vector<uint8_t>(8, 0xFF)), "is absurd");

  // And the good file loads: target now holds exactly adam's state.
  io::load(target, path);
  require_same(target.state_dict(), adam.state_dict());
  CHECK(target.lr() == 0.01);
}

namespace {

// Trains a small MLP on fixed data (no shuffling, no dropout): the same steps from the same
// state must give the same bits.
struct Run {
  explicit Run(uint64_t seed)
      : model((manual_seed(seed), nn::Sequential(nn::Linear(4, 16), nn::ReLU(), nn::Linear(16, 3)))) {}
  nn::Sequential model;
  std::unique_ptr<optim::Optimizer> opt;
};

std::pair<Tensor, Tensor> fixed_data() {
  manual_seed(1234);
  return {randn({32, 4}), randn({32, 3})};
}

void train(Run& run, const std::pair<Tensor, Tensor>& data, int steps) {
  for (int i = 0; i < steps; ++i)
    run.opt->minimize([&] { return mse_loss(run.model(data.first), data.second); });
}

void require_resume_exact(const std::function<std::unique_ptr<optim::Optimizer>(nn::Module&, double lr)>& make) {
  TempDir dir;
  const auto data = fixed_data();
  constexpr int kSteps = 7;

  Run straight(11);
  straight.opt = make(straight.model, 0.01);
  train(straight, data, 2 * kSteps);

  Run first(11);
  first.opt = make(first.model, 0.01);
  train(first, data, kSteps);
  const StateDict halfway = snapshot(first.model);
  io::save(first.model, dir.file("model.safetensors"));
  io::save(*first.opt, dir.file("optimizer.safetensors"));

  // Fresh objects that start elsewhere: other initial weights, another learning rate.
  Run resumed(99);
  resumed.opt = make(resumed.model, 0.5);
  REQUIRE(bytes_of(resumed.model.state_dict().at("0.weight")) != bytes_of(halfway.at("0.weight")));
  io::load(resumed.model, dir.file("model.safetensors"));
  io::load(*resumed.opt, dir.file("optimizer.safetensors"));
  CHECK(resumed.opt->lr() == 0.01);
  train(resumed, data, kSteps);

  // Training moved the weights, and the resumed run moved them to exactly the same bits.
  const StateDict end = snapshot(straight.model);
  CHECK(bytes_of(end.at("0.weight")) != bytes_of(halfway.at("0.weight")));
  require_same(snapshot(resumed.model), end);
  require_same(resumed.opt->state_dict(), straight.opt->state_dict());
}

}  // namespace

TEST_CASE("io: training resumed from a checkpoint continues bit-identically", "[io]") {
  SECTION("Adam") {
    require_resume_exact([](nn::Module& m, double lr) {
      return std::make_unique<optim::Adam>(m.parameters(), optim::AdamOptions{.lr = lr});
    });
  }
  SECTION("SGD with momentum") {
    require_resume_exact([](nn::Module& m, double lr) {
      return std::make_unique<optim::SGD>(m.parameters(), optim::SGDOptions{.lr = lr, .momentum = 0.9});
    });
  }
}
