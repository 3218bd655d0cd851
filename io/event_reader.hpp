// SPDX-License-Identifier: MIT
// Reading TensorBoard event files back: the records SummaryWriter (or TensorFlow, or PyTorch)
// wrote, as plain structs, for tests, notebooks and tools that want the numbers without
// TensorBoard. Reads scalars, histograms and text; other kinds of values are kept as their tag.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapeflow::io {

/// A histogram as TensorBoard stores it (HistogramProto).
struct HistogramValue {
  double min = 0;
  double max = 0;
  double num = 0;  ///< number of values
  double sum = 0;
  double sum_squares = 0;
  std::vector<double> bucket_limits;  ///< right edge of each bucket, ascending
  std::vector<double> bucket_counts;  ///< values in each bucket (as many as bucket_limits)
};

/// What a summary value holds.
enum class ValueKind : uint8_t {
  Other,      ///< a kind this reader skips (image, audio, a non-text tensor) or none
  Scalar,     ///< `scalar`
  Histogram,  ///< `histogram`
  Text,       ///< `text`: a string tensor of one element, as add_text writes
};

/// One tagged value of a summary.
struct SummaryValue {
  std::string tag;
  ValueKind kind = ValueKind::Other;
  float scalar = 0;  ///< TensorBoard stores scalars as float32
  HistogramValue histogram;
  std::string text;         ///< the bytes as written (TensorBoard expects UTF-8)
  std::string plugin_name;  ///< the plugin the value is for ("text"), empty when not named
};

/// What an event holds.
enum class EventKind : uint8_t {
  Other,        ///< a kind this reader skips (graph, log message, session log...) or none
  FileVersion,  ///< `file_version`, the first record of every event file
  Summary,      ///< `values`
};

/// One record of an event file.
struct Event {
  double wall_time = 0;  ///< seconds since the Unix epoch
  int64_t step = 0;
  EventKind kind = EventKind::Other;
  std::string file_version;  ///< "brain.Event:2"
  std::vector<SummaryValue> values;
};

/// Every event of an event file, in file order. Checks the TFRecord framing (both masked
/// CRC-32Cs of every record) and decodes each record as an Event, skipping fields it does not
/// know, as protobuf does. Throws IOError naming the file, the record and its byte offset on a
/// missing file, a truncated record, a CRC mismatch or a malformed event (bad varint, field out of
/// its message, wrong wire type, string field that is not UTF-8, histogram whose bucket limits
/// and counts differ in number).
std::vector<Event> read_events(const std::string& path);

/// The same from the bytes of an event file held in memory; `name` stands for the file in error
/// messages.
std::vector<Event> parse_events(std::string_view bytes, const std::string& name = "<memory>");

}  // namespace tapeflow::io
