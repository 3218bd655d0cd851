// SPDX-License-Identifier: MIT
#include "compare.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

namespace tapeflow {

namespace {

struct Tolerance {
  double rtol;
  double atol;
};

// torch.testing.assert_close's table.
Tolerance default_tolerance(DType dtype) {
  switch (dtype) {
    case DType::Float32: return {1.3e-6, 1e-5};
    case DType::Float64: return {1e-7, 1e-7};
    case DType::Int64:
    case DType::Bool: return {0.0, 0.0};
  }
  return {0.0, 0.0};
}

// One side's values in logical (row-major) order, whatever its strides: to_vector reads
// views and transposes by index. Integers are kept as int64 too, since doubles lose the
// exact value past 2^53.
struct Side {
  DType dtype;
  std::vector<double> f;
  std::vector<int64_t> i;
};

Side read(const Tensor& t) {
  Tensor c = t.device().is_cpu() ? t : t.to(Device::cpu());
  Side s{c.dtype(), c.to_vector<double>(), {}};
  if (!is_floating(c.dtype())) s.i = c.to_vector<int64_t>();
  return s;
}

// |actual - expected| at k; integers subtract exactly first (as unsigned, so no overflow).
double abs_diff(const Side& a, const Side& e, std::size_t k) {
  if (a.i.empty() || e.i.empty()) return std::abs(a.f[k] - e.f[k]);
  const auto x = static_cast<uint64_t>(a.i[k]), y = static_cast<uint64_t>(e.i[k]);
  return static_cast<double>(a.i[k] >= e.i[k] ? x - y : y - x);
}

bool close(double a, double e, const Tolerance& tol, bool equal_nan) {
  if (std::isnan(a) || std::isnan(e)) return equal_nan && std::isnan(a) && std::isnan(e);
  if (a == e) return true;  // also the same infinity on both sides
  if (std::isinf(a) || std::isinf(e)) return false;
  return std::abs(a - e) <= tol.atol + tol.rtol * std::abs(e);
}

// Elements that differ, the first `keep` of them, and where the largest differences are.
struct Scan {
  int64_t count = 0;
  std::vector<int64_t> first;
  int64_t max_abs_at = -1, max_rel_at = -1;
  double max_abs = 0.0, max_rel = 0.0;
};

Scan scan(const Side& a, const Side& e, const Tolerance& tol, bool equal_nan, std::size_t keep,
          bool stop_at_first) {
  Scan r;
  // NOTE: integers with zero tolerance compare as int64, so 2^53 + 1 differs from 2^53.
  const bool exact_ints = !a.i.empty() && !e.i.empty() && tol.rtol == 0.0 && tol.atol == 0.0;
  const std::size_t n = a.f.size();
  for (std::size_t k = 0; k < n; ++k) {
    const bool ok = exact_ints ? a.i[k] == e.i[k] : close(a.f[k], e.f[k], tol, equal_nan);
    if (ok) continue;
    ++r.count;
    if (stop_at_first) return r;
    if (r.first.size() < keep) r.first.push_back(static_cast<int64_t>(k));
    const double diff = abs_diff(a, e, k);
    if (!std::isfinite(diff)) continue;  // NaN and infinity mismatches are listed, not ranked
    const double rel = e.f[k] == 0.0 ? HUGE_VAL : diff / std::abs(e.f[k]);
    if (r.max_abs_at < 0 || diff > r.max_abs) r.max_abs = diff, r.max_abs_at = static_cast<int64_t>(k);
    if (r.max_rel_at < 0 || rel > r.max_rel) r.max_rel = rel, r.max_rel_at = static_cast<int64_t>(k);
  }
  return r;
}

// Derived quantities (differences, tolerances) to 6 significant digits: "1.1e-05", "0.5".
std::string g6(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Values in the shortest text that reads back to the same float or double (max_digits10 at
// most), so two values that differ never print alike.
std::string value_str(const Side& s, std::size_t k) {
  switch (s.dtype) {
    case DType::Bool: return s.i[k] ? "true" : "false";
    case DType::Int64: return std::to_string(s.i[k]);
    case DType::Float32:
    case DType::Float64: break;
  }
  char buf[64];
  auto res = s.dtype == DType::Float32 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(s.f[k]))
                                       : std::to_chars(buf, buf + sizeof buf, s.f[k]);
  return std::string(buf, res.ptr);
}

// Row-major flat index -> "[1, 2]".
std::string index_str(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string out = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) out += (d ? ", " : "") + std::to_string(idx[d]);
  return out + "]";
}

std::string percent_str(int64_t part, int64_t whole) {
  const double p = 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  char buf[32];
  std::snprintf(buf, sizeof buf, p < 0.1 ? "%.2g" : "%.1f", p);
  return buf;
}

}  // namespace

bool allclose(const Tensor& actual, const Tensor& expected, double rtol, double atol, bool equal_nan) {
  if (!actual.defined() || !expected.defined()) return actual.defined() == expected.defined();
  if (actual.shape() != expected.shape()) return false;
  const Side a = read(actual), e = read(expected);
  return scan(a, e, {rtol, atol}, equal_nan, 0, true).count == 0;
}

std::string describe_mismatch(const Tensor& actual, const Tensor& expected, const CloseOptions& o) {
  const std::string head = "Tensors are not close: ";
  if (!actual.defined() || !expected.defined()) {
    if (actual.defined() == expected.defined()) return "";
    return head + (actual.defined() ? "expected" : "actual") + " is an undefined tensor";
  }
  std::vector<std::string> meta;
  if (actual.shape() != expected.shape())
    meta.push_back("shapes differ: actual " + shape_str(actual.shape()) + ", expected " +
                   shape_str(expected.shape()) + " (no broadcasting)");
  if (o.check_dtype && actual.dtype() != expected.dtype())
    meta.push_back(std::string("dtypes differ: actual ") + dtype_name(actual.dtype()) + ", expected " +
                   dtype_name(expected.dtype()) + " (check_dtype = false compares the values)");
  if (o.check_device && actual.device() != expected.device())
    meta.push_back("devices differ: actual " + actual.device().str() + ", expected " + expected.device().str() +
                   " (check_device = false compares both on the CPU)");
  if (!meta.empty()) {
    std::string out = head + meta[0];
    for (std::size_t k = 1; k < meta.size(); ++k) out += "\n  and " + meta[k];
    return out;
  }

  // Unset tolerances: the dtype's defaults, the looser of the two when dtypes differ.
  const Tolerance da = default_tolerance(actual.dtype()), de = default_tolerance(expected.dtype());
  const Tolerance tol{o.rtol.value_or(std::max(da.rtol, de.rtol)), o.atol.value_or(std::max(da.atol, de.atol))};
  const Side a = read(actual), e = read(expected);
  const std::size_t keep = o.max_reported > 0 ? static_cast<std::size_t>(o.max_reported) : 0;
  const Scan r = scan(a, e, tol, o.equal_nan, keep, false);
  if (r.count == 0) return "";

  const Shape& shape = actual.shape();
  std::ostringstream out;
  out << head << r.count << " of " << actual.numel() << " elements (" << percent_str(r.count, actual.numel())
      << "%) differ\n";
  if (tol.rtol == 0.0 && tol.atol == 0.0) out << "  compared exactly\n";
  else out << "  allowed: |actual - expected| <= atol " << g6(tol.atol) << " + rtol " << g6(tol.rtol) << " * |expected|\n";
  if (r.max_abs_at >= 0) {
    const auto k = static_cast<std::size_t>(r.max_abs_at);
    out << "  greatest absolute difference " << g6(r.max_abs) << " at " << index_str(r.max_abs_at, shape)
        << " (allowed " << g6(tol.atol + tol.rtol * std::abs(e.f[k])) << ")\n";
  }
  if (r.max_rel_at >= 0)
    out << "  greatest relative difference " << g6(r.max_rel) << " at " << index_str(r.max_rel_at, shape)
        << " (rtol " << g6(tol.rtol) << ")\n";
  if (!r.first.empty()) {
    out << "  first mismatches:\n";
    for (int64_t flat : r.first) {
      const auto k = static_cast<std::size_t>(flat);
      out << "    " << index_str(flat, shape) << ": actual " << value_str(a, k) << ", expected " << value_str(e, k)
          << " (diff " << g6(abs_diff(a, e, k)) << ")\n";
    }
    if (r.count > static_cast<int64_t>(r.first.size()))
      out << "    ... and " << r.count - static_cast<int64_t>(r.first.size()) << " more\n";
  }
  std::string text = out.str();
  text.pop_back();  // no trailing newline: callers add their own
  return text;
}

}  // namespace tapeflow
