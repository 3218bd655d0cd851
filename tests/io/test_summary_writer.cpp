// SPDX-License-Identifier: MIT
// io::SummaryWriter, checked by an independent reader: read_events.py verifies the TFRecord
// framing with python3-crc32c and decodes the events with python3-protobuf, compiled from
// tensorboard_subset.proto (TensorBoard's field numbers), so the tests never trust tapeflow's own
// encoder. Also: CRC-32C and wire-format vectors, file names, runs, buffering and I/O failures.
#include "../helpers.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../io/detail/crc32c.hpp"
#include "../../io/detail/protobuf_writer.hpp"

using namespace tapeflow;
using nlohmann::json;
using tapeflow::test::TempDir;
using tapeflow::test::require_error;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct ReadResult {
  int status = -1;
  std::string output;        // stdout and stderr of the reader
  std::vector<json> events;  // one per record, when status is 0
};

// Runs tests/io/read_events.py on an event file.
ReadResult read_events(const std::string& path) {
  const test::CommandResult run = test::run_python(TAPEFLOW_TEST_SOURCE_DIR "/io/read_events.py", path);
  ReadResult r;
  r.status = run.status;
  r.output = run.output;
  if (r.status == 0) {
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) r.events.push_back(json::parse(line));
  }
  return r;
}

// The events of a file the reader must accept; every record must be protobuf's canonical bytes.
std::vector<json> require_events(const std::string& path) {
  ReadResult r = read_events(path);
  INFO("read_events.py " << path << " said:\n" << r.output);
  REQUIRE(r.status == 0);
  for (const json& e : r.events) {
    INFO("record " << e["record"]);
    CHECK(e["canonical"].get<bool>());
  }
  return r.events;
}

// The only value of a summary event.
const json& value_of(const json& event) {
  REQUIRE(event["what"] == "summary");
  REQUIRE(event["values"].size() == 1);
  return event["values"][0];
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::vector<std::string> event_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename().string().starts_with("events.out.tfevents."))
      out.push_back(entry.path().string());
  return out;
}

}  // namespace

TEST_CASE("io: crc32c matches the published CRC-32C test vectors", "[io]") {
  using io::detail::crc32c;
  std::string zeros(32, '\0'), ones(32, '\xFF'), up(32, '\0'), down(32, '\0');
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  CHECK(crc32c("123456789") == 0xE3069283u);  // the check value of the CRC catalogue
  CHECK(crc32c("") == 0u);
  // RFC 3720 (iSCSI), appendix B.4.
  CHECK(crc32c(zeros) == 0x8A9136AAu);
  CHECK(crc32c(ones) == 0x62A8AB43u);
  CHECK(crc32c(up) == 0x46DD794Eu);
  CHECK(crc32c(down) == 0x113FDB5Cu);
  // Continuing over a second piece gives the CRC of the whole.
  CHECK(crc32c("6789", 4, crc32c("12345", 5)) == 0xE3069283u);
  // ((c >> 15) | (c << 17)) + 0xa282ead8, worked out by hand for c = 0xE3069283.
  CHECK(io::detail::mask_crc32c(0xE3069283u) == 0xC78AB0E5u);
}

TEST_CASE("io: ProtoWriter produces protobuf's wire format", "[io]") {
  using io::detail::ProtoWriter;
  struct Case {
    const char* name;
    std::function<void(ProtoWriter&)> write;
    const char* hex;
  };
  ProtoWriter inner;
  inner.varint_field(1, 150);
  const std::vector<Case> cases = {
      // The first three are the examples of protobuf's encoding guide.
      {"varint 150", [](ProtoWriter& w) { w.varint_field(1, 150); }, "089601"},
      {"string", [](ProtoWriter& w) { w.string_field(2, "testing"); }, "120774657374696e67"},
      {"sub-message", [&](ProtoWriter& w) { w.message_field(3, inner); }, "1a03089601"},
      {"int64 -1 takes ten bytes", [](ProtoWriter& w) { w.int64_field(2, -1); }, "10ffffffffffffffffff01"},
      {"field 16 needs a two-byte key", [](ProtoWriter& w) { w.varint_field(16, 1); }, "800101"},
      {"double", [](ProtoWriter& w) { w.double_field(1, 1.0); }, "09000000000000f03f"},
      {"float", [](ProtoWriter& w) { w.float_field(2, 1.0f); }, "150000803f"},
      {"packed doubles", [](ProtoWriter& w) { w.packed_doubles(6, {1.0, 2.0}); },
       "3210000000000000f03f0000000000000040"},
      {"proto3 leaves out zero and empty", [](ProtoWriter& w) {
         w.varint_field(1, 0);
         w.int64_field(2, 0);
         w.double_field(3, 0.0);
         w.float_field(4, 0.0f);
         w.string_field(5, "");
         w.packed_doubles(6, {});
       }, ""},
      {"a oneof member is written even when zero", [](ProtoWriter& w) { w.float_field(2, 0.0f, true); }, "1500000000"},
      {"-0.0 is not zero bits", [](ProtoWriter& w) { w.double_field(1, -0.0); }, "090000000000000080"},
      {"repeated bytes keep empty elements", [](ProtoWriter& w) { w.bytes_element(8, ""); }, "4200"},
      {"empty sub-message is present", [](ProtoWriter& w) { w.message_field(5, ProtoWriter{}); }, "2a00"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    ProtoWriter w;
    c.write(w);
    CHECK(hex(w.bytes()) == c.hex);
  }
}

TEST_CASE("io: SummaryWriter writes events that protobuf decodes as TensorBoard's", "[io]") {
  TempDir dir;
  const double t0 = unix_now();
  std::string path;
  {
    io::SummaryWriter w(dir.file("run"));
    path = w.file_path();
    w.add_scalar("loss", 0.5, 1);
    {
      NameScope train("train");
      NameScope inner("inner");
      w.add_scalar("loss", 0.25, 2);
    }
    w.add_scalar("zero", 0.0, 3);  // simple_value sits in a oneof: 0 must still be written
    w.add_scalar("negative step", -1.5, -7);
    w.add_scalar("tiny", 0.1, int64_t{1} << 40);
    w.add_histogram("weights", tensor({0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f}), 5, 4);
    w.add_text("note", "hello *markdown*, \xC3\xBCnic\xC3\xB6" "de\nline 2", 6);
    w.add_text("empty", "", 7);
    w.close();
  }
  const double t1 = unix_now();

  const std::vector<json> events = require_events(path);
  REQUIRE(events.size() == 9);
  CHECK(events[0]["what"] == "file_version");
  CHECK(events[0]["file_version"] == "brain.Event:2");
  CHECK(events[0]["step"] == 0);
  double last = 0;
  for (const json& e : events) {
    const double wall = e["wall_time"];
    CHECK(wall >= std::floor(t0));
    CHECK(wall <= t1 + 1);
    CHECK(wall >= last);
    last = wall;
  }

  struct Scalar {
    std::size_t record;
    const char* tag;
    double value;
    int64_t step;
  };
  for (const Scalar& s : std::vector<Scalar>{{1, "loss", 0.5, 1},
                                             {2, "train/inner/loss", 0.25, 2},
                                             {3, "zero", 0.0, 3},
                                             {4, "negative step", -1.5, -7},
                                             {5, "tiny", static_cast<double>(0.1f), int64_t{1} << 40}}) {
    INFO("record " << s.record << ": " << events[s.record].dump());
    const json& v = value_of(events[s.record]);
    CHECK(events[s.record]["step"] == s.step);
    CHECK(v["tag"] == s.tag);
    CHECK(v["kind"] == "simple_value");
    CHECK(v["simple_value"].get<double>() == s.value);  // float32, as TensorBoard stores it
    CHECK_FALSE(v.contains("plugin_name"));
  }

  // 0..9 in 4 buckets of width 2.25: {0,1,2} {3,4} {5,6} {7,8,9}.
  const json& hv = value_of(events[6]);
  INFO(hv.dump());
  CHECK(events[6]["step"] == 5);
  CHECK(hv["tag"] == "weights");
  REQUIRE(hv["kind"] == "histo");
  const json& h = hv["histo"];
  CHECK(h["min"] == 0.0);
  CHECK(h["max"] == 9.0);
  CHECK(h["num"] == 10.0);
  CHECK(h["sum"] == 45.0);
  CHECK(h["sum_squares"] == 285.0);
  CHECK(h["bucket_limit"] == json({2.25, 4.5, 6.75, 9.0}));
  CHECK(h["bucket"] == json({3.0, 2.0, 2.0, 3.0}));

  const std::vector<std::pair<std::size_t, std::string>> texts = {
      {7, "hello *markdown*, \xC3\xBCnic\xC3\xB6" "de\nline 2"}, {8, ""}};
  for (const auto& [record, text] : texts) {
    const json& tv = value_of(events[record]);
    INFO(tv.dump());
    REQUIRE(tv["kind"] == "tensor");
    CHECK(tv["plugin_name"] == "text");
    CHECK(tv["plugin_content"] == "");  // TextPluginData{version: 0} serializes to nothing
    CHECK(tv["tensor"]["dtype"] == 7);  // DT_STRING
    CHECK(tv["tensor"]["shape"] == json({1}));
    CHECK(tv["tensor"]["string_val"] == json({text}));
  }
  CHECK(value_of(events[7])["tag"] == "note");
  CHECK(events[8]["step"] == 7);
}

TEST_CASE("io: add_histogram buckets values of any dtype and layout", "[io]") {
  TempDir dir;
  io::SummaryWriter w(dir.file("run"));
  manual_seed(7);
  const Tensor normal = randn({40, 25});
  w.add_histogram("normal", normal, 0);  // 30 bins by default
  // 2x3 values seen through a transpose: not contiguous, float64.
  w.add_histogram("transposed", tensor({1.0, -2.0, 3.5, 4.0, 0.5, -6.0}, {2, 3}, {.dtype = Float64}).t(), 1, 3);
  w.add_histogram("int64", tensor(std::vector<int64_t>{5, 1, 3, 3}, {4}, {.dtype = Int64}), 2, 2);
  w.add_histogram("constant", full({7}, 2.5f), 3);
  w.add_histogram("one bin", tensor({1.f, 2.f, 4.f}), 4, 1);
  w.close();

  const std::vector<json> events = require_events(w.file_path());
  REQUIRE(events.size() == 6);
  auto histo = [&](std::size_t record) {
    const json& v = value_of(events[record]);
    REQUIRE(v["kind"] == "histo");
    return v["histo"];
  };

  SECTION("randn: every value counted once, in the bucket whose limits hold it") {
    const json h = histo(1);
    const std::vector<double> values = normal.to_vector<double>();
    const std::vector<double> limits = h["bucket_limit"], counts = h["bucket"];
    REQUIRE(limits.size() == 30);
    REQUIRE(counts.size() == 30);
    CHECK(h["num"] == 1000.0);
    CHECK(std::accumulate(counts.begin(), counts.end(), 0.0) == 1000.0);
    CHECK(h["min"] == *std::min_element(values.begin(), values.end()));
    CHECK(h["max"] == *std::max_element(values.begin(), values.end()));
    CHECK(limits.back() == h["max"].get<double>());
    CHECK(std::is_sorted(limits.begin(), limits.end()));
    const double width = (limits.back() - h["min"].get<double>()) / 30;
    for (std::size_t i = 0; i < limits.size(); ++i) {
      INFO("bucket " << i);
      CHECK(std::abs(limits[i] - (h["min"].get<double>() + width * static_cast<double>(i + 1))) < 1e-12);
      // Bucket i holds [limit i-1, limit i) (from min for the first, up to max for the last).
      const double left = i == 0 ? -INFINITY : limits[i - 1];
      const auto n = std::count_if(values.begin(), values.end(), [&](double x) {
        return x >= left && (x < limits[i] || (i + 1 == limits.size() && x <= limits[i]));
      });
      CHECK(counts[i] == static_cast<double>(n));
    }
    double sum = 0, sum_squares = 0;
    for (double x : values) {
      sum += x;
      sum_squares += x * x;
    }
    CHECK(std::abs(h["sum"].get<double>() - sum) < 1e-9);
    CHECK(std::abs(h["sum_squares"].get<double>() - sum_squares) < 1e-9);
  }
  SECTION("transposed float64: -6..4 in 3 buckets") {
    const json h = histo(2);
    CHECK(h["min"] == -6.0);
    CHECK(h["max"] == 4.0);
    CHECK(h["num"] == 6.0);
    CHECK(h["sum"] == 1.0);
    CHECK(h["bucket"] == json({1.0, 2.0, 3.0}));  // edges -6, -2.67, 0.67, 4: {-6} {-2, 0.5} {1, 3.5, 4}
    const std::vector<double> limits = h["bucket_limit"];
    REQUIRE(limits.size() == 3);
    CHECK(limits[0] == Approx(-6.0 + 10.0 / 3));
    CHECK(limits[1] == Approx(-6.0 + 20.0 / 3));
    CHECK(limits[2] == 4.0);
  }
  SECTION("int64") {
    const json h = histo(3);
    CHECK(h["bucket_limit"] == json({3.0, 5.0}));
    CHECK(h["bucket"] == json({1.0, 3.0}));  // {1} {3, 3, 5}: 3 sits on the edge, so goes right
    CHECK(h["sum_squares"] == 44.0);
  }
  SECTION("all values equal: one bucket") {
    const json h = histo(4);
    CHECK(h["min"] == 2.5);
    CHECK(h["max"] == 2.5);
    CHECK(h["num"] == 7.0);
    CHECK(h["bucket_limit"] == json({2.5}));
    CHECK(h["bucket"] == json({7.0}));
  }
  SECTION("one bin") {
    const json h = histo(5);
    CHECK(h["bucket_limit"] == json({4.0}));
    CHECK(h["bucket"] == json({3.0}));
  }
}

TEST_CASE("io: add_histogram refuses empty tensors, non-finite values and bad bins", "[io]") {
  TempDir dir;
  io::SummaryWriter w(dir.file("run"));
  NameScope scope("layer1");
  const double inf = std::numeric_limits<double>::infinity();
  require_error<ValueError>([&] { w.add_histogram("w", tensor({1.0, std::nan(""), 2.0}), 0); },
                            {"add_histogram", "layer1/w", "value 1 is nan"});
  require_error<ValueError>([&] { w.add_histogram("w", tensor({inf}), 0); }, {"add_histogram", "value 0 is inf"});
  require_error<ValueError>([&] { w.add_histogram("w", tensor({0.0, -inf}, {}, {.dtype = Float64}), 0); },
                            {"add_histogram", "value 1 is -inf"});
  require_error<ValueError>([&] { w.add_histogram("w", zeros({0, 3}), 0); }, {"add_histogram", "empty", "[0,3]"});
  require_error<ValueError>([&] { w.add_histogram("w", Tensor(), 0); }, {"add_histogram", "undefined"});
  require_error<ValueError>([&] { w.add_histogram("w", ones({2}), 0, 0); }, {"add_histogram", "bins"});
  require_error<ValueError>([&] { w.add_scalar("", 1.0, 0); }, {"add_scalar", "tag is empty"});
  w.close();
  CHECK(require_events(w.file_path()).size() == 1);  // nothing but the file version
}

TEST_CASE("io: the reader's CRC checks catch a flipped byte", "[io]") {
  TempDir dir;
  std::string path;
  {
    io::SummaryWriter w(dir.file("run"));
    w.add_scalar("loss", 1.0, 1);
    path = w.file_path();
  }
  const std::vector<uint8_t> good = test::read_bytes(path);
  REQUIRE(require_events(path).size() == 2);
  const std::size_t second = 12 + (good[0] | (good[1] << 8)) + 4;  // where record 1 starts
  REQUIRE(second + 12 < good.size());

  struct Flip {
    const char* where;
    std::size_t offset;
    const char* message;
  };
  const std::vector<Flip> flips = {
      {"record 0 length", 0, "record 0: length CRC mismatch"},
      {"record 0 length CRC", 9, "record 0: length CRC mismatch"},
      {"record 0 data", 12, "record 0: data CRC mismatch"},
      {"record 1 length", second + 1, "record 1: length CRC mismatch"},
      {"record 1 data", second + 14, "record 1: data CRC mismatch"},
      {"record 1 data CRC", good.size() - 1, "record 1: data CRC mismatch"},
  };
  for (const Flip& f : flips) {
    INFO(f.where << " (byte " << f.offset << ")");
    std::vector<uint8_t> bad = good;
    bad[f.offset] ^= 0x20;
    const ReadResult r = read_events(dir.write("flipped", bad));
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find(f.message) != std::string::npos);
  }
  const ReadResult cut = read_events(dir.write("cut", std::vector<uint8_t>(good.begin(), good.end() - 1)));
  INFO(cut.output);
  CHECK(cut.status == 1);
  CHECK(cut.output.find("record 1: truncated data") != std::string::npos);
}

TEST_CASE("io: SummaryWriter names its files as TensorFlow and PyTorch do", "[io]") {
  TempDir dir;
  const auto t0 = static_cast<long long>(unix_now());
  io::SummaryWriter a(dir.file("runs/exp1")), b(dir.file("runs/exp1"), {.filename_suffix = ".v2"});
  const auto t1 = static_cast<long long>(unix_now());
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof host - 1) == 0);

  CHECK(a.logdir() == dir.file("runs/exp1"));  // created, parents included
  CHECK(std::filesystem::is_directory(a.logdir()));
  CHECK(a.file_path() != b.file_path());  // two writers in one second never share a file
  for (io::SummaryWriter* w : {&a, &b}) {
    const std::filesystem::path p(w->file_path());
    INFO(p);
    CHECK(p.parent_path() == std::filesystem::path(w->logdir()));
    CHECK(std::filesystem::is_regular_file(p));
    std::smatch m;
    const std::string name = p.filename().string();
    const std::regex pattern("events\\.out\\.tfevents\\.(\\d{10})\\.(.+)\\.(\\d+)\\.(\\d+)(.*)");
    REQUIRE(std::regex_match(name, m, pattern));
    const long long seconds = std::stoll(m[1]);
    CHECK(seconds >= t0);
    CHECK(seconds <= t1);
    CHECK(m[2] == std::string(host));
    CHECK(std::stoll(m[3]) == getpid());
    CHECK(m[5] == (w == &b ? ".v2" : ""));
    // The file version record is there at once, stamped in the file name's second.
    const std::vector<json> events = require_events(w->file_path());
    REQUIRE(events.size() == 1);
    CHECK(static_cast<long long>(events[0]["wall_time"].get<double>()) == seconds);
  }
  CHECK(event_files(a.logdir()).size() == 2);
}

TEST_CASE("io: add_scalars writes each key to its own run, as PyTorch does", "[io]") {
  TempDir dir;
  const std::string logdir = dir.file("run");
  std::string main_file;
  {
    io::SummaryWriter w(logdir);
    main_file = w.file_path();
    NameScope scope("eval");
    w.add_scalars("loss", {{"train", 1.0}, {"val", 2.0}}, 3);
    w.add_scalars("loss", {{"train", 0.5}, {"val", 1.5}}, 4);
  }
  CHECK(require_events(main_file).size() == 1);  // only the file version
  const std::vector<std::pair<std::string, std::vector<double>>> runs = {{"eval_loss_train", {1.0, 0.5}},
                                                                         {"eval_loss_val", {2.0, 1.5}}};
  for (const auto& [run, values] : runs) {
    INFO(run);
    const std::vector<std::string> files = event_files(std::filesystem::path(logdir) / run);
    REQUIRE(files.size() == 1);
    const std::vector<json> events = require_events(files[0]);
    REQUIRE(events.size() == 3);
    CHECK(events[0]["file_version"] == "brain.Event:2");
    for (std::size_t i = 0; i < 2; ++i) {
      const json& v = value_of(events[i + 1]);
      CHECK(v["tag"] == "eval/loss");  // one chart: every run uses the main tag
      CHECK(v["simple_value"] == values[i]);
      CHECK(events[i + 1]["step"] == static_cast<int64_t>(3 + i));
    }
  }
}

TEST_CASE("io: SummaryWriter buffers events until max_queue, flush_secs, flush or close", "[io]") {
  TempDir dir;
  auto records = [](const io::SummaryWriter& w) { return require_events(w.file_path()).size(); };

  SECTION("a large queue holds everything but the file version until flush and close") {
    io::SummaryWriter w(dir.file("run"), {.max_queue = 1000, .flush_secs = 1e9});
    for (int i = 0; i < 3; ++i) w.add_scalar("x", i, i);
    CHECK(records(w) == 1);
    w.flush();
    CHECK(records(w) == 4);
    w.add_histogram("h", ones({3}), 3);
    w.add_text("t", "text", 4);
    CHECK(records(w) == 4);
    w.close();
    CHECK(records(w) == 6);
  }
  SECTION("the queue is written when it holds max_queue events") {
    io::SummaryWriter w(dir.file("run"), {.max_queue = 3, .flush_secs = 1e9});
    w.add_scalar("x", 1, 1);
    w.add_scalar("x", 2, 2);
    CHECK(records(w) == 1);
    w.add_scalar("x", 3, 3);
    CHECK(records(w) == 4);
  }
  SECTION("flush_secs 0 writes on every add") {
    io::SummaryWriter w(dir.file("run"), {.max_queue = 1000, .flush_secs = 0});
    w.add_scalar("x", 1, 1);
    CHECK(records(w) == 2);
  }
  SECTION("add_scalars runs are flushed with their writer") {
    io::SummaryWriter w(dir.file("run"), {.max_queue = 1000, .flush_secs = 1e9});
    w.add_scalars("m", {{"a", 1.0}}, 0);
    const std::vector<std::string> files = event_files(dir.path() / "run" / "m_a");
    REQUIRE(files.size() == 1);
    CHECK(require_events(files[0]).size() == 1);
    w.flush();
    CHECK(require_events(files[0]).size() == 2);
  }
  SECTION("the destructor writes what is buffered") {
    std::string path;
    {
      io::SummaryWriter w(dir.file("run"), {.max_queue = 1000, .flush_secs = 1e9});
      w.add_scalar("x", 1, 1);
      path = w.file_path();
    }
    CHECK(require_events(path).size() == 2);
  }
  SECTION("closed and moved-from writers") {
    io::SummaryWriter w(dir.file("run"));
    io::SummaryWriter moved(std::move(w));
    require_error<ValueError>([&] { w.add_scalar("x", 1, 1); }, {"add_scalar", "moved from"});
    moved.close();
    moved.close();  // again: nothing to do
    moved.flush();  // nothing to do
    require_error<ValueError>([&] { moved.add_scalar("x", 1, 1); }, {"add_scalar", moved.file_path(), "closed"});
    require_error<ValueError>([&] { moved.add_text("x", "t", 1); }, {"add_text", "closed"});
    CHECK(records(moved) == 1);
  }
}

TEST_CASE("io: SummaryWriter keeps whole records when adds come from several threads", "[io]") {
  TempDir dir;
  io::SummaryWriter w(dir.file("run"), {.max_queue = 7});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&w, t] {
      for (int i = 0; i < 50; ++i) w.add_scalar("thread" + std::to_string(t), i, i);
    });
  for (auto& t : threads) t.join();
  w.close();
  const std::vector<json> events = require_events(w.file_path());
  REQUIRE(events.size() == 201);
  std::vector<int> per_thread(4, 0);
  for (std::size_t i = 1; i < events.size(); ++i) {
    const std::string tag = value_of(events[i])["tag"];
    per_thread[static_cast<std::size_t>(tag.back() - '0')]++;
  }
  CHECK(per_thread == std::vector<int>{50, 50, 50, 50});
}

TEST_CASE("io: SummaryWriter names the folder or file it cannot create", "[io]") {
  TempDir dir;
  const std::string plain = dir.write("plain", "not a folder");
  const std::string under = plain + "/runs";
  require_error<IOError>([&] { io::SummaryWriter w(under); }, {"SummaryWriter", under, "cannot create the folder"});
  require_error<IOError>([&] { io::SummaryWriter w(plain); }, {"SummaryWriter", plain, "cannot create the folder"});
  require_error<IOError>([&] { io::SummaryWriter w(dir.file("run"), {.filename_suffix = "/no/such/folder"}); },
                         {"SummaryWriter", dir.file("run") + "/events.out.tfevents.", "cannot create the event file"});
  require_error<ValueError>([&] { io::SummaryWriter w(""); }, {"SummaryWriter", "logdir is empty"});
  require_error<ValueError>([&] { io::SummaryWriter w(dir.file("q"), {.max_queue = 0}); }, {"max_queue"});
  require_error<ValueError>([&] { io::SummaryWriter w(dir.file("q"), {.flush_secs = -1}); }, {"flush_secs"});
  require_error<ValueError>([&] { io::SummaryWriter w(dir.file("q"), {.flush_secs = std::nan("")}); }, {"flush_secs"});
}

TEST_CASE("io: a failed write leaves whole records, retries on flush, and the destructor stays quiet", "[io]") {
  // Writes past RLIMIT_FSIZE fail with EFBIG (once SIGXFSZ is ignored): a disk that fills up.
  TempDir dir;
  rlimit original{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &original) == 0);
  const auto previous_handler = signal(SIGXFSZ, SIG_IGN);
  struct Restore {
    rlimit limit;
    decltype(SIG_IGN) handler;
    ~Restore() {
      setrlimit(RLIMIT_FSIZE, &limit);
      signal(SIGXFSZ, handler);
    }
  } restore{original, previous_handler};
  auto limit_file_size = [&](uint64_t bytes) {
    rlimit l = original;
    l.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &l) == 0);
  };
  auto unlimit = [&] { REQUIRE(setrlimit(RLIMIT_FSIZE, &original) == 0); };

  io::SummaryWriter w(dir.file("run"), {.max_queue = 1, .flush_secs = 1e9});
  w.add_scalar("x", 1, 1);
  const uint64_t size = std::filesystem::file_size(w.file_path());
  // Room for part of the histogram's record (1000 buckets: 16 kB), so the write is torn.
  limit_file_size(size + 100);
  manual_seed(0);
  const Tensor values = randn({5000});
  require_error<IOError>([&] { w.add_histogram("h", values, 2, 1000); },
                         {"SummaryWriter", w.file_path(), "write failed", "1 event(s) stay buffered"});
  CHECK(std::filesystem::file_size(w.file_path()) == size);  // cut back to the whole records
  unlimit();
  CHECK(require_events(w.file_path()).size() == 2);
  w.flush();  // the buffered histogram goes out now
  const std::vector<json> events = require_events(w.file_path());
  REQUIRE(events.size() == 3);
  CHECK(value_of(events[2])["histo"]["num"] == 5000.0);

  // A writer destroyed with a buffered event it cannot write: no exception, whole records only.
  auto quiet = std::make_unique<io::SummaryWriter>(dir.file("quiet"), io::SummaryWriterOptions{.max_queue = 1000});
  const std::string path = quiet->file_path();
  quiet->add_scalar("x", 1, 1);
  quiet->flush();
  quiet->add_histogram("h", values, 3, 1000);
  limit_file_size(std::filesystem::file_size(path) + 10);
  CHECK_NOTHROW(quiet.reset());
  unlimit();
  CHECK(require_events(path).size() == 2);  // the lost event is gone, the file still reads
}

// Found by tests/fuzz/fuzz_events: a tag of arbitrary bytes was written as is, and protobuf (so
// TensorBoard) refuses to decode a Summary.Value whose tag is not UTF-8.
TEST_CASE("io: SummaryWriter refuses tags that are not UTF-8, which TensorBoard cannot read", "[io]") {
  TempDir dir;
  io::SummaryWriter w(dir.file("run"));
  for (const std::string& tag : {std::string("\x80"), std::string("ok\xC3"), std::string("\xED\xA0\x80")}) {
    INFO("tag bytes " << tag.size());
    require_error<ValueError>([&] { w.add_scalar(tag, 1, 1); }, {"add_scalar: the tag is not valid UTF-8"});
    require_error<ValueError>([&] { w.add_scalars(tag, {{"a", 1.0}}, 1); }, {"add_scalars: the tag is not valid UTF-8"});
    require_error<ValueError>([&] { w.add_histogram(tag, ones({2}), 1); }, {"add_histogram: the tag is not valid UTF-8"});
    require_error<ValueError>([&] { w.add_text(tag, "t", 1); }, {"add_text: the tag is not valid UTF-8"});
  }
  {
    NameScope bad("scope\xFF");
    require_error<ValueError>([&] { w.add_scalar("loss", 1, 1); }, {"the tag is not valid UTF-8 (byte 5"});
  }
  w.add_scalar(std::string("nul \0 and \xE2\x82\xAC", 13), 2, 2);  // U+0000 and U+20AC are UTF-8
  w.close();
  const std::vector<json> events = require_events(w.file_path());
  REQUIRE(events.size() == 2);  // the version record and the one valid scalar: nothing else
  CHECK(value_of(events[1])["tag"] == std::string("nul \0 and \xE2\x82\xAC", 13));
  CHECK(std::distance(std::filesystem::directory_iterator(dir.file("run")), std::filesystem::directory_iterator()) == 1);
}

// Found while writing tests/fuzz/fuzz_events' model of add_scalars: a NUL byte in the tag or a key
// cut the run's path short, so the call failed with an IOError whose message was cut at the NUL,
// after creating a stray folder; and a run that could not be created after another key's event
// was queued left that event behind although the call threw.
TEST_CASE("io: add_scalars refuses NUL bytes and adds nothing when a run cannot be created", "[io]") {
  TempDir dir;
  io::SummaryWriter w(dir.file("run"), {.max_queue = 1});
  require_error<ValueError>([&] { w.add_scalars(std::string("x\0y", 3), {{"a", 1.0}}, 1); },
                            {"add_scalars: the tag holds a NUL byte"});
  require_error<ValueError>([&] { w.add_scalars("x", {{"a", 1.0}, {std::string("b\0c", 3), 2.0}}, 1); },
                            {"add_scalars: the key \"b\" holds a NUL byte"});
  // A file where the second key's run folder must go.
  dir.write("run/t_b", std::string("in the way"));
  require_error<IOError>([&] { w.add_scalars("t", {{"a", 1.0}, {"b", 2.0}}, 2); }, {"cannot create the folder"});
  w.close();
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.file("run")))
    if (entry.is_regular_file() && entry.path().filename().string().rfind("events.", 0) == 0) {
      ++files;
      CHECK(require_events(entry.path().string()).size() == 1);  // the version record alone
    }
  CHECK(files == 2);  // the writer's own file and run t_a's, both without a scalar
  CHECK_FALSE(std::filesystem::exists(dir.file("run/x")));
}
