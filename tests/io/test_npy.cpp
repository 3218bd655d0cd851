// SPDX-License-Identifier: MIT
// io::save_npy / io::load_npy: round trips, files numpy reads (np.load on ours) and files
// numpy wrote (np.save, both byte orders, Fortran order, every integer width), and every
// corrupt case by its message.
#include "../helpers.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <sys/wait.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace tapeflow;
using tapeflow::test::TempDir;
using tapeflow::test::bytes_of;
using tapeflow::test::require_error;
using tapeflow::test::split;

namespace {

std::string hex(const std::vector<unsigned char>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

// Runs a Python script (written to `dir`) with Debian's python3 and numpy.
test::CommandResult run_python(const TempDir& dir, const std::string& script, const std::string& arg) {
  return test::run_python(dir.write("script.py", script), arg);
}

// A .npy file: magic, version, little-endian header length, header, data.
std::vector<uint8_t> npy_file(const std::string& header, const std::vector<uint8_t>& data, int major = 1,
                              int64_t header_len = -1) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const uint64_t len = header_len >= 0 ? static_cast<uint64_t>(header_len) : header.size();
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace

TEST_CASE("io: save_npy/load_npy round-trip every dtype, 0-d, empty and strided tensors", "[io]") {
  TempDir dir;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Tensor> cases = {
      tensor({1.5f, -0.0f, nan, 1e-30f, -7.0f, 6.0f}, {2, 3}),
      tensor({0.1, -2.5, 1e300}, {3}, {.dtype = Float64}),
      tensor(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()}, {2, 2}),
      tensor({true, false, true}, {3}),
      scalar_tensor(2.75),
      scalar_tensor(-3, {.dtype = Int64}),
      zeros({0, 3}),
      zeros({2, 0}, {.dtype = Float64}),
      arange(24, {.dtype = Float64}).reshape({2, 3, 4}).permute({2, 0, 1}),  // non-contiguous
      arange(10, {.dtype = Int64}).slice(0, 1, 10, 3),
      zeros({1000, 1000, 1000, 1000, 1000, 1000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}),  // a 182-byte header
  };
  const std::string path = dir.file("t.npy");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Tensor& t = cases[i];
    INFO("case " << i << ": " << t);
    io::save_npy(t, path);
    const Tensor back = io::load_npy(path);
    CHECK(back.dtype() == t.dtype());
    CHECK(back.shape() == t.shape());
    // NOTE: tensor/ calls a fresh [2,0] tensor non-contiguous (its strides skip the zero).
    if (t.numel() > 0) CHECK(back.is_contiguous());
    CHECK(bytes_of(back) == bytes_of(t));
  }
}

TEST_CASE("io: numpy loads the files save_npy writes", "[io]") {
  TempDir dir;
  const std::vector<std::pair<Tensor, std::string>> cases = {
      {tensor({1.5f, -0.25f, 3.0f, 1e-30f, -7.0f, 6.0f}, {2, 3}), "<f4"},
      {tensor({0.1, -2.5, 1e300}, {3}, {.dtype = Float64}), "<f8"},
      {tensor(std::vector<int64_t>{-9, 0, 1LL << 40, 5}, {2, 1, 2}), "<i8"},
      {tensor({true, false, true, true}, {2, 2}), "|b1"},
      {scalar_tensor(2.75, {.dtype = Float64}), "<f8"},
      {zeros({0, 3}), "<f4"},
      {arange(12, {.dtype = Float32}).reshape({3, 4}).t(), "<f4"},
      {ones({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3}), "<f4"},
      // A header longer than 128 bytes (see load_npy's test of the same shape).
      {zeros({1000, 1000, 1000, 1000, 1000, 1000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}), "<f4"},
  };
  std::string list;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir.file(std::to_string(i) + ".npy");
    io::save_npy(cases[i].first, path);
    list += path + "\n";
  }
  dir.write("list.txt", list);
  // For each file: dtype, shape, C-order bytes in hex, as numpy sees them.
  const std::string script = R"(
import sys
import numpy as np
for path in open(sys.argv[1]).read().split():
    a = np.load(path, allow_pickle=False)
    print("%s\t[%s]\t%s\t%d" % (a.dtype.str, ",".join(map(str, a.shape)), np.ascontiguousarray(a).tobytes().hex(),
                                 int(a.flags["C_CONTIGUOUS"])))
)";
  const test::CommandResult r = run_python(dir, script, dir.file("list.txt"));
  INFO("python said:\n" << r.output);
  REQUIRE(r.status == 0);
  const std::vector<std::string> lines = split(r.output, '\n');
  REQUIRE(lines.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [t, descr] = cases[i];
    INFO("case " << i << ": " << lines[i]);
    const std::vector<std::string> f = split(lines[i], '\t');
    REQUIRE(f.size() == 4);
    CHECK(f[0] == descr);
    CHECK(f[1] == shape_str(t.shape()));
    CHECK(f[2] == hex(bytes_of(t)));
    CHECK(f[3] == "1");  // written in C order
  }
}

TEST_CASE("io: load_npy reads what numpy writes", "[io]") {
  TempDir dir;
  // Each array's expected values are printed by numpy itself, as exact float.hex() strings.
  const std::string script = R"(
import sys
import numpy as np
out = sys.argv[1]
base = np.arange(-3, 9).reshape(3, 4)
arrays = {
    "f4": (base / 4).astype(np.float32),
    "f8": base / 8.0,
    "f8_big_endian": (base / 8.0).astype(">f8"),
    "f4_fortran": np.asfortranarray((base / 4).astype(np.float32)),
    "f8_fortran_3d": np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
    "i8": base.astype(np.int64) * 1000000007,
    "i4_big_endian": base.astype(">i4"),
    "i2": base.astype(np.int16) * 1000,
    "i1": base.astype(np.int8),
    "u1": (base + 3).astype(np.uint8) * 20,
    "u2": (base + 3).astype(np.uint16) * 5000,
    "u4": (base + 3).astype(np.uint32) * 300000000,
    "u8": (base + 3).astype(np.uint64) * 2**40,
    "bool": base % 3 == 0,
    "scalar": np.array(2.5),
    "empty": np.zeros((0, 5), dtype=np.float32),
    "long_shape": np.ones((1,) * 14 + (2, 3), dtype=np.float32),
    # numpy pads this header to 182 bytes: a length byte of 0x80 or more, which xtensor's own
    # reader gets wrong (it reads the length through signed chars).
    "long_header": np.zeros((1000,) * 6 + (1,) * 9 + (0,), dtype=np.float32),
}
for name, a in arrays.items():
    np.save(out + "/" + name + ".npy", a)
    values = " ".join(float(v).hex() for v in np.ascontiguousarray(a).ravel())
    print("%s\t[%s]\t%s" % (name, ",".join(map(str, a.shape)), values))
)";
  const test::CommandResult r = run_python(dir, script, dir.path().string());
  INFO("python said:\n" << r.output);
  REQUIRE(r.status == 0);
  const std::vector<std::string> lines = split(r.output, '\n');
  REQUIRE(lines.size() == 18);
  const std::vector<uint8_t> long_header = test::read_bytes(dir.file("long_header.npy"));
  REQUIRE(long_header.size() > 9);
  CHECK(long_header[8] >= 0x80);  // the case the NOTE in npy.cpp is about
  for (const std::string& line : lines) {
    INFO(line);
    const std::vector<std::string> f = split(line, '\t');
    REQUIRE(f.size() >= 2);
    const std::string& name = f[0];
    const Tensor t = io::load_npy(dir.file(name + ".npy"));
    const DType expected_dtype = name.rfind("f4", 0) == 0 || name == "empty" || name.rfind("long", 0) == 0 ? Float32
                                 : name.rfind("f8", 0) == 0 || name == "scalar"                     ? Float64
                                 : name == "bool"                                                     ? Bool
                                                                                                      : Int64;
    CHECK(t.dtype() == expected_dtype);
    CHECK(shape_str(t.shape()) == f[1]);
    std::vector<double> expected;
    if (f.size() > 2)
      for (const std::string& v : split(f[2], ' ')) expected.push_back(std::strtod(v.c_str(), nullptr));
    test::require_values(t, expected);
  }
}

TEST_CASE("io: load_npy names the file and the problem for every corrupt case", "[io]") {
  TempDir dir;
  const std::string h23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const std::vector<uint8_t> six = f32_bytes({1, 2, 3, 4, 5, 6});
  auto header = [](const std::string& descr, const std::string& fortran, const std::string& shape) {
    return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
  };
  std::vector<uint8_t> bad_magic = npy_file(h23, six);
  bad_magic[1] = 'X';
  std::vector<uint8_t> longer = npy_file(h23, six);
  longer.push_back(0);
  std::vector<uint8_t> shorter = npy_file(h23, six);
  shorter.pop_back();

  struct BadCase {
    const char* name;
    std::vector<uint8_t> bytes;
    std::string fragment;
  };
  const std::vector<BadCase> cases = {
      {"empty", {}, "the file is empty"},
      {"bad magic", bad_magic, "not a .npy file"},
      {"text file", {'h', 'e', 'l', 'l', 'o', '\n', 'w', 'o', 'r', 'l', 'd'}, "not a .npy file"},
      {"cut in the magic", {0x93, 'N', 'U'}, "truncated: the file ends inside the magic bytes"},
      {"cut in the length", {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 10}, "truncated: the file ends inside the header length"},
      {"version 4.0", npy_file(h23, six, 4), "unsupported .npy version 4.0"},
      {"version 1.1", [&] { auto b = npy_file(h23, six); b[7] = 1; return b; }(), "unsupported .npy version 1.1"},
      {"header longer than the file", npy_file(h23, {}, 1, 5000), "header length 5000 is larger than the file"},
      {"absurd header length", npy_file(h23, {}, 2, 0x7FFFFFFF), "is absurd"},
      {"header not a dict", npy_file("[1, 2]\n", {}), "bad header: expected '{'"},
      {"missing key", npy_file("{'descr': '<f4', 'shape': (2,), }\n", f32_bytes({1, 2})), "missing key 'fortran_order'"},
      {"unknown key", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}\n", f32_bytes({1})),
       "unexpected key 'x'"},
      {"duplicate key", npy_file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}\n", f32_bytes({1})),
       "key 'descr' appears twice"},
      {"bad fortran_order", npy_file(header("'<f4'", "0", "(1,)"), f32_bytes({1})), "fortran_order must be True or False"},
      {"shape not a tuple", npy_file(header("'<f4'", "False", "[1]"), f32_bytes({1})), "expected '(' opening the shape"},
      {"shape (n) without comma", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1)}\n", f32_bytes({1})),
       "needs a comma to be a tuple"},
      {"negative size", npy_file(header("'<f4'", "False", "(-1,)"), {}), "negative size in the shape"},
      {"size past int64", npy_file(header("'<f4'", "False", "(99999999999999999999,)"), {}), "does not fit int64"},
      {"overflowing shape", npy_file(header("'<f4'", "False", "(4294967296, 4294967296)"), {}),
       "shape (4294967296, 4294967296) overflows"},
      {"too many dimensions", npy_file(header("'<f4'", "False", "(1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)"), f32_bytes({1})),
       "more than tapeflow's 16 dimensions"},
      {"text after the dict", npy_file(header("'<f4'", "False", "(1,)") + "junk", f32_bytes({1})),
       "unexpected text after the header dict"},
      {"unterminated string", npy_file("{'descr: 1}\n", {}), "unterminated string"},
      {"float16", npy_file(header("'<f2'", "False", "(1,)"), {0, 0}), "dtype '<f2' is not supported"},
      {"complex", npy_file(header("'<c8'", "False", "(1,)"), f32_bytes({1, 2})), "dtype '<c8' is not supported"},
      {"strings", npy_file(header("'<U3'", "False", "(1,)"), std::vector<uint8_t>(12, 'a')), "dtype '<U3' is not supported"},
      {"objects", npy_file(header("'|O'", "False", "(1,)"), std::vector<uint8_t>(8, 0)), "dtype '|O' is not supported"},
      {"structured", npy_file(header("[('a', '<f4')]", "False", "(1,)"), f32_bytes({1})), "structured dtypes"},
      {"'|' on a multi-byte type", npy_file(header("'|f4'", "False", "(1,)"), f32_bytes({1})), "byte order '|'"},
      {"truncated data", shorter, "truncated data: shape (2, 3) of '<f4' needs 24 bytes, the file has 23"},
      {"trailing bytes", longer, "trailing bytes: 1 bytes after the 24 bytes of data"},
      {"bool not 0 or 1", npy_file(header("'|b1'", "False", "(3,)"), {0, 1, 7}), "bool element 2 is the byte 7"},
      {"uint64 past int64", npy_file(header("'<u8'", "False", "(1,)"), {0, 0, 0, 0, 0, 0, 0, 0x80}),
       "uint64 element 0 (9223372036854775808) does not fit int64"},
  };
  for (const BadCase& c : cases) {
    INFO(c.name);
    const std::string path = dir.write(std::string(c.name) + ".npy", c.bytes);
    require_error([&] { io::load_npy(path); }, {"load_npy: " + path + ": ", c.fragment});
  }
  const std::string missing = dir.file("missing.npy");
  require_error([&] { io::load_npy(missing); }, {"load_npy: " + missing + ": ", "cannot open"});
}

TEST_CASE("io: load_npy accepts headers numpy would accept", "[io]") {
  TempDir dir;
  // Keys in another order, double quotes, no trailing comma, version 2.0 and 3.0, no newline.
  const std::vector<std::string> headers = {
      "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}      \n",
      "{'descr':'<f4','fortran_order':False,'shape':(2,),}",
  };
  for (int major = 1; major <= 3; ++major)
    for (const std::string& h : headers) {
      INFO("version " << major << ": " << h);
      const std::string path = dir.write("ok.npy", npy_file(h, f32_bytes({1.5f, -2.f}), major));
      test::require_values(io::load_npy(path), {1.5, -2});
    }
}

TEST_CASE("io: save_npy is atomic and names the file", "[io]") {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  io::save_npy(tensor({1.f, 2.f}), path);
  const std::vector<uint8_t> before = test::read_bytes(path);
  require_error<ValueError>([&] { io::save_npy(Tensor(), path); }, {"save_npy: " + path + ": ", "undefined"});
  CHECK(test::read_bytes(path) == before);
  const std::string nowhere = dir.file("no-such-dir/x.npy");
  require_error([&] { io::save_npy(ones({2}), nowhere); }, {"save_npy: " + nowhere + ": ", "cannot create"});
}
