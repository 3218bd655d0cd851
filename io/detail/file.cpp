// SPDX-License-Identifier: MIT
#include "file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "../../tensor/error.hpp"

namespace tapeflow::io::detail {

void io_fail(const char* op, const std::string& path, const std::string& what) {
  throw IOError(std::string(op) + ": " + path + ": " + what);
}

void io_out_of_memory(const char* op, const std::string& path, const std::string& what, const std::string& reason) {
  throw OutOfMemoryError(std::string(op) + ": " + path + ": out of memory for " + what + " (" + reason + ")");
}

InputFile::InputFile(const char* op, std::string path) : op_(op), path_(std::move(path)) {
  errno = 0;
  file_ = std::fopen(path_.c_str(), "rb");
  if (!file_) io_fail(op_, path_, std::string("cannot open: ") + (errno ? std::strerror(errno) : "unknown error"));
  struct stat st {};
  if (fstat(fileno(file_), &st) == 0) {
    // NOTE: fopen succeeds on a directory on Linux; only the first read would fail, less clearly.
    if (S_ISDIR(st.st_mode)) {
      std::fclose(file_);
      file_ = nullptr;
      io_fail(op_, path_, "cannot open: is a directory");
    }
    if (S_ISREG(st.st_mode)) size_ = static_cast<uint64_t>(st.st_size);
  }
}

InputFile::~InputFile() {
  if (file_) std::fclose(file_);
}

std::size_t InputFile::read(void* dst, std::size_t n) {
  if (n == 0) return 0;
  errno = 0;
  const std::size_t got = std::fread(dst, 1, n, file_);
  if (got < n && std::ferror(file_))
    io_fail(op_, path_, std::string("read error: ") + (errno ? std::strerror(errno) : "unknown error"));
  return got;
}

std::string read_file(const char* op, const std::string& path) {
  InputFile file(op, path);
  std::string bytes;
  if (file.size()) bytes.reserve(static_cast<std::size_t>(*file.size()));
  char chunk[1 << 16];
  while (const std::size_t got = file.read(chunk, sizeof chunk)) bytes.append(chunk, got);
  return bytes;
}

}  // namespace tapeflow::io::detail
