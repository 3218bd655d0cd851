// SPDX-License-Identifier: MIT
#include "summary_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "../autograd/tape.hpp"
#include "../tensor/error.hpp"
#include "detail/crc32c.hpp"
#include "detail/file.hpp"
#include "detail/protobuf_writer.hpp"
#include "detail/utf8.hpp"

namespace tapeflow::io {
namespace {

constexpr const char* kOp = "SummaryWriter";

// Field numbers, from TensorBoard's copies of TensorFlow's protos (tensorboard/compat/proto/
// event.proto, summary.proto, histogram.proto, tensor.proto, tensor_shape.proto, types.proto).
// tests/io/tensorboard_subset.proto repeats them for the independent reader in the tests.
namespace event { enum : int { kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5 }; }
namespace summary { enum : int { kValue = 1 }; }
namespace value { enum : int { kTag = 1, kSimpleValue = 2, kHisto = 5, kTensor = 8, kMetadata = 9 }; }
namespace histo { enum : int { kMin = 1, kMax = 2, kNum = 3, kSum = 4, kSumSquares = 5, kBucketLimit = 6, kBucket = 7 }; }
namespace tensor_proto { enum : int { kDtype = 1, kTensorShape = 2, kStringVal = 8 }; }
namespace tensor_shape { enum : int { kDim = 2, kDimSize = 1 }; }
namespace metadata { enum : int { kPluginData = 1, kPluginName = 1, kPluginContent = 2 }; }
constexpr uint64_t kDtString = 7;  // DataType.DT_STRING

using detail::ProtoWriter;
using SteadyClock = std::chrono::steady_clock;

std::string system_reason() { return errno ? std::strerror(errno) : "unknown error"; }

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// PyTorch's name: events.out.tfevents.<10-digit seconds>.<host>.<pid>.<n><suffix>. The pid and a
// per-process counter keep two writers started in the same second apart.
std::string event_file_name(double wall_time, const std::string& suffix) {
  static std::atomic<unsigned> counter{0};
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%010lld", static_cast<long long>(wall_time));
  return std::string("events.out.tfevents.") + seconds + "." + host_name() + "." + std::to_string(getpid()) + "." +
         std::to_string(counter++) + suffix;
}

// An Event holding `summary` (or, for the file's first record, the file version).
std::string event_bytes(double wall_time, int64_t step, const ProtoWriter* summary,
                        std::string_view file_version = {}) {
  ProtoWriter e;
  e.double_field(event::kWallTime, wall_time);
  e.int64_field(event::kStep, step);
  e.string_field(event::kFileVersion, file_version);
  if (summary) e.message_field(event::kSummary, *summary);
  return e.bytes();
}

// A Summary of one Value; `fill` adds the value's fields after its tag.
template <typename Fill>
ProtoWriter one_value(const std::string& tag, Fill&& fill) {
  ProtoWriter v;
  v.string_field(value::kTag, tag);
  fill(v);
  ProtoWriter s;
  s.message_field(summary::kValue, v);
  return s;
}

ProtoWriter scalar_summary(const std::string& tag, double x) {
  return one_value(tag, [&](ProtoWriter& v) {
    // NOTE: simple_value is in a oneof, so 0.0 must still be written: left out, the value is lost.
    v.float_field(value::kSimpleValue, static_cast<float>(x), /*explicit_presence=*/true);
  });
}

// TFRecord framing: uint64 length, masked CRC of those 8 bytes, data, masked CRC of the data.
void append_record(std::string& out, const std::string& data) {
  auto put_le = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  const std::size_t start = out.size();
  put_le(data.size(), 8);
  put_le(detail::mask_crc32c(detail::crc32c(out.data() + start, 8)), 4);
  out += data;
  put_le(detail::mask_crc32c(detail::crc32c(data)), 4);
}

struct Histogram {
  double min = 0, max = 0, sum = 0, sum_squares = 0;
  std::vector<double> limits, counts;  // right edges, and the number of values in each bucket
};

// `bins` equal-width buckets from min to max: bucket i holds [edge i, edge i+1), the last one
// also max, as numpy.histogram (and so PyTorch) count them.
Histogram make_histogram(const std::vector<double>& v, int bins) {
  Histogram h;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  h.min = *lo;
  h.max = *hi;
  for (double x : v) {
    h.sum += x;
    h.sum_squares += x * x;
  }
  if (h.min == h.max) {  // no width to divide: one bucket ending at the value holds them all
    h.limits = {h.max};
    h.counts = {static_cast<double>(v.size())};
    return h;
  }
  // NOTE: interpolated, and the fraction below on halves, so that max - min may exceed DBL_MAX.
  std::vector<double> edges(static_cast<std::size_t>(bins) + 1);
  for (int i = 0; i <= bins; ++i) {
    const double t = static_cast<double>(i) / bins;
    edges[i] = i == bins ? h.max : std::max(i == 0 ? h.min : edges[i - 1], h.min * (1 - t) + h.max * t);
  }
  const double half_range = h.max / 2 - h.min / 2;
  h.counts.assign(static_cast<std::size_t>(bins), 0.0);
  for (double x : v) {
    double f = (x / 2 - h.min / 2) / half_range;
    f = f >= 0 ? std::min(f, 1.0) : 0.0;  // also catches NaN from a range that halves to zero
    int b = std::min(bins - 1, static_cast<int>(f * bins));
    // The division may round across an edge; the edges decide, so counts agree with the limits.
    while (b > 0 && x < edges[b]) --b;
    while (b < bins - 1 && x >= edges[b + 1]) ++b;
    h.counts[b] += 1;
  }
  h.limits.assign(edges.begin() + 1, edges.end());
  return h;
}

ProtoWriter histogram_summary(const std::string& tag, const Histogram& h, std::size_t num) {
  return one_value(tag, [&](ProtoWriter& v) {
    ProtoWriter p;
    p.double_field(histo::kMin, h.min);
    p.double_field(histo::kMax, h.max);
    p.double_field(histo::kNum, static_cast<double>(num));
    p.double_field(histo::kSum, h.sum);
    p.double_field(histo::kSumSquares, h.sum_squares);
    p.packed_doubles(histo::kBucketLimit, h.limits);
    p.packed_doubles(histo::kBucket, h.counts);
    v.message_field(value::kHisto, p);
  });
}

// TensorBoard's text plugin reads a DT_STRING tensor of shape [1] tagged with plugin "text"
// (whose content, TextPluginData{version: 0}, serializes to nothing).
ProtoWriter text_summary(const std::string& tag, const std::string& text) {
  return one_value(tag, [&](ProtoWriter& v) {
    ProtoWriter dim, shape, t, plugin, meta;
    dim.varint_field(tensor_shape::kDimSize, 1);
    shape.message_field(tensor_shape::kDim, dim);
    t.varint_field(tensor_proto::kDtype, kDtString);
    t.message_field(tensor_proto::kTensorShape, shape);
    t.bytes_element(tensor_proto::kStringVal, text);
    v.message_field(value::kTensor, t);
    plugin.string_field(metadata::kPluginName, "text");
    meta.message_field(metadata::kPluginData, plugin);
    v.message_field(value::kMetadata, meta);
  });
}

std::string scoped(const char* op, const std::string& tag) {
  if (tag.empty()) throw ValueError(std::string(op) + ": the tag is empty");
  const std::string scope = NameScope::current();
  std::string full = scope.empty() ? tag : scope + "/" + tag;
  // NOTE: Summary.Value.tag is a proto3 string: protobuf, and so TensorBoard, refuses to decode
  // an event whose tag is not UTF-8, which would make the whole file unreadable from there on.
  for (std::size_t i = 0; i < full.size();) {
    uint32_t cp = 0;
    const std::size_t len = detail::utf8_decode(full, i, cp);
    if (len == 0)
      throw ValueError(std::string(op) + ": the tag is not valid UTF-8 (byte " + std::to_string(i) + " of \"" + full +
                       "\"); TensorBoard stores tags as UTF-8 text");
    i += len;
  }
  return full;
}

}  // namespace

// One event file. The add_scalars runs are Impls of their own, owned by the main writer's Impl
// and guarded by its mutex.
struct SummaryWriter::Impl {
  std::string logdir;
  std::string path;
  SummaryWriterOptions options;
  int fd = -1;
  uint64_t written = 0;  // bytes of whole records in the file
  std::string pending;   // framed records not written yet
  int pending_events = 0;
  SteadyClock::time_point last_write;
  std::map<std::string, std::unique_ptr<Impl>> runs;  // add_scalars runs, by folder
  std::mutex mutex;

  Impl(std::string dir, const SummaryWriterOptions& o) : logdir(std::move(dir)), options(o) {
    std::error_code ec;
    std::filesystem::create_directories(logdir, ec);
    if (ec) detail::io_fail(kOp, logdir, "cannot create the folder: " + ec.message());
    if (!std::filesystem::is_directory(logdir, ec))
      detail::io_fail(kOp, logdir, "cannot create the folder: a file of that name is in the way");
    const double now = unix_seconds();
    // O_EXCL: never append to another writer's file (a pid reused within the second could name
    // one: the counter moves on); O_APPEND: a file cut back by write_pending grows from its end.
    for (int attempt = 0; fd < 0; ++attempt) {
      path = logdir + "/" + event_file_name(now, options.filename_suffix);
      errno = 0;
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
      if (fd < 0 && (errno != EEXIST || attempt == 100))
        detail::io_fail(kOp, path, "cannot create the event file: " + system_reason());
    }
    // TensorBoard recognises an event file by this first record, so it goes out at once, stamped
    // with the second in the file's name.
    append_record(pending, event_bytes(now, 0, nullptr, "brain.Event:2"));
    ++pending_events;
    try {
      write_pending();
    } catch (...) {
      ::close(fd);
      ::unlink(path.c_str());
      throw;
    }
  }
  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  void check_open(const char* op) const {
    if (fd < 0) throw ValueError(std::string(op) + ": " + path + ": the SummaryWriter is closed");
  }

  void add(const ProtoWriter& summary, int64_t step) {
    append_record(pending, event_bytes(unix_seconds(), step, &summary));
    ++pending_events;
    const std::chrono::duration<double> since = SteadyClock::now() - last_write;
    if (pending_events >= options.max_queue || since.count() >= options.flush_secs) write_pending();
  }

  // NOTE: a failed write is cut back to the last whole record, so that readers never meet a torn
  // one, and the events stay buffered for the next flush to retry.
  void write_pending() {
    std::size_t done = 0;
    while (done < pending.size()) {
      errno = 0;
      const ssize_t n = ::write(fd, pending.data() + done, pending.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const std::string reason = system_reason();
        const bool cut = ::ftruncate(fd, static_cast<off_t>(written)) == 0;
        detail::io_fail(kOp, path, "write failed: " + reason + " (" + std::to_string(pending_events) +
                                       " event(s) stay buffered for flush() to retry" +
                                       (cut ? ")" : "; the file could not be cut back and ends in a torn record)"));
      }
      done += static_cast<std::size_t>(n);
    }
    written += pending.size();
    pending.clear();
    pending_events = 0;
    last_write = SteadyClock::now();
  }

  void flush() {
    if (fd < 0) return;
    write_pending();
    for (auto& [dir, run] : runs) run->flush();
  }

  // Every file is closed, even after a failure; the first failure is rethrown.
  void close() {
    std::exception_ptr first;
    if (fd >= 0) {
      try {
        write_pending();
        errno = 0;
        if (::fsync(fd) != 0) detail::io_fail(kOp, path, "fsync failed: " + system_reason());
      } catch (...) {
        first = std::current_exception();
      }
      errno = 0;
      const int rc = ::close(fd);
      fd = -1;
      if (rc != 0 && !first) {
        try {
          detail::io_fail(kOp, path, "close failed: " + system_reason());
        } catch (...) {
          first = std::current_exception();
        }
      }
    }
    for (auto& [dir, run] : runs) {
      try {
        run->close();
      } catch (...) {
        if (!first) first = std::current_exception();
      }
    }
    if (first) std::rethrow_exception(first);
  }

  Impl& run(const std::string& dir) {
    auto it = runs.find(dir);
    if (it == runs.end()) it = runs.emplace(dir, std::make_unique<Impl>(dir, options)).first;
    return *it->second;
  }
};

SummaryWriter::SummaryWriter(const std::string& logdir, const SummaryWriterOptions& options) {
  if (logdir.empty()) throw ValueError(std::string(kOp) + ": logdir is empty");
  if (options.max_queue < 1)
    throw ValueError(std::string(kOp) + ": max_queue must be at least 1, got " + std::to_string(options.max_queue));
  if (!(options.flush_secs >= 0))
    throw ValueError(std::string(kOp) + ": flush_secs must be >= 0, got " + std::to_string(options.flush_secs));
  impl_ = std::make_unique<Impl>(logdir, options);
}

SummaryWriter::~SummaryWriter() {
  if (!impl_) return;
  try {
    close();
  } catch (...) {  // NOTE: documented: a destructor must not throw; close() reports the failure
  }
}

SummaryWriter::SummaryWriter(SummaryWriter&& other) noexcept = default;

SummaryWriter::Impl& SummaryWriter::checked_impl(const char* op) const {
  if (!impl_) throw ValueError(std::string(op) + ": the SummaryWriter was moved from");
  return *impl_;
}
SummaryWriter& SummaryWriter::operator=(SummaryWriter&& other) noexcept {
  if (this != &other) {
    SummaryWriter old(std::move(*this));  // closes what this writer had
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  const ProtoWriter s = scalar_summary(scoped("add_scalar", tag), value);
  Impl& impl = checked_impl("add_scalar");
  std::lock_guard lock(impl.mutex);
  impl.check_open("add_scalar");
  impl.add(s, step);
}

void SummaryWriter::add_scalars(const std::string& main_tag, const std::map<std::string, double>& values,
                                int64_t step) {
  const std::string tag = scoped("add_scalars", main_tag);
  std::string run_prefix = tag;
  std::replace(run_prefix.begin(), run_prefix.end(), '/', '_');
  // NOTE: the tag and keys name folders, and a path stops at a NUL byte: the run would land in
  // another folder (or fail with a message cut short).
  const auto no_nul = [&](const std::string& what, const std::string& s) {
    if (s.find('\0') != std::string::npos)
      throw ValueError("add_scalars: " + what + " holds a NUL byte, which a run's folder name cannot");
  };
  no_nul("the tag", tag);
  for (const auto& [key, value] : values) no_nul("the key \"" + key.substr(0, key.find('\0')) + "\"", key);
  Impl& impl = checked_impl("add_scalars");
  std::lock_guard lock(impl.mutex);
  impl.check_open("add_scalars");
  // Every run first: a folder or file that cannot be created leaves no key's event behind.
  std::vector<Impl*> runs;
  for (const auto& [key, value] : values) runs.push_back(&impl.run(impl.logdir + "/" + run_prefix + "_" + key));
  std::size_t i = 0;
  for (const auto& [key, value] : values) runs[i++]->add(scalar_summary(tag, value), step);
}

void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, int64_t step, int bins) {
  const std::string full = scoped("add_histogram", tag);
  const auto fail = [&](const std::string& what) { throw ValueError("add_histogram: " + full + ": " + what); };
  if (bins < 1) fail("bins must be at least 1, got " + std::to_string(bins));
  if (!values.defined()) fail("the tensor is undefined");
  if (values.numel() == 0) fail("the tensor is empty (shape " + shape_str(values.shape()) + ")");
  const std::vector<double> v = values.to_vector<double>();
  const auto bad = std::find_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); });
  if (bad != v.end())
    fail("value " + std::to_string(bad - v.begin()) + " is " + (std::isnan(*bad) ? "nan" : *bad > 0 ? "inf" : "-inf") +
         "; a histogram needs finite values");
  const ProtoWriter s = histogram_summary(full, make_histogram(v, bins), v.size());
  Impl& impl = checked_impl("add_histogram");
  std::lock_guard lock(impl.mutex);
  impl.check_open("add_histogram");
  impl.add(s, step);
}

void SummaryWriter::add_text(const std::string& tag, const std::string& text, int64_t step) {
  const ProtoWriter s = text_summary(scoped("add_text", tag), text);
  Impl& impl = checked_impl("add_text");
  std::lock_guard lock(impl.mutex);
  impl.check_open("add_text");
  impl.add(s, step);
}

void SummaryWriter::flush() {
  Impl& impl = checked_impl("flush");
  std::lock_guard lock(impl.mutex);
  impl.flush();
}

void SummaryWriter::close() {
  if (!impl_) return;
  std::lock_guard lock(impl_->mutex);
  impl_->close();
}

const std::string& SummaryWriter::logdir() const {
  static const std::string none;
  return impl_ ? impl_->logdir : none;
}

const std::string& SummaryWriter::file_path() const {
  static const std::string none;
  return impl_ ? impl_->path : none;
}

}  // namespace tapeflow::io
