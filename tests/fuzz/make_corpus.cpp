// SPDX-License-Identifier: MIT
// Writes the seed corpora of the fuzz targets into corpus/<target>/ under the folder given:
//   make_corpus tests/fuzz/corpus
// IDX and safetensors files are encoded here byte by byte from their specifications (so the seeds
// do not depend on the readers they feed), plus checkpoints written by io::save; event files are
// written by io::SummaryWriter; op programs are pseudo-random bytes from a fixed seed. The output
// is the same on every run (event files aside: they hold the time and the host name), so the
// corpus can be regenerated and compared. Inputs found while fuzzing are added to the same folders
// with libFuzzer's -merge=1 (see run.sh), not by this program.
#include <tapeflow/tapeflow.hpp>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

fs::path root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_corpus: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

std::string gzip(const std::string& bytes) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, bytes.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void put_be(std::string& s, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// --- IDX: 00 00 <type> <ndim>, big-endian uint32 sizes, big-endian values ---------------------
std::string idx(uint8_t type, const std::vector<uint32_t>& shape, int value_bytes, uint64_t (*value)(std::size_t)) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(shape.size())};
  std::size_t n = 1;
  for (uint32_t d : shape) {
    put_be(s, d, 4);
    n *= d;
  }
  for (std::size_t i = 0; i < n; ++i) put_be(s, value(i), value_bytes);
  return s;
}

void idx_corpus() {
  const auto bytes = [](std::size_t i) -> uint64_t { return (i * 37) & 0xFF; };
  const auto floats = [](std::size_t i) -> uint64_t {
    const float f = static_cast<float>(i) * 0.25f - 1.0f;
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  const auto doubles = [](std::size_t i) -> uint64_t {
    const double d = static_cast<double>(i) / 3 - 2;
    uint64_t u;
    std::memcpy(&u, &d, 8);
    return u;
  };
  const auto shorts = [](std::size_t i) -> uint64_t { return static_cast<uint16_t>(static_cast<int16_t>(i * 1000 - 3000)); };
  const auto ints = [](std::size_t i) -> uint64_t { return static_cast<uint32_t>(static_cast<int32_t>(i * 70000 - 100000)); };
  write("fuzz_idx", "ubyte_1d.idx", idx(0x08, {10}, 1, bytes));
  write("fuzz_idx", "ubyte_2d.idx", idx(0x08, {3, 4}, 1, bytes));
  write("fuzz_idx", "ubyte_3d_images.idx", idx(0x08, {2, 5, 5}, 1, bytes));
  write("fuzz_idx", "ubyte_scalar.idx", idx(0x08, {}, 1, bytes));
  write("fuzz_idx", "ubyte_empty.idx", idx(0x08, {0, 28, 28}, 1, bytes));
  write("fuzz_idx", "sbyte_1d.idx", idx(0x09, {6}, 1, bytes));
  write("fuzz_idx", "short_2d.idx", idx(0x0B, {2, 3}, 2, shorts));
  write("fuzz_idx", "int_1d.idx", idx(0x0C, {5}, 4, ints));
  write("fuzz_idx", "float_1d.idx", idx(0x0D, {7}, 4, floats));
  write("fuzz_idx", "float_2d.idx", idx(0x0D, {3, 2}, 4, floats));
  write("fuzz_idx", "float_3d.idx", idx(0x0D, {2, 2, 3}, 4, floats));
  write("fuzz_idx", "double_2d.idx", idx(0x0E, {2, 2}, 8, doubles));
  write("fuzz_idx", "ubyte_2d.idx.gz", gzip(idx(0x08, {4, 4}, 1, bytes)));
  write("fuzz_idx", "float_2d.idx.gz", gzip(idx(0x0D, {3, 3}, 4, floats)));
  // Two gzip members, read as one stream (as gzip(1) does).
  const std::string whole = idx(0x08, {2, 8}, 1, bytes);
  write("fuzz_idx", "ubyte_two_members.idx.gz", gzip(whole.substr(0, 9)) + gzip(whole.substr(9)));
}

// --- safetensors: u64 little-endian header length, JSON header, little-endian data ------------
struct St {
  std::string name, dtype, shape;  // shape as JSON, e.g. "[2,3]"
  std::string data;
};

std::string safetensors(const std::vector<St>& tensors, const std::string& metadata = "") {
  std::string header = "{";
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata;
  std::string data;
  for (const St& t : tensors) {
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + t.shape + ",\"data_offsets\":[" +
              std::to_string(data.size()) + "," + std::to_string(data.size() + t.data.size()) + "]}";
    data += t.data;
  }
  header += "}";
  std::string s;
  put_le(s, header.size(), 8);
  return s + header + data;
}

std::string le_values(int bytes, std::initializer_list<uint64_t> values) {
  std::string s;
  for (uint64_t v : values) put_le(s, v, bytes);
  return s;
}

void safetensors_corpus() {
  const std::string f32 = le_values(4, {0x3F800000, 0xC0000000, 0x7FC00000, 0x00000001, 0x7F800000, 0});
  const std::string f64 = le_values(8, {0x3FF0000000000000, 0xBFE0000000000000});
  write("fuzz_safetensors", "f32_2x3.safetensors", safetensors({{"w", "F32", "[2,3]", f32}}));
  write("fuzz_safetensors", "f64_scalar_and_vector.safetensors",
        safetensors({{"s", "F64", "[]", f64.substr(0, 8)}, {"v", "F64", "[1]", f64.substr(8)}}));
  write("fuzz_safetensors", "i64.safetensors", safetensors({{"i", "I64", "[3]", le_values(8, {1, 0xFFFFFFFFFFFFFFFF, 1ull << 62})}}));
  write("fuzz_safetensors", "bool.safetensors", safetensors({{"mask", "BOOL", "[2,2]", le_values(1, {1, 0, 0, 1})}}));
  write("fuzz_safetensors", "narrow_ints.safetensors",
        safetensors({{"a", "I32", "[2]", le_values(4, {0xFFFFFFFF, 7})},
                     {"b", "I16", "[2]", le_values(2, {0x8000, 1})},
                     {"c", "I8", "[3]", le_values(1, {0x80, 0x7F, 0})},
                     {"d", "U8", "[2]", le_values(1, {255, 1})},
                     {"e", "U16", "[1]", le_values(2, {65535})},
                     {"f", "U32", "[1]", le_values(4, {0xFFFFFFFF})},
                     {"g", "U64", "[2]", le_values(8, {5, 0x7FFFFFFFFFFFFFFF})}}));
  write("fuzz_safetensors", "empty_tensor.safetensors", safetensors({{"e", "F32", "[0,4]", ""}, {"x", "F32", "[1]", f32.substr(0, 4)}}));
  write("fuzz_safetensors", "no_tensors.safetensors", safetensors({}));
  write("fuzz_safetensors", "metadata.safetensors",
        safetensors({{"layer.0.weight", "F32", "[1,2]", f32.substr(0, 8)}}, "{\"format\":\"pt\",\"note\":\"caf\\u00e9 \xE2\x82\xAC\"}"));
  write("fuzz_safetensors", "f16_refused.safetensors", safetensors({{"h", "F16", "[2]", le_values(2, {0x3C00, 0})}}));

  // And what io::save writes, metadata included.
  const fs::path tmp = fs::temp_directory_path() / ("make_corpus-" + std::to_string(::getpid()) + ".safetensors");
  io::save({{"a", tensor({1.f, 2.f, 3.f}, {3})},
            {"b", tensor({int64_t{-1}, int64_t{2}}, {2, 1})},
            {"c", tensor({true, false, true})},
            {"d", zeros({2, 0}, {.dtype = Float64})}},
           tmp.string(), {{"epoch", "3"}, {"tapeflow.optimizer", "Adam"}});
  std::ifstream in(tmp, std::ios::binary);
  write("fuzz_safetensors", "io_save.safetensors", std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  fs::remove(tmp);
}

// --- events: what SummaryWriter writes --------------------------------------------------------
void events_corpus() {
  const fs::path tmp = fs::temp_directory_path() / ("make_corpus-events-" + std::to_string(::getpid()));
  const auto one_file = [&](const std::string& name, auto&& fill) {
    fs::remove_all(tmp);
    std::string path;
    {
      io::SummaryWriter w(tmp.string());
      path = w.file_path();
      fill(w);
      w.close();
    }
    std::ifstream in(path, std::ios::binary);
    write("fuzz_events", name, std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  };
  one_file("version_only.tfevents", [](io::SummaryWriter&) {});
  one_file("scalars.tfevents", [](io::SummaryWriter& w) {
    w.add_scalar("loss", 0.5, 1);
    w.add_scalar("loss", 0.0, 2);
    w.add_scalar("nan", std::nan(""), -3);
    NameScope scope("train");
    w.add_scalar("acc", 1e-40, int64_t{1} << 40);
  });
  one_file("histogram.tfevents", [](io::SummaryWriter& w) {
    w.add_histogram("weights", tensor({0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f}), 5, 4);
    w.add_histogram("constant", full({3}, 2.0), 6);
  });
  one_file("text.tfevents", [](io::SummaryWriter& w) {
    w.add_text("note", "hello *markdown* \xC3\xA9", 7);
    w.add_text("empty", "", 8);
  });
  one_file("mixed.tfevents", [](io::SummaryWriter& w) {
    w.add_scalar("a", 1.0, 0);
    w.add_histogram("h", tensor({1.0, -1.0, 0.5}, {3}, {.dtype = Float64}), 1, 2);
    w.add_text("t", "x", 2);
  });
  fs::remove_all(tmp);
}

// --- op programs: fixed pseudo-random bytes ---------------------------------------------------
void ops_corpus() {
  std::mt19937 rng(20261122);
  for (int i = 0; i < 12; ++i) {
    std::string program(static_cast<std::size_t>(32 + 32 * (i % 4)), '\0');
    for (char& c : program) c = static_cast<char>(rng() & 0xFF);
    write("fuzz_ops", "random_" + std::to_string(i) + ".bin", program);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus <corpus folder, e.g. tests/fuzz/corpus>\n");
    return 2;
  }
  root = argv[1];
  idx_corpus();
  safetensors_corpus();
  events_corpus();
  ops_corpus();
  std::printf("seed corpora written under %s\n", root.c_str());
  return 0;
}
