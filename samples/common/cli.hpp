// SPDX-License-Identifier: MIT
// A small command-line reader shared by the samples: `--name value` options and `--name` flags
// with defaults and help text, `-h/--help`, and a clear message plus exit status 2 for anything
// else.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace samples {

struct Option {
  std::string name;  ///< without the leading "--"
  std::string default_value;
  std::string help;
  bool flag = false;  ///< takes no value: present means on
};

class Cli {
 public:
  Cli(int argc, char** argv, std::string program, std::string summary, std::vector<Option> options)
      : program_(std::move(program)), summary_(std::move(summary)), options_(std::move(options)) {
    for (const Option& o : options_) values_[o.name] = o.flag ? "" : o.default_value;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-h" || a == "--help") usage(0);
      if (a.rfind("--", 0) != 0 || !values_.count(a.substr(2))) fail("unknown option '" + a + "'");
      if (is_flag(a.substr(2))) {
        values_[a.substr(2)] = "on";
        continue;
      }
      if (i + 1 >= argc) fail("option '" + a + "' needs a value");
      values_[a.substr(2)] = argv[++i];
    }
  }

  std::string str(const std::string& name) const { return values_.at(name); }
  bool flag(const std::string& name) const { return !values_.at(name).empty(); }

  long integer(const std::string& name, long min = 1) const {
    const std::string& v = values_.at(name);
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < min)
      fail("--" + name + " wants an integer of at least " + std::to_string(min) + ", got '" + v + "'");
    return n;
  }

  double number(const std::string& name) const {
    const std::string& v = values_.at(name);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(x >= 0)) fail("--" + name + " wants a non-negative number, got '" + v + "'");
    return x;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), message.c_str());
    usage(2);
  }
  [[noreturn]] void usage(int status) const {
    std::FILE* out = status == 0 ? stdout : stderr;
    std::fprintf(out, "%s: %s\nusage: %s [options]\n", program_.c_str(), summary_.c_str(), program_.c_str());
    for (const Option& o : options_)
      if (o.flag)
        std::fprintf(out, "  --%-12s %s\n", o.name.c_str(), o.help.c_str());
      else
        std::fprintf(out, "  --%-12s %s (default %s)\n", o.name.c_str(), o.help.c_str(),
                     o.default_value.empty() ? "none" : o.default_value.c_str());
    std::exit(status);
  }
  bool is_flag(const std::string& name) const {
    for (const Option& o : options_)
      if (o.name == name) return o.flag;
    return false;
  }

  std::string program_, summary_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;
};

}  // namespace samples
