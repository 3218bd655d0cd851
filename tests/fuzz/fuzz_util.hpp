// SPDX-License-Identifier: MIT
// What the libFuzzer targets share: files made from the input bytes, a scratch folder per
// process, and a check that stops the run with a message (libFuzzer then saves the input).
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

// NOTE: the engine turns a failed allocation into a tapeflow::Error (a request for terabytes is
// bad input); under ASan a failed malloc aborts instead unless this is set. Sizes the sanitizer
// cannot serve (over 1 TiB) then fail as they would on a real machine. ASAN_OPTIONS still wins.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

namespace tapeflow::fuzz {

/// Stops the process with `what` when `cond` is false: an input broke a property.
#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                               \
      std::fprintf(stderr, "\n");                                                      \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

/// `s` with bytes outside printable ASCII as \xNN, for traces.
inline std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

/// An in-memory file (memfd) the readers open by path like any other: /proc/self/fd/N. One per
/// process, rewritten for each input: no disk traffic, and regular-file semantics (a size).
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  /// Replaces the file's contents with `bytes` and returns its path.
  const std::string& write(std::string_view bytes) {
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
      std::perror("memfd write");
      std::abort();
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

/// A folder of this process's own, emptied by clear() and removed at exit, for targets that need
/// real files (SummaryWriter makes folders and syncs files; save renames them). It lies under
/// $TMPDIR when set, else under /dev/shm when there is one, else under /tmp.
class ScratchDir {
 public:
  explicit ScratchDir(const char* target) {
    // NOTE: on tmpfs fsync costs nothing; on a disk, SummaryWriter::close's fsync alone makes each
    // input take ~15 ms instead of ~1.
    const char* tmp = std::getenv("TMPDIR");
    std::error_code ec;
    const char* base = tmp && *tmp ? tmp : std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
                                               ? "/dev/shm"
                                               : "/tmp";
    path_ = std::filesystem::path(base) / (std::string("tapeflow-") + target + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  /// Removes everything inside the folder.
  void clear() const {
    for (const auto& entry : std::filesystem::directory_iterator(path_)) std::filesystem::remove_all(entry.path());
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace tapeflow::fuzz
