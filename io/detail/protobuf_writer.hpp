// SPDX-License-Identifier: MIT
// The protobuf wire format, write side only, for the five small messages of a TensorBoard event
// file (Event, Summary, HistogramProto, TensorProto, SummaryMetadata).
//
// Why hand-written rather than libprotobuf + protoc: those would put a code generator, generated
// sources and a runtime library into the library build for about fifteen fields whose numbers are
// frozen (every event file ever written depends on them). Encoding is varints, little-endian fixed
// widths and length prefixes; decoding is left to the real protobuf, in the tests
// (tests/io/read_events.py), so a wrong field number or wire type cannot go unnoticed.
#pragma once
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapeflow::io::detail {

/// Builds one serialized message, field by field. Singular scalar and string fields follow
/// proto3's implicit presence: zero (all bits clear) and empty values are left out, as protobuf's
/// serializer does. Written in field-number order, the bytes equal protobuf's own.
class ProtoWriter {
 public:
  /// uint64, int64 (negative values take ten bytes, as in protobuf), int32 >= 0, enum, bool.
  void varint_field(int field, uint64_t value) {
    if (value == 0) return;
    key(field, kVarint);
    varint(value);
  }
  void int64_field(int field, int64_t value) { varint_field(field, static_cast<uint64_t>(value)); }
  void double_field(int field, double value) {
    const auto bits = std::bit_cast<uint64_t>(value);
    if (bits == 0) return;
    key(field, kFixed64);
    fixed(bits, 8);
  }
  /// A member of a oneof has explicit presence: pass true to write it even when zero.
  void float_field(int field, float value, bool explicit_presence = false) {
    const auto bits = std::bit_cast<uint32_t>(value);
    if (bits == 0 && !explicit_presence) return;
    key(field, kFixed32);
    fixed(bits, 4);
  }
  /// A singular string or bytes field.
  void string_field(int field, std::string_view bytes) {
    if (!bytes.empty()) bytes_element(field, bytes);
  }
  /// One element of a repeated string or bytes field: written even when empty.
  void bytes_element(int field, std::string_view bytes) {
    key(field, kLengthDelimited);
    varint(bytes.size());
    out_.append(bytes);
  }
  /// A sub-message (or one element of a repeated one): always written, since message fields have
  /// explicit presence (an empty Summary is still a summary).
  void message_field(int field, const ProtoWriter& message) { bytes_element(field, message.out_); }
  /// A repeated double field, packed (proto3's default encoding); nothing when empty.
  void packed_doubles(int field, const std::vector<double>& values) {
    if (values.empty()) return;
    key(field, kLengthDelimited);
    varint(8 * values.size());
    for (double v : values) fixed(std::bit_cast<uint64_t>(v), 8);
  }

  const std::string& bytes() const { return out_; }

 private:
  enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

  void key(int field, WireType type) { varint((static_cast<uint64_t>(field) << 3) | type); }
  // Seven bits a byte, least significant first; the high bit says another byte follows.
  void varint(uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7F) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  // Little-endian, whatever the host's byte order.
  void fixed(uint64_t bits, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  }

  std::string out_;
};

}  // namespace tapeflow::io::detail
