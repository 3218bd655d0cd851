// SPDX-License-Identifier: MIT
#include "npy.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <sstream>
#include <utility>
#include <vector>

#include "../tensor/detail/tensor_impl.hpp"
#include "detail/atomic_file.hpp"
#include "detail/file.hpp"

namespace tapeflow::io {
namespace {

// The canonical stream handed to xtensor is little-endian, and so is what save_npy writes.
static_assert(std::endian::native == std::endian::little, "io/npy.cpp assumes a little-endian host");

constexpr const char* kSaveOp = "save_npy";
constexpr const char* kLoadOp = "load_npy";
constexpr const char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = sizeof kMagic - 1;
// numpy itself refuses headers over 10000 bytes by default; anything near this is corrupt.
constexpr uint64_t kMaxHeaderBytes = uint64_t{1} << 20;

[[noreturn]] void fail(const std::string& path, const std::string& what) { detail::io_fail(kLoadOp, path, what); }

// 'descr' once checked: byte order, kind and size of one element.
struct Descr {
  char order = '<';  ///< '<', '>' or '|'
  char kind = 'f';   ///< 'f', 'i', 'u' or 'b'
  std::size_t size = 4;
  std::string text;  ///< as the file wrote it, for messages
};

struct NpyHeader {
  Descr descr;
  bool fortran_order = false;
  Shape shape;
  uint64_t numel = 1;
};

// The header is a Python dict literal. This reads exactly what numpy writes (and what
// ast.literal_eval would accept of it): string keys, a string descr, True/False, a tuple of
// non-negative integers; anything else is refused with its position.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    expect('{', "'{' opening the header dict");
    if (!eat('}')) {
      for (;;) {
        const std::string key = string_literal("a key");
        expect(':', "':' after the key");
        bool* seen = nullptr;
        if (key == "descr") {
          seen = &seen_descr;
          h.descr = descr();
        } else if (key == "fortran_order") {
          seen = &seen_fortran;
          h.fortran_order = bool_literal();
        } else if (key == "shape") {
          seen = &seen_shape;
          h.shape = tuple();
        } else {
          bad("unexpected key '" + key + "' (a .npy header holds exactly descr, fortran_order and shape)");
        }
        if (*seen) bad("key '" + key + "' appears twice");
        *seen = true;
        if (eat('}')) break;
        expect(',', "',' or '}' after a value");
        if (eat('}')) break;  // a trailing comma, as numpy writes
      }
    }
    skip_ws();
    if (pos_ != s_.size()) bad("unexpected text after the header dict");
    if (!seen_descr) bad("missing key 'descr'");
    if (!seen_fortran) bad("missing key 'fortran_order'");
    if (!seen_shape) bad("missing key 'shape'");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    std::string shown = s_.substr(0, 200);
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    fail(path_, "bad header: " + what + " (at byte " + std::to_string(pos_) + " of \"" + shown +
                    (s_.size() > 200 ? "...\")" : "\")"));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!eat(c)) bad(std::string("expected ") + what);
  }
  std::string string_literal(const char* what) {
    skip_ws();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) bad(std::string("expected ") + what + ", a quoted string");
    const char quote = s_[pos_++];
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') bad("escapes in strings are not supported");
      ++pos_;
    }
    if (pos_ >= s_.size()) bad("unterminated string");
    return s_.substr(start, pos_++ - start);
  }
  bool bool_literal() {
    skip_ws();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const std::size_t n = std::strlen(word);
      if (s_.compare(pos_, n, word) == 0) {
        pos_ += n;
        return value;
      }
    }
    bad("fortran_order must be True or False");
  }
  Descr descr() {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '[') bad("structured dtypes (a list as descr) are not supported");
    Descr d;
    d.text = string_literal("descr");
    const std::string& t = d.text;
    if (t.size() < 2 || std::string("<>|=").find(t[0]) == std::string::npos)
      bad("descr '" + t + "' is not a dtype string like '<f4'");
    d.order = t[0] == '=' ? '<' : t[0];  // '=' is native: little-endian here
    d.kind = t[1];
    const std::string digits = t.substr(2);
    d.size = 0;  // unsupported unless a plain size follows ('<M8[ns]', '|O' are refused below)
    if (!digits.empty() && digits.size() <= 6 &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      d.size = static_cast<std::size_t>(std::stoul(digits));
    const bool ok = (d.kind == 'f' && (d.size == 4 || d.size == 8)) ||
                    ((d.kind == 'i' || d.kind == 'u') && (d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8)) ||
                    (d.kind == 'b' && d.size == 1);
    if (!ok)
      fail(path_, "dtype '" + t + "' is not supported (tapeflow loads float32, float64, bool and integers" +
                      (d.kind == 'f' && d.size == 2 ? "; convert float16 to float32 first)" : ")"));
    if (d.order == '|' && d.size != 1) bad("descr '" + t + "': byte order '|' on a multi-byte type");
    return d;
  }
  Shape tuple() {
    expect('(', "'(' opening the shape tuple");
    Shape shape;
    if (eat(')')) return shape;
    bool trailing_comma = false;
    for (;;) {
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == '-') bad("negative size in the shape");
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') bad("expected a size in the shape tuple");
      uint64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const auto digit = static_cast<uint64_t>(s_[pos_++] - '0');
        if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10)
          bad("a size in the shape does not fit int64");
        v = v * 10 + digit;
      }
      shape.push_back(static_cast<int64_t>(v));
      if (shape.size() > static_cast<std::size_t>(kMaxDims))
        bad("the shape has more than tapeflow's " + std::to_string(kMaxDims) + " dimensions");
      trailing_comma = eat(',');
      if (eat(')')) break;
      if (!trailing_comma) bad("expected ',' or ')' in the shape tuple");
    }
    // "(3)" is the integer 3 in Python, not a tuple.
    if (shape.size() == 1 && !trailing_comma) bad("the shape (n) needs a comma to be a tuple: (n,)");
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

std::string shape_tuple(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// A version 1.0 prefix (magic, version, length, header) that xtensor's reader takes as it is.
// NOTE: xtensor 0.24 reads the header length through signed chars, so a length whose low byte
// is 0x80 or more (numpy writes 182 or 246 for long shapes) comes out near 65535; the padding
// keeps both bytes below 0x80. It also wants the keys in numpy's order and a final newline.
std::string canonical_prefix(const std::string& descr, bool fortran_order, const Shape& shape) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                     ", 'shape': " + shape_tuple(shape) + ", }";
  std::size_t len = dict.size() + 1;                   // with the newline
  len += (64 - (kMagicSize + 4 + len) % 64) % 64;      // numpy's 64-byte alignment
  while ((len & 0x80) != 0 || len > 0x7FFF) len += 64;  // see NOTE
  std::string prefix(kMagic, kMagicSize);
  prefix += '\x01';
  prefix += '\x00';
  prefix += static_cast<char>(len & 0xFF);
  prefix += static_cast<char>(len >> 8);
  prefix += dict;
  prefix.append(len - dict.size() - 1, ' ');
  prefix += '\n';
  return prefix;
}

// Hands the checked bytes to xtensor as a canonical stream (the data stays where it is, the
// prefix is rewritten), then copies into a row-major tensor, converting In to Out.
template <typename In, typename Out>
Tensor decode(std::string bytes, std::size_t data_offset, const NpyHeader& h, const std::string& path) {
  const std::string descr = std::string(1, sizeof(In) == 1 ? '|' : '<') + h.descr.kind + std::to_string(sizeof(In));
  bytes.replace(0, data_offset, canonical_prefix(descr, h.fortran_order, h.shape));
  try {
    std::istringstream in(std::move(bytes));
    auto loaded = xt::load_npy<In>(in);
    Tensor out = empty(h.shape, {.dtype = dtype_of<Out>()});
    std::vector<std::size_t> shape(h.shape.begin(), h.shape.end());
    auto dst = xt::adapt(reinterpret_cast<Out*>(out.impl()->data()), static_cast<std::size_t>(h.numel),
                         xt::no_ownership(), shape);
    // Assignment follows indices, so Fortran-ordered data lands in row-major order.
    if constexpr (std::is_same_v<In, Out>) dst = loaded;
    else dst = xt::cast<Out>(loaded);
    return out;
  } catch (const std::bad_alloc&) {  // xtensor's own buffer
    detail::io_out_of_memory(kLoadOp, path, shape_tuple(h.shape) + " of " + h.descr.text, "std::bad_alloc");
  } catch (const OutOfMemoryError& e) {
    detail::io_out_of_memory(kLoadOp, path, shape_tuple(h.shape) + " of " + h.descr.text, e.what());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // The checks above leave xtensor nothing to refuse; should it still, say so.
    fail(path, std::string("xtensor could not read it: ") + e.what());
  }
}

template <typename T>
std::string dump(const Tensor& c) {
  std::vector<std::size_t> shape(c.shape().begin(), c.shape().end());
  auto* data = reinterpret_cast<T*>(c.impl()->data());
  return xt::dump_npy(xt::adapt(data, static_cast<std::size_t>(c.numel()), xt::no_ownership(), shape));
}

}  // namespace

void save_npy(const Tensor& t, const std::string& path) {
  if (!t.defined()) throw ValueError(std::string(kSaveOp) + ": " + path + ": the tensor is undefined");
  // detach(): contiguous() on a tensor that requires grad would record on the tape.
  const Tensor c = t.detach().to(Device::cpu()).contiguous();
  std::string bytes;
  switch (c.dtype()) {
    case DType::Float32: bytes = dump<float>(c); break;
    case DType::Float64: bytes = dump<double>(c); break;
    case DType::Int64: bytes = dump<int64_t>(c); break;
    case DType::Bool: bytes = dump<bool>(c); break;
  }
  detail::write_file_atomic(kSaveOp, path, bytes);
}

Tensor load_npy(const std::string& path) {
  std::string bytes = detail::read_file(kLoadOp, path);
  const uint64_t size = bytes.size();
  if (size == 0) fail(path, "the file is empty");
  if (bytes.compare(0, std::min<std::size_t>(bytes.size(), kMagicSize), kMagic, std::min<std::size_t>(bytes.size(), kMagicSize)) != 0)
    fail(path, "not a .npy file: it does not start with the magic bytes \\x93NUMPY");
  if (size < kMagicSize + 2) fail(path, "truncated: the file ends inside the magic bytes and version");
  const auto major = static_cast<unsigned char>(bytes[kMagicSize]);
  const auto minor = static_cast<unsigned char>(bytes[kMagicSize + 1]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail(path, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor) +
                   " (tapeflow reads 1.0, 2.0 and 3.0)");
  // Version 1.0 stores the header length in 2 bytes, 2.0 and 3.0 (UTF-8 header) in 4.
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (size < kMagicSize + 2 + len_bytes) fail(path, "truncated: the file ends inside the header length");
  uint64_t header_len = 0;
  for (std::size_t i = len_bytes; i-- > 0;)
    header_len = (header_len << 8) | static_cast<unsigned char>(bytes[kMagicSize + 2 + i]);
  if (header_len > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_len) + " is absurd (more than " +
                   std::to_string(kMaxHeaderBytes) + " bytes)");
  const uint64_t data_offset = kMagicSize + 2 + len_bytes + header_len;
  if (data_offset > size)
    fail(path, "header length " + std::to_string(header_len) + " is larger than the file: only " +
                   std::to_string(size - (kMagicSize + 2 + len_bytes)) + " bytes follow it");
  const std::string text = bytes.substr(kMagicSize + 2 + len_bytes, static_cast<std::size_t>(header_len));
  NpyHeader h = HeaderParser(text, path).parse();

  const bool has_zero = std::find(h.shape.begin(), h.shape.end(), 0) != h.shape.end();
  const uint64_t max_numel = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 8;
  h.numel = has_zero ? 0 : 1;
  for (int64_t s : h.shape)
    if (!has_zero && (__builtin_mul_overflow(h.numel, static_cast<uint64_t>(s), &h.numel) || h.numel > max_numel))
      fail(path, "shape " + shape_tuple(h.shape) + " overflows: more elements than a tensor can hold");
  const std::size_t item = h.descr.size;
  const uint64_t data_bytes = h.numel * item;
  const uint64_t rest = size - data_offset;
  const std::string what = "shape " + shape_tuple(h.shape) + " of '" + h.descr.text + "'";
  if (rest < data_bytes)
    fail(path, "truncated data: " + what + " needs " + std::to_string(data_bytes) + " bytes, the file has " +
                   std::to_string(rest) + " after the header");
  if (rest > data_bytes)
    fail(path, "trailing bytes: " + std::to_string(rest - data_bytes) + " bytes after the " +
                   std::to_string(data_bytes) + " bytes of data the header describes (" + what + ")");

  char* data = bytes.data() + data_offset;
  if (h.descr.order == '>' && item > 1)
    for (uint64_t i = 0; i < h.numel; ++i) std::reverse(data + i * item, data + (i + 1) * item);
  // Only 0 and 1 are valid bools in C++; uint64 must fit int64.
  if (h.descr.kind == 'b')
    for (uint64_t i = 0; i < h.numel; ++i)
      if (static_cast<unsigned char>(data[i]) > 1)
        fail(path, "bool element " + std::to_string(i) + " is the byte " +
                       std::to_string(static_cast<unsigned char>(data[i])) + ", not 0 or 1");
  if (h.descr.kind == 'u' && item == 8)
    for (uint64_t i = 0; i < h.numel; ++i) {
      uint64_t v;
      std::memcpy(&v, data + i * 8, 8);
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(path, "uint64 element " + std::to_string(i) + " (" + std::to_string(v) + ") does not fit int64");
    }

  const auto off = static_cast<std::size_t>(data_offset);
  switch (h.descr.kind) {
    case 'f': return item == 4 ? decode<float, float>(std::move(bytes), off, h, path)
                               : decode<double, double>(std::move(bytes), off, h, path);
    case 'b': return decode<bool, bool>(std::move(bytes), off, h, path);
    case 'i':
      switch (item) {
        case 1: return decode<int8_t, int64_t>(std::move(bytes), off, h, path);
        case 2: return decode<int16_t, int64_t>(std::move(bytes), off, h, path);
        case 4: return decode<int32_t, int64_t>(std::move(bytes), off, h, path);
        default: return decode<int64_t, int64_t>(std::move(bytes), off, h, path);
      }
    default:  // 'u'
      switch (item) {
        case 1: return decode<uint8_t, int64_t>(std::move(bytes), off, h, path);
        case 2: return decode<uint16_t, int64_t>(std::move(bytes), off, h, path);
        case 4: return decode<uint32_t, int64_t>(std::move(bytes), off, h, path);
        default: return decode<uint64_t, int64_t>(std::move(bytes), off, h, path);
      }
  }
}

}  // namespace tapeflow::io
