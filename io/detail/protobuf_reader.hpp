// SPDX-License-Identifier: MIT
// The protobuf wire format, read side: the mirror of protobuf_writer.hpp, for io::read_events.
//
// Every read is bounds-checked against the message's own bytes; anything malformed throws a
// ProtoError carrying the offset of the offending byte, which the caller turns into an IOError
// naming its file and record (this layer knows neither).
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "utf8.hpp"

namespace tapeflow::io::detail {

/// A malformed message: what is wrong and where, as an offset into the buffer given to the
/// outermost ProtoReader (plus its `base`).
struct ProtoError {
  std::string what;
  std::size_t offset;
};

/// The wire types of protobuf's encoding; 3 and 4 (groups) are deprecated and refused.
enum class WireType : uint32_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5 };

/// One field's key and, for length-delimited fields, its bytes.
struct ProtoField {
  int number = 0;
  WireType type = WireType::Varint;
  uint64_t varint = 0;          ///< Varint: the value
  uint64_t fixed = 0;           ///< Fixed64 / Fixed32: the raw little-endian bits
  std::string_view bytes;       ///< LengthDelimited: the payload
  std::size_t offset = 0;       ///< where the field's key starts
  std::size_t payload_offset = 0;  ///< where its value starts
};

/// Walks the fields of one serialized message, in order.
class ProtoReader {
 public:
  /// `message`: the message's type, for error messages ("Event"); `base`: the offset of `bytes`
  /// in the outermost buffer, for error positions.
  ProtoReader(const char* message, std::string_view bytes, std::size_t base = 0)
      : message_(message), bytes_(bytes), base_(base) {}

  bool done() const { return pos_ == bytes_.size(); }

  /// Reads the next field; false at the end of the message.
  bool next(ProtoField& f) {
    if (done()) return false;
    f = ProtoField{};
    f.offset = base_ + pos_;
    const uint64_t key = varint("field key");
    const uint64_t number = key >> 3;
    const auto type = static_cast<uint32_t>(key & 7);
    // Field numbers are 1 .. 2^29 - 1 (protobuf's limit), keys fit 32 bits.
    if (number == 0 || number > (uint64_t{1} << 29) - 1)
      fail(f.offset, std::string(message_) + ": field number " + std::to_string(number) +
                         " is out of range (1 to 536870911)");
    f.number = static_cast<int>(number);
    f.payload_offset = base_ + pos_;
    switch (type) {
      case 0: f.type = WireType::Varint; f.varint = varint("varint value"); break;
      case 1: f.type = WireType::Fixed64; f.fixed = fixed(8); break;
      case 5: f.type = WireType::Fixed32; f.fixed = fixed(4); break;
      case 2: {
        f.type = WireType::LengthDelimited;
        const uint64_t n = varint("length");
        f.payload_offset = base_ + pos_;
        if (n > bytes_.size() - pos_)
          fail(f.offset, std::string(message_) + ": field " + std::to_string(number) + ": length " + std::to_string(n) +
                             " runs past the end of the message (" + std::to_string(bytes_.size() - pos_) + " bytes left)");
        f.bytes = bytes_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        break;
      }
      case 3:
      case 4:
        fail(f.offset, std::string(message_) + ": field " + std::to_string(number) + ": wire type " +
                           std::to_string(type) + " (group) is not supported");
      default:
        fail(f.offset, std::string(message_) + ": field " + std::to_string(number) + ": invalid wire type " +
                           std::to_string(type));
    }
    return true;
  }

  [[noreturn]] static void fail(std::size_t offset, std::string what) { throw ProtoError{std::move(what), offset}; }

  /// Refuses a field of a known number that arrives with another wire type. `name` names the
  /// field with its message ("Event.step").
  static void expect(const ProtoField& f, WireType type, const char* name) {
    if (f.type != type)
      fail(f.offset, std::string(name) + " (field " + std::to_string(f.number) + "): wrong wire type " +
                         std::to_string(static_cast<uint32_t>(f.type)) + ", expected " +
                         std::to_string(static_cast<uint32_t>(type)));
  }
  static double as_double(const ProtoField& f, const char* name) {
    expect(f, WireType::Fixed64, name);
    return std::bit_cast<double>(f.fixed);
  }
  static float as_float(const ProtoField& f, const char* name) {
    expect(f, WireType::Fixed32, name);
    return std::bit_cast<float>(static_cast<uint32_t>(f.fixed));
  }
  /// int64 fields are two's complement in 64 bits (a negative value takes ten bytes).
  static int64_t as_int64(const ProtoField& f, const char* name) {
    expect(f, WireType::Varint, name);
    return static_cast<int64_t>(f.varint);
  }
  static std::string_view as_bytes(const ProtoField& f, const char* name) {
    expect(f, WireType::LengthDelimited, name);
    return f.bytes;
  }
  /// proto3 `string` fields must hold UTF-8: protobuf's own parsers refuse anything else.
  static std::string_view as_string(const ProtoField& f, const char* name) {
    const std::string_view s = as_bytes(f, name);
    for (std::size_t i = 0; i < s.size();) {
      uint32_t cp = 0;
      const std::size_t len = utf8_decode(s, i, cp);
      if (len == 0)
        fail(f.payload_offset + i, std::string(name) + " (field " + std::to_string(f.number) +
                                       "): not valid UTF-8 at byte " + std::to_string(i) + " of the string");
      i += len;
    }
    return s;
  }

 private:
  // Seven bits a byte, least significant first; at most ten bytes, the tenth holding bit 63 only.
  uint64_t varint(const char* what) {
    const std::size_t start = pos_;
    uint64_t value = 0;
    for (int i = 0;; ++i) {
      if (pos_ == bytes_.size())
        fail(base_ + start, std::string(message_) + ": truncated " + what + ": the message ends inside a varint");
      const auto b = static_cast<uint8_t>(bytes_[pos_++]);
      if (i == 9 && b > 1) fail(base_ + start, std::string(message_) + ": " + what + ": varint overflows 64 bits");
      value |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) return value;
    }
  }
  uint64_t fixed(int n) {
    if (bytes_.size() - pos_ < static_cast<std::size_t>(n))
      fail(base_ + pos_, std::string(message_) + ": truncated fixed" + std::to_string(8 * n) + " value: " +
                             std::to_string(bytes_.size() - pos_) + " of its " + std::to_string(n) + " bytes");
    uint64_t bits = 0;
    for (int i = 0; i < n; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += static_cast<std::size_t>(n);
    return bits;
  }

  const char* message_;
  std::string_view bytes_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

}  // namespace tapeflow::io::detail
