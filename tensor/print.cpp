// SPDX-License-Identifier: MIT
// NumPy-style printing: nested brackets, aligned columns, large tensors elided to their
// first and last three entries per dim.
#include <algorithm>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "detail/tensor_impl.hpp"
#include "tensor.hpp"

namespace tapeflow {

namespace {

constexpr int64_t kSummarizeOver = 1000;
constexpr int64_t kEdge = 3;

// A tensor's elements in their own type: int64 through double would round above 2^53 (and
// INT64_MAX does not even convert back).
struct Elements {
  DType dtype;
  std::vector<int64_t> ints;  // Int64
  std::vector<double> reals;  // every other dtype

  explicit Elements(const Tensor& t) : dtype(t.dtype()) {
    if (dtype == DType::Int64) ints = t.to_vector<int64_t>();
    else reals = t.to_vector<double>();
  }

  std::string format(int64_t i) const {
    const auto at = static_cast<std::size_t>(i);
    char buf[64];
    switch (dtype) {
      case DType::Bool: return reals[at] != 0 ? "true" : "false";
      case DType::Int64: std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(ints[at])); return buf;
      case DType::Float32:
      case DType::Float64: std::snprintf(buf, sizeof buf, "%.4f", reals[at]); return buf;
    }
    return "?";
  }
};

struct Printer {
  const Elements& values;
  const Shape& shape;
  bool summarize;
  std::size_t width = 0;

  bool shown(int64_t i, int64_t n) const { return !summarize || n <= 2 * kEdge || i < kEdge || i >= n - kEdge; }

  void measure(int64_t dim, int64_t base) {
    const int64_t n = shape[dim];
    for (int64_t i = 0; i < n; ++i) {
      if (!shown(i, n)) continue;
      const int64_t idx = base * n + i;
      if (dim + 1 == static_cast<int64_t>(shape.size())) width = std::max(width, values.format(idx).size());
      else measure(dim + 1, idx);
    }
  }

  void print(std::ostream& os, int64_t dim, int64_t base, int indent) {
    const int64_t n = shape[dim];
    const bool last = dim + 1 == static_cast<int64_t>(shape.size());
    os << '[';
    bool skipped = false;
    for (int64_t i = 0; i < n; ++i) {
      if (!shown(i, n)) {
        if (!skipped) os << (last ? "..., " : "...,\n" + std::string(indent + 1, ' '));
        skipped = true;
        continue;
      }
      const int64_t idx = base * n + i;
      if (last) {
        std::string s = values.format(idx);
        os << std::string(width - s.size(), ' ') << s;
      } else {
        print(os, dim + 1, idx, indent + 1);
      }
      if (i + 1 < n) os << (last ? ", " : ",\n" + std::string(static_cast<std::size_t>(shape.size() - dim - 2), '\n') + std::string(indent + 1, ' '));
    }
    os << ']';
  }
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  const Shape& shape = t.shape();
  std::ostringstream body;
  const std::string prefix = "tensor(";
  if (shape.empty()) {
    body << Elements(t).format(0);
  } else if (t.numel() == 0) {
    body << "[]";
  } else {
    const Elements values(t);
    Printer p{values, shape, t.numel() > kSummarizeOver};
    p.measure(0, 0);
    p.print(body, 0, 0, static_cast<int>(prefix.size()));
  }
  os << prefix << body.str() << ", shape=" << shape_str(shape) << ", dtype=" << dtype_name(t.dtype());
  if (!t.device().is_cpu()) os << ", device=" << t.device().str();
  if (t.requires_grad()) os << (t.is_leaf() ? ", requires_grad=true" : ", grad_fn=" + t.grad_fn_name());
  return os << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace tapeflow
