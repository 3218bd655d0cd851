// SPDX-License-Identifier: MIT
// Fuzzes TensorBoard event files both ways:
//  1. the input's bytes as an event file: io::parse_events returns or throws a tapeflow::Error;
//  2. the same bytes as a program of SummaryWriter calls (arbitrary tags, scopes, values, steps,
//     histograms of small tensors, texts, flushes), run into a scratch folder, then every file
//     read back with io::read_events: each call the writer accepted must come back exactly as
//     made (bit for bit: scalars as float32, histograms as computed here independently), each
//     call it refused must leave nothing behind, and nothing else may appear.
#include <tapeflow/tapeflow.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_util.hpp"

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What one accepted call must have written.
struct Expected {
  double before = 0, after = 0;  // the clock around the call: the event's wall_time lies between
  int64_t step = 0;
  std::string tag;
  io::ValueKind kind = io::ValueKind::Other;
  float scalar = 0;
  std::vector<double> values;  // a histogram's input
  int bins = 0;
  std::string text;
};

// One event file: the window in which it was created, and its events in order.
struct ExpectedFile {
  double before = 0, after = 0;
  std::vector<Expected> events;
};

std::string describe(const Expected& e) {
  return "tag '" + e.tag + "' step " + std::to_string(e.step) + " kind " + std::to_string(static_cast<int>(e.kind));
}

// The histogram SummaryWriter documents: `bins` equal-width buckets from min to max (one when all
// values are equal), bucket i holding [edge i, edge i+1) and the last one also max. Checked here
// from its definition, not by repeating the writer's arithmetic: the interior edges are the
// writer's to round, but they must ascend and the counts must agree with them.
void check_histogram(const Expected& want, const io::HistogramValue& h) {
  const std::vector<double>& v = want.values;
  double lo = v[0], hi = v[0], sum = 0, sum_squares = 0;
  for (double x : v) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sum += x;
    sum_squares += x * x;
  }
  const auto same = [](double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); };
  // NOTE: == rather than bitwise: with 0 and -0 among the values either is the smallest.
  FUZZ_CHECK(h.min == lo && h.max == hi, "%s: min/max %g %g, expected %g %g", describe(want).c_str(), h.min, h.max, lo,
             hi);
  FUZZ_CHECK(same(h.num, static_cast<double>(v.size())), "%s: num %g of %zu", describe(want).c_str(), h.num, v.size());
  FUZZ_CHECK(same(h.sum, sum) && same(h.sum_squares, sum_squares), "%s: sum %g sum_squares %g, expected %g %g",
             describe(want).c_str(), h.sum, h.sum_squares, sum, sum_squares);
  const std::size_t buckets = lo == hi ? 1 : static_cast<std::size_t>(want.bins);
  FUZZ_CHECK(h.bucket_limits.size() == buckets && h.bucket_counts.size() == buckets, "%s: %zu limits, %zu counts, %zu bins",
             describe(want).c_str(), h.bucket_limits.size(), h.bucket_counts.size(), buckets);
  FUZZ_CHECK(same(h.bucket_limits.back(), h.max), "%s: last limit %g, max %g", describe(want).c_str(),
             h.bucket_limits.back(), h.max);
  std::vector<double> edges = {lo};
  edges.insert(edges.end(), h.bucket_limits.begin(), h.bucket_limits.end() - 1);
  FUZZ_CHECK(std::is_sorted(edges.begin(), edges.end()) && edges.back() <= hi, "%s: limits do not ascend",
             describe(want).c_str());
  std::vector<double> counts(buckets, 0.0);
  for (double x : v) {
    const auto b = static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
    counts[b - 1] += 1;  // the last edge <= x: edges[0] is the minimum, so b >= 1
  }
  FUZZ_CHECK(counts == h.bucket_counts, "%s: bucket counts differ from the limits' buckets", describe(want).c_str());
}

void check_value(const Expected& want, const io::Event& got) {
  FUZZ_CHECK(got.kind == io::EventKind::Summary && got.values.size() == 1, "%s: kind %d with %zu values",
             describe(want).c_str(), static_cast<int>(got.kind), got.values.size());
  FUZZ_CHECK(got.step == want.step, "%s: step %lld", describe(want).c_str(), static_cast<long long>(got.step));
  FUZZ_CHECK(got.wall_time >= want.before && got.wall_time <= want.after, "%s: wall_time %.6f outside [%.6f, %.6f]",
             describe(want).c_str(), got.wall_time, want.before, want.after);
  const io::SummaryValue& v = got.values[0];
  FUZZ_CHECK(v.tag == want.tag, "%s: tag '%s'", describe(want).c_str(), v.tag.c_str());
  FUZZ_CHECK(v.kind == want.kind, "%s: kind %d", describe(want).c_str(), static_cast<int>(v.kind));
  switch (want.kind) {
    case io::ValueKind::Scalar:
      FUZZ_CHECK(std::bit_cast<uint32_t>(v.scalar) == std::bit_cast<uint32_t>(want.scalar), "%s: scalar %a, expected %a",
                 describe(want).c_str(), static_cast<double>(v.scalar), static_cast<double>(want.scalar));
      FUZZ_CHECK(v.plugin_name.empty(), "%s: plugin '%s'", describe(want).c_str(), v.plugin_name.c_str());
      break;
    case io::ValueKind::Histogram: check_histogram(want, v.histogram); break;
    case io::ValueKind::Text:
      FUZZ_CHECK(v.text == want.text && v.plugin_name == "text", "%s: text or plugin differ", describe(want).c_str());
      break;
    case io::ValueKind::Other: FUZZ_CHECK(false, "%s: nothing of that kind is written", describe(want).c_str());
  }
}

void check_file(const fs::path& dir, const ExpectedFile& want) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  FUZZ_CHECK(files.size() == 1, "%s: %zu event files", dir.c_str(), files.size());
  std::vector<io::Event> got;
  try {
    got = io::read_events(files[0].string());
  } catch (const Error& e) {
    FUZZ_CHECK(false, "read_events refused what SummaryWriter wrote: %s", e.what());
  }
  FUZZ_CHECK(got.size() == 1 + want.events.size(), "%s: %zu events, expected %zu", files[0].c_str(), got.size(),
             1 + want.events.size());
  FUZZ_CHECK(got[0].kind == io::EventKind::FileVersion && got[0].file_version == "brain.Event:2" && got[0].step == 0 &&
                 got[0].values.empty(),
             "%s: the first record is not the file version", files[0].c_str());
  FUZZ_CHECK(got[0].wall_time >= want.before && got[0].wall_time <= want.after, "%s: file version wall_time",
             files[0].c_str());
  for (std::size_t i = 0; i < want.events.size(); ++i) check_value(want.events[i], got[i + 1]);
}

// Values that make floating-point code go wrong, besides the raw bit patterns the bytes give.
double special(FuzzedDataProvider& in) {
  constexpr double kSpecial[] = {0.0,     -0.0,    1.0,      -1.0,        INFINITY, -INFINITY, NAN, -NAN,
                                 5e-324,  -5e-324, 1e-310,   1.17549435e-38, 1e-46, 3.4028235e38, 3.4028236e38, 1.7976931348623157e308,
                                 -1.7976931348623157e308, 0.1,    16777217, 1e300};
  return kSpecial[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kSpecial) - 1)];
}

double any_double(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0: return special(in);
    case 1: return static_cast<double>(in.ConsumeIntegralInRange<int64_t>(-100, 100)) / 4;
    default: return std::bit_cast<double>(in.ConsumeIntegral<uint64_t>());
  }
}

int64_t any_step(FuzzedDataProvider& in) {
  return in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(-2, 300) : in.ConsumeIntegral<int64_t>();
}

// A small tensor of any dtype, sometimes seen through a transpose (not contiguous).
Tensor any_tensor(FuzzedDataProvider& in) {
  const int dtype = in.ConsumeIntegralInRange(0, 3);
  const int64_t rows = in.ConsumeIntegralInRange(0, 4), cols = in.ConsumeIntegralInRange(1, 4);
  std::vector<double> v(static_cast<std::size_t>(rows * cols));
  for (double& x : v) {
    x = any_double(in);
    if (dtype == 2) x = std::isfinite(x) ? std::clamp(x, -9e18, 9e18) : 0;  // int64: stay in range
    if (dtype == 3) x = x > 0;
  }
  const DType types[] = {Float32, Float64, Int64, Bool};
  Tensor t = tensor(v, {rows, cols}, {.dtype = types[dtype]});
  return in.ConsumeBool() ? t.t() : t;
}

// The program: runs the calls the bytes describe, recording what each accepted call must have
// written, by folder (the main writer's, and one per add_scalars run).
void run_program(FuzzedDataProvider& in, const fs::path& root) {
  const std::string logdir = (root / "run").string();
  std::map<std::string, ExpectedFile> files;
  std::vector<std::unique_ptr<NameScope>> scopes;
  // TAPEFLOW_FUZZ_TRACE=1 prints each call and what became of it, to read a failing input.
  static const bool trace = std::getenv("TAPEFLOW_FUZZ_TRACE") != nullptr;
  {
    const double before = unix_now();
    io::SummaryWriter w(logdir, {.max_queue = in.ConsumeIntegralInRange(1, 4)});
    files[logdir] = {before, unix_now(), {}};
    for (int op = 0; op < 24 && in.remaining_bytes() > 0; ++op) {
      const int kind = in.ConsumeIntegralInRange(0, 7);
      Expected e;
      std::string tag;  // as passed; e.tag is what the file must hold, with the name scope
      if (kind <= 3) {
        tag = in.ConsumeRandomLengthString(24);
        const std::string scope = NameScope::current();
        e.tag = scope.empty() ? tag : scope + "/" + tag;
        e.step = any_step(in);
      }
      e.before = unix_now();
      try {
        switch (kind) {
          case 0: {
            const double x = any_double(in);
            e.kind = io::ValueKind::Scalar;
            e.scalar = static_cast<float>(x);
            w.add_scalar(tag, x, e.step);
            e.after = unix_now();
            files[logdir].events.push_back(e);
            break;
          }
          case 1: {
            std::map<std::string, double> values;
            for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n)
              // Keys name folders: kept to letters (a '/' or ".." would leave the scratch folder),
              // plus NUL, which add_scalars must refuse.
              values[std::string(1, "abcde"[in.ConsumeIntegralInRange(0, 5)])] = any_double(in);
            std::string prefix = e.tag;
            std::replace(prefix.begin(), prefix.end(), '/', '_');
            w.add_scalars(tag, values, e.step);
            e.after = unix_now();
            e.kind = io::ValueKind::Scalar;
            for (const auto& [key, x] : values) {
              const std::string dir = logdir + "/" + prefix + "_" + key;
              if (!files.count(dir)) files[dir] = {e.before, e.after, {}};
              e.scalar = static_cast<float>(x);
              files[dir].events.push_back(e);
            }
            break;
          }
          case 2: {
            const Tensor t = any_tensor(in);
            e.bins = in.ConsumeIntegralInRange(-1, 40);
            e.kind = io::ValueKind::Histogram;
            e.values = t.to_vector<double>();
            w.add_histogram(tag, t, e.step, e.bins);
            e.after = unix_now();
            files[logdir].events.push_back(e);
            break;
          }
          case 3: {
            e.kind = io::ValueKind::Text;
            e.text = in.ConsumeRandomLengthString(64);
            w.add_text(tag, e.text, e.step);
            e.after = unix_now();
            files[logdir].events.push_back(e);
            break;
          }
          case 4: w.flush(); break;
          case 5:
            if (scopes.size() < 3) scopes.push_back(std::make_unique<NameScope>(in.ConsumeRandomLengthString(8)));
            break;
          case 6:
            if (!scopes.empty()) scopes.pop_back();
            break;
          default: {
            const double x = special(in);
            const std::string scope = NameScope::current();
            e.tag = scope.empty() ? "special" : scope + "/special";
            e.step = any_step(in);
            e.kind = io::ValueKind::Scalar;
            e.scalar = static_cast<float>(x);
            w.add_scalar("special", x, e.step);
            e.after = unix_now();
            files[logdir].events.push_back(e);
          }
        }
        if (trace)
          std::fprintf(stderr, "call %d: kind %d tag '%s' step %lld: ok\n", op, kind, fuzz::printable(e.tag).c_str(),
                       static_cast<long long>(e.step));
      } catch (const Error& err) {
        // Refused: must have written nothing (checked below by the counts of events).
        if (trace)
          std::fprintf(stderr, "call %d: kind %d tag '%s': refused: %s\n", op, kind, fuzz::printable(e.tag).c_str(),
                       fuzz::printable(err.what()).c_str());
      }
    }
    while (!scopes.empty()) scopes.pop_back();  // innermost first: each restores the one outside it
    w.close();
  }

  std::size_t event_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.is_regular_file()) ++event_files;
  FUZZ_CHECK(event_files == files.size(), "%zu event files, expected %zu", event_files, files.size());
  for (const auto& [dir, want] : files) check_file(dir, want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static fuzz::ScratchDir dir("fuzz_events");
  try {
    const std::vector<io::Event> events =
        io::parse_events(std::string_view(reinterpret_cast<const char*>(data), size), "<input>");
    for (const io::Event& e : events)
      for (const io::SummaryValue& v : e.values)
        FUZZ_CHECK(v.kind != io::ValueKind::Histogram || v.histogram.bucket_limits.size() == v.histogram.bucket_counts.size(),
                   "a histogram of %zu limits and %zu counts passed", v.histogram.bucket_limits.size(),
                   v.histogram.bucket_counts.size());
  } catch (const Error&) {
  }

  FuzzedDataProvider in(data, size);
  run_program(in, dir.path());
  dir.clear();
  return 0;
}
