// SPDX-License-Identifier: MIT
// A small command-line reader shared by the samples: `--name value` options and `--name` flags
// with defaults and help text, `-h/--help`, and a clear message plus exit status 2 for anything
// else. Every sample also gets `--device cpu|cuda|cuda:N` (default cpu): device() reads it.
#pragma once
#include <tapeflow/tapeflow.hpp>

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
    options_.push_back({"device", "cpu", "where to train: cpu, cuda (GPU 0) or cuda:N"});
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

  /// --device as a tapeflow::Device, checked at once: a GPU this build or machine does not have
  /// ends the program with the DeviceError's message and status 1, before any work is done. A
  /// GPU that is there is announced ("device: cuda:0"); the CPU, the default, is not, so that a
  /// CPU run prints what it always did.
  tapeflow::Device device() const {
    const std::string& v = values_.at("device");
    tapeflow::Device d = tapeflow::Device::cpu();
    if (v == "cuda") {
      d = tapeflow::Device::cuda(0);
    } else if (v.rfind("cuda:", 0) == 0) {
      const std::string index = v.substr(5);
      if (index.empty() || index.size() > 4 || index.find_first_not_of("0123456789") != std::string::npos)
        fail("--device wants cpu, cuda or cuda:N, got '" + v + "'");
      d = tapeflow::Device::cuda(std::stoi(index));
    } else if (v != "cpu") {
      fail("--device wants cpu, cuda or cuda:N, got '" + v + "'");
    }
    if (!d.is_cpu()) {
      try {
        (void)tapeflow::zeros({1}).to(d);  // throws DeviceError where there is no such GPU
      } catch (const tapeflow::DeviceError& e) {
        std::fprintf(stderr, "%s: %s\n", program_.c_str(), e.what());
        std::exit(1);
      }
      std::printf("device: %s\n", d.str().c_str());
    }
    return d;
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
