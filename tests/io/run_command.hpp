// SPDX-License-Identifier: MIT
// What the io tests share for checking files with independent programs (Debian's python3 with
// numpy or protobuf, Graphviz's dot) and for checking error messages.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <tapeflow/tensor/error.hpp>

namespace tapeflow::test {

/// How a command ended (its exit status, -1 when killed) and everything it printed.
struct CommandResult {
  int status = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs `cmd` with /bin/sh.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  std::FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.output.append(buf, n);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

/// Runs a Python script file with Debian's python3 (TAPEFLOW_TEST_PYTHON) on one argument.
inline CommandResult run_python(const std::string& script, const std::string& arg) {
  return run_command(std::string(TAPEFLOW_TEST_PYTHON) + " '" + script + "' '" + arg + "'");
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(s);
  while (std::getline(in, field, sep)) out.push_back(field);
  return out;
}

/// Runs f, requiring an E whose message contains every fragment.
template <typename E = IOError>
void require_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
    FAIL_CHECK("no exception; expected one saying '" << fragments.back() << "'");
  } catch (const E& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    for (const std::string& fragment : fragments) CHECK(msg.find(fragment) != std::string::npos);
  }
}

}  // namespace tapeflow::test
