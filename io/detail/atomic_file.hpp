// SPDX-License-Identifier: MIT
// Writing files so that a failure part way (full disk, exception, killed process) never loses
// what was there before: write a temporary file beside the target, fsync it, rename it over the
// target, fsync the folder.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace tapeflow::io::detail {

/// A file being written; it replaces `path` only on commit(). Destroyed uncommitted, it removes
/// its temporary file and leaves `path` as it was. Every failure throws IOError naming op and path.
class AtomicFile {
 public:
  AtomicFile(const char* op, std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t n);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  /// Flushes to disk and renames over the target. The object is finished afterwards.
  void commit();

  const std::string& path() const { return path_; }

 private:
  void fail(const std::string& what);

  const char* op_;
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
};

/// Replaces the file at `path` with `bytes`, atomically.
void write_file_atomic(const char* op, const std::string& path, std::string_view bytes);

}  // namespace tapeflow::io::detail
