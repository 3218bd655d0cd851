// SPDX-License-Identifier: MIT
#include "atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "file.hpp"

namespace tapeflow::io::detail {
namespace {

std::string system_reason() { return errno ? std::strerror(errno) : "unknown error"; }

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Unique per process and per call, so concurrent writers of one target never share a temp file.
std::string temp_name_for(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
}

}  // namespace

AtomicFile::AtomicFile(const char* op, std::string path)
    : op_(op), path_(std::move(path)), temp_path_(temp_name_for(path_)) {
  if (path_.empty()) io_fail(op_, path_, "empty file name");
  errno = 0;
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) io_fail(op_, path_, "cannot create " + temp_path_ + ": " + system_reason());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void AtomicFile::fail(const std::string& what) {
  const std::string reason = what + ": " + system_reason();
  ::close(fd_);
  ::unlink(temp_path_.c_str());
  fd_ = -1;
  io_fail(op_, path_, reason + " (the previous file, if any, is unchanged)");
}

void AtomicFile::write(const void* data, std::size_t n) {
  if (fd_ < 0) io_fail(op_, path_, "write after commit");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    errno = 0;
    const ssize_t done = ::write(fd_, p, n);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) fail("write failed");
    p += done;
    n -= static_cast<std::size_t>(done);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) io_fail(op_, path_, "commit after commit");
  errno = 0;
  if (::fsync(fd_) != 0) fail("fsync failed");
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(temp_path_.c_str());
    io_fail(op_, path_, "close failed: " + system_reason());
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string reason = system_reason();
    ::unlink(temp_path_.c_str());
    io_fail(op_, path_, "cannot replace the file: " + reason);
  }
  // The rename is durable only once the folder's entry is; a failure here loses nothing.
  const int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomic(const char* op, const std::string& path, std::string_view bytes) {
  AtomicFile file(op, path);
  file.write(bytes);
  file.commit();
}

}  // namespace tapeflow::io::detail
