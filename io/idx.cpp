// SPDX-License-Identifier: MIT
#include "idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "../tensor/detail/tensor_impl.hpp"
#include "detail/file.hpp"

namespace tapeflow::io {
namespace {

constexpr const char* kOp = "read_idx";
// Reads go through buffers of this size: big enough that system calls and zlib's per-call
// overhead vanish, small enough to stay in cache while converting.
constexpr std::size_t kChunk = std::size_t{1} << 20;
// deflate inflates at most about 1032:1 (a run of one byte), so a gzip file whose header claims
// more than this many bytes per compressed byte is truncated: refuse it before allocating.
constexpr uint64_t kMaxInflateRatio = 1032;

[[noreturn]] void fail(const std::string& path, const std::string& what) { detail::io_fail(kOp, path, what); }

std::string hex(unsigned value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, value);
  return buf;
}

bool known_type(uint8_t code) {
  switch (code) {
    case 0x08: case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E: return true;
    default: return false;
  }
}

std::size_t type_size(IdxType type) {
  switch (type) {
    case IdxType::UByte: case IdxType::SByte: return 1;
    case IdxType::Short: return 2;
    case IdxType::Int: case IdxType::Float: return 4;
    case IdxType::Double: return 8;
  }
  return 1;
}

bool is_integer(IdxType type) { return type != IdxType::Float && type != IdxType::Double; }

// The file's bytes, inflated when it is gzipped (magic bytes 1f 8b; a raw IDX file starts with
// 00 00, so the two never mix up). Concatenated gzip members are read as one stream, as gzip does.
class ByteStream {
 public:
  // NOTE: a small file gets a small buffer: zeroing a whole chunk would cost more than the read.
  explicit ByteStream(const std::string& path)
      : file_(kOp, path), buf_(static_cast<std::size_t>(std::clamp<uint64_t>(file_.size().value_or(kChunk), 4096, kChunk))) {
    fill();
    gzip_ = len_ >= 2 && buf_[0] == 0x1f && buf_[1] == 0x8b;
    if (gzip_) {
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail(path, "cannot start zlib (out of memory)");
      zs_live_ = true;
    }
  }
  ~ByteStream() {
    if (zs_live_) inflateEnd(&zs_);
  }
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  bool gzip() const { return gzip_; }
  std::optional<uint64_t> file_size() const { return file_.size(); }
  const std::string& path() const { return file_.path(); }

  /// Reads up to n bytes; fewer only at the end of the (inflated) data.
  std::size_t read(void* dst, std::size_t n) { return gzip_ ? read_gzip(dst, n) : read_raw(dst, n); }

 private:
  // Refills the buffer once it is used up; false at the end of the file.
  bool fill() {
    if (pos_ < len_) return true;
    pos_ = 0;
    len_ = file_.read(buf_.data(), buf_.size());
    return len_ > 0;
  }

  std::size_t read_raw(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = std::min(n, len_ - pos_);
    std::memcpy(out, buf_.data() + pos_, done);
    pos_ += done;
    if (done < n) done += file_.read(out + done, n - done);  // big reads go straight to dst
    return done;
  }

  std::size_t read_gzip(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < n) {
      if (member_ended_) {
        if (!fill()) return done;  // a clean end: the last member ended with the file
        // NOTE: gzip(1) ignores trailing garbage with a warning; tapeflow refuses it, because a
        // file that is not what it claims should not load silently. inflate checks the rest of
        // the next member's header.
        if (buf_[pos_] != 0x1f) fail(path(), "trailing garbage after the end of the gzip stream");
        inflateReset(&zs_);
        member_ended_ = false;
      }
      fill();  // at the end of the file inflate still gets called: it may hold pending output
      zs_.next_in = buf_.data() + pos_;
      zs_.avail_in = static_cast<uInt>(len_ - pos_);
      const std::size_t want = std::min<std::size_t>(n - done, std::size_t{1} << 30);
      zs_.next_out = out + done;
      zs_.avail_out = static_cast<uInt>(want);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      pos_ = len_ - zs_.avail_in;
      done += want - zs_.avail_out;
      switch (rc) {
        case Z_OK: break;
        case Z_STREAM_END: member_ended_ = true; break;
        case Z_BUF_ERROR:  // no progress possible: inflate wants input the file does not have
          if (pos_ == len_ && !fill())
            fail(path(), "truncated gzip stream: the file ends inside the compressed data");
          break;
        case Z_NEED_DICT:
        case Z_DATA_ERROR:
          fail(path(), std::string("corrupt gzip stream: ") + (zs_.msg ? zs_.msg : "invalid compressed data"));
        case Z_MEM_ERROR: fail(path(), "out of memory while inflating the gzip stream");
        default: fail(path(), "zlib error " + std::to_string(rc) + " while inflating the gzip stream");
      }
    }
    return done;
  }

  detail::InputFile file_;
  std::vector<unsigned char> buf_;
  std::size_t pos_ = 0, len_ = 0;
  bool gzip_ = false;
  z_stream zs_{};
  bool zs_live_ = false;
  bool member_ended_ = false;
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct ParsedHeader {
  IdxHeader header;
  uint64_t numel = 1;
  uint64_t header_bytes = 0;
};

ParsedHeader parse_header(ByteStream& s) {
  const std::string& path = s.path();
  unsigned char magic[4];
  const std::size_t got = s.read(magic, 4);
  if (got < 4)
    fail(path, "truncated header: " + std::string(got == 0 ? "the file is empty" : "only " + std::to_string(got) + " bytes") +
                   ", an IDX file starts with a 4-byte magic number");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "bad magic number " + hex(be32(magic), 8) +
                   ": not an IDX file (those start with two zero bytes, a type code and the number of dimensions)");
  if (!known_type(magic[2]))
    fail(path, "unknown type code " + hex(magic[2], 2) +
                   " (IDX types: 0x08 ubyte, 0x09 sbyte, 0x0B short, 0x0C int, 0x0D float, 0x0E double)");
  ParsedHeader p;
  p.header.type = static_cast<IdxType>(magic[2]);
  const int ndim = magic[3];
  if (ndim > kMaxDims)
    fail(path, "the header claims " + std::to_string(ndim) + " dimensions, more than tapeflow's " +
                   std::to_string(kMaxDims));

  unsigned char sizes[4 * kMaxDims];
  const std::size_t want = 4 * static_cast<std::size_t>(ndim);
  const std::size_t got_sizes = s.read(sizes, want);
  if (got_sizes < want)
    fail(path, "truncated header: the file ends after " + std::to_string(got_sizes) + " of the " +
                   std::to_string(want) + " bytes of its " + std::to_string(ndim) + " dimension sizes");
  p.header.shape.resize(static_cast<std::size_t>(ndim));
  for (int d = 0; d < ndim; ++d) p.header.shape[static_cast<std::size_t>(d)] = be32(sizes + 4 * d);
  // No element may need more than 8 bytes once converted, and byte counts must fit in int64.
  constexpr uint64_t kMaxNumel = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 8;
  const bool has_zero = std::find(p.header.shape.begin(), p.header.shape.end(), 0) != p.header.shape.end();
  for (int64_t size : p.header.shape) {
    if (has_zero) {
      p.numel = 0;
      break;
    }
    if (__builtin_mul_overflow(p.numel, static_cast<uint64_t>(size), &p.numel) || p.numel > kMaxNumel)
      fail(path, "sizes " + shape_str(p.header.shape) +
                     " overflow: their product is more elements than a tensor can hold (2^60)");
  }
  p.header_bytes = 4 + want;
  return p;
}

// One value of type In from its big-endian bytes.
template <typename In>
In load_be(const unsigned char* p) {
  if constexpr (sizeof(In) == 1) {
    return static_cast<In>(p[0]);
  } else {
    using U = std::conditional_t<sizeof(In) == 2, uint16_t, std::conditional_t<sizeof(In) == 4, uint32_t, uint64_t>>;
    U u;
    std::memcpy(&u, p, sizeof u);
    if constexpr (std::endian::native == std::endian::little) {
      if constexpr (sizeof(In) == 2) u = __builtin_bswap16(u);
      else if constexpr (sizeof(In) == 4) u = __builtin_bswap32(u);
      else u = __builtin_bswap64(u);
    }
    return std::bit_cast<In>(u);
  }
}

template <typename In, typename Out>
void convert(const unsigned char* src, std::size_t n, Out* dst, double scale) {
  if constexpr (sizeof(In) == 1) {
    // A table of the 256 results: the same values as below, a third faster on pixels.
    Out table[256];
    for (int b = 0; b < 256; ++b) {
      const auto v = static_cast<In>(static_cast<unsigned char>(b));
      table[b] = scale == 1.0 ? static_cast<Out>(v) : static_cast<Out>(static_cast<double>(v) * scale);
    }
    for (std::size_t i = 0; i < n; ++i) dst[i] = table[src[i]];
  } else if (scale == 1.0) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load_be<In>(src + i * sizeof(In)));
  } else {
    for (std::size_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(static_cast<double>(load_be<In>(src + i * sizeof(In))) * scale);
  }
}

template <typename In>
void convert_to(DType out, const unsigned char* src, std::size_t n, char* dst, double scale) {
  switch (out) {
    case DType::Float32: return convert<In>(src, n, reinterpret_cast<float*>(dst), scale);
    case DType::Float64: return convert<In>(src, n, reinterpret_cast<double*>(dst), scale);
    case DType::Int64: return convert<In>(src, n, reinterpret_cast<int64_t*>(dst), scale);
    case DType::Bool: break;  // refused before reading
  }
  throw InternalError("read_idx: no conversion to bool");
}

void convert_any(IdxType type, DType out, const unsigned char* src, std::size_t n, char* dst, double scale) {
  switch (type) {
    case IdxType::UByte: return convert_to<uint8_t>(out, src, n, dst, scale);
    case IdxType::SByte: return convert_to<int8_t>(out, src, n, dst, scale);
    case IdxType::Short: return convert_to<int16_t>(out, src, n, dst, scale);
    case IdxType::Int: return convert_to<int32_t>(out, src, n, dst, scale);
    case IdxType::Float: return convert_to<float>(out, src, n, dst, scale);
    case IdxType::Double: return convert_to<double>(out, src, n, dst, scale);
  }
}

// Byte-swaps big-endian values of `size` bytes in place.
void swap_in_place(char* data, std::size_t n, std::size_t size) {
  if constexpr (std::endian::native == std::endian::little) {
    for (std::size_t i = 0; i < n; ++i) {
      char* p = data + i * size;
      std::reverse(p, p + size);
    }
  }
}

DType result_dtype(IdxType type, const IdxOptions& o, const std::string& path) {
  if (!o.dtype) {
    if (type == IdxType::Double) return DType::Float64;
    if (type == IdxType::Float || o.scale != 1.0) return DType::Float32;
    return DType::Int64;
  }
  if (*o.dtype == DType::Int64 && !is_integer(type))
    throw DTypeError(std::string(kOp) + ": " + path + ": holds " + idx_type_name(type) +
                     " values, which int64 would truncate (ask for float32 or float64)");
  return *o.dtype;
}

}  // namespace

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::UByte: return "ubyte";
    case IdxType::SByte: return "sbyte";
    case IdxType::Short: return "short";
    case IdxType::Int: return "int";
    case IdxType::Float: return "float";
    case IdxType::Double: return "double";
  }
  return "unknown";
}

IdxHeader read_idx_header(const std::string& path) {
  ByteStream s(path);
  return parse_header(s).header;
}

Tensor read_idx(const std::string& path, const IdxOptions& options) {
  if (options.dtype == DType::Bool)
    throw DTypeError(std::string(kOp) + ": " + path + ": cannot read into bool (ask for int64, float32 or float64)");
  if (!std::isfinite(options.scale))
    throw ValueError(std::string(kOp) + ": scale must be finite, got " + std::to_string(options.scale));
  if (options.scale != 1.0 && options.dtype == DType::Int64)
    throw ValueError(std::string(kOp) + ": scale " + std::to_string(options.scale) + " needs a floating dtype, not int64");

  ByteStream s(path);
  const ParsedHeader p = parse_header(s);
  const IdxType type = p.header.type;
  if (options.expected_type && *options.expected_type != type)
    fail(path, std::string("holds ") + idx_type_name(type) + " values, expected " + idx_type_name(*options.expected_type));
  const DType out = result_dtype(type, options, path);
  const std::size_t in_size = type_size(type);
  const uint64_t data_bytes = p.numel * in_size;
  const std::string what = "sizes " + shape_str(p.header.shape) + " of " + idx_type_name(type);

  // Check what the file can hold before allocating what a corrupt header claims.
  if (const auto file_size = s.file_size()) {
    if (!s.gzip()) {
      const uint64_t rest = *file_size > p.header_bytes ? *file_size - p.header_bytes : 0;
      if (rest < data_bytes)
        fail(path, "truncated data: " + what + " need " + std::to_string(data_bytes) + " bytes, the file has " +
                       std::to_string(rest) + " after the header");
      if (rest > data_bytes)
        fail(path, "trailing garbage: " + std::to_string(rest - data_bytes) + " bytes after the " +
                       std::to_string(data_bytes) + " bytes of data the header describes (" + what + ")");
    } else if (data_bytes / kMaxInflateRatio > *file_size) {
      fail(path, "truncated data: " + what + " need " + std::to_string(data_bytes) +
                     " bytes, more than a gzip file of " + std::to_string(*file_size) + " bytes can hold");
    }
  }

  Tensor result;
  try {
    result = empty(p.header.shape, {.dtype = out});
  } catch (const OutOfMemoryError& e) {
    detail::io_out_of_memory(kOp, path, what + " as " + dtype_name(out), e.what());
  }
  char* dst = result.impl()->data();
  const std::size_t out_size = element_size(out);

  uint64_t done = 0;  // bytes of data read
  auto truncated = [&](uint64_t got) {
    fail(path, "truncated data: the file ends after " + std::to_string(got) + " of the " +
                   std::to_string(data_bytes) + " bytes of data (" + what + ")");
  };
  const bool same_layout = options.scale == 1.0 && ((type == IdxType::Float && out == DType::Float32) ||
                                                    (type == IdxType::Double && out == DType::Float64));
  if (same_layout) {
    // Straight into the tensor, then into host byte order.
    done = s.read(dst, static_cast<std::size_t>(data_bytes));
    if (done < data_bytes) truncated(done);
    swap_in_place(dst, static_cast<std::size_t>(p.numel), in_size);
  } else {
    std::vector<unsigned char> stage(static_cast<std::size_t>(std::min<uint64_t>(kChunk, data_bytes)));
    const uint64_t per_chunk = kChunk / in_size;
    for (uint64_t first = 0; first < p.numel; first += per_chunk) {
      const std::size_t count = static_cast<std::size_t>(std::min(per_chunk, p.numel - first));
      const std::size_t want = count * in_size;
      const std::size_t got = s.read(stage.data(), want);
      if (got < want) truncated(done + got);
      convert_any(type, out, stage.data(), count, dst + first * out_size, options.scale);
      done += got;
    }
  }
  // Reading on past the data also makes zlib check the gzip trailer (CRC and length).
  unsigned char extra;
  if (s.read(&extra, 1) != 0)
    fail(path, "trailing garbage after the " + std::to_string(data_bytes) + " bytes of data the header describes (" +
                   what + ")");
  return result;
}

Tensor read_idx_images(const std::string& path) {
  return read_idx(path, {.dtype = DType::Float32, .scale = 1.0 / 255.0, .expected_type = IdxType::UByte});
}

}  // namespace tapeflow::io
