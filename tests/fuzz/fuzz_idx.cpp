// SPDX-License-Identifier: MIT
// Fuzzes io::read_idx and io::read_idx_header: every input parses or throws a tapeflow::Error.
// Each input is read as it is and, gzipped by this harness, through the gzip path: mutating
// bytes seldom yields a valid deflate stream, and both ways must give the same values.
#include <tapeflow/tapeflow.hpp>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.hpp"

using namespace tapeflow;

namespace {

std::string gzip(std::string_view bytes) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&zs, bytes.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END, "deflate did not finish");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const io::IdxOptions kVariants[] = {
    {},
    {.dtype = Float32, .scale = 1.0 / 255},
    {.dtype = Float64},
    {.dtype = Int64},
    {.dtype = Bool},
    {.scale = std::numeric_limits<double>::quiet_NaN()},
    {.scale = 2.0, .expected_type = io::IdxType::Short},
    {.expected_type = io::IdxType::UByte},
};
constexpr std::size_t kNumVariants = std::size(kVariants) + 1;  // + read_idx_images

// What each way of reading gave: the values' bytes, or nothing when it threw.
using Results = std::vector<std::optional<std::string>>;

std::string bytes_of(const Tensor& t) {
  std::string out(static_cast<std::size_t>(t.numel()) * element_size(t.dtype()), '\0');
  t.copy_to_host(out.data(), t.dtype());
  return out;
}

void check_tensor(const Tensor& t, const std::optional<io::IdxHeader>& header) {
  FUZZ_CHECK(header.has_value(), "read_idx accepted a file whose header read_idx_header refused");
  FUZZ_CHECK(t.defined() && t.shape() == header->shape, "shape %s, header %s", shape_str(t.shape()).c_str(),
             shape_str(header->shape).c_str());
  FUZZ_CHECK(t.numel() == shape_numel(t.shape()) && t.is_contiguous(), "inconsistent tensor");
  FUZZ_CHECK(t.to_vector<double>().size() == static_cast<std::size_t>(t.numel()), "values unreadable");
}

Results read_all_ways(const std::string& path) {
  std::optional<io::IdxHeader> header;
  try {
    header = io::read_idx_header(path);
  } catch (const Error&) {
  }
  Results out(kNumVariants);
  for (std::size_t i = 0; i < kNumVariants; ++i) {
    try {
      const Tensor t = i < std::size(kVariants) ? io::read_idx(path, kVariants[i]) : io::read_idx_images(path);
      check_tensor(t, header);
      out[i] = bytes_of(t);
    } catch (const Error&) {
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("fuzz_idx");
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const Results plain = read_all_ways(file.write(bytes));
  const bool gzipped = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!gzipped) {
    const Results packed = read_all_ways(file.write(gzip(bytes)));
    for (std::size_t i = 0; i < kNumVariants; ++i)
      FUZZ_CHECK(plain[i] == packed[i], "way %zu: the gzipped file reads %s the plain one", i,
                 plain[i].has_value() != packed[i].has_value() ? "(or fails) unlike" : "other values than");
  }
  return 0;
}
