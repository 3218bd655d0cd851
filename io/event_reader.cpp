// SPDX-License-Identifier: MIT
#include "event_reader.hpp"

#include <bit>
#include <cstdio>
#include <utility>

#include "../tensor/error.hpp"
#include "detail/crc32c.hpp"
#include "detail/file.hpp"
#include "detail/protobuf_reader.hpp"

namespace tapeflow::io {
namespace {

constexpr const char* kOp = "read_events";

// Field numbers, as in summary_writer.cpp (TensorBoard's event.proto, summary.proto,
// histogram.proto, tensor.proto), plus the other members of the two oneofs, which end a value of
// the kinds this reader keeps when they come after it.
namespace event {
enum : int { kWallTime = 1, kStep = 2, kFileVersion = 3, kGraphDef = 4, kSummary = 5, kLogMessage = 6,
             kSessionLog = 7, kTaggedRunMetadata = 8, kMetaGraphDef = 9 };
}
namespace summary { enum : int { kValue = 1 }; }
namespace value {
enum : int { kTag = 1, kSimpleValue = 2, kOldStyleHisto = 3, kImage = 4, kHisto = 5, kAudio = 6, kTensor = 8,
             kMetadata = 9 };
}
namespace histo { enum : int { kMin = 1, kMax = 2, kNum = 3, kSum = 4, kSumSquares = 5, kBucketLimit = 6, kBucket = 7 }; }
namespace tensor_proto { enum : int { kDtype = 1, kStringVal = 8 }; }
namespace metadata { enum : int { kPluginData = 1, kPluginName = 1 }; }
constexpr uint64_t kDtString = 7;  // DataType.DT_STRING

using detail::ProtoField;
using detail::ProtoReader;
using detail::WireType;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint64_t load_le(std::string_view bytes, std::size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[pos + i])) << (8 * i);
  return v;
}

// A repeated double: packed (one length-delimited run, proto3's default) or one fixed64 each;
// protobuf parsers accept both.
void append_doubles(const ProtoField& f, std::vector<double>& out, const char* name) {
  if (f.type != WireType::LengthDelimited) {
    out.push_back(ProtoReader::as_double(f, name));
    return;
  }
  if (f.bytes.size() % 8 != 0)
    ProtoReader::fail(f.offset, std::string(name) + ": packed length " + std::to_string(f.bytes.size()) +
                                    " is not a multiple of 8");
  for (std::size_t i = 0; i < f.bytes.size(); i += 8) out.push_back(std::bit_cast<double>(load_le(f.bytes, i, 8)));
}

// NOTE: a message field that occurs twice is merged into the first, as protobuf does, so every
// parse_* below fills in an existing struct rather than a fresh one.
void parse_histogram(const ProtoField& field, HistogramValue& h) {
  ProtoReader r("HistogramProto", ProtoReader::as_bytes(field, "Summary.Value.histo"), field.payload_offset);
  for (ProtoField f; r.next(f);) {
    switch (f.number) {
      case histo::kMin: h.min = ProtoReader::as_double(f, "HistogramProto.min"); break;
      case histo::kMax: h.max = ProtoReader::as_double(f, "HistogramProto.max"); break;
      case histo::kNum: h.num = ProtoReader::as_double(f, "HistogramProto.num"); break;
      case histo::kSum: h.sum = ProtoReader::as_double(f, "HistogramProto.sum"); break;
      case histo::kSumSquares: h.sum_squares = ProtoReader::as_double(f, "HistogramProto.sum_squares"); break;
      case histo::kBucketLimit: append_doubles(f, h.bucket_limits, "HistogramProto.bucket_limit"); break;
      case histo::kBucket: append_doubles(f, h.bucket_counts, "HistogramProto.bucket"); break;
      default: break;
    }
  }
}

// The part of a TensorProto that tells a text value: its dtype and its strings.
struct TensorFields {
  uint64_t dtype = 0;
  std::vector<std::string> strings;
};

void parse_tensor(const ProtoField& field, TensorFields& t) {
  ProtoReader r("TensorProto", ProtoReader::as_bytes(field, "Summary.Value.tensor"), field.payload_offset);
  for (ProtoField f; r.next(f);) {
    switch (f.number) {
      case tensor_proto::kDtype:
        ProtoReader::expect(f, WireType::Varint, "TensorProto.dtype");
        t.dtype = f.varint;
        break;
      case tensor_proto::kStringVal: t.strings.emplace_back(ProtoReader::as_bytes(f, "TensorProto.string_val")); break;
      default: break;  // shape, float_val, tensor_content...: not needed for text
    }
  }
}

void parse_metadata(const ProtoField& field, std::string& plugin_name) {
  ProtoReader r("SummaryMetadata", ProtoReader::as_bytes(field, "Summary.Value.metadata"), field.payload_offset);
  for (ProtoField f; r.next(f);) {
    if (f.number != metadata::kPluginData) continue;
    ProtoReader p("PluginData", ProtoReader::as_bytes(f, "SummaryMetadata.plugin_data"), f.payload_offset);
    for (ProtoField g; p.next(g);)
      if (g.number == metadata::kPluginName) plugin_name = ProtoReader::as_string(g, "PluginData.plugin_name");
  }
}

SummaryValue parse_value(const ProtoField& field) {
  ProtoReader r("Summary.Value", ProtoReader::as_bytes(field, "Summary.value"), field.payload_offset);
  SummaryValue v;
  int member = 0;  // field number of the oneof member seen last: it wins, as in protobuf
  std::size_t histo_offset = 0;
  TensorFields tensor;
  for (ProtoField f; r.next(f);) {
    switch (f.number) {
      case value::kTag: v.tag = ProtoReader::as_string(f, "Summary.Value.tag"); break;
      case value::kMetadata: parse_metadata(f, v.plugin_name); break;
      case value::kSimpleValue: v.scalar = ProtoReader::as_float(f, "Summary.Value.simple_value"); member = f.number; break;
      case value::kHisto:
        if (member != value::kHisto) v.histogram = HistogramValue{};
        parse_histogram(f, v.histogram);
        histo_offset = f.offset;
        member = f.number;
        break;
      case value::kTensor:
        if (member != value::kTensor) tensor = TensorFields{};
        parse_tensor(f, tensor);
        member = f.number;
        break;
      case value::kOldStyleHisto:
      case value::kImage:
      case value::kAudio:
        ProtoReader::expect(f, WireType::LengthDelimited, "Summary.Value");
        member = f.number;
        break;
      default: break;
    }
  }
  switch (member) {
    case value::kSimpleValue: v.kind = ValueKind::Scalar; break;
    case value::kHisto:
      if (v.histogram.bucket_limits.size() != v.histogram.bucket_counts.size())
        ProtoReader::fail(histo_offset, "HistogramProto: " + std::to_string(v.histogram.bucket_limits.size()) +
                                                  " bucket limits but " +
                                                  std::to_string(v.histogram.bucket_counts.size()) + " bucket counts");
      v.kind = ValueKind::Histogram;
      break;
    case value::kTensor:
      if (tensor.dtype == kDtString && tensor.strings.size() == 1) {
        v.kind = ValueKind::Text;
        v.text = std::move(tensor.strings[0]);
      }
      break;
    default: break;
  }
  if (v.kind != ValueKind::Histogram) v.histogram = HistogramValue{};
  return v;
}

Event parse_event(std::string_view body, std::size_t base) {
  ProtoReader r("Event", body, base);
  Event e;
  for (ProtoField f; r.next(f);) {
    switch (f.number) {
      case event::kWallTime: e.wall_time = ProtoReader::as_double(f, "Event.wall_time"); break;
      case event::kStep: e.step = ProtoReader::as_int64(f, "Event.step"); break;
      case event::kFileVersion:
        e.file_version = ProtoReader::as_string(f, "Event.file_version");
        e.values.clear();
        e.kind = EventKind::FileVersion;
        break;
      case event::kSummary: {
        if (e.kind != EventKind::Summary) e.file_version.clear();
        e.kind = EventKind::Summary;
        ProtoReader s("Summary", ProtoReader::as_bytes(f, "Event.summary"), f.payload_offset);
        for (ProtoField g; s.next(g);)
          if (g.number == summary::kValue) e.values.push_back(parse_value(g));
        break;
      }
      case event::kGraphDef:
      case event::kLogMessage:
      case event::kSessionLog:
      case event::kTaggedRunMetadata:
      case event::kMetaGraphDef:
        ProtoReader::expect(f, WireType::LengthDelimited, "Event");
        e.kind = EventKind::Other;
        e.file_version.clear();
        e.values.clear();
        break;
      default: break;
    }
  }
  return e;
}

}  // namespace

std::vector<Event> parse_events(std::string_view bytes, const std::string& name) {
  std::vector<Event> events;
  std::size_t pos = 0;
  for (std::size_t index = 0; pos < bytes.size(); ++index) {
    const auto fail = [&](const std::string& what) {
      detail::io_fail(kOp, name, "record " + std::to_string(index) + " at byte " + std::to_string(pos) + ": " + what);
    };
    // TFRecord framing: uint64 length, masked CRC of those 8 bytes, data, masked CRC of the data.
    const std::size_t left = bytes.size() - pos;
    if (left < 12)
      fail("truncated record: " + std::to_string(left) + " bytes left, a record header (length and its CRC) takes 12");
    const uint64_t length = load_le(bytes, pos, 8);
    const auto length_crc = static_cast<uint32_t>(load_le(bytes, pos + 8, 4));
    const uint32_t want_length_crc = detail::mask_crc32c(detail::crc32c(bytes.data() + pos, 8));
    // NOTE: the length is trusted only once its CRC matches: a flipped bit must not send us
    // looking for gigabytes that are not there.
    if (length_crc != want_length_crc)
      fail("length CRC mismatch (stored " + hex32(length_crc) + ", computed " + hex32(want_length_crc) + ")");
    if (length > left - 12 || left - 12 - length < 4)
      fail("truncated record: the header claims " + std::to_string(length) + " bytes of data and a 4-byte CRC, but only " +
           std::to_string(left - 12) + " bytes follow it");
    const std::string_view body = bytes.substr(pos + 12, static_cast<std::size_t>(length));
    const auto data_crc = static_cast<uint32_t>(load_le(bytes, pos + 12 + body.size(), 4));
    const uint32_t want_data_crc = detail::mask_crc32c(detail::crc32c(body));
    if (data_crc != want_data_crc)
      fail("data CRC mismatch (stored " + hex32(data_crc) + ", computed " + hex32(want_data_crc) + ")");
    try {
      events.push_back(parse_event(body, pos + 12));
    } catch (const detail::ProtoError& e) {
      fail("malformed event: " + e.what + " (at byte " + std::to_string(e.offset) + ")");
    }
    pos += 12 + body.size() + 4;
  }
  return events;
}

std::vector<Event> read_events(const std::string& path) { return parse_events(detail::read_file(kOp, path), path); }

}  // namespace tapeflow::io
