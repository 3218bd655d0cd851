// SPDX-License-Identifier: MIT
// Reading user files for io/: every failure is an IOError naming the op and the file, except
// running out of memory for what the file holds (OutOfMemoryError, naming them too).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace tapeflow::io::detail {

/// Throws IOError("<op>: <path>: <what>").
[[noreturn]] void io_fail(const char* op, const std::string& path, const std::string& what);
/// Throws OutOfMemoryError("<op>: <path>: out of memory for <what> (<reason>)").
[[noreturn]] void io_out_of_memory(const char* op, const std::string& path, const std::string& what,
                                   const std::string& reason);

/// A file opened for reading, closed by the destructor.
class InputFile {
 public:
  /// Throws IOError (with the system's reason) when the file cannot be opened or is a directory.
  InputFile(const char* op, std::string path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Reads up to n bytes; fewer only at the end of the file. Throws IOError on a read error.
  std::size_t read(void* dst, std::size_t n);
  /// Size in bytes of a regular file; empty for pipes and devices.
  std::optional<uint64_t> size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const char* op_;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::optional<uint64_t> size_;
};

/// The whole file's bytes.
std::string read_file(const char* op, const std::string& path);

}  // namespace tapeflow::io::detail
