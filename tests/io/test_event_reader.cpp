// SPDX-License-Identifier: MIT
// io::read_events: what SummaryWriter writes comes back bit for bit; a file written by protobuf's
// own encoder (write_events.py) reads as protobuf wrote it; and every kind of damage (framing,
// CRCs, each malformed wire-format construct) is refused with an IOError naming the file, the
// record and the byte.
#include "../helpers.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "../../io/detail/crc32c.hpp"
#include "../../io/detail/protobuf_writer.hpp"

using namespace tapeflow;
using namespace std::string_literals;
using tapeflow::io::detail::ProtoWriter;
using tapeflow::test::TempDir;
using tapeflow::test::require_error;

namespace {

// TFRecord framing around `data`, with correct CRCs: damage is added by the tests on purpose.
std::string frame(const std::string& data) {
  std::string out;
  auto put_le = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put_le(data.size(), 8);
  put_le(io::detail::mask_crc32c(io::detail::crc32c(out.data(), 8)), 4);
  out += data;
  put_le(io::detail::mask_crc32c(io::detail::crc32c(data)), 4);
  return out;
}

// A valid first record, so that the damaged one is record 1 at a known byte offset.
std::string version_record() {
  ProtoWriter e;
  e.double_field(1, 1.5);
  e.string_field(3, "brain.Event:2");
  return frame(e.bytes());
}

// Raw bytes, written as a list of byte values.
std::string raw(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

// The events SummaryWriter left in `dir` (and its add_scalars runs), by file path.
std::map<std::string, std::vector<io::Event>> read_all(const std::filesystem::path& dir) {
  std::map<std::string, std::vector<io::Event>> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) out[entry.path().string()] = io::read_events(entry.path().string());
  return out;
}

}  // namespace

TEST_CASE("event_reader: reads back every kind SummaryWriter writes, bit for bit", "[io]") {
  TempDir dir;
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> scalars = {0.0, -0.0, 0.1, -1e300, 1e-310, inf, -inf, nan, 3.5};
  const std::vector<int64_t> steps = {0, -1, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                                      1, 127, 128, int64_t{1} << 40, -300};
  const Tensor histo_values = tensor({1.0, -2.0, 3.5, 4.0, 0.5, -6.0}, {2, 3}, {.dtype = Float64}).t();
  const std::string text = "h\xC3\xA9llo *markdown*\n\0 and a NUL"s;  // NOLINT: the literal keeps the NUL
  std::string path;
  const double before = std::floor(std::chrono::duration<double>(
      std::chrono::system_clock::now().time_since_epoch()).count());
  {
    io::SummaryWriter w(dir.file("run"), {.max_queue = 3});
    path = w.file_path();
    for (std::size_t i = 0; i < scalars.size(); ++i) w.add_scalar("s/" + std::to_string(i), scalars[i], steps[i]);
    w.add_histogram("h", histo_values, 11, 4);
    w.add_histogram("constant", full({5}, 2.5), 12);
    w.add_text("t", text, 13);
    w.add_text("empty", "", 14);
    {
      NameScope scope("train");
      w.add_scalar("\xF0\x9F\x98\x80 unicode", 1.0, 15);
      w.add_scalars("pair", {{"a", 1.0}, {"b", -2.0}}, 16);
    }
    w.close();
  }

  const std::vector<io::Event> events = io::read_events(path);
  REQUIRE(events.size() == 1 + scalars.size() + 4 + 1);
  CHECK(events[0].kind == io::EventKind::FileVersion);
  CHECK(events[0].file_version == "brain.Event:2");
  CHECK(events[0].step == 0);
  CHECK(events[0].values.empty());
  for (const io::Event& e : events) CHECK(e.wall_time >= before);

  for (std::size_t i = 0; i < scalars.size(); ++i) {
    const io::Event& e = events[1 + i];
    INFO("scalar " << i << " = " << scalars[i]);
    CHECK(e.kind == io::EventKind::Summary);
    CHECK(e.step == steps[i]);
    REQUIRE(e.values.size() == 1);
    CHECK(e.values[0].tag == "s/" + std::to_string(i));
    CHECK(e.values[0].kind == io::ValueKind::Scalar);
    CHECK(bits(e.values[0].scalar) == bits(static_cast<float>(scalars[i])));  // stored as float32
  }

  const io::SummaryValue& h = events[1 + scalars.size()].values.at(0);
  CHECK(events[1 + scalars.size()].step == 11);
  CHECK(h.tag == "h");
  REQUIRE(h.kind == io::ValueKind::Histogram);
  CHECK(h.histogram.min == -6.0);
  CHECK(h.histogram.max == 4.0);
  CHECK(h.histogram.num == 6.0);
  CHECK(h.histogram.sum == 1.0);
  CHECK(h.histogram.sum_squares == 1 + 16 + 4 + 0.25 + 12.25 + 36);
  CHECK(h.histogram.bucket_limits == std::vector<double>{-3.5, -1.0, 1.5, 4.0});
  CHECK(h.histogram.bucket_counts == std::vector<double>{1, 1, 2, 2});
  const io::SummaryValue& c = events[2 + scalars.size()].values.at(0);
  REQUIRE(c.kind == io::ValueKind::Histogram);
  CHECK(c.histogram.bucket_limits == std::vector<double>{2.5});
  CHECK(c.histogram.bucket_counts == std::vector<double>{5});

  const io::SummaryValue& t = events[3 + scalars.size()].values.at(0);
  CHECK(t.tag == "t");
  REQUIRE(t.kind == io::ValueKind::Text);
  CHECK(t.text == text);
  CHECK(t.plugin_name == "text");
  const io::SummaryValue& empty = events[4 + scalars.size()].values.at(0);
  CHECK(empty.kind == io::ValueKind::Text);
  CHECK(empty.text.empty());
  CHECK(events[4 + scalars.size()].step == 14);

  const io::SummaryValue& u = events[5 + scalars.size()].values.at(0);
  CHECK(u.tag == "train/\xF0\x9F\x98\x80 unicode");
  CHECK(u.plugin_name.empty());

  // add_scalars: one more file per key, each with its version record and one scalar.
  const auto all = read_all(dir.path());
  REQUIRE(all.size() == 3);
  int runs = 0;
  for (const auto& [file, run_events] : all) {
    if (file == path) continue;
    ++runs;
    INFO(file);
    REQUIRE(run_events.size() == 2);
    CHECK(run_events[0].kind == io::EventKind::FileVersion);
    const io::SummaryValue& v = run_events[1].values.at(0);
    CHECK(v.tag == "train/pair");
    CHECK(run_events[1].step == 16);
    const bool is_a = file.find("train_pair_a") != std::string::npos;
    CHECK(v.scalar == (is_a ? 1.0f : -2.0f));
  }
  CHECK(runs == 2);
}

TEST_CASE("event_reader: reads what protobuf's own encoder wrote", "[io]") {
  TempDir dir;
  const std::string path = dir.file("events.out.tfevents.python");
  const test::CommandResult r = test::run_python(TAPEFLOW_TEST_SOURCE_DIR "/io/write_events.py", path);
  INFO(r.output);
  REQUIRE(r.status == 0);

  const std::vector<io::Event> events = io::read_events(path);
  REQUIRE(events.size() == 5);
  CHECK(events[0].kind == io::EventKind::FileVersion);
  CHECK(events[0].file_version == "brain.Event:2");
  CHECK(events[0].wall_time == 1700000000.25);

  CHECK(events[1].wall_time == 1700000001.5);
  CHECK(events[1].step == -3);
  REQUIRE(events[1].values.size() == 2);
  CHECK(events[1].values[0].tag == "loss");
  CHECK(events[1].values[0].kind == io::ValueKind::Scalar);
  CHECK(events[1].values[0].scalar == 0.125f);
  CHECK(events[1].values[1].tag == "zero");
  CHECK(events[1].values[1].kind == io::ValueKind::Scalar);
  CHECK(events[1].values[1].scalar == 0.0f);

  CHECK(events[2].step == int64_t{1} << 62);
  const io::SummaryValue& h = events[2].values.at(0);
  CHECK(h.tag == "w/\xC3\xA9t\xC3\xA9");
  REQUIRE(h.kind == io::ValueKind::Histogram);
  CHECK(h.histogram.min == -1.0);
  CHECK(h.histogram.max == 2.0);
  CHECK(h.histogram.num == 3.0);
  CHECK(h.histogram.sum == 1.5);
  CHECK(h.histogram.sum_squares == 5.25);
  CHECK(h.histogram.bucket_limits == std::vector<double>{0, 1, 2});
  CHECK(h.histogram.bucket_counts == std::vector<double>{1, 0, 2});

  const io::SummaryValue& t = events[3].values.at(0);
  CHECK(t.kind == io::ValueKind::Text);
  CHECK(t.text == "h\xC3\xA9llo\n**world**");
  CHECK(t.plugin_name == "text");

  CHECK(events[4].kind == io::EventKind::Other);
  CHECK(events[4].step == 8);
}

TEST_CASE("event_reader: an empty file has no events; a missing one is an IOError", "[io]") {
  TempDir dir;
  CHECK(io::read_events(dir.write("empty", std::string())).empty());
  CHECK(io::parse_events("").empty());
  require_error([&] { io::read_events(dir.file("missing")); }, {"read_events: ", dir.file("missing"), "cannot open"});
  require_error([&] { io::read_events(dir.path().string()); }, {"is a directory"});
}

TEST_CASE("event_reader: refuses damaged framing, naming the file, record and byte", "[io]") {
  TempDir dir;
  const std::string first = version_record();
  const std::string at = "record 1 at byte " + std::to_string(first.size()) + ": ";
  ProtoWriter e;
  e.int64_field(2, 42);
  const std::string good = frame(e.bytes());
  REQUIRE(io::parse_events(first + good).size() == 2);

  SECTION("a record header cut short") {
    const std::string path = dir.write("cut_header", first + good.substr(0, 11));
    require_error([&] { io::read_events(path); }, {"read_events: " + path + ": ", at, "truncated record: 11 bytes left"});
  }
  SECTION("a flipped bit in the length") {
    std::string bad = good;
    bad[0] ^= 0x40;
    require_error([&] { io::parse_events(first + bad, "f"); }, {"read_events: f: ", at, "length CRC mismatch"});
  }
  SECTION("a flipped bit in the length's CRC") {
    std::string bad = good;
    bad[9] ^= 0x01;
    require_error([&] { io::parse_events(first + bad, "f"); }, {at, "length CRC mismatch (stored 0x"});
  }
  SECTION("data cut short") {
    for (std::size_t cut = 1; cut <= 4 + e.bytes().size(); ++cut) {
      INFO("cut " << cut);
      require_error([&] { io::parse_events(first + good.substr(0, good.size() - cut), "f"); },
                    {at, "truncated record: the header claims " + std::to_string(e.bytes().size()) + " bytes"});
    }
  }
  SECTION("a length far past the end") {
    std::string huge = frame(std::string(1000, 'x')).substr(0, 12) + "abcd";
    require_error([&] { io::parse_events(first + huge, "f"); }, {at, "claims 1000 bytes", "only 4 bytes follow"});
  }
  SECTION("a flipped bit in the data") {
    std::string bad = good;
    bad[12] ^= 0x01;
    require_error([&] { io::parse_events(first + bad, "f"); }, {at, "data CRC mismatch"});
  }
  SECTION("a flipped bit in the data's CRC") {
    std::string bad = good;
    bad.back() ^= 0x80;
    require_error([&] { io::parse_events(first + bad, "f"); }, {at, "data CRC mismatch"});
  }
}

TEST_CASE("event_reader: refuses malformed events with valid CRCs", "[io]") {
  const std::string first = version_record();
  const std::string at = "record 1 at byte " + std::to_string(first.size()) + ": malformed event: ";
  const std::size_t body = first.size() + 12;  // where the damaged record's data starts
  struct Case {
    const char* name;
    std::string data;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"a varint cut short", raw({0x10, 0x80}), {"Event: truncated varint value", "(at byte " + std::to_string(body + 1)}},
      {"a key cut short", raw({0x80}), {"Event: truncated field key"}},
      {"a varint of eleven bytes",
       raw({0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}),
       {"varint value: varint overflows 64 bits"}},
      {"a ten-byte varint past bit 63", raw({0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02}),
       {"varint overflows 64 bits"}},
      {"field number 0", raw({0x00, 0x01}), {"Event: field number 0 is out of range"}},
      {"field number 2^29", raw({0x80, 0x80, 0x80, 0x80, 0x10, 0x00}), {"field number 536870912 is out of range"}},
      {"a group", raw({0x0B}), {"Event: field 1: wire type 3 (group) is not supported"}},
      {"wire type 7", raw({0x0F}), {"Event: field 1: invalid wire type 7"}},
      {"step as fixed64", raw({0x11, 1, 2, 3, 4, 5, 6, 7, 8}), {"Event.step (field 2): wrong wire type 1, expected 0"}},
      {"wall_time as varint", raw({0x08, 0x01}), {"Event.wall_time (field 1): wrong wire type 0, expected 1"}},
      {"a fixed64 cut short", raw({0x09, 1, 2, 3}), {"Event: truncated fixed64 value: 3 of its 8 bytes"}},
      {"a fixed32 cut short", raw({0x2D, 1}), {"Event: truncated fixed32 value: 1 of its 4 bytes"}},
      {"a length past the message", raw({0x2A, 0x05, 0x0A}), {"Event: field 5: length 5 runs past the end"}},
      {"a nested length past its message", raw({0x2A, 0x02, 0x0A, 0x05}), {"Summary: field 1: length 5 runs past"}},
      {"a length varint cut short", raw({0x1A, 0x80}), {"Event: truncated length"}},
      {"summary as varint", raw({0x28, 0x01}), {"Event.summary (field 5): wrong wire type 0, expected 2"}},
      {"a tag that is not UTF-8", raw({0x2A, 0x06, 0x0A, 0x04, 0x0A, 0x02, 'a', 0xFF}),
       {"Summary.Value.tag (field 1): not valid UTF-8 at byte 1", "(at byte " + std::to_string(body + 7)}},
      {"a file_version that is not UTF-8", raw({0x1A, 0x02, 0xC3, 0x28}), {"Event.file_version (field 3): not valid UTF-8"}},
      {"simple_value as fixed64", raw({0x2A, 0x0B, 0x0A, 0x09, 0x11, 1, 2, 3, 4, 5, 6, 7, 8}),
       {"Summary.Value.simple_value (field 2): wrong wire type 1, expected 5"}},
      {"a packed bucket_limit of 7 bytes", raw({0x2A, 0x0D, 0x0A, 0x0B, 0x2A, 0x09, 0x32, 0x07, 0, 0, 0, 0, 0, 0, 0}),
       {"HistogramProto.bucket_limit: packed length 7 is not a multiple of 8"}},
      {"more bucket limits than counts",
       raw({0x2A, 0x0E, 0x0A, 0x0C, 0x2A, 0x0A, 0x32, 0x08, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F}),
       {"HistogramProto: 1 bucket limits but 0 bucket counts"}},
      {"histogram min as varint", raw({0x2A, 0x06, 0x0A, 0x04, 0x2A, 0x02, 0x08, 0x01}),
       {"HistogramProto.min (field 1): wrong wire type 0, expected 1"}},
      {"a plugin name that is not UTF-8",
       raw({0x2A, 0x09, 0x0A, 0x07, 0x4A, 0x05, 0x0A, 0x03, 0x0A, 0x01, 0x80}),
       {"PluginData.plugin_name (field 1): not valid UTF-8"}},
      {"tensor dtype as fixed32", raw({0x2A, 0x09, 0x0A, 0x07, 0x42, 0x05, 0x0D, 7, 0, 0, 0}),
       {"TensorProto.dtype (field 1): wrong wire type 5, expected 0"}},
      {"an image as varint", raw({0x2A, 0x04, 0x0A, 0x02, 0x20, 0x01}), {"Summary.Value (field 4): wrong wire type 0"}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::vector<std::string> fragments = {"read_events: f: ", at};
    fragments.insert(fragments.end(), c.fragments.begin(), c.fragments.end());
    require_error([&] { io::parse_events(first + frame(c.data), "f"); }, fragments);
  }
}

TEST_CASE("event_reader: skips unknown fields and follows protobuf's merge rules", "[io]") {
  ProtoWriter histo;
  histo.double_field(1, -1.0);
  histo.packed_doubles(6, {1.0});
  histo.packed_doubles(7, {3.0});
  histo.varint_field(99, 12345);  // unknown
  ProtoWriter more_histo;         // a second histo field merges into the first
  more_histo.double_field(2, 9.0);
  more_histo.packed_doubles(6, {2.0});
  more_histo.packed_doubles(7, {4.0});
  ProtoWriter value;
  value.string_field(1, "h");
  value.message_field(5, histo);
  value.string_field(7, "node_name is skipped");
  value.float_field(100, 1.0f);  // unknown fixed32
  value.message_field(5, more_histo);

  ProtoWriter scalar_then_text;  // the oneof: the member seen last wins
  scalar_then_text.string_field(1, "x");
  scalar_then_text.float_field(2, 5.0f);
  ProtoWriter tensor;
  tensor.varint_field(1, 7);
  tensor.bytes_element(8, "text wins");
  scalar_then_text.message_field(8, tensor);

  // Repeated doubles may also come unpacked, one fixed64 each: 2.0 and then 1.0.
  const std::string unpacked = raw({0x31, 0, 0, 0, 0, 0, 0, 0x00, 0x40, 0x39, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F});
  ProtoWriter value_unpacked;
  value_unpacked.string_field(1, "u");
  value_unpacked.bytes_element(5, unpacked);

  ProtoWriter summary;
  summary.message_field(1, value);
  summary.message_field(1, scalar_then_text);
  summary.message_field(1, value_unpacked);
  ProtoWriter e;
  e.double_field(1, 2.5);
  e.varint_field(2, 9);
  e.string_field(3, "a version, then a summary: the summary wins");
  e.message_field(5, summary);
  e.bytes_element(1000, std::string(50, '\xFF'));  // unknown, length-delimited, not UTF-8
  e.float_field(17, 1.0f);
  e.double_field(18, 1.0);

  ProtoWriter summary_then_version;
  summary_then_version.message_field(5, summary);
  summary_then_version.string_field(3, "v");
  ProtoWriter summary_then_log;  // log_message (6): a kind this reader skips
  summary_then_log.message_field(5, summary);
  summary_then_log.string_field(6, "");
  summary_then_log.bytes_element(6, "log");

  const std::vector<io::Event> events =
      io::parse_events(frame(e.bytes()) + frame(summary_then_version.bytes()) + frame(summary_then_log.bytes()));
  REQUIRE(events.size() == 3);
  CHECK(events[0].wall_time == 2.5);
  CHECK(events[0].step == 9);
  CHECK(events[0].kind == io::EventKind::Summary);
  CHECK(events[0].file_version.empty());
  REQUIRE(events[0].values.size() == 3);
  const io::SummaryValue& h = events[0].values[0];
  REQUIRE(h.kind == io::ValueKind::Histogram);
  CHECK(h.histogram.min == -1.0);
  CHECK(h.histogram.max == 9.0);
  CHECK(h.histogram.bucket_limits == std::vector<double>{1.0, 2.0});
  CHECK(h.histogram.bucket_counts == std::vector<double>{3.0, 4.0});
  const io::SummaryValue& x = events[0].values[1];
  CHECK(x.kind == io::ValueKind::Text);
  CHECK(x.text == "text wins");
  const io::SummaryValue& u = events[0].values[2];
  REQUIRE(u.kind == io::ValueKind::Histogram);
  CHECK(u.histogram.bucket_limits == std::vector<double>{2.0});
  CHECK(u.histogram.bucket_counts == std::vector<double>{1.0});

  CHECK(events[1].kind == io::EventKind::FileVersion);
  CHECK(events[1].file_version == "v");
  CHECK(events[1].values.empty());
  CHECK(events[2].kind == io::EventKind::Other);
  CHECK(events[2].values.empty());
}

TEST_CASE("event_reader: a string tensor that is not one string is not text", "[io]") {
  ProtoWriter two;
  two.varint_field(1, 7);
  two.bytes_element(8, "a");
  two.bytes_element(8, "b");
  ProtoWriter floats;
  floats.varint_field(1, 1);  // DT_FLOAT
  ProtoWriter summary;
  for (const ProtoWriter* t : {&two, &floats}) {
    ProtoWriter v;
    v.string_field(1, "t");
    v.message_field(8, *t);
    summary.message_field(1, v);
  }
  ProtoWriter e;
  e.message_field(5, summary);
  const std::vector<io::Event> events = io::parse_events(frame(e.bytes()));
  REQUIRE(events.size() == 1);
  REQUIRE(events[0].values.size() == 2);
  for (const io::SummaryValue& v : events[0].values) {
    CHECK(v.tag == "t");
    CHECK(v.kind == io::ValueKind::Other);
    CHECK(v.text.empty());
  }
}
